//! A kind's typed attributes, read from the `attributes` of its spawn spec.

use axon::{AgentSpec, HandlerError, HandlerResult, Value};
use serde::de::DeserializeOwned;

/// Deserializes the spawn attributes into `T`.
///
/// With `#[serde(default, deny_unknown_fields)]` on `T`, missing attributes
/// take their defaults and a misspelt one is refused at spawn, naming it.
pub fn from_spec<T: DeserializeOwned>(spec: &AgentSpec) -> HandlerResult<T> {
    let map = Value::serialized(&spec.attributes)?;
    map.deserialized()
        .map_err(|e| HandlerError::msg(format_args!("{} attributes: {e}", spec.kind)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Default, PartialEq, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct Settings {
        size: u32,
        label: String,
    }

    fn spec(attributes: &[(&str, Value)]) -> AgentSpec {
        let mut spec = AgentSpec::new("a", "test", std::env::temp_dir());
        for (name, value) in attributes {
            spec.attributes.insert(name.to_string(), value.clone());
        }
        spec
    }

    #[test]
    fn missing_attributes_take_defaults_and_given_ones_override() {
        let got: Settings = from_spec(&spec(&[("size", Value::Integer(3.into()))])).unwrap();
        assert_eq!(
            got,
            Settings {
                size: 3,
                label: String::new()
            }
        );
    }

    #[test]
    fn unknown_or_mistyped_attributes_are_refused_by_name() {
        let err = from_spec::<Settings>(&spec(&[("sise", Value::Integer(3.into()))])).unwrap_err();
        assert!(err.message().contains("sise"), "{err}");
        let err = from_spec::<Settings>(&spec(&[("size", Value::Text("big".into()))])).unwrap_err();
        assert!(err.message().starts_with("test attributes:"), "{err}");
    }
}
