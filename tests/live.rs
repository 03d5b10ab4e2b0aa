//! Live control: attributes, handlers, call modes, failures and timers.
//! ACCEPTANCE R3, C1, C2, C3, C5, C6, T1, T2, T3.

mod common;

use std::time::Duration;

use axon::prelude::*;
use axon::testing::{self, process_alive, wait_until};
use common::{remote_kind, Frozen, Report, PATIENCE};

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
    // `attrs` lists them by name with their values now, a free-form one set later too.
    a.set_attr("z", &true).unwrap();
    let all = a.attrs().unwrap();
    assert_eq!(all.keys().collect::<Vec<_>>(), ["x", "y", "z"]);
    assert_eq!(all["x"].deserialized::<i64>().unwrap(), 1);
    assert_eq!(all["y"].deserialized::<String>().unwrap(), "a");
    assert!(all["z"].deserialized::<bool>().unwrap());
    let clash = SpawnOptions::default()
        .name("b")
        .attribute("name", "oops")
        .unwrap();
    let err = ns.spawn(clash).unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("reserved"), "{err}");
    assert_eq!(ns.agents().unwrap(), ["a"]);
    let err = a.set_attr("pid", &1).unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("reserved"), "{err}");
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
    let err = b.set_handler("in", "no_such").unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("no_such"), "{err}");
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
    // The process ends inside the handler: no answer ever comes.
    let err = a
        .call_timeout::<_, Value>(
            "execute",
            serde_json::json!({"handler": "panic"}),
            Duration::from_secs(1),
        )
        .unwrap_err();
    assert!(matches!(err, axon::Error::Timeout(..)), "{err}");
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

    // A call with a short timeout fails with a timeout error. The busy agent is frozen as
    // well (SIGSTOP), so that no delay of the test on a loaded machine lets it answer in time.
    busy(&mut driver);
    let pid = ns.info("a").unwrap().pid;
    let frozen = Frozen::new(pid);
    let err = a
        .call_timeout::<_, Value>("ping", (), Duration::from_millis(500))
        .unwrap_err();
    assert!(matches!(err, axon::Error::Timeout(..)), "{err}");

    // A oneway call returns although the agent cannot run at all, and takes effect later.
    a.oneway("set_attr", serde_json::json!({"name": "later", "value": 1}))
        .unwrap();
    drop(frozen);
    assert_eq!(report.take(1)[0].text(), "slow-done");
    assert_eq!(a.get_attr::<i64>("later").unwrap(), 1);
    ns.shutdown().unwrap();
}

fn stamps(a: &mut Proxy) -> Vec<u64> {
    a.get_attr::<Vec<u64>>("stamps").unwrap_or_default()
}

/// Never more ticks than periods: the k-th tick comes at least k - 2 periods after
/// the first (one period of slack for a first tick that came late).
fn assert_never_early(stamps: &[u64], period: u64) {
    for (k, t) in stamps.iter().enumerate().skip(2) {
        assert!(
            t - stamps[0] >= (k as u64 - 2) * period,
            "tick {k} came early: {stamps:?}"
        );
    }
}

// Timing is asserted one way only: ticks never come early or in bursts. How late
// they come depends on the machine's load, so no upper bound is asserted.
#[test]
fn periodic_timers_keep_their_cadence_without_bursts() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let period = 100;
    // The third tick takes 350 ms: the ticks after it must not burst to catch up.
    let alias = a
        .each(
            Duration::from_millis(period),
            Some("tick"),
            "stamp",
            &350u64,
        )
        .unwrap();
    assert_eq!(alias, "tick");
    assert!(wait_until(PATIENCE, || stamps(&mut a).len() >= 8));
    a.stop_timer("tick").unwrap();
    let s = stamps(&mut a);
    assert_never_early(&s, period);
    // The tick after the slow one came late: the next is due a full period after it,
    // not at once (a burst would put the two within a millisecond or two).
    assert!(s[3] - s[2] >= 350, "the slow tick was not slow: {s:?}");
    assert!(s[4] - s[3] >= period / 4, "ticks burst: {s:?}");

    // Without a slow tick: 20 ticks, never more than the periods that passed.
    a.set_attr("stamps", &Vec::<u64>::new()).unwrap();
    a.each(Duration::from_millis(period), Some("tick"), "stamp", &0u64)
        .unwrap();
    assert!(wait_until(PATIENCE, || stamps(&mut a).len() >= 20));
    a.stop_all_timers().unwrap();
    assert!(a.list_timers().unwrap().is_empty());
    assert_never_early(&stamps(&mut a), period);
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
    // Never early (how late depends on the machine's load).
    let (first, second) = (history[0].0 - t0, history[1].0 - t0);
    assert!(first >= 1000, "fired at {first} ms");
    assert!(second >= 2000, "fired at {second} ms");
    assert!(a.list_timers().unwrap().is_empty());
    ns.shutdown().unwrap();
}

#[test]
fn stopped_timers_never_run_and_unknown_aliases_are_errors() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    // Far enough ahead that the calls below come first, even on a loaded machine.
    a.after(Duration::from_secs(2), Some("doomed"), "add", &100)
        .unwrap();
    a.after(Duration::from_millis(2500), Some("sentinel"), "add", &1)
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
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("nope"));
    let err = a
        .each(Duration::from_secs(1), None, "no_such_handler", &())
        .unwrap_err();
    assert_eq!(remote_kind(&err), ErrorKind::BadArguments, "{err}");
    assert!(err.to_string().contains("no_such_handler"), "{err}");
    ns.shutdown().unwrap();
}
