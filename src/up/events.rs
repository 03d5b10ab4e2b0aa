//! The supervisor's lifecycle events, as `axon up` prints them.
//!
//! `up` asks the name server for the events after the last one it saw
//! (`NameServer::events`); a new supervisor (after a takeover) numbers its
//! events afresh, which the page's incarnation tells.

use axon::lifecycle::{EventsPage, Lifecycle};
use axon::NameServer;

use super::console::Verbosity;

/// Where `up` is in the supervisor's events.
#[derive(Debug, Default)]
pub struct Feed {
    /// The supervisor the cursor is about.
    incarnation: u32,
    /// The last event seen.
    last: u64,
}

/// One event as a line, with the verbosity it shows at.
#[derive(Debug, PartialEq, Eq)]
pub struct Line {
    /// Shown from this verbosity on.
    pub level: Verbosity,
    /// The text.
    pub text: String,
}

impl Feed {
    /// The events since the last call; `None` if the name server does not answer now
    /// (it may be restarting: the next call catches up).
    pub fn poll(&mut self, ns: &NameServer) -> Option<Vec<Lifecycle>> {
        let after = self.last;
        let page = ns.events(after).ok()?;
        Some(self.take(page, after))
    }

    /// The events of a supervisor's last word (its last events as it ended) not seen yet.
    pub fn rest(&mut self, last: EventsPage) -> Vec<Lifecycle> {
        let after = match last.incarnation == self.incarnation {
            true => self.last,
            false => 0,
        };
        let unseen = last.events.into_iter().filter(|e| e.seq > after);
        unseen.map(|e| e.what).collect()
    }

    /// The events of `page` (asked after `after`) not seen yet.
    fn take(&mut self, page: EventsPage, after: u64) -> Vec<Lifecycle> {
        let changed = self.incarnation != 0 && page.incarnation != self.incarnation;
        self.incarnation = page.incarnation;
        if changed && after > 0 {
            // A new supervisor numbers from 1: ask again from its first event.
            self.last = 0;
            return Vec::new();
        }
        self.last = page.events.last().map_or(page.last, |e| e.seq);
        page.events.into_iter().map(|e| e.what).collect()
    }
}

/// How `event` reads, and at which verbosity it shows.
pub fn line(event: &Lifecycle) -> Line {
    let (level, text) = match event {
        Lifecycle::Spawned { agent, pid } => {
            (Verbosity::Verbose, format!("{agent} started (pid {pid})"))
        }
        Lifecycle::Exited {
            agent,
            pid,
            reason,
            normal,
            asked,
        } => exited(agent, *pid, reason, *normal, *asked),
        Lifecycle::RestartScheduled {
            agent,
            restart,
            delay_ms,
        } => scheduled(agent, restart, *delay_ms),
        Lifecycle::Restarted {
            agent,
            pid,
            restarts,
        } => (
            Verbosity::Quiet,
            format!("{agent} restarted (pid {pid}, restart {restarts})"),
        ),
        Lifecycle::RestartFailed { agent, error } => (
            Verbosity::Quiet,
            format!("{agent} could not be restarted: {error}"),
        ),
        Lifecycle::GroupEscalated { why } => (
            Verbosity::Quiet,
            format!("supervision group gave up ({why}); its parent restarts it"),
        ),
        Lifecycle::GaveUp { why, escalate } => (
            Verbosity::Quiet,
            match escalate {
                true => format!("the supervisor gave up ({why}); stopping the deployment"),
                false => format!("the supervisor gave up ({why}); its agents are stopped"),
            },
        ),
        Lifecycle::TookOver {
            incarnation,
            agents,
        } => (
            Verbosity::Quiet,
            format!("supervisor #{incarnation} took over {agents} agents"),
        ),
    };
    Line {
        level,
        text: format!("axon: {text}"),
    }
}

fn exited(agent: &str, pid: u32, reason: &str, normal: bool, asked: bool) -> (Verbosity, String) {
    match (asked, normal) {
        (true, _) => (
            Verbosity::Verbose,
            format!("{agent} stopped (pid {pid}): {reason}"),
        ),
        (false, true) => (
            Verbosity::Quiet,
            format!("{agent} exited (pid {pid}): {reason}"),
        ),
        (false, false) => (
            Verbosity::Quiet,
            format!("{agent} crashed (pid {pid}): {reason}"),
        ),
    }
}

/// A restart of the agent alone, at once, shows as its `restarted` line; a group's, or a
/// delayed one, is worth a line of its own.
fn scheduled(agent: &str, restart: &[String], delay_ms: u64) -> (Verbosity, String) {
    let level = match (restart.len(), delay_ms) {
        (0 | 1, 0..1000) => Verbosity::Verbose,
        _ => Verbosity::Quiet,
    };
    let who = match restart {
        [only] if only == agent => agent.to_owned(),
        all => format!("{} (after {agent})", all.join(", ")),
    };
    (level, format!("restarting {who} in {delay_ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon::lifecycle::LifecycleEvent;

    fn page(incarnation: u32, seqs: std::ops::RangeInclusive<u64>) -> EventsPage {
        let last = *seqs.end();
        let events = seqs
            .map(|seq| LifecycleEvent {
                seq,
                time_ms: 0,
                what: Lifecycle::Spawned {
                    agent: "a".into(),
                    pid: seq as u32,
                },
            })
            .collect();
        EventsPage {
            incarnation,
            events,
            missed: 0,
            last,
        }
    }

    #[test]
    fn the_feed_moves_on_and_starts_over_with_a_new_supervisor() {
        let mut feed = Feed::default();
        assert_eq!(feed.take(page(1, 1..=3), 0).len(), 3);
        assert_eq!(feed.last, 3);
        assert_eq!(feed.take(page(1, 4..=4), 3).len(), 1);
        // Supervisor #2 numbers from 1: its events after 4 are not all it has.
        assert_eq!(feed.take(page(2, 5..=6), 4).len(), 0);
        assert_eq!(feed.last, 0, "asks again from its first event");
        assert_eq!(feed.take(page(2, 1..=6), 0).len(), 6);
    }

    #[test]
    fn the_last_word_adds_only_what_was_not_seen() {
        let mut feed = Feed::default();
        feed.take(page(1, 1..=3), 0);
        assert_eq!(feed.rest(page(1, 2..=5)).len(), 2, "4 and 5");
        assert_eq!(
            feed.rest(page(2, 1..=2)).len(),
            2,
            "a new supervisor's, all"
        );
    }

    #[test]
    fn a_crash_and_its_restart_make_one_line_each() {
        let crash = Lifecycle::Exited {
            agent: "t".into(),
            pid: 7,
            reason: "signal: 9 (SIGKILL)".into(),
            normal: false,
            asked: false,
        };
        let l = line(&crash);
        assert_eq!(l.text, "axon: t crashed (pid 7): signal: 9 (SIGKILL)");
        assert_eq!(l.level, Verbosity::Quiet);
        let at_once = Lifecycle::RestartScheduled {
            agent: "t".into(),
            restart: vec!["t".into()],
            delay_ms: 0,
        };
        assert_eq!(line(&at_once).level, Verbosity::Verbose);
        let group = Lifecycle::RestartScheduled {
            agent: "t".into(),
            restart: vec!["s".into(), "t".into()],
            delay_ms: 0,
        };
        let g = line(&group);
        assert_eq!(
            (g.level, g.text.as_str()),
            (Verbosity::Quiet, "axon: restarting s, t (after t) in 0 ms")
        );
        let stopped = Lifecycle::Exited {
            agent: "t".into(),
            pid: 8,
            reason: "exit status: 0".into(),
            normal: true,
            asked: true,
        };
        assert_eq!(line(&stopped).level, Verbosity::Verbose);
    }
}
