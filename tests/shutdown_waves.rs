//! The node's shutdown order, black box: `axon up` of a chain a -> b -> c
//! (a connects to b, b to c, by the manifest) and many independent agents,
//! stopped with SIGTERM. The supervisor's log shows each wave it asked and
//! each exit it saw, in the order it acted: a dependent has exited before
//! what it depends on is asked; the independent agents are asked at once.

mod common;

use std::collections::BTreeSet;

use axon::testing::{process_alive, wait_until, Deployment};
use common::PATIENCE;

axon::test_host!(common::registry());

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// Independent agents besides the chain.
const INDEPENDENT: usize = 20;

/// a, b, c started first (so reverse start order would stop c first), then the independents.
fn manifest() -> String {
    let mut m = String::from(
        r#"
[[agent]]
name = "a"
kind = "echo"
  [[agent.connect]]
  to = "b.in"
  alias = "out"

[[agent]]
name = "b"
kind = "echo"
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  handler = "echo"
  [[agent.connect]]
  to = "c.in"
  alias = "out"

[[agent]]
name = "c"
kind = "echo"
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  handler = "echo"
"#,
    );
    for i in 0..INDEPENDENT {
        m.push_str(&format!(
            "\n[[agent]]\nname = \"e{i:02}\"\nkind = \"echo\"\n"
        ));
    }
    m
}

/// What the supervisor did after it began shutting down: `ask N` for a wave
/// it asked (N agents), the agent's name for an exit it saw.
fn acts(dep: &Deployment) -> Vec<String> {
    let events = dep.events();
    let start = events
        .iter()
        .rposition(|e| e.contains("name server shutting down"))
        .unwrap_or_else(|| panic!("no shutdown in {events:#?}"));
    events[start + 1..]
        .iter()
        .filter_map(|e| {
            if e.contains("asking agents to stop") {
                let n = field(e, "agents=")?;
                Some(format!("ask {n}"))
            } else if e.contains("agent exited") {
                field(e, "agent=")
            } else {
                None
            }
        })
        .collect()
}

/// The value after `key` in an event line.
fn field(line: &str, key: &str) -> Option<String> {
    let rest = line.split(key).nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

#[test]
fn dependents_stop_before_what_they_connect_to_and_the_rest_at_once() {
    let mut dep = Deployment::start(AXON, &manifest()).expect("deployment starts");
    let pids = dep.pids().unwrap();
    assert_eq!(pids.len(), INDEPENDENT + 3);
    dep.terminate().expect("axon up ends");
    let acts = acts(&dep);
    // Wave 1: a and every independent agent, asked at once; each exit before the next wave.
    let first = INDEPENDENT + 1;
    assert_eq!(acts.len(), 1 + first + 4, "{acts:#?}");
    assert_eq!(acts[0], format!("ask {first}"), "{acts:#?}");
    let exited: BTreeSet<&str> = acts[1..=first].iter().map(String::as_str).collect();
    let mut expected: BTreeSet<String> = (0..INDEPENDENT).map(|i| format!("e{i:02}")).collect();
    expected.insert("a".into());
    assert_eq!(
        exited,
        expected.iter().map(String::as_str).collect(),
        "{acts:#?}"
    );
    // Then b alone, once a is gone; then c, once b is gone.
    assert_eq!(acts[first + 1..], ["ask 1", "b", "ask 1", "c"], "{acts:#?}");
    let summary = format!("{} agents stopped gracefully, 0 killed", INDEPENDENT + 3);
    let said = dep.output().iter().any(|l| l.contains(&summary));
    assert!(said, "{summary:?} in {:#?}", dep.output());
    let gone = wait_until(PATIENCE, || {
        pids.values().flatten().all(|p| !process_alive(*p))
    });
    assert!(gone, "no agent process is left: {pids:?}");
}
