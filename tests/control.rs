//! Control-plane errors: ACCEPTANCE C4.

mod common;

use axon::prelude::*;
use axon::testing;

axon::test_host!(common::registry());

#[test]
fn unknown_methods_and_wrong_arguments_are_structured_errors() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();

    let err = a.call::<_, Value>("frobnicate", ()).unwrap_err();
    let e = err.remote().expect("remote error");
    assert_eq!(
        (e.kind, e.agent.as_str(), e.method.as_str()),
        (ErrorKind::UnknownMethod, "a", "frobnicate")
    );
    a.ping().unwrap();

    // Missing argument.
    let err = a.call::<_, Value>("bind", ()).unwrap_err();
    let e = err.remote().expect("remote error");
    assert_eq!(
        (e.kind, e.method.as_str()),
        (ErrorKind::BadArguments, "bind")
    );
    assert!(e.message.contains("kind"), "{e}");

    // Wrong type and unknown value.
    let bad = serde_json::json!({"kind": 42});
    let e = a.call::<_, Value>("bind", bad).unwrap_err();
    assert_eq!(e.remote().unwrap().kind, ErrorKind::BadArguments);
    let bad = serde_json::json!({"kind": "PAIR"});
    assert_eq!(
        a.call::<_, Value>("bind", bad)
            .unwrap_err()
            .remote()
            .unwrap()
            .kind,
        ErrorKind::BadArguments
    );

    // An unknown handler name, an unknown alias, a receiving socket without handler.
    let e = a
        .bind_handler(SocketKind::Pull, "in", "no_such_handler")
        .unwrap_err();
    assert_eq!(common::remote_kind(&e), ErrorKind::BadArguments, "{e}");
    assert!(
        e.remote().unwrap().message.contains("no_such_handler"),
        "{e}"
    );
    assert_eq!(
        a.send("nowhere", "x").unwrap_err().remote().unwrap().kind,
        ErrorKind::NotFound
    );
    assert_eq!(
        a.bind(SocketKind::Rep, "rep")
            .unwrap_err()
            .remote()
            .unwrap()
            .kind,
        ErrorKind::BadArguments
    );

    // Sending on a socket that cannot send.
    a.bind_handler(SocketKind::Pull, "pull", "collect").unwrap();
    let e = a.send("pull", "x").unwrap_err();
    assert_eq!(e.remote().unwrap().kind, ErrorKind::BadArguments, "{e}");

    // A taken alias.
    a.bind(SocketKind::Push, "out").unwrap();
    let e = a.bind(SocketKind::Push, "out").unwrap_err();
    assert_eq!(common::remote_kind(&e), ErrorKind::BadArguments, "{e}");
    assert!(e.to_string().contains("in use"), "{e}");

    // An attribute the agent does not have: not_found, said once (not wrapped twice).
    let e = a.get_attr::<u64>("nope").unwrap_err();
    assert_eq!(common::remote_kind(&e), ErrorKind::NotFound, "{e}");
    assert_eq!(e.to_string().matches("refused").count(), 1, "{e}");

    // A shutdown with arguments it does not take is refused, and the agent stays.
    for bad in [
        serde_json::json!({"unregister": "no"}),
        serde_json::json!({"later": true}),
    ] {
        let e = a.call::<_, Value>("shutdown", bad).unwrap_err();
        assert_eq!(common::remote_kind(&e), ErrorKind::BadArguments, "{e}");
    }

    // Still serving, and the errors were counted.
    a.ping().unwrap();
    let stats = a.stats().unwrap();
    assert_eq!(stats.control_errors, 12, "{stats:?}");
    ns.shutdown().unwrap();
}

#[test]
fn handlers_and_aliases_are_listed() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let handlers = a.handlers().unwrap();
    assert!(
        handlers.contains(&"collect".to_string()) && handlers.contains(&"upper".to_string()),
        "{handlers:?}"
    );
    a.bind(SocketKind::Push, "x").unwrap();
    a.bind(SocketKind::Pub, "y").unwrap();
    assert_eq!(a.aliases().unwrap(), ["x", "y"]);
    a.close("x").unwrap();
    assert_eq!(a.aliases().unwrap(), ["y"]);
    a.close_all().unwrap();
    assert!(a.aliases().unwrap().is_empty());
    ns.shutdown().unwrap();
}

#[test]
fn unsigned_wrongly_signed_and_replayed_requests_are_refused() {
    use axon::protocol::{self as wire, Request};
    let ns = testing::node().unwrap();
    let report = common::Report::new();
    let mut a = ns.run_agent("a").unwrap();
    report.attach(&mut a);
    let control = ns.info("a").unwrap().control;

    // Wrong key and no key: refused with a structured error, not executed.
    for key in [Some(axon::protocol::auth::Key::generate().unwrap()), None] {
        let mut intruder = Proxy::open("a", control.clone()).unwrap();
        intruder.set_key(key);
        intruder.set_timeout(common::PATIENCE);
        let err = intruder
            .execute::<_, Value>("collect", "from an intruder")
            .unwrap_err();
        // The refusal is signed with the real key, which the intruder cannot check: it is
        // taken anyway, so a wrong key hears "refused" at once rather than timing out.
        let e = err
            .remote()
            .unwrap_or_else(|| panic!("not a refusal: {err}"));
        assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    }

    // A captured, correctly signed request works once; its replay is refused.
    let args = serde_json::json!({"handler": "collect", "args": "once"});
    let request = Request::new(1, "a", "execute", Value::serialized(&args).unwrap(), false);
    let body = wire::encode_body(&request).unwrap();
    let signature = axon::protocol::auth::process_key()
        .expect("the node installed a key")
        .sign(&body);
    let dealer = zmq::Context::new().socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.connect(&control).unwrap();
    for _ in 0..2 {
        dealer
            .send_multipart([wire::PROTOCOL, &signature, &body], 0)
            .unwrap();
        assert_eq!(dealer.recv_multipart(0).unwrap().len(), 3);
    }
    a.execute::<_, Value>("collect", "end").unwrap();
    assert_eq!(common::texts(&report.until("end")), ["once"]);
    assert_eq!(a.stats().unwrap().refused, 3);
    ns.shutdown().unwrap();
}

#[test]
fn stale_requests_are_refused_and_not_executed() {
    use axon::protocol::{self as wire, auth, Request};
    let ns = testing::node().unwrap();
    let report = common::Report::new();
    let mut a = ns.run_agent("a").unwrap();
    report.attach(&mut a);
    let control = ns.info("a").unwrap().control;
    let key = auth::process_key().expect("the node installed a key");
    let dealer = zmq::Context::new().socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer
        .set_rcvtimeo(common::PATIENCE.as_millis() as i32)
        .unwrap();
    dealer.connect(&control).unwrap();
    // Correctly signed for "a", but stamped two freshness windows in the past, and in the future.
    let window = auth::FRESHNESS.as_millis() as u64;
    let now = axon::clock::now_ms();
    for (label, ts) in [("old", now - 2 * window), ("future", now + 2 * window)] {
        let args = serde_json::json!({"handler": "collect", "args": label});
        let mut request = Request::new(1, "a", "execute", Value::serialized(&args).unwrap(), false);
        request.ts = ts;
        let body = wire::encode_body(&request).unwrap();
        dealer
            .send_multipart([wire::PROTOCOL, &key.sign(&body), &body], 0)
            .unwrap();
        let frames = dealer.recv_multipart(0).unwrap();
        let reply: wire::Reply = wire::decode_body(&frames[2]).unwrap();
        match reply.result {
            wire::Outcome::Err(e) => {
                assert_eq!(e.kind, ErrorKind::Refused, "{label}: {e}");
                assert!(e.message.contains("freshness"), "{label}: {e}");
            }
            other => panic!("{label}: expected a refusal, got {other:?}"),
        }
    }
    // Neither ran: the next message the handler sees is the end marker.
    a.execute::<_, Value>("collect", "end").unwrap();
    assert!(report.until("end").is_empty());
    assert_eq!(a.stats().unwrap().refused, 2);
    ns.shutdown().unwrap();
}

/// The default build's libzmq has no CURVE: a secure bind is refused, never made in plain text.
#[cfg(not(feature = "curve"))]
#[test]
fn a_secure_bind_without_curve_is_an_error_not_plain_text() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let opts = BindOptions {
        secure: true,
        transport: Some(Transport::Tcp),
        ..BindOptions::alias("main").handler("collect")
    };
    let e = a.bind_with(SocketKind::Rep, opts).unwrap_err();
    assert!(e.to_string().contains("CURVE"), "{e}");
    assert!(
        a.aliases().unwrap().is_empty(),
        "something was bound anyway"
    );
    ns.shutdown().unwrap();
}
