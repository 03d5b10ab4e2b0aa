//! Soak: a long run of control calls, restarts and traffic over 100
//! supervised agents, to show that memory stays bounded.
//!
//! Run: `cargo bench --bench soak` (10 minutes; `AXON_SOAK_SECS=120` for a
//! shorter run, `AXON_SOAK_AGENTS` for another agent count).
//!
//! Half the agents are tickers pushing every 10 ms, each to its own
//! counter (connected through the control plane, so journaled and replayed
//! on restart). The bench keeps making control calls (ping, stats, get_attr,
//! set_attr, each/stop_timer) on random agents and SIGKILLs a random agent
//! every `KILL_EVERY`. It reports the name server's and the agents' resident
//! memory after the warm-up and at the end; figures go to stdout, their
//! rows to `target/axon-bench/soak.json` and the whole run with its memory
//! series to `target/axon-bench/soak-series.json`.

#[path = "common/output.rs"]
mod output;
// Shared with the lifecycle bench, which reads more of /proc than this one.
#[allow(dead_code)]
#[path = "lifecycle/procfs.rs"]
mod procfs;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::{signal, Signal};
use axon::prelude::*;
use axon::{NodeOptions, Restart, RestartStrategy, SupervisorSpec};
use serde::Serialize;

/// How often an agent is SIGKILLed.
const KILL_EVERY: Duration = Duration::from_millis(500);

/// How often memory is read between the start and the end.
const READ_EVERY: Duration = Duration::from_secs(60);

/// Control traffic before the first memory reading.
const WARM_UP: Duration = Duration::from_secs(10);

#[derive(Debug, Serialize)]
struct Reading {
    at_s: f64,
    nameserver_rss_mib: f64,
    agents_rss_median_mib: f64,
    agents_rss_max_mib: f64,
}

#[derive(Debug, Serialize)]
struct Soak {
    agents: usize,
    seconds: u64,
    control_calls: u64,
    control_errors: u64,
    kills: u64,
    restarts: u64,
    start: Reading,
    end: Reading,
    /// A reading every `READ_EVERY` in between: whether memory levels off or keeps growing.
    series: Vec<Reading>,
}

/// One figure of the run (the row of benches/common/output.rs; no peer, no payload).
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
    /// Agents of the run.
    agents: usize,
    /// Its length.
    seconds: u64,
}

impl Soak {
    /// The figures of the run as rows.
    fn rows(&self) -> Vec<Row> {
        let row = |bench, axon, unit| Row {
            bench,
            pattern: "soak",
            transport: "ipc",
            serializer: None,
            size: None,
            axon,
            raw: None,
            unit,
            agents: self.agents,
            seconds: self.seconds,
        };
        vec![
            row("control_calls", self.control_calls as f64, "calls"),
            row("control_errors", self.control_errors as f64, "calls"),
            row("kills", self.kills as f64, "kills"),
            row("restarts", self.restarts as f64, "restarts"),
            row("nameserver_rss_start", self.start.nameserver_rss_mib, "MiB"),
            row("nameserver_rss_end", self.end.nameserver_rss_mib, "MiB"),
            row(
                "agents_rss_median_start",
                self.start.agents_rss_median_mib,
                "MiB",
            ),
            row(
                "agents_rss_median_end",
                self.end.agents_rss_median_mib,
                "MiB",
            ),
        ]
    }
}

fn main() -> Result<()> {
    // Re-runs of this executable as an agent host or the name server stop here.
    axon::init(axon::registry()).context("starting as an axon process")?;
    let seconds = env_u64("AXON_SOAK_SECS", 600)?;
    let agents = env_u64("AXON_SOAK_AGENTS", 100)? as usize & !1;
    let spec = SupervisorSpec {
        strategy: RestartStrategy::OneForOne,
        intensity: u32::MAX,
        period: Duration::from_secs(1),
        ..SupervisorSpec::default()
    };
    let options = NodeOptions {
        supervisor: spec,
        ..NodeOptions::default()
    };
    let ns = axon::run_nameserver_with(options).context("starting the name server")?;
    let names = deploy(&ns, agents)?;
    let ns_pid = ns.pid().context("the name server has no pid")?;
    let started = Instant::now();
    let mut run = Run::default();
    run.until(&ns, &names, started + WARM_UP)?;
    let start = reading(&ns, ns_pid, started)?;
    let end_at = started + WARM_UP + Duration::from_secs(seconds);
    let mut series = Vec::new();
    while Instant::now() + READ_EVERY < end_at {
        run.until(&ns, &names, Instant::now() + READ_EVERY)?;
        series.push(reading(&ns, ns_pid, started)?);
    }
    run.until(&ns, &names, end_at)?;
    let end = reading(&ns, ns_pid, started)?;
    let restarts = ns.ps()?.iter().map(|s| u64::from(s.restarts)).sum();
    ns.shutdown().context("shutting the node down")?;
    let soak = Soak {
        agents,
        seconds,
        control_calls: run.calls,
        control_errors: run.errors,
        kills: run.kills,
        restarts,
        start,
        end,
        series,
    };
    println!("{soak:#?}");
    let path = output::write_json("soak", &soak.rows())?;
    println!("figures written to {}", path.display());
    let path = output::write_other("soak-series", &soak)?;
    println!(
        "the run with its memory series written to {}",
        path.display()
    );
    Ok(())
}

fn env_u64(name: &str, default: u64) -> Result<u64> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Tickers and counters in pairs, supervised, connected through the control plane.
fn deploy(ns: &NameServer, agents: usize) -> Result<Vec<String>> {
    let mut names = Vec::with_capacity(agents);
    for pair in 0..agents / 2 {
        let (ticker, counter) = (format!("ticker-{pair}"), format!("counter-{pair}"));
        let permanent = |name: &str, kind: &str| {
            SpawnOptions::default()
                .name(name)
                .kind(kind)
                .restart(Restart::Permanent)
        };
        let mut t = ns.spawn(permanent(&ticker, "ticker").attribute("period_ms", 10u64)?)?;
        let out = t.bind(SocketKind::Push, "out")?;
        let mut c = ns.spawn(permanent(&counter, "counter"))?;
        c.connect(&out, "in", "count")?;
        names.push(ticker);
        names.push(counter);
    }
    Ok(names)
}

#[derive(Default)]
struct Run {
    calls: u64,
    errors: u64,
    kills: u64,
    seed: u64,
}

impl Run {
    /// Control calls on random agents, and a SIGKILL every `KILL_EVERY`, until `deadline`.
    fn until(&mut self, ns: &NameServer, names: &[String], deadline: Instant) -> Result<()> {
        let mut next_kill = Instant::now() + KILL_EVERY;
        while Instant::now() < deadline {
            let name = &names[self.random(names.len())];
            match ns.proxy(name) {
                Ok(mut p) => self.calls(&mut p),
                // Between a kill and the restart the agent is not registered.
                Err(_) => self.errors += 1,
            }
            if Instant::now() >= next_kill {
                let victim = &names[self.random(names.len())];
                if let Some(pid) = ns
                    .ps()?
                    .iter()
                    .find(|s| &s.name == victim)
                    .and_then(|s| s.pid)
                {
                    // Already gone is fine: it is being restarted.
                    let _ = signal(pid, Signal::Kill);
                    self.kills += 1;
                }
                next_kill += KILL_EVERY;
            }
        }
        if ns.ps()?.iter().any(|s| s.state == "failed") {
            bail!("the supervisor gave up on an agent");
        }
        Ok(())
    }

    fn calls(&mut self, p: &mut Proxy) {
        let n = self.seed;
        let results = [
            p.ping().is_ok(),
            p.stats().is_ok(),
            p.get_attr::<Value>("name").is_ok(),
            p.call::<_, Value>("list_timers", ()).is_ok(),
            p.each(Duration::from_secs(3600), Some("soak"), "count", &n)
                .is_ok()
                || p.name().starts_with("ticker"),
            p.stop_timer("soak").is_ok() || p.name().starts_with("ticker"),
        ];
        self.calls += results.len() as u64;
        self.errors += results.iter().filter(|ok| !**ok).count() as u64;
    }

    /// A small xorshift: deterministic, no dependency.
    fn random(&mut self, below: usize) -> usize {
        if self.seed == 0 {
            self.seed = 0x9E37_79B9_7F4A_7C15;
        }
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        (self.seed % below as u64) as usize
    }
}

fn reading(ns: &NameServer, ns_pid: u32, started: Instant) -> Result<Reading> {
    let mib = |kib: u64| kib as f64 / 1024.0;
    let mut agents: Vec<f64> = ns
        .ps()?
        .iter()
        .filter_map(|s| s.pid)
        .filter_map(|pid| procfs::status(pid).ok())
        .map(|s| mib(s.rss_kib))
        .collect();
    agents.sort_by(f64::total_cmp);
    Ok(Reading {
        at_s: started.elapsed().as_secs_f64(),
        nameserver_rss_mib: mib(procfs::status(ns_pid)?.rss_kib),
        agents_rss_median_mib: agents.get(agents.len() / 2).copied().unwrap_or(0.0),
        agents_rss_max_mib: agents.last().copied().unwrap_or(0.0),
    })
}
