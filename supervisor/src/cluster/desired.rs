//! Desired state: the deployment a cluster should run (`axon deploy` stores
//! the manifest), which node runs each of its agents (decided by the
//! leader), and each deployed agent's journal (so that another node can
//! bring it back with its configuration).
//!
//! Keys, under the registry's prefix:
//! - `desired/manifest`: the manifest, as the TOML `axon deploy` validated;
//! - `assign/<agent>`: the node that runs it (written by the leader only);
//! - `journal/<agent>`: its journal, CBOR (written by the node that runs it);
//! - `leader`: etcd's election key (the nodes campaign under their lease).
//!
//! None of these is under a lease: they outlive any node.

use std::collections::{BTreeMap, BTreeSet};

use axon_runtime::protocol::journal::Journal;
use axon_runtime::{Error, Result};
use etcd_client::{Client, DeleteOptions, GetOptions};

use super::{etcd_error, Registry};
use crate::manifest::Manifest;

impl Registry {
    pub(crate) fn manifest_key(&self) -> String {
        format!("{}/desired/manifest", self.prefix)
    }

    pub(crate) fn assign_prefix(&self) -> String {
        format!("{}/assign/", self.prefix)
    }

    pub(crate) fn journal_key(&self, agent: &str) -> String {
        format!("{}/journal/{agent}", self.prefix)
    }

    pub(crate) fn leader_key(&self) -> String {
        format!("{}/leader", self.prefix)
    }

    pub(crate) fn nodes_prefix(&self) -> String {
        format!("{}/nodes/", self.prefix)
    }

    pub(crate) fn agents_prefix(&self) -> String {
        format!("{}/agents/", self.prefix)
    }

    pub(crate) fn desired_prefix(&self) -> String {
        format!("{}/desired/", self.prefix)
    }

    /// Stores `manifest` (already validated) as the cluster's desired state.
    pub async fn deploy(&self, manifest: &str) -> Result<()> {
        let mut client = self.connect().await?;
        client
            .put(self.manifest_key(), manifest, None)
            .await
            .map_err(|e| etcd_error("storing the manifest", e))?;
        Ok(())
    }

    /// Removes the deployment: the nodes stop its agents; assignments and journals go.
    pub async fn undeploy(&self) -> Result<()> {
        let mut client = self.connect().await?;
        client
            .delete(self.manifest_key(), None)
            .await
            .map_err(|e| etcd_error("removing the manifest", e))?;
        for prefix in [self.assign_prefix(), format!("{}/journal/", self.prefix)] {
            client
                .delete(prefix, Some(DeleteOptions::new().with_prefix()))
                .await
                .map_err(|e| etcd_error("removing the deployment", e))?;
        }
        Ok(())
    }

    /// [`Registry::deploy`] from synchronous code.
    pub fn deploy_blocking(&self, manifest: &str) -> Result<()> {
        super::block_on(self.deploy(manifest))
    }

    /// [`Registry::undeploy`] from synchronous code.
    pub fn undeploy_blocking(&self) -> Result<()> {
        super::block_on(self.undeploy())
    }

    /// The desired manifest's text, if a deployment is stored.
    pub(crate) async fn desired(&self, client: &mut Client) -> Result<Option<String>> {
        let got = client
            .get(self.manifest_key(), None)
            .await
            .map_err(|e| etcd_error("reading the manifest", e))?;
        Ok(got
            .kvs()
            .first()
            .map(|kv| String::from_utf8_lossy(kv.value()).into_owned()))
    }

    /// Every assignment: agent -> node.
    pub(crate) async fn assignments(
        &self,
        client: &mut Client,
    ) -> Result<BTreeMap<String, String>> {
        self.strings_under(client, &self.assign_prefix()).await
    }

    /// The names of the live nodes.
    pub(crate) async fn live_nodes(&self, client: &mut Client) -> Result<BTreeSet<String>> {
        let nodes = self.strings_under(client, &self.nodes_prefix()).await?;
        Ok(nodes.into_keys().collect())
    }

    async fn strings_under(
        &self,
        client: &mut Client,
        prefix: &str,
    ) -> Result<BTreeMap<String, String>> {
        let got = client
            .get(prefix, Some(GetOptions::new().with_prefix()))
            .await
            .map_err(|e| etcd_error("reading", e))?;
        Ok(got
            .kvs()
            .iter()
            .filter_map(|kv| {
                let key = std::str::from_utf8(kv.key()).ok()?;
                let name = key.strip_prefix(prefix)?.to_owned();
                Some((name, String::from_utf8_lossy(kv.value()).into_owned()))
            })
            .collect())
    }

    /// The journal a node saved for `agent`, if any.
    pub(crate) async fn journal(
        &self,
        client: &mut Client,
        agent: &str,
    ) -> Result<Option<Journal>> {
        let got = client
            .get(self.journal_key(agent), None)
            .await
            .map_err(|e| etcd_error("reading a journal", e))?;
        let Some(kv) = got.kvs().first() else {
            return Ok(None);
        };
        ciborium::from_reader(kv.value()).map(Some).map_err(|e| {
            Error::Config(format!(
                "the journal of {agent} in etcd does not decode: {e}"
            ))
        })
    }
}

/// Where each agent of `manifest` runs: an agent keeps a live node it was
/// given (no agent moves while its node lives, so none runs twice); one
/// without goes to its first live preferred node (`nodes = [...]`), or, with
/// no preference, to the live node running the fewest agents (ties: by name).
/// Agents no eligible node can run stay unassigned, and so does a
/// `temporary` agent whose node was lost: as in OTP, it is never restarted
/// (its assignment becomes an empty node name, which no node runs).
pub(crate) fn plan(
    manifest: &Manifest,
    live: &BTreeSet<String>,
    current: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut planned: BTreeMap<String, String> = BTreeMap::new();
    let mut load: BTreeMap<&str, usize> = live.iter().map(|n| (n.as_str(), 0)).collect();
    let eligible = |agent: &crate::manifest::AgentEntry, node: &str| {
        live.contains(node) && (agent.nodes.is_empty() || agent.nodes.iter().any(|n| n == node))
    };
    // First the agents that stay where they are, so that the load counts them.
    for agent in &manifest.agents {
        if let Some(node) = current.get(&agent.name).filter(|n| eligible(agent, n)) {
            *load.entry(node).or_default() += 1;
            planned.insert(agent.name.clone(), node.clone());
        }
    }
    for agent in &manifest.agents {
        if planned.contains_key(&agent.name) {
            continue;
        }
        let lost = current.contains_key(&agent.name);
        if lost && agent.restart == crate::policy::Restart::Temporary {
            // A tombstone (no node has an empty name): it stays gone, also when its node rejoins.
            planned.insert(agent.name.clone(), String::new());
            continue;
        }
        let chosen = match agent.nodes.iter().find(|n| live.contains(*n)) {
            Some(preferred) => Some(preferred.clone()),
            None if agent.nodes.is_empty() => load
                .iter()
                .min_by_key(|(name, n)| (**n, **name))
                .map(|(name, _)| (*name).to_owned()),
            None => None,
        };
        if let Some(node) = chosen {
            if let Some(n) = load.get_mut(node.as_str()) {
                *n += 1;
            }
            planned.insert(agent.name.clone(), node);
        }
    }
    planned
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text, &["echo".to_owned()]).unwrap()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    const THREE: &str = r#"
[[agent]]
name = "x"
kind = "echo"
nodes = ["b", "c"]
[[agent]]
name = "y"
kind = "echo"
[[agent]]
name = "z"
kind = "echo"
"#;

    #[test]
    fn preferences_first_then_the_least_loaded_node() {
        let m = manifest(THREE);
        let planned = plan(&m, &set(&["a", "b", "c"]), &BTreeMap::new());
        assert_eq!(planned["x"], "b");
        // y and z spread over the nodes with the fewest agents: a (0), then c (0).
        assert_eq!(planned["y"], "a");
        assert_eq!(planned["z"], "c");
    }

    #[test]
    fn agents_stay_on_live_nodes_and_leave_dead_ones() {
        let m = manifest(THREE);
        let current: BTreeMap<String, String> = [("x", "b"), ("y", "a"), ("z", "a")]
            .iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect();
        // b died: x goes to its next preference; y and z stay on a.
        let planned = plan(&m, &set(&["a", "c"]), &current);
        assert_eq!(planned["x"], "c");
        assert_eq!(planned["y"], "a");
        assert_eq!(planned["z"], "a");
        // No eligible node: x stays unassigned, nothing runs it.
        let planned = plan(&m, &set(&["a"]), &current);
        assert!(!planned.contains_key("x"));
        // No node at all: nothing assigned.
        assert!(plan(&m, &set(&[]), &current).is_empty());
    }

    #[test]
    fn a_temporary_agent_of_a_lost_node_is_not_started_elsewhere() {
        let m = manifest(
            "[[agent]]\nname = \"t\"\nkind = \"echo\"\nrestart = \"temporary\"\n\
             [[agent]]\nname = \"p\"\nkind = \"echo\"\nrestart = \"transient\"\n",
        );
        let first = plan(&m, &set(&["a", "b"]), &BTreeMap::new());
        assert!(first.contains_key("t") && first.contains_key("p"));
        let lost: BTreeMap<String, String> = [("t", "x"), ("p", "x")]
            .iter()
            .map(|(a, n)| (a.to_string(), n.to_string()))
            .collect();
        let after = plan(&m, &set(&["a", "b"]), &lost);
        assert_eq!(after["t"], "", "{after:?}");
        assert!(["a", "b"].contains(&after["p"].as_str()), "{after:?}");
        // And it stays gone in every later round, even if its node comes back.
        let later = plan(&m, &set(&["a", "b", "x"]), &after);
        assert_eq!(later["t"], "");
    }
}
