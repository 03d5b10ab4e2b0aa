//! The `greeter` and `averager` kinds in real agent processes, spawned
//! through a name server in script mode.

use std::time::Duration;

use axon::prelude::*;
use axon::testing::{self, wait_until};

/// Time any single condition may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// This crate's kinds, plus `keep` for the plain agents that listen in.
fn registry() -> Registry {
    axon_example_kinds::registry().handler("keep", keep)
}

/// Keeps the last value received in attribute `last` and counts them in `kept`.
fn keep(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let kept = a
        .attributes
        .get("kept")
        .and_then(Value::as_integer)
        .map_or(0, i128::from);
    a.attributes.insert("last".into(), msg.value()?);
    a.attributes
        .insert("kept".into(), Value::Integer((kept + 1).try_into()?));
    Ok(())
}

axon::test_host!(registry());

fn average(averager: &mut Proxy) -> Option<f64> {
    averager.get_attr("average").unwrap()
}

#[test]
fn greeter_answers_requests_with_its_greeting() {
    let ns = testing::node().unwrap();
    let mut greeter = ns
        .spawn(SpawnOptions::default().name("greeter").kind("greeter"))
        .unwrap();
    let rep = greeter
        .bind_handler(SocketKind::Rep, "main", "greet")
        .unwrap();
    let mut client = ns.run_agent("client").unwrap();
    client.connect(&rep, "main", None).unwrap();

    let reply: String = client.request_wait("main", "Ada", PATIENCE).unwrap();
    assert_eq!(reply, "hello, Ada!");
    greeter.set_attr("greeting", "hi").unwrap();
    let reply: String = client.request_wait("main", "Bob", PATIENCE).unwrap();
    assert_eq!(reply, "hi, Bob!");
    // A refused request comes back as an error, and the greeter keeps serving.
    let refused = client.request_wait::<_, String>("main", " ", PATIENCE);
    assert!(refused.is_err(), "{refused:?}");
    let reply: String = client.request_wait("main", "Cy", PATIENCE).unwrap();
    assert_eq!(reply, "hi, Cy!");
    assert_eq!(greeter.get_attr::<u64>("greeted").unwrap(), 3);
    ns.shutdown().unwrap();
}

#[test]
fn greeter_takes_its_greeting_from_spawn_attributes_and_serves_raw_tcp() {
    let ns = testing::node().unwrap();
    let spawn = SpawnOptions::default()
        .name("bonjour")
        .kind("greeter")
        .attribute("greeting", "bonjour")
        .unwrap();
    let mut greeter = ns.spawn(spawn).unwrap();
    // As in deploy.toml: tcp, and raw frames so plain ZeroMQ clients can ask.
    let bind = BindOptions {
        alias: Some("main".into()),
        transport: Some(Transport::Tcp),
        addr: Some("127.0.0.1".into()),
        serializer: Some(Serializer::Raw),
        handler: Some("greet".into()),
        ..Default::default()
    };
    let rep = greeter.bind_with(SocketKind::Rep, bind).unwrap();
    assert!(rep.endpoint.starts_with("tcp://127.0.0.1:"), "{rep:?}");
    let mut client = ns.run_agent("client").unwrap();
    client.connect(&rep, "main", None).unwrap();
    // Raw replies are the frame's bytes: the UTF-8 text a plain client reads.
    let reply: Value = client.request_wait("main", "Zoé", PATIENCE).unwrap();
    assert_eq!(reply, Value::Bytes("bonjour, Zoé!".into()));

    let misspelt = SpawnOptions::default()
        .name("typo")
        .kind("greeter")
        .attribute("greting", "hey")
        .unwrap();
    assert!(ns.spawn(misspelt).is_err());
    ns.shutdown().unwrap();
}

#[test]
fn averager_moves_with_its_window_and_publishes_the_average() {
    let ns = testing::node().unwrap();
    let spawn = SpawnOptions::default()
        .name("averager")
        .kind("averager")
        .attribute("window", 3)
        .unwrap()
        .attribute("period_ms", 20)
        .unwrap();
    let mut averager = ns.spawn(spawn).unwrap();
    let pull = averager
        .bind_handler(SocketKind::Pull, "in", "sample")
        .unwrap();
    let mut source = ns.run_agent("source").unwrap();
    source.connect(&pull, "samples", None).unwrap();
    assert_eq!(average(&mut averager), None);

    for x in [1, 2, 3] {
        source.send("samples", &x).unwrap();
    }
    assert!(wait_until(PATIENCE, || average(&mut averager) == Some(2.0)));
    // The window holds 2, 3, 10 now.
    source.send("samples", &10.0).unwrap();
    assert!(wait_until(PATIENCE, || average(&mut averager) == Some(5.0)));
    // Not a number: refused, counted, and the average stays.
    source.send("samples", "eleven").unwrap();
    assert!(wait_until(PATIENCE, || averager
        .stats()
        .unwrap()
        .handler_errors
        == 1));
    assert_eq!(average(&mut averager), Some(5.0));
    assert_eq!(averager.stats().unwrap().received, 5);

    // Once it has an `out` socket, the average goes out under "avg", again and again.
    assert_eq!(averager.get_attr::<u64>("published").unwrap(), 0);
    let out = averager.bind(SocketKind::Pub, "out").unwrap();
    let mut sink = ns.run_agent("sink").unwrap();
    sink.connect_topics(&out, "avg", &[("avg", "keep")])
        .unwrap();
    let heard = |sink: &mut Proxy| sink.get_attr::<f64>("last").ok();
    assert!(wait_until(PATIENCE, || heard(&mut sink) == Some(5.0)));
    assert!(wait_until(PATIENCE, || sink
        .get_attr::<u64>("kept")
        .is_ok_and(|kept| kept >= 3)));
    source.send("samples", &4).unwrap();
    let moved = (3.0 + 10.0 + 4.0) / 3.0;
    assert!(wait_until(PATIENCE, || heard(&mut sink) == Some(moved)));
    assert_eq!(averager.get_attr::<u64>("failed").unwrap(), 0);
    ns.shutdown().unwrap();
}

#[test]
fn averager_refuses_an_empty_window_at_spawn_and_at_run_time() {
    let ns = testing::node().unwrap();
    let empty = SpawnOptions::default()
        .name("empty")
        .kind("averager")
        .attribute("window", 0)
        .unwrap();
    assert!(ns.spawn(empty).is_err());

    let mut averager = ns
        .spawn(SpawnOptions::default().name("averager").kind("averager"))
        .unwrap();
    assert_eq!(averager.get_attr::<u64>("window").unwrap(), 10);
    assert!(averager.set_attr("window", &0).is_err());
    assert!(averager.set_attr("average", &1.0).is_err());
    averager.set_attr("window", &4).unwrap();
    assert_eq!(averager.get_attr::<u64>("window").unwrap(), 4);
    ns.shutdown().unwrap();
}
