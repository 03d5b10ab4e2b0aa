//! `axon logs [-f] [AGENT] [--level L] [--since T] [-n N]`: a deployment's
//! log events, read from where they are (docs/logging.md):
//!
//! 1. with `--registry` (a cluster): every logger agent of the cluster,
//!    merged by time (each node's log file is on its own host);
//! 2. the node's log file, `<runtime dir>/axon.log` (and `axon.log.1`),
//!    when the node runs on this machine: the one running here, or the one
//!    serving `--ns` / `AXON_NAMESERVER` / the manifest's address;
//! 3. else (a name server on another host) its deployment's logger agent.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use axon::logging::{read_all, LogRecord, Select, LOG_FILE};

use crate::commands::{history, print_logs};
use crate::reach::{connect, local_dir, NsArgs};

/// How often `logs -f` looks at the log file.
const FILE_PERIOD: Duration = Duration::from_millis(200);

/// Prints the last `lines` events `select` picks, then with `follow` every new one.
pub fn print(ns: &NsArgs, select: &Select, follow: bool, lines: usize) -> Result<()> {
    #[cfg(feature = "cluster")]
    if ns.registry.is_some() {
        let registry = crate::reach::cluster(ns)?;
        return crate::node::logs(registry, select, follow, lines, ns.timeout);
    }
    match local_dir(ns)? {
        Some(dir) => from_file(&dir, select, follow, lines),
        None => from_logger(ns, select, follow, lines),
    }
}

/// Source 2: the node's log file in its runtime directory `dir`.
fn from_file(dir: &Path, select: &Select, follow: bool, lines: usize) -> Result<()> {
    let path = dir.join(LOG_FILE);
    let (records, mut tail) =
        read_all(&path).with_context(|| format!("reading {}", path.display()))?;
    let picked: Vec<&LogRecord> = records.iter().filter(|r| select.matches(r)).collect();
    for r in &picked[picked.len().saturating_sub(lines)..] {
        println!("{}", r.line());
    }
    if !follow {
        return Ok(());
    }
    loop {
        std::thread::sleep(FILE_PERIOD);
        let new = tail
            .poll()
            .with_context(|| format!("reading {}", path.display()))?;
        let records = new.iter().filter_map(|l| LogRecord::from_json(l));
        for r in records.filter(|r| select.matches(r)) {
            println!("{}", r.line());
        }
        if tail.gone() && !dir.exists() {
            eprintln!("axon: the node ended (its runtime directory is gone)");
            return Ok(());
        }
    }
}

/// Source 3: the deployment's logger agent.
fn from_logger(ns: &NsArgs, select: &Select, follow: bool, lines: usize) -> Result<()> {
    let node = connect(ns)?;
    let logger = node
        .ps()?
        .into_iter()
        .find(|s| s.kind == "logger" && s.pid.is_some())
        .context(
            "this name server runs on another host and its deployment has no logger agent; \
             add one (an [[agent]] with kind = \"logger\"), or run `axon logs` on its host",
        )?;
    let mut proxy = node.proxy(&logger.name)?;
    proxy.set_timeout(ns.timeout);
    let agent = select.agent.as_deref();
    print_logs(
        |limit| history(&mut proxy, agent, limit),
        select,
        follow,
        lines,
    )
}
