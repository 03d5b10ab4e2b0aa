//! `BasicAgent`: the plain kind, osBrain's `Agent`.

use std::collections::BTreeMap;

use super::{Agent, HandlerResult};
use crate::codec::Value;
use crate::launch::AgentSpec;

/// The plain agent kind (`"agent"`), osBrain's `Agent`: state is a map of
/// attributes, logic is the free-function handlers given to the registry.
#[derive(Debug, Default)]
pub struct BasicAgent {
    /// The agent's attributes.
    pub attributes: BTreeMap<String, Value>,
}

impl Agent for BasicAgent {
    const KIND: &'static str = "agent";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(BasicAgent::default())
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        self.attributes.get(name).cloned()
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        self.attributes.insert(name.to_owned(), value);
        Ok(())
    }
}
