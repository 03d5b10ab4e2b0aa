//! A supervisor crash is not an agent crash: the agents serve on, a new
//! supervisor (started by `axon up`'s heart, or `NameServer::revive`) adopts
//! them and restarts, by policy, those that died meanwhile; without one, the
//! agents leave by themselves once their orphan grace is over.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use axon::launch::{signal, Signal};
use axon::prelude::*;
use axon::testing::{self, process_alive, wait_until, Deployment};
use axon::{NodeOptions, Restart, SupervisorSpec};
use common::{eventually, PATIENCE};

axon::test_host!(common::registry());

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// A PUSH -> PULL stream between two agents, and a REP agent.
const STREAM: &str = r#"
[supervisor]
heartbeat = "200ms"
intensity = 10

[[agent]]
name = "ticker"
kind = "ticker"
restart = "permanent"
attributes = { period_ms = 2 }
  [[agent.bind]]
  alias = "out"
  socket = "PUSH"

[[agent]]
name = "counter"
kind = "counter"
restart = "permanent"
  [[agent.connect]]
  to = "ticker.out"
  alias = "in"
  handler = "count"

[[agent]]
name = "echo"
kind = "echo"
restart = "transient"
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  handler = "echo"
"#;

fn pids(dep: &Deployment) -> BTreeMap<String, Option<u32>> {
    dep.pids().expect("ps")
}

fn total(dep: &Deployment) -> u64 {
    dep.proxy("counter")
        .and_then(|mut c| c.get_attr::<u64>("total"))
        .unwrap_or(0)
}

#[test]
fn a_supervisor_killed_under_axon_up_is_replaced_and_adopts_its_agents() {
    let dep = Deployment::start(AXON, STREAM).expect("deployment starts");
    assert!(wait_until(PATIENCE, || total(&dep) > 0), "ticks flow");
    let before = pids(&dep);
    let first = dep.node_status().unwrap().supervisor;
    assert_eq!(first.incarnation, 1);
    assert!(first.heart);

    let mut flowing = total(&dep);
    let back = dep.kill_supervisor(PATIENCE).expect("a new supervisor");
    assert!(!process_alive(first.pid));
    assert_eq!(back.supervisor.incarnation, 2);
    assert_eq!(back.endpoint, dep.endpoint());

    // Adopted: the same processes, running, never restarted.
    let adopted = wait_until(PATIENCE, || {
        let ps = dep.ps().unwrap_or_default();
        ps.len() == 3
            && ps.iter().all(|s| {
                s.state == "running" && s.restarts == 0 && before.get(&s.name) == Some(&s.pid)
            })
    });
    assert!(adopted, "agents not adopted as they were: {:?}", dep.ps());
    assert_eq!(dep.node_status().unwrap().supervisor.adopted, 3);
    // The stream never stopped, and nothing sent was lost.
    assert!(wait_until(PATIENCE, || total(&dep) > flowing));
    flowing = total(&dep);
    let mut ticker = dep.proxy("ticker").unwrap();
    ticker.close("out").unwrap();
    let sent: u64 = ticker.get_attr("ticks").unwrap();
    assert!(sent >= flowing);
    let received = eventually("the counter to receive every tick", || {
        let t = total(&dep);
        (t >= sent).then_some(t)
    });
    assert_eq!(received, sent, "messages lost or duplicated");

    // Watched from now on: a crash of an adopted agent is seen and restarted by policy.
    let echo = before["echo"].unwrap();
    dep.kill("echo", Signal::Kill).unwrap();
    let restarted = dep.wait_restarted("echo", echo, PATIENCE).unwrap();
    assert_eq!(restarted.restarts, 1);
    // Heartbeats resumed: an adopted agent that hangs is killed and restarted.
    let counter = before["counter"].unwrap();
    dep.kill("counter", Signal::Stop).unwrap();
    let restarted = dep.wait_restarted("counter", counter, PATIENCE).unwrap();
    assert!(
        restarted
            .last_exit
            .as_deref()
            .unwrap_or("")
            .contains("hung"),
        "{restarted:?}"
    );

    let out = dep.cli(&["status", "--json"]).unwrap();
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["supervisor"]["pid"], back.supervisor.pid);
    assert_eq!(status["agents"], 3);
    assert!(status["supervisor"]["since_ms"].as_u64().unwrap() > 0);

    let runtime_dir = std::path::PathBuf::from(back.runtime_dir);
    let survivors: Vec<u32> = pids(&dep).into_values().flatten().collect();
    assert!(dep.stop().unwrap().success());
    for pid in survivors {
        assert!(wait_until(PATIENCE, || !process_alive(pid)), "{pid} left");
    }
    assert!(!runtime_dir.exists(), "runtime dir left behind");
}

fn heart_node(grace: Duration) -> NameServer {
    let options = NodeOptions {
        heart: true,
        supervisor: SupervisorSpec {
            heartbeat: Duration::from_millis(200),
            orphan_grace: grace,
            ..SupervisorSpec::default()
        },
        ..NodeOptions::default()
    };
    testing::node_with(options).unwrap()
}

#[test]
fn agents_that_die_while_no_supervisor_runs_come_back_with_their_configuration() {
    let mut ns = heart_node(Duration::from_secs(30));
    let worker = SpawnOptions::default()
        .name("worker")
        .restart(Restart::Permanent);
    let mut proxy = ns.spawn(worker).unwrap();
    let bound = proxy.bind(SocketKind::Push, "main").unwrap();
    proxy.set_attr("colour", "blue").unwrap();
    let bystander = SpawnOptions::default()
        .name("bystander")
        .restart(Restart::Permanent);
    ns.spawn(bystander).unwrap();
    let (worker, bystander) = (ns.info("worker").unwrap(), ns.info("bystander").unwrap());

    signal(ns.pid().unwrap(), Signal::Kill).unwrap();
    assert!(wait_until(PATIENCE, || ns.try_wait().unwrap().is_some()));
    // While no supervisor runs, the agents serve on; one of them dies.
    proxy.ping().unwrap();
    signal(worker.pid, Signal::Kill).unwrap();
    assert!(wait_until(PATIENCE, || !process_alive(worker.pid)));

    ns.revive().unwrap();
    let status = ns.status().unwrap();
    assert_eq!(status.supervisor.incarnation, 2);
    let back = eventually("worker restarted by the new supervisor", || {
        let s = ns.ps().ok()?.into_iter().find(|s| s.name == "worker")?;
        (s.state == "running" && s.pid != Some(worker.pid)).then_some(s)
    });
    assert_eq!(back.restarts, 1);
    // Its journal came through the crash: same bind address, same attribute.
    let mut again = ns.proxy("worker").unwrap();
    assert_eq!(again.get_attr::<String>("colour").unwrap(), "blue");
    assert_eq!(ns.addr("worker", "main").unwrap().endpoint, bound.endpoint);
    // The bystander was adopted, not restarted.
    assert_eq!(ns.info("bystander").unwrap().pid, bystander.pid);
    ns.shutdown().unwrap();
    assert!(wait_until(PATIENCE, || !process_alive(bystander.pid)));
}

#[test]
fn agents_leave_by_themselves_when_no_supervisor_comes_back() {
    let mut ns = heart_node(Duration::from_secs(3));
    let mut a = ns.run_agent("a").unwrap();
    let pid = ns.info("a").unwrap().pid;
    let dir = ns.runtime_dir().unwrap().to_path_buf();
    signal(ns.pid().unwrap(), Signal::Kill).unwrap();
    assert!(wait_until(PATIENCE, || ns.try_wait().unwrap().is_some()));
    // Still serving during the grace...
    a.ping().unwrap();
    // ... then gone, gracefully; the last agent of the node removes its runtime directory.
    assert!(
        wait_until(PATIENCE, || !process_alive(pid)),
        "orphan stayed"
    );
    assert!(
        wait_until(PATIENCE, || !dir.exists()),
        "runtime dir {dir:?} left behind"
    );
}

#[test]
fn a_new_axon_up_takes_over_a_node_whose_control_plane_died_at_once() {
    let base = common::TempDir::new("takeover-node-dir");
    let node_dir = base.0.join("node");
    let first = Deployment::start_in(AXON, STREAM, &node_dir).expect("deployment starts");
    assert!(wait_until(PATIENCE, || total(&first) > 0), "ticks flow");
    let before = pids(&first);
    // `axon up` and its supervisor die in the same instant (up frozen first, so that
    // neither its heart nor the supervisor's graceful stop can run).
    let up = first.up_pid().unwrap();
    let supervisor = first.node_status().unwrap().supervisor.pid;
    let frozen = common::Frozen::new(up);
    signal(supervisor, Signal::Kill).unwrap();
    signal(up, Signal::Kill).unwrap();
    drop(frozen);
    assert!(wait_until(PATIENCE, || !process_alive(up)));
    drop(first);
    // The agents serve on; a new `axon up` on the same node directory adopts them.
    let second = Deployment::start_in(AXON, STREAM, &node_dir).expect("takes over");
    let status = second.node_status().unwrap();
    assert_eq!(status.supervisor.incarnation, 2);
    let adopted = wait_until(PATIENCE, || {
        let ps = second.ps().unwrap_or_default();
        ps.len() == 3
            && ps.iter().all(|s| {
                s.state == "running" && s.restarts == 0 && before.get(&s.name) == Some(&s.pid)
            })
    });
    assert!(adopted, "not adopted as they were: {:?}", second.ps());
    let flowing = total(&second);
    assert!(wait_until(PATIENCE, || total(&second) > flowing));
    assert!(second.stop().unwrap().success());
    for pid in before.into_values().flatten() {
        assert!(wait_until(PATIENCE, || !process_alive(pid)), "{pid} left");
    }
    assert!(!node_dir.exists(), "node dir left behind");
}
