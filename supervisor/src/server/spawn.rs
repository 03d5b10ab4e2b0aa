//! Starting agents: spawn, the process and its exit, start-up that fails or
//! times out, and the answer to whoever asked.

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::launch::{AgentSpec, AGENT_ENV};
use axon_runtime::protocol::auth;
use axon_runtime::protocol::Request;
use axon_runtime::{ErrorKind, Value};

use super::{Server, LOGGER_KIND, START_TIMEOUT};
use crate::guard::Node;
use crate::hosts::PROGRAM_FIELDS;
use crate::methods::{Register, SpawnOptions};
use crate::registry::{Refusal, Waiter};
use crate::requests::{args, refusal};
use crate::supervision::Identity;

use super::detached;

impl Server {
    pub(super) fn register(&mut self, a: Register, ctx: &mut Context<Self>) -> Result<(), Refusal> {
        let (name, control, pid) = (a.name.clone(), a.control.clone(), a.pid);
        self.records.register(a)?;
        if let Some(child) = self.supervision.incarnation(&name, pid) {
            child.control = Some(control.clone());
        }
        tracing::info!(agent = %name, control = %control, "agent registered");
        if self.owed_logger.remove(&name) {
            self.point_at_logger(name.clone(), control.clone(), ctx);
        }
        if self.records.is_starting(&name) {
            // Spawn answers only once the agent answers ping.
            let agent = name.clone();
            let ping = async move {
                axon_runtime::client::call::call(&control, &agent, "ping", &(), START_TIMEOUT).await
            };
            detached::detach(ctx, ping, move |act, res, ctx| {
                act.on_pinged(&name, res, ctx)
            });
        }
        Ok(())
    }

    pub(super) fn on_pinged(
        &mut self,
        name: &str,
        res: axon_runtime::Result<Value>,
        ctx: &mut Context<Self>,
    ) {
        let Some(starting) = self.records.finish_start(name) else {
            return;
        };
        match res {
            Ok(_) => self.replay(name, starting.waiter, ctx),
            Err(e) => {
                let message = format!("agent {name} did not answer ping: {e}");
                self.abandon_start(name, starting.pid, starting.waiter, message);
            }
        }
    }

    /// A start failed. A first start is a failed spawn: the caller hears why and
    /// nothing restarts it (as an OTP supervisor does not restart a child
    /// whose start failed). A restart that fails counts as a crash.
    pub(super) fn failed_start(
        &mut self,
        name: &str,
        waiter: Option<Waiter>,
        outcome: Result<Value, Refusal>,
    ) {
        if waiter.is_some() {
            self.supervision.forget(name);
        }
        self.answer_spawn(waiter, outcome);
    }

    /// Answers whoever asked for a spawn (nobody, for a restart).
    pub(super) fn answer_spawn(&self, waiter: Option<Waiter>, outcome: Result<Value, Refusal>) {
        if let Some(waiter) = waiter {
            self.answer(&waiter, outcome.map_err(|r| refusal(r, "spawn")));
        }
    }

    pub(super) fn spawn(
        &mut self,
        req: &Request,
        waiter: &Waiter,
        ctx: &mut Context<Self>,
    ) -> Option<Result<Value, Refusal>> {
        if self.leaving.is_some() {
            return Some(Err((
                ErrorKind::Refused,
                "the name server is shutting down".into(),
            )));
        }
        if self.fenced {
            return Some(Err((
                ErrorKind::Refused,
                "this node is fenced (it lost etcd); it starts no agent until it rejoins".into(),
            )));
        }
        if let Some(refused) = names_a_program(req) {
            return Some(Err(refused));
        }
        let opts: SpawnOptions = match args(req) {
            Ok(o) => o,
            Err(r) => return Some(Err(r)),
        };
        if let Some(reserved) = opts
            .attributes
            .keys()
            .find(|a| axon_runtime::attrs::is_reserved(a))
        {
            let message = format!("attribute {reserved:?} is reserved by the runtime");
            return Some(Err((ErrorKind::BadArguments, message)));
        }
        if let Some(group) = opts.group.as_deref() {
            if !self.supervision.knows_group(group) {
                let message = format!("no supervision group {group:?} in this node's tree");
                return Some(Err((ErrorKind::BadArguments, message)));
            }
        }
        if let Some(name) = opts.name.as_deref() {
            if !self.supervision.is_free(name) {
                let message =
                    format!("name already registered: {name:?} (its supervisor is restarting it)");
                return Some(Err((ErrorKind::NameTaken, message)));
            }
        }
        let name = match self.records.claim(opts.name.clone(), Some(waiter.clone())) {
            Ok(n) => n,
            Err(r) => return Some(Err(r)),
        };
        match self.start_process(&name, &opts, BTreeMap::new(), ctx) {
            Ok((pid, identity)) => {
                self.supervision
                    .add(&name, opts, pid, std::time::Instant::now());
                self.supervision.identify(&name, pid, identity);
                None
            }
            Err(e) => {
                self.records.finish_start(&name);
                let kind = match e {
                    StartError::Spec(_) => ErrorKind::BadArguments,
                    StartError::Io(_) => ErrorKind::Internal,
                };
                Some(Err((kind, format!("cannot start agent {name}: {e}"))))
            }
        }
    }

    /// Starts the process of agent `name`; its earlier sockets (`rebind`) are bound again at the same addresses.
    pub(super) fn start_process(
        &mut self,
        name: &str,
        opts: &SpawnOptions,
        rebind: BTreeMap<String, axon_runtime::Address>,
        ctx: &mut Context<Self>,
    ) -> Result<(u32, Option<Identity>), StartError> {
        let supervised = opts
            .restart
            .is_some_and(|r| r != crate::policy::Restart::Temporary);
        // The secret this incarnation proves itself with to a supervisor that takes over.
        let token = auth::Key::generate().map_err(StartError::Spec)?;
        let mut defaults = self.defaults.clone();
        defaults.serializer = opts.serializer.unwrap_or(defaults.serializer);
        defaults.transport = opts.transport.unwrap_or(defaults.transport);
        if supervised {
            // Lease renewals are the heartbeats the supervisor watches.
            defaults.lease = self.supervision.spec.heartbeat;
        }
        let spec = AgentSpec {
            name: name.to_owned(),
            kind: opts.kind.clone().unwrap_or_else(|| "agent".into()),
            nameserver: Some(self.endpoint.clone()),
            runtime_dir: self.dir.clone(),
            defaults,
            attributes: opts.attributes.clone(),
            // The logger does not log to itself.
            logger: self
                .logger
                .clone()
                .filter(|_| opts.kind.as_deref() != Some(LOGGER_KIND)),
            log: opts.log.clone(),
            supervised,
            rebind,
            token: Some(token.to_hex()),
            orphan_grace_ms: Some(self.supervision.spec.orphan_grace.as_millis() as u64),
            control_bind: self.control_bind(),
            advertise: self.advertise().map(str::to_owned),
            script_limits: opts.script_limits.unwrap_or_default(),
        };
        let encoded = spec.to_env().map_err(StartError::Spec)?;
        let mut cmd = self.hosts.for_kind(&spec.kind).command("agent");
        cmd.env(AGENT_ENV, encoded)
            .env(auth::KEY_ENV, self.key.to_hex())
            .stdin(Stdio::null());
        // Without a heart, dropping the child (this process ends) kills it. Under a heart, it
        // serves on for the next supervisor, which adopts it.
        let mut child = tokio::process::Command::from(cmd)
            .kill_on_drop(!self.me.heart)
            .spawn()?;
        let pid = child
            .id()
            .ok_or_else(|| std::io::Error::other("child exited at once"))?;
        let identity = axon_runtime::launch::start_ticks(pid).map(|start_ticks| Identity {
            start_ticks,
            token: token.to_hex(),
        });
        self.records.started(name, pid);
        self.children.insert(pid, name.to_owned());
        Node::started(pid);
        tracing::info!(agent = %name, pid, kind = %spec.kind, "agent spawned");
        let agent = name.to_owned();
        self.record(crate::lifecycle::Lifecycle::Spawned { agent, pid });
        let (exited, timed_out) = (name.to_owned(), name.to_owned());
        let wait = async move { child.wait().await };
        detached::detach(ctx, wait, move |act, status, ctx| {
            act.on_child_exit(&exited, pid, status, ctx);
            act.save_changes();
        });
        detached::after(ctx, START_TIMEOUT, move |act, _| {
            act.start_timed_out(&timed_out, pid)
        });
        Ok((pid, identity))
    }

    /// Where agents bind their control socket: on the advertised address in a cluster, else ipc.
    fn control_bind(&self) -> Option<String> {
        self.advertise().map(|a| format!("tcp://{a}:0"))
    }

    /// The address other hosts reach this node at, in cluster mode.
    fn advertise(&self) -> Option<&str> {
        #[cfg(feature = "cluster")]
        if let Some((_, advertise)) = &self.cluster {
            return Some(advertise);
        }
        None
    }

    pub(super) fn start_timed_out(&mut self, name: &str, pid: u32) {
        let pid_matches = self.records.starting_pid(name).is_none_or(|p| p == pid);
        if !self.records.is_starting(name) || !pid_matches {
            return;
        }
        let Some(starting) = self.records.finish_start(name) else {
            return;
        };
        let message = format!("agent {name} did not start within {START_TIMEOUT:?}");
        self.abandon_start(name, Some(pid), starting.waiter, message);
    }

    /// Gives up on a start that will not complete: kills its process and fails it as a timeout.
    fn abandon_start(
        &mut self,
        name: &str,
        pid: Option<u32>,
        waiter: Option<Waiter>,
        message: String,
    ) {
        if let Some(pid) = pid {
            // Already gone is fine: the start fails either way.
            let _ = self.signal_child(pid, Signal::Kill);
        }
        self.failed_start(name, waiter, Err((ErrorKind::Timeout, message)));
    }

    /// The end of a child process we started (and so can wait for).
    fn on_child_exit(
        &mut self,
        name: &str,
        pid: u32,
        status: std::io::Result<ExitStatus>,
        ctx: &mut Context<Self>,
    ) {
        let (normal, status) = match status {
            Ok(st) => {
                tracing::info!(agent = %name, pid, status = %st, "agent exited");
                (st.success(), st.to_string())
            }
            Err(e) => {
                tracing::warn!(agent = %name, pid, error = %e, "lost track of agent process");
                (false, e.to_string())
            }
        };
        self.on_exit(name, pid, normal, status, ctx);
    }

    /// The end of an agent process (a child, or an adopted one): `normal` is a clean exit.
    pub(super) fn on_exit(
        &mut self,
        name: &str,
        pid: u32,
        normal: bool,
        status: String,
        ctx: &mut Context<Self>,
    ) {
        self.children.remove(&pid);
        Node::reaped(pid);
        self.owed_logger.remove(name);
        if let Ok(info) = self.records.info(name) {
            if info.pid == pid {
                let addrs = info.addrs.clone();
                if let Some(child) = self.supervision.incarnation(name, pid) {
                    child.addrs.extend(addrs);
                }
            }
        }
        self.records.exited(name, pid);
        if self.records.starting_pid(name) == Some(pid) {
            if let Some(starting) = self.records.finish_start(name) {
                let (kind, message) = match &starting.failure {
                    Some((why, true)) => (
                        ErrorKind::BadArguments,
                        format!("agent {name} could not be created from these arguments: {why}"),
                    ),
                    Some((why, false)) => (
                        ErrorKind::Internal,
                        format!("agent {name} could not start: {why} ({status})"),
                    ),
                    None => (
                        ErrorKind::Internal,
                        format!("agent {name} exited during start-up: {status}"),
                    ),
                };
                self.failed_start(name, starting.waiter, Err((kind, message)));
            }
        }
        self.supervise_exit(name, pid, normal, status, ctx);
        // A deployed agent may be waiting for this name to be free.
        #[cfg(feature = "cluster")]
        self.reconcile_after_exit(ctx);
        self.settle_stops();
        if self.leaving.is_some() {
            self.stop_next(ctx);
            if self.children.is_empty() {
                self.finish(ctx);
            }
        }
    }
}

/// Why an agent process could not be started.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    /// Its spec cannot be handed to it (e.g. an attribute that does not encode).
    #[error("{0}")]
    Spec(axon_runtime::Error),
    /// The process could not be started.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A `spawn` whose arguments name a program, a path or arguments to run is
/// refused: the wire names kinds, and the node's operator fixed which
/// program hosts each kind when the node started.
fn names_a_program(req: &Request) -> Option<Refusal> {
    let field = PROGRAM_FIELDS
        .into_iter()
        .find(|f| axon_runtime::protocol::journal::field(&req.args, f).is_some())?;
    tracing::warn!(field, "spawn naming a program refused");
    let message = format!(
        "spawn names a kind, never a program ({field:?} given): which program hosts a kind is \
         fixed when the node starts (manifest `bin`, NodeOptions::kind_hosts, --kind-host)"
    );
    Some((ErrorKind::Refused, message))
}
