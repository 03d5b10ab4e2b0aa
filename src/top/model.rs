//! What `axon top` shows, computed from the rounds the poller brings:
//! one [`Row`] per agent with its rates, the deployment's totals, the
//! history of its message rate (the sparkline), and restarts seen lately.
//!
//! Plain data, no terminal and no sockets: unit-tested below.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use axon::{AgentStatus, Stats};

/// How far back "restarts in the last minute" looks.
pub const RESTART_WINDOW: Duration = Duration::from_secs(60);

/// How many message-rate samples the sparkline keeps (one per round).
const HISTORY: usize = 512;

/// One agent as one round saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The node it runs on.
    pub node: String,
    /// Its `ps` line.
    pub status: AgentStatus,
    /// Its own counters; `None` when it has no process or did not answer in time.
    pub stats: Option<Stats>,
}

/// One round of the poller.
#[derive(Debug, Clone)]
pub struct Sample {
    /// When the round ended.
    pub at: Instant,
    /// Every agent, in `ps` order (node by node).
    pub agents: Vec<Seen>,
    /// Nodes whose name server did not answer, with why.
    pub unreachable: Vec<String>,
}

/// One agent's line on the screen.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its node.
    pub node: String,
    /// Its process, when it has one.
    pub pid: Option<u32>,
    /// Its state (`running`, `restarting`, ...).
    pub state: String,
    /// How often it was restarted.
    pub restarts: u32,
    /// Time since its process started, when it has one.
    pub uptime_ms: Option<u64>,
    /// CPU use in percent of one core.
    pub cpu: Option<f32>,
    /// Resident memory in bytes.
    pub rss: Option<u64>,
    /// Messages received per second (handed to handlers).
    pub msgs_in: Option<f64>,
    /// Messages sent per second.
    pub msgs_out: Option<f64>,
    /// Errors per second ([`errors`]).
    pub errors: Option<f64>,
    /// Messages waiting in its sockets' send backlogs now.
    pub backlog: Option<u64>,
    /// How its last process ended.
    pub last_exit: Option<String>,
}

/// The deployment's totals, for the header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    /// Agents in state `running` (or `registered` and answering).
    pub running: usize,
    /// Every agent.
    pub total: usize,
    /// Messages received per second over every agent.
    pub msgs_per_s: f64,
    /// Restarts seen within [`RESTART_WINDOW`].
    pub restarts_last_minute: u64,
}

/// The counters a rate is computed from, with the process and time they were read at.
#[derive(Debug, Clone, Copy)]
struct Reading {
    pid: u32,
    at: Instant,
    received: u64,
    sent: u64,
    errors: u64,
}

/// Everything the screens show, kept up to date round by round.
#[derive(Debug, Default)]
pub struct Model {
    rows: Vec<Row>,
    totals: Totals,
    /// The last counters of each agent that answered.
    last: BTreeMap<String, Reading>,
    /// The last `stats` answer of each agent (its sockets, for the detail view).
    stats: BTreeMap<String, Stats>,
    /// Restart counts of the last round, by agent.
    restarts: BTreeMap<String, u32>,
    /// Restarts seen per round, within the window.
    restart_events: VecDeque<(Instant, u64)>,
    /// The deployment's message rate, one value per round, oldest first.
    history: VecDeque<u64>,
    /// Nodes that did not answer the last round.
    unreachable: Vec<String>,
    /// Whether any round came in yet.
    started: bool,
}

/// What counts as an error in the ERR/s column: handler, decode, malformed,
/// oversized, unhandled, failed control requests, refused requests and failed scripts.
pub fn errors(s: &Stats) -> u64 {
    s.handler_errors
        + s.decode_errors
        + s.malformed
        + s.oversized
        + s.unhandled
        + s.control_errors
        + s.refused
        + s.script_errors
}

impl Model {
    /// Takes in one round.
    pub fn update(&mut self, sample: Sample) {
        let at = sample.at;
        let rows: Vec<Row> = sample.agents.iter().map(|s| self.row(s, at)).collect();
        self.forget_gone(&sample.agents);
        let restarted = self.count_restarts(&sample.agents);
        self.restart_events.push_back((at, restarted));
        while let Some((t, _)) = self.restart_events.front() {
            match at.saturating_duration_since(*t) > RESTART_WINDOW {
                true => self.restart_events.pop_front(),
                false => break,
            };
        }
        let msgs_per_s: f64 = rows.iter().filter_map(|r| r.msgs_in).sum();
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(msgs_per_s.round() as u64);
        self.totals = Totals {
            running: rows.iter().filter(|r| is_up(&r.state)).count(),
            total: rows.len(),
            msgs_per_s,
            restarts_last_minute: self.restart_events.iter().map(|(_, n)| n).sum(),
        };
        self.rows = rows;
        self.unreachable = sample.unreachable;
        self.started = true;
    }

    /// One agent's row; records its counters for the next round's rates.
    fn row(&mut self, seen: &Seen, at: Instant) -> Row {
        let s = &seen.status;
        let reading = seen.stats.as_ref().zip(s.pid).map(|(st, pid)| Reading {
            pid,
            at,
            received: st.received,
            sent: st.sent,
            errors: errors(st),
        });
        // Over the same process only: a new one counts from zero again.
        let before = self.last.get(&s.name).filter(|r| Some(r.pid) == s.pid);
        let rates = reading
            .zip(before.copied())
            .and_then(|(now, then)| rates(then, now));
        if let Some(now) = reading {
            self.last.insert(s.name.clone(), now);
        }
        if let Some(stats) = &seen.stats {
            self.stats.insert(s.name.clone(), stats.clone());
        }
        let backlog = seen
            .stats
            .as_ref()
            .map(|st| st.sockets.values().map(|k| k.backlog).sum());
        Row {
            name: s.name.clone(),
            kind: s.kind.clone(),
            node: seen.node.clone(),
            pid: s.pid,
            state: s.state.clone(),
            restarts: s.restarts,
            uptime_ms: s.pid.map(|_| s.uptime_ms),
            cpu: s.cpu,
            rss: s.rss,
            msgs_in: rates.map(|r| r.0),
            msgs_out: rates.map(|r| r.1),
            errors: rates.map(|r| r.2),
            backlog,
            last_exit: s.last_exit.clone(),
        }
    }

    /// Forgets the counters of agents no longer listed.
    fn forget_gone(&mut self, agents: &[Seen]) {
        let listed = |name: &String| agents.iter().any(|a| a.status.name == *name);
        self.last.retain(|name, _| listed(name));
        self.stats.retain(|name, _| listed(name));
    }

    /// Restarts since the last round (an agent seen for the first time brings none).
    fn count_restarts(&mut self, agents: &[Seen]) -> u64 {
        let first = !self.started;
        let mut seen = 0;
        let now: BTreeMap<String, u32> = agents
            .iter()
            .map(|a| (a.status.name.clone(), a.status.restarts))
            .collect();
        for (name, n) in &now {
            if let Some(before) = self.restarts.get(name).filter(|_| !first) {
                seen += u64::from(n.saturating_sub(*before));
            }
        }
        self.restarts = now;
        seen
    }

    /// Every agent's row, in `ps` order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The row of `name`.
    pub fn row_of(&self, name: &str) -> Option<&Row> {
        self.rows.iter().find(|r| r.name == name)
    }

    /// The last counters `name` answered.
    pub fn stats_of(&self, name: &str) -> Option<&Stats> {
        self.stats.get(name)
    }

    /// The deployment's totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The deployment's message rate per round, oldest first.
    pub fn history(&self) -> impl Iterator<Item = u64> + '_ {
        self.history.iter().copied()
    }

    /// Nodes whose name server did not answer the last round.
    pub fn unreachable(&self) -> &[String] {
        &self.unreachable
    }

    /// Whether a round came in yet.
    pub fn started(&self) -> bool {
        self.started
    }
}

/// Whether an agent in `state` counts as up in the header.
fn is_up(state: &str) -> bool {
    matches!(state, "running" | "registered")
}

/// Messages in, out and errors per second between two readings of one process.
fn rates(then: Reading, now: Reading) -> Option<(f64, f64, f64)> {
    let dt = now.at.checked_duration_since(then.at)?.as_secs_f64();
    if dt <= 0.0 {
        return None;
    }
    let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / dt;
    Some((
        per_s(then.received, now.received),
        per_s(then.sent, now.sent),
        per_s(then.errors, now.errors),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, pid: u32, restarts: u32) -> AgentStatus {
        AgentStatus {
            name: name.into(),
            kind: "echo".into(),
            pid: Some(pid),
            state: "running".into(),
            restart: "permanent".into(),
            restarts,
            uptime_ms: 1_000,
            cpu: Some(1.0),
            rss: Some(1 << 20),
            last_exit: None,
            group: Vec::new(),
            stats: None,
        }
    }

    fn seen(name: &str, pid: u32, restarts: u32, received: u64) -> Seen {
        let stats = Stats {
            received,
            sent: received * 2,
            handler_errors: received / 10,
            ..Stats::default()
        };
        Seen {
            node: "n1".into(),
            status: status(name, pid, restarts),
            stats: Some(stats),
        }
    }

    fn round(at: Instant, agents: Vec<Seen>) -> Sample {
        Sample {
            at,
            agents,
            unreachable: Vec::new(),
        }
    }

    #[test]
    fn rates_come_from_two_readings_of_one_process() {
        let t0 = Instant::now();
        let mut m = Model::default();
        m.update(round(t0, vec![seen("a", 1, 0, 100)]));
        assert_eq!(m.rows()[0].msgs_in, None, "one reading has no rate");
        m.update(round(
            t0 + Duration::from_secs(2),
            vec![seen("a", 1, 0, 300)],
        ));
        let r = &m.rows()[0];
        assert_eq!(
            (r.msgs_in, r.msgs_out, r.errors),
            (Some(100.0), Some(200.0), Some(10.0))
        );
        assert_eq!(m.totals().msgs_per_s, 100.0);
        // A new process counts from zero: no rate until it is read twice.
        m.update(round(t0 + Duration::from_secs(3), vec![seen("a", 2, 1, 5)]));
        assert_eq!(m.rows()[0].msgs_in, None);
        assert_eq!(m.history().collect::<Vec<_>>(), [0, 100, 0]);
    }

    #[test]
    fn restarts_count_within_the_last_minute_only() {
        let t0 = Instant::now();
        let mut m = Model::default();
        // Restarts before the first round happened at an unknown time: not counted.
        m.update(round(t0, vec![seen("a", 1, 4, 0), seen("b", 5, 0, 0)]));
        assert_eq!(m.totals().restarts_last_minute, 0);
        let later = t0 + Duration::from_secs(10);
        m.update(round(later, vec![seen("a", 2, 5, 0), seen("b", 6, 2, 0)]));
        assert_eq!(m.totals().restarts_last_minute, 3);
        let much_later = later + RESTART_WINDOW + Duration::from_secs(1);
        m.update(round(
            much_later,
            vec![seen("a", 2, 5, 0), seen("b", 6, 2, 0)],
        ));
        assert_eq!(m.totals().restarts_last_minute, 0);
        assert_eq!((m.totals().running, m.totals().total), (2, 2));
    }

    #[test]
    fn an_agent_that_goes_is_forgotten_and_one_that_does_not_answer_shows_no_rate() {
        let t0 = Instant::now();
        let mut m = Model::default();
        m.update(round(t0, vec![seen("a", 1, 0, 1), seen("b", 2, 0, 1)]));
        let mut silent = seen("a", 1, 0, 0);
        silent.stats = None;
        m.update(round(t0 + Duration::from_secs(1), vec![silent]));
        assert_eq!(m.rows().len(), 1);
        assert_eq!((m.rows()[0].msgs_in, m.rows()[0].backlog), (None, None));
        assert!(m.stats_of("b").is_none());
        assert!(
            m.stats_of("a").is_some(),
            "the last answer stays for the detail view"
        );
    }
}
