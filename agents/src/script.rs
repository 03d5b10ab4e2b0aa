//! `script`: an agent that is all scripts.

use axon_runtime::{Agent, AgentSpec, HandlerResult};

/// An agent with no compiled handlers and no typed state: its behaviour is
/// the rhai scripts loaded into it (a manifest's `[[agent.script]]`,
/// `axon script`, `load_script`), its state their free-form attributes.
/// A whole behaviour deploys with no compilation (docs/scripting.md).
#[derive(Debug, Default)]
pub struct Script;

impl Agent for Script {
    const KIND: &'static str = "script";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(Script)
    }
}
