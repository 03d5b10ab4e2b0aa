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
use etcd_client::{Client, ConnectOptions, GetOptions};
use serde::{Deserialize, Serialize};

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

    /// Agent `name`, if the cluster runs it (one lookup by name).
    pub async fn agent(&self, client: &mut Client, name: &str) -> Result<Option<AgentEntry>> {
        let got = client
            .get(self.agent_key(name), None)
            .await
            .map_err(|e| etcd_error("looking up", e))?;
        match got.kvs().first() {
            None => Ok(None),
            Some(kv) => serde_json::from_slice(kv.value())
                .map(Some)
                .map_err(|e| Error::Config(format!("registry entry of {name}: {e}"))),
        }
    }

    /// A client of this registry, for repeated lookups.
    pub async fn client(&self) -> Result<Client> {
        self.connect().await
    }

    /// [`Registry::agents`], from synchronous code (the CLI).
    pub fn agents_blocking(&self) -> Result<Vec<AgentEntry>> {
        block_on(self.agents())
    }

    /// [`Registry::nodes`], from synchronous code (the CLI).
    pub fn nodes_blocking(&self) -> Result<Vec<NodeEntry>> {
        block_on(self.nodes())
    }

    /// [`Registry::agent`], from synchronous code (the CLI): one lookup by name.
    pub fn agent_blocking(&self, name: &str) -> Result<Option<AgentEntry>> {
        block_on(async {
            let mut client = self.connect().await?;
            self.agent(&mut client, name).await
        })
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

mod desired;
mod lead;
mod mirror;

pub(crate) use lead::{follow, lead, Assigned, Deployed, Directory};

pub use mirror::FENCE_AFTER;
pub(crate) use mirror::{Fencing, FromCluster, Mirror};

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
