//! Scenario `restart`: SIGKILL a supervised agent (permanent, one_for_one)
//! and time until its new incarnation is registered and answers ping.
//!
//! Kills go round-robin over a few agents, and an agent is killed again only
//! once its last restart is older than the supervisor's period, so every
//! restart is a first restart within the period (immediate, no backoff); the
//! restart intensity is set above the number of kills so it is never reached.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::{signal, Signal};
use axon::prelude::*;
use axon::{ErrorKind, Restart, RestartStrategy, SupervisorSpec};

use crate::node::{self, ms, Node};
use crate::report::{Row, Spread};

const SCENARIO: &str = "restart";

/// Agents the kills are spread over.
const AGENTS: usize = 6;

/// The supervisor's period: restarts of one agent further apart than this never back off.
const PERIOD: Duration = Duration::from_millis(100);

/// The longest a restart may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(10);

/// Pause between two looks at the name server while waiting for the new incarnation.
const POLL: Duration = Duration::from_micros(500);

/// One restart, timed from the SIGKILL.
struct Restarted {
    /// Until `ns.info` showed the new pid.
    registered: Duration,
    /// Until the new incarnation answered ping.
    serving: Duration,
    /// When it did (the next kill of this agent waits out the period from here).
    at: Instant,
}

pub fn run(kills: usize) -> Result<Vec<Row>> {
    let spec = SupervisorSpec {
        strategy: RestartStrategy::OneForOne,
        intensity: u32::try_from(kills * 2 + 10).unwrap_or(u32::MAX),
        period: PERIOD,
        ..SupervisorSpec::default()
    };
    let node = Node::start(spec)?;
    let names: Vec<String> = (0..AGENTS).map(|i| format!("supervised-{i}")).collect();
    for name in &names {
        let options = SpawnOptions::default().restart(Restart::Permanent);
        node::spawn(node.ns(), name, options)?;
    }
    let (registered, serving) = kill_round_robin(node.ns(), &names, kills)?;
    check_restarts(node.ns(), &names, kills)?;
    let (_, tally) = node.shutdown()?;
    rows(kills, &registered, &serving, &tally.crash_to_serving_ms)
}

/// `kills` restarts over `names` in turn; ms from each kill to registered, and to serving.
fn kill_round_robin(
    ns: &NameServer,
    names: &[String],
    kills: usize,
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut last: Vec<Option<Instant>> = vec![None; names.len()];
    let (mut registered, mut serving) = (Vec::with_capacity(kills), Vec::with_capacity(kills));
    for k in 0..kills {
        let i = k % names.len();
        if let Some(at) = last[i] {
            // Past the period, this restart is a first one again: immediate.
            let due = at + PERIOD + Duration::from_millis(10);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        let r = kill_and_wait(ns, &names[i])
            .with_context(|| format!("restart {} of {}", k / names.len() + 1, names[i]))?;
        registered.push(ms(r.registered));
        serving.push(ms(r.serving));
        last[i] = Some(r.at);
    }
    Ok((registered, serving))
}

/// SIGKILLs the current process of `name`, then waits for its successor to serve.
fn kill_and_wait(ns: &NameServer, name: &str) -> Result<Restarted> {
    let old = ns.info(name).context("looking the agent up")?;
    let killed = Instant::now();
    signal(old.pid, Signal::Kill).with_context(|| format!("killing pid {}", old.pid))?;
    let deadline = killed + DEADLINE;
    let info = loop {
        match ns.info(name) {
            Ok(info) if info.pid != old.pid => break info,
            Ok(_) => {}
            // Between the exit and the new registration the name server knows no such agent.
            Err(axon::Error::Remote(e)) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e).context("asking the name server"),
        }
        if Instant::now() >= deadline {
            bail!("no new incarnation registered within {DEADLINE:?}");
        }
        std::thread::sleep(POLL);
    };
    let registered = killed.elapsed();
    let mut proxy = Proxy::open(info.name, info.control).context("opening a proxy")?;
    proxy.set_timeout(deadline.saturating_duration_since(Instant::now()));
    proxy.ping().context("pinging the new incarnation")?;
    let at = Instant::now();
    Ok(Restarted {
        registered,
        serving: at - killed,
        at,
    })
}

/// Every agent runs again, restarted exactly as often as it was killed.
///
/// The name server marks a restarted agent running once its own ping is
/// answered, which may come just after the bench's: this waits a little.
fn check_restarts(ns: &NameServer, names: &[String], kills: usize) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ps = ns.ps().context("asking the name server for ps")?;
        let wrong = names.iter().enumerate().find_map(|(i, name)| {
            let expected = (kills + AGENTS - 1 - i) / AGENTS;
            match ps.iter().find(|s| &s.name == name) {
                None => Some(format!("{name} is missing from ps")),
                Some(s) if s.state != "running" || s.restarts as usize != expected => {
                    Some(format!(
                        "{name}: {} with {} restarts, expected running with {expected}",
                        s.state, s.restarts
                    ))
                }
                Some(_) => None,
            }
        });
        match wrong {
            None => return Ok(()),
            Some(why) if Instant::now() >= deadline => bail!(why),
            Some(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn rows(kills: usize, registered: &[f64], serving: &[f64], supervisor: &[f64]) -> Result<Vec<Row>> {
    let serving = Spread::of(serving).context("no restarts timed")?;
    let registered = Spread::of(registered).context("no restarts timed")?;
    let row = |bench, value, count, measures| {
        Row::new(SCENARIO, bench, AGENTS, value, "ms", count, measures)
    };
    let to_ping =
        "SIGKILL (kill(2)) -> ns.info shows the new pid -> ping of the new incarnation answered";
    let to_info = "SIGKILL (kill(2)) -> ns.info shows the new pid";
    let n = serving.count;
    let mut rows = vec![
        row("kill_to_serving_p50", serving.p50, n, to_ping),
        row("kill_to_serving_p90", serving.p90, n, to_ping),
        row("kill_to_serving_max", serving.max, n, to_ping),
        row("kill_to_registered_p50", registered.p50, n, to_info),
    ];
    let own = "the name server's crash_to_serving_ms log field: exit reaped -> new incarnation answered its ping";
    let Some(s) = Spread::of(supervisor) else {
        eprintln!("no crash_to_serving_ms in the name server's log (AXON_LOG must let info from axon_supervisor::server::supervise through)");
        return Ok(rows);
    };
    let note = (s.count != kills).then(|| format!("{} of {kills} restarts logged", s.count));
    for (bench, value) in [("supervisor_p50", s.p50), ("supervisor_p90", s.p90)] {
        let mut r = row(bench, value, s.count, own);
        r.note = note.clone();
        rows.push(r);
    }
    Ok(rows)
}
