//! `risk`: approves orders within position and size limits.

use std::collections::BTreeMap;

use axon::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

use crate::settings::{from_spec, set_checked, Settings};
use crate::wire::{Order, Verdict};

/// Answers order requests (handler `check`, on a REP or ASYNC_REP socket)
/// with a [`Verdict`]: an [`Order`] is approved when its `qty` is at most
/// `max_qty` and its symbol's net position (what it approved so far, buys
/// minus sells) stays within `max_position` either way; an approved order
/// moves the position at once. Each verdict is also published, under topic
/// `approved` or `rejected`, on the PUB socket `events` when the agent has
/// one (the monitor listens there).
///
/// Attributes: `max_position` (default 100), `max_qty` (default 50), and
/// `positions` (net position by symbol), `approved`, `rejected`.
#[derive(Debug)]
pub struct Risk {
    attributes: Attributes,
}

/// Alias of the optional PUB socket verdicts are published on.
const EVENTS: &str = "events";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    max_position: u64,
    max_qty: u64,
    positions: BTreeMap<String, i64>,
    approved: u64,
    rejected: u64,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            max_position: 100,
            max_qty: 50,
            positions: BTreeMap::new(),
            approved: 0,
            rejected: 0,
        }
    }
}

impl Settings for Attributes {
    fn check(&self) -> Result<(), String> {
        if i64::try_from(self.max_position).is_err() {
            return Err(format!("max_position {} is too large", self.max_position));
        }
        Ok(())
    }
}

impl Agent for Risk {
    const KIND: &'static str = "risk";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let attributes = from_spec(Attributes::default(), spec)?;
        Ok(Risk { attributes })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("check", Risk::check);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(&self.attributes, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        set_checked(&mut self.attributes, name, value)
    }
}

impl Risk {
    /// An order request: the verdict is the reply.
    fn check(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<Verdict> {
        let order: Order = msg.decode()?;
        let verdict = self.attributes.judge(&order);
        let topic = if verdict.approved {
            "approved"
        } else {
            "rejected"
        };
        match ctx.publish(EVENTS, topic, &verdict) {
            // No `events` socket: nobody listens.
            Ok(()) | Err(axon::Error::UnknownAlias(_)) => {}
            Err(e) => tracing::debug!(agent = ctx.name(), error = %e, "verdict not published"),
        }
        Ok(verdict)
    }
}

impl Attributes {
    /// Approves `order` (and books it) or says which limit it breaks.
    fn judge(&mut self, order: &Order) -> Verdict {
        let position = self.positions.get(&order.symbol).copied().unwrap_or(0);
        let after = position.saturating_add(order.side.signed(order.qty));
        let reason = if order.qty > self.max_qty {
            Some(format!(
                "qty {} exceeds max_qty {}",
                order.qty, self.max_qty
            ))
        } else if after.unsigned_abs() > self.max_position {
            Some(format!(
                "{} position would be {after}, beyond max_position {}",
                order.symbol, self.max_position
            ))
        } else {
            None
        };
        match reason {
            Some(reason) => {
                self.rejected += 1;
                Verdict {
                    id: order.id,
                    approved: false,
                    reason,
                }
            }
            None => {
                self.approved += 1;
                self.positions.insert(order.symbol.clone(), after);
                Verdict {
                    id: order.id,
                    approved: true,
                    reason: "ok".into(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Side;

    fn order(id: u64, side: Side, qty: u64) -> Order {
        Order {
            id,
            trader: "s".into(),
            symbol: "AAPL".into(),
            side,
            qty,
            price: 100.0,
            ts_ms: 0,
        }
    }

    #[test]
    fn orders_within_the_limits_move_the_position_and_others_do_not() {
        let mut risk = Attributes {
            max_position: 15,
            max_qty: 20,
            ..Attributes::default()
        };
        let ok = risk.judge(&order(1, Side::Buy, 10));
        assert_eq!((ok.id, ok.approved, ok.reason.as_str()), (1, true, "ok"));
        let over = risk.judge(&order(2, Side::Buy, 10));
        assert!(
            !over.approved && over.reason.contains("would be 20"),
            "{over:?}"
        );
        let big = risk.judge(&order(3, Side::Sell, 21));
        assert!(!big.approved && big.reason.contains("max_qty"), "{big:?}");
        assert!(risk.judge(&order(4, Side::Sell, 20)).approved);
        assert!(!risk.judge(&order(5, Side::Sell, 10)).approved);
        assert_eq!(risk.positions["AAPL"], -10);
        assert_eq!((risk.approved, risk.rejected), (2, 3));
    }
}
