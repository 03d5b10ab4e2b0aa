//! What a run of thousands of agents needs from the machine: the whole of it
//! (a lock other runs take too), enough memory left, enough pids and open files.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::procfs;

/// Memory that must remain free while a run is at full size, KiB.
const KEEP_FREE_KIB: u64 = 4 << 20;

/// The lock every run above 1000 agents holds: `AXON_SCALE_LOCK`, else `/work/scale.lock`
/// where `/work` exists, else one in the temp dir.
pub fn lock_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AXON_SCALE_LOCK") {
        return path.into();
    }
    match std::path::Path::new("/work").is_dir() {
        true => "/work/scale.lock".into(),
        false => std::env::temp_dir().join("axon-scale.lock"),
    }
}

/// An exclusive `flock` on [`lock_path`], released when dropped.
pub struct Whole(File);

impl Whole {
    /// Waits until no other run holds the lock.
    pub fn take() -> Result<Whole> {
        let path = lock_path();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        eprintln!("scale: waiting for {}", path.display());
        // SAFETY: flock on a descriptor this File owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            bail!(
                "flock {}: {}",
                path.display(),
                std::io::Error::last_os_error()
            );
        }
        Ok(Whole(file))
    }
}

impl Drop for Whole {
    fn drop(&mut self) {
        // SAFETY: as above; closing the file would release it too.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Whether `agents` of `pss_kib` each (and the name server) fit, leaving
/// [`KEEP_FREE_KIB`]; the reason when they do not.
pub fn memory_fits(agents: usize, pss_kib: u64) -> Result<Option<String>> {
    let available = procfs::limits()?.mem_available_kib;
    let needed = agents as u64 * pss_kib + (256 << 10);
    match available.saturating_sub(needed) >= KEEP_FREE_KIB {
        true => Ok(None),
        false => Ok(Some(format!(
            "{agents} agents need about {} MiB and {} MiB are available: less than 4 GiB would remain",
            needed >> 10,
            available >> 10
        ))),
    }
}

/// The soft `RLIMIT_NOFILE` raised to the hard one (and the hard one to
/// `want` where this process may); inherited by `axon up`, its name server
/// and every agent. Answers the new soft limit.
pub fn raise_open_files(want: u64) -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    let raised = libc::rlimit {
        rlim_cur: want.max(lim.rlim_cur),
        rlim_max: want.max(lim.rlim_max),
    };
    // Raising the hard limit needs privilege; without it, the soft one goes up to the hard one.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return Ok(raised.rlim_cur);
    }
    lim.rlim_cur = lim.rlim_max;
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        bail!("setrlimit: {}", std::io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

/// `kernel.pid_max` raised for a run, put back when dropped.
pub struct PidMax {
    before: Option<u64>,
}

const PID_MAX: &str = "/proc/sys/kernel/pid_max";

impl PidMax {
    /// Raises `pid_max` to `want` if it is lower and the file is writable
    /// (root); answers what it did, for the report.
    pub fn at_least(want: u64) -> Result<(PidMax, String)> {
        let now: u64 = std::fs::read_to_string(PID_MAX)?.trim().parse()?;
        if now >= want {
            return Ok((PidMax { before: None }, format!("pid_max {now}")));
        }
        match std::fs::write(PID_MAX, want.to_string()) {
            Ok(()) => Ok((
                PidMax { before: Some(now) },
                format!("pid_max raised from {now} to {want} for the run"),
            )),
            Err(e) => Ok((
                PidMax { before: None },
                format!("pid_max {now} (could not raise it to {want}: {e})"),
            )),
        }
    }
}

impl Drop for PidMax {
    fn drop(&mut self) {
        if let Some(before) = self.before {
            // Pids above it stay valid until they end; only new ones wrap lower.
            let _ = std::fs::write(PID_MAX, before.to_string());
        }
    }
}
