//! Asks every agent for its `stats`, all at once and each within a bounded
//! time, off the name server's loop; the answers go into the [`Shared`] snapshot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axon_runtime::{Stats, Value};

use super::Shared;

/// How long one agent may take to answer `stats`: a hung agent keeps its last figures.
pub(crate) const STATS_TIMEOUT: Duration = Duration::from_millis(500);

/// An agent to ask: its name, pid and control endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Its name.
    pub(crate) name: String,
    /// Its process.
    pub(crate) pid: u32,
    /// Its control endpoint.
    pub(crate) control: String,
}

/// Gathers stats, one round at a time: a round still under way when the next is due skips it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Gatherer {
    busy: Arc<AtomicBool>,
}

impl Gatherer {
    /// Asks `targets` for their stats on the current runtime; records the answers in `shared`.
    pub(crate) fn round(&self, targets: Vec<Target>, shared: Shared) {
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let busy = self.busy.clone();
        actix_rt::spawn(async move {
            let asks = targets.into_iter().map(|t| async move {
                let answer = ask(&t).await;
                (t, answer)
            });
            let answers = futures::future::join_all(asks).await;
            shared.update(|s| {
                // Agents gone since are forgotten; one that did not answer keeps its last figures.
                s.stats
                    .retain(|name, _| answers.iter().any(|(t, _)| &t.name == name));
                for (t, answer) in answers {
                    record(&mut s.stats, t, answer);
                }
            });
            busy.store(false, Ordering::Release);
        });
    }
}

async fn ask(t: &Target) -> Option<Stats> {
    let call = axon_runtime::client::call::call(&t.control, &t.name, "stats", &(), STATS_TIMEOUT);
    // The call's own timeout bounds the exchange; this one bounds opening the socket too.
    let value: Value = match tokio::time::timeout(STATS_TIMEOUT * 2, call).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::debug!(agent = %t.name, error = %e, "stats not answered");
            return None;
        }
        Err(_) => return None,
    };
    value.deserialized().ok()
}

fn record(
    stats: &mut std::collections::BTreeMap<String, (u32, Stats, bool)>,
    t: Target,
    answer: Option<Stats>,
) {
    match (answer, stats.get_mut(&t.name)) {
        (Some(new), _) => {
            stats.insert(t.name, (t.pid, new, true));
        }
        // Still the same process: its last figures stand, marked unanswered.
        (None, Some(old)) if old.0 == t.pid => old.2 = false,
        (None, _) => {
            stats.remove(&t.name);
        }
    }
}
