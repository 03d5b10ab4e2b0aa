//! Fault-injection helpers: a deployment run by the real `axon up`, driven
//! from a test.
//!
//! ```no_run
//! use std::time::Duration;
//! use axon::launch::Signal;
//! use axon::testing::Deployment;
//!
//! let manifest = r#"
//! [[agent]]
//! name = "echo"
//! kind = "echo"
//! "#;
//! // In the tests of a package with the `axon` binary: env!("CARGO_BIN_EXE_axon").
//! let dep = Deployment::start("target/debug/axon", manifest).unwrap();
//! let pid = dep.pid("echo").unwrap();
//! dep.kill("echo", Signal::Kill).unwrap();
//! let restarted = dep.wait_restarted("echo", pid, Duration::from_secs(10)).unwrap();
//! assert_ne!(restarted.pid, Some(pid));
//! dep.stop().unwrap(); // or drop it: nothing is left behind either way
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use axon_runtime::launch::{die_with_parent, signal, Signal};
use axon_runtime::logging::LogRecord;
use axon_runtime::protocol::auth;
use axon_runtime::{Error, Proxy, Result};
use axon_supervisor::{AgentStatus, NameServer, NodeStatus};

/// How long `axon up` may take to start every agent.
const UP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a deployment may take to stop once asked.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The line `axon up` prints once every agent is up.
const READY_LINE: &str = "AXON-UP-READY";

/// A deployment run by `axon up` in a child process, for tests.
///
/// Dropping it stops the deployment (SIGTERM, then SIGKILL after a
/// deadline) and removes its manifest, so a failing test leaves nothing
/// behind.
pub struct Deployment {
    axon: PathBuf,
    up: Option<Child>,
    dir: PathBuf,
    ns: NameServer,
    endpoint: String,
    key_file: PathBuf,
    /// Every line `axon up` wrote to stderr, and every event of the node's log file, so far.
    events: Arc<Mutex<Vec<String>>>,
    /// Every line `axon up` wrote to stdout so far.
    output: Arc<Mutex<Vec<String>>>,
    /// The node's log file, copied into `events` when they are asked for.
    log: Option<LogCopy>,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Deployment {
    /// Writes `manifest` to a private directory and runs `axon up` on it
    /// (the `axon` binary at `axon`); returns once every agent is up.
    pub fn start(axon: impl AsRef<Path>, manifest: &str) -> Result<Deployment> {
        Self::launch(axon.as_ref(), manifest, None, &[])
    }

    /// Like [`Deployment::start`], with more arguments to `axon up` (e.g. `["--metrics", "127.0.0.1:0"]`).
    pub fn start_with(axon: impl AsRef<Path>, manifest: &str, args: &[&str]) -> Result<Deployment> {
        Self::launch(axon.as_ref(), manifest, None, args)
    }

    /// Like [`Deployment::start`], with the node's runtime directory at
    /// `node_dir` (`axon up --node-dir`): a directory whose supervisor died
    /// is taken over, and its running agents adopted.
    pub fn start_in(axon: impl AsRef<Path>, manifest: &str, node_dir: &Path) -> Result<Deployment> {
        Self::launch(axon.as_ref(), manifest, Some(node_dir), &[])
    }

    fn launch(
        axon: &Path,
        manifest: &str,
        node_dir: Option<&Path>,
        args: &[&str],
    ) -> Result<Deployment> {
        let axon = axon.to_path_buf();
        let dir = scratch_dir()?;
        let file = dir.join("deploy.toml");
        std::fs::write(&file, manifest)?;
        // Every deployment of this process signs with this process's key.
        let key = auth::ensure_key()?;
        let mut cmd = Command::new(&axon);
        cmd.arg("up").arg(&file).args(args);
        if let Some(node_dir) = node_dir {
            cmd.arg("--node-dir").arg(node_dir);
        }
        cmd.env(auth::KEY_ENV, key.to_hex())
            .env_remove("AXON_NAMESERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd, Signal::Term);
        let mut up = match cmd.spawn() {
            Ok(up) => up,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e.into());
            }
        };
        let events = Arc::new(Mutex::new(Vec::new()));
        if let Some(err) = up.stderr.take() {
            keep_events(err, Arc::clone(&events));
        }
        let output = Arc::new(Mutex::new(Vec::new()));
        let ready = up
            .stdout
            .take()
            .ok_or_else(|| Error::Config("axon up stdout not captured".into()))
            .and_then(|out| wait_ready(out, UP_TIMEOUT, Arc::clone(&output)));
        let (endpoint, key_file) = match ready {
            Ok(r) => r,
            Err(e) => {
                let _ = up.kill();
                let status = up.wait();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(Error::Config(format!(
                    "axon up did not come up ({status:?}): {e}"
                )));
            }
        };
        let ns = NameServer::connect(&endpoint, Duration::from_secs(10))?;
        let log = key_file
            .parent()
            .map(|dir| LogCopy::start(&dir.join(axon_runtime::logging::LOG_FILE), &events));
        Ok(Deployment {
            log,
            axon,
            up: Some(up),
            dir,
            ns,
            endpoint,
            key_file,
            events,
            output,
        })
    }

    /// Every agent's pid (`None` while it has no process), by name.
    pub fn pids(&self) -> Result<BTreeMap<String, Option<u32>>> {
        Ok(self.ps()?.into_iter().map(|s| (s.name, s.pid)).collect())
    }

    /// The lines `axon up` wrote to stderr and the events of the node's log
    /// file (in their human form, [`LogRecord::line`](axon_runtime::logging::LogRecord::line))
    /// so far, each source in order: the name server's lifecycle events
    /// (`agent spawned agent=a`, `agent exited agent=a`, ...) in the order
    /// the supervisor acted; also after `axon up` ended and removed the file.
    pub fn events(&self) -> Vec<String> {
        let Ok(mut events) = self.events.lock() else {
            return Vec::new();
        };
        if let Some(log) = &self.log {
            events.extend(log.poll());
        }
        events.clone()
    }

    /// The lines `axon up` wrote to stdout so far, in order (the start summary,
    /// status lines, lifecycle events, the final summary; the ready line too).
    pub fn output(&self) -> Vec<String> {
        self.output.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Waits until a line `axon up` wrote to stdout passes `check`; returns it.
    pub fn wait_output(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> Result<String> {
        let mut found = None;
        super::wait_until(timeout, || {
            found = self.output().into_iter().find(|l| check(l));
            found.is_some()
        });
        found.ok_or_else(|| Error::Timeout(timeout, format!("axon up to print {what}")))
    }

    /// The name server's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The deployment key file (for `AXON_KEY_FILE`).
    pub fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// The node's runtime directory (its log file is `axon.log` there).
    pub fn runtime_dir(&self) -> Option<&Path> {
        self.key_file.parent()
    }

    /// The pid of the `axon up` process, which runs the name server
    /// (to stop and continue it, e.g. with SIGSTOP / SIGCONT).
    pub fn up_pid(&self) -> Option<u32> {
        self.up.as_ref().map(Child::id)
    }

    /// The name server.
    pub fn nameserver(&self) -> &NameServer {
        &self.ns
    }

    /// A proxy to agent `name`.
    pub fn proxy(&self, name: &str) -> Result<Proxy> {
        self.ns.proxy(name)
    }

    /// Every agent, as `axon ps --json` lists them.
    pub fn ps(&self) -> Result<Vec<AgentStatus>> {
        self.ns.ps()
    }

    /// The status of agent `name`.
    pub fn status(&self, name: &str) -> Result<AgentStatus> {
        self.ps()?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| Error::invalid("agent", name, "not in this deployment"))
    }

    /// The pid of agent `name`, when it has a process.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.status(name).ok().and_then(|s| s.pid)
    }

    /// Sends `signal` to agent `name` (fault injection); returns the pid hit.
    pub fn kill(&self, name: &str, signal: Signal) -> Result<u32> {
        self.ns.signal(name, signal)
    }

    /// Waits until agent `name` runs in a process other than `old_pid`.
    pub fn wait_restarted(
        &self,
        name: &str,
        old_pid: u32,
        timeout: Duration,
    ) -> Result<AgentStatus> {
        self.wait_status(name, "restarted", timeout, |s| {
            s.state == "running" && s.pid.is_some_and(|p| p != old_pid)
        })
    }

    /// Waits until agent `name` is in `state` (`running`, `failed`, `stopped`, ...).
    pub fn wait_state(&self, name: &str, state: &str, timeout: Duration) -> Result<AgentStatus> {
        self.wait_status(name, state, timeout, |s| s.state == state)
    }

    /// Waits until the status of `name` passes `check`; the timeout error says `what` and the last status seen.
    fn wait_status(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&AgentStatus) -> bool,
    ) -> Result<AgentStatus> {
        let mut last = None;
        let done = super::wait_until(timeout, || {
            last = self.status(name).ok();
            last.as_ref().is_some_and(&check)
        });
        match (done, last) {
            (true, Some(s)) => Ok(s),
            (_, last) => Err(Error::Timeout(
                timeout,
                format!("{name} to be {what} (last seen: {last:?})"),
            )),
        }
    }

    /// The node at a glance: its supervisor's pid, how many supervisors it had, its agents.
    pub fn node_status(&self) -> Result<NodeStatus> {
        self.ns.status()
    }

    /// SIGKILLs the supervisor (the name server process) and waits until the
    /// one `axon up` starts in its place answers; returns the new one's status.
    /// The agents are not touched: they serve on and are adopted.
    pub fn kill_supervisor(&self, timeout: Duration) -> Result<NodeStatus> {
        let old = self.node_status()?.supervisor.pid;
        signal(old, Signal::Kill)?;
        let mut last = None;
        let back = super::wait_until(timeout, || {
            last = self.node_status().ok();
            last.as_ref().is_some_and(|s| s.supervisor.pid != old)
        });
        match (back, last) {
            (true, Some(status)) => Ok(status),
            _ => Err(Error::Timeout(
                timeout,
                format!("a supervisor in place of pid {old}"),
            )),
        }
    }

    /// Runs the `axon` CLI against this deployment, e.g. `cli(&["ps", "--json"])`.
    pub fn cli(&self, args: &[&str]) -> Result<Output> {
        Ok(Command::new(&self.axon)
            .args(args)
            .env("AXON_NAMESERVER", &self.endpoint)
            .env("AXON_KEY_FILE", &self.key_file)
            .stdin(Stdio::null())
            .output()?)
    }

    /// Waits for `axon up` to end by itself (e.g. the supervisor gave up and escalated).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus> {
        let Some(up) = self.up.as_mut() else {
            return Err(Error::Config("the deployment was already stopped".into()));
        };
        let mut ended = None;
        super::wait_until(timeout, || {
            ended = up.try_wait().transpose();
            ended.is_some()
        });
        match ended {
            Some(status) => {
                self.up = None;
                Ok(status?)
            }
            None => Err(Error::Timeout(timeout, "axon up to exit".into())),
        }
    }

    /// Stops the deployment as Ctrl-C does; returns how `axon up` ended.
    pub fn stop(mut self) -> Result<ExitStatus> {
        self.terminate()
    }

    /// Stops the deployment as Ctrl-C does (SIGTERM), keeping the handle: what
    /// `axon up` printed stays readable ([`Deployment::output`]).
    pub fn terminate(&mut self) -> Result<ExitStatus> {
        let Some(up) = self.up.as_ref() else {
            return Err(Error::Config("the deployment was already stopped".into()));
        };
        let _ = signal(up.id(), Signal::Term);
        match self.wait_exit(STOP_TIMEOUT) {
            Ok(status) => Ok(status),
            Err(e) => {
                if let Some(mut up) = self.up.take() {
                    let _ = up.kill();
                    let _ = up.wait();
                }
                Err(e)
            }
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if self.up.is_some() {
            let _ = self.terminate();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A private directory for one deployment's manifest.
fn scratch_dir() -> Result<PathBuf> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "axon-deploy-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Copies `axon up`'s stderr to ours, line by line, keeping each line in `events`.
fn keep_events(err: std::process::ChildStderr, events: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(std::io::Result::ok) {
            eprintln!("{line}");
            if let Ok(mut events) = events.lock() {
                events.push(line);
            }
        }
    });
}

/// The node's log file, read into a deployment's events whenever they are asked for.
///
/// Opened at once (the node removes the file when it ends; the open file stays readable).
struct LogCopy(Mutex<axon_runtime::logging::Tail>);

impl LogCopy {
    /// Opens the file at `path`; its events so far go to `events`.
    fn start(path: &Path, events: &Mutex<Vec<String>>) -> LogCopy {
        let copy = LogCopy(Mutex::new(axon_runtime::logging::Tail::new(path)));
        let first = copy.poll();
        if let Ok(mut events) = events.lock() {
            events.extend(first);
        }
        copy
    }

    /// The events logged since the last poll, in their human form.
    fn poll(&self) -> Vec<String> {
        let Ok(mut tail) = self.0.lock() else {
            return Vec::new();
        };
        let lines = tail.poll().unwrap_or_default();
        let records = lines.iter().filter_map(|l| LogRecord::from_json(l));
        records.map(|r| r.line()).collect()
    }
}

/// Reads `axon up`'s stdout until its ready line; every line is kept in `output`,
/// the others go to our stdout too.
fn wait_ready(
    out: std::process::ChildStdout,
    timeout: Duration,
    output: Arc<Mutex<Vec<String>>>,
) -> Result<(String, PathBuf)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(out).lines();
        let mut sent = false;
        for line in lines.by_ref().map_while(std::io::Result::ok) {
            if let Ok(mut output) = output.lock() {
                output.push(line.clone());
            }
            if !sent {
                if let Some(rest) = line.strip_prefix(READY_LINE) {
                    let mut parts = rest.split_whitespace();
                    let ready = parts
                        .next()
                        .map(str::to_owned)
                        .zip(parts.next().map(PathBuf::from));
                    let _ = tx.send(ready);
                    sent = true;
                    continue;
                }
            }
            println!("{line}");
        }
        if !sent {
            let _ = tx.send(None);
        }
    });
    match rx.recv_timeout(timeout) {
        Ok(Some(ready)) => Ok(ready),
        Ok(None) => Err(Error::Config("axon up exited before it was ready".into())),
        Err(_) => Err(Error::Timeout(timeout, "axon up to be ready".into())),
    }
}
