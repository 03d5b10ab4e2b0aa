//! Fault-injection helpers across hosts (feature `cluster`): a cluster of
//! `axon node`s on separate network stacks (one network namespace each,
//! [`netns`](super::netns)), with a real etcd on a host of its own, driven
//! from a test.
//!
//! ```no_run
//! use std::time::Duration;
//! use axon::testing::Cluster;
//!
//! let manifest = r#"
//! [[agent]]
//! name = "echo"
//! kind = "echo"
//! nodes = ["a", "b"]
//! "#;
//! // In the tests of a package with the `axon` binary: env!("CARGO_BIN_EXE_axon").
//! let cluster = Cluster::start("target/debug/axon", &["a", "b", "c"]).unwrap();
//! cluster.deploy(manifest).unwrap();
//! assert_eq!(cluster.node_of("echo").unwrap().as_deref(), Some("a"));
//! cluster.cut("a").unwrap();                       // a fences; echo moves to b
//! let moved = cluster.wait_until(Duration::from_secs(20), || {
//!     cluster.node_of("echo").ok().flatten().as_deref() == Some("b")
//! });
//! assert!(moved);
//! // Dropping it tears everything down: nodes, agents, etcd, namespaces.
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axon_runtime::protocol::auth::Key;
use axon_runtime::{Error, Result};
use serde_json::Value as Json;

use super::netns::{Host, Net};
use super::Etcd;

/// How long a node may take to start.
const NODE_START: Duration = Duration::from_secs(30);

/// The host etcd runs on.
const ETCD_HOST: &str = "etcd";

/// A cluster on one machine: a host per node plus one for etcd.
pub struct Cluster {
    axon: PathBuf,
    /// `--kind-host KIND=PROGRAM` of every node.
    kind_hosts: Vec<(String, PathBuf)>,
    /// More arguments of every `axon node` (`--metrics ...`).
    node_args: Vec<String>,
    nodes: BTreeMap<String, Node>,
    etcd: Option<Etcd>,
    net: Net,
    dir: PathBuf,
}

/// One `axon node`, in its host's namespace.
struct Node {
    child: Child,
    endpoint: String,
    runtime_dir: PathBuf,
}

impl Node {
    fn stop(&mut self) {
        // Gone already is fine; reaping it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.runtime_dir);
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("nodes", &self.nodes.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Cluster {
    /// Starts etcd on a host of its own and an `axon node` (the binary at
    /// `axon`, built with the `cluster` feature) on each of `nodes`, all with
    /// one fresh deployment key; returns once every node serves.
    pub fn start(axon: impl AsRef<Path>, nodes: &[&str]) -> Result<Cluster> {
        Cluster::start_hosting(axon, nodes, &[])
    }

    /// [`Cluster::start`], every node hosting each `(KIND, PROGRAM)` of `kind_hosts` with
    /// PROGRAM (`axon node --kind-host KIND=PROGRAM`; the program must exist on this machine).
    pub fn start_hosting(
        axon: impl AsRef<Path>,
        nodes: &[&str],
        kind_hosts: &[(&str, &Path)],
    ) -> Result<Cluster> {
        Cluster::start_with(axon, nodes, kind_hosts, &[])
    }

    /// [`Cluster::start_hosting`], every `axon node` also given `node_args`
    /// (each node is alone in its namespace, so one port serves them all).
    pub fn start_with(
        axon: impl AsRef<Path>,
        nodes: &[&str],
        kind_hosts: &[(&str, &Path)],
        node_args: &[&str],
    ) -> Result<Cluster> {
        let mut hosts: Vec<&str> = nodes.to_vec();
        hosts.push(ETCD_HOST);
        let net = Net::new(&hosts)?;
        let dir = private_dir()?;
        std::fs::write(dir.join("key"), Key::generate()?.to_hex())?;
        let etcd = Etcd::start(Some(net.host(ETCD_HOST)?))?;
        let mut cluster = Cluster {
            axon: axon.as_ref().to_path_buf(),
            kind_hosts: kind_hosts
                .iter()
                .map(|(kind, program)| ((*kind).to_owned(), program.to_path_buf()))
                .collect(),
            node_args: node_args.iter().map(|a| (*a).to_owned()).collect(),
            nodes: BTreeMap::new(),
            etcd: Some(etcd),
            net,
            dir,
        };
        for name in nodes {
            cluster.start_node(name)?;
        }
        Ok(cluster)
    }

    /// Starts (again) the node of host `name`.
    pub fn start_node(&mut self, name: &str) -> Result<()> {
        let host = self.net.host(name)?;
        let mut child = host
            .command(&self.axon)
            .args(["node", "--name", name, "--registry", &self.registry()])
            .args(["--advertise", &host.addr().to_string()])
            .arg("--key-file")
            .arg(self.key_file())
            .args(self.kind_hosts.iter().map(|(kind, program)| {
                let mut arg = std::ffi::OsString::from(format!("--kind-host={kind}="));
                arg.push(program);
                arg
            }))
            .args(&self.node_args)
            .env("AXON_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| Error::Config("node stdout not captured".into()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(std::io::Result::ok) {
                if let Some(rest) = line.strip_prefix("AXON-NS-READY ") {
                    let _ = tx.send(rest.to_owned());
                }
            }
        });
        let Ok(ready) = rx.recv_timeout(NODE_START) else {
            let _ = child.kill();
            let status = child.wait();
            return Err(Error::Config(format!(
                "node {name} did not start ({status:?})"
            )));
        };
        let mut words = ready.split_whitespace();
        let node = Node {
            child,
            endpoint: words.next().unwrap_or_default().to_owned(),
            runtime_dir: PathBuf::from(words.next().unwrap_or_default()),
        };
        if let Some(mut old) = self.nodes.insert(name.to_owned(), node) {
            old.stop();
        }
        Ok(())
    }

    /// The registry, `etcd://IP:PORT`.
    pub fn registry(&self) -> String {
        self.etcd
            .as_ref()
            .map_or_else(String::new, |e| format!("etcd://{}", e.addr()))
    }

    /// The deployment key file every node and CLI of this cluster uses.
    pub fn key_file(&self) -> PathBuf {
        self.dir.join("key")
    }

    /// The network: its hosts, to run programs or test code on them.
    pub fn net(&self) -> &Net {
        &self.net
    }

    /// The control endpoint of node `name`'s name server.
    pub fn endpoint(&self, name: &str) -> Result<&str> {
        self.nodes
            .get(name)
            .map(|n| n.endpoint.as_str())
            .ok_or_else(|| Error::invalid("node", name, "not in this cluster"))
    }

    /// Runs the `axon` CLI on the etcd host (a host that runs no node) with the cluster's key.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        self.cli_on(self.net.host(ETCD_HOST)?, args)
    }

    /// Runs the `axon` CLI on `host` with the cluster's key.
    pub fn cli_on(&self, host: &Host, args: &[&str]) -> Result<Output> {
        Ok(host
            .command(&self.axon)
            .args(args)
            .env("AXON_KEY_FILE", self.key_file())
            .env_remove("AXON_NAMESERVER")
            .stdin(Stdio::null())
            .output()?)
    }

    /// `axon deploy` of `manifest`; returns once every agent answers.
    pub fn deploy(&self, manifest: &str) -> Result<()> {
        let file = self.dir.join("deploy.toml");
        std::fs::write(&file, manifest)?;
        let file = file.to_string_lossy().into_owned();
        let registry = self.registry();
        checked(self.cli(&["deploy", &file, "--registry", &registry])?)
    }

    /// `axon down`: removes the deployment everywhere.
    pub fn down(&self) -> Result<()> {
        checked(self.cli(&["down", "--registry", &self.registry()])?)
    }

    /// Every agent of the cluster, as `axon ps --registry --json` lists them.
    pub fn ps(&self) -> Result<Vec<Json>> {
        let out = checked_output(self.cli(&["ps", "--registry", &self.registry(), "--json"])?)?;
        serde_json::from_slice(&out.stdout).map_err(|e| Error::Config(format!("ps --json: {e}")))
    }

    /// Agent `name`'s registry entry, if it runs.
    pub fn agent(&self, name: &str) -> Result<Option<Json>> {
        Ok(self.ps()?.into_iter().find(|e| e["name"] == name))
    }

    /// The node running agent `name`, if any.
    pub fn node_of(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .agent(name)?
            .and_then(|e| e["node"].as_str().map(str::to_owned)))
    }

    /// The pid of agent `name`, if it runs (pids are shared by every host of one machine).
    pub fn pid_of(&self, name: &str) -> Result<Option<u32>> {
        Ok(self
            .agent(name)?
            .and_then(|e| e["pid"].as_u64())
            .and_then(|p| u32::try_from(p).ok()))
    }

    /// Attribute `attr` of agent `name`, asked through its node.
    pub fn get_attr<T: serde::de::DeserializeOwned>(&self, name: &str, attr: &str) -> Result<T> {
        let args = serde_json::json!({ "name": attr }).to_string();
        let text = self.call(name, "get_attr", &args)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Config(format!("{name}.{attr} is {text:?}: {e}")))
    }

    /// Calls `method` on agent `name` through its node; the answer's JSON text.
    pub fn call(&self, name: &str, method: &str, args: &str) -> Result<String> {
        let node = self
            .node_of(name)?
            .ok_or_else(|| Error::invalid("agent", name, "not running in the cluster"))?;
        let endpoint = self.endpoint(&node)?.to_owned();
        let out = checked_output(self.cli(&["call", "--ns", &endpoint, name, method, args])?)?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Pulls host `name`'s cable: it reaches neither etcd nor any other host.
    pub fn cut(&self, name: &str) -> Result<()> {
        self.net.cut(name)
    }

    /// Plugs host `name`'s cable back in.
    pub fn heal(&self, name: &str) -> Result<()> {
        self.net.heal(name)
    }

    /// Crashes host `name`: SIGKILL to its node and every agent it runs.
    pub fn kill_node(&mut self, name: &str) -> Result<()> {
        self.net.kill_all(name)?;
        if let Some(mut node) = self.nodes.remove(name) {
            node.stop();
        }
        Ok(())
    }

    /// Polls `cond` until it holds or `timeout` passes; whether it held.
    pub fn wait_until(&self, timeout: Duration, cond: impl FnMut() -> bool) -> bool {
        super::wait_until(timeout, cond)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in self.nodes.values_mut() {
            node.stop();
        }
        self.etcd = None;
        let _ = std::fs::remove_dir_all(&self.dir);
        // `net` drops last (fields drop in order): it kills whatever still runs in its hosts.
    }
}

fn checked(out: Output) -> Result<()> {
    checked_output(out).map(|_| ())
}

fn checked_output(out: Output) -> Result<Output> {
    if out.status.success() {
        return Ok(out);
    }
    Err(Error::Config(format!(
        "axon exited {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// A private directory for the cluster's key and manifests.
fn private_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "axon-cluster-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
