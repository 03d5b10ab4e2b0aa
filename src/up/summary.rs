//! The start summary (what runs, where, how to look at it) and the final
//! summary (how it ended) of `axon up`.

use std::path::Path;
use std::time::Duration;

use axon::lifecycle::StopReport;

use axon_runtime::logging::LOG_FILE;

/// What the start summary tells.
pub struct Started<'a> {
    /// Agents this `up` started.
    pub started: usize,
    /// Agents a node taken over already ran.
    pub adopted: usize,
    /// How long starting took.
    pub took: Duration,
    /// The name server's control endpoint.
    pub endpoint: &'a str,
    /// The node's runtime directory.
    pub dir: &'a Path,
    /// Where Prometheus metrics are served, if anywhere.
    pub metrics: Option<&'a str>,
}

/// The start summary, a few lines. The CLI finds the node on this machine by
/// itself; elsewhere, `AXON_NAMESERVER` and `AXON_KEY_FILE` take the `node` and `key` shown.
pub fn started(s: &Started<'_>) -> String {
    let adopted = match s.adopted {
        0 => String::new(),
        n => format!(" ({n} more taken over from the node's last supervisor)"),
    };
    let mut lines = vec![
        format!(
            "axon: {} started in {:.1}s{adopted}",
            counted(s.started as u64, "agent"),
            s.took.as_secs_f64()
        ),
        format!("  node      {}", s.endpoint),
        format!("  key       {}", s.dir.join("key").display()),
        format!("  logs      {}", s.dir.join(LOG_FILE).display()),
    ];
    if let Some(addr) = s.metrics {
        lines.push(format!("  metrics   http://{addr}/metrics"));
    }
    lines.push("  look      axon top | axon ps | axon logs -f   (Ctrl-C stops everything)".into());
    lines.join("\n")
}

/// Why `up` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// SIGINT or SIGTERM, by name.
    Signal(&'static str),
    /// The supervisor gave up (restart intensity exceeded) and stopped the deployment.
    GaveUp,
    /// The supervisor died more often than the heart restarts it.
    HeartGaveUp,
    /// The name server ended by itself, with this status.
    Ended(String),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Signal(name) => f.write_str(name),
            Reason::GaveUp => f.write_str("the supervisor gave up"),
            Reason::HeartGaveUp => f.write_str("the supervisor kept dying"),
            Reason::Ended(status) => write!(f, "the name server ended ({status})"),
        }
    }
}

/// The final summary: how long it ran, why it ended, how the agents stopped, restarts.
pub fn finished(
    reason: &Reason,
    ran: Duration,
    report: Option<StopReport>,
    restarts: u64,
) -> String {
    let stopped = match report {
        Some(r) => format!(
            "{} stopped gracefully, {} killed",
            counted(r.graceful.into(), "agent"),
            r.killed
        ),
        None => "agents left to end by themselves (no report from the supervisor)".into(),
    };
    let restarts = counted(restarts, "restart");
    format!(
        "axon: stopped after {} ({reason}): {stopped}, {restarts}",
        crate::commands::uptime(ran.as_millis() as u64)
    )
}

/// `1 agent`, `2 agents`.
fn counted(n: u64, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        n => format!("{n} {what}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_summary_counts_what_happened() {
        let report = StopReport {
            graceful: 3,
            killed: 1,
            ..StopReport::default()
        };
        let text = finished(
            &Reason::Signal("SIGTERM"),
            Duration::from_secs(75),
            Some(report),
            2,
        );
        assert_eq!(
            text,
            "axon: stopped after 1m15s (SIGTERM): 3 agents stopped gracefully, 1 killed, 2 restarts"
        );
    }

    #[test]
    fn the_start_summary_says_where_things_are() {
        let s = Started {
            started: 2,
            adopted: 0,
            took: Duration::from_millis(1250),
            endpoint: "ipc:///run/x/nameserver.ctl",
            dir: Path::new("/run/x"),
            metrics: Some("127.0.0.1:9100"),
        };
        let text = started(&s);
        assert!(
            text.starts_with("axon: 2 agents started in 1.2s\n"),
            "{text}"
        );
        assert!(text.contains("  logs      /run/x/axon.log"), "{text}");
        assert!(text.contains("  key       /run/x/key"), "{text}");
        assert!(text.contains("http://127.0.0.1:9100/metrics"), "{text}");
        assert!(text.contains("axon top | axon ps | axon logs -f"), "{text}");
    }
}
