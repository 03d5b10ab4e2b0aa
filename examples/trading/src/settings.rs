//! A kind's settings: its attributes as a serde struct, checked as a whole.

use axon::{AgentSpec, HandlerError, HandlerResult, Value};
use axon_runtime::attrs;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A kind's attributes: a serde struct whose fields are its settings and counters.
pub(crate) trait Settings: Serialize + DeserializeOwned + Clone {
    /// Why the settings do not hold up, if they do not.
    fn check(&self) -> Result<(), String>;
}

/// `defaults` with each spawn attribute of `spec` set over it, then checked.
pub(crate) fn from_spec<S: Settings>(mut defaults: S, spec: &AgentSpec) -> HandlerResult<S> {
    for (name, value) in &spec.attributes {
        attrs::set(&mut defaults, name, value.clone())
            .map_err(|e| HandlerError::msg(format_args!("{}: {e}", spec.kind)))?;
    }
    defaults
        .check()
        .map_err(|e| HandlerError::msg(format_args!("{}: {e}", spec.kind)))?;
    Ok(defaults)
}

/// Sets the attribute `name`; a value that breaks the settings is refused and changes nothing.
pub(crate) fn set_checked<S: Settings>(
    settings: &mut S,
    name: &str,
    value: Value,
) -> HandlerResult {
    let mut next = settings.clone();
    attrs::set(&mut next, name, value)?;
    next.check().map_err(HandlerError::msg)?;
    *settings = next;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Knobs {
        size: u32,
    }

    impl Settings for Knobs {
        fn check(&self) -> Result<(), String> {
            match self.size {
                0 => Err("size must be at least 1".into()),
                _ => Ok(()),
            }
        }
    }

    fn spec(name: &str, value: Value) -> AgentSpec {
        let mut spec = AgentSpec::new("a", "test.kind", std::env::temp_dir());
        spec.attributes.insert(name.into(), value);
        spec
    }

    #[test]
    fn spawn_attributes_override_defaults_and_bad_ones_name_the_kind() {
        let got = from_spec(Knobs { size: 1 }, &spec("size", Value::Integer(3.into())));
        assert_eq!(got.unwrap(), Knobs { size: 3 });
        for (name, value) in [
            ("sise", Value::Integer(3.into())),
            ("size", Value::Text("big".into())),
            ("size", Value::Integer(0.into())),
        ] {
            let err = from_spec(Knobs { size: 1 }, &spec(name, value)).unwrap_err();
            assert!(err.message().starts_with("test.kind: "), "{err}");
        }
    }

    #[test]
    fn a_refused_set_changes_nothing() {
        let mut knobs = Knobs { size: 2 };
        assert!(set_checked(&mut knobs, "size", Value::Integer(0.into())).is_err());
        assert_eq!(knobs, Knobs { size: 2 });
        set_checked(&mut knobs, "size", Value::Integer(5.into())).unwrap();
        assert_eq!(knobs, Knobs { size: 5 });
    }
}
