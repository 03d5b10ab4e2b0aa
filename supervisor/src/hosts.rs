//! Which program hosts which agent kind.
//!
//! This is the node's authority over what runs: it is fixed by the operator
//! when the node starts (the manifest's `bin`, [`crate::NodeOptions::kind_hosts`],
//! `axon nameserver --kind-host`) and never named on the wire. A `spawn`
//! names a kind; the kind picks the program here. Kinds not listed are
//! hosted by the node's own program, which refuses kinds it does not know.

use std::collections::BTreeMap;

use axon_runtime::config::env_var;
use axon_runtime::launch::HostCommand;
use axon_runtime::{Error, Result};

/// Environment variable carrying the JSON map kind -> [`HostCommand`] a name server starts with.
pub const KIND_HOSTS_ENV: &str = "AXON_KIND_HOSTS";

/// Fields of a `spawn` request that would name a program, a path or arguments to run.
pub(crate) const PROGRAM_FIELDS: [&str; 6] = ["program", "bin", "args", "command", "host", "exec"];

/// The programs of one node, by the kinds they host.
#[derive(Debug, Clone)]
pub(crate) struct Hosts {
    own: HostCommand,
    by_kind: BTreeMap<String, HostCommand>,
}

impl Hosts {
    /// The node's own program, and the kinds listed in [`KIND_HOSTS_ENV`].
    pub(crate) fn from_env(own: HostCommand) -> Result<Self> {
        let by_kind = match env_var(KIND_HOSTS_ENV)? {
            None => BTreeMap::new(),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::Config(format!(
                    "{KIND_HOSTS_ENV} is not a map of kind to program: {e}"
                ))
            })?,
        };
        Ok(Hosts { own, by_kind })
    }

    /// The value of [`KIND_HOSTS_ENV`] for `by_kind`.
    pub(crate) fn to_env(by_kind: &BTreeMap<String, HostCommand>) -> Result<String> {
        serde_json::to_string(by_kind)
            .map_err(|e| Error::Config(format!("kind hosts are not representable: {e}")))
    }

    /// The program that hosts `kind`.
    pub(crate) fn for_kind(&self, kind: &str) -> &HostCommand {
        self.by_kind.get(kind).unwrap_or(&self.own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_kinds_get_their_program_and_the_rest_the_nodes_own() {
        let own = HostCommand {
            program: "/usr/bin/axon".into(),
            args: vec![],
        };
        let mine = HostCommand {
            program: "/opt/my-agents".into(),
            args: vec!["--quiet".into()],
        };
        let by_kind = BTreeMap::from([("averager".to_string(), mine.clone())]);
        let json = Hosts::to_env(&by_kind).unwrap();
        let hosts = Hosts {
            own: own.clone(),
            by_kind: serde_json::from_str(&json).unwrap(),
        };
        assert_eq!(hosts.for_kind("averager"), &mine);
        assert_eq!(hosts.for_kind("echo"), &own);
    }
}
