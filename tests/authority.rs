//! Who may make a node do what: ACCEPTANCE B3 and C7. The wire names kinds
//! and agents, never programs or pids; a request is signed for one
//! destination, once; a wrong or missing key is refused at once.

mod common;

use std::process::{Command, Stdio};

use axon::prelude::*;
use axon::protocol::{self as wire, Request};
use axon::testing::{self, wait_until};
use axon::RemoteError;
use common::PATIENCE;

axon::test_host!(common::registry());

const AXON: &str = env!("CARGO_BIN_EXE_axon");

fn map(json: serde_json::Value) -> Value {
    Value::serialized(&json).unwrap()
}

fn refused(err: &axon::Error) -> &RemoteError {
    let e = err
        .remote()
        .unwrap_or_else(|| panic!("not a refusal: {err}"));
    assert_eq!(e.kind, ErrorKind::Refused, "{e}");
    e
}

#[test]
fn a_spawn_that_names_a_program_is_refused_and_runs_nothing() {
    let tmp = common::TempDir::new("authority-spawn");
    let marker = tmp.0.join("ran");
    let ns = testing::node().unwrap();
    let mut p = Proxy::open(wire::NAMESERVER, ns.address()).unwrap();
    p.set_timeout(PATIENCE);
    let shell = format!("touch {}", marker.display());
    for field in ["program", "bin", "command"] {
        let args = map(serde_json::json!({
            "name": "intruder",
            field: {"program": "/bin/sh", "args": ["-c", shell]},
        }));
        let err = p.call::<_, Value>("spawn", args).unwrap_err();
        let e = refused(&err);
        assert!(e.message.contains("never a program"), "{e}");
    }
    // Refused before anything started: no process, no registration, no file.
    assert!(ns.ps().unwrap().is_empty());
    assert!(ns.agents().unwrap().is_empty());
    assert!(!marker.exists());
    // The node still spawns by kind.
    ns.spawn(SpawnOptions::default().name("fine").kind("echo"))
        .unwrap()
        .ping()
        .unwrap();
    ns.shutdown().unwrap();
}

/// A process of the test's own, registered under an agent name by a key holder.
struct Bystander(std::process::Child);

impl Drop for Bystander {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn state_of(pid: u32) -> String {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(')').unwrap();
    rest.split_whitespace().next().unwrap().to_owned()
}

#[test]
fn signals_reach_only_the_supervisors_own_children() {
    let ns = testing::node().unwrap();
    let sleeper = Bystander(
        Command::new("sleep")
            .arg("600")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let pid = sleeper.0.id();
    let mut p = Proxy::open(wire::NAMESERVER, ns.address()).unwrap();
    p.set_timeout(PATIENCE);
    let register = map(serde_json::json!({
        "name": "decoy", "kind": "agent", "pid": pid, "control": "ipc:///nonexistent",
        "lease_ms": 60_000,
    }));
    let _: Value = p.call("register", register).unwrap();
    for signal in [axon::launch::Signal::Stop, axon::launch::Signal::Kill] {
        let err = ns.signal("decoy", signal).unwrap_err();
        let e = refused(&err);
        assert!(e.message.contains("not started by this supervisor"), "{e}");
    }
    // Neither stopped (T) nor killed (gone, or a zombie): sleeping, or still starting up.
    let state = state_of(pid);
    assert!(
        matches!(state.as_str(), "S" | "R" | "D"),
        "the bystander is {state}"
    );
    // Its own children are reached, by name.
    ns.spawn(SpawnOptions::default().name("child")).unwrap();
    let child = ns.info("child").unwrap().pid;
    let sent = ns.signal("child", axon::launch::Signal::Kill).unwrap();
    assert_eq!(sent, child);
    assert!(wait_until(PATIENCE, || !ns
        .agents()
        .unwrap()
        .contains(&"child".into())));
    ns.shutdown().unwrap();
}

/// A request for `to`, signed with the deployment key, as a thief would capture it.
fn captured(to: &str, method: &str) -> (Vec<u8>, Vec<u8>) {
    let body = wire::encode_body(&Request::new(7, to, method, Value::Null, false)).unwrap();
    let key = axon::protocol::auth::process_key().expect("the node installed a key");
    (key.sign(&body), body)
}

fn send_raw(endpoint: &str, signature: &[u8], body: &[u8]) -> wire::Reply {
    let dealer = zmq::Context::new().socket(zmq::DEALER).unwrap();
    dealer.set_linger(0).unwrap();
    dealer.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    dealer.connect(endpoint).unwrap();
    dealer
        .send_multipart([wire::PROTOCOL, signature, body], 0)
        .unwrap();
    let frames = dealer.recv_multipart(0).unwrap();
    wire::decode_body(&frames[2]).unwrap()
}

fn refusal_of(reply: wire::Reply) -> RemoteError {
    match reply.result {
        wire::Outcome::Err(e) if e.kind == ErrorKind::Refused => e,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_request_signed_for_one_destination_is_refused_at_every_other() {
    let ns = testing::node().unwrap();
    let mut a = ns.run_agent("a").unwrap();
    let mut b = ns.run_agent("b").unwrap();
    let (signature, body) = captured("a", "shutdown");
    // Replayed to another agent, and to the name server (which would stop the whole node).
    let e = refusal_of(send_raw(&ns.info("b").unwrap().control, &signature, &body));
    assert!(e.message.contains("signed for \"a\""), "{e}");
    let e = refusal_of(send_raw(ns.address(), &signature, &body));
    assert!(e.message.contains("signed for \"a\""), "{e}");
    b.ping().unwrap();
    assert_eq!(b.stats().unwrap().refused, 1);
    assert_eq!(ns.agents().unwrap(), ["a", "b"]);
    // At its destination it works once; the replay there is refused too.
    let (signature, body) = captured("a", "ping");
    let control = ns.info("a").unwrap().control;
    let first = send_raw(&control, &signature, &body);
    assert_eq!(first.result, wire::Outcome::Ok(Value::Text("pong".into())));
    let e = refusal_of(send_raw(&control, &signature, &body));
    assert!(e.message.contains("replayed"), "{e}");
    a.ping().unwrap();
    ns.shutdown().unwrap();
}

#[test]
fn a_process_without_a_key_refuses_everything_unless_started_insecure() {
    let tmp = common::TempDir::new("authority-nokey");
    for insecure in [false, true] {
        let name = if insecure { "open" } else { "closed" };
        let spec = AgentSpec::new(name, "agent", &tmp.0);
        let mut cmd = testing::host_command().unwrap().command("agent");
        cmd.env(axon::launch::AGENT_ENV, spec.to_env().unwrap())
            .env_remove(axon::protocol::auth::KEY_ENV)
            .env_remove(axon::protocol::auth::KEY_FILE_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if insecure {
            cmd.env(axon::protocol::auth::INSECURE_ENV, "1");
        } else {
            cmd.env_remove(axon::protocol::auth::INSECURE_ENV);
        }
        let agent = Bystander(cmd.spawn().unwrap());
        let control = tmp.0.join(format!("{name}.ctl"));
        assert!(wait_until(PATIENCE, || control.exists()));
        let mut p = Proxy::open(name, format!("ipc://{}", control.display())).unwrap();
        p.set_key(None);
        p.set_timeout(PATIENCE);
        match insecure {
            true => p.ping().unwrap(),
            false => {
                let err = p.ping().unwrap_err();
                assert!(refused(&err).message.contains("no deployment key"), "{err}");
            }
        }
        let _: Value = p.oneway("kill", ()).map(|()| Value::Null).unwrap();
        drop(agent);
    }
}

#[test]
fn the_cli_says_refused_for_a_wrong_key_and_honours_axon_key() {
    let ns = testing::node().unwrap();
    ns.run_agent("a").unwrap();
    let cli = |key: &str| {
        Command::new(AXON)
            .args([
                "call",
                "a",
                "ping",
                "--timeout",
                "60s",
                "--ns",
                ns.address(),
            ])
            .env(axon::protocol::auth::KEY_ENV, key)
            .env_remove(axon::protocol::auth::KEY_FILE_ENV)
            .env_remove("AXON_NAMESERVER")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let wrong = axon::protocol::auth::Key::generate().unwrap().to_hex();
    let out = cli(&wrong);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Refused, not a timeout: the call waits up to 60 s for an answer that never verifies.
    assert_eq!(out.status.code(), Some(77), "{stderr}");
    assert!(
        stderr.contains("refused: signature does not verify"),
        "{stderr}"
    );
    let right = axon::protocol::auth::process_key().unwrap().to_hex();
    let out = cli(&right);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "\"pong\"");
    let out = cli("not hex");
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("AXON_KEY"));
    ns.shutdown().unwrap();
}
