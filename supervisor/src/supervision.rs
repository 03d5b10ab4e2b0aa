//! The supervisor's records and decisions: which agents it started, in what
//! order, how each ended, and what to restart. Plain data and rules, no
//! processes or sockets, so that every rule is unit tested; the name server
//! actor carries the decisions out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axon_runtime::protocol::journal::{Change, Journal};
use axon_runtime::Address;
use serde::{Deserialize, Serialize};

use crate::methods::SpawnOptions;
use crate::policy::{Restart, SupervisorSpec};

/// Ended children (stopped, exited, failed) kept for `ps`, at most.
pub(crate) const MAX_ENDED: usize = 1024;

/// Where a child is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Spawned; not yet answering (or its configuration is being replayed).
    Starting,
    /// Serving.
    Running,
    /// Waiting to be started again (backoff, or its group still stopping).
    Restarting,
    /// Asked to stop; will not be restarted.
    Stopping,
    /// Ended and not to be restarted: stopped on request, or a normal exit of a transient or temporary child.
    Stopped,
    /// A temporary child that crashed.
    Exited,
    /// The supervisor gave up on it (restart intensity exceeded).
    Failed,
}

impl State {
    /// Whether the child has (or is about to have) a process.
    fn is_live(self) -> bool {
        matches!(self, State::Starting | State::Running | State::Stopping)
    }
}

/// How a child process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exit {
    /// Exit status 0: the agent shut down on request.
    pub(crate) normal: bool,
    /// The status, or why the supervisor killed it.
    pub(crate) reason: String,
}

/// One agent the name server started.
#[derive(Debug)]
pub(crate) struct Child {
    pub(crate) name: String,
    /// How to start it again.
    pub(crate) options: SpawnOptions,
    pub(crate) restart: Restart,
    pub(crate) state: State,
    pub(crate) pid: Option<u32>,
    pub(crate) restarts: u32,
    /// When the current (or last) process started.
    pub(crate) since: Instant,
    /// Its configuration, as made through the control plane.
    pub(crate) journal: Journal,
    /// Where its sockets were last bound, for the next incarnation.
    pub(crate) addrs: BTreeMap<String, Address>,
    pub(crate) last_exit: Option<String>,
    /// Why the supervisor is killing it, reported as its exit reason.
    pub(crate) kill_reason: Option<String>,
    /// When it died, for the crash-to-serving time of its restart.
    pub(crate) died: Option<Instant>,
    /// When it may be started again (state `Restarting`).
    pub(crate) due: Option<Instant>,
    /// Its restarts within the period, for backoff.
    recent: VecDeque<Instant>,
    order: u64,
    /// The group restart it waits on: no member starts while another still has a process.
    restart_group: Option<u64>,
    /// Who its current process is: start time (clock ticks since boot) and the secret it
    /// proves itself with to a supervisor that restarted (see `server/adopt.rs`).
    pub(crate) identity: Option<Identity>,
    /// Its control endpoint, once it registered.
    pub(crate) control: Option<String>,
}

/// What tells a child's process from any other with the same pid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    /// When the process started, in clock ticks since boot.
    pub(crate) start_ticks: u64,
    /// The incarnation's token (hex), also in its spec.
    pub(crate) token: String,
}

/// A child as the supervisor keeps it on disk, for a supervisor that takes over after a crash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ChildRecord {
    pub(crate) name: String,
    pub(crate) options: SpawnOptions,
    pub(crate) state: State,
    pub(crate) pid: Option<u32>,
    pub(crate) identity: Option<Identity>,
    pub(crate) control: Option<String>,
    pub(crate) restarts: u32,
    /// When its process started, in ms since the Unix epoch.
    pub(crate) since_unix_ms: u64,
    pub(crate) journal: Journal,
    pub(crate) addrs: BTreeMap<String, Address>,
    pub(crate) last_exit: Option<String>,
    pub(crate) order: u64,
}

impl Child {
    /// Whether a restart restores this child (it keeps a journal).
    pub(crate) fn restartable(&self) -> bool {
        self.restart != Restart::Temporary
    }
}

/// What the supervisor decided after an exit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Nothing to do.
    Nothing,
    /// Stop `stop` (reverse start order), then start `start` (start order) once `due`.
    Restart {
        start: Vec<String>,
        stop: Vec<String>,
        due: Instant,
        /// Groups that exceeded their intensity on the way up, each with why.
        escalated: Vec<String>,
    },
    /// Restart intensity exceeded: stop every child that still runs (reverse start order).
    GiveUp { stop: Vec<String>, why: String },
}

/// The node's supervisor: its policy and its children.
#[derive(Debug)]
pub(crate) struct Supervision {
    pub(crate) spec: SupervisorSpec,
    children: BTreeMap<String, Child>,
    next_order: u64,
    next_group: u64,
    /// Children changed since the last [`Supervision::take_changed`], to be saved.
    changed: BTreeSet<String>,
    /// The tree's groups with their restart windows (a group restart counts once, as in OTP).
    groups: Groups,
    gave_up: bool,
}

impl Supervision {
    pub(crate) fn new(spec: SupervisorSpec) -> Self {
        Supervision {
            groups: Groups::new(&spec),
            spec,
            children: BTreeMap::new(),
            next_order: 0,
            next_group: 0,
            changed: BTreeSet::new(),
            gave_up: false,
        }
    }

    /// Whether the supervisor gave up (restart intensity exceeded).
    #[cfg(test)]
    pub(crate) fn gave_up(&self) -> bool {
        self.gave_up
    }

    /// Records a newly spawned child (replacing an ended one of the same name).
    pub(crate) fn add(&mut self, name: &str, options: SpawnOptions, pid: u32, now: Instant) {
        self.prune_ended(name);
        self.changed.insert(name.to_owned());
        self.next_order += 1;
        let restart = options.restart.unwrap_or(Restart::Temporary);
        self.children.insert(
            name.to_owned(),
            Child {
                name: name.to_owned(),
                options,
                restart,
                state: State::Starting,
                pid: Some(pid),
                restarts: 0,
                since: now,
                journal: Journal::default(),
                addrs: BTreeMap::new(),
                last_exit: None,
                kill_reason: None,
                died: None,
                due: None,
                recent: VecDeque::new(),
                order: self.next_order,
                restart_group: None,
                identity: None,
                control: None,
            },
        );
    }

    /// Notes the new process of a child being restarted.
    pub(crate) fn restarted(&mut self, name: &str, pid: u32, now: Instant) {
        if let Some(c) = self.get_mut(name) {
            c.state = State::Starting;
            c.pid = Some(pid);
            c.since = now;
            c.due = None;
            c.restarts += 1;
            c.identity = None;
            c.control = None;
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Child> {
        self.children.get(name)
    }

    /// The child `name`, to change (it is saved again).
    pub(crate) fn get_mut(&mut self, name: &str) -> Option<&mut Child> {
        let child = self.children.get_mut(name)?;
        self.changed.insert(child.name.clone());
        Some(child)
    }

    /// The child `name` if it is the process `pid`, to change (it is saved again).
    pub(crate) fn incarnation(&mut self, name: &str, pid: u32) -> Option<&mut Child> {
        self.get_mut(name).filter(|c| c.pid == Some(pid))
    }

    /// Notes who the process `pid` of child `name` is (see [`Identity`]).
    pub(crate) fn identify(&mut self, name: &str, pid: u32, identity: Option<Identity>) {
        if let Some(c) = self.incarnation(name, pid) {
            c.identity = identity;
        }
    }

    /// The children changed since the last call: the ones to save (or, gone, to delete).
    pub(crate) fn take_changed(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.changed)
    }

    /// The child as it is saved.
    pub(crate) fn record(&self, name: &str) -> Option<ChildRecord> {
        let c = self.children.get(name)?;
        let age = c.since.elapsed();
        let since = SystemTime::now()
            .checked_sub(age)
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Some(ChildRecord {
            name: c.name.clone(),
            options: c.options.clone(),
            state: c.state,
            pid: c.pid,
            identity: c.identity.clone(),
            control: c.control.clone(),
            restarts: c.restarts,
            since_unix_ms: since.as_millis() as u64,
            journal: c.journal.clone(),
            addrs: c.addrs.clone(),
            last_exit: c.last_exit.clone(),
            order: c.order,
        })
    }

    /// Takes back a child an earlier supervisor saved. One that was waiting
    /// for its restart is due at once (the backoff it waited is not known).
    pub(crate) fn restore(&mut self, r: ChildRecord, now: Instant) {
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(Duration::from_millis(r.since_unix_ms));
        let restart = r.options.restart.unwrap_or(Restart::Temporary);
        self.next_order = self.next_order.max(r.order);
        let due = (r.state == State::Restarting).then_some(now);
        self.children.insert(
            r.name.clone(),
            Child {
                name: r.name,
                options: r.options,
                restart,
                state: r.state,
                pid: r.pid,
                restarts: r.restarts,
                since: now.checked_sub(age).unwrap_or(now),
                journal: r.journal,
                addrs: r.addrs,
                last_exit: r.last_exit,
                kill_reason: None,
                died: None,
                due,
                recent: VecDeque::new(),
                order: r.order,
                restart_group: None,
                identity: r.identity,
                control: r.control,
            },
        );
    }

    /// Every child, in no particular order (cheaper than [`Supervision::ordered`]).
    pub(crate) fn children(&self) -> impl Iterator<Item = &Child> {
        self.children.values()
    }

    /// Keeps at most [`MAX_ENDED`] ended children (their status stays in `ps`
    /// until then), forgetting the oldest first; `keep` is about to be spawned.
    fn prune_ended(&mut self, keep: &str) {
        let mut ended: Vec<(u64, String)> = self
            .children
            .values()
            .filter(|c| {
                c.name != keep && matches!(c.state, State::Stopped | State::Exited | State::Failed)
            })
            .map(|c| (c.order, c.name.clone()))
            .collect();
        if ended.len() < MAX_ENDED {
            return;
        }
        ended.sort();
        for (_, name) in ended.iter().take(ended.len() + 1 - MAX_ENDED) {
            self.children.remove(name);
            self.changed.insert(name.clone());
        }
    }

    /// Whether a new spawn may take `name` (no live child holds it).
    pub(crate) fn is_free(&self, name: &str) -> bool {
        self.children
            .get(name)
            .is_none_or(|c| !c.state.is_live() && c.state != State::Restarting)
    }

    /// Forgets a child whose first start failed: the spawn reports the error, nothing restarts it.
    pub(crate) fn forget(&mut self, name: &str) {
        self.children.remove(name);
        self.changed.insert(name.to_owned());
    }

    /// Applies a journal change reported by the process `pid` of `name`.
    pub(crate) fn journal(&mut self, name: &str, pid: u32, change: Change) -> bool {
        let child = self.children.get_mut(name).filter(|c| c.pid == Some(pid));
        match child {
            Some(c) if c.restartable() => {
                // A replay after a restart journals what is already there: nothing to save again.
                let before = c.journal.clone();
                c.journal.apply(change);
                if c.journal != before {
                    self.changed.insert(name.to_owned());
                }
                true
            }
            _ => false,
        }
    }

    /// The child `name` is to stop for good (a `shutdown_agent`, or the node stops).
    pub(crate) fn stopping(&mut self, name: &str) {
        if let Some(c) = self.get_mut(name) {
            c.state = match c.pid {
                Some(_) => State::Stopping,
                None => State::Stopped,
            };
            c.due = None;
        }
    }

    /// Children due to start now, in start order. As in OTP, the members of
    /// a group restart (one_for_all, rest_for_one, a supervision group)
    /// start only once every member of the group is down, and then one at a
    /// time: a member starts once the one before it serves (see [`Self::serving`]).
    pub(crate) fn due(&self, now: Instant) -> Vec<String> {
        let going_down: BTreeSet<u64> = self
            .children
            .values()
            .filter(|c| c.pid.is_some() && matches!(c.state, State::Restarting | State::Stopping))
            .filter_map(|c| c.restart_group)
            .collect();
        // Groups with a member ahead that does not serve yet.
        let mut waiting = BTreeSet::new();
        let mut due = Vec::new();
        for c in self.ordered() {
            let unstarted = c.state == State::Restarting && c.pid.is_none();
            let ready = unstarted && c.due.is_some_and(|d| d <= now);
            match c.restart_group {
                None if ready => due.push(c.name.clone()),
                None => {}
                Some(g) => {
                    if ready && !going_down.contains(&g) && !waiting.contains(&g) {
                        due.push(c.name.clone());
                    }
                    if unstarted || c.state == State::Starting {
                        waiting.insert(g);
                    }
                }
            }
        }
        due
    }

    /// Process `pid` of child `name` serves (answers, its configuration
    /// replayed): it is running, and the next member of its group restart may start.
    pub(crate) fn serving(&mut self, name: &str, pid: u32) -> Option<&Child> {
        let c = self.incarnation(name, pid)?;
        if c.state == State::Starting {
            c.state = State::Running;
        }
        c.restart_group = None;
        Some(c)
    }

    /// Decides what follows the exit of process `pid` of child `name`.
    pub(crate) fn exited(&mut self, name: &str, pid: u32, exit: Exit, now: Instant) -> Decision {
        let Some(c) = self.incarnation(name, pid) else {
            return Decision::Nothing;
        };
        c.pid = None;
        c.died = Some(now);
        let reason = c.kill_reason.take().unwrap_or(exit.reason);
        c.last_exit = Some(reason.clone());
        let wanted = match c.state {
            // A stop was asked for, or the child's group is being restarted.
            State::Stopping => {
                c.state = State::Stopped;
                return Decision::Nothing;
            }
            State::Restarting | State::Stopped | State::Exited | State::Failed => {
                return Decision::Nothing
            }
            State::Starting | State::Running => match (c.restart, exit.normal) {
                (Restart::Permanent, _) | (Restart::Transient, false) => true,
                (Restart::Transient, true) | (Restart::Temporary, true) => {
                    c.state = State::Stopped;
                    false
                }
                (Restart::Temporary, false) => {
                    c.state = State::Exited;
                    false
                }
            },
        };
        if !wanted || self.gave_up {
            return Decision::Nothing;
        }
        self.restart(name, &reason, now)
    }

    /// Children with a process that `pick` selects, in reverse start order (the order to stop them in).
    fn live_reversed(&self, pick: impl Fn(&Child) -> bool) -> Vec<(String, u32)> {
        let mut live: Vec<(String, u32)> = self
            .ordered()
            .into_iter()
            .filter(|c| pick(c))
            .filter_map(|c| c.pid.map(|pid| (c.name.clone(), pid)))
            .collect();
        live.reverse();
        live
    }

    /// Every child with a process, with its pid, in the order to stop them in.
    pub(crate) fn stop_order(&self) -> Vec<(String, u32)> {
        self.live_reversed(|_| true)
    }

    /// The groups' windows and counts to save, when they changed since the last call.
    pub(crate) fn take_changed_groups(&mut self) -> Option<Vec<GroupRecord>> {
        let now = Instant::now();
        self.groups.take_changed().then(|| self.groups.records(now))
    }

    /// Takes back the groups' windows and counts an earlier supervisor saved.
    pub(crate) fn restore_groups(&mut self, records: Vec<GroupRecord>, now: Instant) {
        self.groups.restore(records, now);
    }
}

fn names(children: Vec<(String, u32)>) -> Vec<String> {
    children.into_iter().map(|(name, _)| name).collect()
}

/// Forgets the instants in `recent` older than `period`.
fn prune(recent: &mut VecDeque<Instant>, now: Instant, period: Duration) {
    while recent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) > period)
    {
        recent.pop_front();
    }
}

mod groups;
mod tree;
mod waves;

pub(crate) use groups::GroupRecord;
use groups::Groups;
pub(crate) use waves::stop_waves;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tree_tests;
