//! The tree rules, driven by hand: escalation, order along the tree, strategies over groups.
use super::*;
use crate::policy::{GroupSpec, RestartStrategy};
use std::time::Duration;

fn group(name: &str, parent: Option<&str>, strategy: RestartStrategy, intensity: u32) -> GroupSpec {
    GroupSpec {
        name: name.into(),
        parent: parent.map(Into::into),
        strategy,
        intensity,
        period: Duration::from_secs(10),
    }
}

/// A tree, and agents spawned (running) in the order given, each with its group.
fn tree(
    root: RestartStrategy,
    groups: Vec<GroupSpec>,
    agents: &[(&str, Option<&str>)],
) -> Supervision {
    let spec = SupervisorSpec {
        strategy: root,
        intensity: 1,
        period: Duration::from_secs(10),
        groups,
        ..SupervisorSpec::default()
    };
    let mut s = Supervision::new(spec);
    for (i, (name, g)) in agents.iter().enumerate() {
        let opts = SpawnOptions {
            restart: Some(Restart::Permanent),
            group: g.map(Into::into),
            ..SpawnOptions::default()
        };
        s.add(name, opts, 100 + i as u32, Instant::now());
        s.get_mut(name).unwrap().state = State::Running;
    }
    s
}

fn crash() -> Exit {
    Exit {
        normal: false,
        reason: "signal: 9 (SIGKILL)".into(),
    }
}

fn order(s: &Supervision) -> Vec<&str> {
    s.ordered().into_iter().map(|c| c.name.as_str()).collect()
}

/// Crashes `name`'s current process, then starts every child now due with fresh pids.
fn crash_and_restart(
    s: &mut Supervision,
    name: &str,
    next_pid: &mut u32,
    now: Instant,
) -> Decision {
    let pid = s.get(name).unwrap().pid.unwrap();
    let d = s.exited(name, pid, crash(), now);
    if let Decision::Restart { stop, .. } = &d {
        for n in stop {
            let pid = s.get(n).unwrap().pid.unwrap();
            assert_eq!(s.exited(n, pid, crash(), now), Decision::Nothing);
        }
    }
    // Members start one at a time, each once the one before it serves.
    while let Some(n) = s.due(now + Duration::from_secs(60)).first().cloned() {
        *next_pid += 1;
        s.restarted(&n, *next_pid, now);
        s.serving(&n, *next_pid);
    }
    d
}

/// What a restart decision starts and stops, and how many groups escalated on the way.
fn restart_of(d: Decision) -> (Vec<String>, Vec<String>, usize) {
    match d {
        Decision::Restart {
            start,
            stop,
            escalated,
            ..
        } => (start, stop, escalated.len()),
        other => panic!("{other:?}"),
    }
}

fn nested() -> Supervision {
    use RestartStrategy::OneForOne;
    let groups = vec![
        group("middle", None, OneForOne, 1),
        group("inner", Some("middle"), OneForOne, 1),
    ];
    let agents = [
        ("a", None),
        ("b", Some("middle")),
        ("c", Some("inner")),
        ("d", Some("inner")),
        ("z", None),
    ];
    tree(OneForOne, groups, &agents)
}

#[test]
fn a_group_over_its_intensity_is_restarted_by_its_parent_up_to_the_root() {
    let mut s = nested();
    let (now, mut pid) = (Instant::now(), 1000);
    // Within inner's intensity: only c.
    let d = crash_and_restart(&mut s, "c", &mut pid, now);
    assert_eq!(restart_of(d), (vec!["c".into()], vec![], 0));
    // inner exceeds: middle restarts it as a unit (one_for_one at middle: b keeps running).
    let d = crash_and_restart(&mut s, "c", &mut pid, now);
    assert_eq!(
        restart_of(d),
        (vec!["c".into(), "d".into()], vec!["d".into()], 1)
    );
    let statuses = s.group_statuses(now);
    let by_path = |p: &[&str]| statuses.iter().find(|g| g.path == p).unwrap().clone();
    assert_eq!(
        (
            by_path(&["middle", "inner"]).recent,
            by_path(&["middle", "inner"]).restarts
        ),
        (0, 1)
    );
    assert_eq!(
        (by_path(&["middle"]).recent, by_path(&["middle"]).restarts),
        (1, 0)
    );
    assert_eq!(by_path(&[]).recent, 0);
    // inner starts afresh: one more crash is within it again.
    let d = crash_and_restart(&mut s, "c", &mut pid, now);
    assert_eq!(restart_of(d).0, ["c"]);
    // inner exceeds, middle exceeds: the root restarts middle (b, c, d), not a or z.
    let d = crash_and_restart(&mut s, "c", &mut pid, now);
    assert_eq!(
        restart_of(d),
        (
            vec!["b".into(), "c".into(), "d".into()],
            vec!["d".into(), "b".into()],
            2
        )
    );
    assert_eq!(s.get("a").unwrap().restarts, 0);
    assert_eq!(s.get("z").unwrap().restarts, 0);
    assert_eq!(s.get("d").unwrap().restarts, 2);
    // Again up to the root, which has used its one restart: it gives up.
    crash_and_restart(&mut s, "c", &mut pid, now);
    crash_and_restart(&mut s, "c", &mut pid, now);
    crash_and_restart(&mut s, "c", &mut pid, now);
    let d = crash_and_restart(&mut s, "c", &mut pid, now);
    let Decision::GiveUp { stop, why } = d else {
        panic!("{d:?}")
    };
    assert_eq!(stop, ["z", "d", "b", "a"]);
    assert!(
        why.starts_with(
            "more than 1 restarts within 10s; last: group middle (more than 1 restarts"
        ),
        "{why}"
    );
    assert!(
        why.contains("last: group inner (more than 1 restarts") && why.contains("last: c (signal"),
        "{why}"
    );
    assert!(s.gave_up());
}

#[test]
fn start_order_follows_the_tree_whatever_the_spawn_order() {
    let groups = vec![group("g", None, RestartStrategy::OneForOne, 1)];
    let mut s = tree(
        RestartStrategy::OneForOne,
        groups,
        &[("a", None), ("x", Some("g")), ("b", None)],
    );
    let opts = SpawnOptions {
        group: Some("g".into()),
        ..SpawnOptions::default()
    };
    s.add("y", opts, 7, Instant::now());
    assert_eq!(order(&s), ["a", "x", "y", "b"]);
    let stop: Vec<String> = s.stop_order().into_iter().map(|(n, _)| n).collect();
    assert_eq!(stop, ["b", "y", "x", "a"]);
    assert_eq!(s.path_of(s.get("y").unwrap()), ["g"]);
    assert!(s.knows_group("g") && !s.knows_group("nope"));
}

#[test]
fn rest_for_one_at_the_parent_restarts_the_failed_group_and_what_started_after_it() {
    use RestartStrategy::{OneForAll, RestForOne};
    let groups = vec![group("g", None, OneForAll, 0)];
    let agents = [("a", None), ("x", Some("g")), ("y", Some("g")), ("b", None)];
    let mut s = tree(RestForOne, groups, &agents);
    let d = s.exited("y", 102, crash(), Instant::now());
    let (start, stop, escalated) = restart_of(d);
    assert_eq!(start, ["x", "y", "b"]);
    assert_eq!(stop, ["b", "x"]);
    assert_eq!(escalated, 1);
    assert_eq!(s.get("a").unwrap().state, State::Running);
}

#[test]
fn one_for_all_in_a_group_stays_inside_it() {
    use RestartStrategy::{OneForAll, OneForOne};
    let groups = vec![group("g", None, OneForAll, 3)];
    let agents = [("a", None), ("x", Some("g")), ("y", Some("g")), ("b", None)];
    let mut s = tree(OneForOne, groups, &agents);
    let d = s.exited("x", 101, crash(), Instant::now());
    let (start, stop, escalated) = restart_of(d);
    assert_eq!(
        (start, stop, escalated),
        (vec!["x".into(), "y".into()], vec!["y".into()], 0)
    );
    let root = s
        .group_statuses(Instant::now())
        .into_iter()
        .find(|g| g.path.is_empty())
        .unwrap();
    assert_eq!(
        root.recent, 0,
        "a restart inside g does not count at the root"
    );
}
