//! One log event: what a process records of a tracing event, its JSON line
//! in the log file, and its one human form.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::Event;

/// One log event, as it travels to the logger agent (topic frame = level,
/// payload = CBOR of this) and as a line of the log file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// The agent (process) that logged it: an agent's name, `nameserver`, `up`, ...
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
    /// The process that logged it (0: not known, e.g. from an older logger).
    #[serde(default)]
    pub pid: u32,
}

impl LogRecord {
    /// The one human form, also what a terminal shows:
    /// `2026-12-07T22:41:03.127Z  WARN alice[4242]: message k=v ...` (time in UTC).
    pub fn line(&self) -> String {
        let (level, agent, message) = (&self.level, &self.agent, &self.message);
        let time = crate::clock::rfc3339(self.time_ms);
        let mut line = format!("{time} {level:>5} {agent}");
        if self.pid != 0 {
            let _ = write!(line, "[{}]", self.pid);
        }
        let _ = write!(line, ": {message}");
        for (k, v) in &self.fields {
            let _ = write!(line, " {k}={v}");
        }
        line
    }

    /// The record as one line of the log file (JSON, no newline):
    /// `{"time":"2026-12-07T22:41:03.127Z","level":"WARN","agent":"alice","pid":4242,"target":"..","message":"..","fields":{..}}`.
    pub fn json(&self) -> String {
        let line = JsonLine {
            time: crate::clock::rfc3339(self.time_ms),
            level: &self.level,
            agent: &self.agent,
            pid: self.pid,
            target: &self.target,
            message: &self.message,
            fields: &self.fields,
        };
        // Strings and a map of strings always serialize.
        serde_json::to_string(&line).unwrap_or_default()
    }

    /// Reads a line of the log file back; `None` if it is not one.
    pub fn from_json(line: &str) -> Option<LogRecord> {
        let l: OwnedLine = serde_json::from_str(line).ok()?;
        Some(LogRecord {
            time_ms: crate::clock::parse_rfc3339(&l.time)?,
            agent: l.agent,
            level: l.level,
            target: l.target,
            message: l.message,
            fields: l.fields,
            pid: l.pid,
        })
    }

    /// The record of tracing `event`, logged now by this process as `agent`.
    pub(crate) fn of(agent: &str, event: &Event<'_>) -> LogRecord {
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
            pid: std::process::id(),
        }
    }
}

/// A line of the log file, as written.
#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    level: &'a str,
    agent: &'a str,
    pid: u32,
    target: &'a str,
    message: &'a str,
    fields: &'a BTreeMap<String, String>,
}

/// A line of the log file, as read.
#[derive(Deserialize)]
struct OwnedLine {
    time: String,
    level: String,
    agent: String,
    #[serde(default)]
    pid: u32,
    #[serde(default)]
    target: String,
    message: String,
    #[serde(default)]
    fields: BTreeMap<String, String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> LogRecord {
        LogRecord {
            agent: "alice".into(),
            level: "WARN".into(),
            target: "t".into(),
            message: "hello \"there\"".into(),
            fields: BTreeMap::from([("k".to_string(), "v".to_string())]),
            time_ms: 1_796_683_263_127,
            pid: 4242,
        }
    }

    #[test]
    fn records_read_as_one_line_with_an_rfc3339_time() {
        assert_eq!(
            alice().line(),
            "2026-12-07T22:41:03.127Z  WARN alice[4242]: hello \"there\" k=v"
        );
        let unknown_pid = LogRecord { pid: 0, ..alice() };
        assert_eq!(
            unknown_pid.line(),
            "2026-12-07T22:41:03.127Z  WARN alice: hello \"there\" k=v"
        );
    }

    #[test]
    fn records_round_trip_through_their_json_line() {
        let json = alice().json();
        assert_eq!(
            json,
            r#"{"time":"2026-12-07T22:41:03.127Z","level":"WARN","agent":"alice","pid":4242,"target":"t","message":"hello \"there\"","fields":{"k":"v"}}"#
        );
        assert_eq!(LogRecord::from_json(&json), Some(alice()));
        assert_eq!(LogRecord::from_json("thread 'main' panicked"), None);
        assert_eq!(
            LogRecord::from_json(r#"{"time":"noon","level":"WARN","agent":"a","message":"m"}"#),
            None
        );
    }
}
