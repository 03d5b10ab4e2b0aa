//! `Ctx`: what a handler can do besides changing its agent's state.
//!
//! Its operations take the same arguments in the same order as
//! `Proxy`'s: `bind(kind, alias)`, `connect(to, alias, handler)`,
//! `each(period, alias, ..)`, `subscribe(alias, topic, handler)`,
//! `request(alias, message, options)`. Where the two must differ, the name
//! says so: a proxy's `request_wait` blocks for the reply, an agent's
//! `request` hands the reply to a handler.

use std::rc::Rc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Agent;
use crate::codec::{to_value, Value};
use crate::error::{Error, Result};
use crate::net::{Address, SocketKind};
use crate::protocol::{BindOptions, ConnectOptions, RequestOptions};
use crate::sockets::{SocketKey, SocketRef, Sockets};
use crate::stats::Stats;

/// Code run later with the agent and its context: a timer's action, or what runs once a socket drains.
pub(crate) type CodeFn<A> = dyn Fn(&mut A, &mut Ctx<'_, A>);

/// What runs when the name server answers a call made with [`Ctx::ask_nameserver`].
pub(crate) type AnswerFn<A> = Box<dyn FnOnce(&mut A, &mut Ctx<'_, A>, Result<Value>)>;

/// What a handler asks of the actor hosting its agent, beyond the socket table.
///
/// The host implements it; [`Ctx`] holds it as a trait object, so agent
/// code knows nothing of actix. Sends do not go through it: they go
/// straight to the socket table, and only a send that had to wait in a
/// backlog asks the host to flush.
pub(crate) trait Hosting<A: Agent> {
    /// Starts draining the send backlog of the socket at `index`.
    fn flush(&mut self, sockets: &mut Sockets, index: usize);
    /// Starts serving a socket just opened: draining what it receives.
    fn serve(&mut self, sockets: &mut Sockets, index: usize, generation: u64);
    /// Gives up on request `id` of socket `alias` when no reply comes within `wait`.
    fn expire_request(&mut self, sockets: &Sockets, alias: &str, id: u64, wait: Duration);
    /// Runs `f` on the next turn of the event loop.
    fn run_soon(&mut self, f: Rc<CodeFn<A>>);
    /// Runs `f` once the socket at `index` has no backlog.
    fn when_drained(&mut self, index: usize, generation: u64, f: Rc<CodeFn<A>>);
    /// Starts a timer; returns its alias.
    fn start_timer(
        &mut self,
        alias: Option<String>,
        delay: Duration,
        period: Option<Duration>,
        f: Rc<CodeFn<A>>,
    ) -> String;
    /// Stops the timer `alias`; false when there is none.
    fn stop_timer(&mut self, alias: &str) -> bool;
    /// Stops every timer.
    fn stop_all_timers(&mut self);
    /// The running timers' aliases, sorted.
    fn timers(&self) -> Vec<String>;
    /// Stops the agent gracefully once the current handler returns.
    fn stop(&mut self);
    /// Calls `method` on the name server; `then` runs with the answer.
    fn ask_nameserver(&mut self, method: &str, args: Value, then: AnswerFn<A>) -> Result<()>;
    /// Loads script functions: every one in `source`, or only `name` (see `Proxy::load_script`).
    fn load_script(&mut self, name: Option<&str>, source: &str) -> Result<Vec<String>>;
}

/// A handler's view of its host: sockets, timers, identity, lifecycle.
pub struct Ctx<'a, A: Agent> {
    sockets: &'a mut Sockets,
    host: &'a mut dyn Hosting<A>,
}

impl<'a, A: Agent> Ctx<'a, A> {
    pub(crate) fn new(sockets: &'a mut Sockets, host: &'a mut dyn Hosting<A>) -> Self {
        Ctx { sockets, host }
    }
}

impl<A: Agent> Ctx<'_, A> {
    /// The agent's name.
    pub fn name(&self) -> &str {
        self.sockets.name()
    }

    /// Sends `value` on a socket (PUSH, PUB without topic, or a REQ request),
    /// named by alias (`"out"`) or by a [`SocketRef`] from [`Ctx::socket`].
    #[inline]
    pub fn send<'s, T: Serialize + ?Sized>(
        &mut self,
        socket: impl Into<SocketKey<'s>>,
        value: &T,
    ) -> Result<()> {
        self.send_to(socket.into(), None, value)
    }

    /// Publishes `value` on a PUB socket under `topic`.
    #[inline]
    pub fn publish<'s, T: Serialize + ?Sized>(
        &mut self,
        socket: impl Into<SocketKey<'s>>,
        topic: impl AsRef<[u8]>,
        value: &T,
    ) -> Result<()> {
        self.send_to(socket.into(), Some(topic.as_ref()), value)
    }

    #[inline]
    fn send_to<T: Serialize + ?Sized>(
        &mut self,
        socket: SocketKey<'_>,
        topic: Option<&[u8]>,
        value: &T,
    ) -> Result<()> {
        if let Some(index) = self.sockets.send(socket, topic, value)? {
            self.host.flush(self.sockets, index);
        }
        Ok(())
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
        self.sockets.socket_ref(alias)
    }

    /// Binds a socket of `kind` under `alias` with the agent's defaults; returns its address.
    pub fn bind(&mut self, kind: SocketKind, alias: &str) -> Result<Address> {
        self.bind_with(kind, BindOptions::alias(alias))
    }

    /// Binds a receiving socket of `kind` whose messages go to `handler`.
    pub fn bind_handler(
        &mut self,
        kind: SocketKind,
        alias: &str,
        handler: &str,
    ) -> Result<Address> {
        self.bind_with(kind, BindOptions::alias(alias).handler(handler))
    }

    /// Binds a socket of `kind` with every option spelled out.
    pub fn bind_with(&mut self, kind: SocketKind, opts: BindOptions) -> Result<Address> {
        let (index, generation) = self.sockets.bind(kind, opts)?;
        self.opened(index, generation)
    }

    /// Connects a socket under `alias` to the bound side `to`; what it receives goes to `handler`.
    pub fn connect<'h>(
        &mut self,
        to: &Address,
        alias: &str,
        handler: impl Into<Option<&'h str>>,
    ) -> Result<Address> {
        self.connect_with(to, ConnectOptions::alias(alias).handler(handler))
    }

    /// Connects a SUB socket to `to` with one handler per topic prefix.
    pub fn connect_topics<T: AsRef<[u8]>>(
        &mut self,
        to: &Address,
        alias: &str,
        topics: &[(T, &str)],
    ) -> Result<Address> {
        self.connect_with(to, ConnectOptions::alias(alias).topics(topics))
    }

    /// Connects with every option spelled out.
    pub fn connect_with(&mut self, to: &Address, opts: ConnectOptions) -> Result<Address> {
        let (index, generation) = self.sockets.connect(to, opts)?;
        self.opened(index, generation)
    }

    fn opened(&mut self, index: usize, generation: u64) -> Result<Address> {
        self.host.serve(self.sockets, index, generation);
        let slot = self.sockets.live_slot(index, generation);
        slot.map(|s| s.address.clone())
            .ok_or_else(|| Error::UnknownAlias(String::new()))
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
        let wait = opts.wait;
        let (id, flush) = self.sockets.request(alias, value, opts.into())?;
        if let Some(index) = flush {
            self.host.flush(self.sockets, index);
        }
        if let Some(wait) = wait {
            self.host.expire_request(self.sockets, alias, id, wait);
        }
        Ok(id)
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
        let (index, slot) = self.sockets.find(socket.into())?;
        let (generation, pending) = (slot.generation, slot.backlog() > 0);
        match pending {
            true => self.host.when_drained(index, generation, Rc::new(f)),
            false => self.host.run_soon(Rc::new(f)),
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
        self.sockets
            .subscribe(alias, topic.as_ref().to_vec(), handler)
    }

    /// Takes back the subscription of the SUB socket `alias` to `topic`.
    pub fn unsubscribe(&mut self, alias: &str, topic: impl AsRef<[u8]>) -> Result<()> {
        self.sockets.unsubscribe(alias, topic.as_ref())
    }

    /// Closes the socket `alias`; queued messages are flushed within the linger time.
    pub fn close(&mut self, alias: &str) -> Result<()> {
        self.sockets.close(alias)
    }

    /// The address of the socket `alias`.
    pub fn addr(&self, alias: &str) -> Result<Address> {
        Ok(self.sockets.slot(alias)?.address.clone())
    }

    /// Messages sent on `alias` still waiting for high-water-mark room (0: libzmq took them all);
    /// on a reliable PUSH, also those waiting for room in its window of unacknowledged messages.
    ///
    /// A handler that sends in bulk stops while this is non-zero and
    /// resumes in [`Ctx::when_drained`], so the backlog drains instead of
    /// growing to its limit.
    pub fn backlog<'s>(&self, socket: impl Into<SocketKey<'s>>) -> Result<usize> {
        Ok(self.sockets.slot_of(socket.into())?.backlog())
    }

    /// Calls `method` on the name server with `args`; `then` runs with the
    /// decoded answer once it comes (or with the error: a timeout, or the
    /// name server's refusal).
    ///
    /// The agent keeps serving meanwhile: nothing waits for the name
    /// server. Calls reach it in the order they are made. An agent started
    /// without a name server gets [`Error::Config`] at once.
    pub fn ask_nameserver<T, R, F>(&mut self, method: &str, args: T, then: F) -> Result<()>
    where
        T: Serialize,
        R: DeserializeOwned,
        F: FnOnce(&mut A, &mut Ctx<'_, A>, Result<R>) + 'static,
    {
        let args = to_value(&args)?;
        let then: AnswerFn<A> = Box::new(move |agent, ctx, answer| {
            let decoded = answer.and_then(|v| {
                v.deserialized().map_err(|e| Error::Decode {
                    serializer: "cbor",
                    reason: e.to_string(),
                })
            });
            then(agent, ctx, decoded)
        });
        self.host.ask_nameserver(method, args, then)
    }

    /// The agent's counters.
    pub fn stats(&self) -> &Stats {
        &self.sockets.stats
    }

    /// Runs `f` every `period` until stopped; returns the timer's alias
    /// (`alias`, else a fresh one; a timer with the same alias is replaced).
    ///
    /// A slow run does not make ticks burst afterwards: a late tick is
    /// followed by the next one a full period later.
    pub fn each(
        &mut self,
        period: Duration,
        alias: Option<&str>,
        f: impl Fn(&mut A, &mut Ctx<'_, A>) + 'static,
    ) -> String {
        let alias = alias.map(str::to_owned);
        self.host
            .start_timer(alias, period, Some(period), Rc::new(f))
    }

    /// Runs `f` once after `delay`; returns the timer's alias.
    pub fn after(
        &mut self,
        delay: Duration,
        alias: Option<&str>,
        f: impl Fn(&mut A, &mut Ctx<'_, A>) + 'static,
    ) -> String {
        let alias = alias.map(str::to_owned);
        self.host.start_timer(alias, delay, None, Rc::new(f))
    }

    /// Stops the timer `alias`.
    pub fn stop_timer(&mut self, alias: &str) -> Result<()> {
        match self.host.stop_timer(alias) {
            true => Ok(()),
            false => Err(Error::invalid("timer", alias, "no such timer")),
        }
    }

    /// Stops every timer.
    pub fn stop_all_timers(&mut self) {
        self.host.stop_all_timers();
    }

    /// The aliases of the running timers, sorted.
    pub fn list_timers(&self) -> Vec<String> {
        self.host.timers()
    }

    /// Asks the agent to stop gracefully once the current handler returns.
    pub fn stop(&mut self) {
        self.host.stop();
    }

    /// Loads rhai `source` into this agent: its functions become methods and
    /// handlers, as with `Proxy::load_script`. Not journaled: the agent's
    /// own code loads it again after a restart. Returns `name/arity` of each.
    pub fn load_script(&mut self, source: &str) -> Result<Vec<String>> {
        self.host.load_script(None, source)
    }

    /// Defines the script function `name` from `source` (osBrain's `set_method`).
    pub fn set_method(&mut self, name: &str, source: &str) -> Result<Vec<String>> {
        self.host.load_script(Some(name), source)
    }
}
