//! axon-agents: ready-made agent kinds, usable from a manifest or a script with no code.
//!
//! # Layout
//! - `echo`: [`Echo`], answers requests with the request unchanged and logs what else it receives.
//! - `logger`: [`Logger`], collects every agent's log events.
//! - `counter`: [`Counter`], counts messages per socket.
//! - `relay`: [`Relay`], forwards PULL/SUB input to a PUSH/PUB output.
//! - `ticker`: [`Ticker`], publishes a counter at a fixed period.
//! - `script`: [`Script`], an agent that is all scripts (rhai).

#![deny(missing_docs)]

mod counter;
mod echo;
mod logger;
mod relay;
mod script;
mod ticker;

pub use counter::Counter;
pub use echo::Echo;
pub use logger::Logger;
pub use relay::Relay;
pub use script::Script;
pub use ticker::Ticker;

use axon_runtime::Registry;

/// Adds every ready-made kind to `registry`.
pub fn register(registry: Registry) -> Registry {
    registry
        .kind::<Echo>()
        .kind::<Logger>()
        .kind::<Counter>()
        .kind::<Relay>()
        .kind::<Ticker>()
        .kind::<Script>()
}
