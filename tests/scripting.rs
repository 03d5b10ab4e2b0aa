//! Live code, black-box (ACCEPTANCE L1): free-form attributes, rhai scripts
//! loaded into running agents as methods and handlers, their limits, and
//! their survival across a SIGKILL, driven through the real `axon` CLI.

use std::process::Output;
use std::time::Duration;

use axon::launch::Signal;
use axon::testing::{self, Deployment};
use axon::Value;

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
