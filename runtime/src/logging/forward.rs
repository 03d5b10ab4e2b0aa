//! Log forwarding: a tracing layer that publishes every event of an agent
//! process to the logger agent.
//!
//! The layer holds one PUB socket, connected when the agent learns where
//! the logger is (at spawn, or later through `set_logger`). Until then,
//! events are written to stderr. Once connected, an event the logger cannot
//! take (its queue is at the high-water mark) is never lost without trace:
//! it is counted (`Stats::logs_not_forwarded`) and, unless the process
//! writes the log file (which has every event anyway), written to stderr.
//! Forwarding never blocks the agent and never logs about itself.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::LogRecord;

struct Forwarder {
    agent: String,
    socket: Mutex<Option<zmq::Socket>>,
    dropped: AtomicU64,
}

static FORWARDER: OnceLock<Forwarder> = OnceLock::new();

/// Whether events go to a logger (then the logger prints them, not this process).
static CONNECTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether this process forwards its events to a logger agent.
pub fn is_connected() -> bool {
    CONNECTED.load(Ordering::Relaxed)
}

/// A layer forwarding the events of agent `agent` to the logger once one is connected.
pub fn layer(agent: &str) -> ForwardLayer {
    let _ = FORWARDER.set(Forwarder {
        agent: agent.to_owned(),
        socket: Mutex::new(None),
        dropped: AtomicU64::new(0),
    });
    ForwardLayer
}

/// Sends this process's log events to the logger listening at `endpoint` (its SUB socket).
pub fn connect(endpoint: &str) -> crate::error::Result<()> {
    let Some(fwd) = FORWARDER.get() else {
        return Err(crate::error::Error::Config(
            "log forwarding is not installed in this process".into(),
        ));
    };
    crate::net::check_endpoint(endpoint)?;
    let mut socket = crate::net::zmq_context().socket(zmq::PUB)?;
    socket.set_linger(500)?;
    // At the mark a send fails instead of vanishing: the event then goes to stderr.
    crate::net::report_the_mark(&mut socket)?;
    socket.connect(endpoint)?;
    if let Ok(mut slot) = fwd.socket.lock() {
        *slot = Some(socket);
        CONNECTED.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Stops forwarding: closes the socket to the logger (what it holds is flushed within its linger).
pub fn disconnect() {
    if let Some(fwd) = FORWARDER.get() {
        if let Ok(mut slot) = fwd.socket.lock() {
            slot.take();
            CONNECTED.store(false, Ordering::Relaxed);
        }
    }
}

/// Events the logger could not take (its queue was full), written to stderr instead.
pub fn not_forwarded() -> u64 {
    FORWARDER
        .get()
        .map(|f| f.dropped.load(Ordering::Relaxed))
        .unwrap_or(0)
}

/// The tracing layer returned by [`layer`].
pub struct ForwardLayer;

impl<S: Subscriber> Layer<S> for ForwardLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(fwd) = FORWARDER.get() else { return };
        // Not connected: the stderr layer has it.
        if !is_connected() {
            return;
        }
        let record = LogRecord::of(&fwd.agent, event);
        // try_lock: an event raised while sending (inside libzmq) never deadlocks; it falls back.
        let forwarded = match fwd.socket.try_lock() {
            Ok(guard) => guard.as_ref().is_some_and(|socket| send(socket, &record)),
            Err(_) => false,
        };
        if !forwarded {
            fwd.dropped.fetch_add(1, Ordering::Relaxed);
            if super::writes_file() {
                // The log file has it already.
                return;
            }
            // The fallback: stderr is the agent's own log when the logger cannot take it.
            let _ = writeln!(
                std::io::stderr().lock(),
                "{} (not forwarded to the logger)",
                record.line()
            );
        }
    }
}

/// Publishes `record` to the logger without waiting; false when the logger's queue is full.
fn send(socket: &zmq::Socket, record: &LogRecord) -> bool {
    let mut body = Vec::with_capacity(128);
    if ciborium::into_writer(record, &mut body).is_err() {
        return false;
    }
    socket
        .send(record.level.as_bytes(), zmq::DONTWAIT | zmq::SNDMORE)
        .and_then(|()| socket.send(body, zmq::DONTWAIT))
        .is_ok()
}
