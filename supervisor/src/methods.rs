//! Arguments and answers of the name-server methods (see docs/protocol.md).

use std::collections::BTreeMap;

use axon_runtime::launch::Signal;
use axon_runtime::protocol::journal::Change;
use axon_runtime::{Address, Serializer, Transport, Value};

use crate::policy::Restart;
use serde::{Deserialize, Serialize};

/// What the name server knows of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// The agent's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its process id.
    pub pid: u32,
    /// Its control endpoint.
    pub control: String,
    /// Its bound sockets by alias.
    pub addrs: BTreeMap<String, Address>,
}

/// How to spawn an agent; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpawnOptions {
    /// The agent's name; a fresh `agent-N` when `None`.
    pub name: Option<String>,
    /// The kind to host; the plain `agent` when `None`.
    pub kind: Option<String>,
    /// Agent-level default serializer.
    pub serializer: Option<Serializer>,
    /// Agent-level default transport.
    pub transport: Option<Transport>,
    /// Attributes the agent has before it serves.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// The agent's log level (e.g. `debug`), over `AXON_LOG`'s default.
    pub log: Option<String>,
    /// When the supervisor restarts it; `None` is `temporary` (never).
    pub restart: Option<Restart>,
    /// Resident memory (bytes) over which the supervisor restarts it.
    pub memory_limit: Option<u64>,
    /// The supervision group it belongs to (a `[[group]]` of the node's
    /// tree); `None` is the root.
    pub group: Option<String>,
    /// What one script call may do in it; the defaults when `None`.
    #[serde(default)]
    pub script_limits: Option<axon_runtime::ScriptLimits>,
}

impl SpawnOptions {
    /// Sets the name.
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }

    /// Sets the kind.
    pub fn kind(mut self, kind: &str) -> Self {
        self.kind = Some(kind.to_owned());
        self
    }

    /// Sets the agent's default serializer.
    pub fn serializer(mut self, serializer: Serializer) -> Self {
        self.serializer = Some(serializer);
        self
    }

    /// Gives the agent attribute `name` before it serves.
    pub fn attribute<T: Serialize>(mut self, name: &str, value: T) -> axon_runtime::Result<Self> {
        let value = Value::serialized(&value).map_err(|e| axon_runtime::Error::Encode {
            serializer: "cbor",
            reason: e.to_string(),
        })?;
        self.attributes.insert(name.to_owned(), value);
        Ok(self)
    }

    /// Sets the agent's log level (`error`, `warn`, `info`, `debug`, `trace`).
    pub fn log(mut self, level: &str) -> Self {
        self.log = Some(level.to_owned());
        self
    }

    /// Has the supervisor restart the agent by `restart` (see [`Restart`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = Some(restart);
        self
    }

    /// Has the supervisor restart the agent when its resident memory exceeds `bytes`.
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Places the agent in the supervision group `group` of the node's tree.
    pub fn group(mut self, group: &str) -> Self {
        self.group = Some(group.to_owned());
        self
    }

    /// Sets the agent's default transport.
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = Some(transport);
        self
    }
}

/// `register` arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Register {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) pid: u32,
    pub(crate) control: String,
    /// How often the agent renews its lease, in ms.
    #[serde(default = "default_lease_ms")]
    pub(crate) lease_ms: u64,
}

fn default_lease_ms() -> u64 {
    axon_runtime::config::DEFAULT_LEASE.as_millis() as u64
}

/// Arguments naming one agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Named {
    pub(crate) name: String,
}

/// `set_addr` arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SetAddr {
    pub(crate) name: String,
    pub(crate) alias: String,
    pub(crate) address: Address,
}

/// `addr` / `del_addr` arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AliasOf {
    pub(crate) name: String,
    pub(crate) alias: String,
}

/// `shutdown` / `shutdown_agent` arguments.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Stop {
    pub(crate) name: Option<String>,
    pub(crate) timeout_ms: Option<u64>,
}

/// The supervisor part of `status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupervisorStatus {
    /// Its process.
    pub pid: u32,
    /// When it started, in ms since the Unix epoch.
    pub since_ms: u64,
    /// How long it has run, in ms.
    pub uptime_ms: u64,
    /// Supervisors the node has had, this one included (2 and up: it took over after a crash).
    pub incarnation: u32,
    /// When the node's first supervisor started, in ms since the Unix epoch.
    pub first_started_ms: u64,
    /// Whether a heart (`axon up`) restarts it if it dies.
    pub heart: bool,
    /// Agents it adopted from the supervisor before it that still run.
    pub adopted: usize,
}

/// `status`: the node at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The supervisor (name server) process.
    pub supervisor: SupervisorStatus,
    /// Its control endpoint.
    pub endpoint: String,
    /// The node's runtime directory.
    pub runtime_dir: String,
    /// Registered agents.
    pub agents: usize,
    /// Supervised children in state `running`.
    pub children_running: usize,
    /// Where it serves Prometheus metrics (`HOST:PORT`, path `/metrics`), if it does.
    #[serde(default)]
    pub metrics: Option<String>,
    /// Datagrams on the lease channel refused since the supervisor started: not renewals,
    /// unsigned or wrongly signed, stale or replayed (docs/protocol.md).
    #[serde(default)]
    pub lease_datagrams_refused: u64,
}

/// One line of `ps`: an agent, its process and its supervision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The agent's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its process, when it has one.
    pub pid: Option<u32>,
    /// `starting`, `running`, `restarting`, `stopping`, `stopped`, `exited`, `failed`; `registered` for an agent this node did not start.
    pub state: String,
    /// Its restart type (`permanent`, `transient`, `temporary`); `none` when not started here.
    pub restart: String,
    /// How often it was restarted.
    pub restarts: u32,
    /// Time since its current process started, in ms.
    pub uptime_ms: u64,
    /// CPU use of its process over the last sample, in percent of one core.
    pub cpu: Option<f32>,
    /// Resident memory of its process, in bytes.
    pub rss: Option<u64>,
    /// How its last process ended (exit status, or why the supervisor killed it).
    pub last_exit: Option<String>,
    /// Its supervision group's path from the top (`["middle", "inner"]`); empty: the root.
    #[serde(default)]
    pub group: Vec<String>,
    /// The counters its process reported with its last lease renewal (at most a second old),
    /// when `ps` was asked for them ([`PsArgs::stats`]), it reported any, and it did not miss
    /// its last three renewals (a hung agent shows none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<axon_runtime::Stats>,
}

/// `ps` arguments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PsArgs {
    /// Each line with the agent's counters ([`AgentStatus::stats`]).
    #[serde(default)]
    pub stats: bool,
}

/// One supervisor of the node's tree, as `groups` (and `axon ps --tree`) shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupStatus {
    /// Its path from the top (`["middle", "inner"]`); empty: the root.
    pub path: Vec<String>,
    /// Its restart strategy.
    pub strategy: crate::policy::RestartStrategy,
    /// Restarts it allows within `period_ms` ...
    pub intensity: u32,
    /// ... this period, in ms.
    pub period_ms: u64,
    /// Restarts it made within the period up to now.
    pub recent: u32,
    /// How often its parent restarted it as a whole.
    pub restarts: u32,
}

/// `journal` arguments: a configuring call made on a supervised agent.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Journaled {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) change: Change,
}

/// `start_failed` arguments: an agent process says why it could not start.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartFailed {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) reason: String,
    /// The spawn's arguments are at fault: the caller hears `bad_arguments`, not `internal`.
    #[serde(default)]
    pub(crate) bad_arguments: bool,
}

/// `signal` arguments: fault injection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalArgs {
    pub(crate) name: String,
    pub(crate) signal: Signal,
}

/// Property tests: arguments of any shape decode into each method's type or
/// are refused, and what decodes goes through the records without a panic.
#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;
    use crate::registry::Records;
    use crate::requests::{args, NAMESERVER};
    use axon_runtime::protocol::Request;

    const WORDS: &[&str] = &[
        "name",
        "kind",
        "pid",
        "control",
        "lease_ms",
        "alias",
        "address",
        "endpoint",
        "role",
        "serializer",
        "requests",
        "timeout_ms",
        "change",
        "op",
        "put",
        "forget",
        "keys",
        "key",
        "method",
        "args",
        "reason",
        "signal",
        "Kill",
        "Stop",
        "Term",
        "Cont",
        "attributes",
        "log",
        "restart",
        "memory_limit",
        "transport",
        "permanent",
        "temporary",
        "PUB",
        "REP",
        "server",
        "client",
        "cbor",
        "ipc",
        "tcp",
        "a",
        "",
        "nameserver",
        "ipc://\0",
    ];

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|i| Value::Integer(i.into())),
            prop_oneof![
                Just(0u64),
                Just(1),
                Just(u64::MAX),
                Just(u64::from(u32::MAX))
            ]
            .prop_map(|i| Value::Integer(i.into())),
            any::<f64>().prop_map(Value::Float),
            prop::sample::select(WORDS).prop_map(|w| Value::Text(w.into())),
            any::<String>().prop_map(Value::Text),
            prop::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 32, 7, |inner| {
            let key = prop_oneof![
                4 => prop::sample::select(WORDS).prop_map(|w| Value::Text(w.into())),
                1 => leaf(),
            ];
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((key, inner), 0..7).prop_map(Value::Map),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        #[test]
        fn arguments_of_any_shape_decode_or_are_refused(a in value()) {
            let req = Request::new(1, NAMESERVER, "any", a, false);
            let mut records = Records::default();
            if let Ok(r) = args::<Register>(&req) {
                let name = r.name.clone();
                if records.register(r).is_ok() {
                    records.expire(axon_runtime::config::LEASE_MISSES, |_| false);
                    let _ = records.silent_for(&name, std::time::Instant::now());
                }
            }
            let _ = args::<axon_runtime::protocol::lease::Renewal>(&req);
            let _ = args::<Named>(&req);
            let _ = args::<SetAddr>(&req);
            let _ = args::<AliasOf>(&req);
            let _ = args::<Stop>(&req);
            let _ = args::<StartFailed>(&req);
            let _ = args::<SignalArgs>(&req);
            if let Ok(j) = args::<Journaled>(&req) {
                let mut journal = axon_runtime::protocol::journal::Journal::default();
                journal.apply(j.change);
            }
            if let Ok(opts) = args::<SpawnOptions>(&req) {
                let _ = records.claim(opts.name, None);
            }
        }
    }
}
