//! `Node`: a name server started for one scenario, with its stderr tapped,
//! and the few calls every scenario makes on it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axon::prelude::*;
use axon::{NodeOptions, SupervisorSpec};

use crate::tap::{Tally, Tap};

/// How long the node's processes may keep stderr open after `shutdown` returned.
const STDERR_PATIENCE: Duration = Duration::from_secs(10);

/// A running node; dropping it without `shutdown` stops it (and its agents) anyway.
pub struct Node {
    ns: NameServer,
    tap: Tap,
}

impl Node {
    pub fn start(supervisor: SupervisorSpec) -> Result<Node> {
        let options = NodeOptions {
            supervisor,
            ..NodeOptions::default()
        };
        let (ns, tap) = Tap::around(|| axon::run_nameserver_with(options))?;
        let ns = ns.context("starting the name server")?;
        Ok(Node { ns, tap })
    }

    pub fn ns(&self) -> &NameServer {
        &self.ns
    }

    /// The name server's process id.
    pub fn pid(&self) -> Result<u32> {
        self.ns.pid().context("the name server has no process id")
    }

    /// Times `ns.shutdown()`; also what the node's stderr said until it closed.
    pub fn shutdown(self) -> Result<(Duration, Tally)> {
        let started = Instant::now();
        self.ns.shutdown().context("shutting the node down")?;
        let took = started.elapsed();
        Ok((took, self.tap.finish(STDERR_PATIENCE)?))
    }
}

/// Spawns agent `name` with `options`; the proxy and how long `ns.spawn` took.
pub fn spawn(ns: &NameServer, name: &str, options: SpawnOptions) -> Result<(Proxy, Duration)> {
    let started = Instant::now();
    let proxy = ns
        .spawn(options.name(name))
        .with_context(|| format!("spawning {name}"))?;
    Ok((proxy, started.elapsed()))
}

/// Times one `ping` round trip.
pub fn ping(proxy: &mut Proxy) -> Result<Duration> {
    let started = Instant::now();
    proxy
        .ping()
        .with_context(|| format!("pinging {}", proxy.name()))?;
    Ok(started.elapsed())
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The median of `values` (sorted in place); 0 when empty.
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}

/// A note for a shutdown row when agents had to be killed at the end of the grace.
pub fn forced_note(tally: &Tally) -> Option<String> {
    (tally.forced_kills > 0).then(|| {
        format!(
            "{} agents still running after the 5 s grace were SIGKILLed",
            tally.forced_kills
        )
    })
}
