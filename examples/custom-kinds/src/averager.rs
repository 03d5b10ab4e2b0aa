//! `averager`: a moving average of the numbers it is sent, published periodically.

use std::collections::VecDeque;
use std::time::Duration;

use axon::{Agent, AgentSpec, Ctx, HandlerError, HandlerResult, Handlers, Message, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

/// Alias of the PUB socket the average goes out on, when the agent has one.
const OUT: &str = "out";
/// Topic of the publications.
const TOPIC: &str = "avg";
/// Alias of the publishing timer.
const TIMER: &str = "publish";

/// Keeps the average of the latest `window` numbers it receives and
/// publishes it every `period_ms` on its PUB socket `out` (if it has one)
/// under topic `avg`.
///
/// Handler: `sample` (bind or connect it as PULL or SUB; on REP it answers
/// with the new average). Samples are integers or floats sent with `cbor`
/// or `json`.
///
/// Attributes: `window` (default 10), `period_ms` (default 1000; a new
/// value takes effect from the next publication), `average` (read-only,
/// none before the first sample), `published` and `failed` (publications
/// sent, and refused by the socket).
#[derive(Debug)]
pub struct Averager {
    /// What `get_attr` / `set_attr` see.
    attributes: Attributes,
    /// The latest samples, oldest first; never more than `window`.
    recent: VecDeque<f64>,
    /// The period the publishing timer runs at.
    armed: Duration,
}

/// The averager's attributes, as a serde struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Attributes {
    window: usize,
    period_ms: u64,
    average: Option<f64>,
    published: u64,
    failed: u64,
}

impl Default for Attributes {
    fn default() -> Self {
        Attributes {
            window: 10,
            period_ms: 1000,
            average: None,
            published: 0,
            failed: 0,
        }
    }
}

impl Attributes {
    /// Attributes computed by the agent, which nobody else may set.
    const READ_ONLY: &'static [&'static str] = &["average"];

    fn check(&self) -> HandlerResult {
        if self.window == 0 {
            return Err(HandlerError::msg("window must be at least 1"));
        }
        if self.period_ms == 0 {
            return Err(HandlerError::msg("period_ms must be at least 1"));
        }
        Ok(())
    }

    fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms)
    }
}

impl Agent for Averager {
    const KIND: &'static str = "averager";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        if let Some(name) = Attributes::READ_ONLY
            .iter()
            .find(|name| spec.attributes.contains_key(**name))
        {
            return Err(read_only(name));
        }
        let attributes: Attributes = crate::attributes::from_spec(spec)?;
        attributes.check()?;
        Ok(Averager {
            armed: attributes.period(),
            attributes,
            recent: VecDeque::new(),
        })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("sample", Averager::sample);
    }

    fn before_loop(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        self.arm(ctx);
        Ok(())
    }

    fn on_stop(&mut self, ctx: &mut Ctx<'_, Self>) {
        // Subscribers get the last word before the sockets close.
        self.publish_average(ctx);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::get(&self.attributes, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> HandlerResult {
        if Attributes::READ_ONLY.contains(&name) {
            return Err(read_only(name));
        }
        let before = self.attributes.clone();
        attrs::set(&mut self.attributes, name, value)?;
        if let Err(e) = self.attributes.check() {
            self.attributes = before;
            return Err(e);
        }
        // A smaller window drops the oldest samples at once.
        self.trim();
        Ok(())
    }
}

impl Averager {
    /// The `sample` handler: takes one number into the average.
    fn sample(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<Option<f64>> {
        self.add(number(msg.value()?)?);
        Ok(self.attributes.average)
    }

    /// Takes `x` into the window.
    fn add(&mut self, x: f64) {
        self.recent.push_back(x);
        self.trim();
    }

    /// Drops samples older than the window and recomputes the average.
    fn trim(&mut self) {
        let excess = self.recent.len().saturating_sub(self.attributes.window);
        self.recent.drain(..excess);
        self.attributes.average = mean(&self.recent);
    }

    /// Starts (or restarts) the publishing timer at the current `period_ms`.
    fn arm(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.armed = self.attributes.period();
        ctx.each(self.armed, Some(TIMER), Averager::tick);
    }

    /// The timer: follows a changed `period_ms`, then publishes.
    fn tick(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.armed != self.attributes.period() {
            self.arm(ctx);
        }
        self.publish_average(ctx);
    }

    /// Publishes the average on `out`, if there is an average and a socket.
    fn publish_average(&mut self, ctx: &mut Ctx<'_, Self>) {
        let Some(average) = self.attributes.average else {
            return;
        };
        match ctx.publish(OUT, TOPIC, &average) {
            Ok(()) => self.attributes.published += 1,
            // No `out` socket (yet): nobody to tell.
            Err(axon::Error::UnknownAlias(_)) => {}
            Err(_) => self.attributes.failed += 1,
        }
    }
}

/// A sample as received: an integer or a finite float.
fn number(value: Value) -> HandlerResult<f64> {
    let x = match value {
        Value::Integer(n) => i128::from(n) as f64,
        Value::Float(x) => x,
        other => {
            let found = axon::codec::value_type(&other);
            return Err(HandlerError::msg(format_args!(
                "a sample must be a number, not {found}"
            )));
        }
    };
    if !x.is_finite() {
        return Err(HandlerError::msg(format_args!(
            "a sample must be finite, not {x}"
        )));
    }
    Ok(x)
}

/// The mean of `xs`; none when it is empty.
fn mean(xs: &VecDeque<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    Some(xs.iter().sum::<f64>() / xs.len() as f64)
}

fn read_only(name: &str) -> HandlerError {
    HandlerError::msg(format_args!(
        "attribute {name:?} is computed by the averager and cannot be set"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn averager(window: usize) -> Averager {
        let mut spec = AgentSpec::new("avg", "averager", std::env::temp_dir());
        spec.attributes
            .insert("window".into(), Value::Integer(window.into()));
        Averager::create(&spec).unwrap()
    }

    #[test]
    fn the_average_covers_the_latest_window() {
        let mut a = averager(3);
        assert_eq!(a.attributes.average, None);
        for x in [1.0, 2.0, 3.0] {
            a.add(x);
        }
        assert_eq!(a.attributes.average, Some(2.0));
        a.add(10.0);
        assert_eq!(a.attributes.average, Some(5.0));
    }

    #[test]
    fn a_smaller_window_drops_the_oldest_samples() {
        let mut a = averager(4);
        for x in [1.0, 2.0, 3.0, 4.0] {
            a.add(x);
        }
        a.set_attr("window", Value::Integer(2.into())).unwrap();
        assert_eq!(a.attributes.average, Some(3.5));
        assert_eq!(a.recent.len(), 2);
    }

    #[test]
    fn bad_settings_are_refused_and_leave_the_old_ones() {
        let mut a = averager(4);
        assert!(a.set_attr("window", Value::Integer(0.into())).is_err());
        assert!(a.set_attr("period_ms", Value::Integer(0.into())).is_err());
        assert!(a.set_attr("average", Value::Float(1.0)).is_err());
        assert_eq!(a.attributes.window, 4);
        assert_eq!(a.attributes.period_ms, 1000);

        let mut spec = AgentSpec::new("avg", "averager", std::env::temp_dir());
        spec.attributes
            .insert("window".into(), Value::Integer(0.into()));
        assert!(Averager::create(&spec).is_err());
        spec.attributes.clear();
        spec.attributes.insert("average".into(), Value::Float(1.0));
        assert!(Averager::create(&spec).is_err());
    }

    #[test]
    fn samples_are_finite_numbers() {
        assert_eq!(number(Value::Integer(3.into())).unwrap(), 3.0);
        assert_eq!(number(Value::Float(2.5)).unwrap(), 2.5);
        assert!(number(Value::Float(f64::NAN)).is_err());
        let err = number(Value::Text("3".into())).unwrap_err();
        assert_eq!(err.message(), "a sample must be a number, not text");
    }
}
