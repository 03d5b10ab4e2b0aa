//! `counter`: counts what each of its sockets receives.

use std::collections::BTreeMap;

use axon_runtime::{attrs, Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Value};
use serde::{Deserialize, Serialize};

/// Counts messages per socket into attribute `count` (`{alias: n}`) and
/// their sum into `total`. Handler: `count`. On a REP socket it answers
/// with the new total.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Counter {
    count: BTreeMap<String, u64>,
    total: u64,
}

impl Agent for Counter {
    const KIND: &'static str = "counter";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(Counter::default())
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("count", Counter::count);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(self, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        attrs::set(self, name, value)
    }
}

impl Counter {
    fn count(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<u64> {
        *self.count.entry(msg.alias().to_owned()).or_default() += 1;
        self.total += 1;
        Ok(self.total)
    }
}
