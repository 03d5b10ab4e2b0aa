//! The status line: agents running, restarts, messages per second across the
//! deployment, and the deployment's own status text (`[status]` in the manifest).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axon::manifest::StatusSource;
use axon::{NameServer, Proxy};

/// How long `up` waits for one agent's figures before leaving it out of this second's.
const ASK_TIMEOUT: Duration = Duration::from_millis(200);

/// What the status line shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Supervised agents in state `running`.
    pub running: usize,
    /// Every agent the node lists.
    pub total: usize,
    /// Restarts so far, all agents together.
    pub restarts: u64,
    /// Messages received per second, all agents together (none before a second sample).
    pub rate: Option<f64>,
    /// The `[status]` agent's text, when it has one.
    pub text: Option<String>,
}

/// The deployment as `up` samples it once a second.
#[derive(Default)]
pub struct Fleet {
    /// A proxy to the `[status]` agent, for the process it was opened to.
    proxies: BTreeMap<String, (u32, Proxy)>,
    /// Each agent's messages received at the last sample, with its process.
    received: BTreeMap<String, (u32, u64)>,
    sampled_at: Option<Instant>,
    source: Option<StatusSource>,
    /// Each agent's restarts, from `ps` and from the supervisor's events, whichever is newer.
    restarts: BTreeMap<String, u32>,
    /// The last snapshot, for the final summary.
    pub last: Snapshot,
}

impl Fleet {
    /// A fleet whose status text comes from `source`, if any.
    pub fn new(source: Option<StatusSource>) -> Fleet {
        Fleet {
            source,
            ..Fleet::default()
        }
    }

    /// Asks the node and its agents; `None` when the name server does not answer now.
    pub fn sample(&mut self, ns: &NameServer, now: Instant) -> Option<&Snapshot> {
        // One call: the counters come with `ps` (each agent reports them with its renewals).
        let rows = ns.ps_with_stats().ok()?;
        let mut received = BTreeMap::new();
        for row in rows.iter().filter(|r| r.state == "running") {
            if let (Some(pid), Some(stats)) = (row.pid, &row.stats) {
                received.insert(row.name.clone(), (pid, stats.received));
            }
        }
        let rate = self.rate(&received, now);
        let text = self.text(ns);
        self.received = received;
        self.sampled_at = Some(now);
        for row in &rows {
            self.restarted(&row.name, row.restarts);
        }
        self.last = Snapshot {
            running: rows.iter().filter(|r| r.state == "running").count(),
            total: rows.len(),
            restarts: self.restarts.values().copied().map(u64::from).sum(),
            rate,
            text,
        };
        Some(&self.last)
    }

    /// `agent` was restarted `restarts` times so far (a sample or an event, in any order).
    pub fn restarted(&mut self, agent: &str, restarts: u32) {
        let known = self.restarts.entry(agent.to_owned()).or_default();
        *known = restarts.max(*known);
        self.last.restarts = self.restarts.values().copied().map(u64::from).sum();
    }

    /// Messages per second since the last sample; an agent in a new process counts from 0.
    fn rate(&self, received: &BTreeMap<String, (u32, u64)>, now: Instant) -> Option<f64> {
        let then = self.sampled_at?;
        let seconds = now.saturating_duration_since(then).as_secs_f64().max(1e-3);
        let delta: u64 = received
            .iter()
            .map(|(name, (pid, n))| match self.received.get(name) {
                Some((was_pid, was)) if was_pid == pid => n.saturating_sub(*was),
                _ => *n,
            })
            .sum();
        Some(delta as f64 / seconds)
    }

    /// The `[status]` agent's text, on one line.
    fn text(&mut self, ns: &NameServer) -> Option<String> {
        let source = self.source.clone()?;
        let pid = ns.info(&source.agent).ok()?.pid;
        let proxy = self.proxy(ns, &source.agent, pid)?;
        let value: serde_json::Value = proxy.get_attr(&source.attribute).ok()?;
        let text = match value {
            serde_json::Value::Null => return None,
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        Some(one_line(&text))
    }

    /// A proxy to `name`'s process `pid`, opened once per process.
    fn proxy(&mut self, ns: &NameServer, name: &str, pid: u32) -> Option<&mut Proxy> {
        if self.proxies.get(name).is_none_or(|(p, _)| *p != pid) {
            let mut proxy = ns.proxy(name).ok()?;
            proxy.set_timeout(ASK_TIMEOUT);
            self.proxies.insert(name.to_owned(), (pid, proxy));
        }
        self.proxies.get_mut(name).map(|(_, p)| p)
    }
}

/// `text` with control characters (new lines, escapes an agent may send) made spaces.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The status line, e.g. `up 1m05s | agents 9/9 running | restarts 3 | 1204 msg/s | [trading] ...`.
pub fn line(s: &Snapshot, uptime: Duration) -> String {
    let rate = s
        .rate
        .map_or_else(|| "- msg/s".to_owned(), |r| format!("{r:.0} msg/s"));
    let mut line = format!(
        "up {} | agents {}/{} running | restarts {} | {rate}",
        crate::commands::uptime(uptime.as_millis() as u64),
        s.running,
        s.total,
        s.restarts
    );
    if let Some(text) = &s.text {
        line.push_str(" | ");
        line.push_str(text);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_has_counts_rate_and_the_deployment_text() {
        let s = Snapshot {
            running: 8,
            total: 9,
            restarts: 3,
            rate: Some(1203.6),
            text: Some("[trading] ticks/s 398".into()),
        };
        assert_eq!(
            line(&s, Duration::from_secs(65)),
            "up 1m05s | agents 8/9 running | restarts 3 | 1204 msg/s | [trading] ticks/s 398"
        );
        let first = Snapshot {
            rate: None,
            text: None,
            ..s
        };
        assert!(line(&first, Duration::ZERO).ends_with("| restarts 3 | - msg/s"));
    }

    #[test]
    fn status_text_stays_on_one_line() {
        assert_eq!(one_line("a\nb\x1b[2Jc"), "a b [2Jc");
    }
}
