//! Scenario `takeover`: SIGKILL the supervisor (the name server process) of a
//! deployment run by the real `axon up`, whose heart starts another, and time
//! until the control plane answers again (`status` from the new supervisor)
//! and until every agent is adopted (`ps`: running, same pid). Meanwhile a
//! PUSH -> PULL stream between two agents (1000 messages/s) keeps flowing;
//! at the end the bench counts agent restarts (goal 0) and messages lost
//! (goal 0: every tick sent was counted).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::{signal, Signal};
use axon::testing::Deployment;
use axon::NameServer;

use crate::node::ms;
use crate::report::{Row, Spread};

const SCENARIO: &str = "takeover";

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// How long one takeover may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(20);

/// A probe of the control plane (a fresh socket each time: a socket that
/// found nobody retries only after libzmq's 100 ms reconnect interval) waits
/// this long for an answer.
const PROBE: Duration = Duration::from_millis(5);

const MANIFEST: &str = r#"
[supervisor]
heartbeat = "200ms"

[[agent]]
name = "ticker"
kind = "ticker"
restart = "permanent"
attributes = { period_ms = 1 }
  [[agent.bind]]
  alias = "out"
  socket = "PUSH"

[[agent]]
name = "counter"
kind = "counter"
restart = "permanent"
  [[agent.connect]]
  to = "ticker.out"
  alias = "in"
  handler = "count"
"#;

/// `kills` supervisor kills (at most 5: `axon up`'s heart restarts 5 per minute).
pub fn run(kills: usize) -> Result<Vec<Row>> {
    let kills = kills.clamp(1, 5);
    let dep = Deployment::start(AXON, MANIFEST).context("axon up")?;
    let before = pids(&dep)?;
    let (mut answering, mut adopted) = (Vec::new(), Vec::new());
    for i in 0..kills {
        let (a, b) = kill_once(&dep, &before).with_context(|| format!("takeover {}", i + 1))?;
        answering.push(ms(a));
        adopted.push(ms(b));
    }
    let restarts: u32 = dep.ps()?.iter().map(|s| s.restarts).sum();
    let lost = lost_messages(&dep)?;
    let stopped = dep.stop().context("stopping the deployment")?;
    if !stopped.success() {
        bail!("axon up ended with {stopped}");
    }
    let answer = Spread::of(&answering).context("no takeover timed")?;
    let adopt = Spread::of(&adopted).context("no takeover timed")?;
    let to_answer =
        "SIGKILL of the supervisor -> a new one (started by axon up's heart) answers status";
    let to_adopt = "SIGKILL of the supervisor -> every agent adopted (ps: running, same pid)";
    let row =
        |bench, value, unit, n, measures| Row::new(SCENARIO, bench, 2, value, unit, n, measures);
    Ok(vec![
        row("answering_p50", answer.p50, "ms", answer.count, to_answer),
        row("answering_max", answer.max, "ms", answer.count, to_answer),
        row("adopted_p50", adopt.p50, "ms", adopt.count, to_adopt),
        row("adopted_max", adopt.max, "ms", adopt.count, to_adopt),
        row(
            "agent_restarts",
            f64::from(restarts),
            "count",
            kills,
            "restarts of the two agents over every takeover (goal 0)",
        ),
        row(
            "messages_lost",
            lost as f64,
            "count",
            kills,
            "PUSH -> PULL ticks sent but never counted, over every takeover (goal 0)",
        ),
    ])
}

fn pids(dep: &Deployment) -> Result<Vec<(String, Option<u32>)>> {
    let mut ps: Vec<(String, Option<u32>)> =
        dep.ps()?.into_iter().map(|s| (s.name, s.pid)).collect();
    ps.sort();
    Ok(ps)
}

/// One SIGKILL of the supervisor: until the new one answers, and until the agents are adopted.
fn kill_once(dep: &Deployment, before: &[(String, Option<u32>)]) -> Result<(Duration, Duration)> {
    let old = dep.node_status()?.supervisor.pid;
    let killed = Instant::now();
    signal(old, Signal::Kill).context("killing the supervisor")?;
    let deadline = killed + DEADLINE;
    let ns = loop {
        if let Ok(ns) = NameServer::connect(dep.endpoint(), PROBE) {
            if ns.status().is_ok_and(|s| s.supervisor.pid != old) {
                break ns;
            }
        }
        if Instant::now() >= deadline {
            bail!("no supervisor answered within {DEADLINE:?}");
        }
    };
    let answering = killed.elapsed();
    loop {
        let ps = ns.ps()?;
        let mut now: Vec<(String, Option<u32>)> = ps
            .iter()
            .filter(|s| s.state == "running")
            .map(|s| (s.name.clone(), s.pid))
            .collect();
        now.sort();
        if now == before {
            break;
        }
        if Instant::now() >= deadline {
            bail!("agents not adopted within {DEADLINE:?}: {ps:?}");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok((answering, killed.elapsed()))
}

/// Closes the ticker's socket, then counts what was sent but never received.
fn lost_messages(dep: &Deployment) -> Result<u64> {
    let mut ticker = dep.proxy("ticker")?;
    ticker.close("out")?;
    let sent: u64 = ticker.get_attr("ticks")?;
    let mut counter = dep.proxy("counter")?;
    let deadline = Instant::now() + DEADLINE;
    loop {
        let received: u64 = counter.get_attr("total")?;
        if received >= sent || Instant::now() >= deadline {
            return Ok(sent.saturating_sub(received));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
