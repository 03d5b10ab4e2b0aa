//! Lifecycle events: what the supervisor did to its agents, as data.
//!
//! The supervisor keeps its latest events in a bounded ring, each with a
//! sequence number; the `events` method returns those after a number the
//! caller has seen (`axon up` prints them above its status line). A
//! supervisor that takes over starts a new ring: its answers carry the
//! node's incarnation, so a reader that sees it change starts again from 0.
//! Events are also logged (tracing); these are the same facts, for programs.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// How many events the supervisor keeps; older ones are dropped first.
pub(crate) const RING_SIZE: usize = 1024;

/// One thing the supervisor did or saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Lifecycle {
    /// An agent process was started (a first start or a restart).
    Spawned {
        /// The agent.
        agent: String,
        /// Its new process.
        pid: u32,
    },
    /// An agent process ended.
    Exited {
        /// The agent.
        agent: String,
        /// The process that ended.
        pid: u32,
        /// How it ended: the exit status, or why the supervisor killed it
        /// (`hung: ...`, `memory limit exceeded: ...`).
        reason: String,
        /// It exited with status 0.
        normal: bool,
        /// It was asked to stop (a node shutdown, `shutdown_agent`, a group restart).
        asked: bool,
    },
    /// The supervisor will start `restart` (the agent, or its whole group) again.
    RestartScheduled {
        /// The agent whose exit caused it.
        agent: String,
        /// Every agent to be started again, in start order.
        restart: Vec<String>,
        /// The backoff before the first of them starts, in ms.
        delay_ms: u64,
    },
    /// A restarted agent serves again (its configuration replayed).
    Restarted {
        /// The agent.
        agent: String,
        /// Its new process.
        pid: u32,
        /// How often it was restarted so far.
        restarts: u32,
    },
    /// A restart could not start the process; the agent is `failed`.
    RestartFailed {
        /// The agent.
        agent: String,
        /// Why.
        error: String,
    },
    /// A supervision group exceeded its restart intensity; its parent restarts it.
    GroupEscalated {
        /// Which group, and its intensity.
        why: String,
    },
    /// The restart intensity of the root was exceeded: the supervisor gave up.
    GaveUp {
        /// Which agent or group, and the intensity.
        why: String,
        /// The node shuts down (else the agents of the tree are stopped and the node serves on).
        escalate: bool,
    },
    /// This supervisor took over the node from one that died.
    TookOver {
        /// The node's supervisor count, this one included.
        incarnation: u32,
        /// Agents the dead supervisor had, to adopt or restart.
        agents: usize,
    },
}

/// A lifecycle event with its place in the ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Its sequence number: 1 for a supervisor's first event, one more for each.
    pub seq: u64,
    /// When, in ms since the Unix epoch.
    pub time_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub what: Lifecycle,
}

/// The answer of `events`: what happened after the sequence number asked for.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    /// The node's supervisor count: when it changes, a new supervisor numbers from 1 again.
    pub incarnation: u32,
    /// The events, oldest first.
    pub events: Vec<LifecycleEvent>,
    /// Events after the one asked for that the ring no longer holds.
    pub missed: u64,
    /// The sequence number of the last event so far (0: none yet); ask after it next.
    pub last: u64,
}

/// What a node's shutdown did to its agents: the supervisor tells its
/// parent on stdout as it ends ([`STOPPED_LINE`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StopReport {
    /// Agents that exited with status 0 when asked to stop.
    pub graceful: u32,
    /// Agents that had to be killed (or ended otherwise) during the shutdown.
    pub killed: u32,
    /// The supervisor gave up (restart intensity exceeded) and escalated.
    pub gave_up: bool,
    /// The supervisor's last events (at most [`LAST_EVENTS`]), which a reader
    /// polling `events` may not have had the time to ask for.
    pub last: EventsPage,
}

/// How many of its last events a supervisor puts in its [`StopReport`].
pub const LAST_EVENTS: usize = 64;

/// The line a name server prints on stdout as it ends, followed by its [`StopReport`] as JSON.
pub const STOPPED_LINE: &str = "AXON-NS-STOPPED";

/// The latest lifecycle events of one supervisor.
#[derive(Debug, Default)]
pub(crate) struct Ring {
    events: VecDeque<LifecycleEvent>,
    last: u64,
}

impl Ring {
    /// Records `what`, dropping the oldest event when full.
    pub(crate) fn push(&mut self, what: Lifecycle) {
        self.last += 1;
        if self.events.len() == RING_SIZE {
            self.events.pop_front();
        }
        let time_ms = axon_runtime::clock::now_ms();
        self.events.push_back(LifecycleEvent {
            seq: self.last,
            time_ms,
            what,
        });
    }

    /// The last [`LAST_EVENTS`] events.
    pub(crate) fn last_events(&self, incarnation: u32) -> EventsPage {
        let after = self.last.saturating_sub(LAST_EVENTS as u64);
        self.after(after, LAST_EVENTS, incarnation)
    }

    /// The events after `after`, at most `limit`, with what the ring no longer holds of them.
    pub(crate) fn after(&self, after: u64, limit: usize, incarnation: u32) -> EventsPage {
        let first = self.events.front().map_or(self.last + 1, |e| e.seq);
        let missed = first.saturating_sub(after + 1);
        let events = self
            .events
            .iter()
            .filter(|e| e.seq > after)
            .take(limit)
            .cloned()
            .collect();
        EventsPage {
            incarnation,
            events,
            missed,
            last: self.last,
        }
    }
}

/// The arguments of `events`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct EventsArgs {
    /// Only events with a greater sequence number (0: all the ring holds).
    #[serde(default)]
    pub after: u64,
    /// At most this many (default and cap: the ring's size).
    #[serde(default)]
    pub limit: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spawned(pid: u32) -> Lifecycle {
        Lifecycle::Spawned {
            agent: "a".into(),
            pid,
        }
    }

    #[test]
    fn events_come_after_the_number_asked_and_the_ring_forgets_the_oldest() {
        let mut ring = Ring::default();
        assert_eq!(ring.after(0, 10, 1).last, 0);
        for pid in 1..=3 {
            ring.push(spawned(pid));
        }
        let page = ring.after(1, 10, 1);
        let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
        assert_eq!((seqs, page.missed, page.last), (vec![2, 3], 0, 3));
        assert_eq!(ring.after(3, 10, 1).events.len(), 0);
        for pid in 4..=(RING_SIZE as u32 + 5) {
            ring.push(spawned(pid));
        }
        let page = ring.after(2, 3, 7);
        // The ring holds the last RING_SIZE of RING_SIZE + 5 events: 6 onwards.
        assert_eq!(page.missed, 3, "events 3..=5 are gone");
        assert_eq!(page.events[0].seq, 6);
        assert_eq!((page.events.len(), page.incarnation), (3, 7));
    }

    #[test]
    fn events_read_back_as_the_same_data() {
        let what = Lifecycle::Exited {
            agent: "a".into(),
            pid: 9,
            reason: "signal: 9 (SIGKILL)".into(),
            normal: false,
            asked: false,
        };
        let mut ring = Ring::default();
        ring.push(what.clone());
        let value = axon_runtime::Value::serialized(&ring.after(0, 5, 1)).unwrap();
        let page: EventsPage = value.deserialized().unwrap();
        assert_eq!(page.events[0].what, what);
    }
}
