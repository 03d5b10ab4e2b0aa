//! Patterns, serializers and transports: ACCEPTANCE M1-M6, M8 (backpressure: tests/backpressure.rs).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use axon::prelude::*;
use axon::testing;
use common::{await_subscribers, await_subscription, texts, Report};

axon::test_host!(common::registry());

#[test]
fn push_pull_keeps_order() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut a = ns.run_agent("a").unwrap();
    let mut b = ns.run_agent("b").unwrap();
    report.attach(&mut b);
    let addr = a.bind(SocketKind::Push, "out").unwrap();
    b.connect(&addr, "in", "collect").unwrap();
    for m in ["one", "two", "three"] {
        a.send("out", m).unwrap();
    }
    assert_eq!(texts(&report.take(3)), ["one", "two", "three"]);
    ns.shutdown().unwrap();
}

#[test]
fn push_round_robins_over_pullers_and_pull_fans_in() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut pusher = ns.run_agent("pusher").unwrap();
    let addr = pusher.bind(SocketKind::Push, "out").unwrap();
    let mut pullers: Vec<Proxy> = ["p1", "p2"]
        .iter()
        .map(|n| ns.run_agent(n).unwrap())
        .collect();
    for p in &mut pullers {
        report.attach(p);
        p.connect(&addr, "in", "collect").unwrap();
    }
    // Round-robin needs both peers connected: wait until each has taken one.
    let mut seen = BTreeMap::<String, usize>::new();
    let mut i = 0;
    while seen.len() < 2 {
        pusher.send("out", &format!("warm{i}")).unwrap();
        i += 1;
        let r = report.take(1).remove(0);
        *seen.entry(r.agent).or_default() += 1;
        assert!(i < 10_000, "second puller never connected");
    }
    let mut counts = BTreeMap::<String, usize>::new();
    for n in 0..10 {
        pusher.send("out", &format!("m{n}")).unwrap();
    }
    for r in report.take(10) {
        *counts.entry(r.agent).or_default() += 1;
    }
    assert_eq!(
        counts.values().copied().collect::<Vec<_>>(),
        [5, 5],
        "{counts:?}"
    );

    // Fan-in: one bound PULL, two PUSH clients.
    let mut sink = ns.run_agent("sink").unwrap();
    report.attach(&mut sink);
    let pull = sink
        .bind_handler(SocketKind::Pull, "in", "collect")
        .unwrap();
    for (n, p) in pullers.iter_mut().enumerate() {
        p.connect(&pull, "out", None).unwrap();
        p.send("out", &format!("from{n}")).unwrap();
    }
    let mut got = texts(&report.take(2));
    got.sort();
    assert_eq!(got, ["from0", "from1"]);
    ns.shutdown().unwrap();
}

#[test]
fn req_rep_replies_with_the_handler_value_and_errors_never_hang() {
    let ns = testing::node().unwrap();
    let mut server = ns.run_agent("server").unwrap();
    let mut client = ns.run_agent("client").unwrap();
    let echo = ns
        .spawn(SpawnOptions::default().name("echoer").kind("echo"))
        .unwrap();
    let upper = server
        .bind_handler(SocketKind::Rep, "upper", "upper")
        .unwrap();
    let fail = server
        .bind_handler(SocketKind::Rep, "fail", "fail")
        .unwrap();
    let mut echo = echo;
    let echo_addr = echo.bind_handler(SocketKind::Rep, "echo", "echo").unwrap();
    client.connect(&upper, "r0", None).unwrap();
    client.connect(&upper, "r1", None).unwrap();
    client.connect(&fail, "f", None).unwrap();
    client.connect(&echo_addr, "e", None).unwrap();
    let t = Duration::from_secs(10);
    assert_eq!(
        client.request_wait::<_, String>("r0", "hello", t).unwrap(),
        "HELLO"
    );
    assert_eq!(
        client.request_wait::<_, String>("r1", "world", t).unwrap(),
        "WORLD"
    );
    let echoed: BTreeMap<String, i64> = client
        .request_wait("e", &BTreeMap::from([("x".to_string(), 1)]), t)
        .unwrap();
    assert_eq!(echoed, BTreeMap::from([("x".to_string(), 1)]));
    let err = client.request_wait::<_, String>("f", "x", t).unwrap_err();
    let remote = err.remote().expect("a remote error");
    assert_eq!(
        (remote.kind, remote.agent.as_str(), remote.method.as_str()),
        (ErrorKind::Handler, "server", "fail")
    );
    assert!(remote.message.contains("refused on purpose"));
    // The replier keeps serving.
    assert_eq!(
        client.request_wait::<_, String>("r0", "again", t).unwrap(),
        "AGAIN"
    );
    assert_eq!(server.stats().unwrap().handler_errors, 1);
    ns.shutdown().unwrap();
}

/// The M4 matrix: what each subscription set receives.
#[test]
fn pub_sub_topic_matrix() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let addr = publisher.bind(SocketKind::Pub, "pub").unwrap();
    let sets: [(&str, &[&str]); 5] = [
        ("all", &[""]),
        ("foo", &["foo"]),
        ("foobar", &["foo", "bar"]),
        ("bar", &["bar"]),
        ("fo", &["fo"]),
    ];
    let mut subs = Vec::new();
    for (name, topics) in sets {
        let mut s = ns.run_agent(&format!("sub-{name}")).unwrap();
        report.attach(&mut s);
        let mut handlers: Vec<(&str, &str)> = topics.iter().map(|t| (*t, "collect")).collect();
        handlers.push(("end", "collect"));
        s.connect_topics(&addr, "sub", &handlers).unwrap();
        subs.push(s);
    }
    // Every subscriber has the "end" topic: wait until all five hear it.
    await_subscribers(&mut publisher, "pub", "end", &report, subs.len());
    publisher.send("pub", "Hello").unwrap();
    publisher.publish("pub", "foo", "World").unwrap();
    publisher.publish("pub", "foobar", "FOO").unwrap();
    publisher.publish("pub", "fo", "BAR").unwrap();
    publisher.publish("pub", "end", "END").unwrap();
    let mut by_agent = BTreeMap::<String, Vec<String>>::new();
    let mut ends = 0;
    while ends < 5 {
        let r = report.take(1).remove(0);
        if r.text() == "END" {
            ends += 1;
        } else {
            by_agent.entry(r.agent.clone()).or_default().push(r.text());
        }
    }
    let get = |n: &str| by_agent.get(n).cloned().unwrap_or_default();
    // "end" is a prefix of no payload topic, and "Hello" has no topic, so the probe topic changes nothing.
    assert_eq!(get("sub-all"), ["Hello", "World", "FOO", "BAR"]);
    assert_eq!(get("sub-foo"), ["World", "FOO"]);
    assert_eq!(get("sub-foobar"), ["World", "FOO"]);
    assert!(get("sub-bar").is_empty(), "{:?}", get("sub-bar"));
    assert_eq!(get("sub-fo"), ["World", "FOO", "BAR"]);
    ns.shutdown().unwrap();
}

#[test]
fn per_topic_handlers_and_any_byte_topics() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut p = ns.run_agent("p").unwrap();
    let mut s = ns.run_agent("s").unwrap();
    report.attach(&mut s);
    let addr = p.bind(SocketKind::Pub, "pub").unwrap();
    s.connect_topics(
        &addr,
        "sub",
        &[
            ("À".as_bytes(), "collect"),
            (b"\x00\xff".as_slice(), "collect"),
        ],
    )
    .unwrap();
    await_subscription(&mut p, "pub", "À", &report);
    p.publish("pub", b"\x00\xff\x01", "binary").unwrap();
    p.publish("pub", "Àb", "accent").unwrap();
    p.publish("pub", "other", "nope").unwrap();
    p.publish("pub", "À", "end").unwrap();
    let got = report.until("end");
    assert_eq!(texts(&got), ["binary", "accent"]);
    let topic = |i: usize| got[i].topic.as_ref().map(|t| t.to_vec());
    assert_eq!(topic(0), Some(b"\x00\xff\x01".to_vec()));
    assert_eq!(topic(1), Some("Àb".as_bytes().to_vec()));
    ns.shutdown().unwrap();
}

#[test]
fn unsubscribe_and_resubscribe_at_run_time() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut p = ns.run_agent("p").unwrap();
    let mut s = ns.run_agent("s").unwrap();
    report.attach(&mut s);
    let addr = p.bind(SocketKind::Pub, "pub").unwrap();
    s.connect_topics(
        &addr,
        "sub",
        &[("odd", "collect"), ("even", "collect"), ("end", "collect")],
    )
    .unwrap();
    await_subscription(&mut p, "pub", "end", &report);
    let publish_numbers = |p: &mut Proxy| {
        for n in 1..=4 {
            p.publish(
                "pub",
                if n % 2 == 1 { "odd" } else { "even" },
                &n.to_string(),
            )
            .unwrap();
        }
        p.publish("pub", "end", "end").unwrap();
    };
    publish_numbers(&mut p);
    assert_eq!(texts(&report.until("end")), ["1", "2", "3", "4"]);

    s.unsubscribe("sub", "odd").unwrap();
    publish_numbers(&mut p);
    assert_eq!(texts(&report.until("end")), ["2", "4"]);

    s.subscribe("sub", "odd", Some("collect_tagged")).unwrap();
    await_subscription(&mut p, "pub", "odd", &report);
    publish_numbers(&mut p);
    let got: Vec<(String, String)> = report
        .until("end")
        .iter()
        .map(|r| (r.alias.clone(), r.text()))
        .collect();
    let expect = [("tagged", "1"), ("sub", "2"), ("tagged", "3"), ("sub", "4")];
    assert_eq!(got, expect.map(|(a, t)| (a.to_string(), t.to_string())));
    ns.shutdown().unwrap();
}

fn round_trip(ns: &NameServer, serializer: Serializer, report: &Report) {
    let tag = serializer.as_str();
    let mut a = ns.run_agent(&format!("{tag}-a")).unwrap();
    let mut b = ns.run_agent(&format!("{tag}-b")).unwrap();
    report.attach(&mut b);
    let with = |alias: &str, handler: Option<&str>| BindOptions {
        serializer: Some(serializer),
        handler: handler.map(str::to_owned),
        ..BindOptions::alias(alias)
    };
    let structured = BTreeMap::from([("k".to_string(), vec![1, 2, 3])]);
    let t = Duration::from_secs(10);
    // REQ/REP, against the ready-made echo kind
    let mut e = ns
        .spawn(
            SpawnOptions::default()
                .name(&format!("{tag}-echo"))
                .kind("echo"),
        )
        .unwrap();
    let rep = e
        .bind_with(SocketKind::Rep, with("rep", Some("echo")))
        .unwrap();
    assert_eq!(rep.serializer, serializer);
    a.connect(&rep, "req", None).unwrap();
    if serializer == Serializer::Raw {
        let got: serde_bytes::ByteBuf = a.request_wait("req", "text", t).unwrap();
        assert_eq!(&got[..], b"text");
    } else {
        assert_eq!(
            a.request_wait::<_, String>("req", "text", t).unwrap(),
            "text"
        );
        let back: BTreeMap<String, Vec<i32>> = a.request_wait("req", &structured, t).unwrap();
        assert_eq!(back, structured);
    }
    // Payloads read in place (decode_str / decode_bytes) decode alike under every serializer.
    let borrowed = b
        .bind_with(SocketKind::Rep, with("borrowed", Some("borrowed")))
        .unwrap();
    a.connect(&borrowed, "req-borrowed", None).unwrap();
    let got = match a
        .request_wait::<_, Value>("req-borrowed", "héllo", t)
        .unwrap()
    {
        // Raw frames carry no type: a raw reply comes back as bytes.
        Value::Bytes(b) if serializer == Serializer::Raw => String::from_utf8(b).unwrap(),
        Value::Text(text) => text,
        other => panic!("{tag}: unexpected reply {other:?}"),
    };
    assert_eq!(got, "héllo:6", "{tag}");
    // PUSH/PULL
    let pull = b
        .bind_with(SocketKind::Pull, with("pull", Some("collect")))
        .unwrap();
    a.connect(&pull, "push", None).unwrap();
    a.send("push", "pushed").unwrap();
    let r = report.take(1).remove(0);
    assert_eq!(r.text(), "pushed");
    if serializer != Serializer::Raw {
        a.send("push", &structured).unwrap();
        let r = report.take(1).remove(0);
        let back: BTreeMap<String, Vec<i32>> = r.value.deserialized().unwrap();
        assert_eq!(back, structured);
    }
    // PUB/SUB
    let pubaddr = a.bind_with(SocketKind::Pub, with("pub", None)).unwrap();
    b.connect_topics(&pubaddr, "sub", &[("t", "collect")])
        .unwrap();
    await_subscription(&mut a, "pub", "t", report);
    a.publish("pub", "t", "published").unwrap();
    assert_eq!(report.take(1).remove(0).text(), "published");
}

#[test]
fn every_serializer_round_trips_on_every_pattern() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    for s in [Serializer::Cbor, Serializer::Json, Serializer::Raw] {
        round_trip(&ns, s, &report);
    }
    ns.shutdown().unwrap();
}

#[test]
fn serializer_precedence_is_bind_then_agent_then_global() {
    let ns = testing::node().unwrap();
    let mut plain = ns.run_agent("plain").unwrap();
    assert_eq!(
        plain.bind(SocketKind::Push, "x").unwrap().serializer,
        Serializer::Cbor
    );
    let mut json = ns
        .spawn(
            SpawnOptions::default()
                .name("json")
                .serializer(Serializer::Json),
        )
        .unwrap();
    assert_eq!(
        json.bind(SocketKind::Push, "x").unwrap().serializer,
        Serializer::Json
    );
    let over = BindOptions {
        serializer: Some(Serializer::Raw),
        ..BindOptions::alias("y")
    };
    assert_eq!(
        json.bind_with(SocketKind::Push, over).unwrap().serializer,
        Serializer::Raw
    );
    ns.shutdown().unwrap();
}

#[test]
fn transports_and_tcp_addresses() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut a = ns.run_agent("a").unwrap();
    let mut b = ns.run_agent("b").unwrap();
    report.attach(&mut b);
    // ipc by default on Unix.
    let ipc = a.bind(SocketKind::Push, "ipc").unwrap();
    assert!(ipc.endpoint.starts_with("ipc://"), "{ipc}");
    // tcp with host only: a free port is chosen and reported.
    let tcp = BindOptions {
        transport: Some(Transport::Tcp),
        addr: Some("127.0.0.1".into()),
        ..BindOptions::alias("tcp")
    };
    let tcp = a.bind_with(SocketKind::Push, tcp).unwrap();
    let port: u16 = tcp.endpoint.rsplit(':').next().unwrap().parse().unwrap();
    assert!(port > 0, "{tcp}");
    b.connect(&tcp, "from-tcp", "collect").unwrap();
    a.send("tcp", "over tcp").unwrap();
    assert_eq!(report.take(1)[0].text(), "over tcp");
    // "localhost:port" binds exactly that port.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let exact = BindOptions {
        transport: Some(Transport::Tcp),
        addr: Some(format!("localhost:{free}")),
        ..BindOptions::alias("exact")
    };
    let exact = a.bind_with(SocketKind::Push, exact).unwrap();
    assert_eq!(exact.endpoint, format!("tcp://127.0.0.1:{free}"));
    // Agent-level transport default, overridden per bind.
    let mut t = ns
        .spawn(
            SpawnOptions::default()
                .name("tcp-agent")
                .transport(Transport::Tcp),
        )
        .unwrap();
    assert!(t
        .bind(SocketKind::Push, "d")
        .unwrap()
        .endpoint
        .starts_with("tcp://"));
    let ipc_over = BindOptions {
        transport: Some(Transport::Ipc),
        ..BindOptions::alias("i")
    };
    assert!(t
        .bind_with(SocketKind::Push, ipc_over)
        .unwrap()
        .endpoint
        .starts_with("ipc://"));
    // inproc works inside one agent process.
    let inproc = BindOptions {
        transport: Some(Transport::Inproc),
        ..BindOptions::alias("inproc-pull").handler("collect")
    };
    let inproc = b.bind_with(SocketKind::Pull, inproc).unwrap();
    assert!(inproc.endpoint.starts_with("inproc://"), "{inproc}");
    b.connect(&inproc, "inproc-push", None).unwrap();
    b.send("inproc-push", "in process").unwrap();
    assert_eq!(report.take(1)[0].text(), "in process");
    ns.shutdown().unwrap();
}
