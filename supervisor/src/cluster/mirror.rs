//! The node's line to etcd: its lease (kept alive, or lost: fencing), and
//! the registry's changes applied in order.

use std::time::Duration;

use axon_runtime::{Error, Result};
use etcd_client::{Client, Compare, CompareOp, PutOptions, Txn, TxnOp};
use tokio::sync::{mpsc, watch};

use super::{etcd_error, AgentEntry, NodeEntry, Registry, LEASE_TTL, RETRY};
use crate::methods::AgentInfo;

enum Change {
    Put(AgentEntry),
    Delete(String),
    /// A deployed agent's journal (CBOR), kept in etcd for the node that may run it next.
    Journal(String, Vec<u8>),
}

/// What the cluster tells the node's supervisor.
#[derive(Debug)]
pub(crate) enum FromCluster {
    /// Lost or regained its lease.
    Fencing(Fencing),
    /// The agents this node is to run now.
    Assigned(super::Assigned),
    /// Where every agent of the cluster is bound: agent -> alias -> address.
    Directory(super::Directory),
}

/// The node's line to its registry: changes go to one task, in order; the caller never waits.
pub(crate) struct Mirror {
    node: String,
    changes: mpsc::UnboundedSender<Change>,
}

impl Mirror {
    /// Starts the tasks that hold `node`'s lease, publish its agents, lead
    /// when elected, and follow what is assigned to it; call it inside the
    /// System. What the supervisor must do comes through `to`.
    pub(crate) fn start(
        registry: Registry,
        node: NodeEntry,
        kinds: Vec<String>,
        to: mpsc::UnboundedSender<FromCluster>,
    ) -> Mirror {
        let (changes, queue) = mpsc::unbounded_channel();
        let name = node.name.clone();
        let (assigned, mut share) = mpsc::unbounded_channel();
        actix_rt::spawn(super::follow(
            registry.clone(),
            name.clone(),
            kinds.clone(),
            assigned,
        ));
        let (found, mut directory) = mpsc::unbounded_channel();
        actix_rt::spawn(super::lead::directory(registry.clone(), found));
        let (fence, mut fencing) = mpsc::unbounded_channel();
        actix_rt::spawn(publish(registry, node, queue, fence, kinds));
        // One stream to the supervisor.
        actix_rt::spawn(async move {
            loop {
                let next = tokio::select! {
                    Some(f) = fencing.recv() => FromCluster::Fencing(f),
                    Some(a) = share.recv() => FromCluster::Assigned(a),
                    Some(d) = directory.recv() => FromCluster::Directory(d),
                    else => return,
                };
                if to.send(next).is_err() {
                    return;
                }
            }
        });
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

    /// A deployed agent's journal changed.
    pub(crate) fn journal(&self, agent: &str, journal: &axon_runtime::protocol::journal::Journal) {
        let mut bytes = Vec::new();
        match ciborium::into_writer(journal, &mut bytes) {
            Ok(()) => {
                let _ = self.changes.send(Change::Journal(agent.to_owned(), bytes));
            }
            Err(e) => tracing::error!(agent, error = %e, "journal not encodable"),
        }
    }
}

/// Applies one change, only where this node owns the agent: `owner` (the
/// agent's registry key) is under our `lease`, or, for a first put, absent.
/// A change queued before the node was fenced (it holds a new lease since)
/// therefore never overwrites nor deletes what another node registered.
async fn apply(
    client: &mut Client,
    key: &str,
    owner: &str,
    value: Option<&[u8]>,
    under_lease: bool,
    lease: i64,
) -> std::result::Result<(), etcd_client::Error> {
    let ours = Compare::lease(owner, CompareOp::Equal, lease);
    let op = match value {
        Some(v) => {
            let options = under_lease.then(|| PutOptions::new().with_lease(lease));
            TxnOp::put(key, v, options)
        }
        None => TxnOp::delete(key, None),
    };
    let done = client
        .txn(Txn::new().when(vec![ours]).and_then(vec![op.clone()]))
        .await?;
    if done.succeeded() || value.is_none() || !under_lease {
        return Ok(());
    }
    // A first registration: the key must not exist yet.
    let absent = Compare::version(owner, CompareOp::Equal, 0);
    let done = client
        .txn(Txn::new().when(vec![absent]).and_then(vec![op]))
        .await?;
    if !done.succeeded() {
        tracing::warn!(key, "registry entry held by another node; not overwritten");
    }
    Ok(())
}

/// Joins the cluster (a lease, the node's key), keeps the lease alive, and applies the changes.
async fn publish(
    registry: Registry,
    node: NodeEntry,
    mut queue: mpsc::UnboundedReceiver<Change>,
    fence: mpsc::UnboundedSender<Fencing>,
    kinds: Vec<String>,
) {
    let (mut client, lease) = join_until_joined(&registry, &node).await;
    // The lease agents are put under: a node that had to rejoin holds a new one.
    let (lease_now, lease_rx) = watch::channel(lease);
    actix_rt::spawn(super::lead(
        registry.clone(),
        node.name.clone(),
        lease_rx.clone(),
        kinds,
    ));
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
            Change::Journal(name, bytes) => (registry.journal_key(name), Some(bytes.clone())),
        };
        // Agents live under the node's lease; journals outlive it.
        let under_lease = !matches!(change, Change::Journal(..));
        // In order, and until it lands: a later change must not overtake this one.
        loop {
            let lease = *lease_rx.borrow();
            let owner = match &change {
                Change::Journal(name, _) => registry.agent_key(name),
                _ => key.clone(),
            };
            match apply(
                &mut client,
                &key,
                &owner,
                value.as_deref(),
                under_lease,
                lease,
            )
            .await
            {
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
