//! Stopping one agent (`shutdown_agent`): ask, wait for the exit up to the
//! grace, SIGKILL it if need be, then answer. The node's shutdown is in `leaving.rs`.

use std::time::Duration;

use actix::prelude::*;
use axon_runtime::launch::Signal;
use axon_runtime::protocol::methods::Shutdown;
use axon_runtime::protocol::Request;
use axon_runtime::{ErrorKind, Value};

use super::{Server, DEFAULT_GRACE};
use crate::methods::Stop;
use crate::registry::{Refusal, Waiter};
use crate::requests::{args, refusal};

/// How long a SIGKILLed process may take to be reaped before its waiters are answered anyway.
pub(super) const REAP_BOUND: Duration = Duration::from_secs(1);

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
        // Only a child's exit is watched (and removes its record): anyone else unregisters.
        let how = if self.children.contains_key(&pid) {
            AS_CHILD
        } else {
            Shutdown::default()
        };
        ask_to_stop(&name, &control, how, ctx, self);
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

    /// Sends `sig` to `pid` if it is a process this server started and has not reaped; the one
    /// way this server signals anything.
    pub(super) fn signal_child(&self, pid: u32, sig: Signal) -> Result<(), Refusal> {
        if !self.children.contains_key(&pid) {
            let message = format!("pid {pid} is not a child of this supervisor");
            return Err((ErrorKind::Refused, message));
        }
        axon_runtime::launch::signal(pid, sig).map_err(|e| (ErrorKind::Internal, e.to_string()))
    }
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

/// How a supervisor asks its own child to stop: no unregister, the exit removes its record.
pub(super) const AS_CHILD: Shutdown = Shutdown { unregister: false };

/// Sends `shutdown` to an agent's control socket without waiting for the answer.
pub(super) fn ask_to_stop(
    name: &str,
    control: &str,
    how: Shutdown,
    ctx: &mut Context<Server>,
    server: &Server,
) {
    let (name, control) = (name.to_owned(), control.to_owned());
    let ask =
        async move { axon_runtime::client::call::oneway(&control, &name, "shutdown", &how).await };
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
