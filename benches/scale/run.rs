//! One deployment of N `echo` agents under the real `axon up`, measured from
//! start to shutdown, and the bare-process peer of its start. Whatever it
//! started is gone when it returns, also when it fails (`Up`'s drop).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use axon::launch::{signal, Signal};
use axon::protocol::auth;
use axon::testing::wait_until;
use axon::NameServer;

use crate::procfs;

/// The line `axon up` prints once every agent is up: `AXON-UP-READY <endpoint> <key file>`.
const READY_LINE: &str = "AXON-UP-READY";

/// What one deployment of `agents` measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub agents: usize,
    /// `axon up` to its ready line (every agent spawned, registered, answering the supervisor's ping), ms.
    pub ready_ms: f64,
    /// The peer: `agents` bare starts to exit of the same binary from one loop, ms.
    pub raw_ms: f64,
    /// A ping to every agent from one client, once ready, ms; and how many answered.
    pub ping_sweep_ms: f64,
    pub answered: usize,
    pub ns_rss_kib: u64,
    pub ns_pss_kib: u64,
    pub ns_fds: u64,
    pub ns_threads: u64,
    /// Sum of the agents' PSS, KiB.
    pub agents_pss_kib: u64,
    /// Threads of one agent.
    pub agent_threads: u64,
    /// `axon ps` at full size, ms: each of three runs.
    pub ps_ms: Vec<f64>,
    /// SIGTERM to `axon up` until it exited, ms.
    pub shutdown_ms: f64,
    pub graceful: u64,
    pub killed: u64,
    /// Agent processes still alive after `axon up` ended.
    pub left: usize,
    /// `/proc/loadavg` before the start and at full size.
    pub load: (String, String),
}

/// `axon up` on a manifest of `agents` echo agents; measured; stopped.
pub fn deployment(axon: &Path, agents: usize) -> Result<Figures> {
    let raw_ms = bare_starts(axon, agents)?;
    let load_before = loadavg();
    let mut up = Up::start(axon, agents)?;
    let ready_ms =
        up.ready(Duration::from_secs(60) + Duration::from_millis(agents as u64 * 200))?;
    eprintln!("scale: {agents} agents ready in {ready_ms:.0} ms");
    let ns = NameServer::connect(&up.endpoint, Duration::from_secs(30))?;
    ns.set_timeout(Duration::from_secs(10));
    let ps = ns.ps()?;
    up.pids = ps.iter().filter_map(|s| s.pid).collect();
    if up.pids.len() != agents {
        bail!("{} of {agents} agents have a process", up.pids.len());
    }
    let (ping_sweep_ms, answered) = ping_all(&ns, ps.iter().map(|s| s.name.as_str()));
    let ns_pid = ns.status()?.supervisor.pid;
    let ns_status = procfs::status(ns_pid)?;
    let mut agents_pss_kib = 0;
    for pid in &up.pids {
        agents_pss_kib += procfs::pss_kib(*pid).unwrap_or(0);
    }
    let agent_threads = procfs::status(up.pids[0])?.threads;
    let ps_ms = (0..3).map(|_| up.cli_ms(&["ps"])).collect::<Result<_>>()?;
    let load_full = loadavg();
    let mut figures = Figures {
        agents,
        ready_ms,
        raw_ms,
        ping_sweep_ms,
        answered,
        ns_rss_kib: ns_status.rss_kib,
        ns_pss_kib: procfs::pss_kib(ns_pid)?,
        ns_fds: procfs::fds(ns_pid)?,
        ns_threads: ns_status.threads,
        agents_pss_kib,
        agent_threads,
        ps_ms,
        shutdown_ms: 0.0,
        graceful: 0,
        killed: 0,
        left: 0,
        load: (load_before, load_full),
    };
    drop(ns);
    let (took, summary) = up.stop(Duration::from_secs(120))?;
    figures.shutdown_ms = took.as_secs_f64() * 1e3;
    (figures.graceful, figures.killed) =
        stop_counts(&summary).ok_or_else(|| anyhow!("no stop summary in {summary:?}"))?;
    figures.left = up.pids.iter().filter(|p| alive(**p)).count();
    Ok(figures)
}

/// `agents` bare starts to exit of `axon --version`, from one loop that
/// starts them all and then reaps them all, ms.
fn bare_starts(axon: &Path, agents: usize) -> Result<f64> {
    let started = Instant::now();
    let mut children = Vec::with_capacity(agents);
    for _ in 0..agents {
        let child = Command::new(axon)
            .arg("--version")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("starting a bare process")?;
        children.push(child);
    }
    for mut c in children {
        c.wait()?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e3)
}

/// Pings every agent from one client; (ms, how many answered). Ten failures
/// in a row end the sweep: the node is not answering.
fn ping_all<'a>(ns: &NameServer, names: impl Iterator<Item = &'a str>) -> (f64, usize) {
    let started = Instant::now();
    let (mut answered, mut failed) = (0, 0);
    for name in names {
        match ns.proxy(name).and_then(|mut p| p.ping()) {
            Ok(()) => (answered, failed) = (answered + 1, 0),
            Err(_) if failed == 9 => break,
            Err(_) => failed += 1,
        }
    }
    (started.elapsed().as_secs_f64() * 1e3, answered)
}

/// `(graceful, killed)` from `axon up`'s final line: `... N agents stopped gracefully, K killed ...`.
fn stop_counts(line: &str) -> Option<(u64, u64)> {
    let (head, tail) = line.split_once(" stopped gracefully, ")?;
    let graceful = head.split_whitespace().rev().nth(1)?.parse().ok()?;
    let killed = tail.split_whitespace().next()?.parse().ok()?;
    Some((graceful, killed))
}

fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn alive(pid: u32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// A running `axon up`: stopped, its agents killed and its files removed when dropped.
struct Up {
    child: Option<Child>,
    dir: PathBuf,
    axon: PathBuf,
    lines: mpsc::Receiver<String>,
    started: Instant,
    endpoint: String,
    key_file: PathBuf,
    /// The agents' processes once known, to kill whatever a failed stop leaves.
    pids: Vec<u32>,
}

impl Up {
    fn start(axon: &Path, agents: usize) -> Result<Up> {
        let dir = std::env::temp_dir().join(format!("axon-scale-{}-{agents}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let manifest = dir.join("scale.toml");
        let mut text = String::with_capacity(agents * 48);
        for i in 0..agents {
            text.push_str(&format!(
                "[[agent]]\nname = \"e{i:05}\"\nkind = \"echo\"\n\n"
            ));
        }
        std::fs::write(&manifest, text)?;
        let key = auth::ensure_key()?;
        let started = Instant::now();
        let mut child = Command::new(axon)
            .arg("up")
            .arg(&manifest)
            .env(auth::KEY_ENV, key.to_hex())
            .env_remove("AXON_NAMESERVER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, which the name server and the agents join: killed whole on failure.
            .process_group(0)
            .spawn()
            .context("starting axon up")?;
        let out = child.stdout.take().context("axon up's stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(std::io::Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Ok(Up {
            child: Some(child),
            dir,
            axon: axon.to_owned(),
            lines,
            started,
            endpoint: String::new(),
            key_file: PathBuf::new(),
            pids: Vec::new(),
        })
    }

    /// Waits for the ready line; answers the time since the start, ms.
    fn ready(&mut self, timeout: Duration) -> Result<f64> {
        loop {
            let left = timeout.saturating_sub(self.started.elapsed());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow!("axon up not ready within {timeout:?}"))?;
            if let Some(rest) = line.strip_prefix(READY_LINE) {
                let took = self.started.elapsed().as_secs_f64() * 1e3;
                let mut parts = rest.split_whitespace();
                self.endpoint = parts.next().context("ready line: endpoint")?.to_owned();
                self.key_file = parts.next().context("ready line: key file")?.into();
                return Ok(took);
            }
        }
    }

    /// Runs `axon ARGS` against the node; its time, ms.
    fn cli_ms(&self, args: &[&str]) -> Result<f64> {
        let started = Instant::now();
        let out = Command::new(&self.axon)
            .args(args)
            .env("AXON_NAMESERVER", &self.endpoint)
            .env("AXON_KEY_FILE", &self.key_file)
            .stdin(Stdio::null())
            .output()?;
        let took = started.elapsed().as_secs_f64() * 1e3;
        if !out.status.success() {
            bail!("axon {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(took)
    }

    /// SIGTERM, then waits for `axon up` to end; (time, its stop summary line).
    fn stop(&mut self, timeout: Duration) -> Result<(Duration, String)> {
        let child = self.child.as_mut().context("axon up already stopped")?;
        let started = Instant::now();
        signal(child.id(), Signal::Term)?;
        while child.try_wait()?.is_none() {
            if started.elapsed() > timeout {
                bail!("axon up did not stop within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = started.elapsed();
        self.child = None;
        // The reader ends at the end of the output: every line is in by then.
        let mut summary = String::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            if line.contains("stopped gracefully") {
                summary = line;
            }
        }
        Ok((took, summary))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = child.id() as i32;
            let _ = signal(child.id(), Signal::Term);
            wait_until(Duration::from_secs(60), || {
                !matches!(child.try_wait(), Ok(None))
            });
            // SAFETY: SIGKILL to the process group this run started (gone already is fine).
            unsafe { libc::kill(-group, libc::SIGKILL) };
            let _ = child.wait();
        }
        for pid in self.pids.iter().filter(|p| alive(**p)) {
            let _ = signal(*pid, Signal::Kill);
        }
        if let Some(run) = self.key_file.parent().filter(|d| d.exists()) {
            let _ = std::fs::remove_dir_all(run);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stop_summary_reads() {
        let line = "axon: stopped after 3.1s (SIGTERM): 1000 agents stopped gracefully, 2 killed, 0 restarts";
        assert_eq!(super::stop_counts(line), Some((1000, 2)));
    }
}
