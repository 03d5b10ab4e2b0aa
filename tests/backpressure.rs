//! Backpressure: what a send does at the high-water mark and when the backlog
//! is full, and that every message is counted (docs/guarantees.md, Backpressure).

mod common;

use axon::prelude::*;
use axon::testing;

axon::test_host!(common::registry());

#[test]
fn a_bulk_sender_pauses_at_the_high_water_mark_and_loses_nothing() {
    let ns = testing::node().unwrap();
    let mut sender = ns.run_agent("sender").unwrap();
    let mut receiver = ns.run_agent("receiver").unwrap();
    let pull = receiver
        .bind_handler(SocketKind::Pull, "in", "tally")
        .unwrap();
    sender.connect(&pull, "out", None).unwrap();
    // Far more than the high-water mark (1000) on both sides: the sender must wait for room.
    let n = 50_000i64;
    sender.execute::<_, Value>("blast", &n).unwrap();
    let all = testing::wait_until(common::PATIENCE, || {
        receiver.get_attr::<i64>("count").unwrap_or(0) == n
    });
    assert!(
        all,
        "received {:?} of {n}",
        receiver.get_attr::<i64>("count")
    );
    // `tally` sets in_order only to say false.
    let unset = receiver.get_attr::<bool>("in_order").unwrap_err();
    assert_eq!(
        common::remote_kind(&unset),
        ErrorKind::NotFound,
        "out of order"
    );
    assert!(unset.to_string().contains("in_order"), "{unset}");
    assert_eq!(sender.stats().unwrap().dropped_full, 0);
    ns.shutdown().unwrap();
}

/// Has `sender` send 1..=`n` on `out` while the process of `receiver` is frozen (SIGSTOP), so
/// that its queues and the kernel's fill; returns the sender's counters, then thaws the receiver.
fn blast_past_frozen(ns: &NameServer, sender: &mut Proxy, receiver: &str, n: u64) -> Stats {
    let frozen = common::Frozen::new(ns.info(receiver).unwrap().pid);
    let _: Value = sender.execute("blast", &n).unwrap();
    let stats = sender.stats().unwrap();
    drop(frozen);
    stats
}

#[test]
fn pub_drops_at_its_high_water_mark_are_counted_never_silent() {
    let ns = testing::node().unwrap();
    let mut publisher = ns.run_agent("publisher").unwrap();
    let mut subscriber = ns.run_agent("subscriber").unwrap();
    let small = BindOptions {
        hwm: Some(10),
        ..BindOptions::alias("out")
    };
    let addr = publisher.bind_with(SocketKind::Pub, small).unwrap();
    let opts = ConnectOptions {
        hwm: Some(10),
        ..ConnectOptions::alias("in").handler("tally")
    };
    subscriber.connect_with(&addr, opts).unwrap();
    // The subscription is up once a message gets through.
    let through = testing::wait_until(common::PATIENCE, || {
        publisher.send("out", &0).unwrap();
        subscriber.stats().unwrap().received > 0
    });
    assert!(through, "subscription never took effect");
    // Probes may still be on their way: a marker sent after them, once handled, says
    // none is left (one connection keeps order), so the counts below are exact.
    publisher.send("out", &-1).unwrap();
    let settled = testing::wait_until(common::PATIENCE, || {
        subscriber.get_attr::<i64>("last").unwrap() == -1
    });
    assert!(settled, "{:?}", publisher.stats());
    let warm = subscriber.stats().unwrap().received;
    let warm_sent = publisher.stats().unwrap().sent;

    // A frozen subscriber: its queues (and the kernel's) fill, then the publisher drops.
    let n = 200_000u64;
    let stats = blast_past_frozen(&ns, &mut publisher, "subscriber", n);
    let sent = stats.sent - warm_sent;
    assert!(stats.dropped_hwm > 0, "{stats:?}");
    assert_eq!(
        sent + stats.dropped_hwm,
        n,
        "every message is sent or counted as dropped: {stats:?}"
    );
    assert_eq!(stats.dropped_full, 0);

    // What was sent is delivered: nothing is lost without being counted.
    let delivered = testing::wait_until(common::PATIENCE, || {
        subscriber.stats().unwrap().received - warm == sent
    });
    assert!(
        delivered,
        "sent {sent}, delivered {}",
        subscriber.stats().unwrap().received - warm
    );
    assert_eq!(subscriber.get_attr::<u64>("count").unwrap(), warm + sent);
    ns.shutdown().unwrap();
}

#[test]
fn push_can_drop_at_its_mark_instead_of_waiting() {
    let ns = testing::node().unwrap();
    let mut pusher = ns.run_agent("pusher").unwrap();
    let mut puller = ns.run_agent("puller").unwrap();
    let dropping = BindOptions {
        hwm: Some(10),
        on_full: Some(OnFull::Drop),
        ..BindOptions::alias("out")
    };
    let addr = pusher.bind_with(SocketKind::Push, dropping).unwrap();
    puller.connect(&addr, "in", "tally").unwrap();
    let n = 200_000u64;
    let stats = blast_past_frozen(&ns, &mut pusher, "puller", n);
    assert!(stats.dropped_hwm > 0, "{stats:?}");
    assert_eq!(stats.sent + stats.dropped_hwm, n, "{stats:?}");
    let delivered = testing::wait_until(common::PATIENCE, || {
        puller.stats().unwrap().received == stats.sent
    });
    assert!(delivered);

    // PUB never blocks: asking it to is refused, and the agent goes on.
    let block = BindOptions {
        on_full: Some(OnFull::Block),
        ..BindOptions::alias("pub")
    };
    let e = pusher.bind_with(SocketKind::Pub, block).unwrap_err();
    assert_eq!(common::remote_kind(&e), ErrorKind::BadArguments, "{e}");
    assert!(e.to_string().contains("never blocks"), "{e}");
    pusher.ping().unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn a_send_to_a_full_backlog_is_refused_and_hands_the_message_back() {
    let ns = testing::node().unwrap();
    let mut sender = ns.run_agent("sender").unwrap();
    let mut receiver = ns.run_agent("receiver").unwrap();
    sender.set_timeout(common::PATIENCE);
    let pull = receiver
        .bind_handler(SocketKind::Pull, "in", "tally")
        .unwrap();
    sender.connect(&pull, "out", None).unwrap();
    // The receiver frozen: libzmq's queues (high-water marks) and the kernel's fill,
    // then the backlog (BACKLOG_LIMIT messages), then sends are refused. Nothing drains
    // the backlog while the handler runs, so whatever was refused came after all taken.
    let n = 2 * axon::net::BACKLOG_LIMIT as u64;
    let frozen = common::Frozen::new(ns.info("receiver").unwrap().pid);
    let _: Value = sender.execute("flood", &n).unwrap();
    let stats = sender.stats().unwrap();
    let full: u64 = sender.get_attr("full").unwrap();
    assert!(full > 0, "{stats:?}");
    assert!(
        sender.get_attr::<bool>("handed_back").unwrap(),
        "a refused send kept its message"
    );
    assert_eq!(stats.dropped_full, full, "{stats:?}");
    assert_eq!(
        stats.sent + full,
        n,
        "every message is sent or refused: {stats:?}"
    );
    assert_eq!(stats.dropped_hwm, 0, "{stats:?}");

    // Thawed, the receiver gets every message that was not refused: 1..=sent, in order.
    drop(frozen);
    let delivered = testing::wait_until(common::PATIENCE, || {
        receiver.get_attr::<u64>("count").unwrap_or(0) == stats.sent
    });
    assert!(
        delivered,
        "sent {}, received {:?}",
        stats.sent,
        receiver.get_attr::<u64>("count")
    );
    assert_eq!(receiver.get_attr::<u64>("last").unwrap(), stats.sent);
    let unset = receiver.get_attr::<bool>("in_order").unwrap_err();
    assert_eq!(
        common::remote_kind(&unset),
        ErrorKind::NotFound,
        "out of order"
    );
    ns.shutdown().unwrap();
}
