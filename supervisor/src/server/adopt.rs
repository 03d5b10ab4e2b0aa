//! Taking over from a supervisor that died: what it saved, the agents it
//! left running, and how this one keeps its own state saved for the next.
//!
//! On start, a supervisor that takes a node over reads every child record
//! its predecessor saved. A child whose process is still the one recorded
//! (same pid, same start time) is asked to `adopt`: it signs a fresh nonce
//! with the token only that incarnation holds. One that proves itself is
//! registered again and watched through a pidfd (it is not our child, so we
//! cannot wait for it); its heartbeats resume. One that does not answer is
//! SIGKILLed as hung and restarted by its policy; one whose proof is wrong is
//! not ours and is left alone. A child that died while no supervisor was
//! there is restarted by its policy, with its journal.

use std::time::{Duration, Instant};

use actix::prelude::*;
use axon_runtime::launch::{is_same_process, Signal};
use axon_runtime::protocol::auth::Key;
use axon_runtime::protocol::methods::{Adopt, Adopted};
use axon_runtime::{codec::hex, Value};

use super::{unix_ms, Server, LOGGER_ALIAS, LOGGER_KIND};
use crate::guard::Node;
use crate::methods::Register;
use crate::supervision::{ChildRecord, State};

/// How long an agent may take to answer `adopt`.
const ADOPT_TIMEOUT: Duration = Duration::from_secs(3);

impl Server {
    /// Takes back what the supervisor before this one saved: adopts the agents still running,
    /// restarts (by policy) those that died meanwhile.
    pub(super) fn take_over(&mut self, inherited: Vec<ChildRecord>, ctx: &mut Context<Self>) {
        if self.me.node.incarnation > 1 {
            self.record(crate::lifecycle::Lifecycle::TookOver {
                incarnation: self.me.node.incarnation,
                agents: inherited.len(),
            });
        }
        if inherited.is_empty() {
            return;
        }
        let now = Instant::now();
        match self.store.groups() {
            Ok(groups) => self.supervision.restore_groups(groups, now),
            Err(e) => {
                tracing::error!(error = %e, "the supervision groups' saved restart counts are unreadable; they start afresh")
            }
        }
        let candidates: Vec<(String, Option<u32>, State)> = inherited
            .iter()
            .map(|r| (r.name.clone(), r.pid, r.state))
            .collect();
        for record in inherited {
            self.supervision.restore(record, now);
        }
        tracing::warn!(
            agents = candidates.len(),
            incarnation = self.me.node.incarnation,
            "taking over from a supervisor that died"
        );
        for (name, pid, state) in candidates {
            let Some(pid) = pid else { continue };
            let ours = self
                .supervision
                .get(&name)
                .and_then(|c| c.identity.as_ref())
                .is_some_and(|id| is_same_process(pid, id.start_ticks));
            if !ours {
                self.lost(&name, pid, "ended while no supervisor was running", ctx);
                continue;
            }
            // Ours by pid and start time: watch it from now on, whatever it answers.
            self.watch_adopted(&name, pid, ctx);
            if state == State::Stopping {
                // It was being stopped for good when the last supervisor died.
                let _ = self.signal_child(pid, Signal::Term);
                continue;
            }
            self.ask_to_adopt(name, pid, ctx);
        }
        // Children that were waiting for their restart.
        self.start_due(ctx);
        self.save_changes();
    }

    fn ask_to_adopt(&mut self, name: String, pid: u32, ctx: &mut Context<Self>) {
        let Some(control) = self.supervision.get(&name).and_then(|c| c.control.clone()) else {
            // It died before it registered: it cannot be asked; treat it as hung.
            return self.not_adopted(&name, pid, "it never registered its control endpoint");
        };
        let nonce = match Key::generate() {
            Ok(k) => k.to_hex(),
            Err(e) => return self.not_adopted(&name, pid, &format!("no nonce: {e}")),
        };
        let args = Adopt {
            nonce: nonce.clone(),
        };
        let agent = name.clone();
        let call = async move {
            axon_runtime::client::call::call(&control, &agent, "adopt", &args, ADOPT_TIMEOUT).await
        };
        ctx.spawn(call.into_actor(self).map(move |answer, act, ctx| {
            act.on_adopt_answer(&name, pid, &nonce, answer, ctx);
            act.save_changes();
        }));
    }

    fn on_adopt_answer(
        &mut self,
        name: &str,
        pid: u32,
        nonce: &str,
        answer: axon_runtime::Result<Value>,
        ctx: &mut Context<Self>,
    ) {
        let adopted = match answer.and_then(|v| {
            v.deserialized::<Adopted>()
                .map_err(|e| axon_runtime::Error::invalid("adopt answer", name, e.to_string()))
        }) {
            Ok(a) => a,
            Err(e) => return self.not_adopted(name, pid, &format!("did not answer adopt: {e}")),
        };
        let Some(child) = self.supervision.get(name) else {
            return;
        };
        let proven = child.identity.as_ref().is_some_and(|id| {
            let nonce = hex::decode(nonce).unwrap_or_default();
            let proof = hex::decode(&adopted.proof).unwrap_or_default();
            Key::from_hex(&id.token).is_ok_and(|k| k.verify(&nonce, &proof))
        });
        if !proven || adopted.pid != pid || adopted.name != name {
            tracing::error!(agent = %name, pid, "the process at this pid is not the incarnation this node started (its token proof fails); leaving it alone");
            self.adopted.remove(&pid);
            self.children.remove(&pid);
            Node::reaped(pid);
            return self.lost(name, pid, "its process could not prove who it is", ctx);
        }
        let is_logger = adopted.kind == LOGGER_KIND;
        let register = Register {
            name: adopted.name,
            kind: adopted.kind,
            pid,
            control: adopted.control,
            lease_ms: adopted.lease_ms,
        };
        if let Err((_, why)) = self.records.register(register) {
            return self.not_adopted(name, pid, &format!("cannot register it again: {why}"));
        }
        for (alias, address) in adopted.addrs {
            if is_logger && alias == LOGGER_ALIAS {
                self.logger = Some(address.endpoint.clone());
                if let Err(e) = axon_runtime::logging::connect(&address.endpoint) {
                    tracing::warn!(error = %e, "name server events will not reach the logger");
                }
            }
            if let Err((_, why)) = self.records.set_addr(name, alias, address) {
                tracing::warn!(agent = %name, why = %why, "an address of an adopted agent was not taken");
            }
        }
        if let Some(c) = self.supervision.incarnation(name, pid) {
            c.state = State::Running;
        }
        tracing::info!(agent = %name, pid, "agent adopted");
    }

    /// An agent that is ours (pid and start time) but cannot be adopted: killed as hung, then
    /// restarted by its policy when its exit is seen.
    fn not_adopted(&mut self, name: &str, pid: u32, why: &str) {
        tracing::warn!(agent = %name, pid, why, "agent not adopted; killing it");
        if let Some(c) = self.supervision.incarnation(name, pid) {
            c.kill_reason = Some(format!("not adopted: {why}"));
        }
        // Already gone is fine: its exit is on its way.
        let _ = self.signal_child(pid, Signal::Kill);
    }

    /// A child whose process is gone (or is not ours): its end goes through the usual restart decision.
    fn lost(&mut self, name: &str, pid: u32, why: &str, ctx: &mut Context<Self>) {
        tracing::warn!(agent = %name, pid, why, "agent lost while its supervisor was away");
        self.supervise_exit(name, pid, false, why.to_owned(), ctx);
    }

    /// Watches an adopted agent's process (not our child) for its end.
    fn watch_adopted(&mut self, name: &str, pid: u32, ctx: &mut Context<Self>) {
        self.children.insert(pid, name.to_owned());
        self.adopted.insert(pid, false);
        Node::started(pid);
        let name = name.to_owned();
        let ended = axon_runtime::launch::exited(pid);
        super::detached::detach(ctx, ended, move |act, (), ctx| {
            // Not our child: no exit status. An agent that unregistered first left normally.
            let normal = act.adopted.remove(&pid).unwrap_or(false);
            let status = match normal {
                true => "exited after unregistering (adopted: status not known)",
                false => "ended without unregistering (adopted: status not known)",
            };
            act.on_exit(&name, pid, normal, status.to_owned(), ctx);
            act.save_changes();
        });
    }

    /// An adopted agent that unregisters is leaving normally: its end is not a crash.
    pub(super) fn note_goodbye(&mut self, req: &axon_runtime::protocol::Request) {
        let Ok(name) = req.decode_args::<crate::methods::Named>().map(|a| a.name) else {
            return;
        };
        if let Ok(info) = self.records.info(&name) {
            if let Some(goodbye) = self.adopted.get_mut(&info.pid) {
                *goodbye = true;
            }
        }
    }

    /// Saves the children changed since the last save (deletes the records of those forgotten).
    pub(super) fn save_changes(&mut self) {
        self.publish_changes();
        let changed = self.supervision.take_changed();
        if self.leaving.is_some() {
            // The node is shutting down for good: there is nothing for a successor to take over.
            return;
        }
        if let Some(groups) = self.supervision.take_changed_groups() {
            if let Err(e) = self.store.save_groups(&groups) {
                tracing::error!(error = %e, "could not save the supervision groups' restart counts");
            }
        }
        for name in changed {
            let saved = match self.supervision.record(&name) {
                Some(record) => self.store.save_child(&record),
                None => self.store.remove_child(&name),
            };
            if let Err(e) = saved {
                tracing::error!(agent = %name, error = %e, "could not save the child's record; a supervisor taking over will not know it as it is");
            }
        }
    }

    /// Publishes the registry's changes to the cluster, in cluster mode (else forgets them).
    fn publish_changes(&mut self) {
        let changed = self.records.take_changed();
        #[cfg(feature = "cluster")]
        if let Some((mirror, _)) = &self.cluster {
            for name in changed {
                match self.records.info(&name) {
                    Ok(info) => mirror.put(info),
                    Err(_) => mirror.delete(&name),
                }
            }
        }
        #[cfg(not(feature = "cluster"))]
        drop(changed);
    }

    /// `status`: this supervisor and the node at a glance.
    pub(super) fn status(&self) -> Value {
        let running = self
            .supervision
            .children()
            .filter(|c| c.state == State::Running)
            .count();
        let supervisor = crate::methods::SupervisorStatus {
            pid: std::process::id(),
            since_ms: unix_ms(self.me.started),
            uptime_ms: self.me.since.elapsed().as_millis() as u64,
            incarnation: self.me.node.incarnation,
            first_started_ms: self.me.node.first_started_unix_ms,
            heart: self.me.heart,
            adopted: self.adopted.len(),
        };
        let status = crate::methods::NodeStatus {
            supervisor,
            endpoint: self.endpoint.clone(),
            runtime_dir: self.dir.display().to_string(),
            agents: self.records.names().len(),
            children_running: running,
            metrics: self.metrics.as_ref().map(|m| m.addr.to_string()),
            lease_datagrams_refused: self.leases.as_ref().map_or(0, |l| l.refused()),
        };
        axon_runtime::codec::to_value(&status).unwrap_or(Value::Null)
    }
}
