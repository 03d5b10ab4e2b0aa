//! CURVE on the data plane, end to end: a `secure` bind talks to the
//! deployment's own agents and to nobody else. Needs a CURVE build:
//! `cargo --config .cargo/curve.toml test --features curve --test curve`
//! (docs/curve.md); `.ci/run` runs it.
#![cfg(feature = "curve")]

mod common;

use std::time::Duration;

use axon::prelude::*;
use axon::testing;
use common::PATIENCE;

axon::test_host!(common::registry());

/// Whether `sock` has something to read within `ms`.
fn readable(sock: &zmq::Socket, ms: i64) -> bool {
    let mut items = [sock.as_poll_item(zmq::POLLIN)];
    zmq::poll(&mut items, ms).unwrap() > 0 && items[0].is_readable()
}

#[test]
fn a_secure_bind_serves_the_deployment_and_nobody_else() {
    let ns = testing::node().unwrap();
    let mut server = ns.run_agent("server").unwrap();
    let opts = BindOptions {
        transport: Some(Transport::Tcp),
        secure: true,
        ..BindOptions::alias("main").handler("upper")
    };
    let address = server.bind_with(SocketKind::Rep, opts).unwrap();
    assert!(
        address.secure,
        "the address says how to connect: {address:?}"
    );

    // An agent of the deployment connects (the address carries `secure`) and is answered.
    let mut client = ns.run_agent("client").unwrap();
    client
        .connect_with(&address, ConnectOptions::alias("out"))
        .unwrap();
    let reply: String = client.request_wait("out", "over curve", PATIENCE).unwrap();
    assert_eq!(reply, "OVER CURVE");

    // A plain peer, and one with CURVE keys of its own but not the deployment's, get nothing
    // in and nothing out.
    let ctx = zmq::Context::new();
    let plain = ctx.socket(zmq::REQ).unwrap();
    plain.set_linger(0).unwrap();
    plain.connect(&address.endpoint).unwrap();
    plain.send("injected", 0).unwrap();
    let stranger_keys = zmq::CurveKeyPair::new().unwrap();
    let guessed_server = zmq::CurveKeyPair::new().unwrap();
    let stranger = ctx.socket(zmq::REQ).unwrap();
    stranger.set_linger(0).unwrap();
    stranger
        .set_curve_serverkey(&guessed_server.public_key)
        .unwrap();
    stranger
        .set_curve_publickey(&stranger_keys.public_key)
        .unwrap();
    stranger
        .set_curve_secretkey(&stranger_keys.secret_key)
        .unwrap();
    stranger.connect(&address.endpoint).unwrap();
    stranger.send("injected", 0).unwrap();
    assert!(!readable(&plain, 1000), "a plain peer got an answer");
    assert!(
        !readable(&stranger, 1000),
        "a peer without the key got an answer"
    );
    // The server saw exactly the deployment's one request.
    let stats = server.stats().unwrap();
    assert_eq!(stats.received, 1, "{stats:?}");

    // Still serving its own.
    let again: String = client
        .request_wait("out", "again", Duration::from_secs(10))
        .unwrap();
    assert_eq!(again, "AGAIN");
    ns.shutdown().unwrap();
}

#[test]
fn a_secure_bind_over_ipc_is_curve_too() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let opts = BindOptions {
        secure: true,
        ..BindOptions::alias("main").handler("upper")
    };
    let address = a.bind_with(SocketKind::Rep, opts).unwrap();
    assert!(address.secure);
    let mut b = ns.run_agent("b").unwrap();
    b.connect_with(&address, ConnectOptions::alias("out"))
        .unwrap();
    let reply: String = b.request_wait("out", "ipc", PATIENCE).unwrap();
    assert_eq!(reply, "IPC");
    ns.shutdown().unwrap();
}

/// Across hosts: `[cluster] curve = true` makes every bind of the deployment
/// secure; a host outside the deployment gets nothing out and puts nothing in.
#[cfg(feature = "cluster")]
#[test]
fn across_hosts_a_peer_without_the_key_gets_nothing_in_and_nothing_out() {
    use axon::testing::Cluster;
    const AXON: &str = env!("CARGO_BIN_EXE_axon");
    let cluster = Cluster::start(AXON, &["a", "b", "c"]).expect("cluster");
    let manifest = r#"
[cluster]
curve = true

[[agent]]
name = "sink"
kind = "counter"
nodes = ["c"]
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  transport = "tcp"
  handler = "count"

[[agent]]
name = "src"
kind = "ticker"
nodes = ["a"]
attributes = { period_ms = 5 }
  [[agent.connect]]
  to = "sink.in"
  alias = "out"

[[agent]]
name = "news"
kind = "ticker"
nodes = ["a"]
attributes = { period_ms = 5, topic = "t" }
  [[agent.bind]]
  alias = "out"
  socket = "PUB"
  transport = "tcp"

[[agent]]
name = "reader"
kind = "counter"
nodes = ["c"]
  [[agent.connect]]
  to = "news.out"
  alias = "news"
  handler = "count"
"#;
    cluster.deploy(manifest).expect("deployed");
    // What a counter agent has counted, 0 until it answers.
    let counted = |agent: &str| -> u64 { cluster.get_attr(agent, "total").unwrap_or(0) };
    let total = || counted("sink");
    assert!(
        cluster.wait_until(PATIENCE, || total() > 0),
        "no ticks over CURVE"
    );
    let sink = cluster.agent("sink").unwrap().expect("sink runs");
    let address = &sink["addrs"]["in"];
    assert_eq!(address["secure"], true, "{address}");
    let endpoint = address["endpoint"].as_str().unwrap().to_owned();

    // A deployment member hears the publisher; a stranger on host b hears nothing.
    let read = || counted("reader");
    assert!(
        cluster.wait_until(PATIENCE, || read() > 0),
        "the reader hears nothing"
    );
    let news = cluster.agent("news").unwrap().expect("news runs");
    let published = news["addrs"]["out"]["endpoint"]
        .as_str()
        .unwrap()
        .to_owned();
    let b = cluster.net().host("b").unwrap();
    let overheard = b
        .enter(move || {
            let ctx = zmq::Context::new();
            let sub = ctx.socket(zmq::SUB).unwrap();
            sub.set_linger(0).unwrap();
            sub.set_subscribe(b"").unwrap();
            sub.connect(&published).unwrap();
            readable(&sub, 1500)
        })
        .unwrap();
    assert!(!overheard, "a peer without the key heard the publisher");

    // From host b, which runs no agent of this deployment's key: inject.
    let injected = b
        .enter(move || {
            // A context of its own: its I/O thread lives on host b too.
            let ctx = zmq::Context::new();
            let push = ctx.socket(zmq::PUSH).unwrap();
            push.set_linger(0).unwrap();
            push.set_sndtimeo(100).unwrap();
            push.connect(&endpoint).unwrap();
            (0..100)
                .filter(|_| push.send("injected", 0).is_ok())
                .count()
        })
        .unwrap();
    // The stream stops; every message the sink counted came from src.
    cluster.call("src", "close", r#"{"alias":"out"}"#).unwrap();
    let sent: u64 = cluster.get_attr("src", "ticks").unwrap();
    assert!(
        cluster.wait_until(PATIENCE, || total() >= sent),
        "the sink lost ticks"
    );
    assert_eq!(
        total(),
        sent,
        "the sink counted {injected} messages it should never have seen"
    );
    cluster.down().unwrap();
}
