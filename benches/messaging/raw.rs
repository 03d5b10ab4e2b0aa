//! The raw-libzmq baseline: the same traffic between two plain processes.
//!
//! The bench re-runs its own executable with `AXON_BENCH_ROLE` set to one of
//! `raw-pull`, `raw-push`, `raw-rep`, `raw-req` (and `raw-pub`, `raw-sub`, see
//! `raw_fanout`); the role's parameters come in further `AXON_BENCH_*`
//! variables. Peers use blocking `zmq` sockets with default options and no
//! serializer. A binding peer prints `READY <endpoint>`; the measuring peer
//! prints its result line last.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::agent::{Latency, Metered};

const ROLE: &str = "AXON_BENCH_ROLE";
const ENDPOINT: &str = "AXON_BENCH_ENDPOINT";
const WARM: &str = "AXON_BENCH_WARM";
const COUNT: &str = "AXON_BENCH_COUNT";
const SIZE: &str = "AXON_BENCH_SIZE";

/// What a raw peer process was started to do.
pub struct Job {
    pub role: String,
    pub endpoint: String,
    pub warm: u64,
    pub count: u64,
    pub size: usize,
}

/// The raw peer this process was started as, if any.
pub fn role() -> Result<Option<Job>> {
    let Some(role) = std::env::var_os(ROLE) else {
        return Ok(None);
    };
    Ok(Some(Job {
        role: role.to_string_lossy().into_owned(),
        endpoint: env_text(ENDPOINT)?,
        warm: env_number(WARM)?,
        count: env_number(COUNT)?,
        size: env_number(SIZE)? as usize,
    }))
}

fn env_text(name: &str) -> Result<String> {
    std::env::var(name).with_context(|| format!("raw peer without {name}"))
}

fn env_number(name: &str) -> Result<u64> {
    let text = env_text(name)?;
    text.parse()
        .with_context(|| format!("{name}={text:?} is not a count"))
}

/// Runs the raw peer role to its end.
pub fn serve(job: Job) -> Result<()> {
    let ctx = zmq::Context::new();
    match job.role.as_str() {
        "raw-pull" => pull(&ctx, &job),
        "raw-push" => push(&ctx, &job),
        "raw-rep" => rep(&ctx, &job),
        "raw-req" => req(&ctx, &job),
        "raw-pub" => crate::raw_fanout::publish(&ctx, &job),
        "raw-sub" => crate::raw_fanout::subscribe(&ctx, &job),
        other => bail!("unknown {ROLE}={other:?}"),
    }
}

/// Binds, announces the endpoint actually bound, and returns the socket.
pub fn bind(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> Result<zmq::Socket> {
    let socket = ctx.socket(kind)?;
    socket
        .bind(endpoint)
        .with_context(|| format!("binding {endpoint}"))?;
    let bound = socket
        .get_last_endpoint()?
        .map_err(|_| anyhow!("bound endpoint is not UTF-8"))?;
    say(&format!("READY {bound}"))?;
    Ok(socket)
}

pub fn say(line: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn pull(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = bind(ctx, zmq::PULL, &job.endpoint)?;
    let mut msg = zmq::Message::new();
    let mut wrong = 0u64;
    let mut first = Instant::now();
    for i in 0..job.warm + job.count {
        socket.recv(&mut msg, 0)?;
        wrong += u64::from(msg.len() != job.size);
        if i == job.warm {
            first = Instant::now();
        }
    }
    let elapsed = first.elapsed().as_nanos();
    say(&format!("ELAPSED_NS {elapsed} WRONG {wrong}"))
}

fn push(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = ctx.socket(zmq::PUSH)?;
    socket.connect(&job.endpoint)?;
    let payload = vec![0xA5u8; job.size];
    for _ in 0..job.warm + job.count {
        socket.send(&payload[..], 0)?;
    }
    // Stay until the bench saw the puller finish: over ipc, libzmq drops the tail
    // of the stream if the pusher exits while the puller is at its high-water mark.
    wait_for_release()
}

/// Blocks until the bench closes this process's stdin.
fn wait_for_release() -> Result<()> {
    std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    Ok(())
}

fn rep(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = bind(ctx, zmq::REP, &job.endpoint)?;
    let mut msg = zmq::Message::new();
    for _ in 0..job.warm + job.count {
        socket.recv(&mut msg, 0)?;
        socket.send(std::mem::replace(&mut msg, zmq::Message::new()), 0)?;
    }
    Ok(())
}

fn req(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = ctx.socket(zmq::REQ)?;
    socket.connect(&job.endpoint)?;
    let payload = vec![0x5Au8; job.size];
    let mut reply = zmq::Message::new();
    let mut samples = Vec::with_capacity(job.count as usize);
    for i in 0..job.warm + job.count {
        let sent_at = Instant::now();
        socket.send(&payload[..], 0)?;
        socket.recv(&mut reply, 0)?;
        let rtt = sent_at.elapsed().as_nanos() as u64;
        if reply.len() != job.size {
            bail!("echo of {} bytes, sent {}", reply.len(), job.size);
        }
        if i >= job.warm {
            samples.push(rtt);
        }
    }
    let l = Latency::of(&mut samples).context("no round trips timed")?;
    say(&format!("P50_NS {} P99_NS {}", l.p50_ns, l.p99_ns))
}

/// A fresh directory for raw ipc endpoints, removed with everything in it on drop.
pub struct IpcDir(PathBuf);

impl IpcDir {
    pub fn create() -> Result<IpcDir> {
        let path = std::env::temp_dir().join(format!("axon-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(IpcDir(path))
    }

    /// An ipc endpoint named `name` inside the directory.
    pub fn endpoint(&self, name: &str) -> String {
        format!("ipc://{}", self.0.join(format!("{name}.ipc")).display())
    }
}

impl Drop for IpcDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in /tmp is harmless, and drop cannot report.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What one raw run needs: where to bind, and the message plan.
pub struct Run {
    pub endpoint: String,
    pub warm: u64,
    pub count: u64,
    pub size: usize,
    pub deadline: Duration,
}

/// Runs raw PUSH -> PULL; the puller's figure.
pub fn throughput(run: &Run) -> Result<Metered> {
    let (puller, pusher) = pair(run, "raw-pull", "raw-push")?;
    let line = puller.line("ELAPSED_NS", run.deadline)?;
    pusher.finish(run.deadline)?;
    puller.finish(run.deadline)?;
    parse_metered(&line, run.count)
}

/// Runs raw REQ -> REP round trips; the requester's figure.
pub fn latency(run: &Run) -> Result<Latency> {
    let (replier, requester) = pair(run, "raw-rep", "raw-req")?;
    let line = requester.line("P50_NS", run.deadline)?;
    requester.finish(run.deadline)?;
    replier.finish(run.deadline)?;
    let [p50_ns, p99_ns] = numbers(&line)?;
    Ok(Latency { p50_ns, p99_ns })
}

/// Starts the binding peer, reads its endpoint, then starts the connecting peer.
fn pair(run: &Run, server: &str, client: &str) -> Result<(Peer, Peer)> {
    let bound = Peer::start(server, &run.endpoint, run)?;
    let ready = bound.line("READY", run.deadline)?;
    let endpoint = ready.trim_start_matches("READY").trim();
    let connected = Peer::start(client, endpoint, run)?;
    Ok((bound, connected))
}

fn parse_metered(line: &str, count: u64) -> Result<Metered> {
    let [elapsed_ns, wrong_size] = numbers(line)?;
    Ok(Metered {
        count,
        elapsed_ns,
        wrong_size,
    })
}

/// The `N` numbers of a `KEY n KEY m ...` result line.
pub fn numbers<const N: usize>(line: &str) -> Result<[u64; N]> {
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .step_by(2)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad result line {line:?}"))?;
    values
        .try_into()
        .map_err(|_| anyhow!("bad result line {line:?}"))
}

/// A raw peer child process and the lines it prints; killed on drop if still running.
pub struct Peer {
    child: Child,
    /// Held open until the peer may exit (see `wait_for_release`).
    release: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Peer {
    pub fn start(role: &str, endpoint: &str, run: &Run) -> Result<Peer> {
        let exe = std::env::current_exe().context("locating the bench executable")?;
        let mut command = Command::new(exe);
        command
            .env(ROLE, role)
            .env(ENDPOINT, endpoint)
            .env(WARM, run.warm.to_string())
            .env(COUNT, run.count.to_string())
            .env(SIZE, run.size.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to kill the
        // child if this process dies first, so no raw peer outlives the bench.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {role}"))?;
        let release = child.stdin.take();
        let stdout = child.stdout.take().context("raw peer without stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            // Ends when the child closes stdout (it exited) or the bench stopped listening.
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Peer {
            child,
            release,
            lines,
        })
    }

    /// The first printed line starting with `key`, waiting at most `deadline`.
    pub fn line(&self, key: &str, deadline: Duration) -> Result<String> {
        let until = Instant::now() + deadline;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .map_err(|_| anyhow!("raw peer printed no {key} line within {deadline:?}"))?;
            if line.starts_with(key) {
                return Ok(line);
            }
        }
    }

    /// Writes `line` to the peer's stdin.
    pub fn tell(&mut self, line: &str) -> Result<()> {
        let stdin = self.release.as_mut().context("raw peer already released")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// Lets the peer exit, and waits for a clean exit.
    pub fn finish(mut self, deadline: Duration) -> Result<()> {
        drop(self.release.take());
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("raw peer exited with {status}");
                }
                return Ok(());
            }
            if Instant::now() >= until {
                bail!("raw peer still running after {deadline:?}");
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // Only a peer that failed is still running here: stop it and reap it.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
