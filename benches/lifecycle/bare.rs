//! The baseline: this executable re-run as a bare process that never becomes
//! an axon process (it stops in `main`, before `axon::init`).
//!
//! `AXON_BENCH_BARE=exit` returns from `main` at once; `AXON_BENCH_BARE=idle`
//! waits until its stdin closes. Both are started the way the name server
//! starts an agent: fork + exec with a death signal (`die_with_parent`).

use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::{die_with_parent, Signal};

const BARE: &str = "AXON_BENCH_BARE";

/// What a bare process was started to do.
pub enum Bare {
    /// Exit at once.
    Exit,
    /// Idle until stdin closes.
    Idle,
}

/// The bare role this process was started in, if any.
pub fn role() -> Result<Option<Bare>> {
    let Some(mode) = std::env::var_os(BARE) else {
        return Ok(None);
    };
    match mode.to_str() {
        Some("exit") => Ok(Some(Bare::Exit)),
        Some("idle") => Ok(Some(Bare::Idle)),
        _ => bail!("{BARE}={mode:?}: expected exit or idle"),
    }
}

/// Runs the bare role to its end.
pub fn serve(bare: Bare) -> Result<()> {
    if let Bare::Idle = bare {
        std::io::copy(&mut std::io::stdin().lock(), &mut std::io::sink())?;
    }
    Ok(())
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
