//! `echo`: replies with what it receives.

use axon_runtime::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Value};

/// Answers every request with the request unchanged (REP); logs what arrives on PULL or SUB.
///
/// Handler: `echo`. Payloads pass through as values, so the reply uses the
/// socket's serializer whatever it is (raw bytes stay bytes).
#[derive(Debug, Default)]
pub struct Echo {
    echoed: u64,
}

impl Agent for Echo {
    const KIND: &'static str = "echo";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(Echo::default())
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("echo", Echo::echo);
    }
}

impl Echo {
    fn echo(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<Value> {
        self.echoed += 1;
        let value = match msg.serializer() {
            axon_runtime::Serializer::Raw => Value::Bytes(msg.bytes().to_vec()),
            _ => msg.value()?,
        };
        if !msg.wants_reply() {
            tracing::info!(agent = ctx.name(), alias = msg.alias(), count = self.echoed, value = ?value, "echo received");
        }
        Ok(value)
    }
}
