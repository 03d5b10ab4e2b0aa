//! The supervision tree's rules: start order along the tree, and what a
//! failure restarts. A failure is handled by the failed agent's group, by
//! its strategy, and counted against its intensity; a group over its
//! intensity fails as a whole, and its parent handles it as one failed
//! child (restarting it fresh, with its siblings by the parent's strategy).
//! The root over its intensity gives up.

use std::collections::BTreeMap;
use std::time::Instant;

use super::{names, Child, Decision, State, Supervision};
use crate::methods::GroupStatus;
use crate::policy::RestartStrategy;

/// A child of a group: an agent or a group.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Agent(String),
    Group(String),
}

impl Supervision {
    /// The group of child `c` (the root when it names none, or one not in the tree).
    pub(super) fn group_of<'a>(&'a self, c: &'a Child) -> &'a str {
        self.groups.of(c.options.group.as_deref())
    }

    /// The group path of child `name` from the top (empty: the root).
    pub(crate) fn path_of(&self, c: &Child) -> Vec<String> {
        let path = self.groups.path(self.group_of(c));
        path.into_iter().map(str::to_owned).collect()
    }

    /// Whether `name` is a group of the tree.
    pub(crate) fn knows_group(&self, name: &str) -> bool {
        self.groups.knows(name)
    }

    /// Where each group stands in its parent: the start order of its first child.
    fn group_keys(&self) -> BTreeMap<&str, u64> {
        let mut keys: BTreeMap<&str, u64> = BTreeMap::new();
        for c in self.children.values() {
            for g in self.groups.path(self.group_of(c)) {
                let key = keys.entry(g).or_insert(c.order);
                *key = (*key).min(c.order);
            }
        }
        keys
    }

    /// Every child in start order along the tree: the children of a group in
    /// the order they were started, a group where its first child started.
    pub(crate) fn ordered(&self) -> Vec<&Child> {
        let keys = self.group_keys();
        let mut all: Vec<(Vec<u64>, &Child)> = self
            .children
            .values()
            .map(|c| {
                let path = self.groups.path(self.group_of(c));
                let mut key: Vec<u64> = path.iter().map(|g| keys[g]).collect();
                key.push(c.order);
                (key, c)
            })
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.into_iter().map(|(_, c)| c).collect()
    }

    /// What the failure of `name` restarts, walking up the tree while groups exceed their intensity.
    pub(super) fn restart(&mut self, name: &str, reason: &str, now: Instant) -> Decision {
        let Some(child) = self.children.get(name) else {
            return Decision::Nothing;
        };
        let mut group = self.group_of(child).to_owned();
        let mut failed = Node::Agent(name.to_owned());
        let mut last = format!("{name} ({reason})");
        let mut escalated = Vec::new();
        while !self.groups.within(&group, now) {
            let spec = self.groups.spec(&group);
            let exceeded = format!(
                "more than {} restarts within {:?}; last: {last}",
                spec.intensity, spec.period
            );
            let Some(parent) = self.groups.parent(&group).map(str::to_owned) else {
                return self.give_up(exceeded);
            };
            last = format!("group {group} ({exceeded})");
            escalated.push(last.clone());
            failed = Node::Group(std::mem::replace(&mut group, parent));
        }
        let picked = self.pick(&group, &failed);
        for g in picked.iter().filter_map(|n| match n {
            Node::Group(g) => Some(g.clone()),
            Node::Agent(_) => None,
        }) {
            self.groups.restarted(&g);
        }
        let mut decision = self.restart_members(name, &picked, now);
        if let Decision::Restart { escalated: e, .. } = &mut decision {
            *e = escalated;
        }
        decision
    }

    /// The children of `group` its strategy restarts when `failed` fails.
    fn pick(&self, group: &str, failed: &Node) -> Vec<Node> {
        let keys = self.group_keys();
        let mut siblings: Vec<(u64, Node)> = self
            .children
            .values()
            .filter(|c| self.group_of(c) == group)
            .map(|c| (c.order, Node::Agent(c.name.clone())))
            .collect();
        let groups = self
            .groups
            .names()
            .filter(|g| self.groups.parent(g) == Some(group));
        siblings.extend(groups.filter_map(|g| Some((*keys.get(g)?, Node::Group(g.to_owned())))));
        siblings.sort_by_key(|(key, _)| *key);
        let key_of_failed = siblings.iter().find(|(_, n)| n == failed).map(|(k, _)| *k);
        match (self.groups.spec(group).strategy, key_of_failed) {
            (RestartStrategy::OneForOne, _) | (_, None) => vec![failed.clone()],
            (RestartStrategy::OneForAll, _) => siblings.into_iter().map(|(_, n)| n).collect(),
            (RestartStrategy::RestForOne, Some(at)) => siblings
                .into_iter()
                .filter(|(k, _)| *k >= at)
                .map(|(_, n)| n)
                .collect(),
        }
    }

    /// Whether child `c` is one of `picked` or under one of its groups.
    fn covered(&self, c: &Child, picked: &[Node]) -> bool {
        let path = self.groups.path(self.group_of(c));
        picked.iter().any(|n| match n {
            Node::Agent(a) => *a == c.name,
            Node::Group(g) => path.contains(&g.as_str()),
        })
    }

    /// Stops the agents `picked` covers (reverse start order) and schedules
    /// them to start again (start order) once all are down.
    fn restart_members(&mut self, name: &str, picked: &[Node], now: Instant) -> Decision {
        let members: Vec<String> = self
            .ordered()
            .into_iter()
            // Running or on its way; a temporary child only while it has a process.
            .filter(|c| {
                matches!(
                    c.state,
                    State::Starting | State::Running | State::Restarting
                )
            })
            .filter(|c| c.restartable() || c.state.is_live())
            .filter(|c| self.covered(c, picked))
            .map(|c| c.name.clone())
            .collect();
        self.changed.insert(name.to_owned());
        let period = self.spec.period;
        let due = match self.children.get_mut(name) {
            Some(failed) => {
                super::prune(&mut failed.recent, now, period);
                let due = now + self.spec.delay(failed.recent.len());
                failed.recent.push_back(now);
                due
            }
            None => now,
        };
        // A group restarted as a whole starts afresh: its members' backoff history too.
        let fresh: Vec<String> = self
            .children
            .values()
            .filter(|c| {
                picked.iter().any(|n| matches!(n, Node::Group(_))) && self.covered(c, picked)
            })
            .filter(|c| !picked.contains(&Node::Agent(c.name.clone())))
            .map(|c| c.name.clone())
            .collect();
        for n in fresh {
            if let Some(c) = self.children.get_mut(&n) {
                c.recent.clear();
            }
        }
        let stop = names(self.live_reversed(|c| members.contains(&c.name) && c.name != name));
        let tag = self.next_group;
        self.next_group += 1;
        // As in OTP, a temporary sibling is stopped with its group but never started again.
        let mut start = Vec::with_capacity(members.len());
        for n in members {
            let Some(c) = self.get_mut(&n) else {
                continue;
            };
            c.restart_group = Some(tag);
            if c.restartable() {
                c.state = State::Restarting;
                c.due = Some(due);
                start.push(n);
            } else {
                c.state = State::Stopping;
            }
        }
        Decision::Restart {
            start,
            stop,
            due,
            escalated: Vec::new(),
        }
    }

    /// The root exceeded its intensity: every child still running is to stop, all are failed.
    fn give_up(&mut self, why: String) -> Decision {
        self.gave_up = true;
        let stop = names(self.live_reversed(|_| true));
        let given_up = self.children.values_mut();
        for c in given_up.filter(|c| c.restartable() || c.state.is_live()) {
            self.changed.insert(c.name.clone());
            if !matches!(c.state, State::Stopped | State::Exited) {
                c.state = State::Failed;
            }
            c.due = None;
        }
        Decision::GiveUp { stop, why }
    }

    /// Every group of the tree with its intensity usage, parents before children.
    pub(crate) fn group_statuses(&self, now: Instant) -> Vec<GroupStatus> {
        self.groups
            .names()
            .map(|g| {
                let spec = self.groups.spec(g);
                let (recent, restarts) = self.groups.usage(g, now);
                GroupStatus {
                    path: self.groups.path(g).into_iter().map(str::to_owned).collect(),
                    strategy: spec.strategy,
                    intensity: spec.intensity,
                    period_ms: spec.period.as_millis() as u64,
                    recent,
                    restarts,
                }
            })
            .collect()
    }
}
