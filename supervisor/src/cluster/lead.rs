//! The two loops every node runs beside its registry mirror:
//! - `lead`: campaign for leadership (etcd's election API, under the node's
//!   lease); the leader assigns the desired agents to live nodes whenever the
//!   manifest or the set of live nodes changes. Its writes are guarded by its
//!   leadership key in one transaction, so a leader that lost its lease
//!   (fenced, partitioned) writes nothing.
//! - `follow`: whenever the manifest or the assignments change, tell the
//!   node's supervisor which agents it must run, with their manifest entries
//!   and their journals.

use std::collections::BTreeMap;
use std::time::Duration;

use axon_runtime::protocol::journal::Journal;
use axon_runtime::Result;
use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, WatchOptions};
use tokio::sync::{mpsc, watch};

use super::desired::plan;
use super::{etcd_error, Registry, RETRY};
use crate::manifest::{AgentEntry, Manifest};

/// Look again at least this often, even if no watch event came.
const RECHECK: Duration = Duration::from_secs(1);

/// An agent this node is to run: its manifest entry and, if it ran before, its journal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deployed {
    pub(crate) entry: AgentEntry,
    pub(crate) journal: Option<Journal>,
}

/// What the node is to run now (the whole set, each time it changes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Assigned(pub(crate) Vec<Deployed>);

/// A client of `registry`, once etcd answers.
async fn connected(registry: &Registry) -> Client {
    loop {
        match registry.connect().await {
            Ok(client) => return client,
            Err(_) => tokio::time::sleep(RETRY).await,
        }
    }
}

/// Where every agent of the cluster is bound: agent -> alias -> address.
pub(crate) type Directory = BTreeMap<String, BTreeMap<String, axon_runtime::Address>>;

/// Watches the cluster's agents; sends where each is bound whenever that changes.
pub(crate) async fn directory(registry: Registry, to: mpsc::UnboundedSender<Directory>) {
    let mut last: Option<Directory> = None;
    loop {
        let mut client = connected(&registry).await;
        loop {
            match registry.agents().await {
                Ok(agents) => {
                    let now: Directory = agents.into_iter().map(|a| (a.name, a.addrs)).collect();
                    if last.as_ref() != Some(&now) {
                        if to.send(now.clone()).is_err() {
                            return;
                        }
                        last = Some(now);
                    }
                }
                Err(_) => break,
            }
            let prefixes = [registry.agents_prefix()];
            changed(&mut client, &prefixes).await;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Campaigns for leadership and, while leading, keeps the assignment current.
pub(crate) async fn lead(
    registry: Registry,
    node: String,
    lease: watch::Receiver<i64>,
    kinds: Vec<String>,
) {
    loop {
        let mut client = connected(&registry).await;
        let held = *lease.borrow();
        let won = client
            .campaign(registry.leader_key(), node.as_str(), held)
            .await
            .map_err(|e| etcd_error("campaigning", e))
            .and_then(|r| {
                r.leader()
                    .map(|l| l.key().to_vec())
                    .ok_or_else(|| axon_runtime::Error::Config("campaign won no key".into()))
            });
        let key = match won {
            Ok(key) => key,
            Err(e) => {
                tracing::debug!(node = %node, error = %e, "campaign failed; trying again");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        tracing::info!(node = %node, "leading the cluster");
        // Lead until the lease we campaigned with is replaced (the node rejoined) or lost.
        while *lease.borrow() == held {
            match assign(&registry, &mut client, &key, &kinds).await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(node = %node, "no longer the leader");
                    break;
                }
                Err(e) => tracing::warn!(node = %node, error = %e, "assignment failed"),
            }
            let prefixes = [registry.desired_prefix(), registry.nodes_prefix()];
            changed(&mut client, &prefixes).await;
        }
    }
}

/// One round of assignment; false when this node turned out not to lead any more.
async fn assign(
    registry: &Registry,
    client: &mut Client,
    leadership: &[u8],
    kinds: &[String],
) -> Result<bool> {
    let current = registry.assignments(client).await?;
    let planned = match registry.desired(client).await? {
        Some(text) => match Manifest::parse(&text, kinds) {
            Ok(manifest) => plan(&manifest, &registry.live_nodes(client).await?, &current),
            Err(e) => {
                tracing::error!(error = %e, "the desired manifest does not parse here; assignments kept");
                return Ok(true);
            }
        },
        None => BTreeMap::new(),
    };
    if planned == current {
        return Ok(true);
    }
    // All or nothing, and only while our leadership key exists.
    let mut ops = Vec::new();
    for (agent, node) in &planned {
        if current.get(agent) != Some(node) {
            tracing::info!(agent = %agent, node = %node, "agent assigned");
            let key = format!("{}{agent}", registry.assign_prefix());
            ops.push(TxnOp::put(key, node.as_str(), None));
        }
    }
    for agent in current.keys().filter(|a| !planned.contains_key(*a)) {
        ops.push(TxnOp::delete(
            format!("{}{agent}", registry.assign_prefix()),
            None,
        ));
    }
    let txn = Txn::new()
        .when(vec![Compare::version(
            leadership.to_vec(),
            CompareOp::Greater,
            0,
        )])
        .and_then(ops);
    let done = client
        .txn(txn)
        .await
        .map_err(|e| etcd_error("writing assignments", e))?;
    Ok(done.succeeded())
}

/// Watches the manifest and the assignments; sends this node's share whenever it changes.
pub(crate) async fn follow(
    registry: Registry,
    node: String,
    kinds: Vec<String>,
    to: mpsc::UnboundedSender<Assigned>,
) {
    let mut last: Option<Vec<(String, AgentEntry)>> = None;
    loop {
        let mut client = connected(&registry).await;
        loop {
            match share(&registry, &mut client, &node, &kinds).await {
                Ok(entries) => {
                    let now: Vec<(String, AgentEntry)> = entries
                        .iter()
                        .map(|e| (e.name.clone(), e.clone()))
                        .collect();
                    if last.as_ref() != Some(&now) {
                        let mut assigned = Vec::new();
                        for entry in entries {
                            // A journal that cannot be read is a first start, with its manifest binds.
                            let journal = registry
                                .journal(&mut client, &entry.name)
                                .await
                                .unwrap_or_else(|e| {
                                    tracing::warn!(agent = %entry.name, error = %e, "journal not read");
                                    None
                                });
                            assigned.push(Deployed { entry, journal });
                        }
                        if to.send(Assigned(assigned)).is_err() {
                            return;
                        }
                        last = Some(now);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "assignments not read");
                    break;
                }
            }
            let prefixes = [registry.desired_prefix(), registry.assign_prefix()];
            changed(&mut client, &prefixes).await;
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// The manifest entries of the agents assigned to `node`.
async fn share(
    registry: &Registry,
    client: &mut Client,
    node: &str,
    kinds: &[String],
) -> Result<Vec<AgentEntry>> {
    let Some(text) = registry.desired(client).await? else {
        return Ok(Vec::new());
    };
    let manifest = Manifest::parse(&text, kinds)
        .map_err(|e| axon_runtime::Error::Config(format!("the desired manifest: {e}")))?;
    let assigned = registry.assignments(client).await?;
    Ok(manifest
        .agents
        .into_iter()
        .filter(|a| assigned.get(&a.name).is_some_and(|n| n == node))
        .collect())
}

/// Waits until something under one of `prefixes` changes, or [`RECHECK`] passes.
async fn changed(client: &mut Client, prefixes: &[String]) {
    let mut streams = Vec::new();
    for prefix in prefixes {
        match client
            .watch(prefix.as_str(), Some(WatchOptions::new().with_prefix()))
            .await
        {
            Ok(stream) => streams.push(stream),
            Err(_) => {
                tokio::time::sleep(RETRY).await;
                return;
            }
        }
    }
    let any = futures::future::select_all(streams.iter_mut().map(|s| {
        Box::pin(async move {
            // Skip the message that confirms the watch: wait for one that carries events.
            while let Ok(Some(answer)) = s.message().await {
                if !answer.events().is_empty() {
                    return;
                }
            }
        })
    }));
    let _ = tokio::time::timeout(RECHECK, any).await;
}
