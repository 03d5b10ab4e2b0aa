//! The agent kinds of the trading-floor example (`floor.toml`), hosted by
//! this crate's `trading-floor` binary.
//!
//! A market publishes ticks; one trader per symbol turns moving-average
//! crossovers into orders, each approved by the risk agent before it is
//! pushed to the blotter; a monitor prints one summary line per period.
//!
//! ```text
//! market.out (PUB, topic = symbol) --> trader.ticks (SUB, handler `tick`)
//! trader.risk (ASYNC_REQ)          --> risk.main (ASYNC_REP, handler `check`)
//! trader.orders (PUSH)             --> blotter.orders (PULL, handler `record`)
//! market.out, risk.events, blotter.events (PUB) --> monitor (SUB: `tick`, `decision`, `order`)
//! ```
//!
//! Every kind is configured by its spawn attributes (a misspelt or mistyped
//! one fails the spawn, naming it) and exposes its settings and counters as
//! attributes.
//!
//! # Layout
//! - `settings`: a kind's attributes, set from its spawn spec and checked as a whole.
//! - `wire`: what crosses the sockets: [`Tick`], [`Order`], [`Side`], [`Verdict`].
//! - `market`: [`Market`], synthetic random-walk ticks.
//! - `trader`: [`Trader`], moving-average crossover, risk-checked orders.
//! - `risk`: [`Risk`], position and size limits.
//! - `blotter`: [`Blotter`], the record of executed orders, and its [`Totals`] per symbol.
//! - `monitor`: [`Monitor`], one summary line per period on stdout.

#![deny(missing_docs)]

mod blotter;
mod market;
mod monitor;
mod risk;
mod settings;
mod trader;
mod wire;

pub use blotter::{Blotter, Totals};
pub use market::Market;
pub use monitor::Monitor;
pub use risk::Risk;
pub use trader::Trader;
pub use wire::{Order, Side, Tick, Verdict};

/// The kinds `trading-floor` hosts: the five trading kinds, the ready-made ones, and the plain `agent`.
pub fn registry() -> axon::Registry {
    axon::registry()
        .kind::<Market>()
        .kind::<Trader>()
        .kind::<Risk>()
        .kind::<Blotter>()
        .kind::<Monitor>()
}
