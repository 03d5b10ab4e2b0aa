//! PUSH/PULL between two agent processes, as in osBrain's first tutorial.
//!
//! Run: `cargo run --release --example push_pull`

use std::time::Duration;

use axon::prelude::*;
use axon::testing::wait_until;

fn log_message(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    println!("{} received: {}", ctx.name(), msg.decode::<String>()?);
    Ok(())
}

fn main() -> axon::Result<()> {
    // A re-run of this program as an agent host stops here.
    axon::init(axon::registry().handler("log_message", log_message))?;

    let ns = axon::run_nameserver()?;
    let mut alice = ns.run_agent("alice")?;
    let mut bob = ns.run_agent("bob")?;
    let addr = alice.bind(SocketKind::Push, "main")?;
    bob.connect(&addr, "main", "log_message")?;
    for _ in 0..3 {
        alice.send("main", "Hello, Bob!")?;
    }
    let delivered = wait_until(Duration::from_secs(10), || {
        bob.stats().map(|s| s.received == 3).unwrap_or(false)
    });
    ns.shutdown()?;
    if !delivered {
        return Err(axon::Error::Config(
            "bob did not receive all three messages".into(),
        ));
    }
    Ok(())
}
