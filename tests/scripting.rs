//! Live code, black-box (ACCEPTANCE L1): free-form attributes, rhai scripts
//! loaded into running agents as methods and handlers, their limits, and
//! their survival across a SIGKILL, driven through the real `axon` CLI.

use std::process::Output;
use std::time::Duration;

use axon::launch::Signal;
use axon::testing::{self, Deployment};
use axon::Value;

mod common;
use common::TempDir;

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const AXON: &str = env!("CARGO_BIN_EXE_axon");

fn up(manifest: &str) -> Deployment {
    Deployment::start(AXON, manifest).expect("deployment starts")
}

/// Runs the CLI; its stdout when it succeeded, else a panic with its stderr.
fn cli_ok(dep: &Deployment, args: &[&str]) -> String {
    let out = dep.cli(args).expect("the cli runs");
    assert!(out.status.success(), "axon {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Runs the CLI expecting a failure; its stderr.
fn cli_err(dep: &Deployment, args: &[&str]) -> String {
    let out = dep.cli(args).expect("the cli runs");
    assert!(!out.status.success(), "axon {args:?} succeeded");
    stderr(&out)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const ECHO: &str = r#"
[supervisor]
strategy = "one_for_one"
intensity = 10
period = "10s"
heartbeat = "1s"

[[agent]]
name = "echo"
kind = "echo"
"#;

#[test]
fn free_form_attributes_on_a_typed_kind_survive_a_sigkill() {
    let dep = up(ECHO);
    let set = |v: &str| cli_ok(&dep, &["call", "echo", "set_attr", v]);
    set(r#"{"name":"k1","value":1}"#);
    set(r#"{"name":"k2","value":{"a":[1,2]}}"#);
    set(r#"{"name":"k1","value":"now text"}"#);
    assert_eq!(
        cli_ok(&dep, &["call", "echo", "get_attr", r#"{"name":"k1"}"#]),
        r#""now text""#
    );
    let reserved = cli_err(
        &dep,
        &["call", "echo", "set_attr", r#"{"name":"pid","value":1}"#],
    );
    assert!(reserved.contains("reserved"), "{reserved}");

    let old = dep.kill("echo", Signal::Kill).unwrap();
    dep.wait_restarted("echo", old, PATIENCE).unwrap();
    let mut p = dep.proxy("echo").unwrap();
    assert_eq!(p.get_attr::<String>("k1").unwrap(), "now text");
    let k2: Value = p.get_attr("k2").unwrap();
    assert_eq!(
        k2,
        Value::Map(vec![(
            Value::Text("a".into()),
            Value::Array(vec![Value::Integer(1.into()), Value::Integer(2.into())])
        )])
    );
}

const WORKER: &str = r#"
[supervisor]
strategy = "one_for_one"
intensity = 10
period = "10s"
heartbeat = "1s"

[[agent]]
name = "worker"
kind = "echo"

[[agent]]
name = "feeder"
kind = "echo"
  [[agent.bind]]
  alias = "out"
  socket = "PUSH"
"#;

const COUNTING: &str = r#"
// Doubles; `axon call worker double 21` prints 42.
fn double(x) { x * 2 }

// Counts messages and sums them in free-form attributes.
fn on_msg(msg) {
    set_attr("seen", (get_attr("seen") ?? 0) + 1);
    set_attr("sum", (get_attr("sum") ?? 0) + msg);
}
"#;

/// The integer attribute `name` of `agent` through the CLI; `None` while unset.
fn attr(dep: &Deployment, agent: &str, name: &str) -> Option<i64> {
    let args = format!(r#"{{"name":"{name}"}}"#);
    let out = dep.cli(&["call", agent, "get_attr", &args]).ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Sends `n` from the feeder and waits until the worker has seen `seen` messages.
fn feed_until_seen(dep: &Deployment, n: i64, seen: i64) {
    let send = format!(r#"{{"alias":"out","message":{n}}}"#);
    cli_ok(dep, &["call", "feeder", "send", &send]);
    assert!(
        testing::wait_until(PATIENCE, || attr(dep, "worker", "seen") == Some(seen)),
        "worker saw {:?} messages, not {seen}",
        attr(dep, "worker", "seen")
    );
}

#[test]
fn from_the_cli_a_script_becomes_a_method_and_a_handler_and_survives_a_sigkill() {
    let dep = up(WORKER);
    let dir = TempDir::new("scripting-cli");
    let file = dir.0.join("counting.rhai");
    std::fs::write(&file, COUNTING).unwrap();
    let file = file.to_str().unwrap();

    let loaded = cli_ok(&dep, &["script", "worker", file]);
    assert!(
        loaded.contains("double/1") && loaded.contains("on_msg/1"),
        "{loaded}"
    );
    assert_eq!(cli_ok(&dep, &["call", "worker", "double", "21"]), "42");
    assert_eq!(cli_ok(&dep, &["call", "worker", "double", "[2.5]"]), "5.0");
    let arity = cli_err(&dep, &["call", "worker", "double", "[1, 2]"]);
    assert!(
        arity.contains("bad_arguments") || arity.contains("takes [1] arguments"),
        "{arity}"
    );
    let handlers = cli_ok(&dep, &["call", "worker", "handlers"]);
    assert!(handlers.contains("on_msg"), "{handlers}");

    // The worker's PULL connects to the feeder's PUSH, its messages to the script.
    let feeder_out = cli_ok(&dep, &["call", "feeder", "addr", r#"{"alias":"out"}"#]);
    let connect = format!(r#"{{"address":{feeder_out},"alias":"feed","handler":"on_msg"}}"#);
    cli_ok(&dep, &["call", "worker", "connect", &connect]);
    feed_until_seen(&dep, 5, 1);
    feed_until_seen(&dep, 7, 2);
    assert_eq!(attr(&dep, "worker", "sum"), Some(12));

    let old = dep.kill("worker", Signal::Kill).unwrap();
    let status = dep.wait_restarted("worker", old, PATIENCE).unwrap();
    assert_ne!(status.pid, Some(old));
    // The method and the scripted handler came back with the journal; the counts did not.
    assert_eq!(cli_ok(&dep, &["call", "worker", "double", "4"]), "8");
    assert_eq!(attr(&dep, "worker", "seen"), None);
    feed_until_seen(&dep, 3, 1);
    assert_eq!(attr(&dep, "worker", "sum"), Some(3));
}
