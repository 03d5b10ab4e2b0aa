//! Starting a manifest's agents: each in order with its scripts and binds,
//! then every connect.

use anyhow::{Context, Result};
use axon::manifest::{AgentEntry, Manifest};
use axon::{NameServer, SpawnOptions};

use super::console::{Console, Verbosity};
use super::progress;

/// How many agents `start` started, and how many the node already had.
pub struct Count {
    /// Started by this `up`.
    pub started: usize,
    /// Already running on a node taken over.
    pub adopted: usize,
}

/// Spawns every agent in order with its binds, then makes the connects.
///
/// Agents the node already has (it took over a node directory whose
/// supervisor died: they were adopted, or restarted with their journal) are
/// left as they are.
pub fn start(ns: &NameServer, manifest: &Manifest, console: &mut Console) -> Result<Count> {
    let known: std::collections::BTreeSet<String> = ns.ps()?.into_iter().map(|s| s.name).collect();
    if !known.is_empty() {
        let note = format!(
            "axon: took over a node with {} agents; starting only the manifest's others",
            known.len()
        );
        console.say(Verbosity::Normal, &note);
    }
    let new: Vec<&AgentEntry> = manifest
        .agents
        .iter()
        .filter(|a| !known.contains(&a.name))
        .collect();
    let bar = progress::agents(new.len(), "started", console.is_tty());
    for agent in &new {
        bar.set_message(agent.name.clone());
        spawn(ns, agent, console).with_context(|| format!("starting agent {:?}", agent.name))?;
        bar.inc(1);
    }
    bar.finish_and_clear();
    for agent in &new {
        connect(ns, agent)?;
    }
    Ok(Count {
        started: new.len(),
        adopted: known.len(),
    })
}

fn spawn(ns: &NameServer, agent: &AgentEntry, console: &mut Console) -> Result<()> {
    let mut options = SpawnOptions::default()
        .name(&agent.name)
        .kind(&agent.kind)
        .restart(agent.restart);
    options.attributes = agent.attributes.clone();
    options.memory_limit = agent.memory_limit;
    options.group = agent.group.clone();
    options.script_limits = agent.script_limits;
    let mut proxy = ns.spawn(options)?;
    for s in &agent.scripts {
        proxy
            .load_script(&s.source)
            .with_context(|| format!("loading the script of manifest line {}", s.line))?;
    }
    for b in &agent.binds {
        let opts = b.options();
        let addr = proxy
            .bind_with(b.kind, opts)
            .with_context(|| format!("binding {}", b.alias))?;
        let bound = format!(
            "axon: {}.{} bound at {}",
            agent.name, b.alias, addr.endpoint
        );
        console.say(Verbosity::Verbose, &bound);
    }
    Ok(())
}

fn connect(ns: &NameServer, agent: &AgentEntry) -> Result<()> {
    let mut proxy = ns.proxy(&agent.name)?;
    for c in &agent.connects {
        let to = ns
            .addr(&c.agent, &c.remote_alias)
            .with_context(|| format!("{}: finding {}.{}", agent.name, c.agent, c.remote_alias))?;
        let made = proxy.connect_with(&to, c.options());
        made.with_context(|| {
            format!(
                "{}: connecting {} to {}.{}",
                agent.name, c.alias, c.agent, c.remote_alias
            )
        })?;
    }
    Ok(())
}
