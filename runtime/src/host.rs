//! `Host`: the actix actor that hosts one agent in its process.
//!
//! It owns every socket (one owner per socket): inbound messages are drained
//! in batches by actor futures that hold only a slot index, so sends,
//! subscriptions and closes can reach the same socket from any handler.
//! Received data goes to `dispatch`, control requests to `control`.

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use actix::prelude::*;

use crate::address::{Address, Kind};
use crate::agent::{Agent, Handlers};
use crate::context::Ctx;
use crate::core::{safe_name, BindOptions, Core};
use crate::error::{Error, Result};
use crate::socket::{Channel, Frames, Io};
use crate::spec::AgentSpec;
use crate::timers::{Action, Timers};

pub use crate::stats::Stats;

/// Exit status of an agent stopped by the `kill` control method.
pub const KILLED_EXIT: i32 = 3;

/// Largest control request accepted: control messages are small.
const CONTROL_MAX_MESSAGE: usize = 1 << 20;

/// Most messages drained from one socket per wake-up before other work gets a turn.
const DRAIN_BUDGET: usize = 256;

/// How the agent is leaving.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leaving {
    /// Still serving.
    No,
    /// Graceful: run `on_stop`, flush backlogs within the linger time, unregister.
    Gracefully,
    /// Backlogs flushed (or linger over): stop now.
    Flushed,
    /// Killed: stop at once, drop what is queued.
    Killed,
}

/// The actor hosting agent `A`.
pub struct Host<A: Agent> {
    pub(crate) agent: A,
    pub(crate) core: Core,
    pub(crate) handlers: Handlers<A>,
    pub(crate) control: Option<Channel>,
    pub(crate) control_endpoint: String,
    pub(crate) timers: Timers<A>,
    /// Authenticates control requests.
    pub(crate) guard: crate::auth::Guard,
    /// Receive buffer reused by every drain.
    frames: Frames,
    /// The handler a socket named last, resolved: a socket's handler name is
    /// a shared `Rc<str>`, so the next message finds it by pointer, not by name.
    pub(crate) last_handler: Option<(Rc<str>, Rc<crate::agent::HandlerFn<A>>)>,
    exit: Rc<Cell<i32>>,
    leaving: Leaving,
}

impl<A: Agent> Host<A> {
    /// Runs agent `A` described by `spec` until it stops; returns the process exit status.
    pub fn run(spec: AgentSpec, handlers: Handlers<A>) -> i32 {
        let exit = Rc::new(Cell::new(0));
        let linger = spec.defaults.linger;
        let (name, nameserver) = (spec.name.clone(), spec.nameserver.clone());
        let system = System::new();
        let started = system.block_on(Self::start_host(spec, handlers, exit.clone()));
        if let Err(e) = started {
            tracing::error!(error = %e, "agent could not start");
            report_start_failure(&name, nameserver.as_deref(), &e.to_string());
            crate::terminate_zmq(Duration::from_secs(1));
            return 1;
        }
        if let Err(e) = system.run() {
            tracing::error!(error = %e, "agent event loop failed");
            return 1;
        }
        // Every socket is closed once the actor is gone; let libzmq flush within the linger time.
        crate::terminate_zmq(linger + Duration::from_millis(500));
        exit.get()
    }

    async fn start_host(spec: AgentSpec, handlers: Handlers<A>, exit: Rc<Cell<i32>>) -> Result<()> {
        let mut agent =
            A::create(&spec).map_err(|e| Error::Config(format!("creating {}: {e}", spec.name)))?;
        for (name, value) in &spec.attributes {
            if crate::attrs::is_reserved(name) {
                return Err(Error::invalid("attribute", name, "reserved by the runtime"));
            }
            agent
                .set_attr(name, value.clone())
                .map_err(|e| Error::invalid("attribute", name, e.to_string()))?;
        }
        let guard = crate::auth::Guard::new(spec.name.clone());
        let host = Host {
            agent,
            core: Core::new(spec),
            handlers,
            control: None,
            control_endpoint: String::new(),
            timers: Timers::default(),
            guard,
            frames: Frames::default(),
            last_handler: None,
            exit,
            leaving: Leaving::No,
        };
        host.start();
        Ok(())
    }

    /// Binds the control socket, runs `on_init`, registers, runs `before_loop`, starts serving.
    fn boot(&mut self, ctx: &mut Context<Self>) -> Result<()> {
        if let Err(e) = self
            .agent
            .on_init(&mut Ctx::new(&mut self.core, &mut self.timers, ctx))
        {
            return Err(Error::Config(format!("on_init failed: {e}")));
        }
        self.bind_control()?;
        self.register()?;
        if let Err(e) = self
            .agent
            .before_loop(&mut Ctx::new(&mut self.core, &mut self.timers, ctx))
        {
            return Err(Error::Config(format!("before_loop failed: {e}")));
        }
        ctx.spawn(Drain::control());
        if self.core.nameserver.is_some() {
            ctx.run_interval(self.core.spec.defaults.lease, |act, _| act.renew());
        }
        tracing::info!(agent = %self.core.name(), control = %self.control_endpoint, "agent serving");
        Ok(())
    }

    fn bind_control(&mut self) -> Result<()> {
        let spec = &self.core.spec;
        let file = spec
            .runtime_dir
            .join(format!("{}.ctl", safe_name(&spec.name)));
        let endpoint = format!("ipc://{}", file.display());
        let linger = Duration::from_millis(500);
        let hwm = crate::socket::DEFAULT_HWM;
        let io = Io::open(Kind::Rep, &endpoint, true, linger, CONTROL_MAX_MESSAGE, hwm)?;
        self.control_endpoint = io.last_endpoint()?;
        self.control = Some(Channel::new(io));
        Ok(())
    }

    fn register(&mut self) -> Result<()> {
        let Some(ns) = self.core.spec.nameserver.clone() else {
            return Ok(());
        };
        let mut proxy = crate::Proxy::open("nameserver", ns)?;
        proxy.set_timeout(Duration::from_secs(5));
        let args = Registration {
            name: self.core.name(),
            kind: A::KIND,
            pid: std::process::id(),
            control: &self.control_endpoint,
            lease_ms: self.core.spec.defaults.lease.as_millis() as u64,
        };
        proxy.call::<_, crate::Value>("register", args)?;
        self.core.nameserver = Some(proxy);
        Ok(())
    }

    /// Tells the name server this agent is alive (oneway: a slow name server never blocks us).
    fn renew(&mut self) {
        let name = self.core.name().to_owned();
        let Some(ns) = self.core.nameserver.as_mut() else {
            return;
        };
        let args = Renewal {
            name: &name,
            pid: std::process::id(),
        };
        if let Err(e) = ns.oneway("renew", args) {
            tracing::debug!(agent = %name, error = %e, "lease renewal not sent");
        }
    }

    fn unregister(&mut self) {
        let name = self.core.name().to_owned();
        if let Some(ns) = self.core.nameserver.as_mut() {
            ns.set_timeout(Duration::from_secs(1));
            let args = std::collections::BTreeMap::from([("name", name.as_str())]);
            if let Err(e) = ns.call::<_, crate::Value>("unregister", args) {
                tracing::warn!(agent = %name, error = %e, "could not unregister");
            }
        }
    }

    /// Binds a socket and starts draining it if it receives.
    pub(crate) fn bind(
        core: &mut Core,
        ctx: &mut Context<Self>,
        kind: Kind,
        opts: BindOptions,
    ) -> Result<Address> {
        let (index, generation) = core.bind(kind, opts)?;
        Self::serve(core, ctx, index, generation)
    }

    /// Connects a socket and starts draining it if it receives.
    pub(crate) fn connect(
        core: &mut Core,
        ctx: &mut Context<Self>,
        to: &Address,
        alias: Option<String>,
        handler: Option<String>,
        topics: Vec<(Vec<u8>, Option<String>)>,
        opts: crate::core::ConnectOptions,
    ) -> Result<Address> {
        let (index, generation) = core.connect(to, alias, handler, topics, opts)?;
        Self::serve(core, ctx, index, generation)
    }

    fn serve(
        core: &mut Core,
        ctx: &mut Context<Self>,
        index: usize,
        generation: u64,
    ) -> Result<Address> {
        let slot = core
            .live_slot(index, generation)
            .ok_or_else(|| Error::UnknownAlias(String::new()))?;
        let (address, partner) = (slot.address.clone(), slot.partner);
        // Drain every socket of the pair that can receive (a SYNC_PUB's stream cannot).
        for index in std::iter::once(index).chain(partner) {
            if let Some(slot) = core.slots.get(index).and_then(Option::as_ref) {
                if slot.chan.io.receives() {
                    ctx.spawn(Drain::data(index, slot.generation));
                }
            }
        }
        Ok(address)
    }

    /// Starts draining the backlog of the socket at `index`.
    pub(crate) fn start_flush(core: &mut Core, index: usize, ctx: &mut Context<Self>) {
        if let Some(slot) = core.slots.get(index).and_then(Option::as_ref) {
            ctx.spawn(Flush {
                index,
                generation: slot.generation,
            });
        }
    }

    /// Leaves gracefully: `on_stop`, flush, unregister, exit 0.
    pub(crate) fn leave(&mut self, ctx: &mut Context<Self>) {
        if self.leaving == Leaving::No {
            self.leaving = Leaving::Gracefully;
        }
        ctx.stop();
    }

    /// Leaves at once, dropping what is queued.
    pub(crate) fn kill(&mut self, ctx: &mut Context<Self>) {
        self.leaving = Leaving::Killed;
        self.exit.set(KILLED_EXIT);
        for slot in self.core.slots.iter().flatten() {
            let _ = slot.chan.io.raw().set_linger(0);
        }
        ctx.stop();
    }

    /// Runs code given from a handler (a timer's or a drain waiter's).
    pub(crate) fn run_code(&mut self, f: &crate::timers::TimerFn<A>, ctx: &mut Context<Self>) {
        f(
            &mut self.agent,
            &mut Ctx::new(&mut self.core, &mut self.timers, ctx),
        );
    }

    /// Runs the timer `alias` that came due.
    pub(crate) fn on_timer(&mut self, alias: &str, generation: u64, ctx: &mut Context<Self>) {
        let Some(fired) = self.timers.fire(ctx, alias, generation) else {
            return;
        };
        match fired.action {
            Action::Code(f) => f(
                &mut self.agent,
                &mut Ctx::new(&mut self.core, &mut self.timers, ctx),
            ),
            Action::Handler { name, payload } => {
                let msg = crate::message::Message::new(
                    &fired.alias,
                    None,
                    &payload,
                    crate::Serializer::Cbor,
                );
                self.call(Some(&name), msg, ctx);
            }
        }
    }

    fn backlog(&self) -> usize {
        self.core
            .slots
            .iter()
            .flatten()
            .map(|s| s.chan.backlog_len())
            .sum()
    }
}

impl<A: Agent> Drop for Host<A> {
    fn drop(&mut self) {
        crate::address::remove_ipc_file(&self.control_endpoint);
    }
}

#[derive(serde::Serialize)]
struct Renewal<'a> {
    name: &'a str,
    pid: u32,
}

#[derive(serde::Serialize)]
struct Registration<'a> {
    name: &'a str,
    kind: &'a str,
    pid: u32,
    control: &'a str,
    lease_ms: u64,
}

impl<A: Agent> Actor for Host<A> {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Err(e) = self.boot(ctx) {
            tracing::error!(agent = %self.core.name(), error = %e, "agent failed to start");
            let spec = &self.core.spec;
            report_start_failure(&spec.name, spec.nameserver.as_deref(), &e.to_string());
            self.exit.set(1);
            self.leaving = Leaving::Killed;
            ctx.stop();
        }
    }

    fn stopping(&mut self, ctx: &mut Context<Self>) -> Running {
        match self.leaving {
            Leaving::No | Leaving::Gracefully => {
                self.leaving = Leaving::Gracefully;
                self.agent
                    .on_stop(&mut Ctx::new(&mut self.core, &mut self.timers, ctx));
                if self.backlog() == 0 {
                    return Running::Stop;
                }
                // Keep running until every backlog reached libzmq, or the linger time is over.
                let linger = self.core.spec.defaults.linger;
                let flushed = ActorFutureExt::<Self>::timeout(AllFlushed, linger);
                ctx.spawn(flushed.map(|_, act: &mut Self, ctx| {
                    act.leaving = Leaving::Flushed;
                    ctx.stop();
                }));
                Running::Continue
            }
            Leaving::Flushed | Leaving::Killed => Running::Stop,
        }
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if self.leaving != Leaving::Killed {
            self.unregister();
        }
        tracing::info!(agent = %self.core.name(), status = self.exit.get(), "agent stopped");
        System::current().stop();
    }
}

/// Which socket a [`Drain`] reads.
#[derive(Clone, Copy)]
enum Source {
    Control,
    Data { index: usize, generation: u64 },
}

/// Reads a socket in batches and hands each message to the host; ends when the socket closes.
struct Drain {
    source: Source,
}

impl Drain {
    fn control() -> Self {
        Drain {
            source: Source::Control,
        }
    }

    fn data(index: usize, generation: u64) -> Self {
        Drain {
            source: Source::Data { index, generation },
        }
    }
}

impl<A: Agent> ActorFuture<Host<A>> for Drain {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        ctx: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let source = self.source;
        // One buffer for the whole batch: taken out of the host while handlers borrow it.
        let mut frames = std::mem::take(&mut act.frames);
        let outcome = drain_batch(source, act, ctx, task, &mut frames);
        act.frames = frames;
        outcome
    }
}

fn drain_batch<A: Agent>(
    source: Source,
    act: &mut Host<A>,
    ctx: &mut Context<Host<A>>,
    task: &mut TaskContext<'_>,
    frames: &mut Frames,
) -> Poll<()> {
    for _ in 0..DRAIN_BUDGET {
        let chan = match source {
            Source::Control => act.control.as_mut(),
            Source::Data { index, generation } => {
                act.core.live_slot(index, generation).map(|s| &mut s.chan)
            }
        };
        // The socket was closed: this drain ends with it.
        let Some(chan) = chan else {
            return Poll::Ready(());
        };
        match (chan.poll_recv(task, frames), source) {
            (Poll::Ready(Some(Ok(()))), Source::Control) => {
                frames.with_views(|parts| act.on_control(parts, ctx))
            }
            (Poll::Ready(Some(Ok(()))), Source::Data { index, .. }) => {
                frames.with_views(|parts| act.on_data(index, parts, ctx))
            }
            (Poll::Ready(Some(Err(e))), _) => {
                tracing::warn!(agent = %act.core.name(), error = %e, "receive failed");
                act.core.stats.malformed += 1;
            }
            (Poll::Ready(None), _) => return Poll::Ready(()),
            (Poll::Pending, _) => return Poll::Pending,
        }
    }
    // Budget spent with messages still waiting: yield, and come back at once.
    task.waker().wake_by_ref();
    Poll::Pending
}

/// Tells the name server why this agent could not start, so that the spawn's caller hears the reason.
fn report_start_failure(name: &str, nameserver: Option<&str>, reason: &str) {
    let Some(ns) = nameserver else {
        return;
    };
    #[derive(serde::Serialize)]
    struct StartFailed<'a> {
        name: &'a str,
        pid: u32,
        reason: &'a str,
    }
    let told = crate::Proxy::open("nameserver", ns.to_owned()).and_then(|mut proxy| {
        proxy.set_timeout(Duration::from_secs(1));
        let args = StartFailed {
            name,
            pid: std::process::id(),
            reason,
        };
        proxy.call::<_, crate::Value>("start_failed", args)
    });
    if let Err(e) = told {
        tracing::debug!(agent = name, error = %e, "could not tell the name server why the start failed");
    }
}

/// Drains one socket's send backlog into libzmq as room appears.
struct Flush {
    index: usize,
    generation: u64,
}

impl<A: Agent> ActorFuture<Host<A>> for Flush {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        ctx: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let name = act.core.name().to_owned();
        let Some(slot) = act.core.live_slot(self.index, self.generation) else {
            return Poll::Ready(());
        };
        match slot.chan.poll_flush(task) {
            Poll::Ready(Ok(())) => {
                for f in act.timers.drained(self.index, self.generation) {
                    act.run_code(&*f, ctx);
                }
                Poll::Ready(())
            }
            Poll::Ready(Err(e)) => {
                tracing::warn!(agent = %name, alias = %slot.alias, error = %e, "send failed");
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ready once no socket has a backlog.
struct AllFlushed;

impl<A: Agent> ActorFuture<Host<A>> for AllFlushed {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        _: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let mut pending = false;
        for slot in act.core.slots.iter_mut().flatten() {
            pending |= matches!(slot.chan.poll_flush(task), Poll::Pending);
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}
