//! The node's shutdown: its children stopped in waves, dependents first
//! (see `supervision/waves.rs` and docs/supervision.md, Shutdown), each
//! SIGKILLed if it is still there a grace after it was asked; then the
//! caller answered, the runtime directory removed and the event loop stopped.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::Value;
use futures::StreamExt;
use tokio::sync::oneshot;

use super::detached;
use axon_runtime::protocol::methods::Shutdown;

use super::stop::{ask_to_stop, AS_CHILD, REAP_BOUND};
use super::Server;
use crate::lifecycle::{StopReport, STOPPED_LINE};
use crate::registry::Waiter;
use crate::requests::reply_frames;
use crate::rundir;

/// How many `shutdown` requests are on their way to agents at once.
const ASKS_IN_FLIGHT: usize = 64;

/// A shutdown of the node in progress.
pub(super) struct Leaving {
    pub(super) waiter: Option<Waiter>,
    /// How long each agent has, from when it is asked, before it is SIGKILLed.
    grace: Duration,
    /// The waves still to ask, the next one first.
    waves: VecDeque<Vec<(String, u32)>>,
    /// The processes of the wave asked last: all must be gone before the next is asked.
    current: BTreeSet<u32>,
    /// How many waves were asked (the number of the current one), and how many there were.
    asked: usize,
    total: usize,
    /// How the children ended, for the [`StopReport`].
    report: StopReport,
    /// The caller was answered and the event loop told to stop.
    finished: bool,
}

impl Leaving {
    /// Child `pid` ended during the shutdown: gracefully (status 0), or not.
    pub(super) fn stopped(&mut self, pid: u32, normal: bool) {
        self.current.remove(&pid);
        match normal {
            true => self.report.graceful += 1,
            false => self.report.killed += 1,
        }
    }
}

impl Server {
    /// Asks every agent to stop, in waves; SIGKILLs each one still there a
    /// `grace` after it was asked; then answers and exits.
    pub(super) fn shutdown(
        &mut self,
        grace: Duration,
        waiter: Option<Waiter>,
        ctx: &mut Context<Self>,
    ) {
        if let Some(leaving) = self.leaving.as_mut() {
            // Already leaving: answer this caller too when done.
            if leaving.waiter.is_none() {
                leaving.waiter = waiter;
            } else if let Some(w) = waiter {
                self.answer(&w, Ok(Value::Null));
            }
            return;
        }
        tracing::info!(agents = self.children.len(), grace = ?grace, "name server shutting down");
        let waves = self.stop_waves();
        for (name, _) in waves.iter().flatten() {
            self.supervision.stopping(name);
        }
        self.leaving = Some(Leaving {
            waiter,
            grace,
            total: waves.len(),
            waves: waves.into(),
            current: BTreeSet::new(),
            asked: 0,
            report: StopReport::default(),
            finished: false,
        });
        // Agents that registered on their own are not ours to order: asked at once.
        let others: Vec<(String, String)> = self
            .records
            .agents()
            .filter(|a| !self.children.contains_key(&a.pid))
            .map(|a| (a.name.clone(), a.control.clone()))
            .collect();
        for (name, control) in others {
            ask_to_stop(&name, &control, Shutdown::default(), ctx, self);
        }
        if self.children.is_empty() {
            return self.finish(ctx);
        }
        self.stop_next(ctx);
    }

    /// The children in the waves to stop them in: by the dependencies the
    /// journals show, and any process of ours the supervision does not list, last.
    fn stop_waves(&self) -> Vec<Vec<(String, u32)>> {
        let journals = self
            .supervision
            .children()
            .map(|c| (c.name.as_str(), c.journal.entries()));
        let depends = crate::topology::dependencies(self.records.agents(), journals);
        let mut waves = crate::supervision::stop_waves(self.supervision.stop_order(), &depends);
        let listed: BTreeSet<u32> = waves.iter().flatten().map(|(_, pid)| *pid).collect();
        let rest: Vec<(String, u32)> = self
            .children
            .iter()
            .filter(|(pid, _)| !listed.contains(pid))
            .map(|(pid, name)| (name.clone(), *pid))
            .collect();
        if !rest.is_empty() {
            waves.push(rest);
        }
        waves
    }

    /// Asks the next wave to stop once every agent of the one before is gone.
    pub(super) fn stop_next(&mut self, ctx: &mut Context<Self>) {
        loop {
            let Some(leaving) = self.leaving.as_mut() else {
                return;
            };
            // Each exit takes its pid out (`Leaving::stopped`).
            if !leaving.current.is_empty() {
                return;
            }
            let Some(wave) = leaving.waves.pop_front() else {
                return;
            };
            leaving.asked += 1;
            let wave: Vec<(String, u32)> = wave
                .into_iter()
                .filter(|(_, pid)| self.children.contains_key(pid))
                .collect();
            if !wave.is_empty() {
                return self.ask_wave(wave, ctx);
            }
        }
    }

    /// Asks every agent of `wave` to stop at once (SIGKILLs the ones not yet
    /// registered: there is nothing to ask), and SIGKILLs the ones still
    /// there after the grace.
    fn ask_wave(&mut self, wave: Vec<(String, u32)>, ctx: &mut Context<Self>) {
        let Some(leaving) = self.leaving.as_mut() else {
            return;
        };
        let (number, grace) = (leaving.asked, leaving.grace);
        leaving.current = wave.iter().map(|(_, pid)| *pid).collect();
        tracing::info!(
            wave = number,
            waves = leaving.total,
            agents = wave.len(),
            "asking agents to stop"
        );
        let mut asks = Vec::with_capacity(wave.len());
        for (name, pid) in wave {
            match self.records.info(&name) {
                Ok(info) if info.pid == pid => asks.push((name, info.control.clone())),
                // Not registered (still starting): nothing to ask, so end it now.
                // Gone meanwhile is fine: its exit moves the shutdown on.
                _ => drop(self.signal_child(pid, Signal::Kill)),
            }
        }
        // Each agent's grace runs from when its ask went out: the wave's, from the last ask
        // (the asks of a large wave take a while), or from a grace after the first at the latest.
        let sent = tokio::time::timeout(grace, ask_all(asks));
        detached::detach(ctx, sent, move |_, failed, ctx| {
            match failed {
                Ok(0) => {}
                Ok(failed) => tracing::warn!(agents = failed, "could not ask some agents to stop"),
                Err(_) => tracing::warn!(
                    wave = number,
                    "asking the wave to stop took longer than the grace"
                ),
            }
            detached::after(ctx, grace, move |act, _| act.wave_overdue(number));
            detached::after(ctx, grace + REAP_BOUND, move |act, ctx| {
                act.wave_unreaped(number, ctx)
            });
        });
    }

    /// The grace of wave `number` is over: SIGKILL its agents still running.
    fn wave_overdue(&mut self, number: usize) {
        let Some(leaving) = self.leaving.as_ref().filter(|l| l.asked == number) else {
            return;
        };
        for pid in &leaving.current {
            let Some(name) = self.children.get(pid) else {
                continue;
            };
            tracing::warn!(agent = %name, pid, "agent still running after the grace; killing it");
            // Gone meanwhile is fine: that is what we want.
            let _ = axon_runtime::launch::signal(*pid, Signal::Kill);
        }
    }

    /// Wave `number` was SIGKILLed but some of it is not reaped: go on without it.
    fn wave_unreaped(&mut self, number: usize, ctx: &mut Context<Self>) {
        let Some(leaving) = self.leaving.as_mut().filter(|l| l.asked == number) else {
            return;
        };
        if leaving.current.is_empty() {
            return;
        }
        tracing::error!(
            agents = leaving.current.len(),
            "killed agents not reaped; going on without them"
        );
        leaving.current.clear();
        self.stop_next(ctx);
        if self
            .leaving
            .as_ref()
            .is_some_and(|l| l.waves.is_empty() && l.current.is_empty())
        {
            self.finish(ctx);
        }
    }

    /// Answers the shutdown caller, then stops the event loop once the answer is out.
    pub(super) fn finish(&mut self, ctx: &mut Context<Self>) {
        let Some(leaving) = self.leaving.as_mut().filter(|l| !l.finished) else {
            return;
        };
        leaving.finished = true;
        let waiter = leaving.waiter.take();
        let last = self.lifecycle.last_events(self.me.node.incarnation);
        let report = StopReport {
            gave_up: super::GAVE_UP.get().is_some(),
            last,
            ..leaving.report.clone()
        };
        rundir::remove(&self.dir);
        tracing::info!(
            malformed = self.malformed,
            graceful = report.graceful,
            killed = report.killed,
            "name server stopped"
        );
        tell_parent(&report);
        let Some(waiter) = waiter else {
            System::current().stop();
            return;
        };
        let (sent, on_sent) = oneshot::channel();
        // The sender task outlives this call; if it is gone, stopping below is all that is left.
        let _ = self
            .outbox
            .send((reply_frames(&waiter, Ok(Value::Null)), Some(sent)));
        ctx.spawn(
            on_sent
                .into_actor(self)
                .map(|_, _, _| System::current().stop()),
        );
    }
}

/// Sends `shutdown` to each (name, control endpoint), [`ASKS_IN_FLIGHT`] at
/// a time; answers how many could not be sent.
async fn ask_all(asks: Vec<(String, String)>) -> usize {
    futures::stream::iter(asks)
        .map(|(name, control)| async move {
            let sent =
                axon_runtime::client::call::oneway(&control, &name, "shutdown", &AS_CHILD).await;
            if let Err(e) = &sent {
                tracing::debug!(agent = %name, error = %e, "could not ask an agent to stop");
            }
            sent.is_err()
        })
        .buffer_unordered(ASKS_IN_FLIGHT)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await
}

/// Tells the process that started this one (a [`NameServer`](crate::NameServer) handle) how
/// the shutdown went, on stdout: [`STOPPED_LINE`] and the report as JSON.
fn tell_parent(report: &StopReport) {
    use std::io::Write;
    let Ok(json) = serde_json::to_string(report) else {
        return;
    };
    let mut out = std::io::stdout().lock();
    // No one reading stdout (a name server run by hand, its output closed): nothing to tell.
    let _ = writeln!(out, "{STOPPED_LINE} {json}").and_then(|()| out.flush());
}
