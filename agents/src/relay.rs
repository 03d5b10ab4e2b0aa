//! `relay`: forwards what it receives.

use axon_runtime::{
    attrs, Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Serializer, Value,
};
use serde::{Deserialize, Serialize};

/// Forwards every message received on a PULL or SUB socket to the socket
/// named by attribute `out` (default `out`, a PUSH or PUB; a topic is kept).
/// Handler: `relay`. Values are re-encoded with the outgoing socket's
/// serializer; raw payloads travel as bytes.
#[derive(Debug, Serialize, Deserialize)]
pub struct Relay {
    out: String,
    relayed: u64,
}

impl Agent for Relay {
    const KIND: &'static str = "relay";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let out = match spec.attributes.get("out") {
            Some(v) => v.deserialized()?,
            None => "out".to_owned(),
        };
        Ok(Relay { out, relayed: 0 })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("relay", Relay::relay);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(self, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        attrs::set(self, name, value)
    }
}

impl Relay {
    fn relay(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let value = match msg.serializer() {
            Serializer::Raw => Value::Bytes(msg.bytes().to_vec()),
            _ => msg.value()?,
        };
        match msg.topic() {
            Some(topic) => ctx.publish(&self.out, topic, &value)?,
            None => ctx.send(&self.out, &value)?,
        }
        self.relayed += 1;
        Ok(())
    }
}
