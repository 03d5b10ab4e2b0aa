//! Attributes: named serde values an agent exposes to `get_attr` / `set_attr`.
//!
//! Every agent has two kinds of attributes: the typed ones its kind exposes
//! ([`Agent::get_attr`](crate::Agent::get_attr)), which keep their types, and
//! a free-form map ([`Free`]) beside them, where any other name is stored
//! (osBrain's `set_attr` creates attributes on any agent). [`RESERVED`] names
//! belong to the runtime.
//!
//! An agent type whose state is a serde struct can expose its fields with
//! two lines:
//!
//! ```ignore
//! fn get_attr(&self, name: &str) -> Option<Value> { axon::attrs::get(self, name) }
//! fn set_attr(&mut self, name: &str, v: Value) -> HandlerResult { axon::attrs::set(self, name, v) }
//! ```

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::agent::{Agent, HandlerError, HandlerResult};
use crate::codec::Value;

/// An agent's free-form attributes: the names its kind does not know.
pub type Free = BTreeMap<String, Value>;

/// Reads `name`: a free-form attribute, else the kind's typed one.
pub fn read<A: Agent>(agent: &A, free: &Free, name: &str) -> Option<Value> {
    // A free-form name is one the kind refused: no need to ask the kind first.
    free.get(name).cloned().or_else(|| agent.get_attr(name))
}

/// Writes `name`: a typed attribute of the kind keeps its type (a value of
/// another type is an error); a name the kind does not know goes to `free`.
pub fn write<A: Agent>(agent: &mut A, free: &mut Free, name: &str, value: Value) -> HandlerResult {
    if is_reserved(name) {
        return Err(HandlerError::msg("reserved by the runtime"));
    }
    if let Some(slot) = free.get_mut(name) {
        *slot = value;
        return Ok(());
    }
    match agent.set_attr(name, value.clone()) {
        Ok(()) => return Ok(()),
        // The kind has this field: its type stands.
        Err(e) if agent.get_attr(name).is_some() => return Err(e),
        Err(_) => {}
    }
    free.insert(name.to_owned(), value);
    Ok(())
}

/// Names the runtime answers itself; an agent cannot define or set them.
pub const RESERVED: &[&str] = &[
    "name", "kind", "pid", "control", "aliases", "handlers", "timers", "stats",
];

/// Whether `name` is reserved by the runtime.
pub fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// The field `name` of a serde struct, as a value.
pub fn get<T: Serialize>(state: &T, name: &str) -> Option<Value> {
    match Value::serialized(state).ok()? {
        Value::Map(fields) => fields
            .into_iter()
            .find(|(k, _)| k.as_text() == Some(name))
            .map(|(_, v)| v),
        _ => None,
    }
}

/// Sets the field `name` of a serde struct; the new value must have the field's type.
pub fn set<T: Serialize + DeserializeOwned>(
    state: &mut T,
    name: &str,
    value: Value,
) -> HandlerResult {
    let Value::Map(mut fields) = Value::serialized(&*state).map_err(HandlerError::from)? else {
        return Err(HandlerError::msg("agent state is not a struct"));
    };
    let slot = fields
        .iter_mut()
        .find(|(k, _)| k.as_text() == Some(name))
        .ok_or_else(|| HandlerError::msg(format_args!("no attribute {name:?}")))?;
    slot.1 = value;
    *state = Value::Map(fields)
        .deserialized()
        .map_err(|e| HandlerError::msg(format_args!("attribute {name:?}: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct State {
        count: u32,
        label: String,
    }

    #[test]
    fn fields_read_and_write_as_values() {
        let mut s = State {
            count: 1,
            label: "a".into(),
        };
        assert_eq!(get(&s, "count"), Some(Value::Integer(1.into())));
        assert_eq!(get(&s, "nope"), None);
        set(&mut s, "count", Value::Integer(5.into())).unwrap();
        assert_eq!(s.count, 5);
        assert!(set(&mut s, "count", Value::Text("five".into())).is_err());
        assert_eq!(s.count, 5);
        assert!(set(&mut s, "nope", Value::Null).is_err());
    }

    struct Typed(State);

    impl Agent for Typed {
        const KIND: &'static str = "typed";
        fn create(_: &crate::launch::AgentSpec) -> HandlerResult<Self> {
            Ok(Typed(State {
                count: 0,
                label: String::new(),
            }))
        }
        fn get_attr(&self, name: &str) -> Option<Value> {
            get(&self.0, name)
        }
        fn set_attr(&mut self, name: &str, v: Value) -> HandlerResult {
            set(&mut self.0, name, v)
        }
    }

    #[test]
    fn unknown_names_are_free_form_and_typed_fields_keep_their_types() {
        let mut a = Typed(State {
            count: 1,
            label: "a".into(),
        });
        let mut free = Free::new();
        write(&mut a, &mut free, "k1", Value::Integer(7.into())).unwrap();
        assert_eq!(read(&a, &free, "k1"), Some(Value::Integer(7.into())));
        write(&mut a, &mut free, "k1", Value::Text("any type".into())).unwrap();
        assert_eq!(read(&a, &free, "k1"), Some(Value::Text("any type".into())));
        write(&mut a, &mut free, "count", Value::Integer(3.into())).unwrap();
        assert_eq!(a.0.count, 3);
        assert!(write(&mut a, &mut free, "count", Value::Text("x".into())).is_err());
        assert!(write(&mut a, &mut free, "pid", Value::Null).is_err());
        assert_eq!(free.len(), 1);
        assert_eq!(read(&a, &free, "nope"), None);
    }

    #[test]
    fn runtime_names_are_reserved() {
        assert!(is_reserved("name") && !is_reserved("greeting"));
    }
}
