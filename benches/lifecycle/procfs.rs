//! What the kernel says about a process (memory, threads, descriptors) and
//! about how many more processes this machine allows.

use anyhow::{anyhow, Context, Result};

/// Memory and threads of one process, from `/proc/<pid>/status`.
#[derive(Debug, Clone, Copy)]
pub struct Status {
    /// Resident set (`VmRSS`), KiB.
    pub rss_kib: u64,
    /// Resident anonymous memory (`RssAnon`), KiB: heap and stacks, private to the process.
    pub anon_kib: u64,
    pub threads: u64,
}

pub fn status(pid: u32) -> Result<Status> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    Ok(Status {
        rss_kib: number(&text, "VmRSS:").with_context(|| format!("{path}: VmRSS"))?,
        anon_kib: number(&text, "RssAnon:").with_context(|| format!("{path}: RssAnon"))?,
        threads: number(&text, "Threads:").with_context(|| format!("{path}: Threads"))?,
    })
}

/// Proportional set size (`Pss` of `/proc/<pid>/smaps_rollup`), KiB: shared pages split among their users.
pub fn pss_kib(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    number(&text, "Pss:").with_context(|| format!("{path}: Pss"))
}

/// Open descriptors of a process.
pub fn fds(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/fd");
    let dir = std::fs::read_dir(&path).with_context(|| format!("listing {path}"))?;
    Ok(dir.count() as u64)
}

/// The first number after the line starting with `key`.
fn number(text: &str, key: &str) -> Result<u64> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .ok_or_else(|| anyhow!("no {key} line"))?;
    let word = line.split_whitespace().next().unwrap_or_default();
    word.parse()
        .with_context(|| format!("{key} {word:?} is not a number"))
}

/// How far this machine lets the bench go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Soft `RLIMIT_NOFILE` (`ulimit -n`), inherited by the name server.
    pub open_files: u64,
    /// Tasks (threads) this user may still start: the soft `RLIMIT_NPROC` (`ulimit -u`),
    /// `pid_max` and `threads-max`, less the tasks already running on the machine.
    pub tasks_left: u64,
    /// `MemAvailable`, KiB.
    pub mem_available_kib: u64,
}

pub fn limits() -> Result<Limits> {
    let own = std::fs::read_to_string("/proc/self/limits").context("reading /proc/self/limits")?;
    let read = |path: &str| -> Result<String> {
        std::fs::read_to_string(path).with_context(|| format!("reading {path}"))
    };
    let open_files = soft_limit(&own, "Max open files")?;
    let nproc = soft_limit(&own, "Max processes")?;
    let pid_max = read("/proc/sys/kernel/pid_max")?.trim().parse::<u64>()?;
    let threads_max = read("/proc/sys/kernel/threads-max")?
        .trim()
        .parse::<u64>()?;
    // loadavg's fourth field is running/total tasks on the machine: an upper bound for ours.
    let loadavg = read("/proc/loadavg")?;
    let tasks_now = loadavg
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split_once('/'))
        .and_then(|(_, total)| total.parse::<u64>().ok())
        .with_context(|| format!("/proc/loadavg {loadavg:?}: no task count"))?;
    let meminfo = read("/proc/meminfo")?;
    Ok(Limits {
        open_files,
        tasks_left: nproc
            .min(pid_max)
            .min(threads_max)
            .saturating_sub(tasks_now),
        mem_available_kib: number(&meminfo, "MemAvailable:")?,
    })
}

/// The soft limit on the `/proc/self/limits` line `name`; `unlimited` is `u64::MAX`.
fn soft_limit(limits: &str, name: &str) -> Result<u64> {
    let rest = limits
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .ok_or_else(|| anyhow!("/proc/self/limits has no {name:?} line"))?;
    match rest.split_whitespace().next() {
        Some("unlimited") => Ok(u64::MAX),
        Some(word) => word
            .parse()
            .with_context(|| format!("{name} {word:?} is not a number")),
        None => Err(anyhow!("/proc/self/limits: {name:?} without a value")),
    }
}
