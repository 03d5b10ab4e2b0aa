//! Restarts of agents spawned from code with a policy: what a restart
//! restores (the replayed journal), when it happens (backoff), and how a
//! group restart stops a sibling that does not stop (ACCEPTANCE P1-P3).
//!
//! Times are asserted one way only: a restart comes no earlier than the
//! rules say. How much later depends on the machine's load.

mod common;

use std::time::{Duration, Instant};

use axon::launch::Signal;
use axon::prelude::*;
use axon::{AgentStatus, NodeOptions, RestartStrategy, SupervisorSpec};
use common::{await_subscription, permanent, texts, Report};

axon::test_host!(common::registry());

/// A node whose supervisor never gives up in these tests and does not take
/// a loaded machine's slow agent for a hung one.
fn node(spec: SupervisorSpec) -> NameServer {
    let supervisor = SupervisorSpec {
        intensity: 100,
        period: Duration::from_secs(600),
        heartbeat: Duration::from_secs(5),
        ..spec
    };
    axon::testing::node_with(NodeOptions {
        supervisor,
        ..NodeOptions::default()
    })
    .unwrap()
}

/// Waits until `name` runs in a process other than `old`; returns its status and
/// the latest time its new process can have started.
fn restarted(ns: &NameServer, name: &str, old: u32) -> (AgentStatus, Instant) {
    common::eventually(&format!("{name} restarted"), || {
        let ps = ns.ps().unwrap();
        // `uptime_ms` was measured before this moment, and rounded down.
        let now = Instant::now();
        let back = ps
            .into_iter()
            .find(|s| s.name == name && s.state == "running" && s.pid.is_some_and(|p| p != old));
        back.map(|s| {
            let started = now - Duration::from_millis(s.uptime_ms);
            (s, started)
        })
    })
}

/// Publishes 1 on "odd", 2 on "even", 3 on "extra", 4 on "dropped", then "end" on "extra";
/// returns `alias:text` of what the subscriber handled before the end.
fn heard(publisher: &mut Proxy, report: &Report) -> Vec<String> {
    for (topic, n) in [
        ("odd", "1"),
        ("even", "2"),
        ("extra", "3"),
        ("dropped", "4"),
    ] {
        publisher.publish("pub", topic, n).unwrap();
    }
    publisher.publish("pub", "extra", "end").unwrap();
    report
        .until("end")
        .iter()
        .map(|r| format!("{}:{}", r.alias, r.text()))
        .collect()
}

#[test]
fn a_restart_replays_subscriptions_unsubscriptions_handlers_and_closes() {
    let ns = node(SupervisorSpec::default());
    let report = Report::new();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let addr = publisher.bind(SocketKind::Pub, "pub").unwrap();
    let mut s = permanent(&ns, "s");
    report.attach(&mut s);
    // Topics given with the connect, and one given later.
    let topics = [("odd", "collect"), ("even", "collect")];
    s.connect_topics(&addr, "sub", &topics).unwrap();
    s.unsubscribe("sub", "odd").unwrap();
    let tagged = serde_json::json!({"alias": "sub", "topic": "even", "handler": "collect_tagged"});
    let _: Value = s.call("set_handler", tagged).unwrap();
    s.subscribe("sub", "dropped", Some("collect")).unwrap();
    s.unsubscribe("sub", "dropped").unwrap();
    s.bind(SocketKind::Push, "closed").unwrap();
    s.close("closed").unwrap();
    // Last, so that once it is heard every earlier (un)subscription is in effect.
    s.subscribe("sub", "extra", Some("collect")).unwrap();
    await_subscription(&mut publisher, "pub", "extra", &report);
    let expected = ["tagged:2", "sub:3"];
    assert_eq!(heard(&mut publisher, &report), expected);

    let old = ns.signal("s", Signal::Kill).unwrap();
    let (status, _) = restarted(&ns, "s", old);
    assert_eq!(status.restarts, 1, "{status:?}");
    // The new process subscribes in the journal's order, "extra" last.
    await_subscription(&mut publisher, "pub", "extra", &report);
    assert_eq!(
        heard(&mut publisher, &report),
        expected,
        "odd and dropped stay unsubscribed, even keeps its handler"
    );
    let mut s = ns.proxy("s").unwrap();
    assert_eq!(
        s.aliases().unwrap(),
        ["report", "sub"],
        "closed stays closed"
    );
    ns.shutdown().unwrap();
}

#[test]
fn restarts_within_the_period_back_off_doubling() {
    let backoff = Duration::from_millis(400);
    let ns = node(SupervisorSpec {
        backoff,
        max_backoff: Duration::from_secs(60),
        ..SupervisorSpec::default()
    });
    permanent(&ns, "b");
    // The first restart within the period is immediate, the second waits the
    // backoff, the third twice that.
    let mut waits = Vec::new();
    for n in 1..=3 {
        let killed = Instant::now();
        let old = ns.signal("b", Signal::Kill).unwrap();
        let (status, started) = restarted(&ns, "b", old);
        assert_eq!(status.restarts, n, "{status:?}");
        assert!(
            status
                .last_exit
                .as_deref()
                .unwrap_or("")
                .contains("SIGKILL"),
            "{status:?}"
        );
        waits.push(started.saturating_duration_since(killed));
    }
    assert!(waits[1] >= backoff, "second restart after {waits:?}");
    assert!(waits[2] >= 2 * backoff, "third restart after {waits:?}");
    ns.shutdown().unwrap();
}

#[test]
fn one_for_all_kills_a_sibling_that_does_not_stop_after_the_grace() {
    let ns = node(SupervisorSpec {
        strategy: RestartStrategy::OneForAll,
        // A hung sibling must be stopped by the group restart, not found hung first.
        heartbeat: Duration::from_secs(60),
        ..SupervisorSpec::default()
    });
    let report = Report::new();
    let names = ["first", "stuck", "calm"];
    for name in names {
        permanent(&ns, name);
    }
    // "stuck" stays in a handler for an hour: it never hears the request to stop.
    let mut stuck = ns.proxy("stuck").unwrap();
    report.attach(&mut stuck);
    stuck
        .oneway(
            "execute",
            serde_json::json!({"handler": "stuck", "args": "hang"}),
        )
        .unwrap();
    assert_eq!(texts(&report.take(1)), ["hang"]);
    let pids: Vec<u32> = names.iter().map(|n| ns.info(n).unwrap().pid).collect();

    let killed = Instant::now();
    ns.signal("first", Signal::Kill).unwrap();
    for (name, old) in names.iter().zip(&pids) {
        let (status, started) = restarted(&ns, name, *old);
        assert_eq!(status.restarts, 1, "{status:?}");
        assert!(
            !axon::testing::process_alive(*old),
            "{name}: {old} still runs"
        );
        let why = status.last_exit.unwrap_or_default();
        match *name {
            "calm" => assert!(!why.contains("SIGKILL"), "calm stopped when asked: {why}"),
            _ => assert!(why.contains("SIGKILL"), "{name}: {why}"),
        }
        if *name == "stuck" {
            // Killed only once the 2 s grace was over, so not started again before.
            let waited = started.saturating_duration_since(killed);
            assert!(
                waited >= Duration::from_secs(2),
                "stuck back after {waited:?}"
            );
        }
    }
    ns.shutdown().unwrap();
}
