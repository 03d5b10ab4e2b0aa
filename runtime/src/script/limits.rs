//! `ScriptLimits`: how much a script may do in one call, per agent.
//!
//! Every call (a method, a handler, an `exec`) starts with the full budget:
//! a number of operations, a nesting depth of calls and of expressions,
//! sizes of strings, arrays and maps, and a wall time. Going over any of
//! them ends the call with an error that names the limit; the agent keeps
//! serving.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine};
use serde::{Deserialize, Serialize};

/// How often (in operations) a call checks its wall time.
pub(super) const CLOCK_EVERY: u64 = 1024;

/// The limits of one script call. Missing fields take their defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptLimits {
    /// Operations (rhai's unit of work: an expression, a loop turn, ...) per call.
    pub operations: u64,
    /// Nested function calls.
    pub call_depth: usize,
    /// Nested expressions (in top-level code and in functions alike).
    pub expr_depth: usize,
    /// Bytes in one string.
    pub string_size: usize,
    /// Items in one array (or bytes in one blob).
    pub array_size: usize,
    /// Entries in one object map.
    pub map_size: usize,
    /// Wall time of one call, in ms.
    pub wall_time_ms: u64,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        ScriptLimits {
            operations: 1_000_000,
            call_depth: 32,
            expr_depth: 64,
            string_size: 1 << 20,
            array_size: 100_000,
            map_size: 10_000,
            wall_time_ms: 1_000,
        }
    }
}

impl ScriptLimits {
    /// The wall time of one call.
    pub fn wall_time(&self) -> Duration {
        Duration::from_millis(self.wall_time_ms)
    }

    /// Sets the limits on `engine`. A call's `deadline` is cleared when it
    /// starts and set at its first clock check (after [`CLOCK_EVERY`]
    /// operations), so a short call never reads the clock; the call ends
    /// once the deadline has passed.
    pub(super) fn apply(&self, engine: &mut Engine, deadline: Rc<Cell<Option<Instant>>>) {
        engine
            .set_max_operations(self.operations)
            .set_max_call_levels(self.call_depth)
            .set_max_expr_depths(self.expr_depth, self.expr_depth)
            .set_max_string_size(self.string_size)
            .set_max_array_size(self.array_size)
            .set_max_map_size(self.map_size);
        let wall_time_ms = self.wall_time_ms;
        engine.on_progress(move |ops| {
            if ops % CLOCK_EVERY != 0 {
                return None;
            }
            let now = Instant::now();
            match deadline.get() {
                None => {
                    deadline.set(Some(now + Duration::from_millis(wall_time_ms)));
                    None
                }
                Some(due) if now >= due => Some(Dynamic::from(format!(
                    "wall time limit of {wall_time_ms} ms exceeded"
                ))),
                Some(_) => None,
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_defaults_and_unknown_ones_are_refused() {
        let l: ScriptLimits = serde_json::from_str(r#"{"operations": 5}"#).unwrap();
        assert_eq!(l.operations, 5);
        assert_eq!(l.call_depth, ScriptLimits::default().call_depth);
        assert!(serde_json::from_str::<ScriptLimits>(r#"{"opertions": 5}"#).is_err());
    }
}
