//! osBrain's two channels: ASYNC_REP/ASYNC_REQ (requests that never block
//! the client, each reply to its own handler) and SYNC_PUB/SYNC_SUB (a
//! publisher that answers requests in order with its stream).
//!
//! Run: `cargo run --release --example channels`

use std::time::Duration;

use axon::prelude::*;
use axon::testing::wait_until;
use axon::RequestOptions;

fn slow_double(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult<i64> {
    let n: i64 = msg.decode()?;
    std::thread::sleep(Duration::from_millis(200));
    println!("{} doubles {n}", ctx.name());
    Ok(n * 2)
}

fn keep(agent: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let value = msg.value()?;
    let shown = serde_json::to_string(&value)?;
    println!("{} got {shown} on {}", ctx.name(), msg.alias());
    let list = agent
        .attributes
        .entry("got".into())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(items) = list {
        items.push(value);
    }
    Ok(())
}

fn got(agent: &mut Proxy) -> usize {
    agent
        .get_attr::<Vec<Value>>("got")
        .map(|v| v.len())
        .unwrap_or(0)
}

fn with(handler: &str) -> RequestOptions {
    RequestOptions {
        handler: Some(handler.into()),
        ..RequestOptions::default()
    }
}

fn main() -> axon::Result<()> {
    axon::init(
        axon::registry()
            .handler("double", slow_double)
            .handler("keep", keep),
    )?;
    let ns = axon::run_nameserver()?;

    // ASYNC: two requests to one slow server, one to another; the client keeps serving.
    let mut client = ns.run_agent("client")?;
    for name in ["server1", "server2"] {
        let mut server = ns.run_agent(name)?;
        let addr = server.bind_handler(SocketKind::AsyncRep, "rep", "double")?;
        client.connect(&addr, name, None)?;
    }
    client.request("server1", &1, with("keep"))?;
    client.request("server1", &2, with("keep"))?;
    client.request("server2", &3, with("keep"))?;
    client.ping()?;
    println!("client answered ping while its three requests were out");
    let replies = wait_until(Duration::from_secs(10), || got(&mut client) == 3);

    // SYNC: the reply comes on the stream, only to the subscriber that asked.
    let mut publisher = ns.run_agent("publisher")?;
    let stream = publisher.bind_handler(SocketKind::SyncPub, "stream", "double")?;
    let mut asker = ns.run_agent("asker")?;
    let mut listener = ns.run_agent("listener")?;
    for sub in [&mut asker, &mut listener] {
        sub.connect_topics(&stream, "stream", &[("news", "keep")])?;
    }
    let live = wait_until(Duration::from_secs(10), || {
        let _ = publisher.publish("stream", "news", "hello");
        got(&mut asker) > 0 && got(&mut listener) > 0
    });
    asker.request("stream", &21, with("keep"))?;
    let answered = wait_until(Duration::from_secs(10), || {
        asker
            .get_attr::<Vec<Value>>("got")
            .is_ok_and(|v| v.contains(&Value::Integer(42.into())))
    });
    let leaked = listener
        .get_attr::<Vec<Value>>("got")
        .is_ok_and(|v| v.contains(&Value::Integer(42.into())));
    println!("asker got its answer: {answered}; listener saw it: {leaked}");
    ns.shutdown()?;
    if !(replies && live && answered) || leaked {
        return Err(axon::Error::Config("channels did not behave".into()));
    }
    Ok(())
}
