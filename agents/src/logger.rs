//! `logger`: collects the log events of every agent (osBrain's `Logger`).

use std::collections::VecDeque;

use axon_runtime::logging::LogRecord;
use axon_runtime::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, SocketKind};
use serde::Deserialize;

/// Records kept unless the `capacity` attribute says otherwise.
const DEFAULT_CAPACITY: usize = 10_000;

/// Binds a SUB socket `logs` that every agent's log events reach, prints
/// them as readable lines on stderr (unless its node logs only to its file,
/// as under `axon up`) and keeps the latest in a history that
/// the `history` handler answers (`execute("history", {agent?, level?, limit?})`).
#[derive(Debug)]
pub struct Logger {
    history: VecDeque<LogRecord>,
    capacity: usize,
}

/// What `history` is asked for.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    agent: Option<String>,
    level: Option<String>,
    limit: Option<usize>,
}

impl Agent for Logger {
    const KIND: &'static str = "logger";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let capacity = match spec.attributes.get("capacity") {
            Some(v) => v.deserialized::<usize>()?,
            None => DEFAULT_CAPACITY,
        };
        Ok(Logger {
            history: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
        })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("log", Logger::log);
        h.on("history", Logger::query);
    }

    /// Binds after registration, so the name server learns the address and tells every agent.
    fn before_loop(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        ctx.bind_handler(SocketKind::Sub, "logs", "log")?;
        ctx.subscribe("logs", b"", None)?;
        Ok(())
    }
}

impl Logger {
    fn log(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let record: LogRecord = msg.decode()?;
        // A detached node's stderr is a file beside the log file, which has this record already.
        if !axon_runtime::logging::detached() {
            eprintln!("{}", record.line());
        }
        remember(&mut self.history, self.capacity, record);
        Ok(())
    }

    fn query(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<Vec<LogRecord>> {
        let q: Query = msg.decode::<Option<Query>>()?.unwrap_or_default();
        let matching = self.history.iter().filter(|r| {
            q.agent.as_ref().is_none_or(|a| *a == r.agent)
                && q.level
                    .as_ref()
                    .is_none_or(|l| l.eq_ignore_ascii_case(&r.level))
        });
        let mut out: Vec<LogRecord> = matching.cloned().collect();
        if let Some(limit) = q.limit {
            out.drain(..out.len().saturating_sub(limit));
        }
        Ok(out)
    }
}

/// Keeps `record` in a history of at most `capacity` records, oldest out first (none at capacity 0).
fn remember(history: &mut VecDeque<LogRecord>, capacity: usize, record: LogRecord) {
    if capacity == 0 {
        return;
    }
    while history.len() >= capacity {
        history.pop_front();
    }
    history.push_back(record);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u64) -> LogRecord {
        LogRecord {
            agent: "a".into(),
            level: "INFO".into(),
            target: "t".into(),
            message: n.to_string(),
            fields: Default::default(),
            time_ms: n,
            pid: 1,
        }
    }

    #[test]
    fn the_history_keeps_the_newest_capacity_records_and_none_at_zero() {
        let mut history = VecDeque::new();
        for n in 0..5 {
            remember(&mut history, 3, record(n));
        }
        let kept: Vec<u64> = history.iter().map(|r| r.time_ms).collect();
        assert_eq!(kept, [2, 3, 4]);
        let mut none = VecDeque::new();
        for n in 0..5 {
            remember(&mut none, 0, record(n));
        }
        assert!(none.is_empty());
    }
}
