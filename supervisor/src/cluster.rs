//! Cluster mode: a node (one per host, `axon node`) publishes itself and the
//! agents it runs in etcd, under one lease it keeps alive, so that every
//! host sees every agent: its node, its control endpoint (TCP, signed) and
//! its data addresses.
//!
//! Keys, under the registry's prefix (default `/axon`):
//! - `<prefix>/nodes/<node>`: a [`NodeEntry`] (JSON), under the node's lease;
//! - `<prefix>/agents/<agent>`: an [`AgentEntry`] (JSON), under the lease of
//!   the node that runs it.
//!
//! When a node dies, or loses etcd, its lease expires and etcd removes its
//! keys: no other host goes on seeing agents that are gone.
//!
//! The name server's actor never waits for etcd: it hands changes to one
//! task (an unbounded queue, in order), which applies them and retries
//! while etcd is away.

use std::collections::BTreeMap;
use std::time::Duration;

use axon_runtime::{Address, Error, Result};
use etcd_client::{Client, ConnectOptions, GetOptions, PutOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::methods::AgentInfo;

/// Environment variable (and `--registry`) naming a cluster's registry: `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
pub const REGISTRY_ENV: &str = "AXON_REGISTRY";

/// Environment variable with this node's name, in cluster mode.
pub const NODE_NAME_ENV: &str = "AXON_NODE_NAME";

/// Environment variable with the address other hosts reach this node at.
pub const ADVERTISE_ENV: &str = "AXON_ADVERTISE";

/// How long a node's lease lives without a renewal; it is renewed every third of it.
pub const LEASE_TTL: Duration = Duration::from_secs(5);

/// How long one etcd request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// Pause before trying etcd again after a failure.
const RETRY: Duration = Duration::from_millis(500);

/// Where a cluster keeps its state: etcd endpoints and a key prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registry {
    endpoints: Vec<String>,
    prefix: String,
}

impl Registry {
    /// Parses `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`.
    pub fn parse(url: &str) -> Result<Registry> {
        let bad = |why: &str| Error::invalid("registry", url, why);
        let rest = url
            .strip_prefix("etcd://")
            .ok_or_else(|| bad("expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX]"))?;
        let (hosts, prefix) = match rest.split_once('/') {
            Some((hosts, prefix)) => (hosts, format!("/{}", prefix.trim_end_matches('/'))),
            None => (rest, "/axon".to_owned()),
        };
        if prefix.len() < 2 || prefix.contains("//") {
            return Err(bad("the key prefix must not be empty"));
        }
        let mut endpoints = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = host
                .rsplit_once(':')
                .ok_or_else(|| bad("every member needs HOST:PORT"))?;
            if name.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad(
                    "every member needs HOST:PORT, with a port from 1 to 65535",
                ));
            }
            endpoints.push(format!("http://{host}"));
        }
        Ok(Registry { endpoints, prefix })
    }

    /// The etcd endpoints, as `http://HOST:PORT`.
    pub fn endpoints(&self) -> &[String] {
        &self.endpoints
    }

    fn node_key(&self, node: &str) -> String {
        format!("{}/nodes/{node}", self.prefix)
    }

    fn agent_key(&self, agent: &str) -> String {
        format!("{}/agents/{agent}", self.prefix)
    }

    async fn connect(&self) -> Result<Client> {
        let options = ConnectOptions::new()
            .with_connect_timeout(REQUEST_TIMEOUT)
            .with_timeout(REQUEST_TIMEOUT);
        Client::connect(&self.endpoints, Some(options))
            .await
            .map_err(|e| etcd_error("connecting", e))
    }

    /// Every node of the cluster that holds a live lease.
    pub async fn nodes(&self) -> Result<Vec<NodeEntry>> {
        self.list(&format!("{}/nodes/", self.prefix)).await
    }

    /// Every agent of the cluster, on whichever node runs it.
    pub async fn agents(&self) -> Result<Vec<AgentEntry>> {
        self.list(&format!("{}/agents/", self.prefix)).await
    }

    async fn list<T: for<'de> Deserialize<'de>>(&self, prefix: &str) -> Result<Vec<T>> {
        let mut client = self.connect().await?;
        let got = client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| etcd_error("reading", e))?;
        let mut entries = Vec::new();
        for kv in got.kvs() {
            match serde_json::from_slice(kv.value()) {
                Ok(entry) => entries.push(entry),
                Err(e) => {
                    tracing::warn!(key = %String::from_utf8_lossy(kv.key()), error = %e, "unreadable registry entry skipped")
                }
            }
        }
        Ok(entries)
    }

    /// [`Registry::agents`], from synchronous code (the CLI).
    pub fn agents_blocking(&self) -> Result<Vec<AgentEntry>> {
        block_on(self.agents())
    }

    /// [`Registry::nodes`], from synchronous code (the CLI).
    pub fn nodes_blocking(&self) -> Result<Vec<NodeEntry>> {
        block_on(self.nodes())
    }
}

fn block_on<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

fn etcd_error(doing: &str, e: etcd_client::Error) -> Error {
    Error::Config(format!("etcd registry: {doing}: {e}"))
}

/// A node, as its registry lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// The node's name (`axon node --name`).
    pub name: String,
    /// Its name server's control endpoint (TCP, signed).
    pub endpoint: String,
    /// The address other hosts reach it at.
    pub advertise: String,
    /// Its supervisor's process.
    pub pid: u32,
    /// When it joined, in ms since the Unix epoch.
    pub since_ms: u64,
}

/// An agent, as its registry lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// The agent's name.
    pub name: String,
    /// The node that runs it.
    pub node: String,
    /// Its kind.
    pub kind: String,
    /// Its process (on that node's host).
    pub pid: u32,
    /// Its control endpoint.
    pub control: String,
    /// Where its sockets are bound, by alias.
    pub addrs: BTreeMap<String, Address>,
}

impl AgentEntry {
    fn of(node: &str, info: &AgentInfo) -> AgentEntry {
        AgentEntry {
            name: info.name.clone(),
            node: node.to_owned(),
            kind: info.kind.clone(),
            pid: info.pid,
            control: info.control.clone(),
            addrs: info.addrs.clone(),
        }
    }
}

enum Change {
    Put(AgentEntry),
    Delete(String),
}

/// The node's line to its registry: changes go to one task, in order; the caller never waits.
pub(crate) struct Mirror {
    node: String,
    changes: mpsc::UnboundedSender<Change>,
}

impl Mirror {
    /// Starts the task that holds `node`'s lease and publishes its agents; call it inside the System.
    /// What the node must do when it loses (and regains) its lease comes through `fence`.
    pub(crate) fn start(
        registry: Registry,
        node: NodeEntry,
        fence: mpsc::UnboundedSender<Fencing>,
    ) -> Mirror {
        let (changes, queue) = mpsc::unbounded_channel();
        let name = node.name.clone();
        actix_rt::spawn(publish(registry, node, queue, fence));
        Mirror {
            node: name,
            changes,
        }
    }

    /// The agent registered, or its addresses changed.
    pub(crate) fn put(&self, info: &AgentInfo) {
        // The task lives as long as the System; a failed send means it is stopping.
        let _ = self
            .changes
            .send(Change::Put(AgentEntry::of(&self.node, info)));
    }

    /// The agent is gone from this node.
    pub(crate) fn delete(&self, agent: &str) {
        let _ = self.changes.send(Change::Delete(agent.to_owned()));
    }
}

/// Joins the cluster (a lease, the node's key), keeps the lease alive, and applies the changes.
async fn publish(
    registry: Registry,
    node: NodeEntry,
    mut queue: mpsc::UnboundedReceiver<Change>,
    fence: mpsc::UnboundedSender<Fencing>,
) {
    let (mut client, lease) = join_until_joined(&registry, &node).await;
    // The lease agents are put under: a node that had to rejoin holds a new one.
    let (lease_now, lease_rx) = watch::channel(lease);
    actix_rt::spawn(keep_alive(
        registry.clone(),
        node.clone(),
        client.clone(),
        lease_now,
        fence,
    ));
    while let Some(change) = queue.recv().await {
        let (key, value) = match &change {
            Change::Put(entry) => match serde_json::to_vec(entry) {
                Ok(v) => (registry.agent_key(&entry.name), Some(v)),
                Err(e) => {
                    tracing::error!(agent = %entry.name, error = %e, "agent entry not encodable");
                    continue;
                }
            },
            Change::Delete(name) => (registry.agent_key(name), None),
        };
        // In order, and until it lands: a later change must not overtake this one.
        loop {
            let lease = *lease_rx.borrow();
            let applied = match &value {
                Some(v) => client
                    .put(
                        key.clone(),
                        v.clone(),
                        Some(PutOptions::new().with_lease(lease)),
                    )
                    .await
                    .map(|_| ()),
                None => client.delete(key.clone(), None).await.map(|_| ()),
            };
            match applied {
                Ok(()) => break,
                Err(e) => {
                    tracing::warn!(key = %key, error = %e, "registry update failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
    // The name server is stopping: leave at once rather than when the lease expires.
    let lease = *lease_rx.borrow();
    if let Err(e) = client.lease_revoke(lease).await {
        tracing::debug!(error = %e, "lease not revoked; it expires by itself");
    }
}

async fn join_until_joined(registry: &Registry, node: &NodeEntry) -> (Client, i64) {
    loop {
        match join(registry, node).await {
            Ok((client, lease)) => {
                tracing::info!(node = %node.name, lease, endpoints = ?registry.endpoints(), "joined the cluster");
                return (client, lease);
            }
            Err(e) => {
                tracing::warn!(node = %node.name, error = %e, "cannot join the cluster yet; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
    }
}

async fn join(registry: &Registry, node: &NodeEntry) -> Result<(Client, i64)> {
    let mut client = registry.connect().await?;
    let ttl = LEASE_TTL.as_secs() as i64;
    let lease = client
        .lease_grant(ttl, None)
        .await
        .map_err(|e| etcd_error("granting a lease", e))?
        .id();
    let value = serde_json::to_vec(node).map_err(|e| Error::Config(e.to_string()))?;
    client
        .put(
            registry.node_key(&node.name),
            value,
            Some(PutOptions::new().with_lease(lease)),
        )
        .await
        .map_err(|e| etcd_error("registering the node", e))?;
    Ok((client, lease))
}

/// What the node's supervisor must do about its standing in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fencing {
    /// The lease could not be renewed for [`FENCE_AFTER`]: stop every agent
    /// now, before the lease can expire and another node takes them over.
    Fence,
    /// The node holds a lease again (a new one): it may run agents again.
    Rejoined,
}

/// A node that could not renew its lease for this long fences itself: well
/// before the lease (TTL [`LEASE_TTL`]) can expire in etcd, counted from the
/// last renewal etcd confirmed.
pub const FENCE_AFTER: Duration = Duration::from_millis(LEASE_TTL.as_millis() as u64 / 2);

/// Renews the node's lease every third of its TTL; fences the node when it
/// cannot, and joins again (a new lease) once etcd answers.
async fn keep_alive(
    registry: Registry,
    node: NodeEntry,
    mut client: Client,
    lease_now: watch::Sender<i64>,
    fence: mpsc::UnboundedSender<Fencing>,
) {
    let period = LEASE_TTL / 3;
    let mut renewed_at = tokio::time::Instant::now();
    let mut fenced = false;
    loop {
        let lease = *lease_now.borrow();
        // Never wait past the moment to fence for an answer that may not come.
        let wait = match fenced {
            true => period,
            false => FENCE_AFTER
                .saturating_sub(renewed_at.elapsed())
                .clamp(Duration::from_millis(50), period),
        };
        let renewal = tokio::time::timeout(wait, renew(&mut client, lease)).await;
        let mut expired = false;
        match renewal {
            Ok(Ok(true)) => renewed_at = tokio::time::Instant::now(),
            Ok(Ok(false)) => {
                tracing::error!(node = %node.name, lease, "the node's lease expired");
                expired = true;
            }
            Ok(Err(e)) => tracing::warn!(node = %node.name, error = %e, "lease renewal failed"),
            Err(_) => tracing::warn!(node = %node.name, "lease renewal unanswered"),
        }
        if !fenced && (expired || renewed_at.elapsed() >= FENCE_AFTER) {
            tracing::error!(node = %node.name, silent_ms = renewed_at.elapsed().as_millis() as u64, "etcd out of reach: fencing (stopping every agent before the lease can expire)");
            fenced = true;
            if fence.send(Fencing::Fence).is_err() {
                return;
            }
        }
        if fenced {
            // Join again, with a new lease; the agents stopped stay stopped.
            if let Ok(Ok((rejoined, lease))) =
                tokio::time::timeout(period, join(&registry, &node)).await
            {
                tracing::warn!(node = %node.name, lease, "rejoined the cluster after fencing");
                client = rejoined;
                let _ = lease_now.send(lease);
                renewed_at = tokio::time::Instant::now();
                fenced = false;
                if fence.send(Fencing::Rejoined).is_err() {
                    return;
                }
            }
            continue;
        }
        tokio::time::sleep(period.saturating_sub(renewed_at.elapsed().min(period))).await;
    }
}

/// One renewal of `lease`: whether it is still alive.
async fn renew(client: &mut Client, lease: i64) -> std::result::Result<bool, etcd_client::Error> {
    let (mut keeper, mut answers) = client.lease_keep_alive(lease).await?;
    keeper.keep_alive().await?;
    Ok(answers.message().await?.is_some_and(|a| a.ttl() > 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_urls_parse_or_say_why_not() {
        let r = Registry::parse("etcd://10.0.0.1:2379,10.0.0.2:2379").unwrap();
        assert_eq!(
            r.endpoints(),
            ["http://10.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(r.agent_key("a"), "/axon/agents/a");
        let r = Registry::parse("etcd://h:1/team/prod/").unwrap();
        assert_eq!(r.node_key("n"), "/team/prod/nodes/n");
        for bad in [
            "http://h:1",
            "etcd://h",
            "etcd://h:x",
            "etcd://:1",
            "etcd://h:1/",
        ] {
            assert!(Registry::parse(bad).is_err(), "{bad}");
        }
    }
}
