//! Prometheus metrics of a node: what the supervisor knows, served over HTTP.
//!
//! The name server's actor refreshes a [`Snapshot`] once a second from what
//! it already knows: its records, CPU and memory samples, and the counters
//! each agent reported with its lease renewals (no agent is asked anything).
//! A scrape (`GET /metrics`, on a thread of its own) only reads the last
//! snapshot and encodes it with `prometheus-client` ([`encode`]): a slow or
//! hung agent never slows a scrape, nor the actor.
//!
//! Every metric, its type and labels: docs/metrics.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axon_runtime::Stats;

use crate::methods::AgentStatus;

mod encode;
mod family;
mod reliable;

/// Environment variable with the address the node serves its metrics at (`axon up --metrics`).
pub const METRICS_ENV: &str = "AXON_METRICS";

/// The file in the node's runtime directory that holds the bound metrics address.
pub const METRICS_FILE: &str = "metrics";

/// One socket an agent bound, as the name server knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SocketFigures {
    /// Its alias.
    pub(crate) alias: String,
    /// Its kind (`PUB`, `REP`, ...).
    pub(crate) kind: String,
}

/// One agent's figures.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgentFigures {
    /// Its `ps` line: state, restarts, CPU, memory, group.
    pub(crate) status: AgentStatus,
    /// Time since it last renewed its lease, when it is registered.
    pub(crate) heartbeat_age: Option<std::time::Duration>,
    /// Its lease period, when it is registered.
    pub(crate) lease: Option<std::time::Duration>,
    /// The sockets it bound.
    pub(crate) sockets: Vec<SocketFigures>,
}

/// The supervisor's own figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SupervisorFigures {
    /// CPU use of its process, in percent of one core.
    pub(crate) cpu: f32,
    /// Its resident memory in bytes.
    pub(crate) rss: u64,
    /// Seconds since it started.
    pub(crate) uptime_seconds: f64,
    /// Supervisors the node has had, this one included.
    pub(crate) incarnation: u32,
    /// Control requests it served, by method.
    pub(crate) requests: BTreeMap<String, u64>,
    /// Control messages that were not requests.
    pub(crate) malformed: u64,
    /// Journal entries kept, over all agents.
    pub(crate) journal_entries: usize,
    /// Agents it adopted from the supervisor before it that still run.
    pub(crate) adopted: usize,
}

/// What a scrape shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Snapshot {
    /// The node's name (the cluster node's, else the host's).
    pub(crate) node: String,
    /// Every agent, in `ps` order.
    pub(crate) agents: Vec<AgentFigures>,
    /// The supervisor itself.
    pub(crate) supervisor: SupervisorFigures,
    /// The counters each agent last reported with a renewal, by name: its pid, its counters,
    /// and whether they are current (an agent that missed its last three renewals, a hung
    /// one, keeps its previous figures, marked not current).
    pub(crate) stats: BTreeMap<String, (u32, Stats, bool)>,
}

/// The snapshot shared between the actor and the HTTP thread.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shared(Arc<Mutex<Snapshot>>);

impl Shared {
    /// Changes the snapshot; a panic elsewhere while it was held leaves figures, not a poison.
    pub(crate) fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut snapshot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        change(&mut snapshot);
    }

    /// The text exposition of the current snapshot.
    pub(crate) fn render(&self) -> String {
        let snapshot = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        encode::text(snapshot)
    }
}

/// Binds `addr` (`HOST:PORT`, port 0 for any free one) and serves `GET /metrics` on a thread; returns the bound address.
pub(crate) fn serve(addr: &str, shared: Shared) -> crate::Result<SocketAddr> {
    let bad = |why: String| axon_runtime::Error::Config(format!("metrics address {addr:?}: {why}"));
    let server = tiny_http::Server::http(addr).map_err(|e| bad(e.to_string()))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| bad("not an IP address".into()))?;
    std::thread::Builder::new()
        .name("axon-metrics".into())
        .spawn(move || answer_all(&server, &shared))
        .map_err(|e| bad(e.to_string()))?;
    tracing::info!(addr = %bound, path = "/metrics", "serving metrics");
    Ok(bound)
}

/// Answers scrapes until the process ends.
fn answer_all(server: &tiny_http::Server, shared: &Shared) {
    for request in server.incoming_requests() {
        let response = match (request.method(), request.url()) {
            (tiny_http::Method::Get, "/metrics") => {
                tiny_http::Response::from_string(shared.render())
                    .with_header(header("Content-Type", &encode::content_type()))
            }
            (tiny_http::Method::Get, _) => {
                tiny_http::Response::from_string("not found: metrics are at /metrics\n")
                    .with_status_code(404)
            }
            _ => tiny_http::Response::from_string("only GET\n").with_status_code(405),
        };
        if let Err(e) = request.respond(response) {
            tracing::debug!(error = %e, "metrics scrape not answered");
        }
    }
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    // Both are ASCII constants of this crate and of `prometheus`, which a header always takes.
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes())
        .unwrap_or_else(|()| unreachable!("constant ASCII header {name}: {value}"))
}
