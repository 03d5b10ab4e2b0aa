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

/// Supervision for every deployment here: restarts, and a heartbeat that notices a hang soon.
const SUPERVISOR: &str = r#"
[supervisor]
strategy = "one_for_one"
intensity = 10
period = "10s"
heartbeat = "1s"
"#;

/// Runs `agents` (manifest tables) under [`SUPERVISOR`] with the real `axon up`.
fn up(agents: &str) -> Deployment {
    let manifest = format!("{SUPERVISOR}{agents}");
    Deployment::start(AXON, &manifest).expect("deployment starts")
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

const SCRIPTED: &str = r#"

[[agent]]
name = "peer"
kind = "echo"
  [[agent.bind]]
  alias = "pub"
  socket = "PUB"
  [[agent.bind]]
  alias = "rep"
  socket = "REP"
  handler = "echo"
  [[agent.bind]]
  alias = "sink"
  socket = "PULL"
  handler = "echo"

[[agent]]
name = "scripted"
kind = "script"
  [agent.script_limits]
  operations = 50000
  [[agent.script]]
  source = """
fn double(x) { x * 2 }
fn on_msg(msg) { set_attr("seen", (get_attr("seen") ?? 0) + 1); }
fn on_topic(msg, topic) { set_attr("last", topic + ":" + msg); }
fn tick() { set_attr("ticks", (get_attr("ticks") ?? 0) + 1); }
fn once() { set_attr("once", (get_attr("once") ?? 0) + 1); }
fn done() { set_attr("done", true); }
fn on_reply(msg) { set_attr("reply", msg); }
"""
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  handler = "on_msg"
  [[agent.bind]]
  alias = "rep"
  socket = "REP"
  handler = "double"
  [[agent.connect]]
  to = "peer.pub"
  alias = "sub"
  handler = "on_topic"
  topics = ["news"]
  [[agent.connect]]
  to = "peer.rep"
  alias = "ask"
  [[agent.connect]]
  to = "peer.sink"
  alias = "to_sink"
  [[agent.bind]]
  alias = "bulletin"
  socket = "PUB"

[[agent]]
name = "listener"
kind = "script"
  [[agent.script]]
  source = "fn heard(msg, topic) { set_attr(\"heard\", topic + \"=\" + msg); }"
  [[agent.connect]]
  to = "scripted.bulletin"
  alias = "sub"
  handler = "heard"
  topics = ["alerts"]

[[agent]]
name = "client"
kind = "echo"
  [[agent.connect]]
  to = "scripted.in"
  alias = "out"
  [[agent.connect]]
  to = "scripted.rep"
  alias = "req"
"#;

fn exec(dep: &Deployment, agent: &str, source: &str) -> String {
    let args = serde_json::json!({ "source": source }).to_string();
    cli_ok(dep, &["call", agent, "exec", &args])
}

fn exec_err(dep: &Deployment, agent: &str, source: &str) -> String {
    let args = serde_json::json!({ "source": source }).to_string();
    cli_err(dep, &["call", agent, "exec", &args])
}

fn text_attr(dep: &Deployment, agent: &str, name: &str) -> Option<String> {
    let args = format!(r#"{{"name":"{name}"}}"#);
    let out = dep.cli(&["call", agent, "get_attr", &args]).ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

fn stats(dep: &Deployment, agent: &str) -> axon::Stats {
    dep.proxy(agent).unwrap().stats().unwrap()
}

#[test]
fn a_script_kind_from_a_manifest_serves_every_pattern_with_no_compilation() {
    let dep = up(SCRIPTED);
    // PULL with a scripted handler.
    for (n, seen) in [(1, 1), (2, 2)] {
        let send = format!(r#"{{"alias":"out","message":{n}}}"#);
        cli_ok(&dep, &["call", "client", "send", &send]);
        assert!(testing::wait_until(PATIENCE, || attr(
            &dep, "scripted", "seen"
        ) == Some(seen)));
    }
    // REP: the function's value is the reply.
    let reply = cli_ok(
        &dep,
        &[
            "call",
            "client",
            "request",
            r#"{"alias":"req","message":21}"#,
        ],
    );
    assert_eq!(reply, "42");
    // SUB with (msg, topic); the subscription may take a moment to reach the publisher.
    let published = testing::wait_until(PATIENCE, || {
        let send = r#"{"alias":"pub","topic":"news","message":"hi"}"#;
        cli_ok(&dep, &["call", "peer", "send", send]);
        text_attr(&dep, "scripted", "last").is_some()
    });
    assert!(published);
    assert_eq!(
        text_attr(&dep, "scripted", "last").as_deref(),
        Some("news:hi")
    );
    // A request from a script; its reply goes to a script function.
    let id = exec(&dep, "scripted", r#"request("ask", "ping!", "on_reply")"#);
    assert!(id.parse::<u64>().is_ok(), "{id}");
    assert!(testing::wait_until(PATIENCE, || {
        text_attr(&dep, "scripted", "reply").as_deref() == Some("ping!")
    }));
    // Sends from a script, each taken by the peer's handler once.
    let before = stats(&dep, "peer").received;
    exec(
        &dep,
        "scripted",
        r#"send("to_sink", 1); send("to_sink", #{ a: [1, 2] });"#,
    );
    assert!(testing::wait_until(PATIENCE, || stats(&dep, "peer")
        .received
        == before + 2));
    // Publishes from a script reach a SUB whose topic matches, and only those.
    let heard = testing::wait_until(PATIENCE, || {
        exec(
            &dep,
            "scripted",
            r#"publish("bulletin", "alerts", "fire"); publish("bulletin", "sports", "goal")"#,
        );
        text_attr(&dep, "listener", "heard").is_some()
    });
    assert!(heard);
    assert_eq!(
        text_attr(&dep, "listener", "heard").as_deref(),
        Some("alerts=fire")
    );
    let handlers = cli_ok(&dep, &["call", "scripted", "handlers"]);
    assert!(
        handlers.contains("on_topic") && handlers.contains("double"),
        "{handlers}"
    );
}

#[test]
fn timers_run_script_functions() {
    let dep = up(SCRIPTED);
    exec(&dep, "scripted", r#"after(10, "once"); after(60, "done")"#);
    let done = || exec(&dep, "scripted", r#"get_attr("done")"#) == "true";
    assert!(testing::wait_until(PATIENCE, done));
    assert_eq!(attr(&dep, "scripted", "once"), Some(1));

    let alias: String =
        serde_json::from_str(&exec(&dep, "scripted", r#"each(10, "tick")"#)).unwrap();
    assert!(testing::wait_until(PATIENCE, || attr(
        &dep, "scripted", "ticks"
    )
    .is_some_and(|t| t >= 3)));
    exec(&dep, "scripted", &format!("stop_timer({alias:?})"));
    let ticks = attr(&dep, "scripted", "ticks").unwrap();
    exec(
        &dep,
        "scripted",
        r#"set_attr("done", false); after(60, "done")"#,
    );
    assert!(testing::wait_until(PATIENCE, done));
    assert_eq!(attr(&dep, "scripted", "ticks"), Some(ticks));
}

#[test]
fn runaway_failing_and_sandboxed_scripts_error_and_the_agent_serves_on() {
    let dep = up(SCRIPTED);
    let pid = dep.pid("scripted").unwrap();
    let base = stats(&dep, "scripted").script_errors;

    let e = exec_err(&dep, "scripted", "let x = 0;\n  loop { x += 1; }");
    assert!(e.contains("operation limit of 50000 exceeded"), "{e}");
    assert!(e.contains("line 2, column"), "{e}");
    let set = serde_json::json!({"name": "spin", "source": "fn spin() {\n  while true {}\n}"});
    cli_ok(&dep, &["call", "scripted", "set_method", &set.to_string()]);
    // rhai places a limit hit inside a called function at the call; a method has none: the
    // error names the function and where it is defined.
    let e = cli_err(&dep, &["call", "scripted", "spin"]);
    assert!(
        e.contains("line 1, column 1: operation limit of 50000 exceeded in fn spin"),
        "{e}"
    );
    let e = exec_err(&dep, "scripted", "let s = \"x\";\nloop { s += s; }");
    assert!(e.contains("over the size limit"), "{e}");
    let e = exec_err(&dep, "scripted", "let a = [];\na.pad(10000000, 0);");
    assert!(e.contains("over the size limit"), "{e}");
    let bad = serde_json::json!({"source": "fn ok() { 1 }\nfn broken( { }"});
    let e = cli_err(&dep, &["call", "scripted", "load_script", &bad.to_string()]);
    assert!(
        e.contains("bad_arguments") && e.contains("line 2, column"),
        "{e}"
    );
    let e = exec_err(&dep, "scripted", r#"open("/etc/passwd")"#);
    assert!(e.contains("Function not found: open"), "{e}");
    let e = exec_err(&dep, "scripted", r#"import "fs" as fs;"#);
    assert!(e.contains("line 1"), "{e}");
    let e = exec_err(&dep, "scripted", r#"eval("1")"#);
    assert!(e.contains("line 1"), "{e}");

    // A failing scripted handler is a handler error, not a crash.
    let failing =
        serde_json::json!({"name": "on_msg", "source": "fn on_msg(msg) { throw `bad ${msg}`; }"});
    cli_ok(
        &dep,
        &["call", "scripted", "set_method", &failing.to_string()],
    );
    let handler_errors = stats(&dep, "scripted").handler_errors;
    cli_ok(
        &dep,
        &["call", "client", "send", r#"{"alias":"out","message":9}"#],
    );
    assert!(testing::wait_until(PATIENCE, || {
        stats(&dep, "scripted").handler_errors == handler_errors + 1
    }));

    cli_ok(&dep, &["call", "scripted", "ping"]);
    assert_eq!(dep.pid("scripted"), Some(pid));
    assert_eq!(stats(&dep, "scripted").script_errors, base + 9);
    // Still serving scripts and messages.
    assert_eq!(cli_ok(&dep, &["call", "scripted", "double", "[5]"]), "10");
}

#[test]
fn a_manifest_with_a_bad_script_is_refused_with_both_lines() {
    let dir = TempDir::new("scripting-manifest");
    let manifest = dir.0.join("deploy.toml");
    std::fs::write(
        dir.0.join("bad.rhai"),
        "fn a() { 1 }\nfn b() { let = 2; }\n",
    )
    .unwrap();
    std::fs::write(
        &manifest,
        "[[agent]]\nname = \"s\"\nkind = \"script\"\n  [[agent.script]]\n  file = \"bad.rhai\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(AXON)
        .args(["up", "--check", manifest.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = stderr(&out);
    assert!(
        e.contains("line 4") && e.contains("bad.rhai") && e.contains("line 2, column"),
        "{e}"
    );
}
