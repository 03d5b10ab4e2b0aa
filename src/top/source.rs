//! Where `axon top` reads a deployment: one node's name server (what `ps`
//! asks), or every node of a cluster's registry; and the one way it asks
//! anything, an async control call bounded by a timeout.

use std::time::Duration;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The destination name a name server's requests are signed for.
pub const NAMESERVER: &str = "nameserver";

/// What `axon top` watches.
#[derive(Debug)]
pub enum Source {
    /// One node: its name (the host's) and its name server's endpoint.
    Node {
        /// The name the node column shows: the host's name.
        name: String,
        /// The name server's control endpoint.
        endpoint: String,
        /// Its runtime directory, when it runs on this machine: the detail's
        /// log lines come from its log file (docs/logging.md).
        dir: Option<std::path::PathBuf>,
    },
    /// Every node a cluster's registry lists.
    #[cfg(feature = "cluster")]
    Cluster(axon_supervisor::cluster::Registry),
}

/// One node to ask: its name and its name server's endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRef {
    /// Its name.
    pub name: String,
    /// Its name server's control endpoint.
    pub endpoint: String,
}

impl Source {
    /// The node of the name server at `endpoint`, named after this host; `dir`: its runtime
    /// directory, if it runs on this machine.
    pub fn node(endpoint: &str, dir: Option<std::path::PathBuf>) -> Source {
        let name = sysinfo::System::host_name().unwrap_or_else(|| "localhost".into());
        Source::Node {
            name,
            endpoint: endpoint.to_owned(),
            dir,
        }
    }

    /// The node's log file, when it runs on this machine.
    pub fn log_file(&self) -> Option<std::path::PathBuf> {
        match self {
            Source::Node { dir, .. } => dir.as_ref().map(|d| d.join(axon::logging::LOG_FILE)),
            #[cfg(feature = "cluster")]
            Source::Cluster(_) => None,
        }
    }

    /// What the header says is watched.
    pub fn describe(&self) -> String {
        match self {
            Source::Node { name, endpoint, .. } => format!("node {name} at {endpoint}"),
            #[cfg(feature = "cluster")]
            Source::Cluster(r) => format!("cluster at {}", r.endpoints().join(",")),
        }
    }

    /// The nodes to ask this round.
    pub async fn nodes(&self) -> Result<Vec<NodeRef>> {
        match self {
            Source::Node { name, endpoint, .. } => Ok(vec![NodeRef {
                name: name.clone(),
                endpoint: endpoint.clone(),
            }]),
            #[cfg(feature = "cluster")]
            Source::Cluster(registry) => {
                let nodes = registry.nodes().await.context("reading the registry")?;
                Ok(nodes
                    .into_iter()
                    .map(|n| NodeRef {
                        name: n.name,
                        endpoint: n.endpoint,
                    })
                    .collect())
            }
        }
    }
}

/// Calls `method` on the control endpoint of `name` and reads the answer as `R`, within `timeout`.
pub async fn ask<R: DeserializeOwned>(
    endpoint: &str,
    name: &str,
    method: &str,
    args: &(impl Serialize + ?Sized),
    timeout: Duration,
) -> Result<R> {
    let call = axon::client::call::call(endpoint, name, method, args, timeout);
    // The call's own deadline covers the exchange; this one covers opening the socket too.
    let value = tokio::time::timeout(timeout * 2, call)
        .await
        .with_context(|| format!("{method} on {name}: no answer within {timeout:?}"))?
        .with_context(|| format!("{method} on {name}"))?;
    value
        .deserialized()
        .with_context(|| format!("{method} on {name}: unexpected answer"))
}
