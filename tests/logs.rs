//! The node's log file and `axon logs`, black-box: a deployment run by the
//! real `axon up`, agents that log through scripts (`axon call A exec`),
//! the real CLI reading the file (docs/logging.md).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use axon::launch::Signal;
use axon::logging::{LogRecord, LOG_FILE};
use axon::testing::{wait_until, Deployment};

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const AXON: &str = env!("CARGO_BIN_EXE_axon");

const TWO: &str = r#"
[supervisor]
intensity = 10
period = "10s"

[[agent]]
name = "a"
kind = "echo"
restart = "permanent"

[[agent]]
name = "b"
kind = "echo"
"#;

fn up() -> Deployment {
    Deployment::start(AXON, TWO).expect("deployment starts")
}

/// Runs the CLI; its stdout when it succeeded, else a panic with its stderr.
fn cli_ok(dep: &Deployment, args: &[&str]) -> String {
    let out = dep.cli(args).expect("the cli runs");
    assert!(out.status.success(), "axon {args:?}: {}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Has `agent` log `text` at `level` (a script's `log`).
fn log(dep: &Deployment, agent: &str, level: &str, text: &str) {
    let source = format!("log({level:?}, {text:?})");
    let args = serde_json::json!({ "source": source }).to_string();
    cli_ok(dep, &["call", agent, "exec", &args]);
}

/// Every line of the node's log file (and its `.1`), as written.
fn file_lines(dep: &Deployment) -> Vec<String> {
    let path = dep.runtime_dir().expect("a runtime dir").join(LOG_FILE);
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines().map(str::to_owned).collect()
}

/// The records of the log file whose message is `message`, once there are `n` of them.
fn records_saying(dep: &Deployment, message: &str, n: usize) -> Vec<LogRecord> {
    let mut found = Vec::new();
    let arrived = wait_until(PATIENCE, || {
        found = file_lines(dep)
            .iter()
            .filter_map(|l| LogRecord::from_json(l))
            .filter(|r| r.message == message)
            .collect();
        found.len() >= n
    });
    assert!(
        arrived,
        "{n} records {message:?} in the log file: {found:?}"
    );
    found
}

#[test]
fn every_process_logs_to_the_node_s_file_in_one_json_format() {
    let dep = up();
    let a = dep.pid("a").unwrap();
    log(&dep, "a", "warn", "marker one");
    let marker = records_saying(&dep, "marker one", 1);
    assert_eq!(marker.len(), 1, "{marker:?}");
    let m = &marker[0];
    assert_eq!(
        (m.agent.as_str(), m.level.as_str(), m.pid),
        ("a", "WARN", a)
    );
    assert_eq!(m.fields.get("script").map(String::as_str), Some("true"));
    // Every line is one JSON record with its time in RFC 3339 UTC with milliseconds.
    let lines = file_lines(&dep);
    for line in &lines {
        assert!(LogRecord::from_json(line).is_some(), "not a record: {line}");
        let time = &line[line.find("\"time\":\"").unwrap() + 8..][..25];
        assert!(
            time.ends_with("Z\"") && time.as_bytes()[19] == b'.',
            "{line}"
        );
    }
    // The name server's lifecycle events and `up`'s own are there too.
    let records: Vec<LogRecord> = lines
        .iter()
        .filter_map(|l| LogRecord::from_json(l))
        .collect();
    let spawned: Vec<&str> = records
        .iter()
        .filter(|r| r.agent == "nameserver" && r.message == "agent spawned")
        .map(|r| r.fields["agent"].as_str())
        .collect();
    assert_eq!(spawned, ["a", "b"]);
    let serving = records.iter().filter(|r| r.message == "agent serving");
    let mut serving: Vec<&str> = serving.map(|r| r.agent.as_str()).collect();
    serving.sort();
    assert_eq!(serving, ["a", "b"]);
    dep.stop().unwrap();
}

#[test]
fn logs_pick_one_agent_from_a_level_since_a_time_exactly() {
    let dep = up();
    for (agent, level, text) in [
        ("a", "info", "first info"),
        ("a", "warn", "first warn"),
        ("b", "error", "b error"),
        ("a", "error", "first error"),
        ("a", "debug", "first debug"),
    ] {
        log(&dep, agent, level, text);
    }
    // After the first batch: a time that is later than all of it.
    let t0 = axon::clock::now_ms() + 1;
    assert!(wait_until(PATIENCE, || axon::clock::now_ms() >= t0));
    log(&dep, "a", "warn", "second warn");
    log(&dep, "a", "info", "second info");
    records_saying(&dep, "second info", 1);

    let messages = |args: &[&str]| -> Vec<String> {
        let out = cli_ok(&dep, args);
        let lines = out.lines();
        lines
            .map(|l| l.split_once("]: ").unwrap().1.to_owned())
            .collect()
    };
    let at_least_warn = messages(&["logs", "a", "--level", "warn", "--since", "1m"]);
    assert_eq!(
        at_least_warn,
        [
            "first warn agent=a script=true",
            "first error agent=a script=true",
            "second warn agent=a script=true"
        ]
    );
    let since = axon::clock::rfc3339(t0);
    let later = messages(&["logs", "a", "--since", &since]);
    assert_eq!(
        later,
        [
            "second warn agent=a script=true",
            "second info agent=a script=true"
        ]
    );
    assert_eq!(
        messages(&["logs", "b", "--level", "ERROR", "-n", "5"]),
        ["b error agent=b script=true"]
    );
    // -n: the last ones.
    assert_eq!(
        messages(&["logs", "a", "--level", "warn", "-n", "1"]),
        ["second warn agent=a script=true"]
    );
    // Lines carry the time as RFC 3339 UTC with milliseconds.
    let out = cli_ok(&dep, &["logs", "a", "-n", "1"]);
    let time = out.split_whitespace().next().unwrap();
    assert_eq!(
        axon::logging::parse_since(time, 0).map(axon::clock::rfc3339),
        Ok(time.to_owned())
    );
    assert_eq!(time.len(), "2026-12-07T22:41:03.127Z".len(), "{out}");
    dep.stop().unwrap();
}

/// `axon logs -f ...` run against `dep`, its stdout lines coming through the receiver.
fn follow(dep: &Deployment, args: &[&str]) -> (KillOnDrop, mpsc::Receiver<String>) {
    let mut child = Command::new(AXON)
        .arg("logs")
        .arg("-f")
        .args(args)
        .env("AXON_NAMESERVER", dep.endpoint())
        .env("AXON_KEY_FILE", dep.key_file())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("axon logs -f runs");
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (KillOnDrop(child), rx)
}

/// A child process killed and reaped when the test ends, also when it fails.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The next line of `rx` that contains `text`, within the patience.
fn line_with(rx: &mpsc::Receiver<String>, text: &str) -> Option<String> {
    let deadline = std::time::Instant::now() + PATIENCE;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(text) => return Some(line),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn follow_prints_what_is_logged_after_it_started_also_after_a_restart() {
    let dep = up();
    let (_follower, rx) = follow(&dep, &["a", "--level", "warn"]);
    log(&dep, "a", "warn", "before the follower looked");
    assert!(line_with(&rx, "before the follower looked").is_some());
    log(&dep, "b", "warn", "not a's");
    log(&dep, "a", "info", "below the level");
    log(&dep, "a", "error", "after it started");
    let line = line_with(&rx, "after it started").expect("the follower prints a new event");
    assert!(line.contains("ERROR a["), "{line}");

    // SIGKILLed and restarted, the agent logs to the same file, and the follower sees it.
    let old = dep.pid("a").unwrap();
    dep.kill("a", Signal::Kill).unwrap();
    let new = dep.wait_restarted("a", old, PATIENCE).unwrap().pid.unwrap();
    log(&dep, "a", "warn", "after the restart");
    let line = line_with(&rx, "after the restart").expect("the restarted agent's event");
    assert!(
        line.contains(&format!(" WARN a[{new}]: after the restart")),
        "{line}"
    );
    // What the follower printed of a, in order: nothing of b's, nothing below warn.
    let pids: Vec<u32> = file_lines(&dep)
        .iter()
        .filter_map(|l| LogRecord::from_json(l))
        .filter(|r| r.agent == "a" && r.fields.contains_key("script"))
        .map(|r| r.pid)
        .collect();
    assert_eq!(pids, [old, old, old, new]);
    let exited = records_saying(&dep, "agent exited", 1);
    assert!(
        exited.iter().any(|r| r.fields["pid"] == old.to_string()),
        "{exited:?}"
    );
    dep.stop().unwrap();
}

#[test]
fn after_a_supervisor_takeover_the_new_supervisor_and_the_adopted_agents_log_to_the_same_file() {
    let dep = up();
    let a = dep.pid("a").unwrap();
    let old = dep.node_status().unwrap().supervisor.pid;
    let new = dep.kill_supervisor(PATIENCE).unwrap().supervisor.pid;
    // The adopted agent (same process) still writes the file it opened.
    assert_eq!(dep.pid("a"), Some(a));
    log(&dep, "a", "warn", "adopted");
    let adopted = records_saying(&dep, "adopted", 1);
    assert_eq!((adopted.len(), adopted[0].pid), (1, a));
    // Both supervisors' events are in it, each under its own pid.
    let serving: Vec<u32> = records_saying(&dep, "name server serving", 2)
        .iter()
        .map(|r| r.pid)
        .collect();
    assert_eq!(serving, [old, new]);
    dep.stop().unwrap();
}

#[test]
fn bad_levels_and_times_are_refused_clearly() {
    for (args, says) in [
        (
            &["logs", "--level", "loud"][..],
            "\"loud\" is not a level: expected error, warn, info, debug or trace",
        ),
        (
            &["logs", "--since", "yesterday"][..],
            "\"yesterday\" is neither a duration",
        ),
        (
            &["logs", "--since", "2026-13-01T00:00:00Z"][..],
            "is neither a duration",
        ),
        (&["logs", "-n", "many"][..], "invalid value 'many'"),
    ] {
        let out = Command::new(AXON)
            .args(args)
            .env_remove("AXON_NAMESERVER")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
}
