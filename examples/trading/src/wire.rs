//! What crosses the sockets between trading agents.

use serde::{Deserialize, Serialize};

/// One price of one symbol, published by the market under the symbol as topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// The instrument, e.g. `AAPL`.
    pub symbol: String,
    /// The price, in cents precision.
    pub price: f64,
    /// 1, 2, 3, ... per symbol and market incarnation.
    pub seq: u64,
    /// Wall-clock time of publication, ms since the Unix epoch.
    pub ts_ms: u64,
}

/// Which way an order goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Buys: the position grows.
    Buy,
    /// Sells: the position shrinks.
    Sell,
}

impl Side {
    /// What an order of `qty` on this side does to a net position.
    pub fn signed(self, qty: u64) -> i64 {
        let qty = i64::try_from(qty).unwrap_or(i64::MAX);
        match self {
            Side::Buy => qty,
            Side::Sell => -qty,
        }
    }
}

/// An order: the trader asks the risk agent with it, then pushes it to the blotter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// 1, 2, 3, ... per trader incarnation; `(trader, id)` names the order.
    pub id: u64,
    /// The trader agent's name.
    pub trader: String,
    /// The instrument.
    pub symbol: String,
    /// Buy or sell.
    pub side: Side,
    /// How many units.
    pub qty: u64,
    /// The price of the tick that triggered it.
    pub price: f64,
    /// When it was made, ms since the Unix epoch.
    pub ts_ms: u64,
}

/// The risk agent's answer to an order request (and what it publishes on `events`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The id of the order this answers.
    pub id: u64,
    /// Whether the order may go out.
    pub approved: bool,
    /// `ok`, or which limit it would break.
    pub reason: String,
}
