//! Ready-made agent kinds: echo, counter, relay, ticker.

mod common;

use std::collections::BTreeMap;

use axon::prelude::*;
use axon::testing::{self, wait_until};
use common::{await_subscription, texts, Report, PATIENCE};

axon::test_host!(common::registry());

fn kind(ns: &NameServer, name: &str, kind: &str) -> Proxy {
    ns.spawn(SpawnOptions::default().name(name).kind(kind))
        .unwrap()
}

#[test]
fn counter_counts_per_socket_and_answers_with_the_total() {
    let ns = testing::node().unwrap();
    let mut counter = kind(&ns, "counter", "counter");
    let mut a = ns.run_agent("a").unwrap();
    let pull = counter
        .bind_handler(SocketKind::Pull, "in", "count")
        .unwrap();
    let rep = counter
        .bind_handler(SocketKind::Rep, "ask", "count")
        .unwrap();
    a.connect(&pull, "push", None).unwrap();
    a.connect(&rep, "req", None).unwrap();
    for n in 0..5 {
        a.send("push", &n).unwrap();
    }
    assert!(wait_until(PATIENCE, || counter
        .get_attr::<u64>("total")
        .unwrap()
        == 5));
    let total: u64 = a.request_wait("req", "how many?", PATIENCE).unwrap();
    assert_eq!(total, 6);
    let count: BTreeMap<String, u64> = counter.get_attr("count").unwrap();
    assert_eq!(
        count,
        BTreeMap::from([("ask".to_string(), 1), ("in".to_string(), 5)])
    );
    ns.shutdown().unwrap();
}

#[test]
fn relay_forwards_pull_to_push_and_sub_to_pub_keeping_topics() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut source = ns.run_agent("source").unwrap();
    let mut sink = ns.run_agent("sink").unwrap();
    report.attach(&mut sink);

    let mut relay = kind(&ns, "relay", "relay");
    let pull = relay.bind_handler(SocketKind::Pull, "in", "relay").unwrap();
    let out = sink
        .bind_handler(SocketKind::Pull, "from-relay", "collect")
        .unwrap();
    relay.connect(&out, "out", None).unwrap();
    source.connect(&pull, "to-relay", None).unwrap();
    for m in ["a", "b", "c"] {
        source.send("to-relay", m).unwrap();
    }
    assert_eq!(texts(&report.take(3)), ["a", "b", "c"]);

    let spawn = SpawnOptions::default()
        .name("fan")
        .kind("relay")
        .attribute("out", "pub")
        .unwrap();
    let mut fan = ns.spawn(spawn).unwrap();
    let upstream = source.bind(SocketKind::Pub, "news").unwrap();
    let downstream = fan.bind(SocketKind::Pub, "pub").unwrap();
    sink.connect_topics(&downstream, "news", &[("n", "collect")])
        .unwrap();
    fan.connect_topics(&upstream, "sub", &[("n", "relay")])
        .unwrap();
    await_subscription(&mut source, "news", "n", &report);
    source.publish("news", "n/1", "hello").unwrap();
    let r = report.take(1).remove(0);
    assert_eq!(
        (r.text().as_str(), r.topic.as_deref().map(|t| t.to_vec())),
        ("hello", Some(b"n/1".to_vec()))
    );
    ns.shutdown().unwrap();
}

#[test]
fn ticker_publishes_a_counter_at_its_period() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let spawn = SpawnOptions::default()
        .name("ticker")
        .kind("ticker")
        .attribute("period_ms", 20)
        .unwrap()
        .attribute("topic", "t")
        .unwrap();
    let mut ticker = ns.spawn(spawn).unwrap();
    let out = ticker.bind(SocketKind::Pub, "out").unwrap();
    let mut sink = ns.run_agent("sink").unwrap();
    report.attach(&mut sink);
    sink.connect_topics(&out, "ticks", &[("t", "collect")])
        .unwrap();
    // Ticks are consecutive integers once the subscription is up.
    let got = report.take(5);
    let numbers: Vec<i64> = got
        .iter()
        .map(|r| r.value.deserialized().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert!(got
        .iter()
        .all(|r| r.topic.as_deref().map(|t| t.to_vec()) == Some(b"t".to_vec())));
    assert!(ticker.get_attr::<u64>("ticks").unwrap() >= 5);
    let bad = SpawnOptions::default()
        .name("bad")
        .kind("ticker")
        .attribute("period_ms", 0)
        .unwrap();
    let err = ns.spawn(bad).unwrap_err();
    assert_eq!(common::remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(
        err.to_string().contains("period_ms must be at least 1"),
        "{err}"
    );
    assert!(!ns.agents().unwrap().contains(&"bad".to_string()));
    ns.shutdown().unwrap();
}
