//! Live control: attributes, handlers, call modes, failures and timers.
//! ACCEPTANCE R3, C1, C2, C3, C5, C6, T1, T2, T3.

mod common;

use std::time::Duration;

use axon::prelude::*;
use axon::testing::{self, process_alive, wait_until};
use common::{Report, PATIENCE};

axon::test_host!(common::registry());

#[test]
fn spawn_time_attributes_are_read_back_and_reserved_names_refused() {
    let ns = testing::node().unwrap();
    let opts = SpawnOptions::default()
        .name("a")
        .attribute("x", 1)
        .unwrap()
        .attribute("y", "a")
        .unwrap();
    let mut a = ns.spawn(opts).unwrap();
    assert_eq!(a.get_attr::<i64>("x").unwrap(), 1);
    assert_eq!(a.get_attr::<String>("y").unwrap(), "a");
    assert_eq!(a.get_attr::<String>("name").unwrap(), "a");
    let clash = SpawnOptions::default()
        .name("b")
        .attribute("name", "oops")
        .unwrap();
    let err = ns.spawn(clash).unwrap_err();
    assert_eq!(
        err.remote().map(|e| e.kind),
        Some(ErrorKind::BadArguments),
        "{err}"
    );
    assert!(err.to_string().contains("reserved"), "{err}");
    assert_eq!(ns.agents().unwrap(), ["a"]);
    assert!(a.set_attr("pid", &1).is_err());
    ns.shutdown().unwrap();
}

#[test]
fn two_proxies_add_to_one_attribute_and_handlers_change_attributes() {
    let ns = testing::node().unwrap();
    let mut first = ns.run_agent("a").unwrap();
    let mut second = ns.proxy("a").unwrap();
    first.set_attr("x", &0).unwrap();
    for p in [&mut first, &mut second] {
        let x: i64 = p.get_attr("x").unwrap();
        p.set_attr("x", &(x + 1)).unwrap();
    }
    assert_eq!(first.get_attr::<i64>("x").unwrap(), 2);

    first.set_attr("y", &5).unwrap();
    first.execute::<_, Value>("add10", &()).unwrap();
    assert_eq!(second.get_attr::<i64>("x").unwrap(), 12);
    assert_eq!(second.get_attr::<i64>("y").unwrap(), 15);
    ns.shutdown().unwrap();
}

#[test]
fn a_handler_attached_while_running_takes_later_messages() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut a = ns.run_agent("a").unwrap();
    let mut b = ns.run_agent("b").unwrap();
    report.attach(&mut b);
    let pull = b.bind_handler(SocketKind::Pull, "in", "collect").unwrap();
    a.connect(&pull, "out", None).unwrap();
    a.send("out", "before").unwrap();
    assert_eq!(report.take(1)[0].alias, "in");
    b.set_handler("in", "collect_tagged").unwrap();
    a.send("out", "after").unwrap();
    let r = report.take(1).remove(0);
    assert_eq!((r.alias.as_str(), r.text().as_str()), ("tagged", "after"));
    assert!(b.set_handler("in", "no_such").is_err());
    ns.shutdown().unwrap();
}

#[test]
fn handler_errors_are_counted_and_panics_end_the_process() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    for _ in 0..3 {
        let e = a.execute::<_, Value>("fail", &()).unwrap_err();
        assert_eq!(
            e.remote().map(|e| (e.kind, e.method.clone())),
            Some((ErrorKind::Handler, "fail".into()))
        );
    }
    assert_eq!(a.stats().unwrap().handler_errors, 3);
    a.ping().unwrap();

    let pid = ns.info("a").unwrap().pid;
    assert!(a.execute::<_, Value>("panic", &()).is_err());
    assert!(
        wait_until(PATIENCE, || !process_alive(pid)),
        "panicked agent still alive"
    );
    assert!(
        wait_until(PATIENCE, || ns.agents().unwrap().is_empty()),
        "zombie registration"
    );
    ns.shutdown().unwrap();
}

#[test]
fn safe_calls_wait_timeouts_fail_and_oneway_returns_at_once() {
    let ns = testing::node().unwrap();
    let report = Report::new();
    let mut a = ns.run_agent("a").unwrap();
    let mut driver = ns.run_agent("driver").unwrap();
    report.attach(&mut a);
    let pull = a.bind_handler(SocketKind::Pull, "work", "slow").unwrap();
    driver.connect(&pull, "work", None).unwrap();
    let busy = |driver: &mut Proxy| {
        driver.send("work", &2000u64).unwrap();
        assert_eq!(report.take(1)[0].text(), "slow-start");
    };

    // A normal call waits for the handler and completes.
    busy(&mut driver);
    a.set_timeout(PATIENCE);
    a.ping().unwrap();
    assert_eq!(report.take(1)[0].text(), "slow-done");

    // A call with a short timeout fails with a timeout error.
    busy(&mut driver);
    let err = a
        .call_timeout::<_, Value>("ping", (), Duration::from_millis(500))
        .unwrap_err();
    assert!(matches!(err, axon::Error::Timeout(..)), "{err}");

    // A oneway call returns before the busy agent could have handled it, and takes effect later.
    a.oneway("set_attr", serde_json::json!({"name": "later", "value": 1}))
        .unwrap();
    assert!(
        report.next(Duration::ZERO).is_none(),
        "the handler was still running"
    );
    assert_eq!(report.take(1)[0].text(), "slow-done");
    assert_eq!(a.get_attr::<i64>("later").unwrap(), 1);
    ns.shutdown().unwrap();
}

fn stamps(a: &mut Proxy) -> Vec<u64> {
    a.get_attr::<Vec<u64>>("stamps").unwrap_or_default()
}

#[test]
fn periodic_timers_keep_their_cadence_without_bursts() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let period = Duration::from_millis(100);
    let started = axon::clock::now_ms();
    // The third tick takes 350 ms: the ticks after it must not burst to catch up.
    let alias = a.each(period, Some("tick"), "stamp", &350u64).unwrap();
    assert_eq!(alias, "tick");
    assert!(wait_until(PATIENCE, || stamps(&mut a)
        .iter()
        .any(|t| t - started >= 2300)));
    a.stop_timer("tick").unwrap();
    let s = stamps(&mut a);
    let gaps: Vec<u64> = s.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 50), "ticks burst: gaps {gaps:?}");
    // Over the first 2 s, minus the 250 ms the slow tick took beyond its period: 20 - 2 ± 2.
    let in_two_seconds = s.iter().filter(|t| **t - started <= 2000).count();
    assert!(
        (16..=20).contains(&in_two_seconds),
        "{in_two_seconds} ticks: {s:?}"
    );

    // Without a slow tick: 20 ± 2.
    a.set_attr("stamps", &Vec::<u64>::new()).unwrap();
    let started = axon::clock::now_ms();
    a.each(period, Some("tick"), "stamp", &0u64).unwrap();
    assert!(wait_until(PATIENCE, || stamps(&mut a)
        .iter()
        .any(|t| t - started >= 2100)));
    a.stop_all_timers().unwrap();
    let count = stamps(&mut a)
        .iter()
        .filter(|t| **t - started <= 2000)
        .count();
    assert!((18..=22).contains(&count), "{count} ticks in 2 s");
    ns.shutdown().unwrap();
}

#[test]
fn one_shot_timers_fire_once_in_order() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let t0 = axon::clock::now_ms();
    a.after(Duration::from_secs(1), None, "add", &2).unwrap();
    a.after(Duration::from_secs(2), None, "add", &1).unwrap();
    assert_eq!(a.list_timers().unwrap().len(), 2);
    assert!(wait_until(PATIENCE, || a
        .get_attr::<i64>("x")
        .map(|x| x == 3)
        .unwrap_or(false)));
    let history: Vec<(u64, i64)> = a.get_attr("history").unwrap();
    assert_eq!(history.iter().map(|(_, x)| *x).collect::<Vec<_>>(), [2, 3]);
    // Never early; late only by scheduling noise on a busy machine.
    let (first, second) = (history[0].0 - t0, history[1].0 - t0);
    assert!((1000..1600).contains(&first), "fired at {first} ms");
    assert!((2000..2600).contains(&second), "fired at {second} ms");
    assert!(a.list_timers().unwrap().is_empty());
    ns.shutdown().unwrap();
}

#[test]
fn stopped_timers_never_run_and_unknown_aliases_are_errors() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    a.after(Duration::from_millis(300), Some("doomed"), "add", &100)
        .unwrap();
    a.after(Duration::from_millis(600), Some("sentinel"), "add", &1)
        .unwrap();
    a.stop_timer("doomed").unwrap();
    assert_eq!(a.list_timers().unwrap(), ["sentinel"]);
    // Once the later sentinel ran, the stopped timer would have run too.
    assert!(wait_until(PATIENCE, || a.get_attr::<i64>("x").is_ok()));
    assert_eq!(a.get_attr::<i64>("x").unwrap(), 1);

    a.each(Duration::from_secs(60), Some("p1"), "add", &1)
        .unwrap();
    a.each(Duration::from_secs(60), Some("p2"), "add", &1)
        .unwrap();
    a.stop_all_timers().unwrap();
    assert!(a.list_timers().unwrap().is_empty());
    let err = a.stop_timer("nope").unwrap_err();
    assert_eq!(
        err.remote().map(|e| e.kind),
        Some(ErrorKind::BadArguments),
        "{err}"
    );
    assert!(err.to_string().contains("nope"));
    let err = a
        .each(Duration::from_secs(1), None, "no_such_handler", &())
        .unwrap_err();
    assert!(err.to_string().contains("no_such_handler"), "{err}");
    ns.shutdown().unwrap();
}
