//! Topic dispatch and PUB framing among axon agents: osBrain's one-frame
//! layout understood by every SUB, every matching handler run with
//! `dispatch = "all"`, both kept across a restart, and refused where they
//! make no sense. tests/osbrain.rs runs the same against osBrain itself.

mod common;

use std::time::Duration;

use axon::launch::Signal;
use axon::prelude::*;
use axon::{NodeOptions, SupervisorSpec};
use common::{await_subscription, eventually, permanent, Record, Report, PATIENCE};

axon::test_host!(common::registry());

fn framed(alias: &str, serializer: Serializer) -> BindOptions {
    BindOptions {
        serializer: Some(serializer),
        framing: Some(Framing::Osbrain),
        ..BindOptions::alias(alias)
    }
}

fn summary(records: Vec<Record>) -> Vec<(String, Option<String>, Value)> {
    records
        .into_iter()
        .map(|r| {
            let topic = r.topic.map(|t| String::from_utf8_lossy(&t).into_owned());
            (r.alias, topic, r.value)
        })
        .collect()
}

#[test]
fn an_axon_sub_takes_osbrain_framing_in_every_serializer() {
    let ns = axon::testing::node().unwrap();
    let report = Report::new();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let mut subscriber = ns.run_agent("subscriber").unwrap();
    report.attach(&mut subscriber);
    for (alias, serializer) in [("cbor", Serializer::Cbor), ("json", Serializer::Json)] {
        let at = publisher
            .bind_with(SocketKind::Pub, framed(alias, serializer))
            .unwrap();
        subscriber
            .connect_topics(&at, alias, &[("t", "collect")])
            .unwrap();
        await_subscription(&mut publisher, alias, "t", &report);
        publisher.publish(alias, "t", "one").unwrap();
        // CBOR's empty array is the byte 0x80 itself: only the first one after the topic separates.
        publisher.publish(alias, "tea", &Vec::<u8>::new()).unwrap();
        publisher.publish(alias, "x", "not subscribed").unwrap();
        publisher.publish(alias, "t", &[1, 2]).unwrap();
        let numbers = Value::Array(vec![Value::Integer(1.into()), Value::Integer(2.into())]);
        let expected = vec![
            (alias.into(), Some("t".into()), Value::Text("one".into())),
            (alias.into(), Some("tea".into()), Value::Array(Vec::new())),
            (alias.into(), Some("t".into()), numbers),
        ];
        assert_eq!(summary(report.take(3)), expected, "{alias}");
    }
    // Raw: no separator; the frame is the payload and the topic cannot be told apart.
    let at = publisher
        .bind_with(SocketKind::Pub, framed("raw", Serializer::Raw))
        .unwrap();
    subscriber
        .connect_topics(&at, "raw", &[("t", "collect")])
        .unwrap();
    eventually("the raw subscription", || {
        publisher.publish("raw", "t", "probe").unwrap();
        report.next(Duration::from_millis(50))
    });
    publisher.publish("raw", "t", "end").unwrap();
    while report.take(1)[0].text() != "tend" {}
    publisher.publish("raw", "tea", "!").unwrap();
    let expected = vec![("raw".into(), None, Value::Bytes(b"tea!".to_vec()))];
    assert_eq!(summary(report.take(1)), expected);
    assert!(report.is_quiet(Duration::from_millis(100)));
    ns.shutdown().unwrap();
}

/// A node with a publisher bound at "pub" and agent `subscriber` reporting to the test.
fn publisher_and(subscriber: &str) -> (NameServer, Report, Proxy, Address, Proxy) {
    let ns = axon::testing::node().unwrap();
    let report = Report::new();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let at = publisher.bind(SocketKind::Pub, "pub").unwrap();
    let mut agent = ns.run_agent(subscriber).unwrap();
    report.attach(&mut agent);
    (ns, report, publisher, at, agent)
}

#[test]
fn dispatch_all_runs_every_matching_handler_and_counts_each_failure() {
    let (ns, report, mut publisher, at, mut all) = publisher_and("all");
    let topics = [("", "fail"), ("te", "collect_tagged"), ("t", "collect")];
    let opts = ConnectOptions {
        dispatch: Some(Dispatch::All),
        ..ConnectOptions::alias("sub").topics(&topics)
    };
    all.connect_with(&at, opts).unwrap();
    await_subscription(&mut publisher, "pub", "t", &report);
    let before = all.stats().unwrap();
    publisher.publish("pub", "x", "a").unwrap();
    publisher.publish("pub", "t", "b").unwrap();
    publisher.publish("pub", "tea", "c").unwrap();
    // Shortest prefix first; "fail" fails on every message and the others still run.
    let expected = [("sub", "b"), ("sub", "c"), ("tagged", "c")];
    let got: Vec<(String, String)> = report
        .take(3)
        .into_iter()
        .map(|r| (r.alias.clone(), r.text()))
        .collect();
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, t)| (a.to_string(), t.to_string()))
        .collect();
    assert_eq!(got, expected);
    let after = eventually("three failures counted", || {
        let s = all.stats().unwrap();
        (s.handler_errors >= before.handler_errors + 3).then_some(s)
    });
    assert_eq!(after.handler_errors - before.handler_errors, 3);
    assert_eq!(
        after.received - before.received,
        6,
        "every handler call counts"
    );
    assert!(report.is_quiet(Duration::from_millis(100)));
    ns.shutdown().unwrap();
}

#[test]
fn the_default_dispatch_runs_the_longest_matching_handler_only() {
    let (ns, report, mut publisher, at, mut one) = publisher_and("one");
    let topics = [("te", "collect_tagged"), ("t", "collect")];
    one.connect_topics(&at, "sub", &topics).unwrap();
    await_subscription(&mut publisher, "pub", "t", &report);
    publisher.publish("pub", "t", "b").unwrap();
    publisher.publish("pub", "tea", "c").unwrap();
    let got: Vec<(String, String)> = report
        .take(2)
        .into_iter()
        .map(|r| (r.alias.clone(), r.text()))
        .collect();
    assert_eq!(
        got,
        [
            ("sub".to_owned(), "b".to_owned()),
            ("tagged".into(), "c".into())
        ]
    );
    assert!(report.is_quiet(Duration::from_millis(100)));
    ns.shutdown().unwrap();
}

#[test]
fn framing_and_dispatch_are_replayed_after_a_restart() {
    let ns = axon::testing::node_with(NodeOptions {
        supervisor: SupervisorSpec {
            intensity: 100,
            period: Duration::from_secs(600),
            heartbeat: Duration::from_secs(5),
            ..SupervisorSpec::default()
        },
        ..NodeOptions::default()
    })
    .unwrap();
    let report = Report::new();
    let mut publisher = permanent(&ns, "publisher");
    let at = publisher
        .bind_with(SocketKind::Pub, framed("pub", Serializer::Json))
        .unwrap();
    let mut subscriber = permanent(&ns, "subscriber");
    report.attach(&mut subscriber);
    let opts = ConnectOptions {
        dispatch: Some(Dispatch::All),
        ..ConnectOptions::alias("sub").topics(&[("t", "collect"), ("te", "collect_tagged")])
    };
    subscriber.connect_with(&at, opts).unwrap();
    // A plain ZeroMQ subscriber sees the layout itself.
    let plain = zmq::Context::new().socket(zmq::SUB).unwrap();
    plain.set_linger(0).unwrap();
    plain.set_rcvtimeo(50).unwrap();
    plain.connect(&at.endpoint).unwrap();
    plain.set_subscribe(b"t").unwrap();

    for name in ["publisher", "subscriber"] {
        let old = ns.signal(name, Signal::Kill).unwrap();
        eventually(&format!("{name} restarted"), || {
            let ps = ns.ps().unwrap();
            ps.into_iter()
                .find(|s| s.name == name && s.state == "running" && s.pid != Some(old))
        });
    }
    let mut publisher = ns.proxy("publisher").unwrap();
    publisher.set_timeout(PATIENCE);
    let frames = eventually("the plain subscriber", || {
        publisher.publish("pub", "t", "probe").unwrap();
        plain.recv_multipart(0).ok()
    });
    assert_eq!(
        frames,
        [b"t\x80\"probe\"".to_vec()],
        "osbrain framing after the restart"
    );
    // The probes above reach the subscriber too, as probes: they end before "probe-end".
    await_subscription(&mut publisher, "pub", "t", &report);
    publisher.publish("pub", "tea", "both").unwrap();
    let got: Vec<String> = report.take(2).into_iter().map(|r| r.alias).collect();
    assert_eq!(got, ["sub", "tagged"], "dispatch all after the restart");
    ns.shutdown().unwrap();
}

#[test]
fn framing_and_dispatch_are_refused_where_they_do_not_apply() {
    let ns = axon::testing::node().unwrap();
    let mut agent = ns.run_agent("agent").unwrap();
    let push = BindOptions {
        framing: Some(Framing::Osbrain),
        ..BindOptions::alias("push")
    };
    let e = agent.bind_with(SocketKind::Push, push).unwrap_err();
    assert!(e.to_string().contains("framing is for PUB binds"), "{e}");
    let pull = agent
        .bind_with(
            SocketKind::Pull,
            BindOptions::alias("pull").handler("collect"),
        )
        .unwrap();
    let opts = ConnectOptions {
        dispatch: Some(Dispatch::All),
        ..ConnectOptions::alias("out")
    };
    let e = agent.connect_with(&pull, opts).unwrap_err();
    assert!(e.to_string().contains("dispatch is for SUB"), "{e}");
    // Neither call left anything behind, and the agent still serves.
    assert_eq!(agent.aliases().unwrap(), ["pull"]);
    agent.ping().unwrap();
    ns.shutdown().unwrap();
}
