//! The figures: one `Row` per measurement, printed as a table grouped by
//! scenario and written as JSON (the rows of benches/common/output.rs: the
//! pattern is the scenario, the transport the control plane's `ipc`, no
//! serializer or size; `raw` and `ratio` are `null` where there is no
//! baseline).

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

/// One figure, with the bare-process baseline where there is one.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The scenario that produced it; `cargo bench --bench lifecycle -- <scenario>` runs it alone.
    pub scenario: &'static str,
    pub bench: &'static str,
    /// The scenario again, in the field every bench's rows share.
    pub pattern: &'static str,
    /// The control plane's transport.
    pub transport: &'static str,
    /// None: a lifecycle figure has no payload.
    pub serializer: Option<&'static str>,
    /// None: a lifecycle figure has no payload.
    pub size: Option<usize>,
    /// Agents alive in the node while it was measured.
    pub agents: usize,
    pub axon: f64,
    pub raw: Option<f64>,
    pub unit: &'static str,
    /// axon / raw.
    pub ratio: Option<f64>,
    /// axon - raw, in `unit`.
    pub diff: Option<f64>,
    /// Which way is better: `lower` or `higher`.
    pub better: &'static str,
    /// Samples behind the figure.
    pub count: usize,
    /// What was timed or read on the axon side.
    pub measures: &'static str,
    /// What was timed or read for `raw`.
    pub baseline: Option<&'static str>,
    /// Anything that qualifies the figure (e.g. agents killed at the end of a shutdown grace).
    pub note: Option<String>,
    /// The command that reproduces it.
    pub command: String,
}

impl Row {
    /// A figure without a baseline, lower is better.
    pub fn new(
        scenario: &'static str,
        bench: &'static str,
        agents: usize,
        axon: f64,
        unit: &'static str,
        count: usize,
        measures: &'static str,
    ) -> Row {
        Row {
            scenario,
            bench,
            pattern: scenario,
            transport: "ipc",
            serializer: None,
            size: None,
            agents,
            axon,
            raw: None,
            unit,
            ratio: None,
            diff: None,
            better: "lower",
            count,
            measures,
            baseline: None,
            note: None,
            command: format!("cargo bench --bench lifecycle -- {scenario}"),
        }
    }

    /// Adds the baseline figure `raw`, measured by `baseline`.
    pub fn against(mut self, raw: f64, baseline: &'static str) -> Row {
        self.raw = Some(raw);
        self.ratio = Some(self.axon / raw);
        self.diff = Some(self.axon - raw);
        self.baseline = Some(baseline);
        self
    }

    /// Marks a figure where higher is better (a rate).
    pub fn higher_is_better(mut self) -> Row {
        self.better = "higher";
        self
    }

    /// Attaches a note.
    pub fn noting(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }
}

/// Nearest-rank percentiles of a sample set.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
    pub count: usize,
}

impl Spread {
    /// The spread of `samples`; `None` when there are none.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let i = (q * sorted.len() as f64).ceil() as usize;
            sorted[i.clamp(1, sorted.len()) - 1]
        };
        (!sorted.is_empty()).then(|| Spread {
            p50: rank(0.50),
            p90: rank(0.90),
            max: sorted[sorted.len() - 1],
            count: sorted.len(),
        })
    }
}

/// Prints the rows as an aligned table on stdout, each scenario under the command that runs it.
pub fn print(rows: &[Row]) {
    let mut scenario = "";
    for r in rows {
        if r.scenario != scenario {
            scenario = r.scenario;
            println!("\n# {}", r.command);
            println!(
                "{:<22} {:>6} {:>10} {:>10} {:<5} {:>8} {:>9} {:>5}  measures",
                "bench", "agents", "axon", "raw", "unit", "axon/raw", "axon-raw", "n"
            );
        }
        let or_dash = |v: Option<f64>, prec: usize| v.map_or("-".into(), |v| format!("{v:.prec$}"));
        println!(
            "{:<22} {:>6} {:>10.2} {:>10} {:<5} {:>8} {:>9} {:>5}  {}{}",
            r.bench,
            r.agents,
            r.axon,
            or_dash(r.raw, 2),
            r.unit,
            or_dash(r.ratio, 2),
            or_dash(r.diff, 2),
            r.count,
            r.measures,
            r.note
                .as_deref()
                .map_or(String::new(), |n| format!(" [{n}]")),
        );
    }
    println!();
    let mut baselines: Vec<&str> = Vec::new();
    for b in rows.iter().filter_map(|r| r.baseline) {
        if !baselines.contains(&b) {
            baselines.push(b);
        }
    }
    for b in baselines {
        println!("raw = {b}");
    }
}

/// Writes the rows to `<target>/axon-bench/lifecycle.json`; returns the path.
pub fn write_json(rows: &[Row]) -> Result<PathBuf> {
    crate::output::write_json("lifecycle", rows)
}
