//! At-least-once PUSH/PULL (docs/guarantees.md; the wire in docs/protocol.md).
//!
//! A reliable socket has a hidden companion that carries acknowledgements
//! back against the data's direction: the bound side binds a ROUTER next to
//! its PUSH or PULL (advertised as the address's `requests` endpoint), the
//! connecting side connects a DEALER to it.
//!
//! - `wire`: header and acknowledgement frames.
//! - `outbox`: the sender's unacknowledged messages.
//! - `durable`: the outbox as an append-only file.
//! - `inbox`: the receiver's duplicate check and pending acknowledgements.
//! - `sender`, `receiver`: what a send, an acknowledgement and a received message do.
//! - `reconnect`: a sender's watch on its connections (in flight again when a receiver is back).

use std::path::PathBuf;

use super::{safe_name, Sockets};
use crate::error::{Error, Result};
use crate::net::SocketKind;
use crate::protocol::Reliability;
use crate::stats::ReliableStats;

mod durable;
mod inbox;
mod outbox;
mod receiver;
mod reconnect;
mod sender;
mod wire;

pub(crate) use receiver::Incoming;
pub(crate) use wire::{is_header, Verdict};

use durable::DurableLog;
use inbox::{Dedupe, PendingAcks};
use outbox::Outbox;
use reconnect::Watch;

/// The sending end: its outbox (and file) and counters.
pub(crate) struct Sender {
    outbox: Outbox,
    log: Option<DurableLog>,
    opts: Reliability,
    stats: ReliableStats,
    /// Its PUSH's and its companion's connection events ([`Sockets::watch_reliable`]).
    watch: Vec<Watch>,
}

/// The receiving end: what it handled, and the acknowledgements to send.
pub(crate) struct Receiver {
    dedupe: Dedupe,
    pending: PendingAcks,
    /// Its companion is a bound ROUTER: an acknowledgement names its sender's routing id.
    routed: bool,
    stats: ReliableStats,
}

/// The reliable state of a PUSH (sender) or PULL (receiver).
pub(crate) enum Reliable {
    /// A PUSH.
    Sender(Sender),
    /// A PULL.
    Receiver(Receiver),
}

impl Reliable {
    /// The counters, with the outbox's current size.
    pub(crate) fn stats(&self) -> ReliableStats {
        match self {
            Reliable::Sender(s) => ReliableStats {
                incarnation: s.outbox.incarnation,
                outbox_messages: s.outbox.len() as u64,
                outbox_bytes: s.outbox.bytes() as u64,
                in_flight: s.outbox.in_flight() as u64,
                ..s.stats.clone()
            },
            Reliable::Receiver(r) => r.stats.clone(),
        }
    }

    /// How often a sender's timer looks for timed-out messages: a quarter of its timeout,
    /// within 5-250 ms. A receiver needs none: it acknowledges at the end of each batch.
    pub(crate) fn tick(&self) -> Option<std::time::Duration> {
        match self {
            Reliable::Sender(s) => Some(std::time::Duration::from_millis(
                (s.opts.ack_timeout_ms / 4).clamp(5, 250),
            )),
            Reliable::Receiver(_) => None,
        }
    }

    /// Messages a sender has not sent yet: its share of the socket's backlog.
    pub(crate) fn waiting(&self) -> usize {
        match self {
            Reliable::Sender(s) => s.outbox.waiting(),
            Reliable::Receiver(_) => 0,
        }
    }

    /// Messages a sender still waits to see acknowledged.
    pub(crate) fn unacked(&self) -> usize {
        match self {
            Reliable::Sender(s) => s.outbox.len(),
            Reliable::Receiver(_) => 0,
        }
    }

    /// The routing id a connecting sender's companion takes.
    pub(crate) fn identity(&self) -> Option<[u8; 9]> {
        match self {
            Reliable::Sender(s) => Some(wire::routing_id(s.outbox.incarnation)),
            Reliable::Receiver(_) => None,
        }
    }

    /// Leaves the durable file behind only when it still holds messages; says what a
    /// memory-only outbox loses.
    pub(crate) fn close(self, agent: &str, alias: &str) {
        let Reliable::Sender(Sender { log, outbox, .. }) = self else {
            return;
        };
        match log {
            Some(log) => log.remove_if_empty(&outbox),
            None if outbox.len() > 0 => {
                tracing::warn!(agent, alias, unacknowledged = outbox.len(), "reliable socket closed with unacknowledged messages (not durable: they are gone)");
            }
            None => {}
        }
    }
}

impl Sockets {
    /// The reliable state for a new `kind` socket under `alias`, `bound` or connected.
    pub(super) fn reliable_state(
        &self,
        kind: SocketKind,
        alias: &str,
        opts: Reliability,
        bound: bool,
    ) -> Result<Reliable> {
        opts.check()?;
        match kind {
            SocketKind::Push => self.sender(alias, opts).map(Reliable::Sender),
            SocketKind::Pull => Ok(Reliable::Receiver(Receiver {
                dedupe: Dedupe::default(),
                pending: PendingAcks::default(),
                routed: bound,
                stats: ReliableStats::default(),
            })),
            kind => Err(Error::invalid(
                "reliable",
                kind.as_str(),
                "only PUSH and PULL sockets are at-least-once",
            )),
        }
    }

    fn sender(&self, alias: &str, opts: Reliability) -> Result<Sender> {
        let incarnation = crate::protocol::auth::random_u64();
        let mut stats = ReliableStats::default();
        let (outbox, log) = match opts.durable {
            false => (Outbox::new(incarnation, 0), None),
            true => {
                let replayed = DurableLog::open(&self.outbox_file(alias), incarnation)?;
                stats.truncated_records = replayed.truncated;
                if replayed.outbox.len() > 0 {
                    tracing::info!(agent = %self.spec.name, alias, messages = replayed.outbox.len(), "durable outbox replayed");
                }
                (replayed.outbox, Some(replayed.log))
            }
        };
        Ok(Sender {
            outbox,
            log,
            opts,
            stats,
            watch: Vec::new(),
        })
    }

    /// Where the durable outbox of `alias` lives: beside the agent's ipc files.
    fn outbox_file(&self, alias: &str) -> PathBuf {
        self.spec.runtime_dir.join(format!(
            "{}@{}.outbox",
            safe_name(&self.spec.name),
            safe_name(alias)
        ))
    }

    /// Watches the connections of a reliable sender at `index` (its PUSH and its companion)
    /// for receivers that come back; a socket that cannot be watched keeps the timeout alone.
    pub(super) fn watch_reliable(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index).and_then(Option::as_ref) else {
            return;
        };
        let Some(Reliable::Sender(s)) = slot.reliable.as_deref() else {
            return;
        };
        let mut watch = Vec::new();
        for i in std::iter::once(index).chain(slot.partner) {
            let Some(watched) = self.slots.get(i).and_then(Option::as_ref) else {
                continue;
            };
            match Watch::new(watched.socket.io.raw(), s.outbox.incarnation) {
                Ok(w) => watch.push(w),
                Err(e) => {
                    tracing::warn!(agent = %self.spec.name, alias = %slot.alias, error = %e, "reliable sender not watching its connections: redelivery on timeout only")
                }
            }
        }
        if let Some(Reliable::Sender(s)) = self.reliable_mut(index) {
            s.watch = watch;
        }
    }

    /// The reliable state of the main socket at `index`.
    pub(crate) fn reliable_mut(&mut self, index: usize) -> Option<&mut Reliable> {
        self.slots.get_mut(index)?.as_mut()?.reliable.as_deref_mut()
    }

    /// Messages every reliable sender still waits to see acknowledged.
    pub(crate) fn unacked(&self) -> usize {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| s.reliable.as_ref())
            .map(|r| r.unacked())
            .sum()
    }

    /// Every reliable socket's counters, by alias.
    pub(crate) fn reliable_stats(&self) -> std::collections::BTreeMap<String, ReliableStats> {
        self.slots
            .iter()
            .flatten()
            .filter_map(|s| Some((s.alias.to_string(), s.reliable.as_ref()?.stats())))
            .collect()
    }
}
