//! The name server: an actix actor behind a ROUTER control socket.
//!
//! It is the parent of every agent it spawns: it learns of an exit at once
//! (`child.wait()`), unregisters the agent, and on shutdown asks every agent
//! to stop, SIGKILLs those still running after the grace, and removes the
//! node's runtime directory.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use actix::prelude::*;
use axon_runtime::config::env_var;
use axon_runtime::launch::HostCommand;
use axon_runtime::protocol::auth::{self, Guard, Key};
use axon_runtime::protocol::Request;
use axon_runtime::{Defaults, ErrorKind, RemoteError, Value};
use futures::{SinkExt, StreamExt};
use tmq::Multipart;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, Result};
use crate::guard::Node;
use crate::hosts::Hosts;
use crate::lifecycle::{EventsArgs, Lifecycle, Ring};
use crate::methods::{Register, SetAddr, Stop};
use crate::policy::SupervisorSpec;
use crate::registry::{Records, Refusal, Waiter};
use crate::requests::{self, args, refusal, reply_frames, Unparsed};
use crate::rundir;
use crate::stats::{Sampler, Usage};
use crate::store::{NodeRecord, Store};
use crate::supervision::Supervision;

mod adopt;
#[cfg(feature = "cluster")]
mod cluster;
mod detached;
#[cfg(feature = "fault-injection")]
mod faults;
mod leases;
mod leaving;
mod limits;
mod logger;
mod metrics;
mod spawn;
mod stop;
mod supervise;
mod topology;

use leaving::Leaving;
use stop::{grace_of, Stopping};

/// Environment variable with the endpoint the name server binds (else an ipc file).
pub const BIND_ENV: &str = "AXON_NS_BIND";

/// Environment variable with the node's [`SupervisorSpec`], as JSON.
pub const SUPERVISOR_ENV: &str = "AXON_SUPERVISOR";

/// Exit status of a name server whose supervisor gave up and escalated: the
/// node ended on purpose, and a heart does not start it again.
pub const GAVE_UP_EXIT: i32 = 4;

/// Environment variable naming the node's runtime directory (else a fresh
/// one). One that holds the saved state of a node whose supervisor died is
/// taken over: its agents still running are adopted.
pub const NODE_DIR_ENV: &str = "AXON_NODE_DIR";

/// Environment variable set (to `1`) when a heart restarts this name server
/// if it dies: a crash then leaves the agents running for the next one.
pub const HEART_ENV: &str = "AXON_HEART";

/// The line a name server prints on stdout once it serves, followed by its endpoint.
pub const READY_LINE: &str = "AXON-NS-READY";

/// How long an agent may take from spawn to answering ping.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The kind of the logger agent, whose `logs` socket every agent publishes its log events to.
const LOGGER_KIND: &str = "logger";

/// The alias under which the logger binds its SUB socket.
const LOGGER_ALIAS: &str = "logs";

/// How often leases are checked.
const LEASE_CHECK: Duration = Duration::from_millis(200);

/// Grace given to agents on shutdown unless the caller says otherwise.
const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// Runs the name server in this process until it is shut down.
pub fn run_nameserver_process() -> Result<()> {
    let hosts = Hosts::from_env(HostCommand::from_env()?)?;
    let bind = env_var(BIND_ENV)?;
    let defaults = Defaults::from_env()?;
    let spec = supervisor_spec()?;
    let heart = env_var(HEART_ENV)?.is_some_and(|v| v == "1");
    // Bound before the runtime directory exists: a port in use leaves nothing behind.
    let metrics = match env_var(crate::metrics::METRICS_ENV)? {
        Some(addr) => Some(metrics::Listening::bind(&addr)?),
        None => None,
    };
    let dir = match env_var(NODE_DIR_ENV)? {
        Some(dir) => rundir::open_at(std::path::Path::new(&dir))?,
        None => rundir::create()?,
    };
    log_to_dir(&dir);
    limits::raise_open_files();
    let taking_over = Store::exists(&dir);
    // From here on, whatever ends this process stops its agents and removes
    // `dir`; under a heart, only a clean end does.
    let node = Node::guard(dir.clone(), heart);
    let key = deployment_key(&dir)?;
    let system = System::new();
    let launch = Launch {
        hosts,
        bind,
        defaults,
        key,
        dir: dir.clone(),
        spec,
        taking_over,
        heart,
        metrics,
        #[cfg(feature = "cluster")]
        cluster: ClusterNode::from_env()?,
    };
    let started = system.block_on(async { Server::launch(launch) });
    let run = started.and_then(|()| system.run().map_err(Error::from));
    if run.is_ok() {
        node.ended();
    } else {
        drop(node);
    }
    // Let the last reply (to `shutdown`) leave before the process exits.
    axon_runtime::launch::terminate_zmq(Duration::from_secs(1));
    run?;
    match GAVE_UP.get() {
        Some(why) => Err(Error::GaveUp(why.clone())),
        None => Ok(()),
    }
}

/// The node's [`SupervisorSpec`] from [`SUPERVISOR_ENV`], else the default.
fn supervisor_spec() -> Result<SupervisorSpec> {
    let Some(json) = env_var(SUPERVISOR_ENV)? else {
        return Ok(SupervisorSpec::default());
    };
    let bad = |why: String| axon_runtime::Error::Config(format!("{SUPERVISOR_ENV}: {why}"));
    let spec: SupervisorSpec =
        serde_json::from_str(&json).map_err(|e| bad(format!("not a supervisor spec: {e}")))?;
    // The heartbeat is the lease period of supervised agents: a timer period.
    if spec.heartbeat.is_zero() {
        return Err(bad("heartbeat must be at least 1 ms".into()).into());
    }
    Ok(spec)
}

/// Set when the supervisor gave up and escalated: the process then exits with an error.
static GAVE_UP: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// What a name server starts from.
struct Launch {
    hosts: Hosts,
    bind: Option<String>,
    defaults: Defaults,
    key: Key,
    dir: PathBuf,
    spec: SupervisorSpec,
    /// `dir` is a dead supervisor's: adopt its agents.
    taking_over: bool,
    /// A heart restarts this process if it dies.
    heart: bool,
    /// The Prometheus metrics endpoint, bound, if the node serves one.
    metrics: Option<metrics::Listening>,
    /// Cluster mode: the registry, this node's name, and the address other hosts reach it at.
    #[cfg(feature = "cluster")]
    cluster: Option<ClusterNode>,
}

/// A node of a cluster, from the environment (`axon node`).
#[cfg(feature = "cluster")]
struct ClusterNode {
    registry: crate::cluster::Registry,
    name: String,
    advertise: String,
}

#[cfg(feature = "cluster")]
impl ClusterNode {
    fn from_env() -> Result<Option<ClusterNode>> {
        use crate::cluster::{Registry, ADVERTISE_ENV, NODE_NAME_ENV, REGISTRY_ENV};
        let Some(url) = env_var(REGISTRY_ENV)? else {
            return Ok(None);
        };
        let missing =
            |v: &str| axon_runtime::Error::Config(format!("{REGISTRY_ENV} is set, {v} is not"));
        Ok(Some(ClusterNode {
            registry: Registry::parse(&url)?,
            name: env_var(NODE_NAME_ENV)?.ok_or_else(|| missing(NODE_NAME_ENV))?,
            advertise: env_var(ADVERTISE_ENV)?.ok_or_else(|| missing(ADVERTISE_ENV))?,
        }))
    }
}

/// The name server's events go to the node's log file from now on; a
/// detached node's stderr (and so its agents') goes to `stderr.log` beside it.
fn log_to_dir(dir: &std::path::Path) {
    if let Err(e) = axon_runtime::logging::to_file(dir) {
        tracing::warn!(error = %e, dir = %dir.display(), "cannot write the node's log file");
    }
    if axon_runtime::logging::detached() {
        if let Err(e) = axon_runtime::logging::redirect_stderr(dir) {
            tracing::warn!(error = %e, "stderr stays where it was");
        }
    }
}

/// The key of this deployment: the one given, or a fresh one; written to `<dir>/key` (mode 0600) for the CLI.
fn deployment_key(dir: &std::path::Path) -> Result<Key> {
    use std::os::unix::fs::OpenOptionsExt;
    let key = auth::ensure_key()?;
    let path = dir.join("key");
    if let Ok(kept) = std::fs::read_to_string(&path) {
        // Taking over a node: it must be the same deployment.
        if Key::from_hex(&kept).map(|k| k.to_hex()).ok() != Some(key.to_hex()) {
            return Err(axon_runtime::Error::Config(format!(
                "{} holds another deployment's key; refusing to take this node over",
                path.display()
            ))
            .into());
        }
        return Ok(key);
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(key.to_hex().as_bytes())?;
    tracing::info!(key_file = %path.display(), "control plane signed; AXON_KEY_FILE={} lets the CLI in", path.display());
    Ok(key)
}

type Outbox = mpsc::UnboundedSender<(Multipart, Option<oneshot::Sender<()>>)>;

/// The name server actor.
struct Server {
    endpoint: String,
    dir: PathBuf,
    /// The programs that host agents, by kind.
    hosts: Hosts,
    defaults: Defaults,
    records: Records,
    /// Agent processes this server started, by pid.
    children: BTreeMap<u32, String>,
    outbox: Outbox,
    /// The logger's SUB endpoint, once a logger agent bound it.
    logger: Option<String>,
    /// Agents that were starting when the logger came, so were spawned without it:
    /// they are pointed at it when they register.
    owed_logger: BTreeSet<String>,
    key: Key,
    guard: Guard,
    /// Messages that were not control requests, since start.
    malformed: u64,
    /// The lease channel agents renew over; `None` if its socket could not be bound
    /// (agents then renew with control calls).
    leases: Option<leases::Leases>,
    /// `shutdown_agent` callers waiting for their agent to be gone.
    stopping: Vec<Stopping>,
    leaving: Option<Leaving>,
    /// The agents this server started, their policy and configuration.
    supervision: Supervision,
    sampler: Sampler,
    /// The last CPU and memory sample, by pid.
    usage: BTreeMap<u32, Usage>,
    /// When every agent was last sampled.
    sampled: Option<Instant>,
    /// When leases and heartbeats were last checked: a long gap means this process was stalled.
    last_check: Instant,
    /// Where the children are saved for a supervisor that takes over.
    store: Store,
    /// This supervisor: its start, how many the node has had, whether a heart watches it.
    me: Incarnation,
    /// Agents adopted from a dead supervisor (not our children: watched through pidfds),
    /// by pid, and whether each said goodbye (unregistered) before it ended.
    adopted: BTreeMap<u32, bool>,
    /// The children of a group restart still to stop, one at a time.
    sibling_stops: supervise::SiblingStops,
    /// Prometheus metrics, when the node serves them.
    metrics: Option<metrics::Metrics>,
    /// The latest lifecycle events, for `events`.
    lifecycle: Ring,
    /// Cluster mode: where this node publishes its agents, and the address agents bind control at.
    #[cfg(feature = "cluster")]
    cluster: Option<(crate::cluster::Mirror, String)>,
    /// Cluster mode: the node lost etcd and stopped its agents; it starts none until it rejoins.
    fenced: bool,
    /// Cluster mode: the agents the leader gave this node, and their connects by name.
    #[cfg(feature = "cluster")]
    deployment: cluster::Deployment,
}

/// This supervisor process, for `status`.
struct Incarnation {
    started: std::time::SystemTime,
    since: Instant,
    node: NodeRecord,
    heart: bool,
}

impl Server {
    fn launch(launch: Launch) -> Result<()> {
        let Launch {
            hosts,
            bind,
            defaults,
            key,
            dir,
            spec,
            taking_over,
            heart,
            metrics,
            #[cfg(feature = "cluster")]
            cluster,
        } = launch;
        #[cfg(feature = "cluster")]
        let node_name = cluster.as_ref().map(|c| c.name.clone());
        #[cfg(not(feature = "cluster"))]
        let node_name = None;
        let metrics = metrics
            .map(|listening| listening.serve(&dir, node_name))
            .transpose()?;
        let store = Store::open(&dir)?;
        let mut node = store.node()?.unwrap_or_default();
        let started = std::time::SystemTime::now();
        if node.incarnation == 0 {
            node.first_started_unix_ms = unix_ms(started);
        }
        node.incarnation += 1;
        store.save_node(&node)?;
        let inherited = match taking_over {
            true => {
                let (records, unreadable) = store.children();
                for bad in unreadable {
                    tracing::error!(record = %bad, "a child's saved record is unreadable; that child is not adopted");
                }
                records
            }
            false => Vec::new(),
        };
        let endpoint = match bind {
            // A revived name server binds its predecessor's endpoint, whatever it was.
            Some(e) if e.starts_with("tcp://") || e.starts_with("ipc://") => e,
            Some(e) => axon_runtime::net::tcp_endpoint(&e)?,
            None => format!("ipc://{}", dir.join("nameserver.ctl").display()),
        };
        axon_runtime::net::check_endpoint(&endpoint)?;
        let router = tmq::router(axon_runtime::net::zmq_context())
            .set_linger(1000)
            .bind(&endpoint)
            .map_err(axon_runtime::Error::from)?;
        let endpoint = read_endpoint(&router)?;
        // The CLI finds a node on this machine, and its key, through this file.
        std::fs::write(dir.join("endpoint"), &endpoint)?;
        let (sink, stream) = router.split();
        let outbox = spawn_sender(sink);
        #[cfg(feature = "cluster")]
        let endpoint_for_mirror = endpoint.clone();
        Server::create(move |ctx| {
            ctx.add_stream(stream);
            let leases = leases::Leases::open(&dir, ctx.address())
                .inspect_err(|e| tracing::error!(error = %e, "no lease channel: agents renew with control calls"))
                .ok();
            let mut server = Server {
                endpoint,
                dir,
                hosts,
                defaults,
                records: Records::default(),
                children: BTreeMap::new(),
                outbox,
                logger: None,
                owed_logger: BTreeSet::new(),
                key,
                guard: Guard::new(requests::NAMESERVER),
                malformed: 0,
                leases,
                stopping: Vec::new(),
                leaving: None,
                supervision: Supervision::new(spec),
                sampler: Sampler::default(),
                usage: BTreeMap::new(),
                sampled: None,
                last_check: Instant::now(),
                store,
                me: Incarnation {
                    started,
                    since: Instant::now(),
                    node,
                    heart,
                },
                adopted: BTreeMap::new(),
                sibling_stops: Default::default(),
                metrics,
                lifecycle: Ring::default(),
                fenced: false,
                #[cfg(feature = "cluster")]
                deployment: cluster::Deployment::default(),
                #[cfg(feature = "cluster")]
                cluster: cluster.map(|c| {
                    let entry = crate::cluster::NodeEntry {
                        name: c.name,
                        endpoint: endpoint_for_mirror.clone(),
                        advertise: c.advertise.clone(),
                        pid: std::process::id(),
                        since_ms: unix_ms(started),
                    };
                    let (to, news) = mpsc::unbounded_channel();
                    let news = futures::stream::unfold(news, |mut rx| async move {
                        rx.recv().await.map(|f| (f, rx))
                    });
                    ctx.add_stream(news);
                    let kinds = vec![crate::manifest::ANY_KIND.to_owned()];
                    let mirror = crate::cluster::Mirror::start(c.registry, entry, kinds, to);
                    (mirror, c.advertise)
                }),
            };
            server.take_over(inherited, ctx);
            server
        });
        Ok(())
    }
}

/// Milliseconds since the Unix epoch.
fn unix_ms(t: std::time::SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn read_endpoint(router: &tmq::router::Router) -> Result<String> {
    use tmq::AsZmqSocket;
    let bytes = router
        .get_socket()
        .get_last_endpoint()
        .map_err(axon_runtime::Error::from)?;
    bytes.map_err(|_| Error::EventLoop("bound endpoint is not UTF-8".into()))
}

/// One task owns the socket's sending half; replies reach it in order through a channel.
fn spawn_sender(mut sink: futures::stream::SplitSink<tmq::router::Router, Multipart>) -> Outbox {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Multipart, Option<oneshot::Sender<()>>)>();
    actix_rt::spawn(async move {
        while let Some((frames, sent)) = rx.recv().await {
            if let Err(e) = sink.send(frames).await {
                tracing::warn!(error = %e, "name server reply failed");
            }
            if let Some(sent) = sent {
                let _ = sent.send(());
            }
        }
    });
    tx
}

impl Actor for Server {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        watch_signals(ctx.address());
        ctx.run_interval(LEASE_CHECK, |act, _ctx| {
            act.expire_leases();
            // Connects by name of deployed agents that just started serving.
            #[cfg(feature = "cluster")]
            act.relink(_ctx);
        });
        ctx.run_interval(supervise::SAMPLE_PERIOD, |act, _| {
            act.sample(act.metrics.is_some());
            act.refresh_metrics();
        });
        tracing::info!(endpoint = %self.endpoint, dir = %self.dir.display(), "name server serving");
        let mut out = std::io::stdout().lock();
        // The parent waits for this line; if stdout is gone there is no one to tell.
        let ready = writeln!(out, "{READY_LINE} {} {}", self.endpoint, self.dir.display());
        let _ = ready.and_then(|()| out.flush());
    }
}

/// SIGTERM or SIGINT shut the node down like the `shutdown` method.
fn watch_signals(addr: Addr<Server>) {
    use tokio::signal::unix::{signal as unix_signal, SignalKind};
    for kind in [SignalKind::terminate(), SignalKind::interrupt()] {
        let addr = addr.clone();
        actix_rt::spawn(async move {
            let Ok(mut sig) = unix_signal(kind) else {
                return;
            };
            if sig.recv().await.is_some() {
                addr.do_send(ShutdownNode);
            }
        });
    }
}

/// Shut the whole node down (from a signal).
#[derive(Message)]
#[rtype(result = "()")]
struct ShutdownNode;

impl Handler<ShutdownNode> for Server {
    type Result = ();

    fn handle(&mut self, _: ShutdownNode, ctx: &mut Context<Self>) {
        tracing::info!("signal received: shutting down");
        self.shutdown(DEFAULT_GRACE, None, ctx);
    }
}

impl StreamHandler<tmq::Result<Multipart>> for Server {
    fn handle(&mut self, frames: tmq::Result<Multipart>, ctx: &mut Context<Self>) {
        let frames = match frames {
            Ok(f) => f,
            Err(e) => return tracing::warn!(error = %e, "control receive failed"),
        };
        let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
        match requests::parse(&parts, &mut self.guard) {
            Ok((waiter, request)) => self.serve_guarded(&request, &waiter, ctx),
            Err(Unparsed::Malformed { waiter, why }) => self.malformed(waiter, &why),
            Err(Unparsed::Refused {
                waiter,
                method,
                why,
            }) => {
                tracing::warn!(method = %method, why = %why, "control request refused");
                let message = format!("request refused: {why}");
                let refused = refusal((ErrorKind::Refused, message), &method);
                self.answer(&waiter, Err(refused));
            }
        }
        // An unregister may have completed a shutdown_agent.
        self.settle_stops();
        self.save_changes();
    }

    /// The control socket never ends on its own; if it does, the node cannot serve.
    fn finished(&mut self, ctx: &mut Context<Self>) {
        tracing::error!("control socket closed; shutting down");
        self.shutdown(DEFAULT_GRACE, None, ctx);
    }
}

impl Server {
    /// Serves one request; a panic in it (a bug) is answered `internal`, and the server serves on.
    fn serve_guarded(&mut self, req: &Request, waiter: &Waiter, ctx: &mut Context<Self>) {
        // AssertUnwindSafe: a request that panics may leave the records it was
        // changing half-updated (a name claimed but never started, say). Every
        // other agent's record, the children and the socket stay as they were;
        // serving on with one record off beats a dead name server that loses
        // them all. The panic is logged as an error naming the method.
        let served = crate::guard::catch(AssertUnwindSafe(|| self.serve(req, waiter, ctx)));
        let Err(panic) = served else {
            return;
        };
        tracing::error!(method = %req.method, panic = %panic, "control request panicked; answered internal");
        if !req.oneway {
            let message = format!("the name server failed on {}: {panic}", req.method);
            self.answer(
                waiter,
                Err(refusal((ErrorKind::Internal, message), &req.method)),
            );
        }
    }

    fn serve(&mut self, req: &Request, waiter: &Waiter, ctx: &mut Context<Self>) {
        if let Some(m) = &mut self.metrics {
            m.served(&req.method);
        }
        if let Some(outcome) = self.dispatch(req, waiter, ctx) {
            if !req.oneway {
                self.answer(waiter, outcome.map_err(|r| refusal(r, &req.method)));
            }
        }
    }

    /// Counts and logs a message that is not a control request; answers it when it names a caller.
    fn malformed(&mut self, waiter: Option<Waiter>, why: &str) {
        self.malformed += 1;
        let answered = waiter.is_some();
        // Counted always; logged at powers of two, so that a flood cannot flood the log.
        if self.malformed.is_power_of_two() {
            tracing::warn!(
                why,
                answered,
                malformed = self.malformed,
                "malformed control message"
            );
        }
        if let Some(waiter) = waiter {
            let message = format!("malformed request: {why}");
            self.answer(&waiter, Err(refusal((ErrorKind::BadRequest, message), "")));
        }
    }

    /// Runs one method; `None` when the answer comes later.
    fn dispatch(
        &mut self,
        req: &Request,
        waiter: &Waiter,
        ctx: &mut Context<Self>,
    ) -> Option<Result<Value, Refusal>> {
        Some(match req.method.as_str() {
            "set_addr" => args::<SetAddr>(req).and_then(|a| self.set_addr(a, ctx)),
            "register" => args::<Register>(req)
                .and_then(|a| self.register(a, ctx))
                .map(|()| Value::Null),
            "spawn" => return self.spawn(req, waiter, ctx),
            "shutdown_agent" => return self.shutdown_agent(req, waiter, ctx),
            "journal" => args(req).map(|a| self.journal(a)),
            "start_failed" => args::<crate::methods::StartFailed>(req).map(|a| {
                tracing::warn!(agent = %a.name, pid = a.pid, reason = %a.reason, "agent could not start");
                Value::Bool(
                    self.records
                        .start_failed(&a.name, a.pid, a.reason, a.bad_arguments),
                )
            }),
            "ps" => args::<crate::methods::PsArgs>(req).and_then(|a| self.ps(a)),
            "groups" => self.groups(),
            "topology" => self.topology(),
            "status" => Ok(self.status()),
            "events" => args::<EventsArgs>(req).and_then(|a| self.events(a)),
            "unregister" => {
                self.note_goodbye(req);
                requests::query(&mut self.records, req)
            }
            #[cfg(feature = "fault-injection")]
            m @ ("fault_panic" | "fault_panic_later") => return self.fault(m, ctx),
            "signal" => args(req).and_then(|a| self.signal(a)),
            "shutdown" => match args::<Stop>(req) {
                Ok(a) if a.name.is_none() => {
                    self.shutdown(grace_of(a.timeout_ms), Some(waiter.clone()), ctx);
                    return None;
                }
                Ok(_) => Err((
                    ErrorKind::BadArguments,
                    "shutdown stops the whole node; use shutdown_agent for one agent".into(),
                )),
                Err(r) => Err(r),
            },
            _ => requests::query(&mut self.records, req),
        })
    }

    /// Forgets agents that stopped renewing; agents this server started are watched through their exit instead.
    ///
    /// If this process itself was stalled (SIGSTOP, an overloaded machine), the
    /// renewals sent meanwhile are still queued unread: the time it was away
    /// does not count against the agents, so none is killed as hung for it.
    fn expire_leases(&mut self) {
        let now = Instant::now();
        let away = now.saturating_duration_since(self.last_check);
        self.last_check = now;
        if away > LEASE_CHECK * 2 {
            let stalled = away - LEASE_CHECK;
            tracing::warn!(
                stalled_ms = stalled.as_millis() as u64,
                "the name server was stalled; that time does not count as agents' silence"
            );
            self.records.forgive(stalled, now);
        }
        let children = &self.children;
        let misses = axon_runtime::config::LEASE_MISSES;
        for info in self
            .records
            .expire(misses, |info| children.contains_key(&info.pid))
        {
            tracing::warn!(agent = %info.name, pid = info.pid, "agent stopped renewing its lease; unregistered");
        }
        self.check_heartbeats();
        self.settle_stops();
        self.save_changes();
    }

    /// Records a lifecycle event for `events`.
    fn record(&mut self, what: Lifecycle) {
        self.lifecycle.push(what);
    }

    /// `events`: the lifecycle events after the sequence number asked for.
    fn events(&self, a: EventsArgs) -> Result<Value, Refusal> {
        let limit = a.limit.unwrap_or(crate::lifecycle::RING_SIZE);
        let page = self
            .lifecycle
            .after(a.after, limit, self.me.node.incarnation);
        requests::to_value(&page)
    }

    fn answer(&self, waiter: &Waiter, outcome: Result<Value, RemoteError>) {
        // The sender task lives as long as the System; a failed send means it is stopping.
        let _ = self.outbox.send((reply_frames(waiter, outcome), None));
    }
}
