//! Supervision, carried out: restarts with configuration replay, heartbeat
//! and memory checks, `ps`, `journal` and `signal`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::protocol::journal::Entry;
use axon_runtime::{ErrorKind, Value};

use super::{Server, DEFAULT_GRACE, GAVE_UP};
use crate::lifecycle::Lifecycle;
use crate::methods::{AgentStatus, Journaled, PsArgs, SignalArgs};
use crate::policy::HEARTBEAT_MISSES;
use crate::registry::{Refusal, Waiter};
use crate::requests::to_value;
use crate::supervision::{Decision, Exit, State};

/// How often CPU and memory of the agents with a memory limit are sampled (of every agent,
/// when the node serves metrics; else on demand, for `ps`).
pub(super) const SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// `ps` samples every agent again only when the last full sample is older than this.
const RESAMPLE_AFTER: Duration = Duration::from_millis(500);

/// Grace for the siblings a group restart stops.
const SIBLING_GRACE: Duration = Duration::from_secs(2);

/// The children of a group restart still to stop, one at a time.
#[derive(Debug, Default)]
pub(super) struct SiblingStops {
    /// Still to ask, the next one last.
    queue: Vec<(String, u32)>,
    /// The one asked last, which must be gone before the next is asked.
    current: Option<u32>,
}

/// How long one replayed call may take.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(5);

impl Server {
    /// Replays the journal of `name` into its new process, then marks it running and answers the spawn.
    pub(super) fn replay(&mut self, name: &str, waiter: Option<Waiter>, ctx: &mut Context<Self>) {
        let (control, pid) = match self.records.info(name) {
            Ok(info) => (info.control.clone(), info.pid),
            Err(r) => return self.answer_spawn(waiter, Err(r)),
        };
        let entries: Vec<Entry> = self
            .supervision
            .get(name)
            .map(|c| c.journal.entries().to_vec())
            .unwrap_or_default();
        if entries.is_empty() {
            return self.serving(name, pid, waiter, ctx);
        }
        let agent = name.to_owned();
        let calls = async move {
            let mut failed = Vec::new();
            for e in entries {
                let res: axon_runtime::Result<Value> = axon_runtime::client::call::call(
                    &control,
                    &agent,
                    &e.method,
                    &e.args,
                    REPLAY_TIMEOUT,
                )
                .await;
                if let Err(err) = res {
                    failed.push(format!("{} ({}): {err}", e.key, e.method));
                }
            }
            failed
        };
        let name = name.to_owned();
        super::detached::detach(ctx, calls, move |act, failed, ctx| {
            for f in &failed {
                tracing::warn!(agent = %name, failed = %f, "configuration not restored");
            }
            act.serving(&name, pid, waiter, ctx);
        });
    }

    /// The process `pid` of `name` serves: it is running, the spawn (if any) is answered,
    /// and the member after it in a group restart starts.
    fn serving(&mut self, name: &str, pid: u32, waiter: Option<Waiter>, ctx: &mut Context<Self>) {
        let child = self.supervision.serving(name, pid);
        if let Some((died, restarts)) = child.and_then(|c| Some((c.died?, c.restarts))) {
            let ms = died.elapsed().as_secs_f64() * 1e3;
            tracing::info!(agent = %name, pid, restarts, crash_to_serving_ms = format!("{ms:.1}"), "agent restarted and serving again");
            let agent = name.to_owned();
            self.record(Lifecycle::Restarted {
                agent,
                pid,
                restarts,
            });
        }
        let outcome = self.records.info(name).and_then(to_value);
        self.answer_spawn(waiter, outcome);
        // The next member of its group restart may be waiting for it.
        self.start_due(ctx);
    }

    /// `journal`: a supervised agent reports a configuring call.
    pub(super) fn journal(&mut self, a: Journaled) -> Value {
        let kept = self.supervision.journal(&a.name, a.pid, a.change);
        #[cfg(feature = "cluster")]
        if kept {
            self.publish_journal(&a.name);
        }
        Value::Bool(kept)
    }

    /// `signal`: sends a signal to an agent's process (fault injection).
    ///
    /// Only this supervisor's own children are reached, by name: a pid that
    /// an agent registered for itself is never signalled.
    pub(super) fn signal(&mut self, a: SignalArgs) -> Result<Value, Refusal> {
        let Some(pid) = self.supervision.get(&a.name).and_then(|c| c.pid) else {
            if self.records.info(&a.name).is_ok() {
                tracing::warn!(agent = %a.name, signal = %a.signal, "signal to an agent this node did not start refused");
                let message = format!(
                    "agent {:?} was not started by this supervisor; signals reach only its own children",
                    a.name
                );
                return Err((ErrorKind::Refused, message));
            }
            let message = format!("no running agent named {:?}", a.name);
            return Err((ErrorKind::NotFound, message));
        };
        tracing::warn!(agent = %a.name, pid, signal = %a.signal, "signal sent on request");
        self.signal_child(pid, a.signal)?;
        Ok(Value::Integer(pid.into()))
    }

    /// `ps`: every agent this node started (in start order), then those that registered on their own.
    pub(super) fn ps(&mut self, a: PsArgs) -> Result<Value, Refusal> {
        self.sample(true);
        to_value(&self.ps_lines(a.stats))
    }

    /// The lines of `ps` from the last CPU and memory sample; `with_stats`: with the counters
    /// each agent reported with its last renewal.
    pub(super) fn ps_lines(&self, with_stats: bool) -> Vec<AgentStatus> {
        let now = Instant::now();
        let mut lines: Vec<AgentStatus> = self
            .supervision
            .ordered()
            .into_iter()
            .map(|c| {
                let usage = c.pid.and_then(|p| self.usage.get(&p));
                let kind = self.records.info(&c.name).map_or_else(
                    |_| c.options.kind.clone().unwrap_or_else(|| "agent".into()),
                    |i| i.kind.clone(),
                );
                AgentStatus {
                    name: c.name.clone(),
                    kind,
                    pid: c.pid,
                    state: state_name(c.state).into(),
                    restart: c.restart.as_str().into(),
                    restarts: c.restarts,
                    uptime_ms: c
                        .pid
                        .map_or(0, |_| now.duration_since(c.since).as_millis() as u64),
                    cpu: usage.map(|u| u.cpu),
                    rss: usage.map(|u| u.rss),
                    last_exit: c.last_exit.clone(),
                    group: self.supervision.path_of(c),
                    stats: None,
                }
            })
            .collect();
        let registered_only = self
            .records
            .agents()
            .filter(|info| self.supervision.get(&info.name).is_none());
        for info in registered_only {
            lines.push(AgentStatus {
                name: info.name.clone(),
                kind: info.kind.clone(),
                pid: Some(info.pid),
                state: "registered".into(),
                restart: "none".into(),
                restarts: 0,
                uptime_ms: 0,
                cpu: None,
                rss: None,
                last_exit: None,
                group: Vec::new(),
                stats: None,
            });
        }
        if with_stats {
            for line in &mut lines {
                let misses = axon_runtime::config::LEASE_MISSES;
                let reported = self.records.counters_of(&line.name, misses, now);
                line.stats = reported
                    .filter(|(pid, _, current)| Some(*pid) == line.pid && *current)
                    .map(|(_, stats, _)| stats.clone());
            }
        }
        lines
    }

    /// `groups`: the supervision tree's groups with their strategy and intensity usage.
    pub(super) fn groups(&self) -> Result<Value, Refusal> {
        to_value(&self.supervision.group_statuses(Instant::now()))
    }

    /// Samples CPU and memory of the agents with a memory limit, or of `everyone`; kills
    /// those over their limit. A full sample less than [`RESAMPLE_AFTER`] old is not taken again.
    pub(super) fn sample(&mut self, everyone: bool) {
        if everyone && self.sampled.is_some_and(|at| at.elapsed() < RESAMPLE_AFTER) {
            return;
        }
        let pids: Vec<u32> = match everyone {
            true => self.children.keys().copied().collect(),
            false => self
                .supervision
                .children()
                .filter(|c| c.options.memory_limit.is_some())
                .filter_map(|c| c.pid)
                .collect(),
        };
        if everyone {
            self.sampled = Some(Instant::now());
        }
        let fresh = self.sampler.sample(&pids);
        let children = &self.children;
        self.usage.retain(|pid, _| children.contains_key(pid));
        self.usage.extend(fresh);
        let over: Vec<(String, u32, u64, u64)> = self
            .supervision
            .children()
            .filter(|c| c.kill_reason.is_none())
            .filter_map(|c| {
                let (pid, limit) = (c.pid?, c.options.memory_limit?);
                let rss = self.usage.get(&pid)?.rss;
                (rss > limit).then(|| (c.name.clone(), pid, rss, limit))
            })
            .collect();
        for (name, pid, rss, limit) in over {
            let why = format!(
                "memory limit exceeded: rss {} > limit {}",
                mib(rss),
                mib(limit)
            );
            self.kill_for(&name, pid, why);
        }
    }

    /// Kills supervised agents that missed their heartbeats (hung, e.g. stopped by SIGSTOP).
    pub(super) fn check_heartbeats(&mut self) {
        let now = Instant::now();
        // Saturating: a heartbeat read from a manifest may be as long as a Duration holds.
        let limit = self
            .supervision
            .spec
            .heartbeat
            .saturating_mul(HEARTBEAT_MISSES);
        let hung: Vec<(String, u32, Duration)> = self
            .supervision
            .children()
            .filter(|c| c.restartable() && c.state == State::Running && c.kill_reason.is_none())
            .filter_map(|c| {
                let pid = c.pid?;
                let silent = self.records.silent_for(&c.name, now)?;
                (silent > limit).then(|| (c.name.clone(), pid, silent))
            })
            .collect();
        for (name, pid, silent) in hung {
            let why = format!(
                "hung: no heartbeat for {} ms ({HEARTBEAT_MISSES} missed)",
                silent.as_millis()
            );
            self.kill_for(&name, pid, why);
        }
    }

    /// SIGKILLs a child, recording why; its exit then goes through the usual restart decision.
    fn kill_for(&mut self, name: &str, pid: u32, why: String) {
        tracing::warn!(agent = %name, pid, reason = %why, "killing agent");
        if let Some(child) = self.supervision.incarnation(name, pid) {
            child.kill_reason = Some(why);
        }
        // Already gone is fine: its exit is on its way.
        let _ = self.signal_child(pid, Signal::Kill);
    }

    /// Applies the supervisor's decision on the exit of `pid`.
    pub(super) fn supervise_exit(
        &mut self,
        name: &str,
        pid: u32,
        normal: bool,
        status: String,
        ctx: &mut Context<Self>,
    ) {
        if self.leaving.is_some() {
            self.supervision.stopping(name);
        }
        let asked = self
            .supervision
            .get(name)
            .is_some_and(|c| c.pid == Some(pid) && c.state == State::Stopping);
        let now = Instant::now();
        let exit = Exit {
            normal,
            reason: status.clone(),
        };
        let decision = self.supervision.exited(name, pid, exit, now);
        let reason = self
            .supervision
            .get(name)
            .and_then(|c| c.last_exit.clone())
            .unwrap_or(status);
        if let Some(leaving) = self.leaving.as_mut() {
            leaving.stopped(pid, normal);
        }
        self.record(Lifecycle::Exited {
            agent: name.to_owned(),
            pid,
            reason,
            normal,
            asked,
        });
        match decision {
            Decision::Nothing => {}
            Decision::Restart {
                start,
                stop,
                due,
                escalated,
            } => {
                for why in escalated {
                    tracing::error!(reason = %why, "supervision group gave up; its parent restarts it");
                    self.record(Lifecycle::GroupEscalated { why });
                }
                let reason = self
                    .supervision
                    .get(name)
                    .and_then(|c| c.last_exit.clone())
                    .unwrap_or_default();
                let delay_ms = due.saturating_duration_since(now).as_millis() as u64;
                tracing::warn!(agent = %name, reason = %reason, restart = ?start, delay_ms, "restart scheduled");
                self.record(Lifecycle::RestartScheduled {
                    agent: name.to_owned(),
                    restart: start,
                    delay_ms,
                });
                self.stop_siblings(stop, ctx);
                ctx.run_later(due.saturating_duration_since(now), |act, ctx| {
                    act.start_due(ctx)
                });
            }
            Decision::GiveUp { stop, why } => {
                let escalate = self.supervision.spec.escalate;
                tracing::error!(reason = %why, escalate, "supervisor gave up");
                self.record(Lifecycle::GaveUp {
                    why: why.clone(),
                    escalate,
                });
                if escalate {
                    let _ = GAVE_UP.set(why);
                    self.shutdown(DEFAULT_GRACE, None, ctx);
                } else {
                    self.stop_siblings(stop, ctx);
                }
            }
        }
        // The sibling of a group restart asked last may just have gone.
        self.stop_next_sibling(ctx);
        self.start_due(ctx);
    }

    /// Stops the children of a group restart one at a time (each once the one
    /// before is gone), in the order given (reverse start order), as OTP does.
    fn stop_siblings(&mut self, names: Vec<String>, ctx: &mut Context<Self>) {
        let pids = names.into_iter().filter_map(|n| {
            let pid = self.supervision.get(&n)?.pid?;
            Some((n, pid))
        });
        let mut queue: Vec<(String, u32)> = pids.collect();
        queue.reverse();
        // Earlier stops still in progress go first.
        queue.append(&mut self.sibling_stops.queue);
        self.sibling_stops.queue = queue;
        self.stop_next_sibling(ctx);
    }

    /// Asks the next sibling of a group restart to stop once the one asked before is gone;
    /// SIGKILLs it after a short grace.
    pub(super) fn stop_next_sibling(&mut self, ctx: &mut Context<Self>) {
        let stops = &mut self.sibling_stops;
        if stops
            .current
            .is_some_and(|pid| self.children.contains_key(&pid))
        {
            return;
        }
        stops.current = None;
        while let Some((name, pid)) = self.sibling_stops.queue.pop() {
            if !self.children.contains_key(&pid) {
                continue;
            }
            self.sibling_stops.current = Some(pid);
            match self.records.info(&name) {
                Ok(info) if info.pid == pid => {
                    let control = info.control.clone();
                    super::stop::ask_to_stop(&name, &control, super::stop::AS_CHILD, ctx, self);
                    ctx.run_later(SIBLING_GRACE, move |act, _| {
                        // Gone by itself in the grace is what we hoped for.
                        let _ = act.signal_child(pid, Signal::Kill);
                    });
                }
                // Not registered (still starting): nothing to ask, so end it now.
                _ => {
                    // Gone meanwhile is fine: its exit moves the queue on.
                    let _ = self.signal_child(pid, Signal::Kill);
                }
            }
            return;
        }
    }

    /// Starts the children whose restart is due (their group is down and the backoff over).
    pub(super) fn start_due(&mut self, ctx: &mut Context<Self>) {
        if self.leaving.is_some() || self.fenced {
            return;
        }
        let now = Instant::now();
        for name in self.supervision.due(now) {
            let Some(child) = self.supervision.get(&name) else {
                continue;
            };
            let (opts, addrs): (_, BTreeMap<_, _>) = (child.options.clone(), child.addrs.clone());
            if let Err(r) = self.records.claim(Some(name.clone()), None) {
                tracing::error!(agent = %name, error = %r.1, "cannot restart: name taken");
                continue;
            }
            match self.start_process(&name, &opts, addrs, ctx) {
                Ok((pid, identity)) => {
                    self.supervision.restarted(&name, pid, Instant::now());
                    self.supervision.identify(&name, pid, identity);
                }
                Err(e) => {
                    self.records.finish_start(&name);
                    tracing::error!(agent = %name, error = %e, "restart failed");
                    self.record(Lifecycle::RestartFailed {
                        agent: name.clone(),
                        error: e.to_string(),
                    });
                    if let Some(c) = self.supervision.get_mut(&name) {
                        c.state = State::Failed;
                        c.last_exit = Some(format!("restart failed: {e}"));
                    }
                }
            }
        }
        self.save_changes();
    }
}

fn state_name(state: State) -> &'static str {
    match state {
        State::Starting => "starting",
        State::Running => "running",
        State::Restarting => "restarting",
        State::Stopping => "stopping",
        State::Stopped => "stopped",
        State::Exited => "exited",
        State::Failed => "failed",
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
