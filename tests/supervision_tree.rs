//! Supervision trees, black box: `[[group]]` manifests run by `axon up`,
//! agents SIGKILLed, escalation watched through `ps`, `groups` and the
//! supervisor's own lifecycle events (their order is the order it acted in).

mod common;

use std::collections::BTreeMap;

use axon::launch::Signal;
use axon::testing::{process_alive, wait_until, Deployment};
use axon::GroupStatus;
use common::PATIENCE;

axon::test_host!(common::registry());

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// a, then middle (b, then inner: c, d), then z. Each level allows one restart per minute.
const NESTED: &str = r#"
[supervisor]
intensity = 1
period = "60s"
backoff = "10ms"
max_backoff = "50ms"

[[agent]]
name = "a"
kind = "echo"

[[group]]
name = "middle"
intensity = 1
period = "60s"
  [[group.agent]]
  name = "b"
  kind = "echo"
  [[group.group]]
  name = "inner"
  intensity = 1
  period = "60s"
    [[group.group.agent]]
    name = "c"
    kind = "echo"
    [[group.group.agent]]
    name = "d"
    kind = "echo"

[[agent]]
name = "z"
kind = "echo"
"#;

fn up(manifest: &str) -> Deployment {
    Deployment::start(AXON, manifest).expect("deployment starts")
}

fn pids(dep: &Deployment) -> BTreeMap<String, Option<u32>> {
    dep.pids().expect("ps")
}

/// Waits until each of `names` runs in a new process (not the one in `before`).
fn wait_new_pids(dep: &Deployment, before: &BTreeMap<String, Option<u32>>, names: &[&str]) {
    for name in names {
        let old = before[*name].expect("it had a process");
        dep.wait_restarted(name, old, PATIENCE)
            .unwrap_or_else(|e| panic!("{name} restarted: {e}"));
    }
}

/// The group at `path` (`&[]`: the root).
fn group(dep: &Deployment, path: &[&str]) -> GroupStatus {
    let groups = dep.nameserver().groups().expect("groups");
    groups
        .into_iter()
        .find(|g| g.path == path)
        .unwrap_or_else(|| panic!("no group {path:?}"))
}

/// (restarts within the period, restarts as a whole) of the group at `path`.
fn usage(dep: &Deployment, path: &[&str]) -> (u32, u32) {
    let g = group(dep, path);
    (g.recent, g.restarts)
}

/// SIGKILLs `name` and waits until `restarted` all run in new processes.
fn kill_and_wait(
    dep: &Deployment,
    name: &str,
    restarted: &[&str],
) -> BTreeMap<String, Option<u32>> {
    let before = pids(dep);
    dep.kill(name, Signal::Kill).expect("kill");
    wait_new_pids(dep, &before, restarted);
    let after = pids(dep);
    for (agent, pid) in &before {
        if !restarted.contains(&agent.as_str()) {
            assert_eq!(after[agent], *pid, "{agent} keeps its process");
        }
    }
    after
}

/// The agents named by the events `what` (`agent spawned`, `agent exited`) after the first event containing `from`.
fn events_after(dep: &Deployment, from: &str, what: &str) -> Vec<String> {
    let events = dep.events();
    let start = events
        .iter()
        .rposition(|e| e.contains(from))
        .unwrap_or_else(|| panic!("no event {from:?} in {events:#?}"));
    events[start + 1..]
        .iter()
        .filter(|e| e.contains(what))
        .filter_map(|e| e.split("agent=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_inner_group_over_its_intensity_escalates_through_two_levels_to_a_clean_shutdown() {
    let mut dep = up(NESTED);
    // Within inner's intensity: c alone.
    kill_and_wait(&dep, "c", &["c"]);
    assert_eq!(usage(&dep, &["middle", "inner"]), (1, 0));
    // inner exceeds: middle restarts it as a unit (c and d), counted once at middle; b, a, z keep their pids.
    kill_and_wait(&dep, "c", &["c", "d"]);
    assert_eq!(usage(&dep, &["middle", "inner"]), (0, 1));
    assert_eq!(usage(&dep, &["middle"]), (1, 0));
    assert_eq!(usage(&dep, &[]), (0, 0));
    // Fresh inner: c alone again; then inner exceeds and middle exceeds: the root restarts middle.
    kill_and_wait(&dep, "c", &["c"]);
    kill_and_wait(&dep, "c", &["b", "c", "d"]);
    assert_eq!(usage(&dep, &["middle"]), (0, 1));
    assert_eq!(
        usage(&dep, &["middle", "inner"]),
        (0, 1),
        "inner starts afresh with middle"
    );
    assert_eq!(usage(&dep, &[]), (1, 0));
    let restarts: BTreeMap<String, u32> = dep
        .ps()
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.restarts))
        .collect();
    let expected = [("a", 0), ("b", 1), ("c", 4), ("d", 2), ("z", 0)];
    assert_eq!(restarts, expected.map(|(n, r)| (n.to_owned(), r)).into());
    // Up once more: middle exceeds again and the root, which used its one restart, gives up.
    kill_and_wait(&dep, "c", &["c"]);
    kill_and_wait(&dep, "c", &["c", "d"]);
    kill_and_wait(&dep, "c", &["c"]);
    let live = pids(&dep);
    dep.kill("c", Signal::Kill).unwrap();
    let status = dep.wait_exit(PATIENCE).expect("axon up ends");
    assert_eq!(status.code(), Some(1), "{status:?}");
    // A clean shutdown: the others, independent of each other, asked at once (one wave).
    let mut stopped = events_after(&dep, "]: supervisor gave up ", "agent exited");
    stopped.sort();
    assert_eq!(stopped, ["a", "b", "d", "z"]);
    let events = dep.events();
    let waves = events
        .iter()
        .filter(|e| e.contains("asking agents to stop"));
    assert_eq!(waves.count(), 1, "{events:#?}");
    let gave_up = dep
        .events()
        .into_iter()
        .find(|e| e.contains("]: supervisor gave up "));
    let why = gave_up.expect("the reason is logged");
    assert!(
        why.contains("last: group middle (more than 1 restarts within 60s; last: group inner"),
        "{why}"
    );
    let gone = wait_until(PATIENCE, || {
        live.values().flatten().all(|p| !process_alive(*p))
    });
    assert!(gone, "no agent process is left: {live:?}");
    let said = wait_until(PATIENCE, || {
        dep.events()
            .iter()
            .any(|e| e.contains("the supervisor gave up (restart intensity exceeded at the root"))
    });
    assert!(said, "axon up says why it ended");
}

/// first, then g (one_for_all: x, then h: h1, h2, then y), then last.
const ORDERED: &str = r#"
[supervisor]
backoff = "10ms"

[[agent]]
name = "first"
kind = "echo"

[[group]]
name = "g"
strategy = "one_for_all"
intensity = 5
  [[group.agent]]
  name = "x"
  kind = "echo"
  [[group.group]]
  name = "h"
  strategy = "rest_for_one"
    [[group.group.agent]]
    name = "h1"
    kind = "echo"
    [[group.group.agent]]
    name = "h2"
    kind = "echo"
  [[group.agent]]
  name = "y"
  kind = "echo"
  restart = "transient"

[[agent]]
name = "last"
kind = "echo"
"#;

#[test]
fn start_restart_and_shutdown_order_follow_the_tree() {
    let mut dep = up(ORDERED);
    let started = events_after(&dep, "name server serving", "agent spawned");
    assert_eq!(started, ["first", "x", "h1", "h2", "y", "last"]);
    // `ps --tree`: the shape, with strategies and usage.
    let out = dep.cli(&["ps", "--tree"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    let tree = String::from_utf8_lossy(&out.stdout);
    let shape: Vec<String> = tree.lines().map(mask_pid).collect();
    let expected = [
        "root  one_for_one  intensity 0/3 in 5s",
        "├── first  echo  running  pid N  restarts 0",
        "├── g  one_for_all  intensity 0/5 in 5s  restarted 0",
        "│   ├── x  echo  running  pid N  restarts 0",
        "│   ├── h  rest_for_one  intensity 0/3 in 5s  restarted 0",
        "│   │   ├── h1  echo  running  pid N  restarts 0",
        "│   │   └── h2  echo  running  pid N  restarts 0",
        "│   └── y  echo  running  pid N  restarts 0",
        "└── last  echo  running  pid N  restarts 0",
    ];
    assert_eq!(shape, expected, "{tree}");
    // `ps --json` carries each agent's group path.
    let out = dep.cli(&["ps", "--json"]).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<(String, serde_json::Value)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["name"].as_str().unwrap().to_owned(), a["group"].clone()))
        .collect();
    assert_eq!(paths[2], ("h1".to_owned(), serde_json::json!(["g", "h"])));
    assert_eq!(paths[0], ("first".to_owned(), serde_json::json!([])));
    // x fails: g (one_for_all) stops its other members one at a time in reverse start order, then starts all in start order.
    kill_and_wait(&dep, "x", &["x", "h1", "h2", "y"]);
    assert_eq!(
        events_after(&dep, "signal sent on request", "agent exited"),
        ["x", "y", "h2", "h1"]
    );
    assert_eq!(
        events_after(&dep, "signal sent on request", "agent spawned"),
        ["x", "h1", "h2", "y"]
    );
    assert_eq!(usage(&dep, &["g"]), (1, 0));
    assert_eq!(usage(&dep, &[]), (0, 0), "handled inside g");
    assert_eq!(
        usage(&dep, &["g", "h"]),
        (0, 1),
        "h was restarted as a whole by g"
    );
    // h1 fails: h (rest_for_one) restarts h1 and h2 only.
    kill_and_wait(&dep, "h1", &["h1", "h2"]);
    assert_eq!(usage(&dep, &["g", "h"]), (1, 1));
    // An agent spawned later into h takes its place in the tree, not at the end.
    let spawn = [
        "spawn",
        "late",
        "--kind",
        "echo",
        "--restart",
        "permanent",
        "--group",
    ];
    let out = dep.cli(&[&spawn[..], &["h"]].concat()).unwrap();
    assert!(out.status.success(), "{out:?}");
    let order: Vec<String> = dep.ps().unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(order, ["first", "x", "h1", "h2", "late", "y", "last"]);
    let out = dep.cli(&[&spawn[..], &["nowhere"]].concat()).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no supervision group \"nowhere\""),
        "{err}"
    );
    // The node stops its agents in waves, dependents first: these connect to none, so all at once.
    let live = pids(&dep);
    let out = dep.cli(&["shutdown"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    let status = dep.wait_exit(PATIENCE).expect("axon up ends");
    assert!(status.success(), "{status:?}");
    let mut stopped = events_after(&dep, "name server shutting down", "agent exited");
    stopped.sort();
    assert_eq!(stopped, ["first", "h1", "h2", "last", "late", "x", "y"]);
    let gone = wait_until(PATIENCE, || {
        live.values().flatten().all(|p| !process_alive(*p))
    });
    assert!(gone, "no agent process is left: {live:?}");
}

/// An agent line of `ps --tree` with its pid masked: `pid N`.
fn mask_pid(line: &str) -> String {
    match line.split_once("  pid ") {
        Some((head, rest)) => {
            let tail = rest.trim_start_matches(|c: char| c.is_ascii_digit());
            format!("{head}  pid N{tail}")
        }
        None => line.to_owned(),
    }
}

#[test]
fn the_tree_and_its_restart_counts_survive_a_supervisor_crash() {
    let dep = up(NESTED);
    kill_and_wait(&dep, "c", &["c"]);
    assert_eq!(usage(&dep, &["middle", "inner"]), (1, 0));
    let before = pids(&dep);
    let back = dep.kill_supervisor(PATIENCE).expect("a new supervisor");
    assert_eq!(back.supervisor.incarnation, 2);
    // Every agent adopted, with its group; inner's window is the one saved.
    let adopted = wait_until(PATIENCE, || {
        dep.ps()
            .is_ok_and(|ps| ps.iter().all(|s| s.state == "running"))
    });
    assert!(adopted, "{:?}", dep.ps());
    assert_eq!(pids(&dep), before, "adopted, not restarted");
    let c = dep.status("c").unwrap();
    assert_eq!(c.group, ["middle", "inner"]);
    assert_eq!(usage(&dep, &["middle", "inner"]), (1, 0));
    // So the next failure of c is one too many for inner: middle restarts it as a unit.
    kill_and_wait(&dep, "c", &["c", "d"]);
    assert_eq!(usage(&dep, &["middle", "inner"]), (0, 1));
    assert_eq!(usage(&dep, &["middle"]), (1, 0));
    assert_eq!(usage(&dep, &[]), (0, 0));
    dep.stop().expect("stops");
}
