//! Where the CLI's commands go: the name server (`--ns`, a manifest's
//! `[nameserver] addr`, else the one node running on this machine), the
//! cluster's registry (`--registry`), and the deployment key for either.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axon::NameServer;

use crate::up;

/// Where the name server is, and the key that lets us in.
///
/// The name server is found through `--ns`, else `AXON_NAMESERVER`, else the
/// `[nameserver] addr` of `--manifest`, else the one node running on this
/// machine for this user. The key comes from `--key-file` / `AXON_KEY_FILE`,
/// else `AXON_KEY` (hex), else the runtime directory of a node on this
/// machine serving that endpoint.
#[derive(Debug, clap::Args)]
pub(crate) struct NsArgs {
    /// The name server's control endpoint.
    #[arg(long, env = "AXON_NAMESERVER")]
    pub(crate) ns: Option<String>,
    /// A manifest whose `[nameserver] addr` names the name server.
    #[arg(long, short = 'm')]
    pub(crate) manifest: Option<PathBuf>,
    /// How long to wait for answers.
    #[arg(long, default_value = "5s", value_parser = axon_supervisor::manifest::parse_duration)]
    pub(crate) timeout: Duration,
    /// File holding the deployment key (the name server writes `<runtime dir>/key`).
    #[arg(long, env = "AXON_KEY_FILE")]
    pub(crate) key_file: Option<PathBuf>,
    /// A cluster's registry, `etcd://HOST:PORT[,HOST:PORT...]`: ask the whole cluster.
    #[cfg(feature = "cluster")]
    #[arg(long, env = "AXON_REGISTRY")]
    pub(crate) registry: Option<String>,
}

/// The registry of `--registry`, with the cluster's key installed for the requests to come.
#[cfg(feature = "cluster")]
pub(crate) fn cluster(ns: &NsArgs) -> Result<&str> {
    let registry = ns.registry.as_deref().context("no --registry given")?;
    axon::protocol::auth::install_key(key_for(ns, registry)?);
    Ok(registry)
}

pub(crate) fn connect(ns: &NsArgs) -> Result<NameServer> {
    let endpoint = match named(ns)? {
        Some(e) => e,
        None => local_node()?.0,
    };
    axon::protocol::auth::install_key(key_for(ns, &endpoint)?);
    match NameServer::connect(&endpoint, ns.timeout) {
        Ok(node) => Ok(node),
        Err(e @ axon::Error::Timeout(..)) => {
            Err(e).with_context(|| format!("no name server answers at {endpoint}"))
        }
        Err(e) => Err(e).with_context(|| format!("talking to the name server at {endpoint}")),
    }
}

/// The name server's endpoint `--ns` / `AXON_NAMESERVER` or `--manifest` names, if any.
fn named(ns: &NsArgs) -> Result<Option<String>> {
    Ok(match (&ns.ns, &ns.manifest) {
        (Some(e), _) => Some(e.clone()),
        (None, Some(m)) => Some(
            up::load(m)?
                .nameserver
                .with_context(|| format!("{} has no [nameserver] addr; use --ns", m.display()))?,
        ),
        (None, None) => None,
    })
}

/// The runtime directory of the node `ns` names (`--ns`, `AXON_NAMESERVER`,
/// `--manifest`, else the one node running here) when it runs on this
/// machine; `None` when the named name server is not one of this machine's.
pub(crate) fn local_dir(ns: &NsArgs) -> Result<Option<PathBuf>> {
    let Some(endpoint) = named(ns)? else {
        return Ok(Some(local_node()?.1));
    };
    let here = local_nodes().into_iter().find(|(e, _)| *e == endpoint);
    Ok(here.map(|(_, dir)| dir))
}

/// The deployment key: `--key-file` / `AXON_KEY_FILE`, else `AXON_KEY`, else
/// the key file of the node on this machine that serves `endpoint`.
fn key_for(ns: &NsArgs, endpoint: &str) -> Result<axon::protocol::auth::Key> {
    let read = |path: &Path| -> Result<axon::protocol::auth::Key> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading key file {}", path.display()))?;
        axon::protocol::auth::Key::from_hex(&text)
            .with_context(|| format!("parsing key file {}", path.display()))
    };
    if let Some(path) = &ns.key_file {
        return read(path);
    }
    if let Some(hex) = axon::config::env_var(axon::protocol::auth::KEY_ENV)? {
        return axon::protocol::auth::Key::from_hex(&hex).context("parsing AXON_KEY");
    }
    match local_nodes().into_iter().find(|(e, _)| e == endpoint) {
        Some((_, dir)) => read(&dir.join("key")),
        None => bail!(
            "no deployment key for {endpoint}: give --key-file, AXON_KEY_FILE or AXON_KEY \
             (the node writes <runtime dir>/key)"
        ),
    }
}

/// The one node running on this machine for this user.
fn local_node() -> Result<(String, PathBuf)> {
    let mut nodes = local_nodes();
    match nodes.len() {
        1 => Ok(nodes.remove(0)),
        0 => bail!("no name server given (--ns or AXON_NAMESERVER) and none runs here"),
        n => bail!(
            "{n} nodes run here ({}); say which with --ns",
            nodes
                .iter()
                .map(|(e, _)| e.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Nodes on this machine: `(endpoint, runtime dir)` of each live name server.
fn local_nodes() -> Vec<(String, PathBuf)> {
    let base = axon::config::user_runtime_dir();
    let Ok(entries) = std::fs::read_dir(&base) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let dir = e.path();
            let name = dir.file_name()?.to_str()?.to_owned();
            // Node directories are named `<pid>-<nanos>-<n>` after their name server.
            let pid: u32 = name.split('-').next()?.parse().ok()?;
            if !axon::testing::process_alive(pid) {
                return None;
            }
            let endpoint = std::fs::read_to_string(dir.join("endpoint")).ok()?;
            Some((endpoint.trim().to_owned(), dir))
        })
        .collect()
}
