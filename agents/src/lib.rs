//! axon-agents: ready-made agent kinds, usable from a manifest or a script with no code.
//!
//! # Layout
//! - `echo`: [`Echo`], answers requests with the request unchanged and logs what else it receives.

mod echo;

pub use echo::Echo;

use axon_runtime::Registry;

/// Adds every ready-made kind to `registry`.
pub fn register(registry: Registry) -> Registry {
    registry.kind::<Echo>()
}
