//! `Ctx`: what a handler can do besides changing its agent's state.

use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::address::{Address, Kind};
use crate::agent::Agent;
use crate::core::{BindOptions, ConnectOptions, Core, RequestOptions};
use crate::error::{Error, Result};
use crate::host::Host;
use crate::socket_ref::{SocketKey, SocketRef};
use crate::stats::Stats;
use crate::timers::{Action, Timers};

/// A handler's view of its host: sockets, identity, lifecycle.
pub struct Ctx<'a, A: Agent> {
    pub(crate) core: &'a mut Core,
    pub(crate) timers: &'a mut Timers<A>,
    pub(crate) actor: &'a mut actix::Context<Host<A>>,
}

impl<'a, A: Agent> Ctx<'a, A> {
    pub(crate) fn new(
        core: &'a mut Core,
        timers: &'a mut Timers<A>,
        actor: &'a mut actix::Context<Host<A>>,
    ) -> Self {
        Ctx {
            core,
            timers,
            actor,
        }
    }
}

impl<A: Agent> Ctx<'_, A> {
    /// The agent's name.
    pub fn name(&self) -> &str {
        self.core.name()
    }

    /// Sends `value` on a socket (PUSH, PUB without topic, or a REQ request),
    /// named by alias (`"out"`) or by a [`SocketRef`] from [`Ctx::socket`].
    pub fn send<'s, T: Serialize + ?Sized>(
        &mut self,
        socket: impl Into<SocketKey<'s>>,
        value: &T,
    ) -> Result<()> {
        self.send_inner(socket.into(), None, value)
    }

    /// Publishes `value` on a PUB socket under `topic`.
    pub fn publish<'s, T: Serialize + ?Sized>(
        &mut self,
        socket: impl Into<SocketKey<'s>>,
        topic: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<()> {
        self.send_inner(socket.into(), Some(topic.as_ref()), value)
    }

    /// A handle on the socket `alias` for hot loops: sends and backlog checks
    /// through it skip the alias lookup. It stays valid until the socket is closed.
    ///
    /// ```ignore
    /// let out = ctx.socket("out")?;
    /// for tick in ticks {
    ///     ctx.send(&out, &tick)?;
    /// }
    /// ```
    pub fn socket(&self, alias: &str) -> Result<SocketRef> {
        self.core.socket_ref(alias)
    }

    fn send_inner<T: Serialize + ?Sized>(
        &mut self,
        socket: SocketKey<'_>,
        topic: Option<&[u8]>,
        value: &T,
    ) -> Result<()> {
        if let Some(index) = self.core.send(socket, topic, value)? {
            Host::<A>::start_flush(self.core, index, self.actor);
        }
        Ok(())
    }

    /// Binds a new socket of `kind`; received messages go to `opts.handler`.
    pub fn bind(&mut self, kind: Kind, opts: BindOptions) -> Result<Address> {
        Host::<A>::bind(self.core, self.actor, kind, opts)
    }

    /// Connects a new socket to the bound side `to`; received messages go to `handler`.
    pub fn connect(
        &mut self,
        to: &Address,
        alias: Option<String>,
        handler: Option<String>,
    ) -> Result<Address> {
        self.connect_with(to, alias, handler, ConnectOptions::default())
    }

    /// Connects like [`Ctx::connect`], with a high-water mark and what to do at it.
    pub fn connect_with(
        &mut self,
        to: &Address,
        alias: Option<String>,
        handler: Option<String>,
        opts: ConnectOptions,
    ) -> Result<Address> {
        let topics = match to.kind {
            Kind::Pub => vec![(Vec::new(), None)],
            _ => Vec::new(),
        };
        Host::<A>::connect(self.core, self.actor, to, alias, handler, topics, opts)
    }

    /// Sends a request on a REQ, ASYNC_REQ or SYNC_SUB socket; its reply goes
    /// to `opts.handler` (else the socket's handler), and `opts.on_error` runs
    /// if none comes within `opts.wait`. Returns the request id.
    pub fn request<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        value: &T,
        opts: RequestOptions,
    ) -> Result<u64> {
        Host::<A>::issue_request(self.core, self.actor, alias, value, opts)
    }

    /// Runs `f` once the socket has no backlog: at once (on the next
    /// turn of the event loop) if it has none now, else as soon as libzmq took
    /// every waiting message. A bulk sender stops when [`Ctx::backlog`] is
    /// non-zero and resumes here, without polling or timers.
    pub fn when_drained<'s>(
        &mut self,
        socket: impl Into<SocketKey<'s>>,
        f: impl Fn(&mut A, &mut Ctx<'_, A>) + 'static,
    ) -> Result<()> {
        let (index, slot) = self.core.find(socket.into())?;
        let (generation, pending) = (slot.generation, slot.chan.backlog_len() > 0);
        let f: Rc<crate::timers::TimerFn<A>> = Rc::new(f);
        if pending {
            self.timers.when_drained(index, generation, f);
        } else {
            use actix::{ActorFutureExt, AsyncContext};
            let now = actix::fut::ready(())
                .map(move |(), host: &mut Host<A>, ctx| host.run_code(&*f, ctx));
            self.actor.spawn(now);
        }
        Ok(())
    }

    /// Subscribes the SUB socket `alias` to `topic` (prefix match); `handler` overrides the socket's.
    pub fn subscribe(
        &mut self,
        alias: &str,
        topic: impl AsRef<[u8]>,
        handler: Option<&str>,
    ) -> Result<()> {
        self.core.subscribe(alias, topic.as_ref().to_vec(), handler)
    }

    /// The address of the socket `alias`.
    pub fn addr(&self, alias: &str) -> Result<Address> {
        Ok(self.core.slot(alias)?.address.clone())
    }

    /// Messages sent on `alias` still waiting for high-water-mark room (0: libzmq took them all).
    ///
    /// A handler that sends in bulk stops while this is non-zero and comes
    /// back later (e.g. with [`Ctx::after`]), so the backlog drains instead
    /// of growing to its limit.
    pub fn backlog<'s>(&self, socket: impl Into<SocketKey<'s>>) -> Result<usize> {
        Ok(self.core.slot_of(socket.into())?.chan.backlog_len())
    }

    /// Calls `method` on the name server with `args`, through the agent's own
    /// name-server proxy, and decodes the answer.
    ///
    /// The call blocks the agent (handlers, timers, control plane) until the
    /// name server answers or the proxy's timeout passes (5 s), so keep such
    /// calls rare and their answers small. An agent started without a name
    /// server gets [`Error::Config`]; a method the name server does not know
    /// comes back as [`Error::Remote`] of kind `unknown_method`.
    pub fn nameserver_call<T: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        args: T,
    ) -> Result<R> {
        match self.core.nameserver.as_mut() {
            Some(ns) => ns.call(method, args),
            None => Err(Error::Config(format!(
                "agent {:?} has no name server to call {method:?} on",
                self.core.name()
            ))),
        }
    }

    /// The agent's counters.
    pub fn stats(&self) -> &Stats {
        &self.core.stats
    }

    /// Runs `f` every `period` until stopped; returns the timer's alias.
    ///
    /// A slow run does not make ticks burst afterwards: a late tick is
    /// followed by the next one a full period later.
    pub fn each(
        &mut self,
        period: Duration,
        alias: Option<&str>,
        f: impl Fn(&mut A, &mut Ctx<'_, A>) + 'static,
    ) -> String {
        let action = Action::Code(Rc::new(f));
        let alias = alias.map(str::to_owned);
        self.timers
            .start(self.actor, alias, period, Some(period), action)
    }

    /// Runs `f` once after `delay`; returns the timer's alias.
    pub fn after(
        &mut self,
        delay: Duration,
        alias: Option<&str>,
        f: impl Fn(&mut A, &mut Ctx<'_, A>) + 'static,
    ) -> String {
        let action = Action::Code(Rc::new(f));
        let alias = alias.map(str::to_owned);
        self.timers.start(self.actor, alias, delay, None, action)
    }

    /// Stops the timer `alias`.
    pub fn stop_timer(&mut self, alias: &str) -> Result<()> {
        if self.timers.stop(self.actor, alias) {
            Ok(())
        } else {
            Err(crate::Error::invalid("timer", alias, "no such timer"))
        }
    }

    /// Stops every timer.
    pub fn stop_all_timers(&mut self) {
        self.timers.stop_all(self.actor);
    }

    /// The aliases of the running timers, sorted.
    pub fn list_timers(&self) -> Vec<String> {
        self.timers.aliases()
    }

    /// Asks the agent to stop gracefully once the current handler returns.
    pub fn stop(&mut self) {
        use actix::ActorContext;
        self.actor.stop();
    }

    /// The actix context, for timers and futures of the agent's own.
    pub fn actix(&mut self) -> &mut actix::Context<Host<A>> {
        self.actor
    }
}
