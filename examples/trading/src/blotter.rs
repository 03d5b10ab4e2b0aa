//! `blotter`: the record of executed orders.

use std::collections::{BTreeMap, VecDeque};

use axon::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

use crate::settings::{from_spec, set_checked, Settings};
use crate::wire::{Order, Side};

/// Alias of the optional PUB socket recorded orders are published on.
const EVENTS: &str = "events";

/// Records the [`Order`]s it receives (handler `record`, on a PULL socket the
/// traders push to) and republishes each, under its symbol as topic, on
/// the PUB socket `events` when the agent has one (the monitor listens
/// there).
///
/// Attributes: `orders` (how many were recorded), `totals` (a [`Totals`]
/// by symbol), `recent` (the latest `keep` orders, oldest first) and `keep`
/// (default 20).
#[derive(Debug)]
pub struct Blotter {
    attributes: Attributes,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    orders: u64,
    totals: BTreeMap<String, Totals>,
    recent: VecDeque<Order>,
    keep: usize,
}

/// What was traded in one symbol (the blotter's `totals` attribute maps symbols to it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Orders recorded.
    pub orders: u64,
    /// Quantity bought.
    pub bought: u64,
    /// Quantity sold.
    pub sold: u64,
    /// Net position: bought minus sold.
    pub net: i64,
    /// Traded value: the sum of quantity times price, both sides.
    pub notional: f64,
}

impl Settings for Attributes {
    fn check(&self) -> Result<(), String> {
        Ok(())
    }
}

impl Agent for Blotter {
    const KIND: &'static str = "blotter";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let defaults = Attributes {
            orders: 0,
            totals: BTreeMap::new(),
            recent: VecDeque::new(),
            keep: 20,
        };
        Ok(Blotter {
            attributes: from_spec(defaults, spec)?,
        })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("record", Blotter::record);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(&self.attributes, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        set_checked(&mut self.attributes, name, value)?;
        self.attributes.trim();
        Ok(())
    }
}

impl Blotter {
    /// An executed order.
    fn record(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let order: Order = msg.decode()?;
        match ctx.publish(EVENTS, &order.symbol, &order) {
            // No `events` socket: nobody listens.
            Ok(()) | Err(axon::Error::UnknownAlias(_)) => {}
            Err(e) => tracing::debug!(agent = ctx.name(), error = %e, "order not republished"),
        }
        self.attributes.add(order);
        Ok(())
    }
}

impl Attributes {
    fn add(&mut self, order: Order) {
        let totals = self.totals.entry(order.symbol.clone()).or_default();
        totals.orders += 1;
        match order.side {
            // Quantities come off the wire: saturate rather than overflow.
            Side::Buy => totals.bought = totals.bought.saturating_add(order.qty),
            Side::Sell => totals.sold = totals.sold.saturating_add(order.qty),
        }
        totals.net = totals.net.saturating_add(order.side.signed(order.qty));
        totals.notional += order.qty as f64 * order.price;
        self.orders += 1;
        self.recent.push_back(order);
        self.trim();
    }

    /// Keeps only the latest `keep` orders.
    fn trim(&mut self) {
        let excess = self.recent.len().saturating_sub(self.keep);
        self.recent.drain(..excess);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_per_symbol_and_only_the_latest_orders_are_kept() {
        let mut b = Attributes {
            orders: 0,
            totals: BTreeMap::new(),
            recent: VecDeque::new(),
            keep: 2,
        };
        let trades = [
            ("AAPL", Side::Buy, 10),
            ("MSFT", Side::Sell, 5),
            ("AAPL", Side::Sell, 3),
        ];
        for (id, (symbol, side, qty)) in (1..).zip(trades) {
            b.add(Order {
                id,
                trader: "s".into(),
                symbol: symbol.into(),
                side,
                qty,
                price: 2.0,
                ts_ms: 0,
            });
        }
        assert_eq!(b.orders, 3);
        let aapl = Totals {
            orders: 2,
            bought: 10,
            sold: 3,
            net: 7,
            notional: 26.0,
        };
        assert_eq!(b.totals["AAPL"], aapl);
        assert_eq!(b.totals["MSFT"].net, -5);
        let ids: Vec<u64> = b.recent.iter().map(|o| o.id).collect();
        assert_eq!(ids, [2, 3]);
    }

    #[test]
    fn huge_quantities_from_the_wire_saturate() {
        let mut b = Attributes {
            orders: 0,
            totals: BTreeMap::new(),
            recent: VecDeque::new(),
            keep: 2,
        };
        for (id, side) in [
            (1, Side::Buy),
            (2, Side::Buy),
            (3, Side::Sell),
            (4, Side::Sell),
        ] {
            b.add(Order {
                id,
                trader: "s".into(),
                symbol: "X".into(),
                side,
                qty: u64::MAX,
                price: 1.0,
                ts_ms: 0,
            });
        }
        let x = &b.totals["X"];
        assert_eq!((x.bought, x.sold, x.orders), (u64::MAX, u64::MAX, 4));
    }
}
