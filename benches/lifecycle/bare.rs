//! The baseline: this executable re-run as a bare process that never becomes
//! an axon process (it stops in `main`, before `axon::init`).
//!
//! `AXON_BENCH_BARE=exit` returns from `main` at once; `AXON_BENCH_BARE=idle`
//! waits until its stdin closes; `AXON_BENCH_BARE=router` binds a plain
//! libzmq ROUTER at `AXON_BENCH_ROUTER` and echoes every request until one
//! says `stop` (the raw round trip a control call is measured against). All
//! are started the way the name server starts an agent: fork + exec with a
//! death signal (`die_with_parent`).

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::{die_with_parent, Signal};

const BARE: &str = "AXON_BENCH_BARE";
const ROUTER_AT: &str = "AXON_BENCH_ROUTER";

/// What a bare process was started to do.
pub enum Bare {
    /// Exit at once.
    Exit,
    /// Idle until stdin closes.
    Idle,
    /// Echo requests on a plain ROUTER bound at this endpoint until one says `stop`.
    Router(String),
}

/// The bare role this process was started in, if any.
pub fn role() -> Result<Option<Bare>> {
    let Some(mode) = std::env::var_os(BARE) else {
        return Ok(None);
    };
    match mode.to_str() {
        Some("exit") => Ok(Some(Bare::Exit)),
        Some("idle") => Ok(Some(Bare::Idle)),
        Some("router") => {
            let at = std::env::var(ROUTER_AT).with_context(|| format!("{ROUTER_AT} unset"))?;
            Ok(Some(Bare::Router(at)))
        }
        _ => bail!("{BARE}={mode:?}: expected exit, idle or router"),
    }
}

/// Runs the bare role to its end.
pub fn serve(bare: Bare) -> Result<()> {
    match bare {
        Bare::Exit => {}
        Bare::Idle => {
            std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
        }
        Bare::Router(at) => echo(&at)?,
    }
    Ok(())
}

/// A plain ROUTER at `at` that sends every request back as it came, until one says `stop`.
fn echo(at: &str) -> Result<()> {
    let ctx = zmq::Context::new();
    let router = ctx.socket(zmq::ROUTER)?;
    router.set_linger(0)?;
    router.bind(at)?;
    loop {
        let frames = router.recv_multipart(0)?;
        if frames.last().is_some_and(|f| f == b"stop") {
            return Ok(());
        }
        router.send_multipart(frames, 0)?;
    }
}

fn command(mode: &str) -> Result<Command> {
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let mut cmd = Command::new(exe);
    cmd.env(BARE, mode).stdout(Stdio::null());
    die_with_parent(&mut cmd, Signal::Kill);
    Ok(cmd)
}

/// Starts a bare process that exits at once and waits for it; the time from start to reaped exit.
pub fn spawn_and_wait() -> Result<Duration> {
    let mut cmd = command("exit")?;
    cmd.stdin(Stdio::null());
    let started = Instant::now();
    let status = cmd.status().context("starting a bare process")?;
    let took = started.elapsed();
    if !status.success() {
        bail!("bare process exited with {status}");
    }
    Ok(took)
}

/// An idling bare process; killed and reaped on drop.
pub struct Idle {
    child: Child,
    /// Held open while it should idle.
    _stdin: Option<ChildStdin>,
}

impl Idle {
    pub fn start() -> Result<Idle> {
        let mut cmd = command("idle")?;
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn().context("starting an idle bare process")?;
        let stdin = child.stdin.take();
        Ok(Idle {
            child,
            _stdin: stdin,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        // Best effort: it may already be gone, and drop cannot report.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A bare process serving a plain ROUTER echo (see [`Bare::Router`]); stopped on drop.
pub struct Router {
    child: Child,
    dealer: zmq::Socket,
    path: std::path::PathBuf,
}

impl Router {
    /// Starts the echo process on a fresh ipc path and connects a DEALER to it.
    pub fn start() -> Result<Router> {
        let path = std::env::temp_dir().join(format!("axon-bench-router-{}", std::process::id()));
        let at = format!("ipc://{}", path.display());
        let mut cmd = command("router")?;
        cmd.env(ROUTER_AT, &at).stdin(Stdio::null());
        let child = cmd.spawn().context("starting the bare ROUTER")?;
        let dealer = zmq::Context::new().socket(zmq::DEALER)?;
        dealer.set_linger(0)?;
        dealer.set_rcvtimeo(10_000)?;
        dealer.connect(&at)?;
        Ok(Router {
            child,
            dealer,
            path,
        })
    }

    /// One round trip of the frames `request`; how long it took.
    pub fn round_trip(&self, request: &[&[u8]]) -> Result<Duration> {
        let started = Instant::now();
        self.dealer.send_multipart(request, 0)?;
        let reply = self
            .dealer
            .recv_multipart(0)
            .context("the bare ROUTER's echo")?;
        let took = started.elapsed();
        if reply.len() != request.len() {
            bail!(
                "the bare ROUTER echoed {} frames for {}",
                reply.len(),
                request.len()
            );
        }
        Ok(took)
    }
}

impl Drop for Router {
    fn drop(&mut self) {
        // Best effort: a stop it never reads is followed by a kill; drop cannot report.
        let _ = self.dealer.send("stop", 0);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.path);
    }
}
