//! The agent's side of being watched: lease renewals and what their answers
//! say about the name server, the orphan grace, adoption by a supervisor
//! that restarted, and registering again with a new name server.
//!
//! - A renewal is a call: its answer is how the agent knows its supervisor is
//!   there. One is in flight at most, so a stalled name server never has
//!   renewals pile up behind it. A supervised agent renews over the lease
//!   channel (`lease.rs`, one datagram each way, no connection kept); one
//!   that registered by itself, whose name server may be on another host,
//!   renews with a control call. A renewal carries the agent's counters when
//!   they changed since the name server last took them (`ps` shows them).
//! - A supervised agent (one with a token) that has heard nothing from its
//!   supervisor for longer than its orphan grace leaves gracefully, so that
//!   nothing is orphaned. Until then it keeps serving its data sockets.
//! - A supervisor that restarted adopts the agent (`adopt`): the agent proves
//!   it is the incarnation that supervisor started by signing a nonce with
//!   its token.
//! - An agent that registered by itself (no token) registers again when a
//!   new name server answers that it does not know it (osBrain #115).

use std::time::{Duration, Instant};

use actix::prelude::*;

use super::nameserver::Registration;
use super::Host;
use crate::agent::Agent;
use crate::codec::{hex, to_value, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::auth::Key;
use crate::protocol::lease::Renewal;
use crate::protocol::methods::{Adopt, Adopted, ADOPT_NONCE_MIN};
use crate::stats::Stats;

/// Set when this process's agent leaves because its supervisor stayed away.
static ORPHANED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// After an agent left because its supervisor stayed away past the grace:
/// the last such agent of a node removes the node's runtime directory, so
/// that nothing is left behind. "Last" means that no other process the
/// supervisor recorded (`state/*.child.cbor.{0,1}`) is alive; a directory
/// without saved state is left alone (it is not a node directory).
pub(super) fn clean_up_if_orphaned(dir: &std::path::Path) {
    if !ORPHANED.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(records) = std::fs::read_dir(dir.join("state")) else {
        return;
    };
    let me = std::process::id();
    let others_alive = records.flatten().any(|entry| {
        let pid = std::fs::read(entry.path())
            .ok()
            .and_then(|bytes| {
                // Either slot of a record will do: an older version names the same process
                // or one already gone.
                let (_, body) = crate::saved::whole(&bytes)?;
                ciborium::from_reader::<ciborium::Value, _>(body).ok()
            })
            .and_then(|record| recorded_pid(&record));
        pid.is_some_and(|pid| pid != me && crate::launch::alive(pid))
    });
    if others_alive {
        return;
    }
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {
            tracing::info!(dir = %dir.display(), "last agent of a node whose supervisor is gone: runtime directory removed")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "runtime directory not removed"),
    }
}

/// The `pid` field of a supervisor's child record.
fn recorded_pid(record: &ciborium::Value) -> Option<u32> {
    let ciborium::Value::Map(fields) = record else {
        return None;
    };
    fields.iter().find_map(|(k, v)| match (k, v) {
        (ciborium::Value::Text(k), ciborium::Value::Integer(pid)) if k == "pid" => {
            u32::try_from(i128::from(*pid)).ok()
        }
        _ => None,
    })
}

/// What the agent knows of its name server, from the answers to its renewals.
pub(super) struct Heartbeat {
    /// When the name server last answered a renewal, or a supervisor adopted us.
    last_heard: Instant,
    /// A renewal (or a registration) is on its way; the next waits for it.
    in_flight: bool,
    /// The name server answered that it does not know this agent.
    unknown: bool,
    /// The counters the renewal in flight carries.
    offered: Option<Stats>,
    /// The counters the name server last took: a renewal carries them again only once they changed.
    reported: Option<Stats>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            last_heard: Instant::now(),
            in_flight: false,
            unknown: false,
            offered: None,
            reported: None,
        }
    }
}

impl<A: Agent> Host<A> {
    /// The renewal period's tick (the lease period, at most a second): leave if the supervisor
    /// is gone past the grace, else renew (or register again with a name server that forgot us).
    pub(super) fn renew(&mut self, actor: &mut Context<Self>) {
        if self.state.nameserver.is_none() || self.leaving != super::Leaving::No {
            return;
        }
        if let Some(grace) = self.sockets.spec.orphan_grace() {
            let silent = self.state.heartbeat.last_heard.elapsed();
            if silent > grace {
                tracing::warn!(
                    agent = %self.sockets.name(),
                    silent_ms = silent.as_millis() as u64,
                    grace_ms = grace.as_millis() as u64,
                    "no word from the supervisor for longer than the orphan grace; leaving"
                );
                ORPHANED.store(true, std::sync::atomic::Ordering::SeqCst);
                return self.leave(actor);
            }
        }
        if self.state.heartbeat.in_flight {
            return;
        }
        let unknown = std::mem::take(&mut self.state.heartbeat.unknown);
        if unknown && self.sockets.spec.token.is_none() {
            return self.register_again(actor);
        }
        let stats =
            Some(self.stats()).filter(|s| Some(s) != self.state.heartbeat.reported.as_ref());
        let renewal = Renewal {
            name: self.sockets.name().to_owned(),
            pid: std::process::id(),
            stats,
        };
        // A renewal older than a lease period is stale: the next one replaces it.
        let timeout = self.renewal_timeout();
        let answer = match (&mut self.state.leases, &self.state.nameserver) {
            (Some(leases), _) => leases.renew(&renewal, timeout),
            (None, Some(ns)) => match to_value(&renewal) {
                Ok(args) => ns.call_within("renew", args, timeout),
                Err(e) => {
                    return tracing::warn!(agent = %self.sockets.name(), error = %e, "renewal not encoded")
                }
            },
            (None, None) => return,
        };
        self.state.heartbeat.in_flight = true;
        self.state.heartbeat.offered = renewal.stats;
        actor.spawn(
            answer
                .into_actor(self)
                .map(|answer, host, _| host.renewed(answer)),
        );
    }

    /// One renewal period (at least 100 ms): a renewal older than that is replaced by the next.
    fn renewal_timeout(&self) -> Duration {
        let lease = self.sockets.spec.defaults.lease;
        crate::protocol::lease::renewal_period(lease).max(Duration::from_millis(100))
    }

    fn renewed(&mut self, answer: Result<Value>) {
        let heartbeat = &mut self.state.heartbeat;
        heartbeat.in_flight = false;
        let offered = heartbeat.offered.take();
        match answer {
            Ok(_) => {
                heartbeat.last_heard = Instant::now();
                // The name server holds these counters now: the next renewal carries them only if they change.
                if offered.is_some() {
                    heartbeat.reported = offered;
                }
            }
            Err(Error::Remote(e)) if e.kind == ErrorKind::NotFound => {
                if !heartbeat.unknown {
                    tracing::info!(agent = %self.sockets.name(), "the name server does not know this agent (a new one?)");
                }
                heartbeat.unknown = true;
            }
            Err(e) => {
                tracing::debug!(agent = %self.sockets.name(), error = %e, "lease renewal unanswered")
            }
        }
    }

    /// What the name server is told at registration.
    pub(super) fn registration(&self) -> Registration<'_> {
        Registration {
            name: self.sockets.name(),
            kind: A::KIND,
            pid: std::process::id(),
            control: self.control.as_ref().map_or("", |c| &c.endpoint),
            lease_ms: self.sockets.spec.defaults.lease.as_millis() as u64,
        }
    }

    /// Registers with a name server that does not know this agent, then tells it every bound socket.
    fn register_again(&mut self, actor: &mut Context<Self>) {
        let (Some(ns), Ok(args)) = (
            self.state.nameserver.as_ref(),
            to_value(&self.registration()),
        ) else {
            return;
        };
        let answer = ns.call("register", args);
        self.state.heartbeat.in_flight = true;
        actor.spawn(answer.into_actor(self).map(|answer, host, _| {
            host.state.heartbeat.in_flight = false;
            match answer {
                Ok(_) => {
                    host.state.heartbeat.last_heard = Instant::now();
                    // A new name server: it has none of this agent's counters yet.
                    host.state.heartbeat.reported = None;
                    tracing::info!(agent = %host.sockets.name(), "registered again with the name server");
                    host.sockets.report_binds_again();
                    host.report_addrs();
                }
                Err(e) => {
                    tracing::warn!(agent = %host.sockets.name(), error = %e, "could not register again")
                }
            }
        }));
    }

    /// `adopt`: a restarted supervisor takes charge of this agent again.
    pub(super) fn adopt(&mut self, a: Adopt) -> Result<Value> {
        let Some(token) = self.sockets.spec.token.as_deref() else {
            let why = "this agent has no supervisor to be adopted by: it registers by itself";
            let e = self
                .sockets
                .remote_error(ErrorKind::Refused, "adopt", why.to_owned());
            return Err(Error::Remote(e));
        };
        let nonce = hex::decode(&a.nonce)
            .filter(|n| n.len() >= ADOPT_NONCE_MIN)
            .ok_or_else(|| {
                Error::invalid(
                    "nonce",
                    &a.nonce,
                    format!("expected at least {ADOPT_NONCE_MIN} bytes in hex"),
                )
            })?;
        let key = Key::from_hex(token)
            .map_err(|e| Error::Config(format!("this agent's token is unusable: {e}")))?;
        let registration = self.registration();
        let adopted = Adopted {
            name: registration.name.to_owned(),
            kind: registration.kind.to_owned(),
            pid: registration.pid,
            control: registration.control.to_owned(),
            lease_ms: registration.lease_ms,
            addrs: self.sockets.bound_addrs(),
            proof: hex::encode(&key.sign(&nonce)),
        };
        self.state.heartbeat.last_heard = Instant::now();
        self.state.heartbeat.unknown = false;
        // A new supervisor: it has none of this agent's counters yet.
        self.state.heartbeat.reported = None;
        tracing::info!(agent = %adopted.name, "adopted by a restarted supervisor");
        to_value(&adopted)
    }
}
