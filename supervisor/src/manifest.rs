//! Manifests: a deployment described in TOML, validated before anything starts.
//!
//! Raw TOML deserializes into `raw` types (unknown fields refused), then
//! converts once into validated types; every error names the line it is
//! about.
//!
//! ```toml
//! [nameserver]
//! addr = "tcp://127.0.0.1:7100"
//! [metrics]
//! addr = "127.0.0.1:9100"        # Prometheus metrics at http://ADDR/metrics (docs/metrics.md)
//! [supervisor]
//! strategy = "one_for_one"       # one_for_all | rest_for_one
//! intensity = 5
//! period = "10s"
//! heartbeat = "500ms"
//! backoff = "100ms"              # 2nd restart within period waits this, doubling
//! max_backoff = "5s"
//! escalate = true                # on giving up, stop the node
//! orphan_grace = "10s"           # agents serve on this long without their supervisor
//! [cluster]                      # cluster mode (`axon deploy`)
//! registry = "etcd://10.0.0.1:2379"
//! curve = true                   # every bind secure
//! [status]                       # `axon up` shows this agent's text in its status line
//! agent = "monitor"
//! attribute = "status"           # the attribute holding it (default `status`)
//! [chaos]                        # optional fault injection
//! every = "3s"
//! targets = ["echo"]
//! signal = "KILL"                # KILL | STOP | TERM | CONT
//! [[group]]                      # a nested supervisor (see docs/supervision.md)
//! name = "pipeline"
//! strategy = "rest_for_one"
//! intensity = 2
//! period = "10s"
//!   [[group.agent]]              # its agents: an [[agent]] table each
//!   name = "source"
//!   kind = "ticker"
//!   [[group.group]]              # nested groups, to any depth
//!   name = "sinks"
//!     [[group.group.agent]]
//!     name = "sink"
//!     kind = "counter"
//! [[agent]]
//! name = "echo"
//! kind = "echo"
//! bin = "target/release/my-agents"   # optional: user binary hosting the kind
//! args = []                      # its arguments
//! restart = "permanent"          # transient | temporary
//! memory_limit = "256MiB"
//! attributes = { greeting = "hi" }
//! nodes = ["b", "c"]             # cluster mode: where it may run, preferred first
//!   [[agent.bind]]
//!   alias = "main"
//!   socket = "REP"                 # the ZeroMQ socket kind (was `kind`, still read, with a warning)
//!   transport = "tcp"
//!   addr = "127.0.0.1:7101"
//!   serializer = "raw"
//!   handler = "echo"
//!   hwm = 1000                     # optional; also on connects
//!   on_full = "block"              # block | drop (PUB: drop only)
//!   secure = true                  # ZeroMQ CURVE with the deployment's keys (a CURVE build)
//!   framing = "multipart"          # PUB only: multipart | osbrain (one frame, docs/osbrain.md)
//!   reliable = true                # PUSH/PULL: at-least-once (docs/guarantees.md); both ends;
//!                                  # or a table: { ack_timeout_ms = 2000, window = 1000, max_attempts = 5,
//!                                  #   dead_letter = "dead", outbox_messages = 100000, outbox_bytes = 67108864 }
//!   durable = true                 # PUSH: the outbox survives a crash (implies reliable)
//!   [[agent.connect]]
//!   to = "other.main"
//!   alias = "out"
//!   handler = "count"
//!   topics = ["foo"]
//!   dispatch = "longest"           # SUB: longest | all (every matching topic's handler)
//!   reliable = true                # and durable: as on a bind
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use axon_runtime::{Serializer, SocketKind, Transport, Value};
use toml::Spanned;

pub use crate::policy::{Restart, RestartStrategy, SupervisorSpec};

/// A manifest that does not hold up, with the line it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// 1-based line in the manifest.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "manifest line {}: {}", self.line, self.message)
    }
}

/// In the known kinds of [`Manifest::parse`]: any kind is taken (a cluster's
/// nodes, which run what `axon deploy` stored, each with its own programs).
pub const ANY_KIND: &str = "*";

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Endpoint the name server binds, when given.
    pub nameserver: Option<String>,
    /// Where the node serves Prometheus metrics (`[metrics] addr`), when given.
    pub metrics: Option<std::net::SocketAddr>,
    /// Supervision settings.
    pub supervisor: SupervisorSpec,
    /// Fault injection, when asked for.
    pub chaos: Option<Chaos>,
    /// The agents, in start order (along the supervision tree: a group's
    /// agents where the group is written), each naming its group.
    pub agents: Vec<AgentEntry>,
    /// Cluster mode: the registry (`[cluster] registry = "etcd://..."`), when given.
    pub registry: Option<String>,
    /// Whose status text `axon up` shows in its status line (`[status]`), when given.
    pub status: Option<StatusSource>,
    /// Deprecated spellings that were read anyway, each with its line: show them to the user.
    pub warnings: Vec<String>,
}

/// The `[status]` table: an agent attribute holding a short status text
/// (e.g. the trading floor's monitor line) that `axon up` shows at the end of
/// its status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSource {
    /// The agent, one of the manifest's.
    pub agent: String,
    /// The attribute holding the text.
    pub attribute: String,
}

/// The attribute `[status]` reads unless it names another.
pub const STATUS_ATTRIBUTE: &str = "status";

/// The `[chaos]` table: fault injection while the deployment runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Chaos {
    /// How often a target is hit.
    pub every: Duration,
    /// Agents that may be hit (one, picked at random, each time).
    pub targets: Vec<String>,
    /// The signal sent.
    pub signal: axon_runtime::launch::Signal,
}

/// One `[[agent]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentEntry {
    /// Unique name.
    pub name: String,
    /// Agent kind to host.
    pub kind: String,
    /// User binary hosting custom kinds.
    pub bin: Option<PathBuf>,
    /// Arguments for `bin`.
    pub args: Vec<String>,
    /// Restart type.
    pub restart: Restart,
    /// Memory limit in bytes.
    pub memory_limit: Option<u64>,
    /// Attributes at spawn.
    pub attributes: BTreeMap<String, Value>,
    /// Sockets to bind.
    pub binds: Vec<BindEntry>,
    /// Sockets to connect.
    pub connects: Vec<ConnectEntry>,
    /// Cluster mode: the nodes it may run on, in order of preference (any live node when empty).
    pub nodes: Vec<String>,
    /// The supervision group (`[[group]]`) it is in; `None`: the root.
    pub group: Option<String>,
    /// Scripts loaded at start, before the binds and connects.
    pub scripts: Vec<ScriptEntry>,
    /// What one script call may do; the defaults when `None`.
    pub script_limits: Option<axon_runtime::ScriptLimits>,
}

/// One `[[agent.bind]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct BindEntry {
    /// Alias.
    pub alias: String,
    /// Socket kind.
    pub kind: SocketKind,
    /// Transport, else the agent's default.
    pub transport: Option<Transport>,
    /// Location, else a fresh one.
    pub addr: Option<String>,
    /// Serializer, else the agent's default.
    pub serializer: Option<Serializer>,
    /// Handler for received messages.
    pub handler: Option<String>,
    /// High-water mark and what to do at it.
    pub socket: SocketSettings,
    /// ZeroMQ CURVE with the deployment's keys (`secure = true`, or `[cluster] curve = true`).
    pub secure: bool,
    /// PUB: how messages are laid out in frames; multipart when `None`.
    pub framing: Option<axon_runtime::Framing>,
    /// PUSH, PULL: at-least-once delivery (`reliable = true`, `durable = true`).
    pub reliable: Option<axon_runtime::Reliability>,
}

/// The high-water mark of a bound or connected socket and what a send does at it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SocketSettings {
    /// Messages per peer and direction; the agent's default when `None`.
    pub hwm: Option<i32>,
    /// Block or drop at the mark; by socket kind when `None`.
    pub on_full: Option<axon_runtime::OnFull>,
}

/// One `[[agent.connect]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectEntry {
    /// The bound socket connected to: agent name and alias.
    pub agent: String,
    /// Its alias on that agent.
    pub remote_alias: String,
    /// Alias of the new socket.
    pub alias: String,
    /// Handler for received messages.
    pub handler: Option<String>,
    /// SUB topics (all when empty).
    pub topics: Vec<String>,
    /// High-water mark and what to do at it.
    pub socket: SocketSettings,
    /// SUB: which matching topics' handlers a message goes to; longest when `None`.
    pub dispatch: Option<axon_runtime::Dispatch>,
    /// PUSH, PULL: at-least-once delivery (`reliable = true`, `durable = true`).
    pub reliable: Option<axon_runtime::Reliability>,
}

impl BindEntry {
    /// The options that bind this socket.
    pub fn options(&self) -> axon_runtime::BindOptions {
        axon_runtime::BindOptions {
            alias: Some(self.alias.clone()),
            transport: self.transport,
            addr: self.addr.clone(),
            serializer: self.serializer,
            handler: self.handler.clone(),
            hwm: self.socket.hwm,
            on_full: self.socket.on_full,
            secure: self.secure,
            framing: self.framing,
            reliable: self.reliable.clone(),
        }
    }
}

impl ConnectEntry {
    /// The options that connect this socket (to the address its target bound).
    pub fn options(&self) -> axon_runtime::ConnectOptions {
        axon_runtime::ConnectOptions {
            alias: Some(self.alias.clone()),
            handler: self.handler.clone(),
            topics: self
                .topics
                .iter()
                .map(|t| (t.as_bytes().to_vec(), None))
                .collect(),
            hwm: self.socket.hwm,
            on_full: self.socket.on_full,
            dispatch: self.dispatch,
            reliable: self.reliable.clone(),
        }
    }
}

mod agent;
mod group;
mod raw;
mod script;

pub use script::ScriptEntry;

use agent::{agent_entry, tcp_addr};

/// Turns byte spans into line numbers.
/// `[metrics] addr`: an `IP:PORT` to listen on (port 0: any free one).
fn metrics_addr(
    lines: &Lines<'_>,
    addr: &Spanned<String>,
) -> Result<std::net::SocketAddr, ManifestError> {
    addr.get_ref().parse().map_err(|_| {
        let why = format!(
            "metrics addr {:?} is not IP:PORT (e.g. \"127.0.0.1:9100\")",
            addr.get_ref()
        );
        lines.error(addr.span(), why)
    })
}

struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.0.len());
        self.0[..end].matches('\n').count() + 1
    }

    fn error(&self, span: Range<usize>, message: impl Into<String>) -> ManifestError {
        ManifestError {
            line: self.of(span),
            message: message.into(),
        }
    }
}

impl Manifest {
    /// Parses and validates `text`; `known_kinds` are the kinds hosted without a `bin`.
    pub fn parse(text: &str, known_kinds: &[String]) -> Result<Manifest, ManifestError> {
        let lines = Lines(text);
        let raw: raw::Manifest = toml::from_str(text).map_err(|e| ManifestError {
            line: e.span().map_or(1, |s| lines.of(s)),
            message: e.message().to_owned(),
        })?;
        let nameserver = match raw.nameserver.and_then(|n| n.addr) {
            Some(addr) => Some(tcp_addr(&lines, &addr)?),
            None => None,
        };
        let metrics = match raw.metrics {
            Some(m) => Some(metrics_addr(&lines, &m.addr)?),
            None => None,
        };
        let mut supervisor = supervisor(&lines, raw.supervisor)?;
        let (placed, groups) = group::flatten(&lines, &raw.agent, &raw.group)?;
        supervisor.groups = groups;
        let mut agents = Vec::new();
        let mut names = BTreeSet::new();
        let mut warnings = Vec::new();
        for (agent, group) in &placed {
            let mut entry = agent_entry(&lines, agent.get_ref(), known_kinds, &mut warnings)?;
            if !names.insert(entry.name.clone()) {
                let span = agent.get_ref().name.span();
                return Err(lines.error(span, format!("duplicate agent name {:?}", entry.name)));
            }
            entry.group = group.clone();
            agents.push(entry);
        }
        let raw_agents: Vec<&Spanned<raw::Agent>> = placed.iter().map(|(a, _)| *a).collect();
        check_connects(&lines, &raw_agents, &agents)?;
        check_hosts(&lines, &raw_agents, &agents)?;
        let chaos = match &raw.chaos {
            Some(c) => Some(chaos(&lines, c, &agents)?),
            None => None,
        };
        // `[cluster] curve = true`: every bind of the deployment is a CURVE server.
        if raw.cluster.as_ref().and_then(|c| c.curve) == Some(true) {
            for bind in agents.iter_mut().flat_map(|a| a.binds.iter_mut()) {
                bind.secure = true;
            }
        }
        let status = match &raw.status {
            Some(s) => Some(status_source(&lines, s, &agents)?),
            None => None,
        };
        let registry = raw.cluster.and_then(|c| c.registry);
        let registry = registry.map(|r| r.into_inner());
        Ok(Manifest {
            nameserver,
            metrics,
            supervisor,
            chaos,
            agents,
            registry,
            status,
            warnings,
        })
    }
}

/// Each kind has one host program in a deployment: a `spawn` names only the
/// kind, so two agents of one kind must agree on their `bin` and `args`.
fn check_hosts(
    lines: &Lines<'_>,
    raw: &[&Spanned<raw::Agent>],
    agents: &[AgentEntry],
) -> Result<(), ManifestError> {
    let mut hosts: BTreeMap<&str, (&AgentEntry, usize)> = BTreeMap::new();
    for (entry, raw) in agents.iter().zip(raw) {
        let span = raw.get_ref().kind.span();
        match hosts.get(entry.kind.as_str()) {
            None => {
                hosts.insert(&entry.kind, (entry, lines.of(span.clone())));
            }
            Some((first, line)) if first.bin != entry.bin || first.args != entry.args => {
                let message = format!(
                    "agent {:?}: kind {:?} is hosted by {} on line {line}; one kind has one host (bin and args)",
                    entry.name,
                    entry.kind,
                    first.bin.as_ref().map_or("the axon binary".to_owned(), |b| format!("bin {}", b.display())),
                );
                return Err(lines.error(span, message));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn supervisor(
    lines: &Lines<'_>,
    raw: Option<raw::Supervisor>,
) -> Result<SupervisorSpec, ManifestError> {
    let raw = raw.unwrap_or(raw::Supervisor {
        strategy: None,
        intensity: None,
        period: None,
        heartbeat: None,
        backoff: None,
        max_backoff: None,
        escalate: None,
        orphan_grace: None,
    });
    let duration = |d: &Option<Spanned<String>>, default: Duration| match d {
        Some(s) => parse_duration(s.get_ref()).map_err(|e| lines.error(s.span(), e)),
        None => Ok(default),
    };
    let defaults = SupervisorSpec::default();
    let heartbeat = duration(&raw.heartbeat, defaults.heartbeat)?;
    if heartbeat.is_zero() {
        let span = raw.heartbeat.as_ref().map_or(0..0, |h| h.span());
        return Err(lines.error(span, "heartbeat must be at least 1ms"));
    }
    Ok(SupervisorSpec {
        strategy: raw.strategy.unwrap_or(defaults.strategy),
        intensity: raw.intensity.unwrap_or(defaults.intensity),
        period: duration(&raw.period, defaults.period)?,
        heartbeat,
        backoff: duration(&raw.backoff, defaults.backoff)?,
        max_backoff: duration(&raw.max_backoff, defaults.max_backoff)?,
        escalate: raw.escalate.unwrap_or(defaults.escalate),
        orphan_grace: duration(&raw.orphan_grace, defaults.orphan_grace)?,
        groups: Vec::new(),
    })
}

/// `[status]`: its agent must be one of the manifest's.
fn status_source(
    lines: &Lines<'_>,
    raw: &raw::Status,
    agents: &[AgentEntry],
) -> Result<StatusSource, ManifestError> {
    let agent = raw.agent.get_ref();
    if !agents.iter().any(|a| &a.name == agent) {
        let message = format!("status agent {agent:?} is not an agent of this manifest");
        return Err(lines.error(raw.agent.span(), message));
    }
    let attribute = raw.attribute.as_deref().unwrap_or(STATUS_ATTRIBUTE);
    Ok(StatusSource {
        agent: agent.clone(),
        attribute: attribute.to_owned(),
    })
}

fn chaos(
    lines: &Lines<'_>,
    raw: &Spanned<raw::Chaos>,
    agents: &[AgentEntry],
) -> Result<Chaos, ManifestError> {
    let c = raw.get_ref();
    let every = parse_duration(c.every.get_ref()).map_err(|e| lines.error(c.every.span(), e))?;
    if every.is_zero() {
        return Err(lines.error(c.every.span(), "chaos `every` must be at least 1ms"));
    }
    if c.targets.is_empty() {
        return Err(lines.error(raw.span(), "chaos needs at least one target"));
    }
    for t in &c.targets {
        if !agents.iter().any(|a| &a.name == t.get_ref()) {
            let message = format!(
                "chaos target {:?} is not an agent of this manifest",
                t.get_ref()
            );
            return Err(lines.error(t.span(), message));
        }
    }
    let signal = match &c.signal {
        None => axon_runtime::launch::Signal::Kill,
        Some(s) => s
            .get_ref()
            .parse()
            .map_err(|e: axon_runtime::Error| lines.error(s.span(), e.to_string()))?,
    };
    Ok(Chaos {
        every,
        targets: c.targets.iter().map(|t| t.get_ref().clone()).collect(),
        signal,
    })
}

/// Every `to` names an agent of the manifest and one of its binds; `dispatch = "all"`
/// only where that bind publishes.
fn check_connects(
    lines: &Lines<'_>,
    raw: &[&Spanned<raw::Agent>],
    agents: &[AgentEntry],
) -> Result<(), ManifestError> {
    for (entry, raw) in agents.iter().zip(raw) {
        for (connect, raw_connect) in entry.connects.iter().zip(&raw.get_ref().connect) {
            let target = agents.iter().find(|a| a.name == connect.agent);
            let bind =
                target.and_then(|t| t.binds.iter().find(|b| b.alias == connect.remote_alias));
            let Some(bind) = bind else {
                let to = raw_connect.get_ref().to.get_ref();
                let message = format!("`to = {to:?}` names no bind of an agent in this manifest");
                return Err(lines.error(raw_connect.get_ref().to.span(), message));
            };
            let publishes = matches!(bind.kind, SocketKind::Pub | SocketKind::SyncPub);
            if let (Some(axon_runtime::Dispatch::All), Some(at), false) =
                (connect.dispatch, &raw_connect.get_ref().dispatch, publishes)
            {
                let message = format!(
                    "dispatch is for connects to a PUB or SYNC_PUB, and {:?} is a {} bind",
                    raw_connect.get_ref().to.get_ref(),
                    bind.kind
                );
                return Err(lines.error(at.span(), message));
            }
        }
    }
    Ok(())
}

/// `500ms`, `10s`, `2m`; a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms or 10s"))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" | "" => n,
        "m" => n * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{text:?}: {e}"))
}

/// `256MiB`, `1GiB`, `512KiB`, `1000000` (bytes).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 256MiB"))?;
    let scale = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("{text:?}: the unit must be B, KiB, MiB or GiB")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests;
