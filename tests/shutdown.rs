//! Shutdown and cleanup: ACCEPTANCE S1, S2.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axon::prelude::*;
use axon::testing::{self, process_alive, wait_until};
use common::PATIENCE;

axon::test_host!(common::registry());

/// The directory holding the node's ipc files (where its control socket lives).
fn runtime_dir(ns: &NameServer) -> PathBuf {
    let endpoint = ns.address().to_owned();
    let path = axon::net::ipc_path(&endpoint)
        .expect("ipc name server")
        .to_owned();
    path.parent().unwrap().to_owned()
}

#[test]
fn shutdown_stops_every_agent_and_kills_the_stuck_ones_in_time() {
    let ns = testing::node().unwrap();
    let mut pids = Vec::new();
    for name in ["calm", "busy"] {
        let mut a = ns.run_agent(name).unwrap();
        a.bind(SocketKind::Push, "out").unwrap();
        pids.push(ns.info(name).unwrap().pid);
    }
    // Make "busy" stuck in a handler for an hour.
    let report = common::Report::new();
    let mut busy = ns.proxy("busy").unwrap();
    report.attach(&mut busy);
    let pull = busy.bind_handler(SocketKind::Pull, "in", "stuck").unwrap();
    let mut calm = ns.proxy("calm").unwrap();
    calm.connect(&pull, "to-busy", None).unwrap();
    calm.send("to-busy", "hang").unwrap();
    assert_eq!(report.take(1)[0].alias, "stuck");

    let dir = runtime_dir(&ns);
    let grace = Duration::from_secs(1);
    let started = Instant::now();
    ns.shutdown_timeout(grace).unwrap();
    // The stuck agent held the shutdown for the whole grace (how much longer it took
    // depends on the machine's load, so no upper bound is asserted).
    let took = started.elapsed();
    assert!(took >= grace, "shutdown took {took:?}");
    for pid in pids {
        assert!(
            wait_until(PATIENCE, || !process_alive(pid)),
            "agent {pid} still alive"
        );
    }
    assert!(!dir.exists(), "runtime dir {dir:?} left behind");
}

#[test]
fn nothing_is_left_after_kill_crash_and_shutdown() {
    let ns = testing::node().unwrap();
    let dir = runtime_dir(&ns);
    let mut victims = Vec::new();
    for name in ["killed", "crashed", "stopped"] {
        let mut a = ns.run_agent(name).unwrap();
        a.bind(SocketKind::Push, "out").unwrap();
        victims.push((name, ns.info(name).unwrap().pid, a));
    }
    // kill: the agent exits at once.
    victims[0].2.kill().unwrap();
    // crash: a handler panics, the process ends.
    let pull = victims[1]
        .2
        .bind_handler(SocketKind::Pull, "in", "panic")
        .unwrap();
    victims[2].2.connect(&pull, "boom", None).unwrap();
    victims[2].2.send("boom", "now").unwrap();
    // shutdown: graceful.
    victims[2].2.shutdown().unwrap();
    for (name, pid, _) in &victims {
        assert!(
            wait_until(PATIENCE, || !process_alive(*pid)),
            "{name} ({pid}) still alive"
        );
    }
    assert!(
        wait_until(PATIENCE, || ns.agents().unwrap().is_empty()),
        "{:?}",
        ns.agents()
    );
    // The gracefully stopped agent removed its own files; the others' go with the node.
    assert!(!dir.join("stopped.ctl").exists());
    ns.shutdown().unwrap();
    assert!(!dir.exists(), "runtime dir {dir:?} left behind");
}

#[test]
fn dropping_the_handle_cleans_up_even_on_failure() {
    let (pid, dir) = {
        let ns = testing::node().unwrap();
        ns.run_agent("orphan").unwrap();
        (ns.info("orphan").unwrap().pid, runtime_dir(&ns))
        // `ns` drops here without shutdown, as it would when a test panics.
    };
    assert!(
        wait_until(PATIENCE, || !process_alive(pid)),
        "agent outlived its node"
    );
    assert!(!dir.exists(), "runtime dir {dir:?} left behind");
}

#[test]
fn agents_leave_when_their_name_server_is_killed_and_not_replaced() {
    use axon::launch::{signal, Signal};
    let options = axon::NodeOptions {
        supervisor: axon::SupervisorSpec {
            orphan_grace: Duration::from_secs(2),
            ..axon::SupervisorSpec::default()
        },
        ..axon::NodeOptions::default()
    };
    let ns = testing::node_with(options).unwrap();
    let dir = runtime_dir(&ns);
    ns.run_agent("plain").unwrap();
    ns.spawn(
        SpawnOptions::default()
            .name("supervised")
            .restart(axon::Restart::Permanent),
    )
    .unwrap();
    let pids: Vec<u32> = ["plain", "supervised"]
        .iter()
        .map(|name| ns.info(name).unwrap().pid)
        .collect();
    // No shutdown, no chance to clean up. The agents do not die with it (a
    // supervisor crash is not an agent crash); with no supervisor back within
    // their orphan grace, they leave by themselves.
    signal(ns.pid().unwrap(), Signal::Kill).unwrap();
    for pid in pids {
        assert!(
            wait_until(PATIENCE, || !process_alive(pid)),
            "agent {pid} outlived its name server's grace"
        );
    }
    // Nobody answers the shutdown; the handle that started the node still removes its files.
    let err = ns.shutdown_timeout(Duration::ZERO).unwrap_err();
    assert!(matches!(err, axon::Error::Timeout(..)), "{err}");
    assert!(!dir.exists(), "runtime dir {dir:?} left behind");
}
