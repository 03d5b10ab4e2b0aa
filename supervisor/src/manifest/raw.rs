//! The manifest as TOML spells it: unknown fields refused, spans kept for error lines.

use std::collections::BTreeMap;
use std::path::PathBuf;

use axon_runtime::Value;
use serde::Deserialize;
use toml::Spanned;

use super::{Restart, RestartStrategy};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    pub(super) nameserver: Option<NameServer>,
    pub(super) metrics: Option<Metrics>,
    pub(super) supervisor: Option<Supervisor>,
    pub(super) chaos: Option<Spanned<Chaos>>,
    pub(super) cluster: Option<Cluster>,
    pub(super) status: Option<Status>,
    #[serde(default)]
    pub(super) agent: Vec<Spanned<Agent>>,
    #[serde(default)]
    pub(super) group: Vec<Spanned<Group>>,
}

/// A `[[group]]` (or `[[group.group]]`): a nested supervisor.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Group {
    pub(super) name: Spanned<String>,
    pub(super) strategy: Option<RestartStrategy>,
    pub(super) intensity: Option<u32>,
    pub(super) period: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) agent: Vec<Spanned<Agent>>,
    #[serde(default)]
    pub(super) group: Vec<Spanned<Group>>,
}

/// `[status]`: whose status text `axon up` shows in its status line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Status {
    pub(super) agent: Spanned<String>,
    pub(super) attribute: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Cluster {
    pub(super) registry: Option<Spanned<String>>,
    pub(super) curve: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NameServer {
    pub(super) addr: Option<Spanned<String>>,
}

/// `[metrics]`: where the node serves Prometheus metrics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Metrics {
    pub(super) addr: Spanned<String>,
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
    pub(super) orphan_grace: Option<Spanned<String>>,
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
    #[serde(default)]
    pub(super) nodes: Vec<String>,
    #[serde(default)]
    pub(super) script: Vec<Spanned<Script>>,
    pub(super) script_limits: Option<axon_runtime::ScriptLimits>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Script {
    pub(super) file: Option<PathBuf>,
    pub(super) source: Option<String>,
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
    pub(super) secure: Option<bool>,
    pub(super) framing: Option<Spanned<String>>,
    pub(super) reliable: Option<Spanned<Reliable>>,
    pub(super) durable: Option<Spanned<bool>>,
}

/// `reliable = true`, or a table of its settings (`reliable = { ack_timeout_ms = 500 }`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Reliable {
    Flag(bool),
    Table(axon_runtime::Reliability),
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
    pub(super) dispatch: Option<Spanned<String>>,
    pub(super) reliable: Option<Spanned<Reliable>>,
    pub(super) durable: Option<Spanned<bool>>,
}
