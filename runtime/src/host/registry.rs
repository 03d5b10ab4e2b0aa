//! `Registry`: the agent kinds a program can host, by name.
//!
//! A program that spawns agents is re-run in agent mode (like Python's
//! multiprocessing "spawn"); the registry it builds in `main` tells the new
//! process which type to construct for the kind it was asked to host.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Host;
use crate::agent::{Agent, BasicAgent, Ctx, HandlerResult, Handlers, Message};
use crate::launch::AgentSpec;

type Launcher = Box<dyn FnOnce(AgentSpec) -> i32>;

/// The agent kinds a program can host.
pub struct Registry {
    kinds: BTreeMap<String, Launcher>,
    basic: Handlers<BasicAgent>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

impl Registry {
    /// A registry with the plain kind `"agent"` and no handlers yet.
    pub fn new() -> Self {
        Registry {
            kinds: BTreeMap::new(),
            basic: Handlers::default(),
        }
    }

    /// Adds kind `A` under its [`Agent::KIND`] name.
    pub fn kind<A: Agent>(mut self) -> Self {
        let launch = |spec: AgentSpec| Host::<A>::run(spec, Handlers::<A>::of_kind());
        self.kinds.insert(A::KIND.to_owned(), Box::new(launch));
        self
    }

    /// Adds a named handler to the plain kind `"agent"`.
    pub fn handler<R, F>(mut self, name: impl Into<String>, f: F) -> Self
    where
        R: Serialize,
        F: Fn(&mut BasicAgent, &mut Ctx<'_, BasicAgent>, Message<'_>) -> HandlerResult<R> + 'static,
    {
        self.basic.on(name, f);
        self
    }

    /// The kind names this registry can host, sorted.
    pub fn kinds(&self) -> Vec<String> {
        let mut names: Vec<String> = self.kinds.keys().cloned().collect();
        names.push(BasicAgent::KIND.to_owned());
        names.sort();
        names.dedup();
        names
    }

    /// Whether `kind` can be hosted.
    pub fn has_kind(&self, kind: &str) -> bool {
        kind == BasicAgent::KIND || self.kinds.contains_key(kind)
    }

    /// Hosts the agent described by `spec` until it stops; returns the exit status.
    pub fn host(mut self, spec: AgentSpec) -> i32 {
        if let Some(launch) = self.kinds.remove(&spec.kind) {
            return launch(spec);
        }
        if spec.kind == BasicAgent::KIND {
            let mut handlers = Handlers::<BasicAgent>::of_kind();
            handlers.extend(self.basic);
            return Host::<BasicAgent>::run(spec, handlers);
        }
        tracing::error!(agent = %spec.name, kind = %spec.kind, known = ?self.kinds(), "unknown agent kind");
        2
    }
}
