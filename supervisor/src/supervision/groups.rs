//! The groups of a supervision tree: who is whose parent, and each group's
//! restart intensity window and restart count. The root group (the node's
//! own `[supervisor]` settings) is named [`ROOT`].
//!
//! A group's window and count are saved (`state/groups.cbor`) so that a
//! supervisor taking over after a crash goes on counting where the last
//! one stopped: a group that used its intensity before the crash still
//! escalates at its next failure.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::prune;
use crate::policy::{GroupSpec, SupervisorSpec};

/// The root group's name (it has none in paths and manifests).
pub(crate) const ROOT: &str = "";

/// One group's restarts: those within its period, and how often it was restarted as a whole.
#[derive(Debug, Default)]
struct Window {
    recent: VecDeque<Instant>,
    restarts: u32,
}

/// A group's window and count as saved for a supervisor that takes over.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct GroupRecord {
    pub(crate) name: String,
    pub(crate) restarts: u32,
    /// Its restarts within the period, in ms since the Unix epoch.
    pub(crate) recent_unix_ms: Vec<u64>,
}

/// Every group of the node's tree, the root included.
#[derive(Debug)]
pub(crate) struct Groups {
    /// By name; the order of the spec (parents before children) is kept in `order`.
    specs: BTreeMap<String, GroupSpec>,
    order: Vec<String>,
    windows: BTreeMap<String, Window>,
    changed: bool,
}

impl Groups {
    /// The tree of `spec`: its root and its `groups`. A group whose parent is
    /// not known (or that would be its own ancestor) hangs under the root.
    pub(crate) fn new(spec: &SupervisorSpec) -> Self {
        let root = GroupSpec {
            name: ROOT.to_owned(),
            parent: None,
            strategy: spec.strategy,
            intensity: spec.intensity,
            period: spec.period,
        };
        let mut groups = Groups {
            specs: BTreeMap::new(),
            order: vec![ROOT.to_owned()],
            windows: BTreeMap::new(),
            changed: false,
        };
        groups.specs.insert(ROOT.to_owned(), root);
        for g in spec.groups.iter().filter(|g| g.name != ROOT) {
            let mut g = g.clone();
            // Parents come first: an unknown parent (or a cycle) cannot be one yet.
            if !g
                .parent
                .as_ref()
                .is_some_and(|p| groups.specs.contains_key(p))
            {
                g.parent = Some(ROOT.to_owned());
            }
            if groups.specs.insert(g.name.clone(), g.clone()).is_none() {
                groups.order.push(g.name);
            }
        }
        groups
    }

    /// Whether `name` is a group of the tree (not the root).
    pub(crate) fn knows(&self, name: &str) -> bool {
        name != ROOT && self.specs.contains_key(name)
    }

    /// The group an agent placed in `group` belongs to: that group if known, else the root.
    pub(crate) fn of<'a>(&'a self, group: Option<&'a str>) -> &'a str {
        group
            .filter(|g| self.specs.contains_key(*g))
            .unwrap_or(ROOT)
    }

    /// The group `name` is a child of; `None` for the root.
    pub(crate) fn parent(&self, name: &str) -> Option<&str> {
        match name {
            ROOT => None,
            _ => Some(self.specs.get(name)?.parent.as_deref().unwrap_or(ROOT)),
        }
    }

    /// The groups from the top down to `name` (the root left out): its path.
    pub(crate) fn path<'a>(&'a self, mut name: &'a str) -> Vec<&'a str> {
        let mut path = Vec::new();
        while name != ROOT && path.len() < self.specs.len() {
            path.push(name);
            name = self.parent(name).unwrap_or(ROOT);
        }
        path.reverse();
        path
    }

    /// The spec of group `name` (the root's for an unknown one).
    pub(crate) fn spec(&self, name: &str) -> &GroupSpec {
        self.specs
            .get(name)
            .or_else(|| self.specs.get(ROOT))
            .expect("the root group is always there")
    }

    /// Every group, the root first, parents before children.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Counts a restart decided by group `name` unless it already made
    /// `intensity` restarts within its period; `false`: it exceeded.
    pub(crate) fn within(&mut self, name: &str, now: Instant) -> bool {
        let spec = self.spec(name);
        let (intensity, period) = (spec.intensity as usize, spec.period);
        let window = self.windows.entry(name.to_owned()).or_default();
        prune(&mut window.recent, now, period);
        if window.recent.len() >= intensity {
            return false;
        }
        window.recent.push_back(now);
        self.changed = true;
        true
    }

    /// Group `name` is restarted as a whole: it and the groups under it start
    /// afresh (empty windows), as a new OTP supervisor would; its count grows.
    pub(crate) fn restarted(&mut self, name: &str) {
        let under: Vec<String> = self
            .order
            .iter()
            .filter(|g| self.path(g).contains(&name))
            .cloned()
            .collect();
        for g in under {
            self.windows.entry(g).or_default().recent.clear();
        }
        self.windows.entry(name.to_owned()).or_default().restarts += 1;
        self.changed = true;
    }

    /// Restarts of group `name` within its period as of `now`, and how often it was restarted.
    pub(crate) fn usage(&self, name: &str, now: Instant) -> (u32, u32) {
        let period = self.spec(name).period;
        self.windows.get(name).map_or((0, 0), |w| {
            let recent = w
                .recent
                .iter()
                .filter(|t| now.saturating_duration_since(**t) <= period)
                .count();
            (recent as u32, w.restarts)
        })
    }

    /// Whether a window or count changed since the last call.
    pub(crate) fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }

    /// Every group's window and count, to save.
    pub(crate) fn records(&self, now: Instant) -> Vec<GroupRecord> {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.windows
            .iter()
            .map(|(name, w)| GroupRecord {
                name: name.clone(),
                restarts: w.restarts,
                recent_unix_ms: w
                    .recent
                    .iter()
                    .map(|t| unix_now.saturating_sub(now.saturating_duration_since(*t)))
                    .map(|d| d.as_millis() as u64)
                    .collect(),
            })
            .collect()
    }

    /// Takes back what a supervisor before this one saved; groups no longer in the tree are dropped.
    pub(crate) fn restore(&mut self, records: Vec<GroupRecord>, now: Instant) {
        let unix_now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        for r in records
            .into_iter()
            .filter(|r| self.specs.contains_key(&r.name))
        {
            let recent = r
                .recent_unix_ms
                .iter()
                .map(|ms| unix_now.saturating_sub(Duration::from_millis(*ms)))
                .filter_map(|age| now.checked_sub(age))
                .collect();
            let window = Window {
                recent,
                restarts: r.restarts,
            };
            self.windows.insert(r.name, window);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RestartStrategy;

    fn group(name: &str, parent: Option<&str>, intensity: u32) -> GroupSpec {
        GroupSpec {
            name: name.into(),
            parent: parent.map(Into::into),
            strategy: RestartStrategy::OneForOne,
            intensity,
            period: Duration::from_secs(10),
        }
    }

    fn tree() -> Groups {
        Groups::new(&SupervisorSpec {
            groups: vec![
                group("middle", None, 2),
                group("inner", Some("middle"), 1),
                group("lost", Some("nowhere"), 1),
            ],
            ..SupervisorSpec::default()
        })
    }

    #[test]
    fn paths_run_from_the_top_and_unknown_parents_mean_the_root() {
        let g = tree();
        assert_eq!(g.path("inner"), ["middle", "inner"]);
        assert_eq!(g.path(ROOT), Vec::<&str>::new());
        assert_eq!(g.parent("lost"), Some(ROOT));
        assert_eq!(g.of(Some("nope")), ROOT);
        assert!(g.knows("inner") && !g.knows(ROOT));
    }

    #[test]
    fn a_window_counts_up_to_the_intensity_and_a_restart_clears_the_subtree() {
        let mut g = tree();
        let now = Instant::now();
        assert!(g.within("inner", now));
        assert!(!g.within("inner", now));
        assert!(g.within("middle", now));
        g.restarted("middle");
        assert_eq!(g.usage("middle", now), (0, 1));
        assert_eq!(g.usage("inner", now), (0, 0));
        assert!(g.within("inner", now));
    }

    #[test]
    fn windows_survive_a_save_and_restore() {
        let mut g = tree();
        let now = Instant::now();
        assert!(g.within("inner", now));
        g.restarted("middle");
        assert!(g.within("middle", now));
        let mut back = tree();
        back.restore(g.records(now), now);
        assert_eq!(back.usage("middle", now), (1, 1));
        assert!(back.within("middle", now));
        assert!(!back.within("middle", now), "the restored window counts");
    }
}
