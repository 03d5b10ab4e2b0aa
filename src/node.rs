//! Cluster mode on the command line: `axon node` runs one node per host in
//! the foreground (its supervisor, publishing its agents in etcd), and
//! `axon ps --registry` lists every agent of the cluster, from any host.

use std::path::PathBuf;

use anyhow::{Context, Result};
use axon_supervisor::cluster::{Registry, ADVERTISE_ENV, NODE_NAME_ENV, REGISTRY_ENV};

/// What `axon node` is given.
pub struct NodeArgs {
    pub name: String,
    pub registry: String,
    pub advertise: Option<String>,
    pub port: u16,
    pub key_file: Option<PathBuf>,
    pub kind_hosts: Vec<(String, PathBuf)>,
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
    let bind = format!("tcp://{advertise}:{}", args.port);
    crate::cli::nameserver(Some(bind), args.kind_hosts)
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
