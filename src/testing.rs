//! Helpers for tests that spawn agents from their own test binary.
//!
//! A libtest binary cannot be re-run "in agent mode" from `main`, so the
//! test file declares one ignored test that is the host entry point:
//!
//! ```ignore
//! axon::test_host!(my_registry());
//!
//! #[test]
//! fn agents_talk() {
//!     let ns = axon::testing::node().unwrap();   // name server re-runs this binary
//!     let mut a = ns.run_agent("a").unwrap();     // so do the agents it spawns
//!     a.ping().unwrap();
//! }
//! ```
//!
//! Every process started this way dies with the test: the name server is
//! shut down when its handle drops (even on panic) and is killed by the
//! kernel if the test thread goes away first.
//!
//! Fault injection: [`Deployment`] runs a manifest with the real `axon up`;
//! [`netns::Net`] makes several hosts (network namespaces on a switch) that
//! can be cut off, healed and crashed; [`Etcd`] runs a throw-away etcd on
//! one of them or on the loopback.

use std::time::{Duration, Instant};

use axon_runtime::launch::HostCommand;
use axon_runtime::{Registry, Result};
use axon_supervisor::{NameServer, NodeOptions};

/// Name of the ignored test that [`test_host!`](crate::test_host) declares.
pub const HOST_TEST: &str = "axon_test_host";

/// Declares the ignored test through which axon re-runs this test binary as
/// an agent host or name server.
#[macro_export]
macro_rules! test_host {
    ($registry:expr) => {
        #[test]
        #[ignore = "entry point for agent processes, run by axon itself"]
        fn axon_test_host() {
            $crate::testing::serve($registry);
        }
    };
}

/// Body of the host test: becomes the agent or name server this process was started as.
pub fn serve(registry: Registry) {
    if let Err(e) = crate::init(registry) {
        panic!("axon test host failed: {e}");
    }
}

/// How to re-run the current test binary as a host: only its host test, in the foreground.
pub fn host_command() -> Result<HostCommand> {
    let program = std::env::current_exe()?;
    let args = [
        HOST_TEST,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ];
    Ok(HostCommand {
        program,
        args: args.iter().map(|a| a.to_string()).collect(),
    })
}

/// Starts a name server whose agents are hosted by the current test binary.
pub fn node() -> Result<NameServer> {
    node_with(NodeOptions::default())
}

/// Starts a name server with `options`, hosting agents in the current test binary.
pub fn node_with(mut options: NodeOptions) -> Result<NameServer> {
    options.host = Some(host_command()?);
    crate::run_nameserver_with(options)
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Whether a process with this pid is alive: it exists and is not a zombie.
pub use axon_runtime::launch::alive as process_alive;

#[cfg(feature = "cluster")]
mod cluster;
mod deployment;
mod etcd;
pub mod netns;
#[cfg(feature = "cluster")]
pub use cluster::Cluster;
pub use deployment::Deployment;
pub use etcd::Etcd;
