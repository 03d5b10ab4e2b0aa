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
