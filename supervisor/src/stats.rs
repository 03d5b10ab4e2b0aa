//! Process statistics of the agents (CPU, resident memory), read from
//! `/proc/<pid>/stat`: one open, read and close per process sampled, so that
//! no file stays open between samples (sysinfo kept one per process, which
//! at 10 000 agents is 10 000 descriptors).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axon_runtime::launch::stat_field;

/// A sample older than this is forgotten (its process is gone, or no longer sampled).
const FORGET_AFTER: Duration = Duration::from_secs(60);

/// CPU and memory of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    /// Percent of one core since the previous sample (since the process started, for its first).
    pub(crate) cpu: f32,
    /// Resident memory in bytes.
    pub(crate) rss: u64,
}

/// What `/proc/<pid>/stat` says: CPU time in clock ticks and resident pages.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Reading {
    ticks: u64,
    /// Process start, in clock ticks after boot.
    start: u64,
    rss_pages: u64,
}

/// Samples processes; CPU use is measured between two samples of the same process.
#[derive(Debug)]
pub(crate) struct Sampler {
    /// The last reading of each process, and when it was taken.
    last: BTreeMap<u32, (Reading, Instant)>,
    ticks_per_second: f64,
    page_size: u64,
}

impl Default for Sampler {
    fn default() -> Self {
        // SAFETY: sysconf only reads configuration values.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        Sampler {
            last: BTreeMap::new(),
            ticks_per_second: if ticks > 0 { ticks as f64 } else { 100.0 },
            page_size: u64::try_from(page).ok().filter(|p| *p > 0).unwrap_or(4096),
        }
    }
}

impl Sampler {
    /// Reads the current usage of `pids`; a process that is gone is left out.
    pub(crate) fn sample(&mut self, pids: &[u32]) -> BTreeMap<u32, Usage> {
        let now = Instant::now();
        self.last
            .retain(|_, (_, at)| now.duration_since(*at) < FORGET_AFTER);
        pids.iter()
            .filter_map(|&pid| {
                let reading = read(pid)?;
                let cpu = self.cpu(pid, reading, now);
                self.last.insert(pid, (reading, now));
                let rss = reading.rss_pages * self.page_size;
                Some((pid, Usage { cpu, rss }))
            })
            .collect()
    }

    /// Percent of one core since the previous reading of the same process, else since it started.
    fn cpu(&self, pid: u32, now: Reading, at: Instant) -> f32 {
        let (ticks, seconds) = match self.last.get(&pid) {
            // The same process (a recycled pid has another start).
            Some((then, when)) if then.start == now.start => (
                now.ticks.saturating_sub(then.ticks),
                at.duration_since(*when).as_secs_f64(),
            ),
            _ => (
                now.ticks,
                uptime_ticks().saturating_sub(now.start) as f64 / self.ticks_per_second,
            ),
        };
        if seconds <= 0.0 {
            return 0.0;
        }
        (ticks as f64 / self.ticks_per_second / seconds * 100.0) as f32
    }
}

/// `/proc/<pid>/stat` of a process that still exists.
fn read(pid: u32) -> Option<Reading> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse(&text)
}

/// Fields 14 and 15 (user and system time), 22 (the start time) and 24 (the resident pages).
fn parse(stat: &str) -> Option<Reading> {
    let field = |n: usize| stat_field(stat, n)?.parse::<u64>().ok();
    Some(Reading {
        ticks: field(14)? + field(15)?,
        start: field(22)?,
        rss_pages: field(24)?,
    })
}

/// Clock ticks since boot, from `/proc/uptime` (0 if unreadable).
fn uptime_ticks() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0, |s| (s * per_second) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_resident_memory_and_a_missing_one_is_left_out() {
        let mut s = Sampler::default();
        let me = std::process::id();
        let usage = s.sample(&[me, 1 << 30]);
        assert!(usage[&me].rss > 1 << 20, "{usage:?}");
        assert!(!usage.contains_key(&(1 << 30)));
    }

    #[test]
    fn cpu_time_is_measured_between_two_samples() {
        let mut s = Sampler::default();
        let me = std::process::id();
        s.sample(&[me]);
        // Burn CPU until the kernel counted at least two ticks of it.
        let start = read(me).unwrap().ticks;
        let mut x = 0u64;
        while read(me).unwrap().ticks < start + 2 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let usage = s.sample(&[me]);
        assert!(usage[&me].cpu > 0.0, "{usage:?}");
    }

    #[test]
    fn command_names_with_spaces_and_parentheses_parse() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 555 1000 25 18446744073709551615";
        assert_eq!(
            parse(stat),
            Some(Reading {
                ticks: 10,
                start: 555,
                rss_pages: 25
            })
        );
        assert_eq!(parse("42 (x) S 1"), None);
        assert_eq!(parse("garbage"), None);
    }
}
