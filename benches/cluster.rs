//! Cluster mode (feature `cluster`; root, `ip` and etcd needed):
//!
//! - `failover`: a host running a deployed agent crashes (SIGKILL of every
//!   process on it); time until the agent answers on another node. The goal
//!   is at most the lease TTL (5 s) + 1 s.
//! - `lookup`: finding an agent's address by name through etcd (one `get`
//!   of its registry key, etcd on the loopback) against the embedded name
//!   server (`NameServer::addr`), same run: the ratio.
//!
//! Run: `cargo bench --features cluster --bench cluster [-- SCENARIO]`.
//! Figures go to a table on stdout and to `target/axon-bench/cluster.json`.

#[path = "common/output.rs"]
mod output;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::testing::{Cluster, Etcd};
use axon::SpawnOptions;
use axon_supervisor::cluster::Registry;
use serde::Serialize;

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// Failovers timed.
const FAILOVERS: usize = 3;

/// Lookups timed on each side.
const LOOKUPS: usize = 2000;

/// One figure (the row of benches/common/output.rs: the pattern is the scenario, over tcp, no
/// payload).
#[derive(Debug, Serialize)]
struct Row {
    bench: &'static str,
    pattern: &'static str,
    transport: &'static str,
    serializer: Option<&'static str>,
    size: Option<usize>,
    axon: f64,
    raw: Option<f64>,
    unit: &'static str,
    ratio: Option<f64>,
    count: usize,
    measures: &'static str,
}

fn main() -> Result<()> {
    axon::init(axon::registry()).context("starting as an axon process")?;
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |s: &str| filter.as_deref().is_none_or(|f| s.contains(f));
    let mut rows = Vec::new();
    if wanted("failover") {
        rows.extend(failover().context("scenario failover")?);
    }
    if wanted("lookup") {
        rows.extend(lookup().context("scenario lookup")?);
    }
    println!(
        "{:<24} {:>10} {:>10} {:<6} {:>8} {:>6}  measures",
        "bench", "axon", "baseline", "unit", "ratio", "n"
    );
    for r in &rows {
        let raw = r.raw.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        let ratio = r.ratio.map_or_else(|| "-".into(), |v| format!("{v:.2}"));
        println!(
            "{:<24} {:>10.2} {:>10} {:<6} {:>8} {:>6}  {}",
            r.bench, r.axon, raw, r.unit, ratio, r.count, r.measures
        );
    }
    let path = output::write_json("cluster", &rows)?;
    println!("figures written to {}", path.display());
    Ok(())
}

/// Crash the host running `worker`, time until it answers on the other node.
fn failover() -> Result<Vec<Row>> {
    let mut times = Vec::new();
    for _ in 0..FAILOVERS {
        let mut cluster = Cluster::start(AXON, &["a", "b"])?;
        cluster.deploy(
            "[[agent]]\nname = \"worker\"\nkind = \"echo\"\nrestart = \"permanent\"\nnodes = [\"a\", \"b\"]\n",
        )?;
        if cluster.node_of("worker")?.as_deref() != Some("a") {
            bail!("worker did not start on a");
        }
        let crashed = Instant::now();
        cluster.kill_node("a")?;
        let deadline = crashed + Duration::from_secs(30);
        loop {
            let on_b = cluster.node_of("worker").ok().flatten().as_deref() == Some("b");
            if on_b && cluster.call("worker", "ping", "null").is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                bail!("worker not serving on b within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        times.push(crashed.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    let p50 = times[times.len() / 2];
    let max = times[times.len() - 1];
    let measures = "SIGKILL of every process on the agent's host -> the agent answers ping on another node (goal <= lease TTL 5 s + 1 s)";
    Ok(vec![
        row("failover_p50", p50, "ms", times.len(), measures),
        row("failover_max", max, "ms", times.len(), measures),
    ])
}

fn row(
    bench: &'static str,
    axon: f64,
    unit: &'static str,
    count: usize,
    measures: &'static str,
) -> Row {
    Row {
        bench,
        pattern: "failover",
        transport: "tcp",
        serializer: None,
        size: None,
        axon,
        raw: None,
        unit,
        ratio: None,
        count,
        measures,
    }
}

/// One agent's address by name: etcd against the embedded name server.
fn lookup() -> Result<Vec<Row>> {
    let ns = axon::run_nameserver()?;
    let mut agent = ns.spawn(SpawnOptions::default().name("target"))?;
    agent.bind(axon::SocketKind::Push, "out")?;
    let embedded = time(LOOKUPS, || ns.addr("target", "out").map(|_| ()))?;

    let etcd = Etcd::start(None)?;
    let registry = Registry::parse(&format!("etcd://{}", etcd.addr()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // The registry as a node writes it: one agent entry.
    let info = ns.info("target")?;
    let through_etcd = rt.block_on(async {
        let mut client = registry.client().await?;
        let entry = serde_json::json!({
            "name": info.name, "node": "a", "kind": info.kind, "pid": info.pid,
            "control": info.control, "addrs": info.addrs,
        });
        client
            .put("/axon/agents/target", entry.to_string(), None)
            .await
            .map_err(|e| axon::Error::Config(e.to_string()))?;
        let mut samples = Vec::with_capacity(LOOKUPS);
        for _ in 0..LOOKUPS {
            let started = Instant::now();
            let found = registry.agent(&mut client, "target").await?;
            if found.is_none_or(|a| !a.addrs.contains_key("out")) {
                return Err(axon::Error::Config("lookup found nothing".into()));
            }
            samples.push(started.elapsed());
        }
        Ok::<_, axon::Error>(samples)
    })?;
    ns.shutdown()?;
    drop(etcd);
    let p50 = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64() * 1e6
    };
    let (etcd_p50, ns_p50) = (p50(through_etcd), p50(embedded));
    Ok(vec![Row {
        bench: "lookup_by_name_p50",
        pattern: "lookup",
        transport: "tcp",
        serializer: None,
        size: None,
        axon: etcd_p50,
        raw: Some(ns_p50),
        unit: "us",
        ratio: Some(etcd_p50 / ns_p50),
        count: LOOKUPS,
        measures: "an agent's address by name: etcd get (loopback) vs the embedded name server's addr (baseline)",
    }])
}

fn time(n: usize, mut f: impl FnMut() -> axon::Result<()>) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f()?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
