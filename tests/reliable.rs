//! At-least-once PUSH/PULL (docs/guarantees.md, "Reliable channels";
//! ACCEPTANCE C1): a receiver or a durable sender SIGKILLed mid-stream loses
//! nothing, a restarted receiver gets what was in flight as soon as it is
//! back, a full outbox refuses and then resumes, and garbage
//! acknowledgements are counted and ignored.
//!
//! The receiver records every message it handles, with its pid, by
//! appending to a file in the test's directory: a line written before a
//! SIGKILL survives it, so the test sees exactly what each incarnation of
//! the receiver handled.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use axon::launch::Signal;
use axon::prelude::*;
use axon::{NodeOptions, Reliability, ReliableStats, SupervisorSpec};
use common::{permanent, TempDir};

axon::test_host!(common::registry().handler("record", record));

/// Messages in each stream.
const N: i64 = 100_000;

/// The file `record` appends to, opened on first use (one per process).
static RECORDS: Mutex<Option<std::fs::File>> = Mutex::new(None);

/// Appends "pid n" to the file named by the `records` attribute.
fn record(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let n: i64 = msg.decode()?;
    let mut file = RECORDS.lock().map_err(|_| HandlerError::msg("poisoned"))?;
    if file.is_none() {
        let Some(Value::Text(path)) = a.attributes.get("records") else {
            return Err(HandlerError::msg("no records attribute"));
        };
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        *file = Some(f);
    }
    if let Some(f) = file.as_mut() {
        // One write per line: what the kernel has, a SIGKILL does not take back.
        f.write_all(format!("{} {n}\n", std::process::id()).as_bytes())?;
    }
    Ok(())
}

/// What the receivers handled: by pid, in order.
fn handled(path: &Path) -> BTreeMap<u32, Vec<i64>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_pid: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    // A line being written as the test reads may be cut: only whole lines count.
    for line in text
        .split_inclusive('\n')
        .filter_map(|l| l.strip_suffix('\n'))
    {
        let mut parts = line.split(' ');
        if let (Some(pid), Some(n)) = (parts.next(), parts.next()) {
            if let (Ok(pid), Ok(n)) = (pid.parse(), n.parse()) {
                by_pid.entry(pid).or_default().push(n);
            }
        }
    }
    by_pid
}

fn lines(path: &Path) -> usize {
    handled(path).values().map(Vec::len).sum()
}

fn distinct(path: &Path) -> usize {
    handled(path)
        .values()
        .flatten()
        .collect::<BTreeSet<_>>()
        .len()
}

/// A node whose supervisor restarts as often as these tests kill, and is patient with a
/// loaded machine's heartbeats.
fn node() -> NameServer {
    axon::testing::node_with(NodeOptions {
        supervisor: SupervisorSpec {
            intensity: 100,
            period: Duration::from_secs(600),
            heartbeat: Duration::from_secs(5),
            ..SupervisorSpec::default()
        },
        ..NodeOptions::default()
    })
    .unwrap()
}

/// Redelivery after half a second: a killed receiver's messages come again soon.
fn quick() -> Reliability {
    Reliability {
        ack_timeout_ms: 500,
        ..Reliability::default()
    }
}

fn reliable_stats(agent: &mut Proxy, alias: &str) -> ReliableStats {
    let stats = agent.stats().unwrap();
    stats.reliable.get(alias).cloned().unwrap_or_default()
}

/// SIGKILLs `name` once `path` holds at least `at` lines; waits until it runs again.
fn kill_when(ns: &NameServer, name: &str, path: &Path, at: usize) {
    common::eventually(&format!("{at} messages handled"), || {
        (lines(path) >= at).then_some(())
    });
    let old = ns.signal(name, Signal::Kill).unwrap();
    common::eventually(&format!("{name} restarted"), || {
        let ps = ns.ps().ok()?;
        ps.into_iter()
            .find(|s| s.name == name && s.state == "running" && s.pid.is_some_and(|p| p != old))
    });
}

/// Every number 1..=N handled at least once, none twice by one receiver process; returns
/// how many were handled more than once in all.
fn check_complete(path: &Path) -> usize {
    let by_pid = handled(path);
    for (pid, ns) in &by_pid {
        let unique: BTreeSet<_> = ns.iter().collect();
        assert_eq!(
            unique.len(),
            ns.len(),
            "receiver {pid} handled a message twice"
        );
    }
    let all: BTreeSet<i64> = by_pid.values().flatten().copied().collect();
    assert_eq!(all, (1..=N).collect(), "some numbers never handled");
    let total: usize = by_pid.values().map(Vec::len).sum();
    total - N as usize
}

/// Waits until every number was handled and the sender's outbox `out` is empty; checks
/// [`check_complete`]; returns the duplicates and the sender's counters.
fn all_handled(path: &Path, tx: &mut Proxy) -> (usize, ReliableStats) {
    common::eventually("every message handled", || {
        (distinct(path) == N as usize).then_some(())
    });
    let duplicates = check_complete(path);
    let out = common::eventually("the outbox empty", || {
        let s = reliable_stats(tx, "out");
        (s.outbox_messages == 0).then_some(s)
    });
    (duplicates, out)
}

/// A supervised receiver `rx` recording into `path` on a bound reliable PULL `in`, and a
/// supervised sender `tx` connected to it on `out` with `sender`'s settings.
fn recorded_stream(ns: &NameServer, path: &Path, sender: Reliability) -> (Proxy, Proxy) {
    let mut rx = permanent(ns, "rx");
    rx.set_attr("records", &path.display().to_string()).unwrap();
    let pull = rx
        .bind_with(
            SocketKind::Pull,
            BindOptions::alias("in").handler("record").reliable(quick()),
        )
        .unwrap();
    let mut tx = permanent(ns, "tx");
    tx.connect_with(&pull, ConnectOptions::alias("out").reliable(sender))
        .unwrap();
    (rx, tx)
}

#[test]
fn a_receiver_sigkilled_three_times_mid_stream_loses_nothing() {
    let dir = TempDir::new("reliable-receiver");
    let path = dir.0.join("handled");
    let ns = node();
    let (mut rx, mut tx) = recorded_stream(&ns, &path, quick());

    tx.execute::<_, Value>("blast", &N).unwrap();
    for at in [15_000, 40_000, 65_000] {
        kill_when(&ns, "rx", &path, at);
    }
    // Every message is acknowledged once, and the outbox empties.
    let (duplicates, out) = all_handled(&path, &mut tx);
    assert_eq!(
        (out.acked, out.dead_lettered, out.garbage_acks),
        (N as u64, 0, 0)
    );
    assert_eq!(tx.stats().unwrap().sent, N as u64);
    // Handled twice means handled by two receiver processes: the first crashed before its
    // acknowledgement left. The last receiver's count is its own.
    assert_eq!(lines(&path), N as usize + duplicates);
    let last = reliable_stats(&mut rx, "in");
    assert_eq!(last.plain_frames, 0);
    eprintln!("handled {} for {N}: {duplicates} duplicates across restarts, {} redelivered, last receiver dropped {} duplicates", N as usize + duplicates, out.redelivered, last.duplicates);
    ns.shutdown().unwrap();
}

#[test]
fn a_restarted_receiver_gets_what_was_in_flight_at_once_not_after_the_timeout() {
    const M: i64 = 20_000;
    let dir = TempDir::new("reliable-reconnect");
    let path = dir.0.join("handled");
    let ns = node();
    // Ten minutes: far past this test's deadlines, so only the reconnection can send again.
    let patient = Reliability {
        ack_timeout_ms: 600_000,
        ..Reliability::default()
    };
    let (_rx, mut tx) = recorded_stream(&ns, &path, patient);
    tx.execute::<_, Value>("blast", &M).unwrap();
    kill_when(&ns, "rx", &path, 5_000);
    common::eventually("every message handled", || {
        (distinct(&path) == M as usize).then_some(())
    });
    let out = common::eventually("every message acknowledged", || {
        let s = reliable_stats(&mut tx, "out");
        (s.outbox_messages == 0).then_some(s)
    });
    assert_eq!((out.acked, out.garbage_acks), (M as u64, 0));
    // What the killed receiver held went again: the reconnection sent it, not a timeout.
    assert!(out.redelivered > 0, "{out:?}");
    let all: BTreeSet<i64> = handled(&path).into_values().flatten().collect();
    assert_eq!(all, (1..=M).collect());
    ns.shutdown().unwrap();
}

#[test]
fn a_durable_sender_sigkilled_mid_stream_loses_nothing() {
    let dir = TempDir::new("reliable-sender");
    let path = dir.0.join("handled");
    let ns = node();
    let mut tx = permanent(&ns, "tx");
    let durable = Reliability {
        durable: true,
        ..quick()
    };
    let push = tx
        .bind_with(
            SocketKind::Push,
            BindOptions::alias("out").reliable(durable),
        )
        .unwrap();
    let mut rx = permanent(&ns, "rx");
    rx.set_attr("records", &path.display().to_string()).unwrap();
    let pull = ConnectOptions::alias("in")
        .handler("record")
        .reliable(quick());
    rx.connect_with(&push, pull).unwrap();

    // All of them into the outbox (and its file) at once: a send that returned is kept.
    tx.execute::<_, Value>("flood", &N).unwrap();
    assert_eq!(tx.get_attr::<i64>("full").unwrap(), 0);
    for at in [20_000, 60_000] {
        kill_when(&ns, "tx", &path, at);
    }
    let (duplicates, out) = all_handled(&path, &mut tx);
    assert_eq!((out.dead_lettered, out.garbage_acks), (0, 0));
    // One receiver saw every copy: each one past the first it dropped, and counted.
    let seen = reliable_stats(&mut rx, "in");
    assert_eq!(duplicates, 0, "one receiver process never handles twice");
    assert_eq!(seen.handled, N as u64);
    eprintln!("sender killed twice: {} duplicates dropped by the receiver, the last sender redelivered {}", seen.duplicates, out.redelivered);
    ns.shutdown().unwrap();
}

#[test]
fn a_full_outbox_refuses_sends_and_resumes_once_acknowledged() {
    let ns = axon::testing::node().unwrap();
    let mut tx = ns.run_agent("tx").unwrap();
    let small = Reliability {
        outbox_messages: 1000,
        ..quick()
    };
    let push = tx
        .bind_with(SocketKind::Push, BindOptions::alias("out").reliable(small))
        .unwrap();
    // Nobody acknowledges yet: the outbox keeps the first 1000, refuses the rest, hands them back.
    tx.execute::<_, Value>("flood", &1500).unwrap();
    assert_eq!(tx.get_attr::<i64>("full").unwrap(), 500);
    assert!(tx.get_attr::<bool>("handed_back").unwrap());
    let held = reliable_stats(&mut tx, "out");
    assert_eq!((held.outbox_messages, held.acked), (1000, 0));
    assert_eq!(tx.stats().unwrap().dropped_full, 500);

    let mut rx = ns.run_agent("rx").unwrap();
    let pull = ConnectOptions::alias("in")
        .handler("tally")
        .reliable(quick());
    rx.connect_with(&push, pull).unwrap();
    common::eventually("the outbox drained", || {
        (reliable_stats(&mut tx, "out").outbox_messages == 0).then_some(())
    });
    // Room again: the next 1000 all go in.
    tx.execute::<_, Value>("flood", &1000).unwrap();
    assert_eq!(tx.get_attr::<i64>("full").unwrap(), 0);
    common::eventually("2000 handled", || {
        (rx.get_attr::<i64>("count").ok()? == 2000).then_some(())
    });
    let out = common::eventually("all acknowledged", || {
        let s = reliable_stats(&mut tx, "out");
        (s.acked == 2000).then_some(s)
    });
    assert_eq!(out.outbox_messages, 0);
    assert_eq!(tx.stats().unwrap().dropped_full, 500);
    assert_eq!(reliable_stats(&mut rx, "in").handled, 2000);
    ns.shutdown().unwrap();
}

/// An acknowledgement frame: magic, incarnation, ranges (all big-endian).
fn ack(magic: &[u8], incarnation: u64, ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut frame = magic.to_vec();
    frame.extend_from_slice(&incarnation.to_be_bytes());
    for (first, last) in ranges {
        frame.extend_from_slice(&first.to_be_bytes());
        frame.extend_from_slice(&last.to_be_bytes());
    }
    frame
}

#[test]
fn garbage_acknowledgements_are_counted_and_ignored() {
    let ns = axon::testing::node().unwrap();
    let mut tx = ns.run_agent("tx").unwrap();
    let push = tx
        .bind_with(
            SocketKind::Push,
            BindOptions::alias("out").reliable(quick()),
        )
        .unwrap();
    let mut rx = ns.run_agent("rx").unwrap();
    let pull = ConnectOptions::alias("in")
        .handler("tally")
        .reliable(quick());
    rx.connect_with(&push, pull).unwrap();
    let pid = ns.info("tx").unwrap().pid;
    tx.execute::<_, Value>("blast", &1000).unwrap();
    common::eventually("1000 handled", || {
        (rx.get_attr::<i64>("count").ok()? == 1000).then_some(())
    });
    let before = common::eventually("1000 acknowledged", || {
        let s = reliable_stats(&mut tx, "out");
        (s.acked == 1000).then_some(s)
    });

    // A foreign peer on the acknowledgement path.
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::DEALER).unwrap();
    raw.set_linger(0).unwrap();
    raw.connect(push.requests.as_deref().unwrap()).unwrap();
    let inc = before.incarnation;
    let garbage: Vec<Vec<Vec<u8>>> = vec![
        vec![b"hello".to_vec()],
        vec![Vec::new()],
        vec![ack(b"AXA1", inc, &[])],
        vec![ack(b"AXZ1", inc, &[(0, 1)])],
        vec![ack(b"AXA1", inc ^ 1, &[(0, 1)])],
        vec![ack(b"AXA1", inc, &[(5, 4)])],
        vec![ack(b"AXA1", inc, &[(0, 1_000_000)])],
        vec![ack(b"AXN1", inc, &[(u64::MAX, u64::MAX)])],
        vec![ack(b"AXA1", inc, &[(0, 1)]), b"extra".to_vec()],
    ];
    for frames in &garbage {
        raw.send_multipart(frames, 0).unwrap();
    }
    let counted = common::eventually("garbage counted", || {
        let s = reliable_stats(&mut tx, "out");
        (s.garbage_acks >= garbage.len() as u64).then_some(s)
    });
    assert_eq!(counted.garbage_acks, garbage.len() as u64);

    // The stream goes on, from the same process.
    tx.execute::<_, Value>("blast", &1000).unwrap();
    common::eventually("2000 handled", || {
        (rx.get_attr::<i64>("count").ok()? == 2000).then_some(())
    });
    let after = common::eventually("2000 acknowledged", || {
        let s = reliable_stats(&mut tx, "out");
        (s.acked == 2000).then_some(s)
    });
    assert_eq!(
        (after.garbage_acks, after.outbox_messages),
        (garbage.len() as u64, 0)
    );
    assert_eq!(ns.info("tx").unwrap().pid, pid);
    tx.ping().unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn plain_and_reliable_ends_do_not_mix_silently() {
    let ns = axon::testing::node().unwrap();
    let mut rx = ns.run_agent("rx").unwrap();
    let reliable_pull = rx
        .bind_with(
            SocketKind::Pull,
            BindOptions::alias("strict")
                .handler("tally")
                .reliable(quick()),
        )
        .unwrap();
    let plain_pull = rx.bind_handler(SocketKind::Pull, "plain", "tally").unwrap();
    // A plain ZeroMQ PUSH to the reliable PULL: counted as plain frames, not handled.
    let ctx = zmq::Context::new();
    let raw = ctx.socket(zmq::PUSH).unwrap();
    raw.set_linger(0).unwrap();
    raw.connect(&reliable_pull.endpoint).unwrap();
    raw.send(Serializer::Cbor.encode(&1i64).unwrap(), 0)
        .unwrap();
    common::eventually("a plain frame counted", || {
        (reliable_stats(&mut rx, "strict").plain_frames == 1).then_some(())
    });
    // A reliable PUSH cannot connect to a plain PULL: it has no acknowledgement endpoint.
    let mut tx = ns.run_agent("tx").unwrap();
    let refused = tx
        .connect_with(&plain_pull, ConnectOptions::alias("out").reliable(quick()))
        .unwrap_err();
    assert!(refused.to_string().contains("not reliable"), "{refused}");
    // Reliable frames sent by hand to the plain PULL: malformed, counted, the agent serves on.
    let plain = ctx.socket(zmq::PUSH).unwrap();
    plain.set_linger(0).unwrap();
    plain.connect(&plain_pull.endpoint).unwrap();
    let mut header = b"AXR1".to_vec();
    header.extend_from_slice(&[0; 24]);
    plain
        .send_multipart([header, Serializer::Cbor.encode(&1i64).unwrap()], 0)
        .unwrap();
    common::eventually("a malformed message counted", || {
        (rx.stats().ok()?.malformed == 1).then_some(())
    });
    assert!(rx.get_attr::<i64>("count").is_err(), "nothing was handled");
    // Nor can a plain PULL connect to a reliable PUSH.
    let reliable_push = tx
        .bind_with(
            SocketKind::Push,
            BindOptions::alias("rout").reliable(quick()),
        )
        .unwrap();
    let e = rx
        .connect_with(
            &reliable_push,
            ConnectOptions::alias("plain-in").handler("tally"),
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("connect with reliable = true"),
        "{e}"
    );
    // Only PUSH and PULL are reliable.
    let e = rx
        .bind_with(SocketKind::Pub, BindOptions::alias("p").reliable(quick()))
        .unwrap_err();
    assert!(e.to_string().contains("only PUSH and PULL"), "{e}");
    ns.shutdown().unwrap();
}

#[test]
fn a_message_whose_handler_keeps_failing_is_dead_lettered_after_max_attempts() {
    let ns = axon::testing::node().unwrap();
    let mut sink = ns.run_agent("sink").unwrap();
    let dead = sink
        .bind_handler(SocketKind::Pull, "dead", "tally")
        .unwrap();
    let mut tx = ns.run_agent("tx").unwrap();
    tx.connect(&dead, "dead", None).unwrap();
    let policy = Reliability {
        max_attempts: 3,
        dead_letter: Some("dead".into()),
        ..quick()
    };
    let push = tx
        .bind_with(SocketKind::Push, BindOptions::alias("out").reliable(policy))
        .unwrap();
    let mut rx = ns.run_agent("rx").unwrap();
    let pull = ConnectOptions::alias("in")
        .handler("fail")
        .reliable(quick());
    rx.connect_with(&push, pull).unwrap();

    tx.execute::<_, Value>("blast", &10).unwrap();
    common::eventually("10 dead letters", || {
        (sink.get_attr::<i64>("count").ok()? == 10).then_some(())
    });
    let out = reliable_stats(&mut tx, "out");
    assert_eq!(
        (
            out.dead_lettered,
            out.nacked,
            out.acked,
            out.outbox_messages
        ),
        (10, 30, 0, 0)
    );
    // Each was tried three times: the first delivery and two redeliveries.
    assert_eq!(out.redelivered, 20);
    assert_eq!(rx.stats().unwrap().handler_errors, 30);
    assert_eq!(reliable_stats(&mut rx, "in").handled, 0);
    ns.shutdown().unwrap();
}
