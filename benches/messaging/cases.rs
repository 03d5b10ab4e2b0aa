//! What is measured and how: the cases, their message counts, and the axon
//! and raw runs of each, back to back.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::prelude::*;
use axon::Reliability;
use serde::de::DeserializeOwned;

use crate::agent::{Expect, Latency, Metered, Pump, Trips};
use crate::fanout::{Delivery, Fanout};
use crate::raw::{self, IpcDir};
use crate::raw_fanout;
use crate::report::Row;

/// Fewest messages a case sends, whatever the scale.
const MIN_COUNT: u64 = 100;

/// How long a run may take before the bench gives up on it, on top of its messages.
const GRACE: Duration = Duration::from_secs(30);

/// Run-wide settings: `AXON_BENCH_SCALE` (message counts, default 1) and
/// `AXON_BENCH_REPS` (runs per side and case, median reported, default 5).
pub struct Settings {
    pub scale: f64,
    pub reps: usize,
}

impl Settings {
    pub fn from_env() -> Result<Settings> {
        let scale = match std::env::var("AXON_BENCH_SCALE") {
            Ok(v) => v
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s > 0.0)
                .with_context(|| format!("AXON_BENCH_SCALE={v:?}: expected a number > 0"))?,
            Err(_) => 1.0,
        };
        let reps = match std::env::var("AXON_BENCH_REPS") {
            Ok(v) => v
                .parse::<usize>()
                .ok()
                .filter(|r| *r > 0)
                .with_context(|| format!("AXON_BENCH_REPS={v:?}: expected a count > 0"))?,
            Err(_) => 5,
        };
        Ok(Settings { scale, reps })
    }

    fn scaled(&self, n: u64) -> u64 {
        ((n as f64 * self.scale).round() as u64).max(MIN_COUNT)
    }
}

/// The traffic pattern of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// One-way PUSH -> PULL, throughput measured at the receiver.
    PushPull,
    /// Sequential REQ -> REP round trips, latency measured at the requester.
    ReqRep,
    /// PUB -> 4 SUB fan-out, delivered messages counted at every subscriber.
    PubSub,
    /// At-least-once PUSH -> PULL against plain axon PUSH -> PULL, same traffic.
    Reliable,
}

impl Pattern {
    pub fn as_str(self) -> &'static str {
        match self {
            Pattern::PushPull => "push-pull",
            Pattern::ReqRep => "req-rep",
            Pattern::PubSub => "pub-4sub",
            Pattern::Reliable => "reliable",
        }
    }
}

/// One measured configuration: `warm` untimed messages, then `count` timed ones.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub pattern: Pattern,
    pub transport: Transport,
    pub serializer: Serializer,
    pub size: usize,
    pub warm: u64,
    pub count: u64,
}

impl Case {
    pub fn deadline(&self) -> Duration {
        GRACE + Duration::from_micros(20) * (self.warm + self.count) as u32
    }

    /// A short label for progress lines.
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {} B",
            self.pattern.as_str(),
            self.transport,
            self.serializer,
            self.size
        )
    }
}

/// Every case: throughput over both transports, serializers and sizes, then
/// ipc round trips, then ipc fan-out.
pub fn cases(settings: &Settings) -> Vec<Case> {
    let mut all = Vec::new();
    for transport in [Transport::Ipc, Transport::Tcp] {
        for serializer in [Serializer::Cbor, Serializer::Raw] {
            // Each timed run lasts a few hundred milliseconds: shorter ones
            // swing with where the scheduler happens to put four busy threads on two cores.
            for (size, count) in [(16, 1_000_000), (1024, 200_000)] {
                let count = settings.scaled(count);
                all.push(Case {
                    pattern: Pattern::PushPull,
                    transport,
                    serializer,
                    size,
                    warm: (count / 10).max(MIN_COUNT),
                    count,
                });
            }
        }
    }
    let count = settings.scaled(20_000);
    all.push(Case {
        pattern: Pattern::ReqRep,
        transport: Transport::Ipc,
        serializer: Serializer::Cbor,
        size: 16,
        warm: (count / 20).max(MIN_COUNT),
        count,
    });
    // No warm-up messages: the probes before the run already opened every path.
    all.push(Case {
        pattern: Pattern::PubSub,
        transport: Transport::Ipc,
        serializer: Serializer::Cbor,
        size: 16,
        warm: 0,
        count: settings.scaled(1_000_000),
    });
    for (size, count) in [(16, 300_000), (1024, 100_000)] {
        let count = settings.scaled(count);
        all.push(Case {
            pattern: Pattern::Reliable,
            transport: Transport::Ipc,
            serializer: Serializer::Cbor,
            size,
            warm: (count / 10).max(MIN_COUNT),
            count,
        });
    }
    all
}

/// Runs `case` `reps` times on each side, raw then axon back to back; the median rows.
pub fn measure(case: &Case, agents: &mut Agents, dir: &IpcDir, reps: usize) -> Result<Vec<Row>> {
    match case.pattern {
        Pattern::PushPull => {
            let (mut raw, mut axon) = (Vec::new(), Vec::new());
            for rep in 0..reps {
                raw.push(checked(raw::throughput(&raw_run(case, dir, rep)?))?.rate());
                axon.push(checked(agents.throughput(case))?.rate());
            }
            Ok(vec![Row::throughput(
                case,
                median(&mut axon),
                median(&mut raw),
            )])
        }
        Pattern::ReqRep => {
            let (mut raw, mut axon) = (Vec::new(), Vec::new());
            for rep in 0..reps {
                raw.push(raw::latency(&raw_run(case, dir, rep)?)?);
                axon.push(agents.latency(case)?);
            }
            let p50 = |l: &Latency| l.p50_ns as f64;
            let p99 = |l: &Latency| l.p99_ns as f64;
            Ok(vec![
                Row::latency(case, "rtt_p50", median_of(&axon, p50), median_of(&raw, p50)),
                Row::latency(case, "rtt_p99", median_of(&axon, p99), median_of(&raw, p99)),
            ])
        }
        Pattern::PubSub => {
            let (mut raw, mut axon) = (Vec::new(), Vec::new());
            for rep in 0..reps {
                raw.push(raw_fanout::run(&raw_run(case, dir, rep)?)?);
                axon.push(agents.fanout(case)?);
            }
            let (axon, raw) = (Delivery::median(axon)?, Delivery::median(raw)?);
            Ok(vec![Row::delivered(case, axon, raw)])
        }
        Pattern::Reliable => {
            let (mut plain, mut reliable, mut lost, mut duplicates) =
                (Vec::new(), Vec::new(), 0, 0);
            for _ in 0..reps {
                plain.push(checked(agents.throughput(case))?.rate());
                let run = agents.reliable_throughput(case)?;
                reliable.push(checked(Ok(run.metered))?.rate());
                (lost, duplicates) = (lost + run.lost, duplicates + run.duplicates);
            }
            let (reliable, plain) = (median(&mut reliable), median(&mut plain));
            Ok(vec![Row::reliable(case, reliable, plain, lost, duplicates)])
        }
    }
}

fn checked(metered: Result<Metered>) -> Result<Metered> {
    let metered = metered?;
    if metered.wrong_size > 0 {
        bail!(
            "{} messages arrived with the wrong size",
            metered.wrong_size
        );
    }
    Ok(metered)
}

fn raw_run(case: &Case, dir: &IpcDir, rep: usize) -> Result<raw::Run> {
    let endpoint = match case.transport {
        Transport::Ipc => dir.endpoint(&format!(
            "raw-{}-{}-{rep}",
            case.pattern.as_str(),
            case.size
        )),
        Transport::Tcp => "tcp://127.0.0.1:*".to_owned(),
        other => bail!("no raw baseline over {other}"),
    };
    Ok(raw::Run {
        endpoint,
        warm: case.warm,
        count: case.count,
        size: case.size,
        deadline: case.deadline(),
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() % 2 {
        1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}

fn median_of<T>(items: &[T], f: impl Fn(&T) -> f64) -> f64 {
    median(&mut items.iter().map(f).collect::<Vec<_>>())
}

/// The bench agents: `sender` (PUSH, REQ client) and `receiver` (PULL, REP
/// server), and the fan-out agents when a fan-out case runs.
pub struct Agents {
    sender: Proxy,
    receiver: Proxy,
    fanout: Option<Fanout>,
    runs: u32,
}

impl Agents {
    /// Spawns the two agents, and the fan-out agents when `fanout`.
    pub fn spawn(ns: &NameServer, fanout: bool) -> Result<Agents> {
        let spawn = |name: &str| {
            ns.spawn(
                SpawnOptions::default()
                    .name(name)
                    .kind(crate::agent::BenchAgent::KIND),
            )
            .with_context(|| format!("spawning the {name} agent"))
        };
        Ok(Agents {
            sender: spawn("bench-sender")?,
            receiver: spawn("bench-receiver")?,
            fanout: fanout.then(|| Fanout::spawn(ns)).transpose()?,
            runs: 0,
        })
    }

    /// Fresh aliases for the receiver's and the sender's socket of the next run.
    fn aliases(&mut self) -> (String, String) {
        self.runs += 1;
        (format!("in-{}", self.runs), format!("out-{}", self.runs))
    }

    /// One axon PUSH -> PULL run of `case`, as metered by the receiving agent.
    pub fn throughput(&mut self, case: &Case) -> Result<Metered> {
        let (inbound, outbound) = self.aliases();
        let metered = self.push_pull_open(case, &inbound, &outbound, None)?;
        self.close(&inbound, &outbound)?;
        Ok(metered)
    }

    /// One at-least-once PUSH -> PULL run of `case`: the receiver's meter, and what the
    /// channel's counters say was lost (never handled) and handled twice.
    pub fn reliable_throughput(&mut self, case: &Case) -> Result<ReliableRun> {
        let (inbound, outbound) = self.aliases();
        let metered = self.push_pull_open(case, &inbound, &outbound, Some(Reliability::new()))?;
        let total = case.warm + case.count;
        // Every acknowledgement back before the sockets close (a closed outbox loses its messages).
        let until = Instant::now() + case.deadline();
        while reliable(&mut self.sender, &outbound)?.outbox_messages > 0 {
            if Instant::now() >= until {
                bail!("the reliable outbox never emptied; {}", self.errors());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let received = reliable(&mut self.receiver, &inbound)?;
        self.close(&inbound, &outbound)?;
        Ok(ReliableRun {
            metered,
            lost: total.saturating_sub(received.handled),
            duplicates: received.duplicates + received.handled.saturating_sub(total),
        })
    }

    /// A PUSH -> PULL run whose sockets stay open.
    fn push_pull_open(
        &mut self,
        case: &Case,
        inbound: &str,
        outbound: &str,
        reliable: Option<Reliability>,
    ) -> Result<Metered> {
        let bind = BindOptions {
            reliable: reliable.clone(),
            ..bind_options(case, inbound, Some("sink"))
        };
        let bound = self.receiver.bind_with(SocketKind::Pull, bind)?;
        let connect = ConnectOptions {
            reliable,
            ..ConnectOptions::alias(outbound)
        };
        self.sender.connect_with(&bound, connect)?;
        let expect = Expect {
            warm: case.warm,
            count: case.count,
            size: case.size,
        };
        self.receiver.execute::<_, Value>("expect", &expect)?;
        let pump = Pump {
            alias: outbound.to_owned(),
            total: case.warm + case.count,
            size: case.size,
            topic: None,
        };
        self.sender.execute::<_, Value>("pump", &pump)?;
        self.wait_for(Side::Receiver, "metered", case.deadline())
    }

    /// One axon REQ -> REP run of `case`, as timed by the requesting agent.
    pub fn latency(&mut self, case: &Case) -> Result<Latency> {
        let (inbound, outbound) = self.aliases();
        let bound = self
            .receiver
            .bind_with(SocketKind::Rep, bind_options(case, &inbound, Some("echo")))?;
        self.sender.connect(&bound, &outbound, "pong")?;
        let trips = Trips {
            alias: outbound.clone(),
            warm: case.warm,
            count: case.count,
            size: case.size,
        };
        self.sender.execute::<_, Value>("trips", &trips)?;
        let latency = self.wait_for(Side::Sender, "latency", case.deadline())?;
        self.close(&inbound, &outbound)?;
        Ok(latency)
    }

    /// One axon PUB -> 4 SUB run of `case`, as counted by the subscribers.
    pub fn fanout(&mut self, case: &Case) -> Result<Delivery> {
        self.fanout
            .as_mut()
            .context("the fan-out agents were not spawned")?
            .run(case)
    }

    fn close(&mut self, inbound: &str, outbound: &str) -> Result<()> {
        self.sender.close(outbound)?;
        self.receiver.close(inbound)?;
        Ok(())
    }

    /// Polls the attribute `name` of one agent until it holds a value, or `deadline` passes.
    fn wait_for<T: DeserializeOwned>(
        &mut self,
        side: Side,
        name: &str,
        deadline: Duration,
    ) -> Result<T> {
        let until = Instant::now() + deadline;
        let mut pause = Duration::from_millis(1);
        loop {
            let proxy = match side {
                Side::Sender => &mut self.sender,
                Side::Receiver => &mut self.receiver,
            };
            if let Some(value) = proxy.get_attr::<Option<T>>(name)? {
                return Ok(value);
            }
            if Instant::now() >= until {
                bail!("no {name} within {deadline:?}; {}", self.errors());
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// What the agents noted as failures, for the bench's own error message.
    fn errors(&mut self) -> String {
        let note = |p: &mut Proxy| match p.get_attr::<Option<String>>("error") {
            Ok(e) => format!("{}: {}", p.name(), e.as_deref().unwrap_or("no error noted")),
            Err(e) => format!("{}: unreachable ({e})", p.name()),
        };
        format!("{}; {}", note(&mut self.sender), note(&mut self.receiver))
    }
}

/// An at-least-once run: its meter, and messages never handled or handled twice.
pub struct ReliableRun {
    pub metered: Metered,
    pub lost: u64,
    pub duplicates: u64,
}

/// The counters of the reliable socket `alias` of `agent`.
fn reliable(agent: &mut Proxy, alias: &str) -> Result<axon::ReliableStats> {
    let stats = agent.stats()?;
    stats
        .reliable
        .get(alias)
        .cloned()
        .with_context(|| format!("{} has no reliable socket {alias}", agent.name()))
}

#[derive(Clone, Copy)]
enum Side {
    Sender,
    Receiver,
}

/// Bind options for `case`: its transport and serializer, and the socket's handler if any.
pub fn bind_options(case: &Case, alias: &str, handler: Option<&str>) -> BindOptions {
    let mut opts = BindOptions {
        alias: Some(alias.to_owned()),
        transport: Some(case.transport),
        serializer: Some(case.serializer),
        handler: handler.map(str::to_owned),
        // The rest (high-water mark, ...) is the agent's default.
        ..BindOptions::default()
    };
    if case.transport == Transport::Tcp {
        // TCP binds name the host only: the agent picks a free port and reports it.
        opts.addr = Some("127.0.0.1".to_owned());
    }
    opts
}
