//! `greeter`: answers requests with a greeting.

use axon::{Agent, AgentSpec, Ctx, HandlerError, HandlerResult, Handlers, Message, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

/// Answers each request naming someone with `"<greeting>, <name>!"` and
/// counts the answers.
///
/// Handler: `greet` (bind it on a REP socket; any serializer, `raw` included).
/// Attributes: `greeting` (default `"hello"`), `greeted` (answers so far).
#[derive(Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Greeter {
    /// The word put before the name.
    greeting: String,
    /// How many requests were answered.
    greeted: u64,
}

impl Default for Greeter {
    fn default() -> Self {
        Greeter {
            greeting: "hello".into(),
            greeted: 0,
        }
    }
}

impl Agent for Greeter {
    const KIND: &'static str = "greeter";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        crate::attributes::from_spec(spec)
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("greet", Greeter::greet);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(self, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        attrs::set(self, name, value)
    }
}

impl Greeter {
    /// The `greet` handler: its return value is the reply.
    fn greet(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<String> {
        let name: String = msg.decode()?;
        let reply = self.greeting_for(&name)?;
        self.greeted += 1;
        Ok(reply)
    }

    /// The greeting for `name`; a blank name is refused (the requester gets the error).
    fn greeting_for(&self, name: &str) -> HandlerResult<String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(HandlerError::msg("greet whom? the name is empty"));
        }
        Ok(format!("{}, {name}!", self.greeting))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name_with_the_configured_word() {
        let mut g = Greeter::default();
        assert_eq!(g.greeting_for("Ada").unwrap(), "hello, Ada!");
        g.greeting = "hi".into();
        assert_eq!(g.greeting_for(" Bob\n").unwrap(), "hi, Bob!");
        assert!(g.greeting_for("  ").is_err());
    }

    #[test]
    fn fields_are_attributes() {
        let mut g = Greeter::default();
        assert_eq!(
            attrs::get(&g, "greeting"),
            Some(Value::Text("hello".into()))
        );
        g.set_attr("greeting", Value::Text("salut".into())).unwrap();
        assert_eq!(g.greeting, "salut");
        assert!(g.set_attr("greeting", Value::Integer(1.into())).is_err());
        assert!(g.set_attr("nope", Value::Null).is_err());
    }
}
