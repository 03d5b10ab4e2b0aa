//! `Reliability`: what an at-least-once PUSH or PULL is asked for
//! (docs/guarantees.md, the wire in docs/protocol.md).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// At-least-once delivery on a PUSH or PULL socket; both ends must ask for it.
///
/// The sender numbers every message, keeps it until the receiver acknowledges
/// it, and sends it again after `ack_timeout_ms` without an acknowledgement.
/// The receiver acknowledges once its handler returned `Ok` and drops the
/// duplicates it has seen. Only the sender's fields matter on a sender and the
/// receiver's on a receiver; unset fields keep their defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reliability {
    /// Sender: the outbox is an append-only file in the runtime directory, so a
    /// sender SIGKILLed and restarted sends again what was not acknowledged.
    pub durable: bool,
    /// Sender: a message unacknowledged this long is sent again (ms).
    pub ack_timeout_ms: u64,
    /// Sender: messages sent and not yet acknowledged at most; the rest wait in the outbox.
    pub window: u32,
    /// Sender: handler failures (negative acknowledgements) a message may have before it is
    /// dead-lettered.
    pub max_attempts: u32,
    /// Sender: the socket alias a dead letter is sent on; none: logged (WARN, hex).
    pub dead_letter: Option<String>,
    /// Sender: most messages in the outbox; a send past it is refused with `Full`.
    pub outbox_messages: usize,
    /// Sender: most payload bytes in the outbox; a send past it is refused with `Full`.
    pub outbox_bytes: usize,
}

/// How long a sender waits for an acknowledgement unless told otherwise.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(2);

impl Default for Reliability {
    fn default() -> Self {
        Reliability {
            durable: false,
            ack_timeout_ms: DEFAULT_ACK_TIMEOUT.as_millis() as u64,
            window: 1000,
            max_attempts: 5,
            dead_letter: None,
            outbox_messages: crate::net::BACKLOG_LIMIT,
            outbox_bytes: crate::net::BACKLOG_BYTES,
        }
    }
}

impl Reliability {
    /// A reliable channel with the defaults.
    pub fn new() -> Self {
        Reliability::default()
    }

    /// A durable one: the sender's outbox survives the process.
    pub fn durable() -> Self {
        Reliability {
            durable: true,
            ..Reliability::default()
        }
    }

    /// How long a sender waits for an acknowledgement.
    pub fn ack_timeout(&self) -> Duration {
        Duration::from_millis(self.ack_timeout_ms)
    }

    /// Refuses settings that cannot work: no time to wait, no room, no attempt.
    pub fn check(&self) -> Result<()> {
        fn bad(field: &'static str, value: String, why: &str) -> Result<()> {
            Err(Error::invalid(field, value, why))
        }
        if self.ack_timeout_ms == 0 {
            return bad("ack_timeout_ms", "0".into(), "must be at least 1 ms");
        }
        if self.window == 0 {
            return bad("window", "0".into(), "must be at least 1 message");
        }
        if self.max_attempts == 0 {
            return bad("max_attempts", "0".into(), "must be at least 1");
        }
        if self.outbox_messages == 0 || self.outbox_bytes == 0 {
            let value = format!(
                "{} messages, {} bytes",
                self.outbox_messages, self.outbox_bytes
            );
            return bad("outbox", value, "must hold at least one message");
        }
        Ok(())
    }
}
