//! The trading floor across three hosts on one machine: network namespaces
//! a, b and c each run an `axon node`, a fourth runs etcd; the floor of
//! `examples/cluster/floor.toml` is deployed over them, `axon ps --registry`
//! is printed every few seconds, and after a while host a crashes (every
//! process on it SIGKILLed) to show its agents coming back on b and c.
//! Ctrl-C (SIGINT) or SIGTERM tears everything down: nodes, agents, etcd,
//! namespaces.
//!
//! Run it through the script, which builds what it needs (root: `ip netns`):
//!   examples/cluster/run.sh
//! or by hand, from the repository root:
//!   cargo build --release -p axon -p axon-example-trading --features axon/cluster \
//!       --bin axon --bin trading-floor --example cluster
//!   target/release/examples/cluster \
//!       target/release/axon target/release/trading-floor examples/cluster/floor.toml

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::testing::Cluster;

/// The trading kinds, hosted on every node by the `trading-floor` binary.
const KINDS: [&str; 5] = ["market", "risk", "blotter", "trader", "monitor"];

/// The hosts that run a node.
const HOSTS: [&str; 3] = ["a", "b", "c"];

/// The host that crashes, and when.
const VICTIM: &str = "a";
const CRASH_AFTER: Duration = Duration::from_secs(15);

/// How often the cluster's agents are listed.
const REPORT_EVERY: Duration = Duration::from_secs(3);

/// Set by SIGINT / SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cluster example: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [axon, floor, manifest] = args.as_slice() else {
        bail!("usage: cluster AXON TRADING_FLOOR MANIFEST (examples/cluster/run.sh passes them)");
    };
    let (axon, floor) = (absolute(axon)?, absolute(floor)?);
    let manifest = std::fs::read_to_string(manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }

    let kind_hosts: Vec<(&str, &Path)> = KINDS.iter().map(|k| (*k, floor.as_path())).collect();
    println!("starting etcd and nodes on hosts {HOSTS:?} (network namespaces)");
    // Dropped on every way out of this function (Ctrl-C, an error, a panic): it tears down
    // the nodes, their agents, etcd and the namespaces.
    let mut cluster =
        Cluster::start_hosting(&axon, &HOSTS, &kind_hosts).context("starting the cluster")?;
    println!("registry {}; deploying the floor", cluster.registry());
    cluster.deploy(&manifest).context("deploying the floor")?;

    let started = Instant::now();
    let mut crashed = false;
    let mut next_report = Instant::now();
    while !STOP.load(Ordering::SeqCst) {
        if !crashed && started.elapsed() >= CRASH_AFTER {
            crashed = true;
            println!("\n*** host {VICTIM} crashes: SIGKILL to its node and every agent on it ***");
            cluster.kill_node(VICTIM).context("crashing host a")?;
        }
        if Instant::now() >= next_report {
            next_report += REPORT_EVERY;
            report(&cluster, started.elapsed());
        }
        // Short naps, so that Ctrl-C is answered at once.
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("\nstopping: nodes, agents, etcd and namespaces");
    Ok(())
}

/// Prints `axon ps --registry` and the monitor's latest line.
fn report(cluster: &Cluster, elapsed: Duration) {
    println!("\n--- t = {:.0} s ---", elapsed.as_secs_f64());
    let registry = cluster.registry();
    match cluster.cli(&["ps", "--registry", &registry]) {
        Ok(out) if out.status.success() => print!("{}", String::from_utf8_lossy(&out.stdout)),
        Ok(out) => println!("ps: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => println!("ps: {e}"),
    }
    let line = r#"{"name":"line"}"#;
    match cluster.cli(&["call", "--registry", &registry, "monitor", "get_attr", line]) {
        Ok(out) if out.status.success() => {
            println!("monitor: {}", String::from_utf8_lossy(&out.stdout).trim())
        }
        Ok(out) => println!("monitor: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(e) => println!("monitor: {e}"),
    }
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let path = std::env::current_dir()?.join(path);
    if !path.is_file() {
        bail!("{} does not exist (build it first)", path.display());
    }
    Ok(path)
}
