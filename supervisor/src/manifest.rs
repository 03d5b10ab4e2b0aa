//! Manifests: a deployment described in TOML, validated before anything starts.
//!
//! Raw TOML deserializes into `raw` types (unknown fields refused), then
//! converts once into validated types; every error names the line it is
//! about.
//!
//! ```toml
//! [nameserver]
//! addr = "tcp://127.0.0.1:7100"
//! [supervisor]
//! strategy = "one_for_one"       # one_for_all | rest_for_one
//! intensity = 5
//! period = "10s"
//! heartbeat = "500ms"
//! backoff = "100ms"              # 2nd restart within period waits this, doubling
//! max_backoff = "5s"
//! escalate = true                # on giving up, stop the node
//! [chaos]                        # optional fault injection
//! every = "3s"
//! targets = ["echo"]
//! signal = "KILL"                # KILL | STOP | TERM | CONT
//! [[agent]]
//! name = "echo"
//! kind = "echo"
//! bin = "target/release/my-agents"   # optional: user binary hosting the kind
//! args = []                      # its arguments
//! restart = "permanent"          # transient | temporary
//! memory_limit = "256MiB"
//! attributes = { greeting = "hi" }
//!   [[agent.bind]]
//!   alias = "main"
//!   socket = "REP"                 # the ZeroMQ socket kind (was `kind`, still read, with a warning)
//!   transport = "tcp"
//!   addr = "127.0.0.1:7101"
//!   serializer = "raw"
//!   handler = "echo"
//!   hwm = 1000                     # optional; also on connects
//!   on_full = "block"              # block | drop (PUB: drop only)
//!   [[agent.connect]]
//!   to = "other.main"
//!   alias = "out"
//!   handler = "count"
//!   topics = ["foo"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;

use axon_runtime::{Serializer, SocketKind, Transport, Value};
use serde::Deserialize;
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

/// A validated manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// Endpoint the name server binds, when given.
    pub nameserver: Option<String>,
    /// Supervision settings.
    pub supervisor: SupervisorSpec,
    /// Fault injection, when asked for.
    pub chaos: Option<Chaos>,
    /// The agents, in start order.
    pub agents: Vec<AgentEntry>,
    /// Deprecated spellings that were read anyway, each with its line: show them to the user.
    pub warnings: Vec<String>,
}

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
}

mod raw {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Manifest {
        pub(super) nameserver: Option<NameServer>,
        pub(super) supervisor: Option<Supervisor>,
        pub(super) chaos: Option<Spanned<Chaos>>,
        #[serde(default)]
        pub(super) agent: Vec<Spanned<Agent>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct NameServer {
        pub(super) addr: Option<Spanned<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Supervisor {
        pub(super) strategy: Option<RestartStrategy>,
        pub(super) intensity: Option<u32>,
        pub(super) period: Option<Spanned<String>>,
        pub(super) heartbeat: Option<Spanned<String>>,
        pub(super) backoff: Option<Spanned<String>>,
        pub(super) max_backoff: Option<Spanned<String>>,
        pub(super) escalate: Option<bool>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Chaos {
        pub(super) every: Spanned<String>,
        pub(super) targets: Vec<Spanned<String>>,
        pub(super) signal: Option<Spanned<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Agent {
        pub(super) name: Spanned<String>,
        pub(super) kind: Spanned<String>,
        pub(super) bin: Option<PathBuf>,
        #[serde(default)]
        pub(super) args: Vec<String>,
        pub(super) restart: Option<Restart>,
        pub(super) memory_limit: Option<Spanned<String>>,
        #[serde(default)]
        pub(super) attributes: BTreeMap<String, Value>,
        #[serde(default)]
        pub(super) bind: Vec<Spanned<Bind>>,
        #[serde(default)]
        pub(super) connect: Vec<Spanned<Connect>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Bind {
        pub(super) alias: String,
        /// The ZeroMQ socket kind.
        pub(super) socket: Option<Spanned<String>>,
        /// The old name of `socket`, read with a deprecation warning.
        pub(super) kind: Option<Spanned<String>>,
        pub(super) transport: Option<Spanned<String>>,
        pub(super) addr: Option<Spanned<String>>,
        pub(super) serializer: Option<Spanned<String>>,
        pub(super) handler: Option<String>,
        pub(super) hwm: Option<Spanned<i64>>,
        pub(super) on_full: Option<Spanned<String>>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Connect {
        pub(super) to: Spanned<String>,
        pub(super) alias: String,
        pub(super) handler: Option<String>,
        #[serde(default)]
        pub(super) topics: Vec<String>,
        pub(super) hwm: Option<Spanned<i64>>,
        pub(super) on_full: Option<Spanned<String>>,
    }
}

/// Turns byte spans into line numbers.
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
        let supervisor = supervisor(&lines, raw.supervisor)?;
        let mut agents = Vec::new();
        let mut names = BTreeSet::new();
        let mut warnings = Vec::new();
        for agent in &raw.agent {
            let entry = agent_entry(&lines, agent.get_ref(), known_kinds, &mut warnings)?;
            if !names.insert(entry.name.clone()) {
                let span = agent.get_ref().name.span();
                return Err(lines.error(span, format!("duplicate agent name {:?}", entry.name)));
            }
            agents.push(entry);
        }
        check_connects(&lines, &raw.agent, &agents)?;
        check_hosts(&lines, &raw.agent, &agents)?;
        let chaos = match &raw.chaos {
            Some(c) => Some(chaos(&lines, c, &agents)?),
            None => None,
        };
        Ok(Manifest {
            nameserver,
            supervisor,
            chaos,
            agents,
            warnings,
        })
    }
}

/// Each kind has one host program in a deployment: a `spawn` names only the
/// kind, so two agents of one kind must agree on their `bin` and `args`.
fn check_hosts(
    lines: &Lines<'_>,
    raw: &[Spanned<raw::Agent>],
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

fn tcp_addr(lines: &Lines<'_>, addr: &Spanned<String>) -> Result<String, ManifestError> {
    axon_runtime::net::tcp_endpoint(addr.get_ref())
        .map_err(|e| lines.error(addr.span(), e.to_string()))
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

fn agent_entry(
    lines: &Lines<'_>,
    a: &raw::Agent,
    known_kinds: &[String],
    warnings: &mut Vec<String>,
) -> Result<AgentEntry, ManifestError> {
    let kind = a.kind.get_ref();
    if a.bin.is_none() && !known_kinds.iter().any(|k| k == kind) {
        let message = format!(
            "unknown agent kind {kind:?} (known: {}; or name a `bin`)",
            known_kinds.join(", ")
        );
        return Err(lines.error(a.kind.span(), message));
    }
    if !a.args.is_empty() && a.bin.is_none() {
        return Err(lines.error(a.name.span(), "`args` are for a `bin`; this agent has none"));
    }
    if a.name.get_ref().is_empty() {
        return Err(lines.error(a.name.span(), "agent name must not be empty"));
    }
    let memory_limit = match &a.memory_limit {
        Some(m) => Some(parse_bytes(m.get_ref()).map_err(|e| lines.error(m.span(), e))?),
        None => None,
    };
    let binds = a
        .bind
        .iter()
        .map(|b| bind_entry(lines, b, warnings))
        .collect::<Result<_, _>>()?;
    let connects = a
        .connect
        .iter()
        .map(|c| connect_entry(lines, c.get_ref()))
        .collect::<Result<_, _>>()?;
    Ok(AgentEntry {
        name: a.name.get_ref().clone(),
        kind: kind.clone(),
        bin: a.bin.clone(),
        args: a.args.clone(),
        restart: a.restart.unwrap_or(Restart::Permanent),
        memory_limit,
        attributes: a.attributes.clone(),
        binds,
        connects,
    })
}

fn parsed<T: std::str::FromStr<Err = axon_runtime::Error>>(
    lines: &Lines<'_>,
    value: &Option<Spanned<String>>,
) -> Result<Option<T>, ManifestError> {
    value
        .as_ref()
        .map(|v| {
            v.get_ref()
                .parse()
                .map_err(|e: axon_runtime::Error| lines.error(v.span(), e.to_string()))
        })
        .transpose()
}

fn bind_entry(
    lines: &Lines<'_>,
    spanned: &Spanned<raw::Bind>,
    warnings: &mut Vec<String>,
) -> Result<BindEntry, ManifestError> {
    let b = spanned.get_ref();
    let socket = match (&b.socket, &b.kind) {
        (Some(socket), None) => socket,
        (None, Some(kind)) => {
            warnings.push(format!(
                "line {}: bind {:?}: `kind` is deprecated here, write `socket = {:?}` (an agent's `kind` is its agent kind)",
                lines.of(kind.span()),
                b.alias,
                kind.get_ref()
            ));
            kind
        }
        (Some(socket), Some(_)) => {
            let why = format!(
                "bind {:?}: give `socket` only (`kind` is its old name)",
                b.alias
            );
            return Err(lines.error(socket.span(), why));
        }
        (None, None) => {
            let why = format!(
                "bind {:?}: missing `socket`, its ZeroMQ kind (REP, PUB, PUSH, ...)",
                b.alias
            );
            return Err(lines.error(spanned.span(), why));
        }
    };
    let kind: SocketKind = socket
        .get_ref()
        .parse()
        .map_err(|e: axon_runtime::Error| lines.error(socket.span(), e.to_string()))?;
    let transport: Option<Transport> = parsed(lines, &b.transport)?;
    if let (Some(Transport::Tcp), Some(addr)) = (transport, &b.addr) {
        tcp_addr(lines, addr)?;
    }
    Ok(BindEntry {
        alias: b.alias.clone(),
        kind,
        transport,
        addr: b.addr.as_ref().map(|a| a.get_ref().clone()),
        serializer: parsed(lines, &b.serializer)?,
        handler: b.handler.clone(),
        socket: socket_settings(lines, Some(kind), &b.hwm, &b.on_full)?,
    })
}

/// A high-water mark in range, and an `on_full` the socket kind can do (PUB never blocks).
fn socket_settings(
    lines: &Lines<'_>,
    kind: Option<SocketKind>,
    hwm: &Option<Spanned<i64>>,
    on_full: &Option<Spanned<String>>,
) -> Result<SocketSettings, ManifestError> {
    let hwm = match hwm {
        Some(h) => Some(
            i32::try_from(*h.get_ref())
                .ok()
                .filter(|v| *v >= 0)
                .ok_or_else(|| {
                    lines.error(
                        h.span(),
                        "hwm must be 0 (no limit) or a positive message count",
                    )
                })?,
        ),
        None => None,
    };
    let span = on_full.as_ref().map(|o| o.span());
    let on_full: Option<axon_runtime::OnFull> = parsed(lines, on_full)?;
    if let (
        Some(axon_runtime::OnFull::Block),
        Some(SocketKind::Pub | SocketKind::SyncPub),
        Some(span),
    ) = (on_full, kind, span)
    {
        let message =
            "a PUB socket never blocks: at the mark it drops and counts (on_full = \"drop\")";
        return Err(lines.error(span, message));
    }
    Ok(SocketSettings { hwm, on_full })
}

fn connect_entry(lines: &Lines<'_>, c: &raw::Connect) -> Result<ConnectEntry, ManifestError> {
    let Some((agent, alias)) = c.to.get_ref().split_once('.') else {
        return Err(lines.error(
            c.to.span(),
            format!("`to` must be agent.alias, not {:?}", c.to.get_ref()),
        ));
    };
    Ok(ConnectEntry {
        agent: agent.to_owned(),
        remote_alias: alias.to_owned(),
        alias: c.alias.clone(),
        handler: c.handler.clone(),
        topics: c.topics.clone(),
        // The connecting side's kind follows the bind it connects to: checked when connecting.
        socket: socket_settings(lines, None, &c.hwm, &c.on_full)?,
    })
}

/// Every `to` names an agent of the manifest and one of its binds.
fn check_connects(
    lines: &Lines<'_>,
    raw: &[Spanned<raw::Agent>],
    agents: &[AgentEntry],
) -> Result<(), ManifestError> {
    for (entry, raw) in agents.iter().zip(raw) {
        for (connect, raw_connect) in entry.connects.iter().zip(&raw.get_ref().connect) {
            let target = agents.iter().find(|a| a.name == connect.agent);
            let bound =
                target.is_some_and(|t| t.binds.iter().any(|b| b.alias == connect.remote_alias));
            if !bound {
                let to = raw_connect.get_ref().to.get_ref();
                let message = format!("`to = {to:?}` names no bind of an agent in this manifest");
                return Err(lines.error(raw_connect.get_ref().to.span(), message));
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
mod tests {
    use super::*;

    fn kinds() -> Vec<String> {
        ["agent", "echo", "counter"].map(String::from).to_vec()
    }

    const GOOD: &str = r#"
[nameserver]
addr = "tcp://127.0.0.1:7100"
[supervisor]
strategy = "rest_for_one"
intensity = 5
period = "10s"
heartbeat = "500ms"
[[agent]]
name = "echo"
kind = "echo"
restart = "transient"
memory_limit = "256MiB"
attributes = { greeting = "hi" }
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "tcp"
  addr = "127.0.0.1:7101"
  serializer = "raw"
  handler = "echo"
[[agent]]
name = "client"
kind = "counter"
  [[agent.connect]]
  to = "echo.main"
  alias = "out"
  topics = ["foo"]
"#;

    #[test]
    fn a_good_manifest_converts_to_validated_types() {
        let m = Manifest::parse(GOOD, &kinds()).unwrap();
        assert_eq!(m.nameserver.as_deref(), Some("tcp://127.0.0.1:7100"));
        assert_eq!(m.supervisor.strategy, RestartStrategy::RestForOne);
        assert_eq!(m.supervisor.period, Duration::from_secs(10));
        assert_eq!(m.supervisor.heartbeat, Duration::from_millis(500));
        let echo = &m.agents[0];
        assert_eq!(
            (echo.restart, echo.memory_limit),
            (Restart::Transient, Some(256 << 20))
        );
        assert_eq!(echo.binds[0].kind, SocketKind::Rep);
        assert_eq!(echo.binds[0].serializer, Some(Serializer::Raw));
        assert_eq!(m.agents[1].connects[0].agent, "echo");
    }

    fn error(text: &str) -> ManifestError {
        Manifest::parse(text, &kinds()).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_refused_at_their_line() {
        let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\ncolour = \"red\"\n");
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("colour"), "{e}");
    }

    #[test]
    fn duplicate_names_unknown_kinds_and_bad_addresses_name_their_line() {
        let dup =
            "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
        let e = error(dup);
        assert_eq!((e.line, e.message.contains("duplicate")), (5, true), "{e}");
        let e = error("[[agent]]\nname = \"a\"\nkind = \"nope\"\n");
        assert_eq!(
            (e.line, e.message.contains("unknown agent kind")),
            (3, true),
            "{e}"
        );
        let bad = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"REP\"\ntransport = \"tcp\"\naddr = \"127.0.0.1:99999\"\n";
        assert_eq!(error(bad).line, 8);
        let e = error("[nameserver]\naddr = \"no-such-host.invalid:1\"\n");
        assert_eq!(e.line, 2, "{e}");
        let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.connect]]\nto = \"b.main\"\nalias = \"x\"\n");
        assert_eq!(e.line, 5, "{e}");
        let e = error("[supervisor]\nperiod = \"soon\"\n");
        assert_eq!(e.line, 2, "{e}");
        let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"PAIR\"\n");
        assert_eq!(e.line, 6, "{e}");
    }

    #[test]
    fn a_bind_names_its_socket_kind_with_socket_and_the_old_kind_key_still_works_with_a_warning() {
        let head = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\n";
        let m = Manifest::parse(&format!("{head}socket = \"REP\"\n"), &kinds()).unwrap();
        assert_eq!(
            (m.agents[0].binds[0].kind, m.warnings.len()),
            (SocketKind::Rep, 0)
        );
        let old = Manifest::parse(&format!("{head}kind = \"REP\"\n"), &kinds()).unwrap();
        assert_eq!(old.agents[0].binds[0].kind, SocketKind::Rep);
        assert_eq!(old.warnings.len(), 1);
        assert!(old.warnings[0].starts_with("line 6:"), "{:?}", old.warnings);
        assert!(
            old.warnings[0].contains("socket = \"REP\""),
            "{:?}",
            old.warnings
        );
        let both = error(&format!("{head}socket = \"REP\"\nkind = \"REP\"\n"));
        assert!(both.message.contains("`socket` only"), "{both}");
        let neither = error(&format!("{head}handler = \"h\"\n"));
        assert_eq!(neither.line, 4, "{neither}");
        assert!(neither.message.contains("missing `socket`"), "{neither}");
    }

    #[test]
    fn socket_settings_chaos_and_args_are_checked_at_their_line() {
        let bind = |extra: &str| {
            format!("[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent.bind]]\nalias = \"m\"\nsocket = \"PUB\"\n{extra}")
        };
        let m = Manifest::parse(&bind("hwm = 50\non_full = \"drop\"\n"), &kinds()).unwrap();
        let settings = m.agents[0].binds[0].socket;
        assert_eq!(settings.hwm, Some(50));
        assert_eq!(settings.on_full, Some(axon_runtime::OnFull::Drop));
        let e = error(&bind("on_full = \"block\"\n"));
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("never blocks"), "{e}");
        assert_eq!(error(&bind("hwm = -1\n")).line, 7);
        assert_eq!(error(&bind("on_full = \"maybe\"\n")).line, 7);

        let chaos = "[chaos]\nevery = \"1s\"\ntargets = [\"ghost\"]\n[[agent]]\nname = \"a\"\nkind = \"echo\"\n";
        let e = error(chaos);
        assert_eq!(e.line, 3, "{e}");
        assert!(e.message.contains("ghost"), "{e}");
        let ok = chaos
            .replace("ghost", "a")
            .replace("1s\"", "1s\"\nsignal = \"STOP\"");
        let m = Manifest::parse(&ok, &kinds()).unwrap();
        let c = m.chaos.unwrap();
        assert_eq!(
            (c.every, c.signal),
            (Duration::from_secs(1), axon_runtime::launch::Signal::Stop)
        );

        let e = error("[[agent]]\nname = \"a\"\nkind = \"echo\"\nargs = [\"-v\"]\n");
        assert!(e.message.contains("`args` are for a `bin`"), "{e}");
        let m = Manifest::parse(
            "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\nargs = [\"-v\"]\n",
            &kinds(),
        )
        .unwrap();
        assert_eq!(m.agents[0].args, ["-v"]);
    }

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert!(parse_bytes("12 parsecs").is_err());
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("1h").is_err());
    }

    #[test]
    fn one_kind_has_one_host() {
        let two = "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\n[[agent]]\nname = \"b\"\nkind = \"mine\"\nbin = \"y\"\n";
        let e = error(two);
        assert_eq!(e.line, 7, "{e}");
        assert!(e.message.contains("hosted by bin x on line 3"), "{e}");
        let mixed = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n[[agent]]\nname = \"b\"\nkind = \"echo\"\nbin = \"y\"\n";
        assert!(error(mixed).message.contains("the axon binary"));
        let same = "[[agent]]\nname = \"a\"\nkind = \"mine\"\nbin = \"x\"\n[[agent]]\nname = \"b\"\nkind = \"mine\"\nbin = \"x\"\n";
        assert_eq!(Manifest::parse(same, &kinds()).unwrap().agents.len(), 2);
    }
}
