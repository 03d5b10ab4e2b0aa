//! `Host`: the actix actor that hosts one agent in its process.
//!
//! It owns every socket (one owner per socket). Drains read the receiving
//! sockets in batches and hand each message to `inbound`, which finds the
//! handler and runs it; control requests go to `control`. Handlers reach
//! the host through [`Ctx`](crate::agent::Ctx), which sees only the socket table and
//! the small `Hosting` trait `link` implements.
//!
//! - `drain`: the futures that read sockets, flush backlogs, wait for the flush on stop.
//! - `inbound`: a received message, per pattern, to its handler.
//! - `requests`: requests, their replies and expiry; osBrain's SYNC channel.
//! - `control`: a control request's cycle, from the socket to its answer.
//! - `methods`: the control methods.
//! - `scripts`: loading and running scripts; scripted handlers.
//! - `timers`: `each` / `after` by alias.
//! - `nameserver`: the agent's non-blocking line to the name server.
//! - `heartbeat`: lease renewals, the orphan grace, adoption by a restarted supervisor.
//! - `lease`: the agent's end of the lease channel (renewals as signed datagrams).
//! - `link`: what `Ctx` asks of the host.
//! - `registry`: the kinds a program can host, and hosting one.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;

use crate::agent::{attrs, Agent, CodeFn, Ctx, HandlerFn, Handlers};
use crate::codec::{to_value, Value};
use crate::error::{Error, Result};
use crate::launch::AgentSpec;
use crate::net::{Frames, Io, Socket, SocketKind};
use crate::protocol::auth::Guard;
use crate::script::Scripts;
use crate::sockets::{safe_name, Sockets};

mod control;
mod drain;
mod heartbeat;
mod inbound;
mod lease;
mod link;
mod methods;
mod nameserver;
mod registry;
mod reliable;
mod requests;
mod scripts;
mod timers;

pub use registry::Registry;

use drain::{AllFlushed, Drain};
use heartbeat::Heartbeat;
use link::Link;
use nameserver::{report_start_failure, NameServerLink, StartFailed};
use timers::Timers;

/// Exit status of an agent stopped by the `kill` control method.
pub const KILLED_EXIT: i32 = 3;

/// Largest control request accepted: control messages are small.
const CONTROL_MAX_MESSAGE: usize = 1 << 20;

/// How long an unregistering agent waits for the name server before it exits anyway.
const UNREGISTER_TIMEOUT: Duration = Duration::from_secs(1);

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

/// The control socket and what guards it.
struct Control {
    socket: Socket,
    endpoint: String,
    guard: Guard,
}

/// What the host keeps besides the agent, its handlers and its sockets:
/// the part of it that [`Ctx`] reaches through [`Link`].
struct HostState<A: Agent> {
    timers: Timers<A>,
    nameserver: Option<NameServerLink>,
    /// The lease channel a supervised agent renews over; `None`: renewals are control calls.
    leases: Option<lease::LeaseChannel>,
    /// What the answers to lease renewals say about the name server.
    heartbeat: Heartbeat,
    /// Registered and serving: new sockets are drained at once.
    serving: bool,
    /// Sockets opened before the agent served (in `on_init`), drained once it does.
    unserved: Vec<(usize, u64)>,
    /// The free-form attributes, beside the kind's typed ones.
    attrs: attrs::Free,
    /// Names written by `set_attr` (a typed field of the kind among them), for `attrs`.
    set_names: std::collections::BTreeSet<String>,
    /// The script functions loaded into the agent.
    scripts: Scripts,
}

impl<A: Agent> HostState<A> {
    /// Drains a socket just opened: now if the agent serves, else once it does.
    fn serve_socket(
        &mut self,
        sockets: &Sockets,
        actor: &mut Context<Host<A>>,
        index: usize,
        generation: u64,
    ) {
        match self.serving {
            true => drain::serve(sockets, actor, index, generation),
            false => self.unserved.push((index, generation)),
        }
    }
}

/// The actor hosting agent `A`.
pub struct Host<A: Agent> {
    agent: A,
    sockets: Sockets,
    handlers: Handlers<A>,
    state: HostState<A>,
    control: Option<Control>,
    /// Receive buffer reused by every drain.
    frames: Frames,
    /// The handler a socket named last, resolved: a socket's handler name is
    /// a shared `Rc<str>`, so the next message finds it by pointer, not by name.
    last_handler: Option<(Rc<str>, Rc<HandlerFn<A>>)>,
    exit: Rc<Cell<i32>>,
    leaving: Leaving,
    /// Whether a graceful exit unregisters from the name server (`shutdown`'s `unregister`).
    unregister: bool,
}

impl<A: Agent> Host<A> {
    /// Runs agent `A` described by `spec` until it stops; returns the process exit status.
    pub fn run(spec: AgentSpec, handlers: Handlers<A>) -> i32 {
        let exit = Rc::new(Cell::new(0));
        let linger = spec.defaults.linger;
        let (name, nameserver) = (spec.name.clone(), spec.nameserver.clone());
        let runtime_dir = spec.runtime_dir.clone();
        let system = System::new();
        let started = system.block_on(Self::start_host(spec, handlers, exit.clone()));
        if let Err(e) = started {
            tracing::error!(error = %e, "agent could not start");
            if let Some(ns) = nameserver {
                system.block_on(report_start_failure(&name, &ns, &e.to_string()));
            }
            crate::launch::terminate_zmq(Duration::from_secs(1));
            return 1;
        }
        if let Err(e) = system.run() {
            tracing::error!(error = %e, "agent event loop failed");
            return 1;
        }
        // Every socket is closed once the actor is gone; let libzmq flush within the linger time.
        crate::launch::terminate_zmq(linger + Duration::from_millis(500));
        heartbeat::clean_up_if_orphaned(&runtime_dir);
        exit.get()
    }

    async fn start_host(spec: AgentSpec, handlers: Handlers<A>, exit: Rc<Cell<i32>>) -> Result<()> {
        let mut agent =
            A::create(&spec).map_err(|e| Error::Config(format!("creating {}: {e}", spec.name)))?;
        let scripts = Scripts::new(spec.script_limits);
        let mut free = attrs::Free::new();
        for (name, value) in &spec.attributes {
            attrs::write(&mut agent, &mut free, name, value.clone())
                .map_err(|e| Error::invalid("attribute", name, e.to_string()))?;
        }
        let host = Host {
            agent,
            sockets: Sockets::new(spec),
            handlers,
            state: HostState {
                timers: Timers::default(),
                nameserver: None,
                leases: None,
                heartbeat: Heartbeat::default(),
                serving: false,
                unserved: Vec::new(),
                attrs: free,
                set_names: Default::default(),
                scripts,
            },
            control: None,
            frames: Frames::default(),
            last_handler: None,
            exit,
            leaving: Leaving::No,
            unregister: true,
        };
        host.start();
        Ok(())
    }

    /// Runs `f` with the agent and a [`Ctx`] on this host.
    #[inline]
    fn with_ctx<R>(
        &mut self,
        actor: &mut Context<Self>,
        f: impl FnOnce(&mut A, &mut Ctx<'_, A>) -> R,
    ) -> R {
        let mut link = Link {
            actor,
            state: &mut self.state,
        };
        let mut ctx = Ctx::new(&mut self.sockets, &mut link);
        let result = f(&mut self.agent, &mut ctx);
        // Checked here, inline: a handler seldom binds or closes, and this runs per message.
        if self.sockets.has_addr_changes() {
            self.report_addrs();
        }
        result
    }

    /// Runs code given from a handler (a timer's, a drain waiter's).
    fn run_code(&mut self, f: &CodeFn<A>, actor: &mut Context<Self>) {
        self.with_ctx(actor, |agent, ctx| f(agent, ctx));
    }

    /// Runs `on_init`, binds the control socket, and registers; serving starts once registered.
    fn boot(&mut self, actor: &mut Context<Self>) -> Result<()> {
        if let Err(e) = self.with_ctx(actor, |agent, ctx| agent.on_init(ctx)) {
            return Err(Error::Config(format!("on_init failed: {e}")));
        }
        self.bind_control()?;
        let Some(ns) = self.sockets.spec.nameserver.clone() else {
            self.serve(actor);
            return Ok(());
        };
        let link = NameServerLink::start(ns);
        self.state.leases = self.open_leases();
        let registered = link.call("register", to_value(&self.registration())?);
        self.state.nameserver = Some(link);
        actor.spawn(
            registered
                .into_actor(self)
                .map(|answer, host, actor| match answer {
                    Ok(_) => host.serve(actor),
                    Err(e) => host.fail_start(&format!("registering: {e}"), actor),
                }),
        );
        Ok(())
    }

    /// The lease channel of a supervised agent (one with a token: its supervisor runs on this
    /// host, in its runtime directory); `None` for one that registered by itself, or when the
    /// socket cannot be opened (renewals are then control calls).
    fn open_leases(&self) -> Option<lease::LeaseChannel> {
        let spec = &self.sockets.spec;
        spec.token.as_ref()?;
        lease::LeaseChannel::open(&spec.runtime_dir)
            .inspect_err(|e| tracing::warn!(agent = %spec.name, error = %e, "no lease channel; renewing with control calls"))
            .ok()
    }

    /// Registered: report the sockets bound so far, run `before_loop`, and serve.
    fn serve(&mut self, actor: &mut Context<Self>) {
        self.state.serving = true;
        self.report_addrs();
        if let Err(e) = self.with_ctx(actor, |agent, ctx| agent.before_loop(ctx)) {
            return self.fail_start(&format!("before_loop failed: {e}"), actor);
        }
        for (index, generation) in std::mem::take(&mut self.state.unserved) {
            drain::serve(&self.sockets, actor, index, generation);
        }
        actor.spawn(Drain::control());
        if self.state.nameserver.is_some() {
            let period = crate::protocol::lease::renewal_period(self.sockets.spec.defaults.lease);
            actor.run_interval(period, |host, actor| host.renew(actor));
        }
        let endpoint = self.control.as_ref().map_or("", |c| &c.endpoint);
        tracing::info!(agent = %self.sockets.name(), control = %endpoint, "agent serving");
    }

    /// The start failed: tell the name server why (so the spawn's caller hears it), then exit 1.
    fn fail_start(&mut self, why: &str, actor: &mut Context<Self>) {
        tracing::error!(agent = %self.sockets.name(), error = why, "agent failed to start");
        self.exit.set(1);
        self.leaving = Leaving::Killed;
        let told = self.state.nameserver.as_ref().map(|ns| {
            let args = StartFailed {
                name: self.sockets.name(),
                pid: std::process::id(),
                reason: why,
                bad_arguments: false,
            };
            to_value(&args).map(|args| ns.call("start_failed", args))
        });
        match told {
            Some(Ok(told)) => {
                actor.spawn(told.into_actor(self).map(|_, _, actor| actor.stop()));
            }
            _ => actor.stop(),
        }
    }

    fn bind_control(&mut self) -> Result<()> {
        let spec = &self.sockets.spec;
        let endpoint = match &spec.control_bind {
            Some(endpoint) => endpoint.clone(),
            None => {
                let file = spec
                    .runtime_dir
                    .join(format!("{}.ctl", safe_name(&spec.name)));
                format!("ipc://{}", file.display())
            }
        };
        let linger = Duration::from_millis(500);
        let hwm = crate::net::DEFAULT_HWM;
        let io = Io::open(
            SocketKind::Rep,
            &endpoint,
            true,
            linger,
            CONTROL_MAX_MESSAGE,
            hwm,
            crate::net::Identity::default(),
        )?;
        self.control = Some(Control {
            endpoint: io.last_endpoint()?,
            socket: Socket::new(io),
            guard: Guard::new(spec.name.clone()),
        });
        Ok(())
    }

    /// Leaves gracefully: `on_stop`, flush, unregister, exit 0.
    fn leave(&mut self, actor: &mut Context<Self>) {
        if self.leaving == Leaving::No {
            self.leaving = Leaving::Gracefully;
        }
        actor.stop();
    }

    /// Leaves at once, dropping what is queued.
    fn kill(&mut self, actor: &mut Context<Self>) {
        self.leaving = Leaving::Killed;
        self.exit.set(KILLED_EXIT);
        for slot in self.sockets.slots.iter().flatten() {
            // Best effort: the process is ending either way.
            let _ = slot.socket.set_linger(Duration::ZERO);
        }
        actor.stop();
    }

    fn backlog(&self) -> usize {
        self.sockets
            .slots
            .iter()
            .flatten()
            .map(|s| s.socket.backlog_len())
            .sum::<usize>()
            + self.sockets.unacked()
    }
}

impl<A: Agent> Drop for Host<A> {
    fn drop(&mut self) {
        if let Some(control) = &self.control {
            crate::net::remove_ipc_file(&control.endpoint);
        }
    }
}

impl<A: Agent> Actor for Host<A> {
    type Context = Context<Self>;

    fn started(&mut self, actor: &mut Context<Self>) {
        if let Err(e) = self.boot(actor) {
            self.fail_start(&e.to_string(), actor);
        }
    }

    fn stopping(&mut self, actor: &mut Context<Self>) -> Running {
        match self.leaving {
            Leaving::No | Leaving::Gracefully => {
                self.leaving = Leaving::Gracefully;
                self.with_ctx(actor, |agent, ctx| agent.on_stop(ctx));
                if self.backlog() == 0 {
                    return Running::Stop;
                }
                // Keep running until every backlog reached libzmq, or the linger time is over.
                let linger = self.sockets.spec.defaults.linger;
                let flushed = ActorFutureExt::<Self>::timeout(AllFlushed, linger);
                actor.spawn(flushed.map(|_, host: &mut Self, actor| {
                    host.leaving = Leaving::Flushed;
                    actor.stop();
                }));
                Running::Continue
            }
            Leaving::Flushed | Leaving::Killed => Running::Stop,
        }
    }

    fn stopped(&mut self, _actor: &mut Context<Self>) {
        let name = self.sockets.name().to_owned();
        tracing::info!(agent = %name, status = self.exit.get(), "agent stopped");
        let unregistered = match (&self.state.nameserver, self.leaving) {
            (Some(ns), Leaving::Gracefully | Leaving::Flushed) if self.unregister => {
                let args = Value::Map(vec![(
                    Value::Text("name".into()),
                    Value::Text(name.clone()),
                )]);
                Some(ns.call("unregister", args))
            }
            _ => None,
        };
        // The line to the name server is its own task: it outlives the actor long enough to say goodbye.
        actix_rt::spawn(async move {
            if let Some(unregistered) = unregistered {
                match tokio::time::timeout(UNREGISTER_TIMEOUT, unregistered).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(agent = %name, error = %e, "could not unregister"),
                    Err(_) => {
                        tracing::warn!(agent = %name, "the name server did not answer unregister")
                    }
                }
            }
            System::current().stop();
        });
    }
}
