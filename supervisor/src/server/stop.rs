//! Stopping agents and the node: ask, wait for the exit up to the grace,
//! SIGKILL the rest, then answer.

use std::time::Duration;

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::protocol::Request;
use axon_runtime::{ErrorKind, Value};
use tokio::sync::oneshot;

use super::{Server, DEFAULT_GRACE};
use crate::lifecycle::{StopReport, STOPPED_LINE};
use crate::methods::Stop;
use crate::registry::{Refusal, Waiter};
use crate::requests::{args, refusal, reply_frames};
use crate::rundir;

/// How long a SIGKILLed process may take to be reaped before its waiters are answered anyway.
const REAP_BOUND: Duration = Duration::from_secs(1);

/// A shutdown of the node in progress.
pub(super) struct Leaving {
    pub(super) waiter: Option<Waiter>,
    /// Children still to ask, the next one last (so: reverse start order).
    queue: Vec<(String, u32)>,
    /// The child asked last, which must be gone before the next is asked.
    current: Option<u32>,
    /// How the children ended, for the [`StopReport`].
    report: StopReport,
}

impl Leaving {
    /// A child ended during the shutdown: gracefully (status 0), or not.
    pub(super) fn stopped(&mut self, normal: bool) {
        match normal {
            true => self.report.graceful += 1,
            false => self.report.killed += 1,
        }
    }
}

/// A `shutdown_agent` caller waiting for the agent `name` (process `pid`) to be gone.
pub(super) struct Stopping {
    name: String,
    pid: u32,
    waiter: Waiter,
}

impl Server {
    /// Asks one agent to stop; answers once it is gone, SIGKILLing it after the grace.
    pub(super) fn shutdown_agent(
        &mut self,
        req: &Request,
        waiter: &Waiter,
        ctx: &mut Context<Self>,
    ) -> Option<Result<Value, Refusal>> {
        let (name, grace) = match stop_args(req) {
            Ok(a) => a,
            Err(r) => return Some(Err(r)),
        };
        // Stopped on request: the supervisor does not bring it back.
        let restarting = self
            .supervision
            .get(&name)
            .is_some_and(|c| c.state == crate::supervision::State::Restarting);
        self.supervision.stopping(&name);
        if restarting {
            return Some(Ok(Value::Null));
        }
        let (control, pid) = match self.records.info(&name) {
            Ok(info) => (info.control.clone(), info.pid),
            Err(r) => return Some(Err(r)),
        };
        ask_to_stop(&name, &control, ctx, self);
        let waiter = waiter.clone();
        self.stopping.push(Stopping { name, pid, waiter });
        ctx.run_later(grace, move |act, ctx| act.stop_overdue(pid, ctx));
        None
    }

    /// The grace is over: kill a child that is still running; give up on an agent that is not ours.
    fn stop_overdue(&mut self, pid: u32, ctx: &mut Context<Self>) {
        let Some(name) = self.stopping_name(pid) else {
            return;
        };
        if !self.children.contains_key(&pid) {
            return self.give_up_stopping(pid, "did not stop within the grace");
        }
        tracing::warn!(agent = %name, pid, "agent ignored shutdown; killing it");
        // Gone meanwhile is fine: its exit answers the waiters.
        let _ = self.signal_child(pid, Signal::Kill);
        // Its exit answers the waiters; this bounds a process the kernel does not reap.
        ctx.run_later(REAP_BOUND, move |act, _| {
            act.give_up_stopping(pid, "was killed but has not exited")
        });
    }

    fn stopping_name(&self, pid: u32) -> Option<String> {
        let stopping = self.stopping.iter().find(|s| s.pid == pid)?;
        Some(stopping.name.clone())
    }

    fn give_up_stopping(&mut self, pid: u32, why: &str) {
        let (late, rest) = std::mem::take(&mut self.stopping)
            .into_iter()
            .partition(|s| s.pid == pid);
        self.stopping = rest;
        for s in late {
            let message = format!("agent {} {why}", s.name);
            let error = refusal((ErrorKind::Timeout, message), "shutdown_agent");
            self.answer(&s.waiter, Err(error));
        }
    }

    /// Answers the `shutdown_agent` callers whose agent is gone: not running as our child, not registered.
    pub(super) fn settle_stops(&mut self) {
        if self.stopping.is_empty() {
            return;
        }
        let (gone, waiting): (Vec<Stopping>, Vec<Stopping>) = std::mem::take(&mut self.stopping)
            .into_iter()
            .partition(|s| self.is_gone(&s.name, s.pid));
        self.stopping = waiting;
        for s in gone {
            self.answer(&s.waiter, Ok(Value::Null));
        }
    }

    fn is_gone(&self, name: &str, pid: u32) -> bool {
        let registered = self.records.info(name).is_ok_and(|i| i.pid == pid);
        !registered && !self.children.contains_key(&pid)
    }

    /// Asks every agent to stop; SIGKILLs the rest after `grace`; then answers and exits.
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
        // Children stop one at a time in reverse start order (as OTP does); agents
        // that registered on their own are asked at once.
        let mut queue = self.supervision.stop_order();
        queue.reverse();
        for (name, _) in &queue {
            self.supervision.stopping(name);
        }
        self.leaving = Some(Leaving {
            waiter,
            queue,
            current: None,
            report: StopReport::default(),
        });
        let others: Vec<(String, String)> = self
            .records
            .agents()
            .filter(|a| !self.children.contains_key(&a.pid))
            .map(|a| (a.name.clone(), a.control.clone()))
            .collect();
        for (name, control) in others {
            ask_to_stop(&name, &control, ctx, self);
        }
        if self.children.is_empty() {
            return self.finish(ctx);
        }
        self.stop_next(ctx);
        ctx.run_later(grace, |act, _| act.kill_children());
        // Killed children are reaped at once (then `on_exit` finishes); this bounds a kernel that will not.
        ctx.run_later(grace + REAP_BOUND, |act, ctx| act.finish(ctx));
    }

    /// Asks the next child to stop once the one asked before is gone.
    pub(super) fn stop_next(&mut self, ctx: &mut Context<Self>) {
        loop {
            let Some(leaving) = self.leaving.as_mut() else {
                return;
            };
            if leaving
                .current
                .is_some_and(|pid| self.children.contains_key(&pid))
            {
                return;
            }
            let Some((name, pid)) = leaving.queue.pop() else {
                leaving.current = None;
                return;
            };
            if !self.children.contains_key(&pid) {
                continue;
            }
            leaving.current = Some(pid);
            match self.records.info(&name) {
                Ok(info) if info.pid == pid => {
                    let control = info.control.clone();
                    ask_to_stop(&name, &control, ctx, self);
                    return;
                }
                // Not registered (still starting): nothing to ask, so end it now.
                _ => {
                    // Gone meanwhile is fine: its exit moves the shutdown on.
                    let _ = self.signal_child(pid, Signal::Kill);
                    return;
                }
            }
        }
    }

    fn kill_children(&mut self) {
        for (pid, name) in &self.children {
            tracing::warn!(agent = %name, pid, "agent still running after the grace; killing it");
            // Gone meanwhile is fine: that is what we want.
            let _ = axon_runtime::launch::signal(*pid, Signal::Kill);
        }
    }

    /// Sends `sig` to `pid` if it is a process this server started and has not reaped; the one
    /// way this server signals anything.
    pub(super) fn signal_child(&self, pid: u32, sig: Signal) -> Result<(), Refusal> {
        if !self.children.contains_key(&pid) {
            let message = format!("pid {pid} is not a child of this supervisor");
            return Err((ErrorKind::Refused, message));
        }
        axon_runtime::launch::signal(pid, sig).map_err(|e| (ErrorKind::Internal, e.to_string()))
    }

    /// Answers the shutdown caller, then stops the event loop once the answer is out.
    pub(super) fn finish(&mut self, ctx: &mut Context<Self>) {
        let Some(leaving) = self.leaving.as_mut() else {
            return;
        };
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

/// The agent to stop and its grace, from `shutdown_agent` arguments.
fn stop_args(req: &Request) -> Result<(String, Duration), Refusal> {
    let a: Stop = args(req)?;
    let name = a
        .name
        .ok_or_else(|| (ErrorKind::BadArguments, "missing field `name`".to_owned()))?;
    Ok((name, grace_of(a.timeout_ms)))
}

/// The grace asked for, else the default.
pub(super) fn grace_of(timeout_ms: Option<u64>) -> Duration {
    timeout_ms.map_or(DEFAULT_GRACE, Duration::from_millis)
}

/// Sends `shutdown` to an agent's control socket without waiting for the answer.
pub(super) fn ask_to_stop(name: &str, control: &str, ctx: &mut Context<Server>, server: &Server) {
    let (name, control) = (name.to_owned(), control.to_owned());
    let ask =
        async move { axon_runtime::client::call::oneway(&control, &name, "shutdown", &()).await };
    ctx.spawn(ask.into_actor(server).map(|res, _, _| {
        if let Err(e) = res {
            tracing::warn!(error = %e, "could not ask an agent to stop");
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(args: Value) -> Request {
        Request::new(
            1,
            axon_runtime::protocol::NAMESERVER,
            "shutdown_agent",
            args,
            false,
        )
    }

    fn map(entries: Vec<(&str, Value)>) -> Value {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::Text(k.into()), v))
                .collect(),
        )
    }

    #[test]
    fn shutdown_agent_needs_a_name_and_defaults_its_grace() {
        let named = map(vec![("name", Value::Text("a".into()))]);
        assert_eq!(stop_args(&request(named)), Ok(("a".into(), DEFAULT_GRACE)));
        let timed = map(vec![
            ("name", Value::Text("a".into())),
            ("timeout_ms", Value::Integer(250.into())),
        ]);
        let grace = Duration::from_millis(250);
        assert_eq!(stop_args(&request(timed)), Ok(("a".into(), grace)));
        let unnamed = stop_args(&request(Value::Null)).unwrap_err();
        assert_eq!(unnamed.0, ErrorKind::BadArguments);
        let negative = map(vec![
            ("name", Value::Text("a".into())),
            ("timeout_ms", Value::Integer((-1).into())),
        ]);
        assert_eq!(
            stop_args(&request(negative)).unwrap_err().0,
            ErrorKind::BadArguments
        );
    }
}
