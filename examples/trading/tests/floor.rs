//! The trading-floor kinds wired together as in `floor.toml`: real
//! processes, real sockets. The agents are hosted by this test binary,
//! spawned through a name server, so no release build is needed.

use std::collections::BTreeMap;
use std::time::Duration;

use axon::prelude::*;
use axon::testing::{self, wait_until};
use axon_example_trading::{Order, Side, Totals, Verdict};
use serde_json::json;

axon::test_host!(axon_example_trading::registry());

/// Time any single condition may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// Symbols the market publishes; only the first two are traded.
const SYMBOLS: [&str; 3] = ["AAPL", "MSFT", "GOOG"];
/// Each trader trades this quantity; risk allows a net position of
/// `MAX_POSITION` and orders of `MAX_QTY`.
const QTY: u64 = 10;
const MAX_POSITION: i64 = 15;
const MAX_QTY: u64 = 20;

/// Spawns `name` of `kind` with the attributes of the JSON object `attributes`.
fn spawn(ns: &NameServer, name: &str, kind: &str, attributes: serde_json::Value) -> Proxy {
    let mut options = SpawnOptions::default().name(name).kind(kind);
    if let serde_json::Value::Object(map) = attributes {
        for (attr, value) in map {
            options = options.attribute(&attr, value).unwrap();
        }
    }
    ns.spawn(options).unwrap()
}

fn count(agent: &mut Proxy, attr: &str) -> u64 {
    agent.get_attr(attr).unwrap()
}

/// A trader's counters, read one attribute at a time.
#[derive(Debug, PartialEq)]
struct Counters {
    last_seq: u64,
    signals: u64,
    orders: u64,
    rejected: u64,
    unanswered: u64,
    unsent: u64,
}

impl Counters {
    fn of(trader: &mut Proxy) -> Counters {
        Counters {
            last_seq: count(trader, "last_seq"),
            signals: count(trader, "signals"),
            orders: count(trader, "orders"),
            rejected: count(trader, "rejected"),
            unanswered: count(trader, "unanswered"),
            unsent: count(trader, "unsent"),
        }
    }

    /// Every signal has had its answer.
    fn settled(&self) -> bool {
        self.signals == self.orders + self.rejected + self.unanswered + self.unsent
    }
}

fn probe(id: u64, side: Side, qty: u64) -> Order {
    Order {
        id,
        trader: "desk".into(),
        symbol: "ZZZZ".into(),
        side,
        qty,
        price: 1.0,
        ts_ms: 0,
    }
}

/// The agents of one trading floor, wired as in `floor.toml`
/// (two traders, three symbols) through their proxies.
struct Floor {
    market: Proxy,
    risk: Proxy,
    blotter: Proxy,
    monitor: Proxy,
    /// Name, symbol and proxy of each trader.
    traders: Vec<(String, &'static str, Proxy)>,
    /// The risk agent's ASYNC_REP socket.
    checks: Address,
}

impl Floor {
    fn start(ns: &NameServer) -> Floor {
        let attrs = json!({ "symbols": SYMBOLS, "period_ms": 5, "seed": 7 });
        let mut market = spawn(ns, "market", "market", attrs);
        let ticks = market.bind(SocketKind::Pub, "out").unwrap();
        let limits = json!({ "max_position": MAX_POSITION, "max_qty": MAX_QTY });
        let mut risk = spawn(ns, "risk", "risk", limits);
        let checks = risk
            .bind_handler(SocketKind::AsyncRep, "main", "check")
            .unwrap();
        let verdicts = risk.bind(SocketKind::Pub, "events").unwrap();
        let mut blotter = spawn(ns, "blotter", "blotter", json!({}));
        let orders = blotter
            .bind_handler(SocketKind::Pull, "orders", "record")
            .unwrap();
        let recorded = blotter.bind(SocketKind::Pub, "events").unwrap();
        let mut monitor = spawn(ns, "monitor", "monitor", json!({ "period_ms": 100 }));
        for (to, alias, handler) in [
            (&ticks, "ticks", "tick"),
            (&recorded, "orders", "order"),
            (&verdicts, "verdicts", "decision"),
        ] {
            monitor.connect_topics(to, alias, &[("", handler)]).unwrap();
        }
        let mut traders = Vec::new();
        for (fast, symbol) in [(2, "AAPL"), (3, "MSFT")] {
            let name = format!("trader-{}", symbol.to_lowercase());
            let attrs =
                json!({ "symbol": symbol, "fast": fast, "slow": 6, "qty": QTY, "wait_ms": 15_000 });
            let mut s = spawn(ns, &name, "trader", attrs);
            // Risk and blotter first: a crossover needs both at once.
            s.connect(&checks, "risk", None).unwrap();
            s.connect(&orders, "orders", None).unwrap();
            s.connect_topics(&ticks, "ticks", &[(symbol, "tick")])
                .unwrap();
            traders.push((name, symbol, s));
        }
        Floor {
            market,
            risk,
            blotter,
            monitor,
            traders,
            checks,
        }
    }

    fn counters(&mut self) -> Vec<Counters> {
        let traders = self.traders.iter_mut();
        traders.map(|(_, _, s)| Counters::of(s)).collect()
    }

    /// Stops the market and waits until every tick is taken and every signal
    /// answered; returns the traders' counters and the number of orders.
    fn settle(&mut self) -> (Vec<Counters>, u64) {
        self.market.stop_all_timers().unwrap();
        let published = count(&mut self.market, "ticks");
        let rounds = SYMBOLS.len() as u64;
        assert_eq!(published % rounds, 0, "every round publishes every symbol");
        let mut books = None;
        let settled = wait_until(PATIENCE, || {
            let counters = self.counters();
            let approved = count(&mut self.risk, "approved");
            let recorded = count(&mut self.blotter, "orders");
            let sent: u64 = counters.iter().map(|c| c.orders).sum();
            let done = counters
                .iter()
                .all(|c| c.settled() && c.last_seq == published / rounds)
                && sent == approved
                && approved == recorded;
            books = Some((counters, approved, recorded));
            done
        });
        let (counters, approved, recorded) = books.unwrap();
        assert!(
            settled,
            "{counters:?}, risk approved {approved}, blotter recorded {recorded}"
        );
        (counters, recorded)
    }
}

#[test]
fn traders_trade_through_risk_into_the_blotter_within_the_limits() {
    let ns = testing::node().unwrap();
    let mut floor = Floor::start(&ns);

    // Orders flow for both symbols, and the monitor hears ticks, orders and verdicts.
    let traded = wait_until(PATIENCE, || {
        let mut traders = floor.traders.iter_mut();
        traders.all(|(_, _, s)| count(s, "orders") >= 2)
    });
    assert!(traded, "too few orders: {:?}", floor.counters());
    let registered = ns.agents().unwrap().len() as u64;
    let monitor = &mut floor.monitor;
    let heard = wait_until(PATIENCE, || {
        count(monitor, "ticks") > 0
            && count(monitor, "orders") > 0
            && count(monitor, "approved") > 0
            && monitor.get_attr::<Option<u64>>("agents").unwrap() == Some(registered)
    });
    let line: String = monitor.get_attr("line").unwrap();
    assert!(heard, "monitor line: {line:?}");
    assert!(line.starts_with("[trading] ticks/s "), "{line}");
    assert!(line.contains(" | restarts "), "{line}");

    let (counters, recorded) = floor.settle();
    // Alternating sides of QTY never break MAX_POSITION: nothing is rejected or lost.
    for c in &counters {
        assert_eq!((c.rejected, c.unanswered, c.unsent), (0, 0, 0), "{c:?}");
    }
    let totals: BTreeMap<String, Totals> = floor.blotter.get_attr("totals").unwrap();
    let positions: BTreeMap<String, i64> = floor.risk.get_attr("positions").unwrap();
    assert_eq!(totals.keys().collect::<Vec<_>>(), ["AAPL", "MSFT"]);
    for ((_, symbol, _), c) in floor.traders.iter().zip(&counters) {
        let t = &totals[*symbol];
        assert_eq!(t.orders, c.orders, "{symbol}");
        assert_eq!(t.bought as i64 - t.sold as i64, t.net, "{symbol}");
        assert!(t.net.unsigned_abs() <= QTY, "{symbol}: {t:?}");
        assert_eq!(
            positions[*symbol], t.net,
            "risk and blotter agree on {symbol}"
        );
    }
    let recent: Vec<Order> = floor.blotter.get_attr("recent").unwrap();
    assert_eq!(recent.len() as u64, recorded.min(20));
    for (name, symbol, _) in &floor.traders {
        let mine: Vec<&Order> = recent.iter().filter(|o| o.trader == *name).collect();
        let right = |o: &&Order| o.symbol == *symbol && o.qty == QTY && o.price > 0.0;
        assert!(mine.iter().all(right), "{mine:?}");
        // One trader's orders arrive in order and alternate sides.
        let alternate = |w: &[&Order]| w[0].id < w[1].id && w[0].side != w[1].side;
        assert!(mine.windows(2).all(alternate), "{mine:?}");
    }
    let names: Vec<&String> = floor.traders.iter().map(|(n, _, _)| n).collect();
    assert!(
        recent.iter().all(|o| names.contains(&&o.trader)),
        "{recent:?}"
    );
    let heard = count(&mut floor.monitor, "orders");
    assert!(
        (1..=recorded).contains(&heard),
        "monitor heard {heard} of {recorded}"
    );

    check_limits(&ns, &mut floor);
    ns.shutdown().unwrap();
}

/// Risk refuses what breaks a limit, says which, and books only what it approves.
fn check_limits(ns: &NameServer, floor: &mut Floor) {
    let mut desk = ns.run_agent("desk").unwrap();
    desk.connect(&floor.checks, "risk", None).unwrap();
    let mut ask =
        |order: Order| -> Verdict { desk.request_wait("risk", &order, PATIENCE).unwrap() };
    let too_big = ask(probe(1, Side::Buy, MAX_QTY + 1));
    assert!(
        !too_big.approved && too_big.reason.contains("max_qty"),
        "{too_big:?}"
    );
    let too_long = ask(probe(2, Side::Buy, MAX_QTY));
    let reason = too_long.reason.as_str();
    assert!(
        !too_long.approved && reason.contains("max_position"),
        "{too_long:?}"
    );
    let fine = ask(probe(3, Side::Sell, 5));
    assert_eq!(
        (fine.id, fine.approved, fine.reason.as_str()),
        (3, true, "ok")
    );
    let positions: BTreeMap<String, i64> = floor.risk.get_attr("positions").unwrap();
    assert_eq!(positions["ZZZZ"], -5);
    assert_eq!(count(&mut floor.risk, "rejected"), 2);
    // The monitor heard an approval long ago, so its subscription to verdicts is up.
    assert!(wait_until(PATIENCE, || count(
        &mut floor.monitor,
        "rejected"
    ) == 2));
}

#[test]
fn bad_attributes_fail_the_spawn() {
    let ns = testing::node().unwrap();
    // (name, kind, attributes, a word the reason must name)
    let bad = [
        ("no-symbol", "trader", json!({ "fast": 2 }), "symbol"),
        (
            "crossed",
            "trader",
            json!({ "symbol": "AAPL", "fast": 9, "slow": 3 }),
            "slow",
        ),
        ("typo", "market", json!({ "period": 10 }), "period"),
        ("no-symbols", "market", json!({ "symbols": [] }), "symbols"),
        (
            "wrong-type",
            "risk",
            json!({ "max_qty": "lots" }),
            "max_qty",
        ),
        ("zero", "monitor", json!({ "period_ms": 0 }), "period_ms"),
    ];
    for (name, kind, attrs, named) in bad {
        let mut options = SpawnOptions::default().name(name).kind(kind);
        for (attr, value) in attrs.as_object().unwrap() {
            options = options.attribute(attr, value).unwrap();
        }
        // The spawner hears why the agent could not start: its arguments, named.
        let err = ns.spawn(options).unwrap_err();
        let kind_of = err.remote().map(|r| r.kind);
        let err = err.to_string();
        assert_eq!(
            kind_of,
            Some(axon::ErrorKind::BadArguments),
            "{name} ({kind}): {err}"
        );
        assert!(
            err.contains("could not be created") && err.contains(named),
            "{name} ({kind}): {err}"
        );
    }
    // The defaults are good as they are (a trader only needs its symbol).
    spawn(&ns, "market", "market", json!({})).ping().unwrap();
    spawn(&ns, "trader", "trader", json!({ "symbol": "AAPL" }))
        .ping()
        .unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn the_example_manifest_is_valid() {
    let kinds = axon_example_trading::registry().kinds();
    let text = include_str!("../floor.toml");
    let manifest = axon::manifest::Manifest::parse(text, &kinds).unwrap();
    assert!(manifest.warnings.is_empty(), "{:?}", manifest.warnings);
    // Every agent is hosted by this crate's binary, which hosts its kind.
    for agent in &manifest.agents {
        assert!(kinds.contains(&agent.kind), "{} is not hosted", agent.kind);
        let bin = agent.bin.as_deref().map(|p| p.to_string_lossy());
        let bin = bin.as_deref();
        assert_eq!(bin, Some("target/release/trading-floor"), "{}", agent.name);
    }
    let of_kind = |kind: &'static str| manifest.agents.iter().filter(move |a| a.kind == kind);
    assert_eq!(of_kind("market").count(), 1);
    assert_eq!(of_kind("monitor").count(), 1);
    // Chaos hits traders only: the floor keeps trading while one restarts.
    let chaos = manifest.chaos.as_ref().expect("the demo injects faults");
    assert!(!chaos.targets.is_empty());
    for target in &chaos.targets {
        let agent = manifest.agents.iter().find(|a| &a.name == target).unwrap();
        assert_eq!(agent.kind, "trader", "{target}");
    }
    let symbols: Vec<String> = of_kind("market")
        .flat_map(|m| {
            m.attributes["symbols"]
                .deserialized::<Vec<String>>()
                .unwrap()
        })
        .collect();
    let mut traded: Vec<String> = of_kind("trader")
        .map(|s| s.attributes["symbol"].deserialized().unwrap())
        .collect();
    traded.sort();
    let mut expected = symbols.clone();
    expected.sort();
    assert_eq!(traded, expected, "one trader per symbol");
    for s in of_kind("trader") {
        let to: Vec<(&str, &str)> = s
            .connects
            .iter()
            .map(|c| (c.alias.as_str(), c.agent.as_str()))
            .collect();
        assert_eq!(
            to,
            [("risk", "risk"), ("orders", "blotter"), ("ticks", "market")]
        );
        let ticks = &s.connects[2];
        assert_eq!(
            ticks.topics,
            [s.attributes["symbol"].deserialized::<String>().unwrap()]
        );
        assert_eq!(ticks.handler.as_deref(), Some("tick"));
    }
}
