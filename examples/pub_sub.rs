//! PUB/SUB topic matching (ZeroMQ prefix match), the matrix of osBrain's tests.
//!
//! The publisher sends "Hello" (no topic), "World" on "foo", "FOO" on
//! "foobar" and "BAR" on "fo"; five subscribers keep what reaches them in
//! their `received` attribute, and the script prints it.
//!
//! Run: `cargo run --release --example pub_sub`

use std::time::Duration;

use axon::prelude::*;
use axon::testing::wait_until;

/// Appends the message text to the `received` attribute.
fn keep(agent: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let text: String = msg.decode()?;
    let received = agent
        .attributes
        .entry("received".into())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = received {
        list.push(Value::Text(text));
    }
    Ok(())
}

/// Notes that the subscription is live (probes arrive on the "ready" topic).
fn ready(agent: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let text: String = msg.decode()?;
    agent.attributes.insert(text, Value::Bool(true));
    Ok(())
}

fn has(agent: &mut Proxy, attribute: &str) -> bool {
    agent.get_attr::<bool>(attribute).unwrap_or(false)
}

fn main() -> axon::Result<()> {
    axon::init(
        axon::registry()
            .handler("keep", keep)
            .handler("ready", ready),
    )?;

    let ns = axon::run_nameserver()?;
    let mut publisher = ns.run_agent("publisher")?;
    let addr = publisher.bind(SocketKind::Pub, "main")?;
    let subscriptions: [(&str, &[&str]); 5] = [
        ("sub-all", &[""]),
        ("sub-foo", &["foo"]),
        ("sub-foo-bar", &["foo", "bar"]),
        ("sub-bar", &["bar"]),
        ("sub-fo", &["fo"]),
    ];
    let mut subscribers = Vec::new();
    for (name, topics) in subscriptions {
        let mut sub = ns.run_agent(name)?;
        sub.set_attr("received", &Vec::<String>::new())?;
        let mut handlers: Vec<(&str, &str)> = topics.iter().map(|t| (*t, "keep")).collect();
        handlers.push(("\u{1}ready", "ready"));
        sub.connect_topics(&addr, "main", &handlers)?;
        subscribers.push(sub);
    }
    // Subscriptions reach the publisher asynchronously: probe until every one is in.
    let live = wait_until(Duration::from_secs(10), || {
        let _ = publisher.publish("main", "\u{1}ready", "live");
        subscribers.iter_mut().all(|s| has(s, "live"))
    });
    publisher.send("main", "Hello")?;
    publisher.publish("main", "foo", "World")?;
    publisher.publish("main", "foobar", "FOO")?;
    publisher.publish("main", "fo", "BAR")?;
    // Delivery is in order per subscriber: once "done" is in, everything before it is too.
    publisher.publish("main", "\u{1}ready", "done")?;
    let done = wait_until(Duration::from_secs(10), || {
        subscribers.iter_mut().all(|s| has(s, "done"))
    });
    for sub in &mut subscribers {
        let received: Vec<String> = sub.get_attr("received")?;
        println!("{:<12} received: {received:?}", sub.name());
    }
    ns.shutdown()?;
    if !(live && done) {
        return Err(axon::Error::Config(
            "subscribers did not hear everything in time".into(),
        ));
    }
    Ok(())
}
