//! The supervision rules, driven by hand: no processes, no clock.
use super::*;
use crate::policy::RestartStrategy;
use std::time::Duration;

fn spec(strategy: RestartStrategy, intensity: u32) -> SupervisorSpec {
    SupervisorSpec {
        strategy,
        intensity,
        period: Duration::from_secs(10),
        backoff: Duration::from_millis(100),
        ..SupervisorSpec::default()
    }
}

fn sup(strategy: RestartStrategy, intensity: u32, restart: Restart) -> (Supervision, Instant) {
    let mut s = Supervision::new(spec(strategy, intensity));
    let now = Instant::now();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let opts = SpawnOptions {
            restart: Some(restart),
            ..SpawnOptions::default()
        };
        s.add(name, opts, 10 + i as u32, now);
        s.get_mut(name).unwrap().state = State::Running;
    }
    (s, now)
}

/// Starts what is due, each member once the one before it serves; the start order.
fn start_in_turn(s: &mut Supervision, now: Instant) -> Vec<String> {
    let mut order = Vec::new();
    loop {
        let due = s.due(now);
        let Some(first) = due.first().cloned() else {
            return order;
        };
        let pid = 100 + order.len() as u32;
        s.restarted(&first, pid, now);
        s.serving(&first, pid);
        order.push(first);
    }
}

fn crash() -> Exit {
    Exit {
        normal: false,
        reason: "signal: 9 (SIGKILL)".into(),
    }
}

fn normal() -> Exit {
    Exit {
        normal: true,
        reason: "exit status: 0".into(),
    }
}

#[test]
fn one_for_one_restarts_only_the_failed_child_at_once() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 3, Restart::Permanent);
    let d = s.exited("b", 11, crash(), now);
    assert_eq!(
        d,
        Decision::Restart {
            start: vec!["b".into()],
            stop: vec![],
            due: now,
            escalated: vec![],
        }
    );
    assert_eq!(s.due(now), ["b"]);
    assert_eq!(s.get("a").unwrap().state, State::Running);
    s.restarted("b", 20, now);
    assert_eq!(s.get("b").unwrap().restarts, 1);
    // A second crash within the period backs off.
    let d = s.exited("b", 20, crash(), now);
    let Decision::Restart { due, .. } = d else {
        panic!("{d:?}")
    };
    assert_eq!(due, now + Duration::from_millis(100));
    assert!(s.due(now).is_empty());
}

#[test]
fn one_for_all_and_rest_for_one_pick_their_groups() {
    let (mut s, now) = sup(RestartStrategy::OneForAll, 3, Restart::Permanent);
    let Decision::Restart { start, stop, .. } = s.exited("b", 11, crash(), now) else {
        panic!()
    };
    assert_eq!(start, ["a", "b", "c"]);
    assert_eq!(stop, ["c", "a"]);
    // The siblings' exits are part of the restart, not new failures.
    assert_eq!(s.exited("c", 12, crash(), now), Decision::Nothing);
    // Nobody starts while "a" is still on its way down.
    assert!(s.due(now).is_empty());
    assert_eq!(s.exited("a", 10, crash(), now), Decision::Nothing);
    // One at a time, in start order: "b" waits until "a" serves.
    assert_eq!(s.due(now), ["a"]);
    s.restarted("a", 20, now);
    assert!(s.due(now).is_empty());
    s.serving("a", 20);
    assert_eq!(s.get("a").unwrap().state, State::Running);
    assert_eq!(start_in_turn(&mut s, now), ["b", "c"]);

    let (mut s, now) = sup(RestartStrategy::RestForOne, 3, Restart::Permanent);
    let Decision::Restart { start, stop, .. } = s.exited("b", 11, crash(), now) else {
        panic!()
    };
    assert_eq!(start, ["b", "c"]);
    assert_eq!(stop, ["c"]);
    assert_eq!(s.get("a").unwrap().state, State::Running);
}

#[test]
fn a_group_restart_stops_temporary_siblings_for_good() {
    let (mut s, now) = sup(RestartStrategy::OneForAll, 3, Restart::Permanent);
    s.get_mut("c").unwrap().restart = Restart::Temporary;
    let Decision::Restart { start, stop, .. } = s.exited("a", 10, crash(), now) else {
        panic!()
    };
    assert_eq!(start, ["a", "b"]);
    assert_eq!(stop, ["c", "b"]);
    assert_eq!(s.exited("c", 12, crash(), now), Decision::Nothing);
    assert_eq!(s.get("c").unwrap().state, State::Stopped);
    assert!(s.due(now).is_empty());
    s.exited("b", 11, crash(), now);
    assert_eq!(start_in_turn(&mut s, now), ["a", "b"]);
}

#[test]
fn a_temporary_sibling_still_stopping_holds_its_group() {
    let (mut s, now) = sup(RestartStrategy::OneForAll, 3, Restart::Permanent);
    s.get_mut("c").unwrap().restart = Restart::Temporary;
    s.exited("a", 10, crash(), now);
    s.exited("b", 11, crash(), now);
    // "c" is stopped with the group and never comes back, but until it is down nobody starts.
    assert!(s.due(now).is_empty());
    s.exited("c", 12, crash(), now);
    assert_eq!(start_in_turn(&mut s, now), ["a", "b"]);
}

#[test]
fn rest_for_one_starts_once_the_rest_is_down() {
    let (mut s, now) = sup(RestartStrategy::RestForOne, 3, Restart::Permanent);
    s.exited("b", 11, crash(), now);
    assert!(s.due(now).is_empty());
    s.exited("c", 12, crash(), now);
    assert_eq!(start_in_turn(&mut s, now), ["b", "c"]);
    assert!(s.due(now).is_empty());
    // A later one_for_one-like restart of a single member is not held by an old group.
    let c = s.get("c").unwrap().pid.unwrap();
    s.exited("c", c, crash(), now);
    assert_eq!(s.due(now + Duration::from_secs(60)), ["c"]);
}

#[test]
fn too_many_restarts_give_up_instead_of_storming() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 2, Restart::Permanent);
    for pid in [20, 21] {
        assert!(matches!(
            s.exited("a", s.get("a").unwrap().pid.unwrap(), crash(), now),
            Decision::Restart { .. }
        ));
        s.restarted("a", pid, now);
    }
    let d = s.exited("a", 21, crash(), now);
    let Decision::GiveUp { stop, why } = d else {
        panic!("{d:?}")
    };
    assert_eq!(stop, ["c", "b"]);
    assert!(why.contains("more than 2 restarts"), "{why}");
    assert!(s.gave_up());
    assert_eq!(s.get("b").unwrap().state, State::Failed);
    assert_eq!(s.exited("b", 11, crash(), now), Decision::Nothing);
    // Restarts older than the period no longer count.
    let (mut s, now) = sup(RestartStrategy::OneForOne, 1, Restart::Permanent);
    s.exited("a", 10, crash(), now);
    s.restarted("a", 20, now);
    let later = now + Duration::from_secs(11);
    assert!(matches!(
        s.exited("a", 20, crash(), later),
        Decision::Restart { .. }
    ));
}

#[test]
fn restart_types_decide_by_how_the_child_ended() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 9, Restart::Transient);
    assert_eq!(s.exited("a", 10, normal(), now), Decision::Nothing);
    assert_eq!(s.get("a").unwrap().state, State::Stopped);
    assert!(matches!(
        s.exited("b", 11, crash(), now),
        Decision::Restart { .. }
    ));

    let (mut s, now) = sup(RestartStrategy::OneForAll, 9, Restart::Temporary);
    assert_eq!(s.exited("a", 10, crash(), now), Decision::Nothing);
    assert_eq!(s.get("a").unwrap().state, State::Exited);
    assert_eq!(s.get("b").unwrap().state, State::Running);
    assert!(s.is_free("a"));
    assert!(!s.is_free("b"));
}

#[test]
fn stops_on_request_and_stale_exits_restart_nothing() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 9, Restart::Permanent);
    s.stopping("a");
    assert_eq!(s.exited("a", 10, crash(), now), Decision::Nothing);
    assert_eq!(s.get("a").unwrap().state, State::Stopped);
    assert_eq!(s.exited("b", 99, crash(), now), Decision::Nothing);
    assert_eq!(
        s.stop_order(),
        [("c".to_string(), 12), ("b".to_string(), 11)]
    );
}

#[test]
fn the_kill_reason_is_the_exit_reason() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 9, Restart::Permanent);
    s.get_mut("a").unwrap().kill_reason = Some("memory limit".into());
    s.exited("a", 10, crash(), now);
    assert_eq!(
        s.get("a").unwrap().last_exit.as_deref(),
        Some("memory limit")
    );
}

#[test]
fn ended_children_are_kept_for_ps_up_to_a_bound_oldest_forgotten_first() {
    let (mut s, now) = sup(RestartStrategy::OneForOne, 9, Restart::Temporary);
    for n in 0..MAX_ENDED + 10 {
        let name = format!("t{n}");
        s.add(&name, SpawnOptions::default(), n as u32 + 100, now);
        let exit = Exit {
            normal: true,
            reason: "done".into(),
        };
        s.exited(&name, n as u32 + 100, exit, now);
    }
    let kept: Vec<&str> = s
        .ordered()
        .iter()
        .filter(|c| c.state == State::Stopped)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(kept.len(), MAX_ENDED);
    assert_eq!(kept.first(), Some(&"t10"), "the oldest went first");
    assert!(s.get(&format!("t{}", MAX_ENDED + 9)).is_some());
}
