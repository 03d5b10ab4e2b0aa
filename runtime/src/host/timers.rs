//! Timers: `each` and `after`, by alias, on the actor's own scheduling.
//!
//! A periodic timer keeps its cadence (each tick is due one period after
//! the previous one was due, so ticks do not drift), and a tick that comes
//! late, because a handler was slow, is followed by the next one a full
//! period later: ticks never burst to catch up.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use actix::{AsyncContext, SpawnHandle};

use super::Host;
use crate::agent::{Agent, CodeFn, Message};
use crate::codec::Serializer;

/// Code run by a timer: a closure over the agent, or a named handler with a payload.
pub(super) enum Action<A: Agent> {
    /// A closure given from code.
    Code(Rc<CodeFn<A>>),
    /// A named handler, called with a CBOR payload (set remotely).
    Handler { name: String, payload: Rc<[u8]> },
}

impl<A: Agent> Clone for Action<A> {
    fn clone(&self) -> Self {
        match self {
            Action::Code(f) => Action::Code(f.clone()),
            Action::Handler { name, payload } => Action::Handler {
                name: name.clone(),
                payload: payload.clone(),
            },
        }
    }
}

struct Timer<A: Agent> {
    action: Action<A>,
    period: Option<Duration>,
    due: Instant,
    handle: SpawnHandle,
    generation: u64,
}

/// The agent's timers by alias, and code waiting for a socket's backlog to drain.
pub(super) struct Timers<A: Agent> {
    by_alias: BTreeMap<String, Timer<A>>,
    /// `(slot index, generation, code)`: runs once that socket's backlog is empty.
    drain_waiters: Vec<(usize, u64, Rc<CodeFn<A>>)>,
    next_generation: u64,
    next_alias: u64,
}

impl<A: Agent> Default for Timers<A> {
    fn default() -> Self {
        Timers {
            by_alias: BTreeMap::new(),
            drain_waiters: Vec::new(),
            next_generation: 1,
            next_alias: 1,
        }
    }
}

/// What a due timer asks the host to do.
pub(super) struct Fired<A: Agent> {
    pub(super) alias: String,
    pub(super) action: Action<A>,
}

impl<A: Agent> Timers<A> {
    /// Starts a timer; an existing timer with the same alias is replaced.
    pub(super) fn start(
        &mut self,
        actor: &mut actix::Context<Host<A>>,
        alias: Option<String>,
        delay: Duration,
        period: Option<Duration>,
        action: Action<A>,
    ) -> String {
        let alias = alias.unwrap_or_else(|| self.fresh_alias());
        self.stop(actor, &alias);
        let generation = self.next_generation;
        self.next_generation += 1;
        let handle = schedule(actor, alias.clone(), generation, delay);
        let timer = Timer {
            action,
            period,
            due: Instant::now() + delay,
            handle,
            generation,
        };
        self.by_alias.insert(alias.clone(), timer);
        alias
    }

    fn fresh_alias(&mut self) -> String {
        loop {
            let alias = format!("timer-{}", self.next_alias);
            self.next_alias += 1;
            if !self.by_alias.contains_key(&alias) {
                return alias;
            }
        }
    }

    /// Stops `alias`; `false` when there is no such timer.
    pub(super) fn stop(&mut self, actor: &mut actix::Context<Host<A>>, alias: &str) -> bool {
        match self.by_alias.remove(alias) {
            Some(timer) => actor.cancel_future(timer.handle),
            None => false,
        }
    }

    /// Stops every timer.
    pub(super) fn stop_all(&mut self, actor: &mut actix::Context<Host<A>>) {
        for (_, timer) in std::mem::take(&mut self.by_alias) {
            actor.cancel_future(timer.handle);
        }
    }

    /// Runs `f` once the socket at `index` has flushed its backlog.
    pub(super) fn when_drained(&mut self, index: usize, generation: u64, f: Rc<CodeFn<A>>) {
        self.drain_waiters.push((index, generation, f));
    }

    /// Takes the code waiting for the socket at `index` to drain.
    pub(super) fn drained(&mut self, index: usize, generation: u64) -> Vec<Rc<CodeFn<A>>> {
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.drain_waiters)
            .into_iter()
            .partition(|(i, g, _)| *i == index && *g == generation);
        self.drain_waiters = waiting;
        ready.into_iter().map(|(_, _, f)| f).collect()
    }

    /// The aliases of running timers, sorted.
    pub(super) fn aliases(&self) -> Vec<String> {
        self.by_alias.keys().cloned().collect()
    }

    /// Takes the action of a timer that came due, rescheduling it when periodic.
    pub(super) fn fire(
        &mut self,
        actor: &mut actix::Context<Host<A>>,
        alias: &str,
        generation: u64,
    ) -> Option<Fired<A>> {
        let timer = self
            .by_alias
            .get_mut(alias)
            .filter(|t| t.generation == generation)?;
        let action = timer.action.clone();
        match timer.period {
            Some(period) => {
                let now = Instant::now();
                timer.due = next_due(timer.due, period, now);
                timer.handle = schedule(actor, alias.to_owned(), generation, timer.due - now);
            }
            None => {
                self.by_alias.remove(alias);
            }
        }
        Some(Fired {
            alias: alias.to_owned(),
            action,
        })
    }
}

impl<A: Agent> Host<A> {
    /// Runs the timer `alias` that came due.
    fn on_timer(&mut self, alias: &str, generation: u64, actor: &mut actix::Context<Self>) {
        let Some(fired) = self.state.timers.fire(actor, alias, generation) else {
            return;
        };
        match fired.action {
            Action::Code(f) => self.run_code(&*f, actor),
            Action::Handler { name, payload } => {
                let msg = Message::new(&fired.alias, None, &payload, Serializer::Cbor);
                self.run_handler(Some(&name), msg, actor);
            }
        }
    }
}

/// The next due time: one period after the last, or one period from now if that already passed.
fn next_due(last: Instant, period: Duration, now: Instant) -> Instant {
    let next = last + period;
    if next > now {
        next
    } else {
        now + period
    }
}

fn schedule<A: Agent>(
    actor: &mut actix::Context<Host<A>>,
    alias: String,
    generation: u64,
    delay: Duration,
) -> SpawnHandle {
    actor.run_later(delay, move |host, ctx| {
        host.on_timer(&alias, generation, ctx)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_ticks_do_not_burst() {
        let t0 = Instant::now();
        let p = Duration::from_millis(100);
        // On time: keep the cadence.
        assert_eq!(next_due(t0, p, t0 + Duration::from_millis(30)), t0 + p);
        // Late by three periods: the next tick is a full period from now, not immediately.
        let now = t0 + Duration::from_millis(350);
        assert_eq!(next_due(t0, p, now), now + p);
    }
}
