//! `monitor`: one summary line per period, for `axon up`'s status line.

use std::time::{Duration, Instant};

use axon::{Agent, AgentSpec, Ctx, ErrorKind, HandlerResult, Handlers, Message, Value};
use axon_runtime::attrs;
use serde::{Deserialize, Serialize};

use crate::settings::{from_spec, set_checked, Settings};
use crate::wire::Verdict;

/// Alias of the reporting timer.
const TIMER: &str = "report";

/// Every `period_ms` writes one line to its `line` attribute, e.g.
///
/// ```text
/// [trading] ticks/s 398 | orders 57 (+3/s) | rejected 4 | restarts 2 | agents 8/8 running
/// ```
///
/// It counts what it hears itself, through SUB sockets wired to the PUB
/// sockets of the others: handler `tick` (the market's `out`: any message
/// is a tick), `order` (the blotter's `events`: recorded orders) and
/// `decision` (the risk agent's `events`: verdicts). Only what arrives
/// after its subscriptions are up is counted, and its counts start over when
/// it restarts. Restarts and agent states come from the name server's `ps`
/// method; a name server without `ps` gives only the number of registered
/// agents (`list`), none at all gives `?`. The name-server call blocks the
/// monitor for at most its proxy's timeout; the counters it misses meanwhile
/// wait in its sockets.
///
/// `axon up` shows the line at the end of its status line: the floor's
/// manifest names it (`[status] agent = "monitor"`, `attribute = "line"`).
/// It is also logged at debug level.
///
/// Attributes: `period_ms` (default 1000), the counters `ticks`, `orders`,
/// `approved`, `rejected`, what `ps` said (`restarts`, `running`, `agents`;
/// null when unknown) and `line`, the latest line.
#[derive(Debug)]
pub struct Monitor {
    attributes: Attributes,
    /// When the previous line was printed, and the counts then.
    since: Instant,
    ticks_then: u64,
    orders_then: u64,
    /// The period the timer runs at.
    armed: Duration,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Attributes {
    period_ms: u64,
    ticks: u64,
    orders: u64,
    approved: u64,
    rejected: u64,
    restarts: Option<u64>,
    running: Option<u64>,
    agents: Option<u64>,
    line: String,
}

impl Settings for Attributes {
    fn check(&self) -> Result<(), String> {
        match self.period_ms {
            0 => Err("period_ms must be at least 1".into()),
            _ => Ok(()),
        }
    }
}

/// One line of the name server's `ps` (the fields the monitor reads).
#[derive(Debug, Deserialize)]
struct PsRow {
    state: String,
    #[serde(default)]
    restarts: u64,
}

/// What the name server says about the deployment.
#[derive(Debug, Default, PartialEq)]
struct Fleet {
    restarts: Option<u64>,
    running: Option<u64>,
    agents: Option<u64>,
}

impl Agent for Monitor {
    const KIND: &'static str = "monitor";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let defaults = Attributes {
            period_ms: 1000,
            ticks: 0,
            orders: 0,
            approved: 0,
            rejected: 0,
            restarts: None,
            running: None,
            agents: None,
            line: String::new(),
        };
        let attributes = from_spec(defaults, spec)?;
        Ok(Monitor {
            armed: Duration::from_millis(attributes.period_ms),
            attributes,
            since: Instant::now(),
            ticks_then: 0,
            orders_then: 0,
        })
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on(
            "tick",
            |m: &mut Self, _: &mut Ctx<'_, Self>, _: Message<'_>| {
                m.attributes.ticks += 1;
                Ok(())
            },
        );
        h.on(
            "order",
            |m: &mut Self, _: &mut Ctx<'_, Self>, _: Message<'_>| {
                m.attributes.orders += 1;
                Ok(())
            },
        );
        h.on("decision", Monitor::decision);
    }

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

impl Monitor {
    /// A risk verdict.
    fn decision(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let verdict: Verdict = msg.decode()?;
        if verdict.approved {
            self.attributes.approved += 1;
        } else {
            self.attributes.rejected += 1;
        }
        Ok(())
    }

    /// Starts (or restarts) the timer at the current `period_ms`.
    fn arm(&mut self, ctx: &mut Ctx<'_, Self>) {
        self.armed = Duration::from_millis(self.attributes.period_ms);
        ctx.each(self.armed, Some(TIMER), Monitor::report);
    }

    /// The timer: measures the rates, asks the name server how the fleet is, prints the line.
    fn report(&mut self, ctx: &mut Ctx<'_, Self>) {
        if self.armed != Duration::from_millis(self.attributes.period_ms) {
            self.arm(ctx);
        }
        let a = &self.attributes;
        let seconds = self.since.elapsed().as_secs_f64().max(1e-3);
        let tick_rate = a.ticks.saturating_sub(self.ticks_then) as f64 / seconds;
        let order_rate = a.orders.saturating_sub(self.orders_then) as f64 / seconds;
        (self.since, self.ticks_then, self.orders_then) = (Instant::now(), a.ticks, a.orders);
        // The event loop never waits for the name server: the line prints when it answers.
        let asked = ctx.ask_nameserver("ps", (), move |me: &mut Self, ctx, rows: axon::Result<Vec<PsRow>>| match rows {
            Ok(rows) => me.print(Fleet::of(&rows), tick_rate, order_rate),
            Err(e) if e.remote().map(|r| r.kind) == Some(ErrorKind::UnknownMethod) => {
                // A name server without supervision: it knows the names only.
                let listed = ctx.ask_nameserver("list", (), move |me: &mut Self, _, names: axon::Result<Vec<String>>| {
                    let fleet = names.map(|n| Fleet::listed(n.len())).unwrap_or_default();
                    me.print(fleet, tick_rate, order_rate);
                });
                if listed.is_err() {
                    me.print(Fleet::default(), tick_rate, order_rate);
                }
            }
            Err(e) => {
                tracing::debug!(agent = ctx.name(), error = %e, "no agent states from the name server");
                me.print(Fleet::default(), tick_rate, order_rate);
            }
        });
        if let Err(e) = asked {
            tracing::debug!(agent = ctx.name(), error = %e, "no name server to ask for agent states");
            self.print(Fleet::default(), tick_rate, order_rate);
        }
    }

    /// Records what is known of the fleet and the summary line.
    fn print(&mut self, fleet: Fleet, tick_rate: f64, order_rate: f64) {
        let a = &mut self.attributes;
        (a.restarts, a.running, a.agents) = (fleet.restarts, fleet.running, fleet.agents);
        a.line = line(a, tick_rate, order_rate);
        tracing::debug!(line = %a.line, "monitor");
    }
}

impl Fleet {
    /// Only the names are known.
    fn listed(agents: usize) -> Fleet {
        Fleet {
            agents: Some(agents as u64),
            ..Fleet::default()
        }
    }

    fn of(rows: &[PsRow]) -> Fleet {
        let running = rows.iter().filter(|r| r.state == "running").count();
        Fleet {
            restarts: Some(rows.iter().map(|r| r.restarts).sum()),
            running: Some(running as u64),
            agents: Some(rows.len() as u64),
        }
    }
}

/// The summary line.
fn line(a: &Attributes, tick_rate: f64, order_rate: f64) -> String {
    let restarts = a.restarts.map_or("?".to_owned(), |n| n.to_string());
    let agents = match (a.running, a.agents) {
        (Some(running), Some(all)) => format!("{running}/{all} running"),
        (None, Some(all)) => format!("{all} registered"),
        _ => "?".to_owned(),
    };
    format!(
        "[trading] ticks/s {tick_rate:.0} | orders {} (+{order_rate:.0}/s) | rejected {} | restarts {restarts} | agents {agents}",
        a.orders, a.rejected
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attributes() -> Attributes {
        let spec = AgentSpec::new("m", Monitor::KIND, std::env::temp_dir());
        Monitor::create(&spec).unwrap().attributes
    }

    #[test]
    fn the_line_says_what_is_known_and_marks_the_rest() {
        let mut a = attributes();
        (a.orders, a.rejected) = (57, 4);
        let ps = [("running", 2), ("running", 0), ("restarting", 0)];
        let rows: Vec<PsRow> = ps
            .iter()
            .map(|(state, restarts)| PsRow {
                state: state.to_string(),
                restarts: *restarts,
            })
            .collect();
        let fleet = Fleet::of(&rows);
        (a.restarts, a.running, a.agents) = (fleet.restarts, fleet.running, fleet.agents);
        assert_eq!(
            line(&a, 398.4, 3.0),
            "[trading] ticks/s 398 | orders 57 (+3/s) | rejected 4 | restarts 2 | agents 2/3 running"
        );
        (a.restarts, a.running, a.agents) = (None, None, Some(8));
        assert!(line(&a, 0.0, 0.0).ends_with("| restarts ? | agents 8 registered"));
        a.agents = None;
        assert!(line(&a, 0.0, 0.0).ends_with("| restarts ? | agents ?"));
    }

    #[test]
    fn ps_rows_keep_only_what_the_monitor_reads() {
        let row = Value::Map(vec![
            (Value::Text("name".into()), Value::Text("risk".into())),
            (Value::Text("pid".into()), Value::Null),
            (Value::Text("state".into()), Value::Text("running".into())),
            (Value::Text("restarts".into()), Value::Integer(3.into())),
        ]);
        let rows: Vec<PsRow> = Value::Array(vec![row]).deserialized().unwrap();
        assert_eq!(
            Fleet::of(&rows),
            Fleet {
                restarts: Some(3),
                running: Some(1),
                agents: Some(1)
            }
        );
    }
}
