//! Scenarios `shutdown` (a node of idle agents stopped with `ns.shutdown()`)
//! and `scale` (a thousand agents under one supervisor: spawned by a few
//! threads at once, each pinged, then the node shut down).

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use axon::prelude::*;
use axon::SupervisorSpec;

use crate::node::{self, mib, ms, Node};
use crate::procfs;
use crate::report::{Row, Spread};
use crate::tap::Tally;

/// How long a spawner thread may wait for the name server to answer its first ping.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Timeout of each ping of the sweep.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Shutdown time the `scale` scenario aims at.
const SHUTDOWN_TARGET: Duration = Duration::from_secs(10);

/// Scenario `shutdown`: `agents` idle agents, then `ns.shutdown()`.
pub fn shutdown(agents: usize) -> Result<Vec<Row>> {
    let node = Node::start(SupervisorSpec::default())?;
    for i in 0..agents {
        let (mut proxy, _) = node::spawn(node.ns(), &format!("idle-{i}"), SpawnOptions::default())?;
        node::ping(&mut proxy)?;
    }
    let (took, tally) = node.shutdown()?;
    let mut total = Row::new(
        "shutdown",
        "shutdown",
        agents,
        ms(took),
        "ms",
        1,
        "ns.shutdown() with every agent idle (stopped in waves, dependents first: one wave here)",
    );
    total.note = node::forced_note(&tally);
    let per_agent = Row::new(
        "shutdown",
        "shutdown_per_agent",
        agents,
        ms(took) / agents.max(1) as f64,
        "ms",
        1,
        "the above / agents",
    );
    Ok(vec![total, per_agent])
}

fn agent_name(i: usize) -> String {
    format!("a{i:04}")
}

/// What the `scale` scenario measured.
struct Scaled {
    agents: usize,
    spawners: usize,
    spawn_total: Duration,
    spawn: Spread,
    sweep: Duration,
    memory: Memory,
    shutdown: Duration,
    tally: Tally,
}

/// Scenario `scale`: `requested` agents (fewer if the machine cannot take
/// them), spawned by `spawners` threads at once.
pub fn run(requested: usize, spawners: usize) -> Result<Vec<Row>> {
    let node = Node::start(SupervisorSpec::default())?;
    let started = Instant::now();
    let (agents, spawn_ms) = spawn_all(&node, requested, spawners)?;
    let spawn_total = started.elapsed();
    let registered = node.ns().agents().context("listing the agents")?.len();
    if registered != agents {
        bail!("{registered} agents registered, {agents} spawned");
    }
    let sweep = ping_all(node.ns(), agents)?;
    let memory = Memory::read(&node)?;
    let (shutdown, tally) = node.shutdown()?;
    Ok(rows(&Scaled {
        agents,
        spawners: spawners.min(agents.saturating_sub(1)).max(1),
        spawn_total,
        spawn: Spread::of(&spawn_ms).context("no spawns timed")?,
        sweep,
        memory,
        shutdown,
        tally,
    }))
}

/// A scale agent: under the node's supervisor, restarted if it dies (`permanent`).
fn supervised() -> SpawnOptions {
    SpawnOptions::default().restart(axon::Restart::Permanent)
}

/// Spawns a probe agent, fits the agent count to the machine, then spawns
/// the rest from `spawners` threads; the count and each spawn's time in ms.
fn spawn_all(node: &Node, requested: usize, spawners: usize) -> Result<(usize, Vec<f64>)> {
    let fds_before = procfs::fds(node.pid()?)?;
    let (mut probe, first) = node::spawn(node.ns(), &agent_name(0), supervised())?;
    node::ping(&mut probe)?;
    let agents = fit(requested, probe.name(), node, fds_before)?;
    let mut spawn_ms = spawn_concurrently(node.ns().address(), 1..agents, spawners)?;
    spawn_ms.push(ms(first));
    Ok((agents, spawn_ms))
}

fn rows(s: &Scaled) -> Vec<Row> {
    let row = |bench, value, unit, count, measures| {
        Row::new("scale", bench, s.agents, value, unit, count, measures)
    };
    let spawning = "ns.spawn of every agent over the spawner threads, each with its own NameServer::connect handle";
    let one = "one ns.spawn while the other spawner threads spawn too";
    let shutdown =
        "ns.shutdown() with every agent idle (stopped in waves, dependents first: one wave here)";
    let met = if s.shutdown <= SHUTDOWN_TARGET {
        "met"
    } else {
        "missed"
    };
    let mut note = format!("target <= {} s: {met}", SHUTDOWN_TARGET.as_secs());
    if let Some(forced) = node::forced_note(&s.tally) {
        note = format!("{note}; {forced}");
    }
    let total = s.spawn_total.as_secs_f64();
    let n = s.agents;
    vec![
        row("spawn_total", total, "s", n, spawning)
            .noting(format!("{} spawner threads", s.spawners)),
        row("spawn_rate", n as f64 / total, "agents/s", n, spawning).higher_is_better(),
        row("spawn_p50", s.spawn.p50, "ms", s.spawn.count, one),
        row("spawn_p90", s.spawn.p90, "ms", s.spawn.count, one),
        row(
            "ping_sweep",
            ms(s.sweep),
            "ms",
            n,
            "ns.info + Proxy::open + ping of every agent, one after another; all answered",
        ),
        row(
            "rss_idle",
            s.memory.rss_median_mib,
            "MiB",
            n,
            "VmRSS of one idle agent, median",
        ),
        row(
            "pss_total",
            s.memory.pss_total_mib,
            "MiB",
            n,
            "sum of Pss (smaps_rollup) over every agent: the memory they take together",
        ),
        row(
            "nameserver_rss",
            s.memory.nameserver_rss_mib,
            "MiB",
            1,
            "VmRSS of the name server holding them",
        ),
        row("shutdown", s.shutdown.as_secs_f64(), "s", 1, shutdown).noting(note),
    ]
}

/// How many of `requested` agents the machine has room for, measured on the probe agent.
fn fit(requested: usize, probe: &str, node: &Node, fds_before: u64) -> Result<usize> {
    let ns = node.ns();
    let agent = procfs::status(ns.info(probe).context("looking the probe agent up")?.pid)?;
    let pss_kib = procfs::pss_kib(ns.info(probe)?.pid)?;
    let fds_now = procfs::fds(node.pid()?)?;
    let limits = procfs::limits()?;
    // One agent's share: its threads; the descriptors it costs the name server; its memory plus kernel overhead.
    let fds_per_agent = fds_now.saturating_sub(fds_before).max(2);
    let kib_per_agent = pss_kib.max(agent.anon_kib) + 256;
    let room = |left: u64, each: u64| (left / 10 * 9 / each.max(1)).saturating_add(1);
    let caps = [
        (
            "open files (ulimit -n)",
            room(limits.open_files.saturating_sub(fds_now), fds_per_agent),
        ),
        (
            "tasks (ulimit -u, pid_max, threads-max)",
            room(limits.tasks_left, agent.threads),
        ),
        (
            "memory (MemAvailable)",
            room(limits.mem_available_kib, kib_per_agent),
        ),
    ];
    eprintln!(
        "scale: ulimit -n {}, {} more tasks allowed, MemAvailable {:.0} MiB; one agent: {} threads, {} name-server fds, {:.1} MiB",
        limits.open_files, limits.tasks_left, mib(limits.mem_available_kib), agent.threads, fds_per_agent, mib(kib_per_agent)
    );
    let (why, cap) = caps
        .iter()
        .min_by_key(|(_, cap)| *cap)
        .copied()
        .ok_or_else(|| anyhow!("no limits"))?;
    let cap = usize::try_from(cap).unwrap_or(usize::MAX);
    if cap < requested {
        eprintln!("scale: lowering the agent count from {requested} to {cap}: limited by {why}");
        return Ok(cap.max(1));
    }
    Ok(requested.max(1))
}

/// Spawns the agents numbered `range` from `spawners` threads; each spawn's time in ms.
fn spawn_concurrently(endpoint: &str, range: Range<usize>, spawners: usize) -> Result<Vec<f64>> {
    let failed = AtomicBool::new(false);
    let spawner = |t: usize| -> Result<Vec<f64>> {
        let ns = NameServer::connect(endpoint, CONNECT_TIMEOUT).context("connecting a spawner")?;
        let mut took = Vec::new();
        for i in range.clone().skip(t).step_by(spawners) {
            // Another spawner failed: the run is lost, stop adding agents.
            if failed.load(Ordering::Relaxed) {
                break;
            }
            match node::spawn(&ns, &agent_name(i), supervised()) {
                Ok((_, d)) => took.push(ms(d)),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(took)
    };
    std::thread::scope(|s| {
        let spawner = &spawner;
        let handles: Vec<_> = (0..spawners.max(1))
            .map(|t| s.spawn(move || spawner(t)))
            .collect();
        let mut all = Vec::with_capacity(range.len());
        for h in handles {
            all.extend(
                h.join()
                    .map_err(|_| anyhow!("a spawner thread panicked"))??,
            );
        }
        Ok(all)
    })
}

/// Pings every agent through a fresh proxy; how long the sweep took.
fn ping_all(ns: &NameServer, agents: usize) -> Result<Duration> {
    let started = Instant::now();
    for i in 0..agents {
        let name = agent_name(i);
        let info = ns
            .info(&name)
            .with_context(|| format!("looking {name} up"))?;
        let mut proxy = Proxy::open(info.name, info.control)?;
        proxy.set_timeout(PING_TIMEOUT);
        node::ping(&mut proxy)?;
    }
    Ok(started.elapsed())
}

/// Memory of the node with every agent idle.
struct Memory {
    rss_median_mib: f64,
    pss_total_mib: f64,
    nameserver_rss_mib: f64,
}

impl Memory {
    fn read(node: &Node) -> Result<Memory> {
        let ps = node.ns().ps().context("asking the name server for ps")?;
        let pids: Vec<u32> = ps.iter().filter_map(|a| a.pid).collect();
        let mut rss = Vec::with_capacity(pids.len());
        let mut pss_kib = 0;
        for &pid in &pids {
            rss.push(mib(procfs::status(pid)?.rss_kib));
            pss_kib += procfs::pss_kib(pid)?;
        }
        Ok(Memory {
            rss_median_mib: node::median(&mut rss),
            pss_total_mib: mib(pss_kib),
            nameserver_rss_mib: mib(procfs::status(node.pid()?)?.rss_kib),
        })
    }
}
