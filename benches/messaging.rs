//! Cross-process messaging: two axon agents against two plain libzmq
//! processes, same traffic, same run.
//!
//! Run: `cargo bench --bench messaging [-- FILTER]`
//! (`AXON_BENCH_SCALE=0.1` scales every message count, `AXON_BENCH_REPS=1`
//! runs each side once instead of five times and taking the median; FILTER
//! keeps the cases whose label, e.g. `push-pull tcp raw 16 B`, contains it.)
//!
//! - PUSH -> PULL throughput, 16 B and 1 KiB, cbor and raw, ipc and tcp:
//!   the sending agent pumps the messages itself, the receiving agent
//!   decodes each one and times first to last receipt.
//! - REQ -> REP round trips over ipc, 16 B cbor: the requesting agent drives
//!   them from its reply handler and keeps p50 and p99.
//! - PUB -> 4 SUB over ipc, 16 B cbor, one topic: the publishing agent pumps
//!   as fast as its socket takes messages, four subscriber agents count what
//!   reaches them; aggregate delivered msg/s, and every message accounted
//!   for: accepted, refused and counted at the high-water mark, delivered,
//!   or lost silently (`fanout` module).
//! - reliable PUSH -> PULL over ipc, 16 B and 1 KiB cbor, against plain axon
//!   PUSH -> PULL in the same run (`raw` in its row is that plain run,
//!   `baseline = "axon-plain"`), with `lost` and `duplicates` from the
//!   channel's counters: `cargo bench --bench messaging -- reliable`.
//!
//! The baseline re-runs this executable as raw peers (`raw` module). Figures
//! go to a table on stdout and to `target/axon-bench/messaging.json`.

#[path = "messaging/agent.rs"]
mod agent;
#[path = "messaging/cases.rs"]
mod cases;
#[path = "messaging/fanout.rs"]
mod fanout;
#[path = "common/output.rs"]
mod output;
#[path = "messaging/raw.rs"]
mod raw;
#[path = "messaging/raw_fanout.rs"]
mod raw_fanout;
#[path = "messaging/report.rs"]
mod report;

use anyhow::{Context, Result};

use agent::BenchAgent;
use cases::{Agents, Case, Pattern, Settings};
use raw::IpcDir;
use report::Row;

fn main() -> Result<()> {
    // Re-runs of this executable as an agent host or the name server stop here.
    axon::init(axon::registry().kind::<BenchAgent>()).context("starting as an axon process")?;
    if let Some(job) = raw::role()? {
        return raw::serve(job);
    }
    let settings = Settings::from_env()?;
    // Agents log to stderr; keep their start and stop lines out of the figures.
    if std::env::var_os("AXON_LOG").is_none() {
        std::env::set_var("AXON_LOG", "warn");
    }
    let rows = run(&settings)?;
    println!();
    report::print(&rows);
    let path = report::write_json(&rows)?;
    println!("figures written to {}", path.display());
    Ok(())
}

/// Starts a node and a raw ipc directory, measures every chosen case, and cleans both up.
fn run(settings: &Settings) -> Result<Vec<Row>> {
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let chosen: Vec<Case> = cases::cases(settings)
        .into_iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.label().contains(f)))
        .collect();
    let fanout = chosen.iter().any(|c| c.pattern == Pattern::PubSub);
    let dir = IpcDir::create()?;
    let ns = axon::run_nameserver().context("starting the name server")?;
    let rows = Agents::spawn(&ns, fanout)
        .and_then(|mut agents| measure_all(&mut agents, &dir, &chosen, settings.reps));
    let stopped = ns.shutdown().context("shutting the node down");
    let rows = rows?;
    stopped?;
    Ok(rows)
}

fn measure_all(
    agents: &mut Agents,
    dir: &IpcDir,
    chosen: &[Case],
    reps: usize,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for case in chosen {
        let measured = cases::measure(case, agents, dir, reps)
            .with_context(|| format!("measuring {}", case.label()))?;
        for row in &measured {
            eprintln!(
                "{:<28} {:<8} axon {:>10.1}  raw {:>10.1} {:<7} axon/raw {:.2}",
                case.label(),
                row.bench,
                row.axon,
                row.raw,
                row.unit,
                row.ratio
            );
        }
        rows.extend(measured);
    }
    Ok(rows)
}
