//! What the commands do once they know where to do it: shared by the
//! commands on one node (`cli`) and through a cluster's registry (`node`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axon::launch::Signal;
use axon::logging::{LogRecord, Select};
use axon::{NameServer, Value};

pub fn nameserver(bind: Option<String>, kind_hosts: Vec<(String, PathBuf)>) -> Result<()> {
    // The name server reads its settings from the environment, like a spawned one.
    if let Some(bind) = bind {
        std::env::set_var("AXON_NS_BIND", bind);
    }
    let mut hosts = std::collections::BTreeMap::new();
    for (kind, program) in kind_hosts {
        let program = std::env::current_dir()?.join(program);
        let host = axon::launch::HostCommand {
            program,
            args: Vec::new(),
        };
        hosts.insert(kind, host);
    }
    let json = serde_json::to_string(&hosts).context("--kind-host programs must be UTF-8 paths")?;
    std::env::set_var(axon::KIND_HOSTS_ENV, json);
    axon_supervisor::run_nameserver_process().context("running the name server")
}

pub fn uptime(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{}.{}s", s, (ms % 1000) / 100),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s / 60) % 60),
    }
}

/// `call`'s ARGS: any JSON (an object for control methods, anything for a
/// script function), or nothing.
pub fn call_args(args: Option<&str>) -> Result<serde_json::Value> {
    Ok(match args {
        Some(text) => serde_json::from_str(text).context("ARGS must be JSON")?,
        None => serde_json::Value::Null,
    })
}

/// `script`'s call: `load_script {source}` of FILE, or `set_method {name, source}` with `--name`.
pub fn script_args(file: &Path, name: Option<&str>) -> Result<(&'static str, serde_json::Value)> {
    let source = std::fs::read_to_string(file)
        .with_context(|| format!("reading the script {}", file.display()))?;
    Ok(match name {
        Some(name) => (
            "set_method",
            serde_json::json!({ "name": name, "source": source }),
        ),
        None => ("load_script", serde_json::json!({ "source": source })),
    })
}

/// Calls `method` through `proxy` and prints the JSON result (a refusal stays in the error chain).
pub fn call_on(
    mut proxy: axon::Proxy,
    method: &str,
    args: serde_json::Value,
    timeout: Duration,
) -> Result<()> {
    proxy.set_timeout(timeout);
    let result: Value = proxy.call(method, args)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

/// Sends `signal` to `agent` through the name server `node` supervising it.
pub fn kill(node: &NameServer, agent: &str, signal: Signal) -> Result<()> {
    let pid = node
        .signal(agent, signal)
        .with_context(|| format!("signalling {agent}"))?;
    println!("SIG{signal} sent to {agent} (pid {pid})");
    Ok(())
}

/// How often `logs -f` asks the logger for new events.
pub const FOLLOW_PERIOD: Duration = Duration::from_millis(300);

/// The last `limit` events a logger holds (of `agent` only, if given), oldest first.
pub fn history(
    logger: &mut axon::Proxy,
    agent: Option<&str>,
    limit: usize,
) -> Result<Vec<LogRecord>> {
    #[derive(serde::Serialize)]
    struct Query<'a> {
        agent: Option<&'a str>,
        limit: Option<usize>,
    }
    let query = Query {
        agent,
        limit: Some(limit),
    };
    Ok(logger.execute("history", &query)?)
}

/// Prints the last `lines` events `select` picks of those `fetch(limit)` returns (oldest first),
/// then, with `follow`, asks again every [`FOLLOW_PERIOD`] and prints what is new, until interrupted.
pub fn print_logs(
    mut fetch: impl FnMut(usize) -> Result<Vec<LogRecord>>,
    select: &Select,
    follow: bool,
    lines: usize,
) -> Result<()> {
    // A level or a time picks among all the logger holds, not only its last `lines`.
    let filtering = select.level.is_some() || select.since_ms.is_some();
    let mut fetch = |limit: usize| -> Result<Vec<LogRecord>> {
        let mut records = fetch(if filtering { usize::MAX } else { limit })?;
        records.retain(|r| select.matches(r));
        Ok(records.split_off(records.len().saturating_sub(limit)))
    };
    let mut seen: Option<(u64, usize)> = None;
    let mut print_new = |records: Vec<LogRecord>| {
        // Records arrive oldest first; skip those printed before (same time, same position).
        let start = match seen {
            None => 0,
            Some((t, n)) => {
                let at = records.partition_point(|r| r.time_ms < t);
                let same = records[at..].iter().take_while(|r| r.time_ms == t).count();
                at + same.min(n)
            }
        };
        for r in &records[start..] {
            println!("{}", r.line());
        }
        if let Some(last) = records.last() {
            let n = records
                .iter()
                .rev()
                .take_while(|r| r.time_ms == last.time_ms)
                .count();
            seen = Some((last.time_ms, n));
        }
    };
    print_new(fetch(lines)?);
    if !follow {
        return Ok(());
    }
    let mut next = Instant::now();
    loop {
        next += FOLLOW_PERIOD;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        print_new(fetch(1000)?);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptimes_read_naturally() {
        assert_eq!(uptime(1_500), "1.5s");
        assert_eq!(uptime(125_000), "2m05s");
        assert_eq!(uptime(7_300_000), "2h01m");
    }
}
