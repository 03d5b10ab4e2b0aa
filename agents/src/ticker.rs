//! `ticker`: publishes a counter at a fixed period.

use std::time::Duration;

use axon_runtime::{attrs, Agent, AgentSpec, Ctx, HandlerResult, Handlers, Value};
use serde::{Deserialize, Serialize};

/// Publishes 1, 2, 3, ... every `period_ms` (attribute, default 1000) under
/// `topic` (default `tick`) on the socket named by `out` (default `out`, a
/// PUB or PUSH bound or connected later). Ticks before the socket exists
/// are counted as `skipped`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ticker {
    period_ms: u64,
    topic: String,
    out: String,
    ticks: u64,
    skipped: u64,
}

impl Agent for Ticker {
    const KIND: &'static str = "ticker";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let mut ticker = Ticker {
            period_ms: 1000,
            topic: "tick".into(),
            out: "out".into(),
            ticks: 0,
            skipped: 0,
        };
        for (name, value) in &spec.attributes {
            attrs::set(&mut ticker, name, value.clone())?;
        }
        if ticker.period_ms == 0 {
            return Err(axon_runtime::HandlerError::msg(
                "period_ms must be at least 1",
            ));
        }
        Ok(ticker)
    }

    fn handlers(_: &mut Handlers<Self>) {}

    fn before_loop(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        ctx.each(
            Duration::from_millis(self.period_ms),
            Some("tick"),
            Ticker::tick,
        );
        Ok(())
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(self, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        attrs::set(self, name, value)
    }
}

impl Ticker {
    fn tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        let next = self.ticks + 1;
        match ctx.publish(&self.out, &self.topic, &next) {
            Ok(()) => self.ticks = next,
            Err(axon_runtime::Error::WrongKind { .. }) => match ctx.send(&self.out, &next) {
                Ok(()) => self.ticks = next,
                Err(_) => self.skipped += 1,
            },
            Err(_) => self.skipped += 1,
        }
    }
}
