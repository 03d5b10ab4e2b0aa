//! Cluster mode on the command line: `axon node` runs one node per host in
//! the foreground (its supervisor, publishing its agents in etcd), and
//! `axon ps|call|kill|logs|graph --registry` reach every agent of the
//! cluster, from any host, by looking it up in etcd.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axon::launch::Signal;
use axon::logging::{LogRecord, Select};
use axon::NameServer;
use axon_supervisor::cluster::{AgentEntry, Registry, ADVERTISE_ENV, NODE_NAME_ENV, REGISTRY_ENV};

/// What `axon node` is given.
pub struct NodeArgs {
    pub name: String,
    pub registry: String,
    pub advertise: Option<String>,
    pub port: u16,
    pub key_file: Option<PathBuf>,
    pub kind_hosts: Vec<(String, PathBuf)>,
    /// Where to serve Prometheus metrics, if anywhere.
    pub metrics: Option<std::net::SocketAddr>,
}

/// Runs this host's node until SIGINT/SIGTERM or `axon shutdown`.
pub fn run(args: NodeArgs) -> Result<()> {
    let registry = Registry::parse(&args.registry)?;
    let advertise = match args.advertise {
        Some(a) => a,
        None => {
            route_to(&registry).context("finding the address to advertise (give --advertise)")?
        }
    };
    if let Some(file) = &args.key_file {
        let key = std::fs::read_to_string(file)
            .with_context(|| format!("reading key file {}", file.display()))?;
        let key = axon::protocol::auth::Key::from_hex(&key)
            .with_context(|| format!("key file {}", file.display()))?;
        std::env::set_var(axon::protocol::auth::KEY_ENV, key.to_hex());
    }
    std::env::set_var(REGISTRY_ENV, &args.registry);
    std::env::set_var(NODE_NAME_ENV, &args.name);
    std::env::set_var(ADVERTISE_ENV, &advertise);
    if let Some(addr) = args.metrics {
        std::env::set_var(axon_supervisor::METRICS_ENV, addr.to_string());
    }
    let bind = format!("tcp://{advertise}:{}", args.port);
    crate::commands::nameserver(Some(bind), args.kind_hosts)
}

/// The local address this host uses to reach the registry's first member.
fn route_to(registry: &Registry) -> Result<String> {
    let first = registry
        .endpoints()
        .first()
        .context("the registry names no member")?;
    let target = first.trim_start_matches("http://");
    let probe = std::net::UdpSocket::bind("0.0.0.0:0")?;
    probe.connect(target)?;
    Ok(probe.local_addr()?.ip().to_string())
}

/// One `ps --registry` line.
#[derive(Debug, serde::Serialize)]
struct Line {
    #[serde(flatten)]
    entry: axon_supervisor::cluster::AgentEntry,
}

/// `axon ps --registry R`: every agent of the cluster, with its node and addresses.
pub fn ps(registry: &str, json: bool) -> Result<()> {
    let registry = Registry::parse(registry)?;
    let mut agents = registry.agents_blocking()?;
    agents.sort_by(|a, b| a.name.cmp(&b.name));
    if json {
        let lines: Vec<Line> = agents.into_iter().map(|entry| Line { entry }).collect();
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    println!(
        "{:<18} {:<12} {:<16} {:>8}  CONTROL",
        "NAME", "NODE", "KIND", "PID"
    );
    for a in agents {
        println!(
            "{:<18} {:<12} {:<16} {:>8}  {}",
            a.name, a.node, a.kind, a.pid, a.control
        );
    }
    Ok(())
}

/// `axon graph --registry R`: every node's topology, joined into one picture
/// (a connect to another node's agent becomes an edge between the nodes).
pub fn topology(registry: &str, timeout: Duration) -> Result<axon_supervisor::topology::Topology> {
    let registry = Registry::parse(registry)?;
    let mut parts = Vec::new();
    for node in registry.nodes_blocking()? {
        let ns = NameServer::connect(&node.endpoint, timeout)
            .with_context(|| format!("reaching node {} at {}", node.name, node.endpoint))?;
        let part = ns
            .topology()
            .with_context(|| format!("asking node {} for its topology", node.name))?;
        parts.push((node.name, part));
    }
    if parts.is_empty() {
        bail!("the registry lists no node: start one with `axon node`");
    }
    Ok(axon_supervisor::topology::Topology::merge(parts))
}

/// How long `axon deploy` waits for every agent to answer.
const DEPLOY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// The registry from `--registry`/`AXON_REGISTRY`, else the manifest's `[cluster] registry`.
fn registry_for(given: Option<&str>, manifest: &axon::manifest::Manifest) -> Result<Registry> {
    let url = given
        .map(str::to_owned)
        .or_else(|| manifest.registry.clone())
        .context("no registry: give --registry, AXON_REGISTRY or [cluster] registry")?;
    Ok(Registry::parse(&url)?)
}

/// `axon deploy MANIFEST`: stores the manifest as the cluster's desired state and returns once
/// every agent answers ping (wherever the leader put it), or fails naming those that do not.
pub fn deploy(path: &std::path::Path, registry: Option<&str>) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading manifest {}", path.display()))?;
    let any = [axon::manifest::ANY_KIND.to_owned()];
    let manifest = axon::manifest::Manifest::parse(&text, &any)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if let Some(a) = manifest
        .agents
        .iter()
        .find(|a| a.scripts.iter().any(|s| s.file.is_some()))
    {
        anyhow::bail!(
            "{}: agent {:?} loads a script `file`: in a cluster, give scripts inline (`source`), \
             the file is not on the other hosts",
            path.display(),
            a.name
        );
    }
    if let Some(a) = manifest.agents.iter().find(|a| a.bin.is_some()) {
        anyhow::bail!(
            "{}: agent {:?} names a `bin`: in a cluster, the program hosting a kind is the node's \
             to choose (axon node --kind-host KIND=PROGRAM), never the manifest's",
            path.display(),
            a.name
        );
    }
    if let Some(g) = manifest.supervisor.groups.first() {
        anyhow::bail!(
            "{}: group {:?}: supervision groups ([[group]]) are for one node (axon up); a cluster \
             deployment supervises each agent on its own node (see docs/cluster.md)",
            path.display(),
            g.name
        );
    }
    let registry = registry_for(registry, &manifest)?;
    registry.deploy_blocking(&text)?;
    let names: Vec<&str> = manifest.agents.iter().map(|a| a.name.as_str()).collect();
    eprintln!(
        "axon: deployment stored; waiting for {} agents",
        names.len()
    );
    // A bar on a terminal; on a pipe indicatif draws nothing and a line per change says it.
    let bar = indicatif::ProgressBar::new(names.len() as u64);
    let style =
        indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} agents answer {wide_msg}");
    bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    let deadline = std::time::Instant::now() + DEPLOY_PATIENCE;
    let mut answering = 0;
    loop {
        let agents = registry.agents_blocking().unwrap_or_default();
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|name| !answers(&agents, name))
            .collect();
        if names.len() - missing.len() != answering {
            answering = names.len() - missing.len();
            bar.set_position(answering as u64);
            bar.set_message(format!("waiting for {}", missing.join(", ")));
            if bar.is_hidden() {
                eprintln!("axon: {answering}/{} agents answer", names.len());
            }
        }
        if missing.is_empty() {
            bar.finish_with_message("deployed");
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            bar.abandon();
            anyhow::bail!(
                "not every agent answers after {DEPLOY_PATIENCE:?}: missing {}",
                missing.join(", ")
            );
        }
        bar.tick();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Whether `name` is in the registry and answers ping on its control endpoint.
fn answers(agents: &[axon_supervisor::cluster::AgentEntry], name: &str) -> bool {
    let Some(entry) = agents.iter().find(|a| a.name == name) else {
        return false;
    };
    axon::Proxy::open(entry.name.clone(), entry.control.clone())
        .and_then(|mut p| {
            p.set_timeout(std::time::Duration::from_millis(500));
            p.ping()
        })
        .is_ok()
}

/// `axon down`: removes the cluster's deployment; returns once its agents are gone everywhere.
pub fn down(registry: &str) -> Result<()> {
    let registry = Registry::parse(registry)?;
    let before: Vec<String> = registry
        .agents_blocking()?
        .into_iter()
        .map(|a| a.name)
        .collect();
    registry.undeploy_blocking()?;
    let deadline = std::time::Instant::now() + DEPLOY_PATIENCE;
    loop {
        let left: Vec<String> = registry
            .agents_blocking()?
            .into_iter()
            .map(|a| a.name)
            .filter(|n| before.contains(n))
            .collect();
        if left.is_empty() {
            eprintln!("axon: deployment removed");
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            anyhow::bail!(
                "still running after {DEPLOY_PATIENCE:?}: {}",
                left.join(", ")
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Agent `name`'s registry entry, or an error saying the cluster runs no such agent.
fn find(registry: &Registry, name: &str) -> Result<AgentEntry> {
    registry
        .agent_blocking(name)?
        .with_context(|| format!("no agent {name} in the cluster (see axon ps --registry)"))
}

/// `axon call --registry R AGENT METHOD [ARGS]`: straight to the agent's control endpoint.
pub fn call(
    registry: &str,
    agent: &str,
    method: &str,
    args: serde_json::Value,
    timeout: Duration,
) -> Result<()> {
    let entry = find(&Registry::parse(registry)?, agent)?;
    let proxy = axon::Proxy::open(entry.name, entry.control)
        .with_context(|| format!("opening agent {agent}'s control endpoint"))?;
    crate::commands::call_on(proxy, method, args, timeout)
}

/// `axon kill --registry R AGENT`: through the name server of the node that runs it
/// (signals reach only a supervisor's own children).
pub fn kill(registry: &str, agent: &str, signal: Signal, timeout: Duration) -> Result<()> {
    let registry = Registry::parse(registry)?;
    let entry = find(&registry, agent)?;
    let node = registry
        .nodes_blocking()?
        .into_iter()
        .find(|n| n.name == entry.node)
        .with_context(|| format!("{agent}'s node {} is not in the registry", entry.node))?;
    let ns = NameServer::connect(&node.endpoint, timeout)
        .with_context(|| format!("talking to node {} at {}", node.name, node.endpoint))?;
    crate::commands::kill(&ns, agent, signal)
}

/// `axon logs --registry R [AGENT]`: the events of every logger agent of the cluster (each
/// node's logger collects its own node's agents), merged by time.
pub fn logs(
    registry: &str,
    select: &Select,
    follow: bool,
    lines: usize,
    timeout: Duration,
) -> Result<()> {
    let registry = Registry::parse(registry)?;
    let agent = select.agent.as_deref();
    let fetch = |limit: usize| -> Result<Vec<LogRecord>> {
        // Looked up every time: a logger may have moved to another node since.
        let loggers: Vec<AgentEntry> = registry
            .agents_blocking()?
            .into_iter()
            .filter(|a| a.kind == LOGGER_KIND)
            .collect();
        if loggers.is_empty() {
            bail!(
                "this cluster runs no logger agent: deploy one (an [[agent]] with kind = \"logger\"; \
                 each node's logger collects the events of that node's agents, so one per node, \
                 `nodes = [\"N\"]`, collects them all)"
            );
        }
        let mut records = Vec::new();
        for logger in loggers {
            let mut proxy = axon::Proxy::open(logger.name.clone(), logger.control)?;
            proxy.set_timeout(timeout);
            let got = crate::commands::history(&mut proxy, agent, limit)
                .with_context(|| format!("reading logger {}", logger.name))?;
            records.extend(got);
        }
        Ok(merged(records, limit))
    };
    crate::commands::print_logs(fetch, select, follow, lines)
}

/// The kind of logger agents.
const LOGGER_KIND: &str = "logger";

/// The last `limit` of `records` (from several loggers) in time order.
fn merged(mut records: Vec<LogRecord>, limit: usize) -> Vec<LogRecord> {
    // Stable: the events of one logger with the same time keep their order.
    records.sort_by_key(|r| r.time_ms);
    let skip = records.len().saturating_sub(limit);
    records.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(agent: &str, time_ms: u64) -> LogRecord {
        LogRecord {
            agent: agent.to_owned(),
            level: "INFO".to_owned(),
            target: "t".to_owned(),
            message: "m".to_owned(),
            fields: Default::default(),
            time_ms,
            pid: 1,
        }
    }

    #[test]
    fn loggers_merge_by_time_and_keep_the_last_events() {
        let records = vec![
            record("a", 1),
            record("a", 5),
            record("b", 2),
            record("b", 5),
        ];
        let got: Vec<(String, u64)> = merged(records, 3)
            .into_iter()
            .map(|r| (r.agent, r.time_ms))
            .collect();
        assert_eq!(got, [("b".into(), 2), ("a".into(), 5), ("b".into(), 5)]);
    }
}
