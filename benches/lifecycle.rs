//! Agent lifecycle: spawn, restart, shutdown and memory of axon agents,
//! against bare processes of the same executable where there is a baseline.
//!
//! Run: `cargo bench --bench lifecycle [-- SCENARIO]`
//! (`AXON_BENCH_SCALE=0.1` scales every sample count and the default agent
//! count; `AXON_BENCH_AGENTS=n` sets the agents of `scale` (default 1000,
//! lowered with a note when the machine's limits cannot take them);
//! `AXON_BENCH_SPAWNERS=n` sets how many threads spawn them (default 4);
//! SCENARIO keeps the scenarios whose name contains it.)
//!
//! - `spawn`: N sequential `ns.spawn` (returns once the agent answered the
//!   name server's ping), each after a bare process start-to-exit; the first
//!   and the steady `ping` round trip; resident memory of the idle agents
//!   against idle bare processes; `ns.shutdown()` of the N agents.
//! - `restart`: SIGKILL of a supervised agent (permanent, one_for_one) until
//!   its new incarnation is registered and answers ping; the supervisor's own
//!   figure from its log.
//! - `shutdown`: `ns.shutdown()` of 100 idle agents.
//! - `scale`: 1000 agents under one supervisor: spawned from a few threads,
//!   every one pinged, memory, then `ns.shutdown()`.
//! - `takeover`: SIGKILL of the supervisor under the real `axon up`: until a
//!   new one answers and every agent is adopted; agent restarts and messages
//!   lost on a PUSH -> PULL stream meanwhile (both goal 0).
//!
//! Every node starts with fd 2 tapped (`tap` module). Figures go to a table
//! on stdout and to `target/axon-bench/lifecycle.json`.

#[path = "lifecycle/bare.rs"]
mod bare;
#[path = "lifecycle/node.rs"]
mod node;
#[path = "common/output.rs"]
mod output;
#[path = "lifecycle/procfs.rs"]
mod procfs;
#[path = "lifecycle/report.rs"]
mod report;
#[path = "lifecycle/restart.rs"]
mod restart;
#[path = "lifecycle/scale.rs"]
mod scale;
#[path = "lifecycle/spawn.rs"]
mod spawn;
#[path = "lifecycle/takeover.rs"]
mod takeover;
#[path = "lifecycle/tap.rs"]
mod tap;

use anyhow::{Context, Result};
use axon::{BasicAgent, Ctx, Message};

use report::Row;

fn main() -> Result<()> {
    // A bare baseline process stops here, before anything axon.
    if let Some(bare) = bare::role()? {
        return bare::serve(bare);
    }
    // Re-runs of this executable as an agent host or the name server stop here.
    // `sink`: the handler of the restart scenario's receiving sockets and timer.
    let registry = axon::registry().handler(
        "sink",
        |_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, _: Message| Ok(()),
    );
    axon::init(registry).context("starting as an axon process")?;
    let settings = Settings::from_env()?;
    // Nodes log to the tapped stderr: warnings, and the supervisor's restart figure.
    if std::env::var_os("AXON_LOG").is_none() {
        std::env::set_var("AXON_LOG", tap::LOG_FILTER);
    }
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let wanted = |scenario: &str| filter.as_deref().is_none_or(|f| scenario.contains(f));
    let mut rows: Vec<Row> = Vec::new();
    if wanted("spawn") {
        let n = settings.samples(30, 5);
        eprintln!("spawn: {n} agents, one at a time");
        rows.extend(spawn::run(n, settings.samples(1000, 100)).context("scenario spawn")?);
    }
    if wanted("restart") {
        let kills = settings.samples(30, 6);
        eprintln!("restart: {kills} kills");
        rows.extend(restart::run(kills).context("scenario restart")?);
    }
    if wanted("shutdown") {
        let n = settings.samples(100, 10);
        eprintln!("shutdown: {n} agents");
        rows.extend(scale::shutdown(n).context("scenario shutdown")?);
    }
    if wanted("scale") {
        eprintln!(
            "scale: {} agents, {} spawner threads",
            settings.agents, settings.spawners
        );
        rows.extend(scale::run(settings.agents, settings.spawners).context("scenario scale")?);
    }
    if wanted("takeover") {
        let kills = settings.samples(5, 3);
        eprintln!("takeover: {kills} supervisor kills");
        rows.extend(takeover::run(kills).context("scenario takeover")?);
    }
    report::print(&rows);
    let path = report::write_json(&rows)?;
    println!("figures written to {}", path.display());
    Ok(())
}

/// Run-wide settings: `AXON_BENCH_SCALE` (sample counts, default 1),
/// `AXON_BENCH_AGENTS` (agents of `scale`, default 1000 x scale) and
/// `AXON_BENCH_SPAWNERS` (threads spawning them, default 4).
struct Settings {
    scale: f64,
    agents: usize,
    spawners: usize,
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let scale = env_or("AXON_BENCH_SCALE", 1.0, |s: &f64| s.is_finite() && *s > 0.0)?;
        let default_agents = ((1000.0 * scale).round() as usize).max(1);
        Ok(Settings {
            scale,
            agents: env_or("AXON_BENCH_AGENTS", default_agents, |n| *n > 0)?,
            spawners: env_or("AXON_BENCH_SPAWNERS", 4, |n| *n > 0)?,
        })
    }

    /// `n` scaled, at least `min`.
    fn samples(&self, n: usize, min: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(min)
    }
}

/// The variable `name` parsed and checked by `ok`, else `default` when unset.
fn env_or<T: std::str::FromStr>(name: &str, default: T, ok: impl Fn(&T) -> bool) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse::<T>()
            .ok()
            .filter(|x| ok(x))
            .with_context(|| format!("{name}={v:?}: expected a number > 0")),
        Err(_) => Ok(default),
    }
}
