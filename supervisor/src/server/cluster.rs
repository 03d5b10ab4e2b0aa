//! The node's side of a cluster:
//! - fencing: a node that cannot renew its lease stops every agent before
//!   the lease can expire, so that no agent name is ever served by two
//!   processes at once (the leader gives them to another node only once the
//!   lease is gone); it joins again with a new lease;
//! - reconciling: it runs exactly the agents the leader assigned to it, each
//!   from its manifest entry (binds) or, when it ran elsewhere before, from
//!   the journal that node kept in etcd;
//! - connects by name (`to = "agent.alias"`): made once the target is bound
//!   anywhere in the cluster, and made again when the target moves.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::protocol::journal::{self, Change, Journal};
use axon_runtime::protocol::methods::{Bind, Connect};
use axon_runtime::Value;

use super::Server;
use crate::cluster::{Assigned, Deployed, Directory, Fencing, FromCluster};
use crate::manifest::AgentEntry;
use crate::methods::SpawnOptions;

/// How long a connect to another agent may take.
const LINK_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node of a cluster keeps about its deployed agents.
#[derive(Default)]
pub(super) struct Deployment {
    /// The agents the leader gave this node, by name, with their manifest entries.
    running: BTreeMap<String, AgentEntry>,
    /// The latest assignment, also while fenced (applied again on rejoining).
    last: Option<Vec<Deployed>>,
    /// Where every agent of the cluster is bound.
    directory: Directory,
    /// Connects by name made: (agent, alias) -> the endpoint connected to.
    linked: BTreeMap<(String, String), String>,
    /// Connects by name on their way.
    linking: BTreeSet<(String, String)>,
}

impl StreamHandler<FromCluster> for Server {
    fn handle(&mut self, news: FromCluster, ctx: &mut Context<Self>) {
        match news {
            FromCluster::Fencing(Fencing::Fence) => self.fence(),
            FromCluster::Fencing(Fencing::Rejoined) => {
                tracing::warn!("rejoined the cluster; this node runs agents again");
                self.fenced = false;
                if let Some(last) = self.deployment.last.clone() {
                    self.reconcile(last, ctx);
                }
            }
            FromCluster::Assigned(Assigned(agents)) => {
                self.deployment.last = Some(agents.clone());
                if !self.fenced {
                    self.reconcile(agents, ctx);
                }
            }
            FromCluster::Directory(directory) => {
                self.deployment.directory = directory;
                self.link(ctx);
            }
        }
        self.save_changes();
    }

    /// The cluster tasks ended (the System is stopping): nothing to do.
    fn finished(&mut self, _: &mut Context<Self>) {}
}

impl Server {
    /// Stops every agent at once (SIGKILL: certain, and fast enough to beat the lease).
    fn fence(&mut self) {
        self.fenced = true;
        let children: Vec<(u32, String)> = self
            .children
            .iter()
            .map(|(pid, name)| (*pid, name.clone()))
            .collect();
        tracing::error!(
            agents = children.len(),
            "fenced: stopping every agent of this node"
        );
        for (pid, name) in children {
            // Stopped for good here: not restarted by this supervisor.
            self.supervision.stopping(&name);
            if let Some(child) = self.supervision.incarnation(&name, pid) {
                child.kill_reason = Some("fenced: the node lost etcd".into());
            }
            // Already gone is fine.
            let _ = self.signal_child(pid, Signal::Kill);
        }
        self.deployment.running.clear();
        self.deployment.linked.clear();
    }

    /// Runs what is assigned here and nothing else that was deployed.
    fn reconcile(&mut self, agents: Vec<Deployed>, ctx: &mut Context<Self>) {
        let wanted: BTreeSet<String> = agents.iter().map(|d| d.entry.name.clone()).collect();
        let gone: Vec<String> = self
            .deployment
            .running
            .keys()
            .filter(|name| !wanted.contains(*name))
            .cloned()
            .collect();
        for name in gone {
            self.undeploy(&name, ctx);
        }
        for d in agents {
            let live = self.supervision.get(&d.entry.name).is_some_and(|c| {
                c.pid.is_some() || c.state == crate::supervision::State::Restarting
            });
            if !self.deployment.running.contains_key(&d.entry.name) && !live {
                self.deploy(d, ctx);
            }
        }
        self.link(ctx);
    }

    /// Starts a deployed agent: its journal from etcd (it ran elsewhere), else its manifest binds.
    fn deploy(&mut self, d: Deployed, ctx: &mut Context<Self>) {
        let entry = d.entry;
        let name = entry.name.clone();
        let by_name: BTreeSet<String> = entry.connects.iter().map(|c| c.alias.clone()).collect();
        let journal = match d.journal {
            // Connects by name are made again from the directory, not from old addresses.
            Some(j) => without_sockets(j, &by_name),
            None => binds_of(&entry),
        };
        let options = SpawnOptions {
            name: Some(name.clone()),
            kind: Some(entry.kind.clone()),
            attributes: entry.attributes.clone(),
            restart: Some(entry.restart),
            memory_limit: entry.memory_limit,
            script_limits: entry.script_limits,
            ..SpawnOptions::default()
        };
        if let Err((_, why)) = self.records.claim(Some(name.clone()), None) {
            return tracing::error!(agent = %name, why = %why, "deployed agent not started");
        }
        match self.start_process(&name, &options, BTreeMap::new(), ctx) {
            Ok((pid, identity)) => {
                self.supervision.add(&name, options, pid, Instant::now());
                self.supervision.identify(&name, pid, identity);
                if let Some(child) = self.supervision.get_mut(&name) {
                    child.journal = journal;
                }
                tracing::info!(agent = %name, pid, "deployed agent started");
                self.deployment.running.insert(name, entry);
            }
            Err(e) => {
                self.records.finish_start(&name);
                tracing::error!(agent = %name, error = %e, "deployed agent not started");
            }
        }
    }

    /// Stops a deployed agent that is no longer this node's to run.
    fn undeploy(&mut self, name: &str, ctx: &mut Context<Self>) {
        self.deployment.running.remove(name);
        self.deployment.linked.retain(|(agent, _), _| agent != name);
        let Some(pid) = self.supervision.get(name).and_then(|c| c.pid) else {
            self.supervision.stopping(name);
            return;
        };
        tracing::info!(agent = %name, pid, "deployed agent no longer assigned here; stopping it");
        self.supervision.stopping(name);
        if let Ok(info) = self.records.info(name) {
            let control = info.control.clone();
            super::stop::ask_to_stop(name, &control, super::stop::AS_CHILD, ctx, self);
        }
        ctx.run_later(super::DEFAULT_GRACE, move |act, _| {
            // Gone by itself within the grace is what we hoped for.
            let _ = act.signal_child(pid, Signal::Kill);
        });
    }

    /// Makes (or makes again, when the target moved) every connect by name whose target is bound.
    fn link(&mut self, ctx: &mut Context<Self>) {
        let mut wanted = Vec::new();
        for (name, entry) in &self.deployment.running {
            let Ok(info) = self.records.info(name) else {
                continue;
            };
            let serving = self
                .supervision
                .get(name)
                .is_some_and(|c| c.state == crate::supervision::State::Running);
            if !serving {
                continue;
            }
            for c in &entry.connects {
                let key = (name.clone(), c.alias.clone());
                let Some(to) = self
                    .deployment
                    .directory
                    .get(&c.agent)
                    .and_then(|a| a.get(&c.remote_alias))
                else {
                    continue;
                };
                let done = self.deployment.linked.get(&key) == Some(&to.endpoint);
                if !done && !self.deployment.linking.contains(&key) {
                    wanted.push((key, info.control.clone(), to.clone(), c.clone()));
                }
            }
        }
        for (key, control, to, c) in wanted {
            let moved = self.deployment.linked.contains_key(&key);
            self.deployment.linking.insert(key.clone());
            let args = Connect::new(&to, c.options());
            let agent = key.0.clone();
            let call = async move {
                use axon_runtime::client::call::call;
                if moved {
                    // The target moved: the old socket goes first.
                    let alias = BTreeMap::from([("alias", c.alias.as_str())]);
                    let _: axon_runtime::Result<Value> =
                        call(&control, &agent, "close", &alias, LINK_TIMEOUT).await;
                }
                call(&control, &agent, "connect", &args, LINK_TIMEOUT).await
            };
            let endpoint = to.endpoint.clone();
            ctx.spawn(call.into_actor(self).map(move |done, act, _| {
                act.deployment.linking.remove(&key);
                match done {
                    Ok(_) => {
                        tracing::info!(agent = %key.0, alias = %key.1, to = %endpoint, "connected by name");
                        act.deployment.linked.insert(key, endpoint);
                    }
                    Err(e) => {
                        tracing::warn!(agent = %key.0, alias = %key.1, error = %e, "connect by name failed; trying again on the next change")
                    }
                }
            }));
        }
    }

    /// Keeps a deployed agent's journal in etcd, for the node that may run it next.
    pub(super) fn publish_journal(&self, name: &str) {
        if !self.deployment.running.contains_key(name) {
            return;
        }
        if let (Some((mirror, _)), Some(child)) = (&self.cluster, self.supervision.get(name)) {
            mirror.journal(name, &child.journal);
        }
    }

    /// A process ended: a name it held may be free now for an agent assigned here.
    pub(super) fn reconcile_after_exit(&mut self, ctx: &mut Context<Self>) {
        if let Some(last) = self.deployment.last.clone().filter(|_| !self.fenced) {
            self.reconcile(last, ctx);
        }
    }

    /// Looks again at connects by name whose agent just started serving.
    pub(super) fn relink(&mut self, ctx: &mut Context<Self>) {
        if !self.deployment.running.is_empty() {
            self.link(ctx);
        }
    }
}

/// The journal that makes a deployed agent's manifest scripts (inline ones:
/// `axon deploy` refuses files) and binds.
fn binds_of(entry: &AgentEntry) -> Journal {
    let mut journal = Journal::default();
    for s in &entry.scripts {
        let Ok(defined) = axon_runtime::check_script(&s.source) else {
            continue;
        };
        let defined = Value::Array(defined.iter().map(|d| Value::Text(d.to_string())).collect());
        let args = Value::Map(vec![("source".into(), Value::Text(s.source.clone()))]);
        if let Some(change) = journal::change("load_script", &args, &defined) {
            journal.apply(change);
        }
    }
    for b in &entry.binds {
        let Ok(args) = axon_runtime::codec::to_value(&Bind::new(b.kind, b.options())) else {
            continue;
        };
        if let Some(change) = journal::change("bind", &args, &Value::Null) {
            journal.apply(change);
        }
    }
    journal
}

/// `journal` without the sockets of `aliases` (connects by name, made again from the directory).
fn without_sockets(mut journal: Journal, aliases: &BTreeSet<String>) -> Journal {
    let keys: Vec<String> = aliases.iter().map(|a| format!("socket/{a}")).collect();
    if !keys.is_empty() {
        journal.apply(Change::Forget { keys });
    }
    journal
}
