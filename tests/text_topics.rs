//! Topics are bytes on the wire, and text is taken wherever a topic goes:
//! `send`, `subscribe`, `set_handler`, `unsubscribe` (a CLI user types text).

mod common;

use axon::prelude::*;
use axon::testing;
use common::{Report, PATIENCE};
use serde_json::json;

axon::test_host!(common::registry());

#[test]
fn text_topics_are_taken_by_send_subscribe_set_handler_and_unsubscribe() {
    let ns = testing::node().unwrap();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let mut subscriber = ns.run_agent("subscriber").unwrap();
    let report = Report::new();
    report.attach(&mut subscriber);
    let out = publisher.bind(SocketKind::Pub, "out").unwrap();
    subscriber
        .connect_with(
            &out,
            ConnectOptions::alias("in").topics(&[("probe", "collect")]),
        )
        .unwrap();
    common::await_subscription(&mut publisher, "out", "probe", &report);

    // Every topic below is JSON text, as `axon call` sends it.
    let call = |p: &mut Proxy, method: &str, args: serde_json::Value| {
        p.call::<_, Value>(method, args)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    };
    call(
        &mut subscriber,
        "subscribe",
        json!({"alias": "in", "topic": "news", "handler": "collect"}),
    );
    call(
        &mut subscriber,
        "set_handler",
        json!({"alias": "in", "topic": "news", "handler": "collect_tagged"}),
    );
    let heard = testing::wait_until(PATIENCE, || {
        call(
            &mut publisher,
            "send",
            json!({"alias": "out", "topic": "news", "message": "hello"}),
        );
        report
            .next(std::time::Duration::from_millis(20))
            .is_some_and(|r| {
                r.alias == "tagged"
                    && r.topic.as_ref().map(|t| t.as_slice()) == Some(&b"news"[..])
                    && r.text() == "hello"
            })
    });
    assert!(heard, "a text topic reached its text-named handler");
    call(
        &mut subscriber,
        "unsubscribe",
        json!({"alias": "in", "topic": "news"}),
    );
    // Unsubscribing a text topic twice names it: it is the same topic as the bytes.
    let again = subscriber.call::<_, Value>("unsubscribe", json!({"alias": "in", "topic": "news"}));
    let e = again.unwrap_err();
    assert_eq!(
        e.remote().map(|r| r.kind),
        Some(ErrorKind::BadArguments),
        "{e}"
    );
    assert!(e.to_string().contains("not subscribed"), "{e}");
    ns.shutdown().unwrap();
}
