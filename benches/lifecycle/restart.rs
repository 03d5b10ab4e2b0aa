//! Scenario `restart`: SIGKILL a supervised agent (permanent, one_for_one)
//! and time until its new incarnation serves again *with its configuration*:
//! its journal (2 binds, 2 connects, 4 SUB topics, a timer, 3 attributes,
//! all made through the control plane) replayed, and answering.
//!
//! The supervisor runs with its default backoff. Each round kills every
//! agent once: round 1 gives first restarts (immediate), the later rounds
//! restarts within the period (backed off: 100 ms, then 200 ms, ...). The
//! two are reported apart.

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

/// The supervisor's period: every round after the first restarts within it, so backs off.
const PERIOD: Duration = Duration::from_secs(60);

/// The longest a restart may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(20);

/// Pause between two looks at the name server while waiting for the new incarnation.
const POLL: Duration = Duration::from_micros(500);

/// The sockets each supervised agent has, all configured remotely.
const SOCKETS: [&str; 4] = ["in", "out", "from_peer", "news"];

/// One restart, timed from the SIGKILL.
struct Restarted {
    /// Until `ns.info` showed the new pid.
    registered: Duration,
    /// Until the new incarnation answered with every socket and its timer back.
    serving: Duration,
}

pub fn run(kills: usize) -> Result<Vec<Row>> {
    let rounds = kills.div_ceil(AGENTS).max(2);
    let spec = SupervisorSpec {
        strategy: RestartStrategy::OneForOne,
        intensity: u32::try_from(rounds * AGENTS * 2 + 10).unwrap_or(u32::MAX),
        period: PERIOD,
        ..SupervisorSpec::default()
    };
    let node = Node::start(spec)?;
    let (mut peer, _) = node::spawn(node.ns(), "peer", SpawnOptions::default())?;
    let push = peer.bind(SocketKind::Push, "push")?;
    let publish = peer.bind(SocketKind::Pub, "pub")?;
    let names: Vec<String> = (0..AGENTS).map(|i| format!("supervised-{i}")).collect();
    for name in &names {
        let options = SpawnOptions::default().restart(Restart::Permanent);
        let (mut agent, _) = node::spawn(node.ns(), name, options)?;
        configure(&mut agent, &push, &publish).with_context(|| format!("configuring {name}"))?;
    }
    let (mut first, mut later) = (Timings::default(), Timings::default());
    for round in 0..rounds {
        for name in &names {
            let r = kill_and_wait(node.ns(), name)
                .with_context(|| format!("restart {} of {name}", round + 1))?;
            let into = if round == 0 { &mut first } else { &mut later };
            into.registered.push(ms(r.registered));
            into.serving.push(ms(r.serving));
        }
    }
    check_restarts(node.ns(), &names, rounds)?;
    let (_, tally) = node.shutdown()?;
    let mut rows = rows("first", &first)?;
    rows.extend(rows_of_later(&later)?);
    rows.extend(supervisor_rows(rounds * AGENTS, &tally.crash_to_serving_ms));
    Ok(rows)
}

#[derive(Default)]
struct Timings {
    registered: Vec<f64>,
    serving: Vec<f64>,
}

/// The configuration a restart must bring back, made through the control plane (so journaled).
fn configure(agent: &mut Proxy, push: &Address, publish: &Address) -> Result<()> {
    agent.bind_handler(SocketKind::Pull, "in", "sink")?;
    agent.bind(SocketKind::Pub, "out")?;
    agent.connect(push, "from_peer", "sink")?;
    let topics = [
        ("alpha", "sink"),
        ("beta", "sink"),
        ("gamma", "sink"),
        ("delta", "sink"),
    ];
    agent.connect_topics(publish, "news", &topics)?;
    agent.each(Duration::from_secs(3600), Some("tick"), "sink", &())?;
    for (name, value) in [("owner", "bench"), ("region", "eu"), ("tier", "gold")] {
        agent.set_attr(name, value)?;
    }
    Ok(())
}

/// SIGKILLs the current process of `name`, then waits for its successor to serve with its configuration.
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
    loop {
        proxy.set_timeout(deadline.saturating_duration_since(Instant::now()));
        if configured(&mut proxy)? {
            break;
        }
        if Instant::now() >= deadline {
            bail!("the new incarnation did not get its configuration back within {DEADLINE:?}");
        }
        std::thread::sleep(POLL);
    }
    Ok(Restarted {
        registered,
        serving: killed.elapsed(),
    })
}

/// Whether the agent has every socket, its timer and its attributes back.
fn configured(proxy: &mut Proxy) -> Result<bool> {
    let aliases = proxy.aliases().context("asking for aliases")?;
    if !SOCKETS.iter().all(|s| aliases.iter().any(|a| a == s)) {
        return Ok(false);
    }
    if !proxy.list_timers()?.iter().any(|t| t == "tick") {
        return Ok(false);
    }
    Ok(proxy.get_attr::<String>("tier").is_ok_and(|t| t == "gold"))
}

/// Every agent runs again, restarted exactly as often as it was killed.
///
/// The name server marks a restarted agent running once its own ping is
/// answered, which may come just after the bench's: this waits a little.
fn check_restarts(ns: &NameServer, names: &[String], rounds: usize) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let ps = ns.ps().context("asking the name server for ps")?;
        let wrong = names.iter().find_map(|name| {
            let expected = rounds;
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

/// Rows for one kind of restart (`first`, or `later`: backed off).
fn rows(which: &'static str, t: &Timings) -> Result<Vec<Row>> {
    let serving = Spread::of(&t.serving).context("no restarts timed")?;
    let registered = Spread::of(&t.registered).context("no restarts timed")?;
    let to_serving = "SIGKILL (kill(2)) -> new incarnation registered, every socket, its timer and attributes back (journal replayed)";
    let to_info = "SIGKILL (kill(2)) -> ns.info shows the new pid";
    let n = serving.count;
    let names: [&'static str; 4] = match which {
        "first" => [
            "first_kill_to_serving_p50",
            "first_kill_to_serving_p90",
            "first_kill_to_serving_max",
            "first_kill_to_registered_p50",
        ],
        _ => [
            "later_kill_to_serving_p50",
            "later_kill_to_serving_p90",
            "later_kill_to_serving_max",
            "later_kill_to_registered_p50",
        ],
    };
    let row =
        |bench, value, measures| Row::new(SCENARIO, bench, AGENTS + 1, value, "ms", n, measures);
    Ok(vec![
        row(names[0], serving.p50, to_serving),
        row(names[1], serving.p90, to_serving),
        row(names[2], serving.max, to_serving),
        row(names[3], registered.p50, to_info),
    ])
}

/// Restarts within the period: backed off by the supervisor's default backoff (100 ms, doubling).
fn rows_of_later(t: &Timings) -> Result<Vec<Row>> {
    let mut rows = rows("later", t)?;
    for r in &mut rows {
        r.note = Some(
            "restarts within the period: includes the backoff (100 ms, then 200 ms, ...)".into(),
        );
    }
    Ok(rows)
}

/// The supervisor's own figure (exit reaped -> new incarnation answered), from its log.
fn supervisor_rows(restarts: usize, supervisor: &[f64]) -> Vec<Row> {
    let own = "the name server's crash_to_serving_ms log field: exit reaped -> new incarnation answered its ping";
    let Some(s) = Spread::of(supervisor) else {
        eprintln!("no crash_to_serving_ms in the name server's log (AXON_LOG must let info from axon_supervisor::server::supervise through)");
        return Vec::new();
    };
    let note = (s.count != restarts).then(|| format!("{} of {restarts} restarts logged", s.count));
    [("supervisor_p50", s.p50), ("supervisor_p90", s.p90)]
        .into_iter()
        .map(|(bench, value)| {
            let mut r = Row::new(SCENARIO, bench, AGENTS + 1, value, "ms", s.count, own);
            r.note = note.clone();
            r
        })
        .collect()
}
