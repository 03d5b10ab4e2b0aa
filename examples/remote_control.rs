//! Reconfigure a running agent from outside, as osBrain does through Pyro4
//! proxies: attach a handler to a socket, set attributes, add and stop a timer.
//!
//! Run: `cargo run --release --example remote_control`

use std::time::Duration;

use axon::prelude::*;
use axon::testing::wait_until;

/// Counts what it receives into the `seen` attribute.
fn count(agent: &mut BasicAgent, _: &mut Ctx<BasicAgent>, _: Message) -> HandlerResult {
    let seen = agent
        .attributes
        .get("seen")
        .and_then(|v| v.as_integer())
        .map_or(0, i128::from);
    agent
        .attributes
        .insert("seen".into(), Value::Integer((seen as i64 + 1).into()));
    Ok(())
}

/// Multiplies every message by the `factor` attribute and prints it.
fn scale(agent: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let factor = agent
        .attributes
        .get("factor")
        .and_then(|v| v.as_integer())
        .map_or(1, i128::from);
    let n: i64 = msg.decode()?;
    println!("{} scaled {n} to {}", ctx.name(), i128::from(n) * factor);
    count(agent, ctx, msg)
}

/// Sends the next number on `out` (a timer action).
fn tick(agent: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, _: Message) -> HandlerResult {
    let n = agent
        .attributes
        .get("n")
        .and_then(|v| v.as_integer())
        .map_or(0, i128::from) as i64
        + 1;
    agent
        .attributes
        .insert("n".into(), Value::Integer(n.into()));
    ctx.send("out", &n)?;
    Ok(())
}

fn seen(agent: &mut Proxy) -> i64 {
    agent.get_attr("seen").unwrap_or(0)
}

fn main() -> axon::Result<()> {
    axon::init(
        axon::registry()
            .handler("count", count)
            .handler("scale", scale)
            .handler("tick", tick),
    )?;

    let ns = axon::run_nameserver()?;
    let mut source = ns.run_agent("source")?;
    let mut sink = ns.run_agent("sink")?;
    let addr = sink.bind_handler(SocketKind::Pull, "in", "count")?;
    source.connect(&addr, "out", None)?;

    // A timer added from outside: the source sends a number every 50 ms.
    source.each(Duration::from_millis(50), Some("ticker"), "tick", &())?;
    let counting = wait_until(Duration::from_secs(10), || seen(&mut sink) >= 3);
    println!(
        "sink counted {} messages with handler `count`",
        seen(&mut sink)
    );

    // New behaviour while it runs: an attribute and another handler on the same socket.
    sink.set_attr("factor", &10)?;
    sink.set_handler("in", "scale")?;
    let before = seen(&mut sink);
    let scaling = wait_until(Duration::from_secs(10), || seen(&mut sink) >= before + 3);

    source.stop_timer("ticker")?;
    println!("timers left on source: {:?}", source.list_timers()?);
    println!("sink handlers on offer: {:?}", sink.handlers()?);
    ns.shutdown()?;
    if !(counting && scaling) {
        return Err(axon::Error::Config(
            "the sink did not see the expected messages".into(),
        ));
    }
    Ok(())
}
