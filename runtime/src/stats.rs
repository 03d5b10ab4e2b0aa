//! `Stats`: what an agent counts about itself, answered by the `stats` control
//! method, in total and per socket ([`SocketStats`]).
//!
//! What a message moves is counted once, through [`Count`]: the host bumps
//! the agent's total and the socket's own counter in one call
//! (`Sockets::count`), so the two never disagree.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Bad input from peers is counted every time (in `stats`) but logged only
/// the 1st, 2nd, 4th, 8th, ... time, so a flood of it cannot flood the log.
pub(crate) fn worth_logging(count: u64) -> bool {
    count.is_power_of_two()
}

/// Counters of one agent since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Messages received on data sockets and handed to a handler.
    pub received: u64,
    /// Messages sent on data sockets.
    pub sent: u64,
    /// Handlers that returned an error.
    pub handler_errors: u64,
    /// Received payloads that did not decode with the socket's serializer.
    pub decode_errors: u64,
    /// Received messages with the wrong frame layout (e.g. empty multipart).
    pub malformed: u64,
    /// Received messages over the size limit, dropped.
    pub oversized: u64,
    /// Messages refused because a socket's backlog was full.
    pub dropped_full: u64,
    /// Messages dropped at a high-water mark (PUB, or a socket set to `on_full = drop`).
    #[serde(default)]
    pub dropped_hwm: u64,
    /// Messages received with no handler to take them.
    pub unhandled: u64,
    /// Control requests served.
    pub control_requests: u64,
    /// Control requests answered with an error.
    pub control_errors: u64,
    /// Control requests refused: unsigned, wrongly signed, stale or replayed.
    pub refused: u64,
    /// Requests forgotten unanswered: older than 10 minutes without a wait of
    /// their own, or the oldest of more than 65 536 waiting on one socket.
    #[serde(default)]
    pub requests_forgotten: u64,
    /// Scripts that failed: did not compile, hit a limit, or raised an error
    /// (as a method, an `exec` or a handler; a failing scripted handler is
    /// also a `handler_errors`).
    #[serde(default)]
    pub script_errors: u64,
    /// Log events the logger agent could not take (its queue was full), written to stderr instead.
    #[serde(default)]
    pub logs_not_forwarded: u64,
    /// The counters of each open socket, by alias. Filled in the `stats`
    /// answer (a reader from before it finds it empty); empty in `Ctx::stats`.
    #[serde(default)]
    pub sockets: BTreeMap<String, SocketStats>,
    /// The at-least-once sockets (`reliable = true`), by alias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reliable: BTreeMap<String, ReliableStats>,
}

/// Counters of one open socket since it was opened (a SYNC pair's hidden
/// requests side is counted with its alias).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketStats {
    /// Its kind (`PUB`, `REP`, ...).
    pub kind: String,
    /// Whether it is bound (others connect to it) rather than connected.
    pub bound: bool,
    /// Where it is bound or connected.
    pub endpoint: String,
    /// Messages received on it and handed to a handler.
    pub received: u64,
    /// Messages sent on it.
    pub sent: u64,
    /// Messages refused because its backlog was full.
    pub dropped_full: u64,
    /// Messages dropped at its high-water mark.
    pub dropped_hwm: u64,
    /// Handlers that failed on its messages.
    pub handler_errors: u64,
    /// Its payloads that did not decode with its serializer.
    pub decode_errors: u64,
    /// Its messages with the wrong frame layout.
    pub malformed: u64,
    /// Its messages over the size limit, dropped.
    pub oversized: u64,
    /// Its messages with no handler to take them.
    pub unhandled: u64,
    /// Messages waiting in its send backlog now (a gauge, not a counter).
    pub backlog: u64,
}

/// Counters of one at-least-once socket (docs/guarantees.md); a sender moves
/// the outbox ones, a receiver the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReliableStats {
    /// Sender: the incarnation its messages are numbered in.
    pub incarnation: u64,
    /// Sender: messages kept until acknowledged, now.
    pub outbox_messages: u64,
    /// Sender: their payload bytes.
    pub outbox_bytes: u64,
    /// Sender: of them, sent and awaiting an acknowledgement.
    pub in_flight: u64,
    /// Sender: messages acknowledged.
    pub acked: u64,
    /// Sender: messages sent again (after a timeout or a negative acknowledgement).
    pub redelivered: u64,
    /// Sender: negative acknowledgements received (the receiver's handler failed).
    pub nacked: u64,
    /// Sender: messages given up after `max_attempts` handler failures.
    pub dead_lettered: u64,
    /// Acknowledgements that were malformed, of another incarnation or out of range, ignored;
    /// at a receiver, anything that arrives on its acknowledgement socket.
    pub garbage_acks: u64,
    /// Sender (durable): damaged records found at the end of the outbox file and cut off.
    pub truncated_records: u64,
    /// Receiver: messages handed to the handler.
    pub handled: u64,
    /// Receiver: messages seen before and dropped (acknowledged again).
    pub duplicates: u64,
    /// Receiver: acknowledgement frames sent.
    pub acks_sent: u64,
    /// Either end: messages that were not in the reliable framing (a plain peer), dropped.
    pub plain_frames: u64,
}

/// One thing a message can come to, counted per agent and per socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Count {
    /// Handed to a handler.
    Received,
    /// Sent.
    Sent,
    /// Refused: the backlog was full.
    DroppedFull,
    /// Dropped at the high-water mark.
    DroppedHwm,
    /// Its handler failed.
    HandlerError,
    /// It did not decode.
    DecodeError,
    /// Its frame layout was wrong.
    Malformed,
    /// It was over the size limit.
    Oversized,
    /// No handler took it.
    Unhandled,
}

impl Count {
    /// How many kinds of count there are.
    pub(crate) const ALL: usize = 9;
}

impl Stats {
    /// Adds one to the counter of `c`; returns its new value.
    pub(crate) fn bump(&mut self, c: Count) -> u64 {
        let n = match c {
            Count::Received => &mut self.received,
            Count::Sent => &mut self.sent,
            Count::DroppedFull => &mut self.dropped_full,
            Count::DroppedHwm => &mut self.dropped_hwm,
            Count::HandlerError => &mut self.handler_errors,
            Count::DecodeError => &mut self.decode_errors,
            Count::Malformed => &mut self.malformed,
            Count::Oversized => &mut self.oversized,
            Count::Unhandled => &mut self.unhandled,
        };
        *n += 1;
        *n
    }
}

/// The counters a socket keeps while it is open, one per [`Count`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts([u64; Count::ALL]);

impl Counts {
    /// Adds one to the counter of `c`.
    #[inline]
    pub(crate) fn bump(&mut self, c: Count) {
        self.0[c as usize] += 1;
    }

    /// Adds `other`'s counters to these (a SYNC pair's two sides under one alias).
    pub(crate) fn add(&mut self, other: &Counts) {
        for (n, m) in self.0.iter_mut().zip(other.0) {
            *n += m;
        }
    }

    /// These counters as a socket's part of the `stats` answer.
    pub(crate) fn report(
        &self,
        kind: &str,
        bound: bool,
        endpoint: &str,
        backlog: usize,
    ) -> SocketStats {
        let n = |c: Count| self.0[c as usize];
        SocketStats {
            kind: kind.to_owned(),
            bound,
            endpoint: endpoint.to_owned(),
            received: n(Count::Received),
            sent: n(Count::Sent),
            dropped_full: n(Count::DroppedFull),
            dropped_hwm: n(Count::DroppedHwm),
            handler_errors: n(Count::HandlerError),
            decode_errors: n(Count::DecodeError),
            malformed: n(Count::Malformed),
            oversized: n(Count::Oversized),
            unhandled: n(Count::Unhandled),
            backlog: backlog as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_moves_the_same_counter_in_the_total_and_per_socket() {
        let (mut total, mut socket) = (Stats::default(), Counts::default());
        for c in [
            Count::Received,
            Count::Received,
            Count::Oversized,
            Count::Unhandled,
        ] {
            total.bump(c);
            socket.bump(c);
        }
        let r = socket.report("PULL", true, "ipc:///x", 3);
        assert_eq!((r.received, r.oversized, r.unhandled), (2, 1, 1));
        assert_eq!(
            (total.received, total.oversized, total.unhandled),
            (2, 1, 1)
        );
        assert_eq!((r.sent, r.malformed, r.backlog), (0, 0, 3));
        let mut both = socket;
        both.add(&socket);
        assert_eq!(both.report("PULL", true, "", 0).received, 4);
        // An answer from before per-socket counters still reads.
        let old = r#"{"received":1,"sent":2,"handler_errors":0,"decode_errors":0,"malformed":0,"oversized":0,"dropped_full":0,"unhandled":0,"control_requests":0,"control_errors":0,"refused":0}"#;
        let parsed: Stats = serde_json::from_str(old).unwrap();
        assert!(parsed.sockets.is_empty());
    }
}
