//! Supervision policy: Erlang/OTP's strategies, restart types and restart
//! intensity, plus restart backoff and heartbeats.
//!
//! These types travel from a manifest or a script to the name server (in
//! the environment, as JSON), so they serialize; durations go as
//! milliseconds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How a supervisor restarts its children when one fails (Erlang/OTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RestartStrategy {
    /// Only the failed child.
    OneForOne,
    /// Every child.
    OneForAll,
    /// The failed child and those started after it.
    RestForOne,
}

/// When a child is restarted (Erlang/OTP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (a signal or a non-zero status).
    Transient,
    /// Never.
    Temporary,
}

impl Restart {
    /// The name used in manifests and `axon ps`.
    pub fn as_str(self) -> &'static str {
        match self {
            Restart::Permanent => "permanent",
            Restart::Transient => "transient",
            Restart::Temporary => "temporary",
        }
    }
}

/// How a node's supervisor behaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupervisorSpec {
    /// Restart strategy.
    pub strategy: RestartStrategy,
    /// At most this many restarts ...
    pub intensity: u32,
    /// ... within this period; one more and the supervisor gives up.
    #[serde(with = "millis")]
    pub period: Duration,
    /// How often supervised agents report in on the control plane; three
    /// missed reports and the agent is taken as hung, killed and restarted.
    #[serde(with = "millis")]
    pub heartbeat: Duration,
    /// Delay before the second restart of a child within `period`; it
    /// doubles with each further one (the first restart is immediate).
    #[serde(with = "millis")]
    pub backoff: Duration,
    /// The longest restart delay.
    #[serde(with = "millis")]
    pub max_backoff: Duration,
    /// When the supervisor gives up: shut the whole node down (`true`, as
    /// an OTP supervisor escalates to its parent) or leave the node up with
    /// its children stopped and marked failed (`false`).
    pub escalate: bool,
    /// How long an agent serves on without its supervisor (crashed, and not
    /// yet restarted by `axon up`) before it shuts itself down gracefully.
    #[serde(with = "millis", default = "default_orphan_grace")]
    pub orphan_grace: Duration,
    /// Nested supervisors (the manifest's `[[group]]` tables), parents before
    /// their children; the settings above are the root group's.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

/// One nested supervisor of a tree: a group of agents (and groups) with its
/// own strategy and restart intensity. A group is permanent: while its
/// parent is within its own intensity, a group that gave up is restarted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Its name, unique in the tree (agents and groups alike).
    pub name: String,
    /// The group it is a child of; `None`: the root.
    pub parent: Option<String>,
    /// How it restarts its children when one fails.
    pub strategy: RestartStrategy,
    /// At most this many restarts ...
    pub intensity: u32,
    /// ... within this period; one more and the group fails as a whole.
    #[serde(with = "millis")]
    pub period: Duration,
}

fn default_orphan_grace() -> Duration {
    axon_runtime::launch::DEFAULT_ORPHAN_GRACE
}

/// Heartbeats missed in a row before an agent counts as hung.
pub const HEARTBEAT_MISSES: u32 = 3;

impl Default for SupervisorSpec {
    fn default() -> Self {
        SupervisorSpec {
            strategy: RestartStrategy::OneForOne,
            intensity: 3,
            period: Duration::from_secs(5),
            heartbeat: Duration::from_millis(500),
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            escalate: true,
            orphan_grace: default_orphan_grace(),
            groups: Vec::new(),
        }
    }
}

impl SupervisorSpec {
    /// The delay before a restart, given how many restarts of the same child
    /// already happened within the period.
    pub fn delay(&self, recent: usize) -> Duration {
        match recent {
            0 => Duration::ZERO,
            n => {
                let doublings = u32::try_from(n - 1).unwrap_or(u32::MAX).min(16);
                self.backoff
                    .saturating_mul(1 << doublings)
                    .min(self.max_backoff)
            }
        }
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_exponentially_up_to_the_cap() {
        let spec = SupervisorSpec {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
            ..SupervisorSpec::default()
        };
        let delays: Vec<u128> = (0..5).map(|n| spec.delay(n).as_millis()).collect();
        assert_eq!(delays, [0, 100, 200, 350, 350]);
        assert_eq!(spec.delay(usize::MAX), Duration::from_millis(350));
    }

    #[test]
    fn the_spec_round_trips_as_json_with_durations_in_ms() {
        let spec = SupervisorSpec::default();
        let json = serde_json::to_string(&spec).unwrap();
        assert!(json.contains("\"period\":5000"), "{json}");
        assert_eq!(serde_json::from_str::<SupervisorSpec>(&json).unwrap(), spec);
    }
}
