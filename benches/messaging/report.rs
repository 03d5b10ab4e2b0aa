//! The figures: one `Row` per measurement, printed as a table and written as JSON.

use std::path::PathBuf;

use anyhow::Result;
use serde::Serialize;

use crate::cases::Case;
use crate::fanout::Delivery;

/// One figure, axon against raw libzmq for the same traffic.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub bench: &'static str,
    pub pattern: &'static str,
    pub transport: String,
    pub serializer: String,
    /// Payload bytes before serialization.
    pub size: usize,
    pub axon: f64,
    pub raw: f64,
    pub unit: &'static str,
    /// axon / raw.
    pub ratio: f64,
    /// Which way the ratio is better: `higher` (throughput) or `lower` (latency).
    pub better: &'static str,
    /// Timed messages (or round trips) per run.
    pub count: u64,
    /// Fan-out rows only: where the messages of the run shown went, each side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<Drops>,
    /// Reliable rows only: what `raw` is instead of raw libzmq (`axon-plain`: plain axon
    /// PUSH/PULL, same traffic, same run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<&'static str>,
    /// Reliable rows only: messages never handled, over every repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<u64>,
    /// Reliable rows only: messages handled more than once, or dropped as copies, over every
    /// repetition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicates: Option<u64>,
}

/// The delivery figures of a fan-out row: the median-rate run of each side.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Drops {
    pub axon: Delivery,
    pub raw: Delivery,
}

impl Row {
    /// A throughput row from messages per second on each side.
    pub fn throughput(case: &Case, axon: f64, raw: f64) -> Row {
        Row::new(
            case,
            "throughput",
            axon / 1e3,
            raw / 1e3,
            "kmsg/s",
            "higher",
        )
    }

    /// A fan-out row: aggregate delivered messages per second, and where every message went.
    pub fn delivered(case: &Case, axon: Delivery, raw: Delivery) -> Row {
        let (a, r) = (axon.rate / 1e3, raw.rate / 1e3);
        Row {
            drops: Some(Drops { axon, raw }),
            ..Row::new(case, "delivered", a, r, "kmsg/s", "higher")
        }
    }

    /// An at-least-once row: reliable against plain axon PUSH/PULL (messages per second), with
    /// what was lost and duplicated.
    pub fn reliable(case: &Case, reliable: f64, plain: f64, lost: u64, duplicates: u64) -> Row {
        Row {
            pattern: "push-pull",
            baseline: Some("axon-plain"),
            lost: Some(lost),
            duplicates: Some(duplicates),
            ..Row::new(
                case,
                "reliable",
                reliable / 1e3,
                plain / 1e3,
                "kmsg/s",
                "higher",
            )
        }
    }

    /// A latency row from nanoseconds on each side.
    pub fn latency(case: &Case, bench: &'static str, axon_ns: f64, raw_ns: f64) -> Row {
        Row::new(case, bench, axon_ns / 1e3, raw_ns / 1e3, "us", "lower")
    }

    fn new(
        case: &Case,
        bench: &'static str,
        axon: f64,
        raw: f64,
        unit: &'static str,
        better: &'static str,
    ) -> Row {
        Row {
            bench,
            pattern: case.pattern.as_str(),
            transport: case.transport.to_string(),
            serializer: case.serializer.to_string(),
            size: case.size,
            axon,
            raw,
            unit,
            ratio: axon / raw,
            better,
            count: case.count,
            drops: None,
            baseline: None,
            lost: None,
            duplicates: None,
        }
    }
}

/// Prints the rows as an aligned table on stdout.
pub fn print(rows: &[Row]) {
    println!(
        "{:<10} {:<9} {:<9} {:<10} {:>6} {:>10} {:>10} {:<7} {:>9} {:<6}",
        "bench",
        "pattern",
        "transport",
        "serializer",
        "size",
        "axon",
        "raw",
        "unit",
        "axon/raw",
        "better"
    );
    for r in rows {
        println!(
            "{:<10} {:<9} {:<9} {:<10} {:>6} {:>10.1} {:>10.1} {:<7} {:>9.2} {:<6}",
            r.bench,
            r.pattern,
            r.transport,
            r.serializer,
            r.size,
            r.axon,
            r.raw,
            r.unit,
            r.ratio,
            r.better
        );
    }
    println!("axon/raw: higher is better for throughput, lower is better for latency (the `better` column).");
    for r in rows.iter().filter(|r| r.baseline.is_some()) {
        println!(
            "reliable {} {} {} B: {:.1} kmsg/s against plain axon's {:.1} ({:.2}); lost {}, duplicates {}",
            r.transport,
            r.serializer,
            r.size,
            r.axon,
            r.raw,
            r.ratio,
            r.lost.unwrap_or(0),
            r.duplicates.unwrap_or(0)
        );
    }
    for r in rows {
        if let Some(d) = &r.drops {
            print_drops(r, d);
        }
    }
}

/// Prints where the messages of a fan-out row went, each side.
fn print_drops(r: &Row, d: &Drops) {
    println!();
    println!(
        "{} {} {} {} B, {} subscribers: messages of the median run (copies: one per subscriber)",
        r.pattern, r.transport, r.serializer, r.size, d.axon.subscribers
    );
    println!(
        "{:<5} {:>10} {:>10} {:>15} {:>12} {:>12} {:>12} {:>8}  share of accepted, per subscriber",
        "side",
        "published",
        "accepted",
        "counted drops",
        "copies due",
        "delivered",
        "lost copies",
        "silent",
    );
    for (side, x) in [("axon", &d.axon), ("raw", &d.raw)] {
        let shares: Vec<String> = x.shares.iter().map(|s| format!("{s:.3}")).collect();
        println!(
            "{:<5} {:>10} {:>10} {:>15} {:>12} {:>12} {:>12} {:>8}  {}",
            side,
            x.published,
            x.accepted,
            x.counted,
            x.subscribers * x.published,
            x.delivered,
            x.lost,
            x.silent,
            shares.join(" ")
        );
    }
    println!("counted drops: refused at the high-water mark and counted by the publisher; silent: lost copies no counter shows (axon: always 0, checked).");
    println!("rate: delivered copies per second over the publisher's send window (first send to the later of last send and last receipt).");
}

/// Writes the rows to `<target>/axon-bench/messaging.json`; returns the path.
pub fn write_json(rows: &[Row]) -> Result<PathBuf> {
    crate::output::write_json("messaging", rows)
}
