//! Process statistics of the agents (CPU, resident memory), read with sysinfo.

use std::collections::BTreeMap;

use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

/// CPU and memory of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    /// Percent of one core since the previous sample.
    pub(crate) cpu: f32,
    /// Resident memory in bytes.
    pub(crate) rss: u64,
}

/// Samples processes; CPU use is measured between two samples.
pub(crate) struct Sampler {
    system: System,
}

impl std::fmt::Debug for Sampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sampler")
    }
}

impl Default for Sampler {
    fn default() -> Self {
        Sampler {
            system: System::new(),
        }
    }
}

impl Sampler {
    /// Reads the current usage of `pids`; a process that is gone is left out.
    pub(crate) fn sample(&mut self, pids: &[u32]) -> BTreeMap<u32, Usage> {
        let wanted: Vec<Pid> = pids.iter().map(|p| Pid::from_u32(*p)).collect();
        let kind = ProcessRefreshKind::nothing().with_memory().with_cpu();
        self.system
            .refresh_processes_specifics(ProcessesToUpdate::Some(&wanted), true, kind);
        pids.iter()
            .filter_map(|pid| {
                let p = self.system.process(Pid::from_u32(*pid))?;
                Some((
                    *pid,
                    Usage {
                        cpu: p.cpu_usage(),
                        rss: p.memory(),
                    },
                ))
            })
            .collect()
    }
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
}
