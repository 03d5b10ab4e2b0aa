//! Starting axon processes: how to re-run "this program" in another role,
//! and signals.

use std::io;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::config::env_var;
use crate::error::{Error, Result};
use crate::launch::ROLE_ENV;

/// Environment variable carrying the JSON [`HostCommand`] a name server spawns agents with.
pub const HOST_ENV: &str = "AXON_HOST";

/// How to run the program that hosts agents: the current executable, unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCommand {
    /// The executable.
    pub program: PathBuf,
    /// Arguments put before nothing else (e.g. to select a test entry point).
    pub args: Vec<String>,
}

impl HostCommand {
    /// The current executable, with no arguments.
    pub fn current() -> Result<Self> {
        Ok(HostCommand {
            program: std::env::current_exe()?,
            args: Vec::new(),
        })
    }

    /// The command in [`HOST_ENV`], else the current executable.
    pub fn from_env() -> Result<Self> {
        match env_var(HOST_ENV)? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| Error::Config(format!("{HOST_ENV} is not a host command: {e}"))),
            None => Self::current(),
        }
    }

    /// The value of [`HOST_ENV`] for this command; an error for a path that is not UTF-8.
    pub fn to_env(&self) -> Result<String> {
        serde_json::to_string(self)
            .map_err(|e| Error::Config(format!("host command {}: {e}", self.program.display())))
    }

    /// A command that starts this program in `role`.
    ///
    /// A name server gets SIGTERM when the thread that started it ends (it
    /// then stops its agents and removes its runtime directory). An agent
    /// does not die with its parent: a supervisor crash is not an agent
    /// crash. An agent whose supervisor stays away past its orphan grace
    /// leaves by itself (see `AgentSpec::orphan_grace`).
    pub fn command(&self, role: &str) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.args).env(ROLE_ENV, role);
        if role == "nameserver" {
            die_with_parent(&mut cmd, Signal::Term);
        }
        cmd
    }
}

/// Makes the child get `signal` when the thread that started it ends, so that
/// no agent outlives the process (or test) that started it.
pub fn die_with_parent(cmd: &mut Command, signal: Signal) {
    let raw = signal.raw();
    let parent = std::process::id();
    // SAFETY: the closure runs between fork and exec in the child; it only
    // calls async-signal-safe functions (prctl, getppid), allocates nothing
    // and takes no lock.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, raw) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect: the child was
            // then re-parented (to init, or to a subreaper) and must not run.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(io::Error::other("parent exited during start"));
            }
            Ok(())
        });
    }
}

/// Whether a process with this pid is alive: it exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    !matches!(stat_field(&stat, 3), None | Some("Z") | Some("X"))
}

/// Field `n` of a `/proc/<pid>/stat` line, numbered as proc(5) does (3 is the
/// state, 22 the start time); only fields from 3 on, those after the
/// parenthesised command name, which may itself hold spaces and parentheses.
pub fn stat_field(stat: &str, n: usize) -> Option<&str> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(n.checked_sub(3)?)
}

/// Signals axon sends to processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Signal {
    /// Ask to terminate.
    Term,
    /// Terminate now.
    Kill,
    /// Freeze (a hung process, for fault injection).
    Stop,
    /// Thaw a stopped process.
    Cont,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Term => libc::SIGTERM,
            Signal::Kill => libc::SIGKILL,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
        }
    }
}

impl std::str::FromStr for Signal {
    type Err = Error;

    /// `KILL`, `STOP`, `TERM` or `CONT`, with or without `SIG`, any case.
    fn from_str(s: &str) -> Result<Self> {
        let upper = s.to_ascii_uppercase();
        match upper.strip_prefix("SIG").unwrap_or(&upper) {
            "KILL" => Ok(Signal::Kill),
            "STOP" => Ok(Signal::Stop),
            "TERM" => Ok(Signal::Term),
            "CONT" => Ok(Signal::Cont),
            _ => Err(Error::invalid(
                "signal",
                s,
                "expected KILL, STOP, TERM or CONT",
            )),
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Term => "TERM",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        })
    }
}

/// Sends `signal` to process `pid`.
pub fn signal(pid: u32, signal: Signal) -> Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| Error::invalid("pid", pid.to_string(), "out of range"))?;
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, signal.raw()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_command_round_trips_through_the_environment_format() {
        let h = HostCommand {
            program: "/bin/x".into(),
            args: vec!["a b".into()],
        };
        assert_eq!(
            serde_json::from_str::<HostCommand>(&h.to_env().unwrap()).unwrap(),
            h
        );
    }

    #[test]
    fn a_child_dies_with_the_thread_that_started_it() {
        use std::os::unix::process::ExitStatusExt;
        let starter = std::thread::spawn(|| {
            let mut cmd = Command::new("sleep");
            cmd.arg("60");
            die_with_parent(&mut cmd, Signal::Kill);
            cmd.spawn().unwrap()
        });
        // The starting thread has ended: the kernel sends the death signal.
        let status = starter.join().unwrap().wait().unwrap();
        assert_eq!(status.signal(), Some(libc::SIGKILL));
    }

    #[test]
    fn a_zombie_is_not_alive() {
        let mut cmd = Command::new("sleep");
        cmd.arg("60");
        // Should the test fail, the sleeper goes with its thread.
        die_with_parent(&mut cmd, Signal::Kill);
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        assert!(alive(pid));
        signal(pid, Signal::Kill).unwrap();
        // Killed but not reaped: the process is a zombie until `wait`.
        let state = || {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
            stat.rsplit_once(')')
                .unwrap()
                .1
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while state() != "Z" {
            assert!(std::time::Instant::now() < deadline, "never a zombie");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(!alive(pid));
        child.wait().unwrap();
        assert!(!alive(pid));
    }

    #[test]
    fn signalling_a_missing_process_is_an_error() {
        // pid_max on Linux is at most 2^22, so this pid never exists.
        assert!(signal(1 << 30, Signal::Term).is_err());
    }
}
