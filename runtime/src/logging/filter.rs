//! Which events: `AXON_LOG` directives per process, and the selection
//! `axon logs` applies to records (agent, minimum level, since when).

use std::time::Duration;

use super::LogRecord;

/// The `AXON_LOG` filter for agent `agent`: entries `@name=level` set that agent's
/// default level; every other entry is a tracing `EnvFilter` directive; without
/// a default level, `fallback` is the level of every target not named.
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
        // Only per-target directives: every other target still gets the fallback level.
        None if rest.iter().all(|e| e.contains('=')) => rest.push(fallback.to_owned()),
        None => {}
    }
    rest.join(",")
}

/// How severe a level is: 1 for `ERROR` ... 5 for `TRACE`, 6 for anything else.
pub fn severity(level: &str) -> u8 {
    const LEVELS: [&str; 5] = ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
    LEVELS
        .iter()
        .position(|l| l.eq_ignore_ascii_case(level))
        .map_or(6, |i| i as u8 + 1)
}

/// A minimum level as `axon logs --level` takes it: `error`, `warn`
/// (or `warning`), `info`, `debug` or `trace`, in any case.
pub fn parse_level(text: &str) -> Result<tracing::Level, String> {
    match text.to_ascii_lowercase().as_str() {
        "error" => Ok(tracing::Level::ERROR),
        "warn" | "warning" => Ok(tracing::Level::WARN),
        "info" => Ok(tracing::Level::INFO),
        "debug" => Ok(tracing::Level::DEBUG),
        "trace" => Ok(tracing::Level::TRACE),
        _ => Err(format!(
            "{text:?} is not a level: expected error, warn, info, debug or trace"
        )),
    }
}

/// A start time as `axon logs --since` takes it, in ms since the epoch: a
/// duration back from `now_ms` (`30s`, `5m`, `2h`, `1d`, `500ms`, `1h30m`)
/// or an RFC 3339 time (`2026-12-07T22:41:03Z`, `2026-12-07T23:41:03.127+01:00`).
pub fn parse_since(text: &str, now_ms: u64) -> Result<u64, String> {
    if let Some(at) = crate::clock::parse_rfc3339(text) {
        return Ok(at);
    }
    let back = parse_ago(text).ok_or_else(|| {
        format!(
            "{text:?} is neither a duration (30s, 5m, 2h, 1d, 1h30m) nor an RFC 3339 time \
             (2026-12-07T22:41:03Z)"
        )
    })?;
    Ok(now_ms.saturating_sub(back.as_millis() as u64))
}

/// `1h30m`, `5m`, `500ms`, `2d`: whole numbers, each with a unit.
fn parse_ago(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0u64;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: u64 = rest[..digits].parse().ok()?;
        let after = &rest[digits..];
        let unit = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let ms_per = match &after[..unit] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms_per)?)?;
        rest = &after[unit..];
    }
    Some(Duration::from_millis(total))
}

/// The records `axon logs` prints: of one agent, at or above a level, since a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Select {
    /// Only this agent's (process's) records.
    pub agent: Option<String>,
    /// Only records at least this severe.
    pub level: Option<tracing::Level>,
    /// Only records logged at or after this time (ms since the epoch).
    pub since_ms: Option<u64>,
}

impl Select {
    /// Whether `record` is selected.
    pub fn matches(&self, record: &LogRecord) -> bool {
        let level = self
            .level
            .is_none_or(|l| severity(&record.level) <= severity(l.as_str()));
        let agent = self.agent.as_ref().is_none_or(|a| *a == record.agent);
        let since = self.since_ms.is_none_or(|t| record.time_ms >= t);
        level && agent && since
    }
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
        assert_eq!(
            filter_for("bob", "axon_runtime=debug", "warn"),
            "axon_runtime=debug,warn"
        );
    }

    #[test]
    fn since_takes_durations_and_rfc3339_times() {
        let now = 10_000_000;
        assert_eq!(parse_since("30s", now), Ok(now - 30_000));
        assert_eq!(parse_since("5m", now), Ok(now - 300_000));
        assert_eq!(parse_since("2h", now), Ok(now - 7_200_000));
        assert_eq!(parse_since("1h30m", now), Ok(now - 5_400_000));
        assert_eq!(parse_since("500ms", now), Ok(now - 500));
        assert_eq!(parse_since("9d", now), Ok(0));
        assert_eq!(parse_since("1970-01-01T00:00:01.5Z", now), Ok(1_500));
        for bad in ["", "5", "5 minutes", "m", "-5m", "5x", "yesterday"] {
            let e = parse_since(bad, now).unwrap_err();
            assert!(e.contains("neither a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn levels_parse_in_any_case_and_select_at_least_as_severe() {
        assert_eq!(parse_level("WARNING"), Ok(tracing::Level::WARN));
        assert!(parse_level("loud")
            .unwrap_err()
            .contains("expected error, warn"));
        let record = |level: &str, agent: &str, time_ms| LogRecord {
            agent: agent.into(),
            level: level.into(),
            target: String::new(),
            message: String::new(),
            fields: Default::default(),
            time_ms,
            pid: 1,
        };
        let select = Select {
            agent: Some("a".into()),
            level: Some(tracing::Level::WARN),
            since_ms: Some(100),
        };
        assert!(select.matches(&record("ERROR", "a", 100)));
        assert!(select.matches(&record("WARN", "a", 200)));
        assert!(!select.matches(&record("INFO", "a", 200)));
        assert!(!select.matches(&record("WARN", "b", 200)));
        assert!(!select.matches(&record("WARN", "a", 99)));
        assert!(Select::default().matches(&record("TRACE", "z", 0)));
    }
}
