//! `Stats`: what an agent counts about itself, answered by the `stats` control method.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
    /// The at-least-once sockets (`reliable = true`), by alias.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reliable: BTreeMap<String, ReliableStats>,
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
