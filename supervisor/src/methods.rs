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

/// `renew` arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Renew {
    pub(crate) name: String,
    pub(crate) pid: u32,
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
}

/// `signal` arguments: fault injection.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignalArgs {
    pub(crate) name: String,
    pub(crate) signal: Signal,
}
