//! `AgentSpec`: how a freshly started process learns which agent it hosts.

use std::path::PathBuf;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::codec::Value;
use crate::config::{env_var, Defaults};
use crate::error::{Error, Result};

/// Environment variable carrying the JSON [`AgentSpec`] of an agent process.
pub const AGENT_ENV: &str = "AXON_AGENT";

/// Environment variable naming the role of a process started by axon (`agent`, `nameserver`).
pub const ROLE_ENV: &str = "AXON_ROLE";

/// Everything an agent process needs to start: who it is and where its peers are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    /// The agent's unique name.
    pub name: String,
    /// The agent kind to host (a name in the process's `Registry`).
    pub kind: String,
    /// The name server's control endpoint, when there is one.
    pub nameserver: Option<String>,
    /// Directory for this agent's ipc files.
    pub runtime_dir: PathBuf,
    /// Agent-level defaults (transport, serializer, linger, size limit).
    pub defaults: Defaults,
    /// Attributes set before the agent starts serving.
    #[serde(default)]
    pub attributes: BTreeMap<String, Value>,
    /// The logger's SUB endpoint, when a logger runs: log events are published there.
    #[serde(default)]
    pub logger: Option<String>,
    /// This agent's log level (e.g. `debug`), over `AXON_LOG`'s default.
    #[serde(default)]
    pub log: Option<String>,
    /// Whether a supervisor restarts this agent: it then reports its remote configuration (see [`crate::protocol::journal`]).
    #[serde(default)]
    pub supervised: bool,
    /// Where an earlier incarnation had its sockets bound, by alias: a bind of
    /// the same alias and kind with no fixed address binds there again, so
    /// that peers reconnect on their own.
    #[serde(default)]
    pub rebind: BTreeMap<String, crate::net::Address>,
    /// This incarnation's secret, shared with the supervisor that started it
    /// (hex). A supervisor that restarts after a crash proves it is talking to
    /// the same process before adopting it (`adopt`). `None` for an agent that
    /// registered by itself: it registers again with a new name server.
    #[serde(default)]
    pub token: Option<String>,
    /// How long a supervised agent keeps serving without its supervisor
    /// before it shuts itself down gracefully, in ms (`None`: [`DEFAULT_ORPHAN_GRACE`]).
    #[serde(default)]
    pub orphan_grace_ms: Option<u64>,
    /// Where to bind the control socket (e.g. `tcp://10.0.0.5:0`, for a node
    /// other hosts reach); an ipc file in the runtime directory when `None`.
    #[serde(default)]
    pub control_bind: Option<String>,
    /// The address other hosts reach this agent's host at (cluster mode): a
    /// tcp bind with no host binds there, and one at `*` is advertised there.
    #[serde(default)]
    pub advertise: Option<String>,
    /// What one script call may do (docs/scripting.md).
    #[serde(default)]
    pub script_limits: crate::script::ScriptLimits,
}

/// How long a supervised agent waits for its supervisor to come back, unless told otherwise.
pub const DEFAULT_ORPHAN_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

impl AgentSpec {
    /// A spec with default settings, no name server and no logger.
    pub fn new(name: &str, kind: &str, runtime_dir: impl Into<PathBuf>) -> Self {
        AgentSpec {
            name: name.to_owned(),
            kind: kind.to_owned(),
            nameserver: None,
            runtime_dir: runtime_dir.into(),
            defaults: Defaults::default(),
            attributes: BTreeMap::new(),
            logger: None,
            log: None,
            supervised: false,
            rebind: BTreeMap::new(),
            token: None,
            orphan_grace_ms: None,
            control_bind: None,
            advertise: None,
            script_limits: crate::script::ScriptLimits::default(),
        }
    }

    /// How long this agent serves on without its supervisor; `None` for an agent with none.
    pub fn orphan_grace(&self) -> Option<std::time::Duration> {
        self.token.as_ref()?;
        let ms = self
            .orphan_grace_ms
            .unwrap_or(DEFAULT_ORPHAN_GRACE.as_millis() as u64);
        Some(std::time::Duration::from_millis(ms))
    }

    /// Reads the spec from [`AGENT_ENV`]; `None` when the variable is not set.
    pub fn from_env() -> Result<Option<Self>> {
        match env_var(AGENT_ENV)? {
            None => Ok(None),
            Some(text) => Self::from_env_value(&text).map(Some),
        }
    }

    /// Decodes the value of [`AGENT_ENV`]: hex of the CBOR spec.
    pub fn from_env_value(text: &str) -> Result<Self> {
        let bad =
            |why: String| Error::Config(format!("{AGENT_ENV} is not a valid agent spec: {why}"));
        let bytes = crate::codec::hex::decode(text.trim()).ok_or_else(|| bad("not hex".into()))?;
        let spec: AgentSpec = ciborium::from_reader(&bytes[..]).map_err(|e| bad(e.to_string()))?;
        // The lease is a timer period: zero would renew in a busy loop.
        if spec.defaults.lease.is_zero() {
            return Err(bad(
                "a lease of 0 ms; renewals need a period of at least 1 ms".into(),
            ));
        }
        Ok(spec)
    }

    /// The spec as the value of [`AGENT_ENV`]: hex of its CBOR, so that
    /// attributes of any shape (maps with integer or null keys, bytes) pass
    /// unchanged, which JSON could not carry.
    pub fn to_env(&self) -> Result<String> {
        let mut bytes = Vec::new();
        ciborium::into_writer(self, &mut bytes).map_err(|e| Error::Encode {
            serializer: "cbor",
            reason: format!("agent spec of {}: {e}", self.name),
        })?;
        Ok(crate::codec::hex::encode(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_round_trips_through_the_environment_format() {
        let s = AgentSpec {
            name: "alice".into(),
            kind: "agent".into(),
            nameserver: Some("ipc:///tmp/ns".into()),
            runtime_dir: "/tmp/axon-0/n1".into(),
            defaults: Defaults::default(),
            attributes: BTreeMap::from([("x".to_string(), Value::Integer(1.into()))]),
            logger: None,
            log: Some("debug".into()),
            supervised: true,
            rebind: BTreeMap::new(),
            token: Some("00ff".into()),
            orphan_grace_ms: Some(2500),
            control_bind: Some("tcp://127.0.0.1:0".into()),
            advertise: Some("127.0.0.1".into()),
            script_limits: crate::script::ScriptLimits {
                operations: 5,
                ..Default::default()
            },
        };
        assert_eq!(AgentSpec::from_env_value(&s.to_env().unwrap()).unwrap(), s);
    }

    #[test]
    fn attributes_of_any_shape_pass_and_garbage_is_an_error() {
        let mut s = AgentSpec::new("a", "agent", "/tmp");
        let odd = Value::Map(vec![
            (Value::Null, Value::Integer(1.into())),
            (Value::Integer(2.into()), Value::Bytes(vec![0, 255])),
        ]);
        s.attributes.insert("odd".into(), odd);
        assert_eq!(AgentSpec::from_env_value(&s.to_env().unwrap()).unwrap(), s);
        for bad in ["", "zz", "00", "a0ff"] {
            assert!(
                matches!(AgentSpec::from_env_value(bad), Err(Error::Config(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_zero_lease_is_refused() {
        let mut s = AgentSpec::new("a", "agent", "/tmp");
        s.defaults.lease = std::time::Duration::ZERO;
        let e = AgentSpec::from_env_value(&s.to_env().unwrap()).unwrap_err();
        assert!(e.to_string().contains("lease of 0 ms"), "{e}");
    }
}
