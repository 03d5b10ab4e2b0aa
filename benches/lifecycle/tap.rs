//! What a node writes to stderr, read by the bench.
//!
//! A node is started with fd 2 pointing into a pipe, so the name server and
//! every agent it starts write their log lines there. The bench reads the
//! supervisor's own restart figure from them (`crash_to_serving_ms`, logged
//! at info level per restart) and counts agents killed at the end of a
//! shutdown grace; restart warnings it caused itself are dropped, every
//! other line passes on to the bench's stderr.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};

/// The `AXON_LOG` that lets the supervisor's restart figure through and little else.
pub const LOG_FILTER: &str = "warn,axon_supervisor::server::supervise=info";

/// What the node's stderr said.
#[derive(Debug, Default)]
pub struct Tally {
    /// The supervisor's crash-to-serving time of each restart, in ms.
    pub crash_to_serving_ms: Vec<f64>,
    /// Agents SIGKILLed because they were still running at the end of the shutdown grace.
    pub forced_kills: usize,
}

/// The read side of a node's stderr.
pub struct Tap {
    tally: Receiver<Tally>,
}

impl Tap {
    /// Runs `start` with fd 2 redirected into a fresh pipe (what it starts
    /// inherits the pipe as its stderr); fd 2 is restored before this returns.
    pub fn around<T>(start: impl FnOnce() -> T) -> Result<(T, Tap)> {
        let (read, write) = pipe()?;
        let started = {
            let _redirect = Redirect::stderr_to(&write)?;
            start()
        };
        // Our copy of the write end goes; the node's copies keep the pipe open.
        drop(write);
        let (tx, tally) = mpsc::channel();
        std::thread::spawn(move || {
            // The receiver may have given up waiting; the tally is then unused.
            let _ = tx.send(read_lines(File::from(read)));
        });
        Ok((started, Tap { tally }))
    }

    /// Waits at most `patience` for every process of the node to close the pipe.
    pub fn finish(self, patience: Duration) -> Result<Tally> {
        self.tally
            .recv_timeout(patience)
            .map_err(|_| anyhow!("the node's stderr is still open {patience:?} after shutdown"))
    }
}

fn read_lines(stderr: File) -> Tally {
    let mut tally = Tally::default();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if let Some(ms) = field(&line, "crash_to_serving_ms") {
            tally.crash_to_serving_ms.push(ms);
        } else if line.contains("restart scheduled") {
            // One per kill the bench made: expected, not news.
        } else {
            tally.forced_kills += usize::from(line.contains("still running after the grace"));
            eprintln!("{line}");
        }
    }
    tally
}

/// The number in `name=12.3` or `name="12.3"` on a log line.
fn field(line: &str, name: &str) -> Option<f64> {
    let rest = line.split_once(&format!("{name}="))?.1;
    let value = rest.split_whitespace().next()?.trim_matches('"');
    value.parse().ok()
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given, which is two long.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error()).context("creating a pipe for stderr");
    }
    // SAFETY: both descriptors are fresh from pipe2 and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// fd 2 pointing elsewhere until drop, which puts the saved fd 2 back.
struct Redirect {
    saved: OwnedFd,
}

impl Redirect {
    fn stderr_to(target: &OwnedFd) -> Result<Redirect> {
        // SAFETY: fcntl and dup2 only act on descriptors; fd 2 and `target` are open.
        unsafe {
            let saved = libc::fcntl(2, libc::F_DUPFD_CLOEXEC, 3);
            if saved < 0 {
                return Err(std::io::Error::last_os_error()).context("saving stderr");
            }
            let saved = OwnedFd::from_raw_fd(saved);
            if libc::dup2(target.as_raw_fd(), 2) < 0 {
                return Err(std::io::Error::last_os_error()).context("redirecting stderr");
            }
            Ok(Redirect { saved })
        }
    }
}

impl Drop for Redirect {
    fn drop(&mut self) {
        // SAFETY: dup2 onto fd 2 from a descriptor we own; nothing else to uphold.
        // If it fails, stderr stays on the pipe, whose lines are still forwarded.
        unsafe {
            libc::dup2(self.saved.as_raw_fd(), 2);
        }
    }
}
