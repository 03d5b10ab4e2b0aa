//! Name server and spawning: ACCEPTANCE R1, R2, R4, R5, R7.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use axon::prelude::*;
use axon::testing;

axon::test_host!(common::registry());

#[test]
fn registry_lists_exactly_the_spawned_agents() {
    let ns = testing::node().unwrap();
    assert!(ns.agents().unwrap().is_empty());
    ns.run_agent("a0").unwrap();
    ns.run_agent("a1").unwrap();
    let names: BTreeSet<String> = ns.agents().unwrap().into_iter().collect();
    assert_eq!(names, BTreeSet::from(["a0".to_string(), "a1".to_string()]));
    ns.shutdown().unwrap();
}

#[test]
fn unnamed_spawns_get_distinct_names() {
    let ns = testing::node().unwrap();
    let mut names = BTreeSet::new();
    for _ in 0..10 {
        let proxy = ns.spawn(SpawnOptions::default()).unwrap();
        names.insert(proxy.name().to_owned());
    }
    assert_eq!(names.len(), 10);
    let listed: BTreeSet<String> = ns.agents().unwrap().into_iter().collect();
    assert_eq!(listed, names);
    ns.shutdown().unwrap();
}

#[test]
fn a_taken_name_is_refused_and_the_first_agent_is_untouched() {
    let ns = testing::node().unwrap();
    let mut first = ns.run_agent("x").unwrap();
    let pid = ns.info("x").unwrap().pid;
    let err = ns.run_agent("x").unwrap_err();
    assert_eq!(common::remote_kind(&err), ErrorKind::NameTaken, "{err}");
    assert!(err.to_string().contains("name already registered"), "{err}");
    first.ping().unwrap();
    assert_eq!(ns.info("x").unwrap().pid, pid);
    assert_eq!(ns.agents().unwrap(), vec!["x".to_string()]);
    ns.shutdown().unwrap();
}

#[test]
fn spawn_returns_an_agent_that_answers_ping() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("pinged").unwrap();
    // No retry: the agent must already be serving when spawn returns.
    a.set_timeout(common::PATIENCE);
    let pong: String = a.call("ping", ()).unwrap();
    assert_eq!(pong, "pong");
    assert!(a.is_running().unwrap());
    ns.shutdown().unwrap();
}

#[test]
fn a_bound_address_is_known_to_the_name_server() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("A").unwrap();
    let x = a.bind(SocketKind::Pub, "foo").unwrap();
    assert_eq!(ns.addr("A", "foo").unwrap(), x);
    assert_eq!(a.addr("foo").unwrap(), x);
    // Through a second proxy obtained by name.
    let mut again = ns.proxy("A").unwrap();
    assert_eq!(again.addr("foo").unwrap(), x);
    ns.shutdown().unwrap();
}

#[test]
fn no_name_server_is_a_timeout_not_a_hang() {
    let dir = std::env::temp_dir().join(format!("axon-r7-{}", std::process::id()));
    let endpoint = format!("ipc://{}/nobody.ctl", dir.display());
    let timeout = Duration::from_millis(500);
    let started = Instant::now();
    // Returning at all is "not a hang"; how soon after the timeout depends on the machine's load.
    let err = NameServer::connect(&endpoint, timeout).unwrap_err();
    assert!(
        matches!(err, axon::Error::Timeout(t, _) if t == timeout),
        "{err}"
    );
    assert!(started.elapsed() >= timeout);
}

#[test]
fn killed_agents_leave_the_registry() {
    use axon::launch::{signal, Signal};
    let ns = testing::node().unwrap();
    // A child of the name server: its exit is seen at once.
    ns.run_agent("child").unwrap();
    signal(ns.info("child").unwrap().pid, Signal::Kill).unwrap();
    assert!(testing::wait_until(common::PATIENCE, || !ns
        .agents()
        .unwrap()
        .contains(&"child".to_string())));

    // An agent started by someone else: it leaves when its lease runs out.
    let tmp = common::TempDir::new("r6");
    let lease = Duration::from_secs(1);
    let defaults = axon::Defaults {
        lease,
        ..Default::default()
    };
    let outsider = common::outsider(&ns, "outsider", defaults, &tmp);
    let listed = || ns.agents().unwrap().contains(&"outsider".to_string());
    // Renewals keep it registered past three lease periods: watched for four, it never leaves.
    let watched = Instant::now();
    while watched.elapsed() < lease * 4 {
        assert!(listed(), "unregistered while renewing");
        std::thread::sleep(lease / 10);
    }
    drop(outsider);
    assert!(
        testing::wait_until(common::PATIENCE, || !listed()),
        "still registered after its process was killed"
    );
    ns.shutdown().unwrap();
}
