//! Attributes: named serde values an agent exposes to `get_attr` / `set_attr`.
//!
//! An agent type whose state is a serde struct can expose its fields with
//! two lines:
//!
//! ```ignore
//! fn get_attr(&self, name: &str) -> Option<Value> { axon::attrs::get(self, name) }
//! fn set_attr(&mut self, name: &str, v: Value) -> HandlerResult { axon::attrs::set(self, name, v) }
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::agent::{HandlerError, HandlerResult};
use crate::codec::Value;

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

    #[test]
    fn runtime_names_are_reserved() {
        assert!(is_reserved("name") && !is_reserved("greeting"));
    }
}
