//! Processes that are not (or no longer) our children: how to tell one is
//! the process we think it is, how to learn that it ended, and how a
//! long-lived parent reaps the orphans it inherits.
//!
//! A supervisor that restarted after a crash finds its agents re-parented
//! (to `axon up`, which made itself their subreaper). It cannot `wait` for
//! them, so it identifies each by pid and start time (a pid is reused, the
//! pair is not) and watches it through a pidfd, which becomes readable when
//! the process ends.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

/// When process `pid` started, in clock ticks since boot (`/proc/<pid>/stat`
/// field 22); `None` when there is no such process.
pub fn start_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    super::stat_field(&stat, 22)?.parse().ok()
}

/// Whether `pid` is alive and is the process that started at `ticks`.
pub fn is_same_process(pid: u32, ticks: u64) -> bool {
    super::alive(pid) && start_ticks(pid) == Some(ticks)
}

/// Resolves once process `pid` has ended (or at once if there is none).
///
/// Uses a pidfd (Linux 5.3 and later); where the kernel has none, looks every
/// 100 ms. Works for any process we may signal, not only our children.
pub async fn exited(pid: u32) {
    match pidfd(pid) {
        // SAFETY: the OwnedFd moves into the AsyncFd, which owns it (open, the same fd) until dropped.
        Ok(fd) => match unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        } {
            Ok(fd) => {
                // Readable means the process ended; an error means the fd is unusable: poll instead.
                if fd.readable().await.is_ok() {
                    return;
                }
            }
            Err(e) => tracing::debug!(pid, error = %e, "pidfd not pollable; polling /proc"),
        },
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return,
        Err(e) => tracing::debug!(pid, error = %e, "no pidfd; polling /proc"),
    }
    while super::alive(pid) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pidfd(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1; no memory is shared.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = i32::try_from(fd).map_err(|_| io::Error::other("pidfd out of range"))?;
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Makes this process the subreaper of its descendants: an orphaned agent
/// (its supervisor died) becomes our child instead of init's, so it stays
/// in our care and we reap it (see [`reap_orphans`]).
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER only sets a flag on this process.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Reaps every ended child except `keep` (which its owner waits for itself);
/// returns the pids reaped.
pub fn reap_orphans(keep: Option<u32>) -> Vec<u32> {
    let mut reaped = Vec::new();
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it in.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // Look without reaping, so that `keep` is left for its owner.
        // SAFETY: a valid pointer to a siginfo_t we own.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid for a SIGCHLD siginfo, which waitid returns (zeroed: none ready).
        let pid = unsafe { info.si_pid() };
        if r != 0 || pid <= 0 {
            return reaped;
        }
        let pid = pid as u32;
        if Some(pid) == keep {
            return reaped;
        }
        let mut status = 0;
        // SAFETY: reaps exactly the child waitid reported as ended.
        unsafe { libc::waitpid(pid as libc::pid_t, &mut status, libc::WNOHANG) };
        reaped.push(pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_is_known_by_pid_and_start_time() {
        let me = std::process::id();
        let ticks = start_ticks(me).unwrap();
        assert!(is_same_process(me, ticks));
        assert!(!is_same_process(me, ticks + 1));
        assert_eq!(start_ticks(u32::MAX), None);
    }

    #[test]
    fn the_end_of_a_process_is_seen_through_its_pidfd() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let watch = tokio::spawn(exited(pid));
            tokio::task::yield_now().await;
            assert!(!watch.is_finished());
            child.kill().unwrap();
            watch.await.unwrap();
        });
        child.wait().unwrap();
        // No such process: resolves at once.
        rt.block_on(exited(u32::MAX));
    }
}
