//! The name server's side of the metrics: once a second it refreshes the
//! snapshot a scrape reads, with the counters the agents reported with their
//! lease renewals (no request to any agent).

use std::collections::BTreeMap;
use std::time::Instant;

use super::Server;
use crate::metrics::{AgentFigures, Shared, SocketFigures, SupervisorFigures};
use crate::stats::Sampler;

/// Methods counted by name in `axon_supervisor_control_requests_total`; any other is `other`,
/// so that a caller cannot grow the series without bound.
const METHODS: &[&str] = &[
    "ping",
    "list",
    "info",
    "addr",
    "del_addr",
    "renew",
    "unregister",
    "set_addr",
    "register",
    "spawn",
    "shutdown_agent",
    "journal",
    "start_failed",
    "ps",
    "groups",
    "status",
    "signal",
    "shutdown",
    "topology",
    "events",
];

/// The metrics of a node that serves them.
#[derive(Debug)]
pub(super) struct Metrics {
    /// What a scrape reads.
    shared: Shared,
    /// Samples the supervisor's own process.
    me: Sampler,
    /// The bound address, for `status`.
    pub(super) addr: std::net::SocketAddr,
    /// The node's name in the labels: the cluster node's, else the host's.
    node: String,
    /// Control requests served, by method.
    requests: BTreeMap<&'static str, u64>,
}

/// A metrics endpoint bound, serving an empty snapshot until the actor refreshes it.
#[derive(Debug)]
pub(super) struct Listening {
    shared: Shared,
    addr: std::net::SocketAddr,
}

impl Listening {
    /// Binds `addr` and serves `GET /metrics` there.
    pub(super) fn bind(addr: &str) -> crate::Result<Listening> {
        let shared = Shared::default();
        let addr = crate::metrics::serve(addr, shared.clone())?;
        Ok(Listening { shared, addr })
    }

    /// The node's metrics; the bound address goes to `<dir>/metrics` for the CLI and a revived supervisor.
    pub(super) fn serve(
        self,
        dir: &std::path::Path,
        node: Option<String>,
    ) -> crate::Result<Metrics> {
        std::fs::write(
            dir.join(crate::metrics::METRICS_FILE),
            self.addr.to_string(),
        )?;
        Ok(Metrics {
            shared: self.shared,
            me: Sampler::default(),
            addr: self.addr,
            node: node
                .or_else(sysinfo::System::host_name)
                .unwrap_or_else(|| "localhost".into()),
            requests: BTreeMap::new(),
        })
    }
}

impl Metrics {
    /// Counts a control request.
    pub(super) fn served(&mut self, method: &str) {
        let name = METHODS.iter().find(|m| **m == method).unwrap_or(&"other");
        *self.requests.entry(name).or_default() += 1;
    }
}

impl Server {
    /// Refreshes the snapshot from the records: the `ps` lines, and the counters each agent
    /// reported with its renewals (marked not current for one that stopped renewing).
    pub(super) fn refresh_metrics(&mut self) {
        let Some(mut metrics) = self.metrics.take() else {
            return;
        };
        let now = Instant::now();
        let agents: Vec<AgentFigures> = self
            .ps_lines(false)
            .into_iter()
            .map(|status| self.figures(status, now))
            .collect();
        let misses = axon_runtime::config::LEASE_MISSES;
        let stats = self
            .records
            .agents()
            .filter_map(|i| {
                let (pid, stats, current) = self.records.counters_of(&i.name, misses, now)?;
                Some((i.name.clone(), (pid, stats.clone(), current)))
            })
            .collect();
        let supervisor = self.own_figures(&mut metrics);
        let node = metrics.node.clone();
        metrics.shared.update(|s| {
            s.node = node;
            s.agents = agents;
            s.supervisor = supervisor;
            s.stats = stats;
        });
        self.metrics = Some(metrics);
    }

    fn figures(&self, status: crate::methods::AgentStatus, now: Instant) -> AgentFigures {
        let info = self.records.info(&status.name).ok();
        let sockets = info.map_or_else(Vec::new, |i| {
            i.addrs
                .iter()
                .map(|(alias, a)| SocketFigures {
                    alias: alias.clone(),
                    kind: a.kind.to_string(),
                })
                .collect()
        });
        AgentFigures {
            heartbeat_age: self.records.silent_for(&status.name, now),
            lease: self.records.lease_of(&status.name),
            sockets,
            status,
        }
    }

    fn own_figures(&self, metrics: &mut Metrics) -> SupervisorFigures {
        let me = std::process::id();
        let usage = metrics.me.sample(&[me]).remove(&me);
        SupervisorFigures {
            cpu: usage.map_or(0.0, |u| u.cpu),
            rss: usage.map_or(0, |u| u.rss),
            uptime_seconds: self.me.since.elapsed().as_secs_f64(),
            incarnation: self.me.node.incarnation,
            requests: metrics
                .requests
                .iter()
                .map(|(m, n)| ((*m).to_owned(), *n))
                .collect(),
            malformed: self.malformed,
            journal_entries: self
                .supervision
                .children()
                .map(|c| c.journal.entries().len())
                .sum(),
            adopted: self.adopted.len(),
        }
    }
}
