//! `market`: synthetic ticks, a random walk per symbol.

use std::collections::BTreeMap;
use std::time::Duration;

use axon::clock::now_ms;
use axon::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

use crate::settings::{from_spec, set_checked, Settings};
use crate::wire::Tick;

/// Alias of the publishing timer.
const TIMER: &str = "ticks";

/// Publishes one [`Tick`] per symbol every `period_ms` on the PUB socket
/// named by `out`, under the symbol as topic. Prices walk at random from a
/// start between 50 and 500, each step at most `volatility` (a fraction)
/// up or down; the walk of a symbol depends only on `seed` and the symbol,
/// so the n-th tick published for it is the same in every run.
///
/// Attributes: `symbols` (default `["AAPL", "MSFT", "GOOG", "AMZN"]`),
/// `period_ms` (default 10; a new value takes effect at the next tick),
/// `out` (default `out`), `seed` (default 42), `volatility` (default 0.002),
/// and the counters `ticks` (published) and `skipped` (not sent, e.g. before
/// `out` exists). No handlers.
#[derive(Debug)]
pub struct Market {
    attributes: Attributes,
    /// Each symbol's walk, started at its first tick.
    walks: BTreeMap<String, Walk>,
    /// The period the timer runs at.
    armed: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    symbols: Vec<String>,
    period_ms: u64,
    out: String,
    seed: u64,
    volatility: f64,
    ticks: u64,
    skipped: u64,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            symbols: ["AAPL", "MSFT", "GOOG", "AMZN"].map(String::from).to_vec(),
            period_ms: 10,
            out: "out".into(),
            seed: 42,
            volatility: 0.002,
            ticks: 0,
            skipped: 0,
        }
    }
}

impl Settings for Attributes {
    fn check(&self) -> Result<(), String> {
        if self.symbols.is_empty() || self.symbols.iter().any(String::is_empty) {
            return Err("symbols must be a non-empty list of non-empty names".into());
        }
        if self.period_ms == 0 {
            return Err("period_ms must be at least 1".into());
        }
        if !(self.volatility > 0.0 && self.volatility < 0.5) {
            return Err(format!(
                "volatility must be between 0 and 0.5, not {}",
                self.volatility
            ));
        }
        Ok(())
    }
}

impl Agent for Market {
    const KIND: &'static str = "market";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let attributes = from_spec(Attributes::default(), spec)?;
        Ok(Market {
            armed: Duration::from_millis(attributes.period_ms),
            attributes,
            walks: BTreeMap::new(),
        })
    }

    fn handlers(_: &mut Handlers<Self>) {}

    fn before_loop(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        self.arm(ctx);
        Ok(())
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(&self.attributes, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        set_checked(&mut self.attributes, name, value)
    }
}

impl Market {
    /// Starts (or restarts) the timer at the current `period_ms`.
    fn arm(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.armed = Duration::from_millis(self.attributes.period_ms);
        ctx.each(self.armed, Some(TIMER), Market::tick);
    }

    /// The timer: one tick per symbol; a walk only moves when its tick went out.
    fn tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.armed != Duration::from_millis(self.attributes.period_ms) {
            self.arm(ctx);
        }
        let Market {
            attributes: a,
            walks,
            ..
        } = self;
        let ts_ms = now_ms();
        for symbol in &a.symbols {
            if !walks.contains_key(symbol) {
                walks.insert(symbol.clone(), Walk::new(a.seed, symbol));
            }
            // Inserted just above when missing.
            let Some(walk) = walks.get_mut(symbol) else {
                continue;
            };
            let mut next = *walk;
            let tick = next.step(symbol, a.volatility, ts_ms);
            match ctx.publish(&a.out, symbol, &tick) {
                Ok(()) => {
                    *walk = next;
                    a.ticks += 1;
                }
                Err(_) => a.skipped += 1,
            }
        }
    }
}

/// One symbol's random walk.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Walk {
    rng: u64,
    price: f64,
    seq: u64,
}

impl Walk {
    /// The walk of `symbol` under `seed`, at its start price.
    fn new(seed: u64, symbol: &str) -> Walk {
        let mut rng = splitmix(seed ^ fnv1a(symbol.as_bytes())).max(1);
        let price = 50.0 + 450.0 * unit(&mut rng);
        Walk { rng, price, seq: 0 }
    }

    /// Moves one step and returns the tick for it.
    fn step(&mut self, symbol: &str, volatility: f64, ts_ms: u64) -> Tick {
        let change = volatility * (2.0 * unit(&mut self.rng) - 1.0);
        self.price *= 1.0 + change;
        self.seq += 1;
        Tick {
            symbol: symbol.to_owned(),
            price: (self.price * 100.0).round() / 100.0,
            seq: self.seq,
            ts_ms,
        }
    }
}

/// A uniform float in [0, 1) from a xorshift64 generator (`state` never 0).
fn unit(state: &mut u64) -> f64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Spreads the bits of a seed (splitmix64's finaliser).
fn splitmix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a hash of a symbol.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prices(seed: u64, symbol: &str, n: usize) -> Vec<f64> {
        let mut walk = Walk::new(seed, symbol);
        (0..n).map(|_| walk.step(symbol, 0.002, 0).price).collect()
    }

    #[test]
    fn a_walk_depends_only_on_seed_and_symbol() {
        assert_eq!(prices(7, "AAPL", 50), prices(7, "AAPL", 50));
        assert_ne!(prices(7, "AAPL", 50), prices(7, "MSFT", 50));
        assert_ne!(prices(7, "AAPL", 50), prices(8, "AAPL", 50));
    }

    #[test]
    fn steps_stay_within_the_volatility_and_count_up() {
        let mut walk = Walk::new(1, "GOOG");
        assert!((50.0..500.0).contains(&walk.price), "{walk:?}");
        for n in 1..=1000 {
            let before = walk.price;
            let tick = walk.step("GOOG", 0.01, 5);
            assert!((walk.price / before - 1.0).abs() <= 0.01, "{walk:?}");
            assert_eq!((tick.seq, tick.ts_ms, tick.symbol.as_str()), (n, 5, "GOOG"));
            assert!(tick.price > 0.0);
        }
    }

    #[test]
    fn bad_attributes_are_refused() {
        let mut a = Attributes::default();
        assert!(a.check().is_ok());
        a.symbols.clear();
        assert!(a.check().is_err());
        let a = Attributes {
            volatility: 0.0,
            ..Attributes::default()
        };
        assert!(a.check().unwrap_err().contains("volatility"));
    }
}
