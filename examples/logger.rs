//! A logger agent collects the log events of every agent (osBrain's
//! `run_logger`); its history is queried through its proxy.
//!
//! Run: `cargo run --release --example logger`

use std::time::Duration;

use axon::logging::LogRecord;
use axon::prelude::*;
use axon::testing::wait_until;

fn work(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let job: String = msg.decode()?;
    tracing::debug!(job = %job, "details only a debug agent shows");
    tracing::info!(job = %job, "working");
    if job == "bad" {
        tracing::warn!(agent = ctx.name(), "this job looks wrong");
    }
    Ok(())
}

fn main() -> axon::Result<()> {
    axon::init(axon::registry().handler("work", work))?;
    let ns = axon::run_nameserver()?;
    let mut logger = ns.spawn(SpawnOptions::default().name("logger").kind("logger"))?;
    let mut alice = ns.run_agent("alice")?;
    let mut bob = ns.spawn(SpawnOptions::default().name("bob").log("debug"))?;

    // Connections to the logger come up asynchronously: repeat until the events are in.
    let arrived = wait_until(Duration::from_secs(10), || {
        let _ = alice.execute::<_, Value>("work", "bad");
        let _ = bob.execute::<_, Value>("work", "good");
        let history: Vec<LogRecord> = logger.execute("history", &()).unwrap_or_default();
        let from = |name: &str| history.iter().any(|r| r.agent == name);
        from("alice") && from("bob")
    });
    let history: Vec<LogRecord> = logger.execute("history", &serde_json::json!({"limit": 10}))?;
    println!("the logger's last {} records:", history.len());
    for record in history {
        println!("  {}", record.line());
    }
    ns.shutdown()?;
    if !arrived {
        return Err(axon::Error::Config("the logger heard nothing".into()));
    }
    Ok(())
}
