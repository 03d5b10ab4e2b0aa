//! axon-agents: ready-made agent kinds, usable from a manifest or a script with no code.
//!
//! # Layout
//! - `echo`: [`Echo`], answers requests with the request unchanged and logs what else it receives.
//! - `logger`: [`Logger`], collects every agent's log events.

mod echo;
mod logger;

pub use echo::Echo;
pub use logger::Logger;

use axon_runtime::Registry;

/// Adds every ready-made kind to `registry`.
pub fn register(registry: Registry) -> Registry {
    registry.kind::<Echo>().kind::<Logger>()
}
