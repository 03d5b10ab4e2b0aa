//! Scenario `spawn`: N sequential spawns against N bare process starts
//! (interleaved), the first and the steady ping round trip, resident memory
//! of the idle agents against idle bare processes, then `ns.shutdown()` of
//! the N agents.

use std::time::Duration;

use anyhow::{Context, Result};
use axon::prelude::*;
use axon::SupervisorSpec;

use crate::bare::{self, Idle};
use crate::node::{self, mib, ms, us, Node};
use crate::procfs;
use crate::report::{Row, Spread};

const SCENARIO: &str = "spawn";

/// Idle bare processes the memory baseline is the median of.
const BARE_IDLERS: usize = 5;

/// How long agents and bare processes idle before their memory is read.
const SETTLE: Duration = Duration::from_secs(1);

const BARE_EXIT: &str = "this executable re-run with AXON_BENCH_BARE=exit: fork+exec, exit in main, reaped (Command::status)";
const RAW_RTT: &str = "a plain libzmq DEALER -> ROUTER round trip to a bare process of this executable (ipc), frames of a signed ping's sizes, interleaved with the pings";
const BARE_IDLE: &str =
    "this executable re-run with AXON_BENCH_BARE=idle: blocked on stdin in main";

pub fn run(spawns: usize, pings: usize) -> Result<Vec<Row>> {
    let node = Node::start(SupervisorSpec::default())?;
    let timed = Timings::take(&node, spawns, pings)?;
    let mut rows = timed.rows(spawns)?;
    rows.extend(memory_rows(&node, spawns)?);
    let (took, tally) = node.shutdown()?;
    let mut shutdown = Row::new(
        SCENARIO,
        "shutdown",
        spawns,
        ms(took),
        "ms",
        1,
        "ns.shutdown() with every agent idle",
    );
    shutdown.note = node::forced_note(&tally);
    rows.push(shutdown);
    Ok(rows)
}

/// The spawn and ping samples.
struct Timings {
    spawn_ms: Vec<f64>,
    bare_ms: Vec<f64>,
    first_ping_us: Vec<f64>,
    steady_us: Vec<f64>,
    raw_us: Vec<f64>,
}

impl Timings {
    /// Spawns `spawns` agents, each after a bare process; then `pings` pings of the first agent.
    fn take(node: &Node, spawns: usize, pings: usize) -> Result<Timings> {
        let mut t = Timings {
            spawn_ms: Vec::with_capacity(spawns),
            bare_ms: Vec::with_capacity(spawns),
            first_ping_us: Vec::with_capacity(spawns),
            steady_us: Vec::with_capacity(pings),
            raw_us: Vec::with_capacity(pings),
        };
        let mut first = None;
        for i in 0..spawns {
            t.bare_ms.push(ms(bare::spawn_and_wait()?));
            let name = format!("spawned-{i}");
            let (mut proxy, took) = node::spawn(node.ns(), &name, SpawnOptions::default())?;
            t.spawn_ms.push(ms(took));
            t.first_ping_us.push(us(node::ping(&mut proxy)?));
            first.get_or_insert(proxy);
        }
        let raw = bare::Router::start()?;
        // The sizes of a signed ping: protocol, signature, CBOR body.
        let request: [&[u8]; 3] = [b"AXON/1", &[0xA5; 32], &[0x5A; 96]];
        // Both connected before anything is timed.
        raw.round_trip(&request)?;
        if let Some(proxy) = first.as_mut() {
            for _ in 0..pings {
                t.steady_us.push(us(node::ping(proxy)?));
                t.raw_us.push(us(raw.round_trip(&request)?));
            }
        }
        Ok(t)
    }

    fn rows(&self, spawns: usize) -> Result<Vec<Row>> {
        let spawn = Spread::of(&self.spawn_ms).context("no spawns timed")?;
        let bare = Spread::of(&self.bare_ms).context("no bare processes timed")?;
        let first = Spread::of(&self.first_ping_us).context("no first pings timed")?;
        let steady = Spread::of(&self.steady_us).context("no pings timed")?;
        let raw = Spread::of(&self.raw_us).context("no raw round trips timed")?;
        let row = |bench, value, unit, count, measures| {
            Row::new(SCENARIO, bench, spawns, value, unit, count, measures)
        };
        let spawned = "ns.spawn(SpawnOptions::default().name(..)): start, register, answer the name server's ping";
        let first_ping = "proxy.ping() right after ns.spawn returned (connects the proxy's socket)";
        let ping = "proxy.ping() on a connected proxy, one idle agent";
        Ok(vec![
            row("spawn_p50", spawn.p50, "ms", spawn.count, spawned).against(bare.p50, BARE_EXIT),
            row("spawn_p90", spawn.p90, "ms", spawn.count, spawned).against(bare.p90, BARE_EXIT),
            row("spawn_max", spawn.max, "ms", spawn.count, spawned).against(bare.max, BARE_EXIT),
            row("first_ping_p50", first.p50, "us", first.count, first_ping),
            row("first_ping_p90", first.p90, "us", first.count, first_ping),
            row("ping_p50", steady.p50, "us", steady.count, ping).against(raw.p50, RAW_RTT),
            row("ping_p90", steady.p90, "us", steady.count, ping).against(raw.p90, RAW_RTT),
        ])
    }
}

/// Resident memory of the idle agents against idle bare processes (medians).
fn memory_rows(node: &Node, spawns: usize) -> Result<Vec<Row>> {
    let idlers = (0..BARE_IDLERS)
        .map(|_| Idle::start())
        .collect::<Result<Vec<_>>>()?;
    std::thread::sleep(SETTLE);
    let ps = node.ns().ps().context("asking the name server for ps")?;
    let agents = ps
        .iter()
        .filter_map(|a| a.pid)
        .map(procfs::status)
        .collect::<Result<Vec<_>>>()?;
    let bare = idlers
        .iter()
        .map(|i| procfs::status(i.pid()))
        .collect::<Result<Vec<_>>>()?;
    let median_of = |all: &[procfs::Status], f: fn(&procfs::Status) -> f64| {
        node::median(&mut all.iter().map(f).collect::<Vec<_>>())
    };
    let rss = |s: &procfs::Status| mib(s.rss_kib);
    let anon = |s: &procfs::Status| mib(s.anon_kib);
    let threads = |s: &procfs::Status| s.threads as f64;
    let mut ps_rss: Vec<f64> = ps
        .iter()
        .filter_map(|a| a.rss)
        .map(|bytes| bytes as f64 / (1024.0 * 1024.0))
        .collect();
    let n = agents.len();
    let row = |bench, value, unit, count, measures| {
        Row::new(SCENARIO, bench, spawns, value, unit, count, measures)
    };
    Ok(vec![
        row(
            "rss_idle",
            median_of(&agents, rss),
            "MiB",
            n,
            "VmRSS of /proc/<agent pid>/status, median over the idle agents",
        )
        .against(median_of(&bare, rss), BARE_IDLE),
        row(
            "rss_anon_idle",
            median_of(&agents, anon),
            "MiB",
            n,
            "RssAnon (private heap and stacks) of the idle agents, median",
        )
        .against(median_of(&bare, anon), BARE_IDLE),
        row(
            "rss_idle_ps",
            node::median(&mut ps_rss),
            "MiB",
            ps_rss.len(),
            "rss of ns.ps() (what `axon ps` shows), median",
        ),
        row(
            "threads_idle",
            median_of(&agents, threads),
            "count",
            n,
            "Threads of /proc/<agent pid>/status, median",
        )
        .against(median_of(&bare, threads), BARE_IDLE),
    ])
}
