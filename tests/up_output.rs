//! What `axon up` prints, black-box: the real binary with stdout piped (not a
//! terminal), faults injected with real signals. The start summary, a plain
//! status line every few seconds with the right counts and the deployment's
//! `[status]` text, one line per crash and per restart (from the
//! supervisor's lifecycle events), the final summary on SIGTERM; `-q` drops
//! the summary and the status line.

use std::time::Duration;

use axon::launch::Signal;
use axon::testing::Deployment;

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// An echo with a status text, a ticker feeding a counter (messages flow).
const MANIFEST: &str = r#"
[status]
agent = "echo"
attribute = "greeting"

[[agent]]
name = "echo"
kind = "echo"
restart = "permanent"
attributes = { greeting = "all is well" }
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  handler = "echo"

[[agent]]
name = "ticker"
kind = "ticker"
restart = "permanent"
attributes = { period_ms = 10 }
  [[agent.bind]]
  alias = "out"
  socket = "PUB"

[[agent]]
name = "counter"
kind = "counter"
restart = "permanent"
  [[agent.connect]]
  to = "ticker.out"
  alias = "ticks"
  handler = "count"
"#;

/// How many lines of `output` pass `check`.
fn count(output: &[String], check: impl Fn(&str) -> bool) -> usize {
    output.iter().filter(|l| check(l)).count()
}

/// A status line with a message rate above zero (the first one has no rate yet).
fn flowing(line: &str) -> bool {
    let rate = line
        .split(" | ")
        .find_map(|part| part.strip_suffix(" msg/s"));
    rate.and_then(|r| r.parse::<u64>().ok())
        .is_some_and(|r| r > 0)
}

#[test]
fn up_prints_a_summary_status_lines_events_and_a_final_summary() {
    let mut dep = Deployment::start(AXON, MANIFEST).unwrap();
    let out = dep.output();
    assert!(
        out.iter()
            .any(|l| l.starts_with("axon: 3 agents started in ")),
        "{out:#?}"
    );
    let node = format!("  node      {}", dep.endpoint());
    assert!(out.contains(&node), "{out:#?}");
    assert!(
        out.iter()
            .any(|l| l.starts_with("  logs      ") && l.ends_with("/axon.log")),
        "{out:#?}"
    );
    assert!(
        out.iter()
            .any(|l| l.contains("axon top | axon ps | axon logs -f")),
        "{out:#?}"
    );

    let calm = dep
        .wait_output("a status line with messages flowing", PATIENCE, |l| {
            l.starts_with("up ") && l.contains("| agents 3/3 running | restarts 0 |") && flowing(l)
        })
        .unwrap();
    assert!(calm.ends_with(" msg/s | all is well"), "{calm}");

    let pid = dep.kill("counter", Signal::Kill).unwrap();
    let crash = format!("axon: counter crashed (pid {pid}): signal: 9 (SIGKILL)");
    dep.wait_output("the crash", PATIENCE, |l| l == crash)
        .unwrap();
    dep.wait_output("the restart", PATIENCE, |l| {
        l.starts_with("axon: counter restarted (pid ") && l.ends_with(", restart 1)")
    })
    .unwrap();
    // A status line printed after the restart counts it; by then every event is out.
    dep.wait_output("a status line counting the restart", PATIENCE, |l| {
        l.starts_with("up ") && l.contains("| agents 3/3 running | restarts 1 |")
    })
    .unwrap();
    let out = dep.output();
    assert_eq!(count(&out, |l| l.contains(" crashed ")), 1, "{out:#?}");
    assert_eq!(count(&out, |l| l.contains(" restarted ")), 1, "{out:#?}");

    let status = dep.terminate().unwrap();
    assert!(status.success(), "{status:?}");
    let last = dep
        .wait_output("the final summary", PATIENCE, |l| {
            l.starts_with("axon: stopped after ")
        })
        .unwrap();
    assert!(
        last.ends_with("(SIGTERM): 3 agents stopped gracefully, 0 killed, 1 restart"),
        "{last}"
    );
}

#[test]
fn quiet_up_prints_only_events_that_matter_and_the_final_summary() {
    let mut dep = Deployment::start_with(AXON, MANIFEST, &["-q"]).unwrap();
    let pid = dep.kill("ticker", Signal::Kill).unwrap();
    let crash = format!("axon: ticker crashed (pid {pid}): signal: 9 (SIGKILL)");
    dep.wait_output("the crash", PATIENCE, |l| l == crash)
        .unwrap();
    dep.wait_output("the restart", PATIENCE, |l| {
        l.starts_with("axon: ticker restarted (pid ")
    })
    .unwrap();
    assert!(dep.terminate().unwrap().success());
    dep.wait_output("the final summary", PATIENCE, |l| {
        l.starts_with("axon: stopped after ")
    })
    .unwrap();
    let out = dep.output();
    assert_eq!(
        count(&out, |l| l.starts_with("up ")),
        0,
        "no status line: {out:#?}"
    );
    assert_eq!(
        count(&out, |l| l.contains("agents started")),
        0,
        "no start summary: {out:#?}"
    );
    // The ready line (for programs), crash, restart, final summary: nothing else.
    assert_eq!(out.len(), 4, "{out:#?}");
}

#[test]
fn events_keep_coming_after_the_heart_restarts_the_supervisor() {
    let mut dep = Deployment::start(AXON, MANIFEST).unwrap();
    let node = dep.kill_supervisor(PATIENCE).unwrap();
    assert_eq!(node.supervisor.incarnation, 2);
    dep.wait_output("the takeover", PATIENCE, |l| {
        l == "axon: supervisor #2 took over 3 agents"
    })
    .unwrap();
    // The new supervisor numbers its events afresh; up still sees the next crash
    // (of an adopted agent, not its child: the exit status is not known).
    let pid = dep.kill("echo", Signal::Kill).unwrap();
    let crash = format!("axon: echo crashed (pid {pid}): ");
    dep.wait_output("the crash", PATIENCE, |l| l.starts_with(&crash))
        .unwrap();
    dep.wait_output("the restart", PATIENCE, |l| {
        l.starts_with("axon: echo restarted (pid ")
    })
    .unwrap();
    let out = dep.output();
    assert_eq!(
        count(&out, |l| l.starts_with("axon: the supervisor died (")),
        1,
        "{out:#?}"
    );
    assert_eq!(count(&out, |l| l.contains(" took over ")), 1, "{out:#?}");
    assert!(dep.terminate().unwrap().success());
}

#[test]
fn a_supervisor_that_gives_up_ends_up_with_its_reason_and_a_final_summary() {
    let manifest = "[supervisor]\nintensity = 0\n\n[[agent]]\nname = \"a\"\nkind = \"counter\"\nrestart = \"permanent\"\n\n[[agent]]\nname = \"b\"\nkind = \"counter\"\nrestart = \"permanent\"\n";
    let mut dep = Deployment::start(AXON, manifest).unwrap();
    dep.kill("a", Signal::Kill).unwrap();
    let status = dep.wait_exit(PATIENCE).unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
    dep.wait_output("the final summary", PATIENCE, |l| {
        l.starts_with("axon: stopped after ")
    })
    .unwrap();
    let out = dep.output();
    assert_eq!(
        count(&out, |l| l.starts_with("axon: a crashed (pid ")),
        1,
        "{out:#?}"
    );
    let gave_up = |l: &str| {
        l.starts_with("axon: the supervisor gave up (") && l.ends_with("); stopping the deployment")
    };
    assert_eq!(count(&out, gave_up), 1, "{out:#?}");
    let last = out.last().unwrap();
    assert!(
        last.ends_with(
            "(the supervisor gave up): 1 agent stopped gracefully, 0 killed, 0 restarts"
        ),
        "{out:#?}"
    );
}
