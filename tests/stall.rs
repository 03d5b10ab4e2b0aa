//! A stalled name server: agents keep serving their data sockets meanwhile,
//! and none is killed as hung once it runs again.

mod common;

use std::collections::BTreeMap;

use axon::prelude::*;
use axon::testing::{self, Deployment};
use common::PATIENCE;

axon::test_host!(common::registry());

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// A ticker pushing every 10 ms to a counter, under a 100 ms heartbeat.
const MANIFEST: &str = r#"
[supervisor]
heartbeat = "100ms"

[[agent]]
name = "ticker"
kind = "ticker"
attributes = { period_ms = 10 }
  [[agent.bind]]
  alias = "out"
  socket = "PUSH"

[[agent]]
name = "counter"
kind = "counter"
  [[agent.connect]]
  to = "ticker.out"
  alias = "in"
  handler = "count"
"#;

fn counted(counter: &mut Proxy) -> u64 {
    counter
        .get_attr::<BTreeMap<String, u64>>("count")
        .ok()
        .and_then(|c| c.get("in").copied())
        .unwrap_or(0)
}

/// Waits until the counter has counted `more` ticks past what it had.
fn counts_on(counter: &mut Proxy, more: u64) -> bool {
    let from = counted(counter);
    testing::wait_until(PATIENCE, || counted(counter) >= from + more)
}

#[test]
fn agents_serve_through_a_stopped_name_server_and_none_is_killed_as_hung_after() {
    let dep = Deployment::start(AXON, MANIFEST).expect("deployment starts");
    let before: BTreeMap<String, Option<u32>> = dep
        .ps()
        .unwrap()
        .into_iter()
        .map(|s| (s.name, s.pid))
        .collect();
    // The proxy talks to the agent itself: it works without the name server.
    let mut counter = dep.proxy("counter").unwrap();
    assert!(counts_on(&mut counter, 5), "traffic flows before the stall");

    let stopped = common::Frozen::new(dep.up_pid().expect("axon up runs"));
    // 100 ticks of 10 ms: ten heartbeat periods and more with the name server stopped.
    assert!(
        counts_on(&mut counter, 100),
        "the data path served while the name server was stopped"
    );
    drop(stopped);

    // As long again with the name server running: time for it to kill anything it thought hung.
    assert!(testing::wait_until(PATIENCE, || dep.ps().is_ok()));
    assert!(counts_on(&mut counter, 100));
    let after = dep.ps().unwrap();
    for status in &after {
        assert_eq!(status.state, "running", "{status:?}");
        assert_eq!(status.restarts, 0, "{status:?}");
        assert_eq!(Some(&status.pid), before.get(&status.name), "{status:?}");
    }
    dep.stop().unwrap();
}
