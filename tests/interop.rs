//! Plain ZeroMQ peers and bad input: ACCEPTANCE M7 and the decode part of B1.
//!
//! The `zmq` sockets here stand in for a program in another language: they
//! know nothing of axon but the documented frames.

mod common;

use std::time::Duration;

use axon::prelude::*;
use axon::testing;
use common::{eventually, remote_kind, texts, Report, PATIENCE};

axon::test_host!(common::registry());

fn raw_tcp(alias: &str, handler: Option<&str>) -> BindOptions {
    BindOptions {
        alias: Some(alias.into()),
        transport: Some(Transport::Tcp),
        serializer: Some(Serializer::Raw),
        handler: handler.map(str::to_owned),
        ..BindOptions::default()
    }
}

/// The address of a foreign socket bound at `socket`, as an agent connects to it.
fn bound(socket: &zmq::Socket, kind: SocketKind, serializer: Serializer) -> Address {
    Address {
        endpoint: socket.get_last_endpoint().unwrap().unwrap(),
        kind,
        role: Role::Server,
        serializer,
        requests: None,
        secure: false,
    }
}

fn plain(kind: zmq::SocketType) -> zmq::Socket {
    let s = zmq::Context::new().socket(kind).unwrap();
    s.set_linger(0).unwrap();
    s.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    s.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    s
}

#[test]
fn a_plain_zeromq_program_talks_to_agents_both_ways() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut agent = ns.run_agent("agent").unwrap();
    report.attach(&mut agent);

    // Foreign REQ -> agent REP.
    let rep = agent
        .bind_with(SocketKind::Rep, raw_tcp("rep", Some("upper")))
        .unwrap();
    let req = plain(zmq::REQ);
    req.connect(&rep.endpoint).unwrap();
    req.send("shout", 0).unwrap();
    assert_eq!(req.recv_bytes(0).unwrap(), b"SHOUT");

    // Foreign PUSH -> agent PULL.
    let pull = agent
        .bind_with(SocketKind::Pull, raw_tcp("pull", Some("collect")))
        .unwrap();
    let push = plain(zmq::PUSH);
    push.connect(&pull.endpoint).unwrap();
    push.send("pushed", 0).unwrap();
    assert_eq!(report.take(1)[0].text(), "pushed");

    // Foreign PUB -> agent SUB (single frame, topic matched by prefix; and topic + payload).
    let publisher = plain(zmq::PUB);
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let pub_addr = bound(&publisher, SocketKind::Pub, Serializer::Raw);
    agent
        .connect_topics(&pub_addr, "sub", &[("news", "collect")])
        .unwrap();
    let got = eventually("the subscription to a foreign publisher", || {
        publisher.send_multipart(["news", "probe"], 0).unwrap();
        report.next(Duration::from_millis(50))
    });
    assert_eq!(got.text(), "probe");
    publisher.send_multipart(["news", "end"], 0).unwrap();
    report.until("end");
    publisher.send("news:flat", 0).unwrap();
    publisher.send_multipart(["news", "framed"], 0).unwrap();
    publisher.send_multipart(["news", "end"], 0).unwrap();
    assert_eq!(texts(&report.until("end")), ["news:flat", "framed"]);

    // Agent PUSH -> foreign PULL.
    let sink = plain(zmq::PULL);
    sink.bind("tcp://127.0.0.1:*").unwrap();
    let sink_addr = bound(&sink, SocketKind::Pull, Serializer::Raw);
    agent.connect(&sink_addr, "out", None).unwrap();
    agent.send("out", "to foreign").unwrap();
    assert_eq!(sink.recv_bytes(0).unwrap(), b"to foreign");

    // Agent PUB -> foreign SUB.
    let out = agent
        .bind_with(SocketKind::Pub, raw_tcp("pub", None))
        .unwrap();
    let sub = plain(zmq::SUB);
    sub.connect(&out.endpoint).unwrap();
    sub.set_subscribe(b"t").unwrap();
    sub.set_rcvtimeo(50).unwrap();
    let frames = eventually("a foreign subscription", || {
        agent.publish("pub", "t", "published").unwrap();
        sub.recv_multipart(0).ok()
    });
    assert_eq!(frames, vec![b"t".to_vec(), b"published".to_vec()]);

    // Agent REQ -> foreign REP.
    let server = plain(zmq::REP);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let server_addr = bound(&server, SocketKind::Rep, Serializer::Raw);
    agent.connect(&server_addr, "ask", None).unwrap();
    let answer = std::thread::spawn(move || {
        let q = server.recv_bytes(0).unwrap();
        let mut a = q.clone();
        a.reverse();
        server.send(a, 0).unwrap();
        q
    });
    let reply: serde_bytes::ByteBuf = agent.request_wait("ask", "abc", PATIENCE).unwrap();
    assert_eq!(&reply[..], b"cba");
    assert_eq!(answer.join().unwrap(), b"abc");
    ns.shutdown().unwrap();
}

#[test]
fn bad_frames_are_counted_and_the_agent_keeps_serving() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut agent = ns.run_agent("agent").unwrap();
    report.attach(&mut agent);
    let cbor_pull = BindOptions {
        alias: Some("pull".into()),
        transport: Some(Transport::Tcp),
        handler: Some("collect".into()),
        ..BindOptions::default()
    };
    let pull = agent.bind_with(SocketKind::Pull, cbor_pull).unwrap();
    let push = plain(zmq::PUSH);
    push.connect(&pull.endpoint).unwrap();
    let good = Serializer::Cbor.encode("good").unwrap();
    push.send(&b"\xff\xfe garbage"[..], 0).unwrap();
    push.send(&br#"{"json": "not cbor"}"#[..], 0).unwrap();
    push.send(&b""[..], 0).unwrap();
    push.send_multipart([&b"two"[..], &b"frames"[..]], 0)
        .unwrap();
    push.send(vec![0u8; (16 << 20) + 1], 0).unwrap();
    push.send(&good[..], 0).unwrap();
    assert_eq!(report.take(1)[0].text(), "good");
    let stats = agent.stats().unwrap();
    assert_eq!(stats.decode_errors, 3, "{stats:?}");
    assert_eq!(stats.malformed, 1, "{stats:?}");
    assert_eq!(stats.oversized, 1, "{stats:?}");

    // The REP socket answers garbage with an error, then serves good requests.
    let rep = BindOptions {
        alias: Some("rep".into()),
        transport: Some(Transport::Tcp),
        handler: Some("upper".into()),
        ..BindOptions::default()
    };
    let rep = agent.bind_with(SocketKind::Rep, rep).unwrap();
    let req = plain(zmq::REQ);
    req.connect(&rep.endpoint).unwrap();
    req.send(&b"\xff"[..], 0).unwrap();
    let answer = req.recv_multipart(0).unwrap();
    assert_eq!(answer[0], axon::protocol::ERROR_MARKER);
    req.send(&Serializer::Cbor.encode("fine").unwrap()[..], 0)
        .unwrap();
    let answer = req.recv_bytes(0).unwrap();
    assert_eq!(Serializer::Cbor.decode::<String>(&answer).unwrap(), "FINE");

    // Garbage on the control socket is dropped; the next call works.
    let control = ns.info("agent").unwrap().control;
    let dealer = plain(zmq::DEALER);
    dealer.connect(&control).unwrap();
    dealer.send(&b"hello?"[..], 0).unwrap();
    dealer
        .send_multipart([axon::protocol::PROTOCOL, b"", b"\xff\xff"], 0)
        .unwrap();
    // The garbage travels on another connection than our calls: wait until it has been seen.
    let counted = testing::wait_until(PATIENCE, || agent.stats().unwrap().malformed == 3);
    assert!(counted, "{:?}", agent.stats().unwrap());
    agent.ping().unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn bad_frames_on_every_receiving_kind_are_counted_and_serving_goes_on() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut agent = ns.run_agent("agent").unwrap();
    report.attach(&mut agent);
    let tcp = |alias: &str, handler: &str| BindOptions {
        alias: Some(alias.into()),
        transport: Some(Transport::Tcp),
        handler: Some(handler.into()),
        ..BindOptions::default()
    };
    let garbage: &[u8] = b"\xff\xfe not cbor";
    let good = Serializer::Cbor.encode("good").unwrap();

    // SUB: a foreign publisher sends garbage, then a good message.
    let publisher = plain(zmq::PUB);
    publisher.bind("tcp://127.0.0.1:*").unwrap();
    let pub_addr = bound(&publisher, SocketKind::Pub, Serializer::Cbor);
    agent
        .connect_topics(&pub_addr, "sub", &[("t", "collect")])
        .unwrap();
    let probe = Serializer::Cbor.encode("probe").unwrap();
    eventually("the subscription to a foreign publisher", || {
        publisher.send_multipart([&b"t"[..], &probe], 0).unwrap();
        report.next(Duration::from_millis(50))
    });
    publisher.send_multipart([&b"t"[..], garbage], 0).unwrap();
    publisher
        .send_multipart([&b"t"[..], &b"x"[..], &b"y"[..]], 0)
        .unwrap();
    publisher.send_multipart([&b"t"[..], &good], 0).unwrap();
    // Probes still in flight come first; `take` panics if nothing comes in time.
    let got = eventually("the good message", || {
        Some(report.take(1).remove(0)).filter(|r| r.text() != "probe")
    });
    assert_eq!(got.text(), "good");

    // ASYNC_REP: garbage gets an error answer; a good request is served.
    let rep = agent
        .bind_with(SocketKind::AsyncRep, tcp("arep", "upper"))
        .unwrap();
    let req = plain(zmq::REQ);
    req.connect(&rep.endpoint).unwrap();
    req.send(garbage, 0).unwrap();
    assert_eq!(
        req.recv_multipart(0).unwrap()[0],
        axon::protocol::ERROR_MARKER
    );
    req.send(&good[..], 0).unwrap();
    assert_eq!(
        Serializer::Cbor
            .decode::<String>(&req.recv_bytes(0).unwrap())
            .unwrap(),
        "GOOD"
    );

    // SYNC_PUB's requests socket: frames of the wrong layout are dropped.
    let sync = agent
        .bind_with(SocketKind::SyncPub, tcp("sync", "upper"))
        .unwrap();
    let dealer = plain(zmq::DEALER);
    dealer.connect(sync.requests.as_deref().unwrap()).unwrap();
    dealer.send(garbage, 0).unwrap();
    dealer
        .send_multipart([&b"topic"[..], &b"not-an-id"[..], &b""[..], &good[..]], 0)
        .unwrap();

    // REQ: a foreign replier answers garbage; the caller gets a decode error, not a hang.
    let server = plain(zmq::REP);
    server.bind("tcp://127.0.0.1:*").unwrap();
    let server_addr = bound(&server, SocketKind::Rep, Serializer::Cbor);
    agent.connect(&server_addr, "ask", None).unwrap();
    let answer = std::thread::spawn(move || {
        server.recv_bytes(0).unwrap();
        server.send(b"\xff\xfe".as_slice(), 0).unwrap();
    });
    let err = agent
        .request_wait::<_, String>("ask", "q", PATIENCE)
        .unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadRequest, "{err}");
    assert!(err.to_string().contains("cbor"), "{err}");
    answer.join().unwrap();

    let counted = testing::wait_until(PATIENCE, || {
        let s = agent.stats().unwrap();
        s.decode_errors == 2 && s.malformed == 3
    });
    assert!(counted, "{:?}", agent.stats().unwrap());
    agent.ping().unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn a_message_over_the_size_limit_is_dropped_and_counted_and_far_over_it_cuts_the_peer() {
    let ns = testing::node().unwrap();
    let tmp = common::TempDir::new("maxmsg");
    let limit = 1024;
    let defaults = axon::Defaults {
        max_message: limit,
        ..Default::default()
    };
    let process = common::outsider(&ns, "small", defaults, &tmp);
    let mut small = ns.proxy("small").unwrap();
    small.set_timeout(PATIENCE);
    let report = Report::new();
    report.attach(&mut small);
    let pull = small
        .bind_with(SocketKind::Pull, raw_tcp("pull", Some("collect")))
        .unwrap();

    // A foreign PUSH, watched for libzmq cutting its connection.
    let zmq_ctx = zmq::Context::new();
    let push = zmq_ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(0).unwrap();
    push.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    let events = "inproc://interop-maxmsg-monitor";
    push.monitor(events, zmq::SocketEvent::DISCONNECTED as i32)
        .unwrap();
    let monitor = zmq_ctx.socket(zmq::PAIR).unwrap();
    monitor.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    monitor.connect(events).unwrap();
    push.connect(&pull.endpoint).unwrap();

    // Over the limit, under four times it: axon drops and counts it, and goes on.
    push.send(vec![b'x'; limit + 1], 0).unwrap();
    push.send("good", 0).unwrap();
    assert_eq!(report.take(1)[0].text(), "good");
    let stats = small.stats().unwrap();
    assert_eq!((stats.oversized, stats.received), (1, 1), "{stats:?}");

    // Over four times the limit: libzmq (ZMQ_MAXMSGSIZE) cuts the connection before axon sees it.
    push.send(vec![b'x'; 4 * limit + 1], 0).unwrap();
    let event = monitor
        .recv_multipart(0)
        .expect("the agent's libzmq never cut the connection");
    let id = u16::from_le_bytes([event[0][0], event[0][1]]);
    assert_eq!(id, zmq::SocketEvent::DISCONNECTED.to_raw());
    // The PUSH reconnects by itself, and the same process serves it.
    push.send("after", 0).unwrap();
    assert_eq!(report.take(1)[0].text(), "after");
    let stats = small.stats().unwrap();
    assert_eq!((stats.oversized, stats.received), (1, 2), "{stats:?}");
    assert_eq!(ns.info("small").unwrap().pid, process.0.id());
    small.shutdown().unwrap();
    ns.shutdown().unwrap();
}
