//! osBrain's channels: ACCEPTANCE H1-H5.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axon::prelude::*;
use axon::testing::{self, wait_until};
use axon::RequestOptions;
use common::{await_subscribers, remote_kind, Frozen, Report, PATIENCE};

axon::test_host!(common::registry());

fn replying(handler: &str) -> RequestOptions {
    RequestOptions {
        handler: Some(handler.into()),
        ..RequestOptions::default()
    }
}

fn server(ns: &NameServer, name: &str, delay_ms: u64, serializer: Serializer) -> Address {
    let mut s = ns.run_agent(name).unwrap();
    s.set_attr("delay_ms", &delay_ms).unwrap();
    let opts = BindOptions {
        alias: Some("rep".into()),
        handler: Some("slow_upper".into()),
        serializer: Some(serializer),
        ..BindOptions::default()
    };
    s.bind_with(SocketKind::AsyncRep, opts).unwrap()
}

#[test]
fn async_requests_never_block_and_replies_reach_their_own_handlers() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let s1 = server(&ns, "s1", 1000, Serializer::Cbor);
    let s2 = server(&ns, "s2", 1000, Serializer::Cbor);
    let mut client = ns.run_agent("client").unwrap();
    report.attach(&mut client);
    client.connect(&s1, "s1", None).unwrap();
    client.connect(&s2, "s2", None).unwrap();
    // Both servers frozen (SIGSTOP): none can answer, however slow this test runs.
    let frozen: Vec<Frozen> = ["s1", "s2"]
        .iter()
        .map(|n| Frozen::new(ns.info(n).unwrap().pid))
        .collect();
    client.request("s1", "foo", replying("collect")).unwrap();
    client
        .request("s1", "bar", replying("collect_tagged"))
        .unwrap();
    client.request("s2", "qux", replying("collect")).unwrap();
    // The client serves calls while its requests are out.
    client.ping().unwrap();
    assert!(
        report.next(Duration::ZERO).is_none(),
        "no server can have answered yet"
    );
    drop(frozen);
    let got = report.take(3);
    let got: Vec<(String, String)> = got.iter().map(|r| (r.alias.clone(), r.text())).collect();
    let set: BTreeSet<_> = got.iter().cloned().collect();
    let expect = [("s1", "FOO"), ("tagged", "BAR"), ("s2", "QUX")];
    assert_eq!(
        set,
        expect
            .iter()
            .map(|(a, t)| (a.to_string(), t.to_string()))
            .collect()
    );
    let pos = |t: &str| got.iter().position(|(_, x)| x == t).unwrap();
    assert!(
        pos("FOO") < pos("BAR"),
        "one server answers in order: {got:?}"
    );
    ns.shutdown().unwrap();
}

#[test]
fn a_request_past_its_wait_runs_on_error_once_and_its_late_reply_is_dropped() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let blocked = server(&ns, "blocked", 0, Serializer::Cbor);
    let mut client = ns.run_agent("client").unwrap();
    report.attach(&mut client);
    client.connect(&blocked, "b", None).unwrap();
    let opts = RequestOptions {
        handler: Some("collect".into()),
        on_error: Some("collect_tagged".into()),
        wait: Some(Duration::from_millis(500)),
    };
    // Blocked for good (SIGSTOP) until the wait is over, however late the client's timer runs.
    let frozen = Frozen::new(ns.info("blocked").unwrap().pid);
    client.request("b", "late", opts.clone()).unwrap();
    let r = report.take(1).remove(0);
    assert_eq!((r.alias.as_str(), r.text().as_str()), ("tagged", "late"));
    drop(frozen);
    assert!(
        wait_until(PATIENCE, || client.stats().unwrap().unhandled == 1),
        "late reply not seen"
    );
    assert!(
        report.next(Duration::from_millis(200)).is_none(),
        "a handler ran for the late reply"
    );
    ns.shutdown().unwrap();
}

fn sync_pair(ns: &NameServer, serializer: Serializer, report: &Report) -> (Proxy, Vec<Proxy>) {
    let tag = serializer.as_str();
    let mut publisher = ns.run_agent(&format!("{tag}-pub")).unwrap();
    let opts = BindOptions {
        alias: Some("stream".into()),
        handler: Some("upper".into()),
        serializer: Some(serializer),
        ..BindOptions::default()
    };
    let addr = publisher.bind_with(SocketKind::SyncPub, opts).unwrap();
    assert!(addr.requests.is_some(), "{addr:?}");
    let mut subs = Vec::new();
    for n in ["a", "b"] {
        let mut s = ns.run_agent(&format!("{tag}-sub-{n}")).unwrap();
        report.attach(&mut s);
        s.connect_topics(&addr, "stream", &[("t", "collect")])
            .unwrap();
        subs.push(s);
    }
    await_subscribers(&mut publisher, "stream", "t", report, 2);
    (publisher, subs)
}

#[test]
fn sync_pub_answers_in_order_with_its_stream_and_only_to_the_requester() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let (mut publisher, mut subs) = sync_pair(&ns, Serializer::Cbor, &report);
    publisher.publish("stream", "t", "before").unwrap();
    subs[0]
        .request("stream", "question", replying("collect_tagged"))
        .unwrap();
    let mut got = report.take(3);
    while !got.iter().any(|r| r.alias == "tagged") {
        got.extend(report.take(1));
    }
    publisher.publish("stream", "t", "after").unwrap();
    publisher.publish("stream", "t", "end").unwrap();
    let mut rest = Vec::new();
    while rest
        .iter()
        .filter(|r: &&common::Record| r.text() == "end")
        .count()
        < 2
    {
        rest.push(report.take(1).remove(0));
    }
    got.extend(rest);
    let of = |agent: &str| -> Vec<String> {
        got.iter()
            .filter(|r| r.agent == agent)
            .map(|r| format!("{}:{}", r.alias, r.text()))
            .collect()
    };
    assert_eq!(
        of("cbor-sub-a"),
        [
            "stream:before",
            "tagged:QUESTION",
            "stream:after",
            "stream:end"
        ]
    );
    assert_eq!(
        of("cbor-sub-b"),
        ["stream:before", "stream:after", "stream:end"]
    );
    ns.shutdown().unwrap();
}

#[test]
fn channels_without_handlers_are_refused() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    for kind in [SocketKind::AsyncRep, SocketKind::SyncPub] {
        let err = a.bind(kind, "x").unwrap_err();
        assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{kind}: {err}");
        assert!(err.to_string().contains("needs a handler"), "{kind}: {err}");
    }
    let report = Report::new();
    let (_publisher, mut subs) = sync_pair(&ns, Serializer::Cbor, &report);
    let err = subs[0].send("stream", "no handler").unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("reply handler"), "{err}");
    let err = subs[0]
        .request("stream", "x", replying("no_such"))
        .unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("no_such"), "{err}");
    ns.shutdown().unwrap();
}

#[test]
fn channels_work_with_every_serializer() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    for serializer in [Serializer::Json, Serializer::Raw] {
        let tag = serializer.as_str();
        let rep = server(&ns, &format!("{tag}-s"), 0, serializer);
        let mut client = ns.run_agent(&format!("{tag}-client")).unwrap();
        report.attach(&mut client);
        client.connect(&rep, "r", None).unwrap();
        client.request("r", "async", replying("collect")).unwrap();
        assert_eq!(report.take(1)[0].text(), "ASYNC");

        let (_publisher, mut subs) = sync_pair(&ns, serializer, &report);
        subs[1]
            .request("stream", "sync", replying("collect_tagged"))
            .unwrap();
        let r = report.take(1).remove(0);
        assert_eq!(
            (r.alias.as_str(), r.text().as_str()),
            ("tagged", "SYNC"),
            "{tag}"
        );
    }
    ns.shutdown().unwrap();
}
