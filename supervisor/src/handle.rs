//! `NameServer`: the blocking handle a script or test holds on a name server.
//!
//! A handle that started its name server also ends it: `shutdown` asks for
//! a graceful stop, and dropping the handle without one (a test that
//! panicked, say) shuts it down with a short grace and kills it if need be.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use axon_runtime::launch::{HostCommand, Signal, HOST_ENV};
use axon_runtime::protocol::auth;
use axon_runtime::{Address, Error, Proxy, Result, Value};

use crate::hosts::{Hosts, KIND_HOSTS_ENV};
use crate::lifecycle::{EventsArgs, EventsPage, StopReport, STOPPED_LINE};
use crate::methods::{AgentInfo, AgentStatus, GroupStatus, SpawnOptions};
use crate::policy::SupervisorSpec;
use crate::server::{BIND_ENV, HEART_ENV, NODE_DIR_ENV, READY_LINE, SUPERVISOR_ENV};

/// How to start a name server.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// The program that hosts the name server and its agents; the current executable when `None`.
    pub host: Option<HostCommand>,
    /// Endpoint to bind (e.g. `tcp://127.0.0.1:7100`); an ipc file in a fresh runtime directory when `None`.
    pub bind: Option<String>,
    /// How long the name server may take to start.
    pub start_timeout: Duration,
    /// How the node's supervisor restarts the agents spawned with a restart policy.
    pub supervisor: SupervisorSpec,
    /// Kinds hosted by another program than `host` (user binaries calling `axon::init`).
    ///
    /// Fixed here, when the node starts: a `spawn` request names a kind,
    /// never a program, so what a node can run is what its operator listed.
    pub kind_hosts: BTreeMap<String, HostCommand>,
    /// Whether this handle will start the name server again if it dies
    /// ([`NameServer::revive`], as `axon up` does): a crash of the name server
    /// then leaves its agents serving and its runtime directory in place, for
    /// the next one to adopt. Without it, a name server that panics stops its
    /// agents; one that is SIGKILLed leaves them to end by themselves once
    /// their orphan grace is over.
    pub heart: bool,
    /// The node's runtime directory (ipc files, key, saved state); a fresh
    /// one under the user's runtime directory when `None`. A directory where
    /// a node's supervisor died is taken over: its agents still running are
    /// adopted, and its key is used unless `AXON_KEY` names one.
    pub dir: Option<std::path::PathBuf>,
    /// Where the name server serves Prometheus metrics (`HOST:PORT`, port 0
    /// for any free one; see docs/metrics.md); nowhere when `None`. The bound
    /// address is in [`NodeStatus::metrics`](crate::NodeStatus) and in the
    /// runtime directory's `metrics` file.
    pub metrics: Option<std::net::SocketAddr>,
    /// Whether the name server and its agents log only to the node's log
    /// file (`<runtime dir>/axon.log`), with their stderr in
    /// `<runtime dir>/stderr.log`, as under `axon up`; when `false` they
    /// also print warnings (or what `AXON_LOG` asks) on this process's
    /// stderr. See docs/logging.md.
    pub detach_logs: bool,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            host: None,
            bind: None,
            start_timeout: Duration::from_secs(20),
            supervisor: SupervisorSpec::default(),
            kind_hosts: BTreeMap::new(),
            heart: false,
            dir: None,
            metrics: None,
            detach_logs: false,
        }
    }
}

/// Time `spawn` may take: the agent process must start, register and answer ping.
const SPAWN_TIMEOUT: Duration = Duration::from_secs(30);

/// Grace for agents when the handle is dropped without `shutdown`.
const DROP_GRACE: Duration = Duration::from_secs(2);

/// How long a call made by the watcher of [`NameServer::shutdown_watching`] may take.
const WATCH_TIMEOUT: Duration = Duration::from_millis(300);

/// A handle on a running name server.
pub struct NameServer {
    endpoint: String,
    proxy: RefCell<Proxy>,
    child: Option<Child>,
    /// The node's runtime directory, removed here if the name server cannot remove it itself.
    runtime_dir: Option<std::path::PathBuf>,
    done: bool,
    /// How this handle started its name server, to start it again ([`NameServer::revive`]).
    launch: Option<Launch>,
    /// What the name server said of its shutdown as it ended ([`STOPPED_LINE`]).
    stopped: Stopped,
}

/// Where the thread reading a name server's stdout leaves its [`StopReport`].
type Stopped = Arc<Mutex<Option<StopReport>>>;

/// What starts a name server process.
#[derive(Debug, Clone)]
struct Launch {
    host: HostCommand,
    options: NodeOptions,
    key: auth::Key,
}

impl Launch {
    fn command(&self) -> Result<std::process::Command> {
        let (host, options) = (&self.host, &self.options);
        let mut cmd = host.command("nameserver");
        cmd.env(HOST_ENV, host.to_env()?)
            .env(KIND_HOSTS_ENV, Hosts::to_env(&options.kind_hosts)?)
            .env(auth::KEY_ENV, self.key.to_hex())
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if let Some(bind) = &options.bind {
            cmd.env(BIND_ENV, bind);
        }
        if options.heart {
            cmd.env(HEART_ENV, "1");
        }
        if options.detach_logs {
            // Inherited by every agent it starts.
            cmd.env(axon_runtime::logging::DETACHED_ENV, "1");
        }
        if let Some(addr) = &options.metrics {
            cmd.env(crate::metrics::METRICS_ENV, addr.to_string());
        }
        if let Some(dir) = &options.dir {
            cmd.env(NODE_DIR_ENV, dir);
        }
        let spec = serde_json::to_string(&options.supervisor)
            .map_err(|e| Error::Config(format!("supervisor spec: {e}")))?;
        cmd.env(SUPERVISOR_ENV, spec);
        // Its own process group: a Ctrl-C meant for the script does not reach the agents
        // directly; the name server stops them in order when its parent goes.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        Ok(cmd)
    }

    /// Starts the process and waits for its ready line: endpoint and runtime directory.
    /// Its [`StopReport`], when it ends, goes to `stopped`.
    fn run(
        &self,
        mut cmd: std::process::Command,
        stopped: &Stopped,
    ) -> Result<(Child, String, Option<std::path::PathBuf>)> {
        let mut child = cmd.spawn()?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| Error::Config("name server stdout not captured".into()))?;
        match wait_ready(stdout, self.options.start_timeout, Arc::clone(stopped)) {
            Ok((endpoint, dir)) => Ok((child, endpoint, dir)),
            Err(e) => {
                // Not serving: make sure it is gone, and say how it ended when it ended by itself.
                let _ = child.kill();
                let status = child.wait()?;
                Err(match e {
                    Unready::Late(timeout) => {
                        Error::Timeout(timeout, "the name server to start".into())
                    }
                    Unready::Exited => {
                        Error::Config(format!("the name server exited during start-up ({status})"))
                    }
                })
            }
        }
    }
}

impl std::fmt::Debug for NameServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NameServer")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl NameServer {
    /// Starts a name server as a child process; returns once it serves.
    pub fn start(options: NodeOptions) -> Result<NameServer> {
        let host = match options.host.clone() {
            Some(h) => h,
            None => HostCommand::current()?,
        };
        // A node directory that holds a key (a node taken over) signs with it, unless one is given.
        let kept = options.dir.as_ref().map(|d| d.join("key"));
        if let Some(kept) = kept.filter(|k| k.exists() && auth::process_key().is_none()) {
            let text = std::fs::read_to_string(&kept)?;
            auth::install_key(auth::Key::from_hex(&text)?);
        }
        let launch = Launch {
            host,
            options,
            key: auth::ensure_key()?,
        };
        let stopped = Stopped::default();
        let (child, endpoint, runtime_dir) = launch.run(launch.command()?, &stopped)?;
        let mut ns = NameServer::attach(endpoint)?;
        ns.stopped = stopped;
        ns.child = Some(child);
        ns.runtime_dir = runtime_dir;
        ns.launch = Some(launch);
        Ok(ns)
    }

    /// Starts the name server again after it died (as `axon up`'s heart does):
    /// the new one binds the same endpoint, takes over the same runtime
    /// directory and key, adopts the agents still running and restarts, by
    /// their policy, those that ended meanwhile. Start the node with
    /// [`NodeOptions::heart`] so that a crash leaves the agents for it.
    ///
    /// Fails if the name server still runs, or if this handle did not start it.
    pub fn revive(&mut self) -> Result<()> {
        let (Some(launch), Some(dir)) = (self.launch.clone(), self.runtime_dir.clone()) else {
            return Err(Error::Config(
                "only the handle that started a name server can revive it".into(),
            ));
        };
        if let Some(child) = self.child.as_mut() {
            if child.try_wait()?.is_none() {
                return Err(Error::Config(format!(
                    "the name server (pid {}) still runs",
                    child.id()
                )));
            }
        }
        let mut cmd = launch.command()?;
        cmd.env(NODE_DIR_ENV, &dir).env(BIND_ENV, &self.endpoint);
        // Metrics at the address the dead one had bound, so that scrapers keep finding them.
        if let Ok(addr) = std::fs::read_to_string(dir.join(crate::metrics::METRICS_FILE)) {
            cmd.env(crate::metrics::METRICS_ENV, addr.trim());
        }
        let (child, endpoint, _) = launch.run(cmd, &self.stopped)?;
        if endpoint != self.endpoint {
            tracing::warn!(was = %self.endpoint, now = %endpoint, "the revived name server serves at another endpoint");
        }
        let mut proxy = Proxy::open("nameserver", endpoint.clone())?;
        proxy.set_timeout(self.proxy.borrow().timeout());
        *self.proxy.borrow_mut() = proxy;
        self.endpoint = endpoint;
        self.child = Some(child);
        self.done = false;
        Ok(())
    }

    /// Connects to a running name server at `endpoint`; fails with a timeout if none answers.
    pub fn connect(endpoint: &str, timeout: Duration) -> Result<NameServer> {
        let ns = NameServer::attach(endpoint.to_owned())?;
        let pong: String = ns.proxy.borrow_mut().call_timeout("ping", (), timeout)?;
        if pong != "pong" {
            return Err(Error::invalid("ping answer", pong, "expected pong"));
        }
        Ok(ns)
    }

    fn attach(endpoint: String) -> Result<NameServer> {
        let proxy = Proxy::open("nameserver", endpoint.clone())?;
        Ok(NameServer {
            endpoint,
            proxy: RefCell::new(proxy),
            child: None,
            runtime_dir: None,
            done: false,
            launch: None,
            stopped: Stopped::default(),
        })
    }

    /// Sets how long a call through this handle waits for the name server
    /// (spawn and shutdown have their own); a revived name server keeps it.
    pub fn set_timeout(&self, timeout: Duration) {
        self.proxy.borrow_mut().set_timeout(timeout);
    }

    /// The name server's control endpoint.
    pub fn address(&self) -> &str {
        &self.endpoint
    }

    /// The node's runtime directory (ipc files, and `key` for the CLI), when this handle started it.
    pub fn runtime_dir(&self) -> Option<&std::path::Path> {
        self.runtime_dir.as_deref()
    }

    /// The process id of the name server, when this handle started it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn call<A: serde::Serialize, R: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        args: A,
    ) -> Result<R> {
        self.proxy.borrow_mut().call(method, args)
    }

    /// Names of the registered agents, sorted.
    pub fn agents(&self) -> Result<Vec<String>> {
        self.call("list", ())
    }

    /// What the name server knows of `name`.
    pub fn info(&self, name: &str) -> Result<AgentInfo> {
        self.call("info", BTreeMap::from([("name", name)]))
    }

    /// The address `name` bound under `alias`.
    pub fn addr(&self, name: &str, alias: &str) -> Result<Address> {
        self.call("addr", BTreeMap::from([("name", name), ("alias", alias)]))
    }

    /// A proxy to the agent `name`.
    pub fn proxy(&self, name: &str) -> Result<Proxy> {
        let info = self.info(name)?;
        Proxy::open(info.name, info.control)
    }

    /// Spawns an agent; returns a proxy once it answers ping.
    pub fn spawn(&self, options: SpawnOptions) -> Result<Proxy> {
        let info: AgentInfo =
            self.proxy
                .borrow_mut()
                .call_timeout("spawn", options, SPAWN_TIMEOUT)?;
        Proxy::open(info.name, info.control)
    }

    /// Spawns a plain agent named `name`.
    pub fn run_agent(&self, name: &str) -> Result<Proxy> {
        self.spawn(SpawnOptions::default().name(name))
    }

    /// The node at a glance: its supervisor (pid, since when, how many the node had) and agents.
    pub fn status(&self) -> Result<crate::methods::NodeStatus> {
        self.call("status", ())
    }

    /// Every agent with its process, state, restarts, uptime, CPU and memory (`axon ps`).
    pub fn ps(&self) -> Result<Vec<AgentStatus>> {
        self.call("ps", ())
    }

    /// `ps` with each agent's counters as it last reported them with a lease renewal (at most
    /// a second old): one call, however many agents the node has.
    pub fn ps_with_stats(&self) -> Result<Vec<AgentStatus>> {
        self.call("ps", crate::methods::PsArgs { stats: true })
    }

    /// The node's agents and the connections between them (`axon graph`).
    pub fn topology(&self) -> Result<crate::topology::Topology> {
        self.call("topology", ())
    }

    /// The supervision tree's groups, the root first, with their intensity usage (`axon ps --tree`).
    pub fn groups(&self) -> Result<Vec<GroupStatus>> {
        self.call("groups", ())
    }

    /// The supervisor's lifecycle events after sequence number `after` (0: all it keeps):
    /// exits, restarts, give-ups, a takeover (see [`crate::lifecycle`]).
    pub fn events(&self, after: u64) -> Result<EventsPage> {
        let args = EventsArgs { after, limit: None };
        self.call("events", args)
    }

    /// How the node's shutdown went (agents stopped gracefully, killed), once the name
    /// server this handle started has ended and said so, waiting up to `patience` for
    /// its word; `None` if it has not (still running, or killed).
    pub fn stop_report(&self, patience: Duration) -> Option<StopReport> {
        let mut report = None;
        let deadline = Instant::now() + patience;
        loop {
            report = report.or_else(|| self.stopped.lock().ok().and_then(|r| r.clone()));
            if report.is_some() || Instant::now() >= deadline {
                return report;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends `signal` to the process of agent `name` (fault injection); returns its pid.
    pub fn signal(&self, name: &str, signal: Signal) -> Result<u32> {
        #[derive(serde::Serialize)]
        struct Args<'a> {
            name: &'a str,
            signal: Signal,
        }
        self.call("signal", Args { name, signal })
    }

    /// How the name server process ended, once it has (only for a handle that started it).
    pub fn try_wait(&mut self) -> Result<Option<std::process::ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => {
                let status = child.try_wait()?;
                if status.is_some() {
                    self.done = true;
                }
                Ok(status)
            }
            None => Ok(None),
        }
    }

    /// Stops the agent `name` gracefully, killing it after `grace`.
    pub fn shutdown_agent(&self, name: &str, grace: Duration) -> Result<()> {
        let args = BTreeMap::from([
            ("name", Value::Text(name.into())),
            ("timeout_ms", Value::Integer(millis(grace).into())),
        ]);
        let _: Value = self.proxy.borrow_mut().call_timeout(
            "shutdown_agent",
            args,
            grace + Duration::from_secs(5),
        )?;
        Ok(())
    }

    /// Shuts everything down: agents get 5 s to stop gracefully before being killed.
    pub fn shutdown(self) -> Result<()> {
        self.shutdown_timeout(Duration::from_secs(5))
    }

    /// Shuts everything down, giving agents `grace` before they are killed.
    ///
    /// Returns within 2 x `grace` + 2 s: each agent has `grace` from when it
    /// was asked, and asking thousands takes a while (at most `grace`; see
    /// docs/supervision.md, Shutdown). A node whose agents all stop when asked returns sooner.
    pub fn shutdown_timeout(mut self, grace: Duration) -> Result<()> {
        self.stop(grace)
    }

    fn stop(&mut self, grace: Duration) -> Result<()> {
        self.done = true;
        let answer = ask_shutdown(&mut self.proxy.borrow_mut(), grace);
        self.reap(Duration::from_millis(400));
        answer
    }

    /// Shuts everything down as [`NameServer::shutdown_timeout`] does, calling `watch`
    /// with this handle every `period` meanwhile (e.g. to show progress from
    /// [`NameServer::ps`] or [`NameServer::events`]; the name server answers while it stops).
    /// Calls `watch` makes time out after 300 ms: a name server
    /// that ends while one is on its way does not hold the answer up longer.
    /// Returns how the agents stopped, when the name server said so.
    pub fn shutdown_watching(
        mut self,
        grace: Duration,
        period: Duration,
        mut watch: impl FnMut(&NameServer),
    ) -> Result<Option<StopReport>> {
        self.done = true;
        self.set_timeout(WATCH_TIMEOUT);
        let endpoint = self.endpoint.clone();
        let (tx, rx) = mpsc::channel();
        // A second connection asks, so that this handle's stays free for `watch`.
        std::thread::spawn(move || {
            let answer =
                Proxy::open("nameserver", endpoint).and_then(|mut p| ask_shutdown(&mut p, grace));
            // The receiver waits for this unless it panicked in `watch`.
            let _ = tx.send(answer);
        });
        let answer = loop {
            match rx.recv_timeout(period) {
                Ok(answer) => break answer,
                Err(mpsc::RecvTimeoutError::Timeout) => watch(&self),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Err(Error::Config("the shutdown request was lost".into()))
                }
            }
        };
        self.reap(Duration::from_millis(400));
        answer.map(|()| self.stop_report(Duration::from_millis(500)))
    }

    /// Waits for the name server process to exit, killing it after `patience`; then
    /// removes its runtime directory, which a name server that was killed could not.
    fn reap(&mut self, patience: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + patience;
        let mut exited = false;
        while !exited && Instant::now() < deadline {
            exited = matches!(child.try_wait(), Ok(Some(_)));
            if !exited {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if !exited {
            // It did not exit in time. Its agents leave by themselves once their orphan grace is over.
            let _ = child.kill();
            let _ = child.wait();
        }
        // Gone after a graceful exit; otherwise its files are ours to remove.
        if let Some(dir) = self.runtime_dir.take() {
            crate::rundir::remove(&dir);
        }
    }
}

impl Drop for NameServer {
    fn drop(&mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        // Already gone (a signal, a shutdown through another handle): only reap it.
        let exited = matches!(child.try_wait(), Ok(Some(_)));
        if !self.done && !exited {
            // Best effort: a failure here still ends in a kill in `reap`.
            let _ = self.stop(DROP_GRACE);
        }
        self.reap(Duration::ZERO);
    }
}

/// Asks the name server behind `proxy` to shut the node down, giving agents `grace`.
fn ask_shutdown(proxy: &mut Proxy, grace: Duration) -> Result<()> {
    let args = BTreeMap::from([("timeout_ms", millis(grace))]);
    let wait = 2 * grace + Duration::from_millis(1500);
    let _: Value = proxy.call_timeout("shutdown", args, wait)?;
    Ok(())
}

fn millis(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Why a name server did not report ready.
enum Unready {
    /// Not within the time allowed.
    Late(Duration),
    /// Its stdout closed first: it exited (or will not tell).
    Exited,
}

/// Reads the name server's stdout until its ready line; forwards the rest to ours, but for
/// its [`STOPPED_LINE`], whose report goes to `stopped`.
fn wait_ready(
    stdout: std::process::ChildStdout,
    timeout: Duration,
    stopped: Stopped,
) -> Result<(String, Option<std::path::PathBuf>), Unready> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(json) = line.strip_prefix(STOPPED_LINE) {
                let report = serde_json::from_str(json.trim()).ok();
                if let Ok(mut slot) = stopped.lock() {
                    *slot = report;
                }
                continue;
            }
            match (line.strip_prefix(READY_LINE), tx.as_ref()) {
                (Some(rest), Some(ready)) => {
                    let mut words = rest.split_whitespace();
                    let endpoint = words.next().unwrap_or_default().to_owned();
                    let _ = ready.send((endpoint, words.next().map(std::path::PathBuf::from)));
                    tx = None;
                }
                // Agents print to the same pipe: pass their output on.
                _ => {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    });
    rx.recv_timeout(timeout).map_err(|e| match e {
        mpsc::RecvTimeoutError::Timeout => Unready::Late(timeout),
        mpsc::RecvTimeoutError::Disconnected => Unready::Exited,
    })
}
