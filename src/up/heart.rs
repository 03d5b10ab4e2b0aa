//! The foreground loop of `axon up`: signals, the heart (a supervisor that
//! dies is started again, and adopts the agents), chaos, and the watch.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axon::manifest::Chaos;
use axon::NameServer;

use super::console::Verbosity;
use super::watch::Watch;

/// How often the foreground loop looks at signals, the name server and chaos.
const TICK: Duration = Duration::from_millis(20);

/// The heart restarts the supervisor at most this many times ...
const HEART_INTENSITY: usize = 5;

/// ... within this period; one more crash and `up` gives up.
const HEART_PERIOD: Duration = Duration::from_secs(60);

/// How the loop ended.
pub enum Ended {
    /// SIGINT or SIGTERM, by name.
    Signal(&'static str),
    /// The name server ended by itself (cleanly, or it gave up).
    NameServer(std::process::ExitStatus),
    /// The supervisor died more often than the heart restarts it.
    HeartGaveUp(std::process::ExitStatus),
}

/// Waits for a signal or the end of the name server, injecting chaos if asked and
/// showing events and the status line; starts the supervisor again when it dies
/// (the heart), within [`HEART_INTENSITY`] restarts per [`HEART_PERIOD`].
pub fn supervise(ns: &mut NameServer, chaos: Option<&Chaos>, watch: &mut Watch) -> Result<Ended> {
    let mut rng = Rng::seeded();
    let mut next_hit = chaos.map(|c| Instant::now() + c.every);
    let mut revived: VecDeque<Instant> = VecDeque::new();
    loop {
        if let Some(signal) = crate::signals::stop_signal() {
            return Ok(Ended::Signal(signal));
        }
        // Agents orphaned by a supervisor crash are ours to reap; the supervisor is waited for below.
        axon::launch::reap_orphans(ns.pid());
        if let Some(status) = ns.try_wait()? {
            if status.success() || status.code() == Some(axon::GAVE_UP_EXIT) {
                return Ok(Ended::NameServer(status));
            }
            while revived.front().is_some_and(|t| t.elapsed() > HEART_PERIOD) {
                revived.pop_front();
            }
            if revived.len() >= HEART_INTENSITY {
                let note = format!(
                    "the supervisor died {} times within {HEART_PERIOD:?}; giving up (its agents leave once their orphan grace is over)",
                    revived.len() + 1
                );
                watch.console.error(&note);
                return Ok(Ended::HeartGaveUp(status));
            }
            let note = format!(
                "axon: the supervisor died ({status}); starting another, which adopts the agents"
            );
            watch.console.say(Verbosity::Quiet, &note);
            ns.revive().context("restarting the supervisor")?;
            revived.push_back(Instant::now());
            continue;
        }
        if let (Some(c), Some(at)) = (chaos, next_hit) {
            if Instant::now() >= at {
                hit(ns, c, &mut rng, watch);
                next_hit = Some(at + c.every);
            }
        }
        watch.tick(ns, Instant::now());
        std::thread::sleep(TICK);
    }
}

/// Sends chaos' signal to one of its targets, picked at random.
fn hit(ns: &NameServer, c: &Chaos, rng: &mut Rng, watch: &mut Watch) {
    let target = &c.targets[rng.below(c.targets.len())];
    let note = match ns.signal(target, c.signal) {
        Ok(pid) => format!("axon: chaos: SIG{} to {target} (pid {pid})", c.signal),
        Err(e) => format!("axon: chaos: {target} not hit: {e}"),
    };
    // The crash and the restart that follow are the events that matter; the cause is detail.
    watch.console.say(Verbosity::Verbose, &note);
}

/// A small xorshift generator: chaos needs variety, not quality.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
