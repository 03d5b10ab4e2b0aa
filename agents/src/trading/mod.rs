//! The agent kinds of the trading-floor demo (`examples/trading.toml`).
//!
//! A market publishes ticks; one strategy per symbol turns moving-average
//! crossovers into orders, each approved by the risk agent before it is
//! pushed to the blotter; a monitor prints one summary line per period.
//!
//! ```text
//! market.out (PUB, topic = symbol) --> strategy.ticks (SUB, handler `tick`)
//! strategy.risk (ASYNC_REQ)        --> risk.main (ASYNC_REP, handler `check`)
//! strategy.orders (PUSH)           --> blotter.orders (PULL, handler `record`)
//! market.out, risk.events, blotter.events (PUB) --> monitor (SUB: `tick`, `decision`, `order`)
//! ```
//!
//! Every kind is configured by its spawn attributes (a misspelt or mistyped
//! one fails the spawn, naming it) and exposes its settings and counters as
//! attributes.
//!
//! # Layout
//! - `wire`: what crosses the sockets: [`Tick`], [`Order`], [`Side`], [`Verdict`].
//! - `market`: [`Market`], synthetic random-walk ticks.
//! - `strategy`: [`Strategy`], moving-average crossover, risk-checked orders.
//! - `risk`: [`Risk`], position and size limits.
//! - `blotter`: [`Blotter`], the record of executed orders, and its [`Totals`] per symbol.
//! - `monitor`: [`Monitor`], one summary line per period on stdout.

mod blotter;
mod market;
mod monitor;
mod risk;
mod strategy;
mod wire;

pub use blotter::{Blotter, Totals};
pub use market::Market;
pub use monitor::Monitor;
pub use risk::Risk;
pub use strategy::Strategy;
pub use wire::{Order, Side, Tick, Verdict};

use axon_runtime::{attrs, AgentSpec, HandlerError, HandlerResult, Registry, Value};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Adds the five trading kinds to `registry`.
pub fn register(registry: Registry) -> Registry {
    registry
        .kind::<Market>()
        .kind::<Strategy>()
        .kind::<Risk>()
        .kind::<Blotter>()
        .kind::<Monitor>()
}

/// A kind's attributes: a serde struct whose fields are its settings and counters.
trait Settings: Serialize + DeserializeOwned + Clone {
    /// Why the settings do not hold up, if they do not.
    fn check(&self) -> Result<(), String>;
}

/// `defaults` with each spawn attribute of `spec` set over it, then checked.
fn from_spec<S: Settings>(mut defaults: S, spec: &AgentSpec) -> HandlerResult<S> {
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
fn set_checked<S: Settings>(settings: &mut S, name: &str, value: Value) -> HandlerResult {
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
