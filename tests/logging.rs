//! Logging: ACCEPTANCE L1 (a logger agent collects every agent's events) and L2 (stderr without one).

mod common;

use std::io::Read;
use std::process::Stdio;

use axon::logging::LogRecord;
use axon::prelude::*;
use axon::testing::{self, wait_until};
use common::PATIENCE;

axon::test_host!(common::registry().kind::<Gated>());

/// An agent that does not start (so does not register) before the file named by its
/// `gate` attribute exists.
#[derive(Debug, Default)]
struct Gated;

impl Agent for Gated {
    const KIND: &'static str = "test.gated";

    fn create(spec: &AgentSpec) -> HandlerResult<Self> {
        let gate = spec
            .attributes
            .get("gate")
            .and_then(|v| v.as_text())
            .ok_or_else(|| HandlerError::msg("no gate attribute"))?;
        let open = testing::wait_until(PATIENCE, || std::path::Path::new(gate).exists());
        match open {
            true => Ok(Gated),
            false => Err(HandlerError::msg("the gate never opened")),
        }
    }

    fn set_attr(&mut self, name: &str, _: Value) -> HandlerResult {
        match name {
            // Read by `create` already.
            "gate" => Ok(()),
            _ => Err(HandlerError::msg(format_args!("no attribute {name:?}"))),
        }
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on(
            "log_levels",
            |_: &mut Gated, _: &mut Ctx<'_, Gated>, msg: Message<'_>| {
                let marker: String = msg.decode()?;
                tracing::info!(marker = %marker, "info event");
                tracing::warn!(marker = %marker, "warn event");
                tracing::error!(marker = %marker, "error event");
                HandlerResult::Ok(())
            },
        );
    }
}

fn history(logger: &mut Proxy, agent: &str) -> Vec<LogRecord> {
    let query = serde_json::json!({ "agent": agent });
    logger.execute("history", &query).unwrap_or_default()
}

fn levels_with(records: &[LogRecord], marker: &str) -> Vec<String> {
    let tagged = records
        .iter()
        .filter(|r| r.fields.get("marker").map(String::as_str) == Some(marker));
    tagged.map(|r| r.level.clone()).collect()
}

/// Has `agent` log until the logger holds its info, warn and error events.
fn logged(agent: &mut Proxy, logger: &mut Proxy, marker: &str) -> Vec<String> {
    let name = agent.name().to_owned();
    let mut levels = Vec::new();
    // A publisher's first events can go before its connection to the logger is up: retry.
    let arrived = wait_until(PATIENCE, || {
        agent.execute::<_, Value>("log_levels", marker).unwrap();
        levels = levels_with(&history(logger, &name), marker);
        levels.contains(&"ERROR".to_string())
    });
    assert!(arrived, "{name}'s events never reached the logger");
    levels
}

#[test]
fn a_logger_collects_every_agents_events_with_debug_only_when_enabled() {
    let ns = testing::node().unwrap();
    let mut before = ns.run_agent("before").unwrap();
    let mut logger = ns
        .spawn(SpawnOptions::default().name("log").kind("logger"))
        .unwrap();
    let mut after = ns.run_agent("after").unwrap();
    let mut chatty = ns
        .spawn(SpawnOptions::default().name("chatty").log("debug"))
        .unwrap();

    for agent in [&mut before, &mut after] {
        let levels = logged(agent, &mut logger, "m1");
        assert!(levels.iter().all(|l| l != "DEBUG"), "{levels:?}");
        for level in ["INFO", "WARN", "ERROR"] {
            assert!(
                levels.iter().any(|l| l == level),
                "{level} missing: {levels:?}"
            );
        }
    }
    let levels = logged(&mut chatty, &mut logger, "m2");
    assert!(levels.iter().any(|l| l == "DEBUG"), "{levels:?}");

    let record = history(&mut logger, "after")
        .into_iter()
        .find(|r| r.level == "WARN")
        .unwrap();
    assert_eq!(
        (record.agent.as_str(), record.message.as_str()),
        ("after", "warn event")
    );
    assert!(record.time_ms > 0);
    ns.shutdown().unwrap();
}

#[test]
fn an_agent_still_starting_when_the_logger_comes_is_pointed_at_it() {
    let ns = testing::node().unwrap();
    let tmp = common::TempDir::new("logging-gate");
    let gate = tmp.0.join("open");
    // Spawned before there is a logger: its spawn gives it none. It waits at the gate.
    let spawn = SpawnOptions::default()
        .name("late")
        .kind("test.gated")
        .attribute("gate", gate.display().to_string())
        .unwrap();
    let starting = {
        let endpoint = ns.address().to_owned();
        std::thread::spawn(move || {
            let ns = NameServer::connect(&endpoint, PATIENCE).unwrap();
            ns.spawn(spawn).map(|_| ())
        })
    };
    assert!(wait_until(PATIENCE, || ns
        .ps()
        .unwrap()
        .iter()
        .any(|s| s.name == "late" && s.pid.is_some())));
    let mut logger = ns
        .spawn(SpawnOptions::default().name("log").kind("logger"))
        .unwrap();
    // The name server knows the logger once it knows the logger's socket.
    assert!(wait_until(PATIENCE, || ns.addr("log", "logs").is_ok()));
    std::fs::write(&gate, b"").unwrap();
    starting.join().unwrap().unwrap();
    let mut late = ns.proxy("late").unwrap();
    let levels = logged(&mut late, &mut logger, "m4");
    assert!(levels.contains(&"WARN".to_string()), "{levels:?}");
    ns.shutdown().unwrap();
}

#[test]
fn without_a_logger_events_go_to_stderr_readably() {
    let tmp = common::TempDir::new("l2");
    let dir = &tmp.0;
    let spec = AgentSpec::new("solo", "agent", dir);
    let mut child = testing::host_command()
        .unwrap()
        .command("agent")
        .env(axon::launch::AGENT_ENV, spec.to_env().unwrap())
        .env_remove("AXON_KEY")
        .env(axon::protocol::auth::INSECURE_ENV, "1")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let control = dir.join("solo.ctl");
    assert!(
        wait_until(PATIENCE, || control.exists()),
        "agent never bound its control socket"
    );
    let mut solo = Proxy::open("solo", format!("ipc://{}", control.display())).unwrap();
    solo.set_key(None);
    solo.set_timeout(PATIENCE);
    solo.execute::<_, Value>("log_levels", "m3").unwrap();
    solo.shutdown().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    child.wait().unwrap();
    let line = stderr
        .lines()
        .find(|l| l.contains("warn event"))
        .unwrap_or_else(|| panic!("no warn line in:\n{stderr}"));
    assert!(
        line.contains("WARN") && line.contains("solo") && line.contains("marker=m3"),
        "{line}"
    );
    assert!(
        !stderr.contains("debug event"),
        "debug is off by default:\n{stderr}"
    );
}
