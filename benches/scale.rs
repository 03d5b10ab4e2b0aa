//! Thousands of supervised agents: `axon up` of one manifest of N `echo`
//! agents, from start to graceful shutdown.
//!
//! Run: `AXON_SCALE_N=1000,3000,10000 cargo bench --bench scale`
//! (default `1000`). For each N, in one run:
//!
//! - **start**: `axon up` until its ready line (every agent spawned,
//!   registered and answering the supervisor's ping), against N bare starts
//!   to exit of the same binary (`axon --version`) from one loop; per agent,
//!   and per agent over the per-agent figure of the smallest N (linearity: 1
//!   is linear);
//! - a ping to every agent from one client (all must answer);
//! - the name server's RSS, PSS and descriptors, per agent over a 10-agent
//!   node's; the agents' total PSS and threads per agent;
//! - `axon ps` at full size (median of three);
//! - SIGTERM to `axon up` until it ended, and how many agents stopped
//!   gracefully and how many were killed (from its final line).
//!
//! Runs above 1000 agents need the whole machine: each takes an exclusive
//! `flock` on `/work/scale.lock` (`AXON_SCALE_LOCK`), is skipped when less
//! than 4 GiB of memory would remain, raises the open-file limit and, if
//! too low and writable (root), `kernel.pid_max` for the run (each agent has
//! 3 threads), and stops everything it started, also on failure. Figures go
//! to a table on stdout and to `target/axon-bench/scale.json`.

#[path = "common/output.rs"]
mod output;
// Shared with the lifecycle bench, which reads the fields this one does not.
#[path = "scale/machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "lifecycle/procfs.rs"]
mod procfs;
#[path = "scale/run.rs"]
mod run;

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use run::Figures;

/// The agents of the node a per-agent memory figure is taken against.
const BASELINE_AGENTS: usize = 10;

/// An agent's PSS assumed before one is measured, KiB (a release agent is about 2 MiB).
const GUESS_PSS_KIB: u64 = 4 << 10;

fn main() -> Result<()> {
    let sizes = sizes()?;
    let axon = Path::new(env!("CARGO_BIN_EXE_axon"));
    let open_files = machine::raise_open_files(1 << 20)?;
    eprintln!("scale: {sizes:?} agents; open files {open_files}");
    let mut rows = Vec::new();
    let base = run::deployment(axon, BASELINE_AGENTS).context("the 10-agent baseline")?;
    let mut first: Option<Figures> = None;
    let mut pss_guess = GUESS_PSS_KIB;
    // The name server's descriptors per agent (a pidfd, a lease connection, a /proc file) until measured.
    let mut fds_guess = 3.0;
    for &n in &sizes {
        let _whole = match n > 1000 {
            true => Some(machine::Whole::take()?),
            false => None,
        };
        if let Some(why) = machine::memory_fits(n, pss_guess)? {
            eprintln!("scale: {n} agents skipped: {why}");
            continue;
        }
        let fds = (n as f64 * fds_guess) as u64 + base.ns_fds;
        if fds > open_files {
            eprintln!("scale: {n} agents skipped: the name server would need about {fds} descriptors and may open {open_files} (RLIMIT_NOFILE, which this process may not raise)");
            continue;
        }
        // Each agent: 3 threads (its actor's, libzmq's I/O and reaper); room for the rest of the machine.
        let (_pid_max, pid_note) = machine::PidMax::at_least(n as u64 * 4 + 16_384)?;
        eprintln!("scale: {n} agents ({pid_note})");
        let f = run::deployment(axon, n).with_context(|| format!("{n} agents"))?;
        pss_guess = (f.agents_pss_kib / n as u64).max(1) * 5 / 4;
        fds_guess = f.ns_fds.saturating_sub(base.ns_fds) as f64 / (n - base.agents) as f64;
        rows.extend(figures_rows(&f, &base, first.as_ref(), &pid_note));
        first.get_or_insert(f);
        // Written after each N: a larger one that fails keeps the figures of the smaller.
        let path = output::write_json("scale", &rows)?;
        eprintln!("scale: rows in {}", path.display());
    }
    print_table(&rows);
    Ok(())
}

/// N from `AXON_SCALE_N` (comma-separated), else 1000.
fn sizes() -> Result<Vec<usize>> {
    let text = std::env::var("AXON_SCALE_N").unwrap_or_else(|_| "1000".into());
    text.split(',')
        .map(|n| match n.trim().parse::<usize>() {
            Ok(n) if n > BASELINE_AGENTS => Ok(n),
            _ => anyhow::bail!(
                "AXON_SCALE_N: {n:?} is not a number of agents above {BASELINE_AGENTS}"
            ),
        })
        .collect()
}

/// One figure; `raw` is the bare-process peer measured in the same run, where there is one.
#[derive(Debug, Serialize)]
struct Row {
    scenario: String,
    bench: &'static str,
    pattern: &'static str,
    transport: &'static str,
    serializer: Option<&'static str>,
    size: Option<usize>,
    agents: usize,
    axon: f64,
    raw: Option<f64>,
    unit: &'static str,
    ratio: Option<f64>,
    better: &'static str,
    measures: &'static str,
    note: Option<String>,
    command: String,
}

impl Row {
    fn new(agents: usize, bench: &'static str, axon: f64, unit: &'static str) -> Row {
        Row {
            scenario: format!("n{agents}"),
            bench,
            pattern: "supervised echo agents, axon up",
            transport: "ipc",
            serializer: None,
            size: None,
            agents,
            axon,
            raw: None,
            unit,
            ratio: None,
            better: "lower",
            measures: "",
            note: None,
            command: format!("AXON_SCALE_N={agents} cargo bench --bench scale"),
        }
    }

    fn against(mut self, raw: f64) -> Row {
        self.raw = Some(raw);
        self.ratio = (raw > 0.0).then(|| self.axon / raw);
        self
    }

    fn measuring(mut self, what: &'static str) -> Row {
        self.measures = what;
        self
    }

    fn noting(mut self, note: String) -> Row {
        self.note = Some(note);
        self
    }
}

fn figures_rows(f: &Figures, base: &Figures, first: Option<&Figures>, pid_note: &str) -> Vec<Row> {
    let n = f.agents;
    let per = |ms: f64| ms / n as f64;
    let load = format!("load {} at the start, {} at full size", f.load.0, f.load.1);
    let mut rows = vec![
        Row::new(n, "start", f.ready_ms, "ms")
            .against(f.raw_ms)
            .measuring("axon up to its ready line; raw: N bare `axon --version` from one loop")
            .noting(format!("{load}; {pid_note}")),
        Row::new(n, "start_per_agent", per(f.ready_ms), "ms")
            .against(per(f.raw_ms))
            .measuring("start / N"),
        Row::new(n, "ping_sweep", f.ping_sweep_ms, "ms")
            .measuring("a ping to every agent from one client, after ready")
            .noting(format!("{} of {n} answered", f.answered)),
    ];
    if let Some(first) = first {
        let linear = per(f.ready_ms) / (first.ready_ms / first.agents as f64);
        rows.push(
            Row::new(n, "start_linearity", linear, "ratio")
                .measuring("start per agent over the smallest N's")
                .noting(format!("against {} agents", first.agents)),
        );
    }
    let grown = |now: u64, then: u64| now.saturating_sub(then) as f64 / (n - base.agents) as f64;
    rows.extend([
        Row::new(
            n,
            "ns_pss_per_agent",
            grown(f.ns_pss_kib, base.ns_pss_kib),
            "KiB",
        )
        .measuring("name server PSS over a 10-agent node's, per agent added")
        .noting(format!(
            "PSS {} KiB, RSS {} KiB, {} fds, {} threads",
            f.ns_pss_kib, f.ns_rss_kib, f.ns_fds, f.ns_threads
        )),
        Row::new(
            n,
            "ns_rss_per_agent",
            grown(f.ns_rss_kib, base.ns_rss_kib),
            "KiB",
        )
        .measuring("name server RSS over a 10-agent node's, per agent added"),
        Row::new(
            n,
            "agents_pss_total",
            f.agents_pss_kib as f64 / 1024.0,
            "MiB",
        )
        .measuring("sum of every agent's PSS (smaps_rollup)"),
        Row::new(n, "agent_pss", f.agents_pss_kib as f64 / n as f64, "KiB")
            .measuring("agents' PSS / N"),
        Row::new(n, "agent_threads", f.agent_threads as f64, "threads")
            .measuring("threads of one agent (/proc/<pid>/status)"),
        Row::new(n, "ps", median(&f.ps_ms), "ms").measuring("`axon ps` at full size, median of 3"),
        Row::new(n, "shutdown", f.shutdown_ms, "ms")
            .measuring("SIGTERM to axon up until it exited")
            .noting(format!(
                "{} stopped gracefully, {} killed, {} left alive",
                f.graceful, f.killed, f.left
            )),
        Row::new(n, "shutdown_killed", f.killed as f64, "agents")
            .measuring("agents killed by the shutdown (goal 0)"),
    ]);
    rows
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<8} {:<18} {:>12} {:>12} {:>8} {:<8} note",
        "N", "figure", "axon", "raw", "ratio", "unit"
    );
    for r in rows {
        let raw = r.raw.map_or("-".into(), |v| format!("{v:.2}"));
        let ratio = r.ratio.map_or("-".into(), |v| format!("{v:.2}"));
        println!(
            "{:<8} {:<18} {:>12.2} {:>12} {:>8} {:<8} {}",
            r.agents,
            r.bench,
            r.axon,
            raw,
            ratio,
            r.unit,
            r.note.as_deref().unwrap_or("")
        );
    }
}
