//! PUB -> 4 SUB fan-out: one publisher agent, four subscriber agents, and
//! every message accounted for: delivered, refused and counted by the
//! publisher, or lost with no counter to show for it.
//!
//! A run binds a fresh PUB socket and connects the subscribers to three
//! topics: probes (repeated until each subscriber heard one, so the
//! subscriptions have reached the publisher), data (the publisher pumps it
//! as fast as its socket takes it) and the end marker (repeated until each
//! subscriber reported: ZeroMQ keeps order, so a subscriber that sees it has
//! everything it will ever get).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::agent::{BenchAgent, Pump, Received};
use crate::cases::{bind_options, Case};

/// Subscribers per run, on either side.
pub const SUBSCRIBERS: usize = 4;

/// The topics of a run: readiness probes, measured data, end marker.
pub const PROBE: &str = "probe";
pub const DATA: &str = "data";
pub const END: &str = "end";

/// How long the bench waits between two probes or end markers.
const PAUSE: Duration = Duration::from_millis(2);

/// One fan-out run: what the publisher did with its messages and what reached the subscribers.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Delivery {
    /// Messages the publisher was asked to send.
    pub published: u64,
    /// Of those, the messages its socket took.
    pub accepted: u64,
    /// Of those, the messages it refused at the high-water mark and counted
    /// (axon `stats.dropped_hwm` + `stats.dropped_full`; a raw PUB counts none).
    pub counted: u64,
    pub subscribers: u64,
    /// Messages the subscribers received, all together.
    pub delivered: u64,
    /// Copies that never arrived: subscribers x published - delivered.
    pub lost: u64,
    /// Of those, copies no counter accounts for: subscribers x accepted - delivered.
    pub silent: u64,
    /// Delivered messages per second, over the publisher's send window: from
    /// its first data send to its last send or the last receipt, whichever is later.
    pub rate: f64,
    /// Each subscriber's share of the accepted messages it received, 0 to 1.
    pub shares: [f64; SUBSCRIBERS],
}

impl Delivery {
    /// Checks and sums up one run from the publisher's figures and each subscriber's.
    ///
    /// `sent_ns` is the publisher's send window: its first and last data send (unix ns).
    pub fn of(
        published: u64,
        accepted: u64,
        counted: u64,
        got: &[Received],
        sent_ns: (u64, u64),
    ) -> Result<Delivery> {
        let wrong: u64 = got.iter().map(|r| r.wrong_size).sum();
        if wrong > 0 {
            bail!("{wrong} messages arrived with the wrong size");
        }
        if accepted + counted != published {
            bail!("published {published}: {accepted} accepted + {counted} refused do not add up");
        }
        let subscribers = got.len() as u64;
        let delivered: u64 = got.iter().map(|r| r.count).sum();
        if delivered > subscribers * accepted {
            bail!("{delivered} delivered of {accepted} accepted, to {subscribers} subscribers");
        }
        let last_receipt = got
            .iter()
            .filter(|r| r.count > 0)
            .map(|r| r.last_ns)
            .max()
            .context("nothing delivered")?;
        let (first, last) = (sent_ns.0, sent_ns.1.max(last_receipt));
        let mut shares = [0.0; SUBSCRIBERS];
        for (share, r) in shares.iter_mut().zip(got) {
            *share = r.count as f64 / accepted.max(1) as f64;
        }
        Ok(Delivery {
            published,
            accepted,
            counted,
            subscribers,
            delivered,
            lost: subscribers * published - delivered,
            silent: subscribers * accepted - delivered,
            rate: delivered as f64 / (last.saturating_sub(first).max(1) as f64 / 1e9),
            shares,
        })
    }

    /// The run of median rate (the lower middle one for an even count).
    pub fn median(mut runs: Vec<Delivery>) -> Result<Delivery> {
        runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let mid = runs.len().saturating_sub(1) / 2;
        runs.get(mid).copied().context("no runs")
    }
}

/// The publisher's counters that say where its messages went (`stats`).
#[derive(Debug, Clone, Copy, Deserialize)]
struct Counters {
    sent: u64,
    dropped_full: u64,
    /// Drops at the high-water mark, on runtimes that count them.
    #[serde(default)]
    dropped_hwm: u64,
}

impl Counters {
    fn read(publisher: &mut Proxy) -> Result<Counters> {
        publisher
            .call("stats", ())
            .context("reading the publisher's stats")
    }

    /// Messages accepted and messages refused since `before`.
    fn since(self, before: Counters) -> Result<(u64, u64)> {
        let refused = |c: Counters| c.dropped_full + c.dropped_hwm;
        let accepted = self.sent.checked_sub(before.sent);
        let refused = refused(self).checked_sub(refused(before));
        accepted
            .zip(refused)
            .context("the publisher's counters went back (did it restart?)")
    }
}

/// The fan-out agents: one publisher and its subscribers.
pub struct Fanout {
    publisher: Proxy,
    subscribers: Vec<Proxy>,
    runs: u32,
}

impl Fanout {
    pub fn spawn(ns: &NameServer) -> Result<Fanout> {
        let spawn = |name: String| {
            ns.spawn(SpawnOptions::default().name(&name).kind(BenchAgent::KIND))
                .with_context(|| format!("spawning the {name} agent"))
        };
        Ok(Fanout {
            publisher: spawn("bench-publisher".to_owned())?,
            subscribers: (0..SUBSCRIBERS)
                .map(|i| spawn(format!("bench-subscriber-{i}")))
                .collect::<Result<_>>()?,
            runs: 0,
        })
    }

    /// One axon PUB -> SUB run of `case`.
    pub fn run(&mut self, case: &Case) -> Result<Delivery> {
        self.runs += 1;
        let (outbound, inbound) = (format!("fan-{}", self.runs), format!("tap-{}", self.runs));
        let bound = self
            .publisher
            .bind_with(SocketKind::Pub, bind_options(case, &outbound, None))?;
        let topics = [(DATA, "tally"), (PROBE, "heard"), (END, "tallied")];
        for s in &mut self.subscribers {
            s.connect_topics(&bound, &inbound, &topics)?;
            s.execute::<_, Value>("listen", &case.size)?;
        }
        let until = Instant::now() + case.deadline();
        self.await_subscribers(&outbound, until)?;
        let before = Counters::read(&mut self.publisher)?;
        self.pump(case, &outbound, until)?;
        let after = Counters::read(&mut self.publisher)?;
        let got = self.await_reports(&outbound, until)?;
        self.publisher.close(&outbound)?;
        for s in &mut self.subscribers {
            s.close(&inbound)?;
        }
        let (accepted, refused) = after.since(before)?;
        let window = self.publisher.get_attr::<(u64, u64)>("pump_window")?;
        let delivery = Delivery::of(case.count, accepted, refused, &got, window)?;
        // axon counts every drop: a copy lost with no counter is a broken promise, not a figure.
        if delivery.silent > 0 {
            bail!(
                "{} copies lost with no counter to show for it: {delivery:?}",
                delivery.silent
            );
        }
        Ok(delivery)
    }

    /// Probes until every subscriber heard one.
    fn await_subscribers(&mut self, alias: &str, until: Instant) -> Result<()> {
        let mut heard = vec![false; self.subscribers.len()];
        while heard.contains(&false) {
            self.publisher.publish(alias, PROBE, &())?;
            std::thread::sleep(PAUSE);
            for (s, h) in self.subscribers.iter_mut().zip(&mut heard) {
                *h = *h || s.get_attr::<bool>("probed")?;
            }
            if Instant::now() >= until {
                bail!("subscribers heard the probes: {heard:?}");
            }
        }
        Ok(())
    }

    /// Has the publisher send `case.count` data messages; returns once it sent the last.
    fn pump(&mut self, case: &Case, alias: &str, until: Instant) -> Result<()> {
        let pump = Pump {
            alias: alias.to_owned(),
            total: case.count,
            size: case.size,
            topic: Some(DATA.to_owned()),
        };
        self.publisher.execute::<_, Value>("pump", &pump)?;
        while self.publisher.get_attr::<u64>("pump_left")? > 0 {
            if Instant::now() >= until {
                bail!("publisher still pumping; {}", self.error()?);
            }
            std::thread::sleep(PAUSE);
        }
        Ok(())
    }

    /// Repeats the end marker until every subscriber reported what it received.
    fn await_reports(&mut self, alias: &str, until: Instant) -> Result<Vec<Received>> {
        let mut got = vec![None; self.subscribers.len()];
        while got.iter().any(Option::is_none) {
            self.publisher.publish(alias, END, &())?;
            std::thread::sleep(PAUSE);
            for (s, g) in self.subscribers.iter_mut().zip(&mut got) {
                if g.is_none() {
                    *g = s.get_attr::<Option<Received>>("received")?;
                }
            }
            if Instant::now() >= until {
                bail!("no report from every subscriber; {}", self.error()?);
            }
        }
        Ok(got.into_iter().flatten().collect())
    }

    /// What the publisher noted as a failure.
    fn error(&mut self) -> Result<String> {
        let noted = self.publisher.get_attr::<Option<String>>("error")?;
        Ok(format!(
            "publisher: {}",
            noted.as_deref().unwrap_or("no error noted")
        ))
    }
}
