//! Scripted handlers against compiled ones: the same counting handler on a
//! PUSH -> PULL stream of 16 B cbor messages over ipc, written once in Rust
//! and once in rhai (loaded into a `script` agent), in the same run.
//!
//! Run: `cargo bench --bench scripting`
//! (`AXON_BENCH_SCALE=0.1` scales the message count, `AXON_BENCH_REPS=n`
//! sets the repetitions per side, default 5; the median counts).
//!
//! Both receivers decode each message into a value and count it: the
//! compiled one in a field, the scripted one in a free-form attribute
//! (`set_attr("n", get_attr("n") + 1)`, what a script has). One sending agent
//! pumps `warm + count` messages; the driver times from the pump's start to
//! the moment the receiver's count reads `warm + count`, polling every
//! millisecond, the same way for both sides. Figures go to stdout and to
//! `target/axon-bench/scripting.json`.

// Only the sender's side of the messaging bench's agent is used here.
#[allow(dead_code)]
#[path = "messaging/agent.rs"]
mod agent;
#[path = "common/output.rs"]
mod output;

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::prelude::*;
use serde::Serialize;

use agent::{BenchAgent, Pump};

/// Messages per timed run, before `AXON_BENCH_SCALE`.
const COUNT: u64 = 200_000;
/// Untimed messages before them.
const WARM: u64 = 20_000;
/// Payload bytes.
const SIZE: usize = 16;
/// The longest one run may take.
const DEADLINE: Duration = Duration::from_secs(120);

/// The scripted counting handler.
const SCRIPT: &str = "fn count(msg) { set_attr(\"n\", (get_attr(\"n\") ?? 0) + 1); }";

/// The compiled counting handler's kind.
#[derive(Default)]
struct Counting {
    n: u64,
}

impl Agent for Counting {
    const KIND: &'static str = "bench.counting";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(Counting::default())
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on(
            "count",
            |me: &mut Self, _: &mut Ctx<'_, Self>, msg: Message<'_>| {
                // Decoded like the script's argument is.
                let _value: Value = msg.decode()?;
                me.n += 1;
                Ok(())
            },
        );
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        (name == "n").then(|| Value::Integer(self.n.into()))
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        match (name, value.as_integer()) {
            ("n", Some(n)) => {
                self.n = u64::try_from(n).map_err(HandlerError::msg)?;
                Ok(())
            }
            _ => Err(HandlerError::msg("only n, an integer")),
        }
    }
}

/// The figure, in the messaging bench's row shape.
#[derive(Debug, Serialize)]
struct Row {
    bench: &'static str,
    pattern: &'static str,
    transport: &'static str,
    serializer: &'static str,
    size: usize,
    /// Scripted handler, kmsg/s.
    axon: f64,
    /// Compiled handler, kmsg/s.
    raw: f64,
    unit: &'static str,
    /// scripted / compiled.
    ratio: f64,
    count: u64,
}

fn main() -> Result<()> {
    // Re-runs of this executable as an agent host or the name server stop here.
    let kinds = axon::registry().kind::<BenchAgent>().kind::<Counting>();
    axon::init(kinds).context("starting as an axon process")?;
    if std::env::var_os("AXON_LOG").is_none() {
        std::env::set_var("AXON_LOG", "warn");
    }
    let scale: f64 = env_or("AXON_BENCH_SCALE", 1.0)?;
    let reps: usize = env_or("AXON_BENCH_REPS", 5)?;
    let count = ((COUNT as f64 * scale) as u64).max(1);
    let ns = axon::run_nameserver().context("starting the name server")?;
    let measured = measure(&ns, count, reps);
    let stopped = ns.shutdown().context("shutting the node down");
    let (scripted, compiled) = measured?;
    stopped?;
    let row = Row {
        bench: "scripted_handler",
        pattern: "push-pull",
        transport: "ipc",
        serializer: "cbor",
        size: SIZE,
        axon: scripted / 1e3,
        raw: compiled / 1e3,
        unit: "kmsg/s",
        ratio: scripted / compiled,
        count,
    };
    println!(
        "push-pull ipc cbor {SIZE} B, counting handler: scripted {:.0} kmsg/s, compiled {:.0} kmsg/s, ratio {:.2} (goal >= 0.33)",
        row.axon, row.raw, row.ratio
    );
    let path = output::write_json("scripting", &[row])?;
    println!("figures written to {}", path.display());
    Ok(())
}

/// Median rates (msg/s) of the scripted and the compiled receiver, runs interleaved.
fn measure(ns: &NameServer, count: u64, reps: usize) -> Result<(f64, f64)> {
    let spawn = |name: &str, kind: &str| {
        let options = SpawnOptions::default().name(name).kind(kind);
        ns.spawn(options)
            .with_context(|| format!("spawning {name}"))
    };
    let mut sender = spawn("sender", BenchAgent::KIND)?;
    let mut scripted = spawn("scripted", "script")?;
    scripted.load_script(SCRIPT)?;
    let mut compiled = spawn("compiled", Counting::KIND)?;
    let (mut s, mut c) = (Vec::new(), Vec::new());
    for run in 0..reps {
        s.push(rate(&mut sender, &mut scripted, &format!("s{run}"), count)?);
        c.push(rate(&mut sender, &mut compiled, &format!("c{run}"), count)?);
        eprintln!(
            "run {run}: scripted {:.0} msg/s, compiled {:.0} msg/s",
            s[run], c[run]
        );
    }
    Ok((median(s), median(c)))
}

/// One run: the receiver binds a PULL on ipc with handler `count`, the sender pumps; msg/s.
fn rate(sender: &mut Proxy, receiver: &mut Proxy, alias: &str, count: u64) -> Result<f64> {
    receiver.set_attr("n", &0_u64)?;
    let opts = BindOptions {
        transport: Some(Transport::Ipc),
        serializer: Some(Serializer::Cbor),
        ..BindOptions::alias(alias).handler("count")
    };
    let bound = receiver.bind_with(SocketKind::Pull, opts)?;
    sender.connect(&bound, alias, None)?;
    let pump = |total| Pump {
        alias: alias.to_owned(),
        total,
        size: SIZE,
        topic: None,
    };
    sender.execute::<_, Value>("pump", &pump(WARM))?;
    wait_count(receiver, WARM)?;
    let start = Instant::now();
    sender.execute::<_, Value>("pump", &pump(count))?;
    wait_count(receiver, WARM + count)?;
    let elapsed = start.elapsed();
    sender.close(alias)?;
    receiver.close(alias)?;
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// Polls the receiver's count every millisecond until it reads `n`.
fn wait_count(receiver: &mut Proxy, n: u64) -> Result<()> {
    let until = Instant::now() + DEADLINE;
    loop {
        let seen: u64 = receiver.get_attr("n")?;
        if seen >= n {
            return Ok(());
        }
        if Instant::now() >= until {
            bail!(
                "{} counted {seen} of {n} within {DEADLINE:?}",
                receiver.name()
            );
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v:?} does not parse")),
        Err(_) => Ok(default),
    }
}
