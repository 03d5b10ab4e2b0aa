//! `trader`: moving-average crossover on one symbol, orders checked by risk.

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use axon::clock::now_ms;
use axon::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, RequestOptions, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

use crate::settings::{from_spec, set_checked, Settings};
use crate::wire::{Order, Side, Tick, Verdict};

/// Alias of the socket orders are checked on (ASYNC_REQ or REQ to the risk agent).
const RISK: &str = "risk";
/// Alias of the socket approved orders go out on (PUSH to the blotter).
const ORDERS: &str = "orders";
/// Orders awaiting the risk agent's answer, at most; past it the oldest is forgotten.
const MAX_PENDING: usize = 1024;

/// Trades one `symbol` on moving-average crossovers: when the mean of the
/// latest `fast` prices crosses above the mean of the latest `slow`, it
/// buys `qty`; when it crosses below, it sells `qty`.
///
/// Each order is first sent as a request on the socket `risk` (an
/// ASYNC_REQ connected to the risk agent's ASYNC_REP; a REQ works too, one
/// request at a time) and, once approved, pushed on the socket `orders` (a
/// PUSH to the blotter).
///
/// Handlers: `tick` (for a SUB to the market; ticks of other symbols are
/// ignored), and two the trader names with its own requests: `approval`
/// (the risk agent's [`Verdict`]) and `risk_timeout` (no verdict within
/// `wait_ms`).
///
/// Attributes: `symbol` (required), `fast` (default 5), `slow` (default 20,
/// more than `fast`; changing either restarts the averages), `qty`
/// (default 10), `wait_ms` (default 2000), `last_seq` (the `seq` of the
/// latest tick of its symbol), and the counters `ticks` (of its symbol),
/// `signals` (crossovers), `orders` (approved and pushed),
/// `rejected` (refused by risk), `unanswered` (risk unreachable or silent)
/// and `unsent` (approved, but the push failed).
#[derive(Debug)]
pub struct Trader {
    attributes: Attributes,
    crossover: Crossover,
    /// Orders sent to risk, by id, until it answers.
    pending: BTreeMap<u64, Order>,
    /// The id of the next order.
    next_id: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    symbol: String,
    fast: usize,
    slow: usize,
    qty: u64,
    wait_ms: u64,
    last_seq: u64,
    ticks: u64,
    signals: u64,
    orders: u64,
    rejected: u64,
    unanswered: u64,
    unsent: u64,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            symbol: String::new(),
            fast: 5,
            slow: 20,
            qty: 10,
            wait_ms: 2000,
            last_seq: 0,
            ticks: 0,
            signals: 0,
            orders: 0,
            rejected: 0,
            unanswered: 0,
            unsent: 0,
        }
    }
}

impl Settings for Attributes {
    fn check(&self) -> Result<(), String> {
        if self.symbol.is_empty() {
            return Err("attribute `symbol` is required".into());
        }
        if self.fast == 0 || self.slow <= self.fast {
            let (fast, slow) = (self.fast, self.slow);
            return Err(format!(
                "need 0 < fast < slow, not fast = {fast}, slow = {slow}"
            ));
        }
        if self.qty == 0 || self.wait_ms == 0 {
            return Err("qty and wait_ms must be at least 1".into());
        }
        Ok(())
    }
}

impl Agent for Trader {
    const KIND: &'static str = "trader";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let attributes = from_spec(Attributes::default(), spec)?;
        Ok(Trader {
            crossover: Crossover::new(attributes.fast, attributes.slow),
            attributes,
            pending: BTreeMap::new(),
            next_id: 1,
        })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("tick", Trader::tick);
        h.on("approval", Trader::approval);
        h.on("risk_timeout", Trader::risk_timeout);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(&self.attributes, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        set_checked(&mut self.attributes, name, value)?;
        let (fast, slow) = (self.attributes.fast, self.attributes.slow);
        if (fast, slow) != (self.crossover.fast, self.crossover.slow) {
            self.crossover = Crossover::new(fast, slow);
        }
        Ok(())
    }
}

impl Trader {
    /// A market tick: a crossover becomes an order request to risk.
    fn tick(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let tick: Tick = msg.decode()?;
        if tick.symbol != self.attributes.symbol {
            return Ok(());
        }
        self.attributes.ticks += 1;
        self.attributes.last_seq = tick.seq;
        let Some(side) = self.crossover.push(tick.price) else {
            return Ok(());
        };
        self.attributes.signals += 1;
        let order = self.order(ctx.name(), side, tick.price);
        let opts = RequestOptions {
            handler: Some("approval".into()),
            on_error: Some("risk_timeout".into()),
            wait: Some(Duration::from_millis(self.attributes.wait_ms)),
        };
        match ctx.request(RISK, &order, opts) {
            Ok(_) => self.remember(order),
            Err(e) => {
                self.attributes.unanswered += 1;
                tracing::warn!(agent = ctx.name(), order = order.id, error = %e, "order not sent to risk");
            }
        }
        Ok(())
    }

    /// The risk agent's verdict: an approved order goes to the blotter.
    fn approval(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let verdict: Verdict = msg.decode()?;
        let Some(order) = self.pending.remove(&verdict.id) else {
            tracing::warn!(
                agent = ctx.name(),
                order = verdict.id,
                "verdict for an unknown order"
            );
            return Ok(());
        };
        if !verdict.approved {
            self.attributes.rejected += 1;
            tracing::info!(agent = ctx.name(), order = order.id, reason = %verdict.reason, "order rejected");
            return Ok(());
        }
        match ctx.send(ORDERS, &order) {
            Ok(()) => self.attributes.orders += 1,
            Err(e) => {
                self.attributes.unsent += 1;
                tracing::warn!(agent = ctx.name(), order = order.id, error = %e, "approved order not sent");
            }
        }
        Ok(())
    }

    /// No verdict within `wait_ms`: the order is dropped (a late verdict is ignored by the runtime).
    fn risk_timeout(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let order: Order = msg.decode()?;
        self.pending.remove(&order.id);
        self.attributes.unanswered += 1;
        tracing::warn!(
            agent = ctx.name(),
            order = order.id,
            "risk did not answer in time"
        );
        Ok(())
    }

    /// The next order, on `side` at `price`.
    fn order(&mut self, trader: &str, side: Side, price: f64) -> Order {
        let id = self.next_id;
        self.next_id += 1;
        Order {
            id,
            trader: trader.to_owned(),
            symbol: self.attributes.symbol.clone(),
            side,
            qty: self.attributes.qty,
            price,
            ts_ms: now_ms(),
        }
    }

    /// Keeps `order` until risk answers; an answer that never comes (a failed check) ages out.
    fn remember(&mut self, order: Order) {
        self.pending.insert(order.id, order);
        if self.pending.len() > MAX_PENDING {
            self.pending.pop_first();
        }
    }
}

/// Most prices a crossover reserves room for up front.
const PRESIZE: usize = 1024;

/// Moving-average crossover over the latest `slow` prices.
#[derive(Debug)]
struct Crossover {
    fast: usize,
    slow: usize,
    prices: VecDeque<f64>,
    /// Whether the fast average was above the slow one at the last comparison.
    above: Option<bool>,
}

impl Crossover {
    fn new(fast: usize, slow: usize) -> Self {
        Crossover {
            fast,
            slow,
            // `slow` is an attribute anyone with the key may set: reserve a little, grow on demand.
            prices: VecDeque::with_capacity(slow.min(PRESIZE) + 1),
            above: None,
        }
    }

    /// Takes `price` in; a side when the fast average just crossed the slow one.
    fn push(&mut self, price: f64) -> Option<Side> {
        self.prices.push_back(price);
        if self.prices.len() > self.slow {
            self.prices.pop_front();
        }
        if self.prices.len() < self.slow {
            return None;
        }
        let fast = self.prices.iter().rev().take(self.fast).sum::<f64>() / self.fast as f64;
        let slow = self.prices.iter().sum::<f64>() / self.slow as f64;
        // Equal averages have not crossed yet.
        let above = match fast.partial_cmp(&slow)? {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => return None,
        };
        match self.above.replace(above) {
            Some(was) if was != above => Some(if above { Side::Buy } else { Side::Sell }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(fast: usize, slow: usize, prices: &[f64]) -> Vec<(usize, Side)> {
        let mut c = Crossover::new(fast, slow);
        prices
            .iter()
            .enumerate()
            .filter_map(|(i, p)| c.push(*p).map(|s| (i, s)))
            .collect()
    }

    #[test]
    fn crossing_up_buys_and_crossing_down_sells() {
        // Falling, then rising, then falling again.
        let prices = [5.0, 4.0, 3.0, 2.0, 3.0, 6.0, 9.0, 8.0, 4.0, 1.0];
        assert_eq!(
            signals(2, 4, &prices),
            [(5, Side::Buy), (8, Side::Sell)],
            "fast = mean of 2, slow = mean of 4"
        );
    }

    #[test]
    fn no_signal_before_the_slow_window_fills_nor_on_a_flat_market() {
        assert!(signals(2, 4, &[1.0, 9.0, 1.0]).is_empty());
        assert!(signals(2, 4, &[3.0; 20]).is_empty());
        // The first comparison only sets the side; it is not a crossing.
        assert!(signals(1, 2, &[1.0, 2.0, 3.0, 4.0]).is_empty());
    }

    #[test]
    fn attributes_need_a_symbol_and_fast_below_slow() {
        let mut spec = AgentSpec::new("s", Trader::KIND, std::env::temp_dir());
        let err = Trader::create(&spec).unwrap_err();
        assert!(err.message().contains("symbol"), "{err}");
        spec.attributes
            .insert("symbol".into(), Value::Text("AAPL".into()));
        spec.attributes
            .insert("fast".into(), Value::Integer(20.into()));
        let err = Trader::create(&spec).unwrap_err();
        assert!(err.message().contains("fast < slow"), "{err}");
        spec.attributes
            .insert("fast".into(), Value::Integer(3.into()));
        let mut s = Trader::create(&spec).unwrap();
        s.set_attr("slow", Value::Integer(6.into())).unwrap();
        assert_eq!((s.crossover.fast, s.crossover.slow), (3, 6));
        assert!(s.set_attr("slow", Value::Integer(2.into())).is_err());
        assert_eq!(s.attributes.slow, 6);
        // A huge window is allowed (it never fills), not a panic on reserving it.
        s.set_attr("slow", Value::Integer((usize::MAX as u64).into()))
            .unwrap();
        assert_eq!(s.crossover.slow, usize::MAX);
    }
}
