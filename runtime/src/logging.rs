//! Log forwarding: a tracing layer that publishes every event of an agent
//! process to the logger agent, plus the wire form of a log record.
//!
//! The layer holds one PUB socket, connected when the agent learns where
//! the logger is (at spawn, or later through `set_logger`). Until then,
//! events are written to stderr. Once connected, an event the logger cannot
//! take (its queue is at the high-water mark) is never lost without trace:
//! it is written to stderr instead and counted (`Stats::logs_not_forwarded`).
//! Forwarding never blocks the agent and never logs about itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// One log event as it travels to the logger: topic frame = level, payload = CBOR of this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The agent (process) that logged it.
    pub agent: String,
    /// `ERROR`, `WARN`, `INFO`, `DEBUG` or `TRACE`.
    pub level: String,
    /// The module that logged it.
    pub target: String,
    /// The event's message.
    pub message: String,
    /// The event's other fields, formatted.
    pub fields: BTreeMap<String, String>,
    /// When it was logged, ms since the Unix epoch.
    pub time_ms: u64,
}

impl LogRecord {
    /// A readable one-line form: `HH:MM:SS.mmm LEVEL agent: message k=v ...` (UTC).
    pub fn line(&self) -> String {
        let (secs, ms) = (self.time_ms / 1000, self.time_ms % 1000);
        let (h, m, s) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        let (level, agent, message) = (&self.level, &self.agent, &self.message);
        let mut line = format!("{h:02}:{m:02}:{s:02}.{ms:03} {level:>5} {agent}: {message}");
        for (k, v) in &self.fields {
            let _ = write!(line, " {k}={v}");
        }
        line
    }
}

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
        let record = record(&fwd.agent, event);
        // try_lock: an event raised while sending (inside libzmq) never deadlocks; it falls back.
        let forwarded = match fwd.socket.try_lock() {
            Ok(guard) => guard.as_ref().is_some_and(|socket| send(socket, &record)),
            Err(_) => false,
        };
        if !forwarded {
            fwd.dropped.fetch_add(1, Ordering::Relaxed);
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

fn record(agent: &str, event: &Event<'_>) -> LogRecord {
    let mut fields = Fields::default();
    event.record(&mut fields);
    let meta = event.metadata();
    LogRecord {
        agent: agent.to_owned(),
        level: meta.level().to_string(),
        target: meta.target().to_owned(),
        message: fields.message,
        fields: fields.others,
        time_ms: crate::clock::now_ms(),
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    others: BTreeMap<String, String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            name => {
                self.others.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => {
                self.others.insert(name.to_owned(), format!("{value:?}"));
            }
        }
    }
}

/// The `AXON_LOG` filter for agent `agent`: entries `@name=level` set that agent's
/// default level; every other entry is a tracing `EnvFilter` directive.
pub fn filter_for(agent: &str, spec: &str, fallback: &str) -> String {
    let mut level = None;
    let mut rest = Vec::new();
    for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        match entry.strip_prefix('@').and_then(|e| e.split_once('=')) {
            Some((name, l)) if name == agent => level = Some(l.to_owned()),
            Some(_) => {}
            None => rest.push(entry.to_owned()),
        }
    }
    match level {
        // The agent's own level replaces the bare default level; per-target directives stay.
        Some(level) => {
            rest.retain(|e| e.contains('='));
            rest.push(level);
        }
        None if rest.is_empty() => rest.push(fallback.to_owned()),
        None => {}
    }
    rest.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_agent_levels_come_from_at_entries() {
        assert_eq!(filter_for("alice", "", "info"), "info");
        assert_eq!(
            filter_for("alice", "warn,tmq=error,@alice=debug,@bob=trace", "info"),
            "tmq=error,debug"
        );
        assert_eq!(filter_for("carol", "warn,@alice=debug", "info"), "warn");
        assert_eq!(filter_for("bob", "@bob=trace", "info"), "trace");
    }

    #[test]
    fn records_read_as_one_line() {
        let r = LogRecord {
            agent: "alice".into(),
            level: "WARN".into(),
            target: "t".into(),
            message: "hello".into(),
            fields: BTreeMap::from([("k".to_string(), "v".to_string())]),
            time_ms: 7,
        };
        assert_eq!(r.line(), "00:00:00.007  WARN alice: hello k=v");
    }
}
