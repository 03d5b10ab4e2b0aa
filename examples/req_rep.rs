//! REQ/REP: the replier's handler return value is the reply; a handler
//! error comes back as an error, never a hang.
//!
//! Run: `cargo run --release --example req_rep`

use std::time::Duration;

use axon::prelude::*;

fn shout(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult<String> {
    let text: String = msg.decode()?;
    println!("{} received: {text}", ctx.name());
    if text.is_empty() {
        return Err(HandlerError::msg("nothing to shout"));
    }
    Ok(text.to_uppercase())
}

fn main() -> axon::Result<()> {
    axon::init(axon::registry().handler("shout", shout))?;

    let ns = axon::run_nameserver()?;
    let mut server = ns.run_agent("server")?;
    let mut client = ns.run_agent("client")?;
    let addr = server.bind_handler(SocketKind::Rep, "main", "shout")?;
    client.connect(&addr, "main", None)?;
    for text in ["hello", "world"] {
        let reply: String = client.request_wait("main", text, Duration::from_secs(5))?;
        println!("client received: {reply}");
    }
    match client.request_wait::<_, String>("main", "", Duration::from_secs(5)) {
        Ok(reply) => println!("client received: {reply} (unexpected)"),
        Err(e) => println!("client received an error: {e}"),
    }
    ns.shutdown()?;
    Ok(())
}
