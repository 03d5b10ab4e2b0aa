//! The order a node stops its children in: dependents first, in waves.
//!
//! OTP stops a supervisor's children one at a time in reverse start order,
//! because a child started later may depend on one started earlier; it
//! stops the children of a `simple_one_for_one` supervisor, which do not
//! depend on each other, all at once. axon knows which of its agents depend
//! on which: an agent that connects to a socket another agent bound (a
//! manifest `connect`, a `connect` through the control plane: both are in
//! the journal) depends on that agent. So it stops them in waves:
//!
//! - the first wave is every agent nothing depends on;
//! - each later wave is every agent all of whose dependents are in earlier
//!   waves;
//! - a cycle (two agents connected both ways) is broken in reverse start
//!   order: when every agent left has a dependent left, the one started
//!   last goes alone.
//!
//! The agents of a wave are asked at once; the next wave is asked once every
//! agent of the one before has exited. A dependent has therefore exited,
//! its last messages flushed, before what it depends on is even asked. Within
//! a wave, and for agents with no known dependency, the order is reverse
//! start order (the order the asks go out in), but their exits overlap.

use std::collections::{BTreeMap, BTreeSet};

/// The children `order` (reverse start order, each with its pid) in the
/// waves to stop them in, given `depends`: (dependent, dependency) pairs by
/// name. Pairs naming an agent not in `order`, or an agent and itself, are ignored.
pub(crate) fn stop_waves(
    order: Vec<(String, u32)>,
    depends: &[(String, String)],
) -> Vec<Vec<(String, u32)>> {
    let known: BTreeSet<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    // Agent -> its dependents still running.
    let mut dependents: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (dependent, dependency) in depends {
        let (a, b) = (dependent.as_str(), dependency.as_str());
        if a != b && known.contains(a) && known.contains(b) {
            dependents.entry(b).or_default().insert(a);
        }
    }
    let mut left = order;
    let mut waves = Vec::new();
    while !left.is_empty() {
        let free = |name: &str| dependents.get(name).is_none_or(BTreeSet::is_empty);
        let (mut wave, rest): (Vec<_>, Vec<_>) = left.into_iter().partition(|(n, _)| free(n));
        left = rest;
        if wave.is_empty() {
            // A cycle: the agent started last goes first, as in reverse start order.
            wave.push(left.remove(0));
        }
        for (name, _) in &wave {
            for set in dependents.values_mut() {
                set.remove(name.as_str());
            }
        }
        waves.push(wave);
    }
    waves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(names: &[&str]) -> Vec<(String, u32)> {
        names
            .iter()
            .zip(1..)
            .map(|(n, pid)| (n.to_string(), pid))
            .collect()
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn names(waves: Vec<Vec<(String, u32)>>) -> Vec<Vec<String>> {
        waves
            .into_iter()
            .map(|w| w.into_iter().map(|(n, _)| n).collect())
            .collect()
    }

    #[test]
    fn independent_agents_stop_in_one_wave_in_reverse_start_order() {
        let waves = stop_waves(order(&["e3", "e2", "e1"]), &[]);
        assert_eq!(names(waves), [["e3", "e2", "e1"]]);
    }

    #[test]
    fn a_chain_stops_dependents_first_whatever_the_start_order() {
        // a connects to b, b to c; started c, a, b (reverse: b, a, c), plus two independents.
        let deps = pairs(&[("a", "b"), ("b", "c")]);
        let waves = stop_waves(order(&["x", "b", "a", "c", "y"]), &deps);
        assert_eq!(
            names(waves),
            vec![vec!["x", "a", "y"], vec!["b"], vec!["c"]]
        );
    }

    #[test]
    fn an_agent_waits_for_all_its_dependents() {
        // Two feeds into one sink; a reader of the sink.
        let deps = pairs(&[("f1", "sink"), ("f2", "sink"), ("reader", "f2")]);
        let waves = stop_waves(order(&["reader", "f2", "f1", "sink"]), &deps);
        assert_eq!(
            names(waves),
            vec![vec!["reader", "f1"], vec!["f2"], vec!["sink"]]
        );
    }

    #[test]
    fn a_cycle_is_broken_in_reverse_start_order() {
        let deps = pairs(&[("a", "b"), ("b", "a"), ("c", "a")]);
        let waves = stop_waves(order(&["b", "a", "c"]), &deps);
        assert_eq!(names(waves), vec![vec!["c"], vec!["b"], vec!["a"]]);
    }

    #[test]
    fn unknown_agents_and_self_links_are_ignored() {
        let deps = pairs(&[("a", "a"), ("a", "gone"), ("gone", "b")]);
        let waves = stop_waves(order(&["a", "b"]), &deps);
        assert_eq!(names(waves), [["a", "b"]]);
    }
}
