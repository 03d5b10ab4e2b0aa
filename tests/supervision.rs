//! Self-healing, black-box: deployments run by the real `axon up`, faults
//! injected with real signals (ACCEPTANCE P1-P7, B2).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use axon::launch::Signal;
use axon::testing::{self, Deployment};
use axon::{Agent, AgentSpec, Ctx, HandlerResult, Handlers, Message, Registry};

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// A kind only this test binary hosts: proves `bin` + `args` in a manifest.
#[derive(Debug, Default)]
struct Doubler;

impl Agent for Doubler {
    const KIND: &'static str = "test.doubler";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(Doubler)
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("double", Doubler::double);
    }
}

impl Doubler {
    fn double(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<i64> {
        Ok(msg.decode::<i64>()? * 2)
    }
}

axon::test_host!(Registry::new().kind::<Doubler>());

fn up(manifest: &str) -> Deployment {
    Deployment::start(AXON, manifest).expect("deployment starts")
}

fn count(dep: &Deployment, agent: &str, alias: &str) -> u64 {
    let Ok(mut p) = dep.proxy(agent) else {
        return 0;
    };
    p.get_attr::<BTreeMap<String, u64>>("count")
        .ok()
        .and_then(|c| c.get(alias).copied())
        .unwrap_or(0)
}

/// Waits until `agent`'s count on `alias` passes `above`.
fn counts_past(dep: &Deployment, agent: &str, alias: &str, above: u64) -> bool {
    testing::wait_until(PATIENCE, || count(dep, agent, alias) > above)
}

const P1: &str = r#"
[supervisor]
strategy = "one_for_one"
intensity = 10
period = "10s"
heartbeat = "1s"

[[agent]]
name = "ticker"
kind = "ticker"
attributes = { period_ms = 10, topic = "t" }
  [[agent.bind]]
  alias = "out"
  socket = "PUB"
  transport = "tcp"

[[agent]]
name = "counter"
kind = "counter"
  [[agent.connect]]
  to = "ticker.out"
  alias = "in"
  handler = "count"

[[agent]]
name = "echo"
kind = "echo"
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "tcp"
  serializer = "raw"
  handler = "echo"
"#;

#[test]
fn p1_one_for_one_restores_the_killed_agent_and_its_configuration() {
    let dep = up(P1);
    assert!(counts_past(&dep, "counter", "in", 0), "ticks flow");
    let pids = |names: &[&str]| -> Vec<Option<u32>> { names.iter().map(|n| dep.pid(n)).collect() };

    // Configuration made remotely, after start: a timer, an attribute, a bind, a subscription.
    let mut counter = dep.proxy("counter").unwrap();
    counter
        .each(Duration::from_millis(20), Some("beat"), "count", &())
        .unwrap();
    counter.set_attr("total", &1_000_000u64).unwrap();
    let extra = counter
        .bind_handler(axon::SocketKind::Pull, "extra", "count")
        .unwrap();
    assert!(counts_past(&dep, "counter", "beat", 0));

    // A plain ZeroMQ REQ peer of echo, which must keep working across echo's restart.
    let ctx = zmq::Context::new();
    let peer = ctx.socket(zmq::REQ).unwrap();
    peer.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    peer.set_linger(0).unwrap();
    let echo_addr = dep.nameserver().addr("echo", "main").unwrap();
    peer.connect(&echo_addr.endpoint).unwrap();
    peer.send("before", 0).unwrap();
    assert_eq!(peer.recv_bytes(0).unwrap(), b"before");

    // Kill the counter: restarted under its name, with its configuration.
    let before = pids(&["ticker", "echo"]);
    let old = dep.kill("counter", Signal::Kill).unwrap();
    let status = dep.wait_restarted("counter", old, PATIENCE).unwrap();
    assert_eq!(status.restarts, 1);
    assert!(
        status
            .last_exit
            .as_deref()
            .unwrap_or("")
            .contains("SIGKILL"),
        "{status:?}"
    );
    assert_eq!(
        pids(&["ticker", "echo"]),
        before,
        "the others keep their pids"
    );
    let mut counter = dep.proxy("counter").unwrap();
    assert!(counter.list_timers().unwrap().contains(&"beat".to_string()));
    assert!(
        counts_past(&dep, "counter", "beat", 0),
        "the timer runs again"
    );
    assert!(
        counts_past(&dep, "counter", "in", 0),
        "its connect was replayed"
    );
    assert!(counter.get_attr::<u64>("total").unwrap() >= 1_000_000);
    assert_eq!(
        counter.addr("extra").unwrap().endpoint,
        extra.endpoint,
        "same address"
    );

    // Kill the ticker: it binds the same tcp port, and the counter hears it again untouched.
    let ticker_addr = dep.nameserver().addr("ticker", "out").unwrap();
    let counter_pid = dep.pid("counter");
    let heard = count(&dep, "counter", "in");
    let old = dep.kill("ticker", Signal::Kill).unwrap();
    dep.wait_restarted("ticker", old, PATIENCE).unwrap();
    assert_eq!(
        dep.nameserver().addr("ticker", "out").unwrap().endpoint,
        ticker_addr.endpoint
    );
    assert!(
        counts_past(&dep, "counter", "in", heard + 20),
        "peers resume on their own"
    );
    assert_eq!(dep.pid("counter"), counter_pid);

    // Kill echo: the same REQ socket, untouched, is answered by the new incarnation.
    let old = dep.kill("echo", Signal::Kill).unwrap();
    dep.wait_restarted("echo", old, PATIENCE).unwrap();
    peer.send("after", 0).unwrap();
    assert_eq!(peer.recv_bytes(0).unwrap(), b"after");
    dep.stop().unwrap();
}

fn three(strategy: &str) -> String {
    let mut m =
        format!("[supervisor]\nstrategy = \"{strategy}\"\nintensity = 10\nperiod = \"10s\"\n");
    for name in ["a", "b", "c"] {
        m += &format!("\n[[agent]]\nname = \"{name}\"\nkind = \"counter\"\n");
    }
    m
}

#[test]
fn p2_one_for_all_restarts_everyone_and_rest_for_one_those_started_after() {
    let dep = up(&three("one_for_all"));
    let before: Vec<u32> = ["a", "b", "c"]
        .iter()
        .map(|n| dep.pid(n).unwrap())
        .collect();
    dep.kill("b", Signal::Kill).unwrap();
    for (name, old) in ["a", "b", "c"].iter().zip(&before) {
        let s = dep.wait_restarted(name, *old, PATIENCE).unwrap();
        assert_eq!(s.restarts, 1, "{s:?}");
    }
    drop(dep);

    let dep = up(&three("rest_for_one"));
    let before: Vec<u32> = ["a", "b", "c"]
        .iter()
        .map(|n| dep.pid(n).unwrap())
        .collect();
    dep.kill("b", Signal::Kill).unwrap();
    dep.wait_restarted("b", before[1], PATIENCE).unwrap();
    dep.wait_restarted("c", before[2], PATIENCE).unwrap();
    let a = dep.status("a").unwrap();
    assert_eq!(
        (a.pid, a.restarts),
        (Some(before[0]), 0),
        "started before b: untouched"
    );
    dep.stop().unwrap();
}

#[test]
fn p3_too_many_restarts_make_the_supervisor_give_up_without_a_storm() {
    let manifest = r#"
[supervisor]
intensity = 2
period = "60s"
backoff = "10ms"
escalate = false

[[agent]]
name = "flaky"
kind = "counter"

[[agent]]
name = "steady"
kind = "counter"
"#;
    let dep = up(manifest);
    let steady_pid = dep.pid("steady").unwrap();
    for _ in 0..2 {
        let old = dep.pid("flaky").unwrap();
        dep.kill("flaky", Signal::Kill).unwrap();
        dep.wait_restarted("flaky", old, PATIENCE).unwrap();
    }
    dep.kill("flaky", Signal::Kill).unwrap();
    let failed = dep.wait_state("flaky", "failed", PATIENCE).unwrap();
    assert_eq!((failed.pid, failed.restarts), (None, 2));
    // The whole group is given up (OTP: the supervisor stops all its children).
    let stopped = testing::wait_until(PATIENCE, || {
        dep.status("steady")
            .is_ok_and(|s| s.state == "failed" && s.pid.is_none())
    });
    assert!(stopped, "{:?}", dep.status("steady"));
    assert!(!testing::process_alive(steady_pid));
    // No logger agent needed: `axon logs` reads the node's log file.
    let out = dep
        .cli(&["logs", "nameserver", "--level", "error"])
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let gave_up: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("supervisor gave up"))
        .collect();
    assert_eq!(gave_up.len(), 1, "{stdout}");
    assert!(gave_up[0].contains(" ERROR nameserver["), "{stdout}");
    let again = dep.status("flaky").unwrap();
    assert_eq!(
        (again.state.as_str(), again.restarts),
        ("failed", 2),
        "no restart storm"
    );
    dep.stop().unwrap();

    // With escalation (the default), giving up ends the node and `axon up` fails.
    let manifest = "[supervisor]\nintensity = 0\n\n[[agent]]\nname = \"a\"\nkind = \"counter\"\n";
    let mut dep = up(manifest);
    dep.kill("a", Signal::Kill).unwrap();
    let status = dep.wait_exit(PATIENCE).unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
}

#[test]
fn p4_transient_restarts_only_after_a_crash_and_temporary_never() {
    let manifest = r#"
[[agent]]
name = "transient"
kind = "counter"
restart = "transient"

[[agent]]
name = "crashy"
kind = "counter"
restart = "transient"

[[agent]]
name = "temporary"
kind = "counter"
restart = "temporary"
"#;
    let dep = up(manifest);
    // A normal exit (asked to shut down) is not restarted.
    dep.proxy("transient").unwrap().shutdown().unwrap();
    let s = dep.wait_state("transient", "stopped", PATIENCE).unwrap();
    assert_eq!((s.pid, s.restarts), (None, 0));
    // A crash is.
    let old = dep.kill("crashy", Signal::Kill).unwrap();
    dep.wait_restarted("crashy", old, PATIENCE).unwrap();
    // A temporary agent is never restarted.
    dep.kill("temporary", Signal::Kill).unwrap();
    let s = dep.wait_state("temporary", "exited", PATIENCE).unwrap();
    assert_eq!((s.pid, s.restarts), (None, 0));
    dep.stop().unwrap();
}

#[test]
fn p5_a_hung_agent_is_detected_by_missed_heartbeats_and_restarted() {
    let manifest = r#"
[supervisor]
heartbeat = "1s"

[[agent]]
name = "sleepy"
kind = "counter"
"#;
    let dep = up(manifest);
    let old = dep.kill("sleepy", Signal::Stop).unwrap();
    let s = dep.wait_restarted("sleepy", old, PATIENCE).unwrap();
    let why = s.last_exit.unwrap_or_default();
    assert!(why.contains("hung") && why.contains("heartbeat"), "{why}");
    assert!(
        !testing::process_alive(old),
        "the stopped process was killed"
    );
    dep.stop().unwrap();
}

#[test]
fn p6_an_agent_over_its_memory_limit_is_restarted_and_the_reason_recorded() {
    // Any agent process is above 1 MiB resident: the limit trips at the first sample.
    let manifest = r#"
[supervisor]
intensity = 100
period = "1s"

[[agent]]
name = "hungry"
kind = "counter"
memory_limit = "1MiB"

[[agent]]
name = "modest"
kind = "counter"
memory_limit = "1GiB"
"#;
    let dep = up(manifest);
    let old = dep.pid("hungry").unwrap();
    let modest = dep.pid("modest");
    let mut reason = String::new();
    let restarted = testing::wait_until(PATIENCE, || {
        let s = dep.status("hungry").unwrap();
        reason = s.last_exit.unwrap_or_default();
        s.restarts > 0
    });
    assert!(restarted, "hungry restarted");
    assert!(reason.contains("memory limit exceeded"), "{reason}");
    assert!(!testing::process_alive(old));
    assert_eq!(dep.pid("modest"), modest, "under its limit: untouched");
    dep.stop().unwrap();
}

#[test]
fn p7_ps_shows_pid_state_restarts_uptime_cpu_and_memory() {
    let dep = up(P1);
    assert!(counts_past(&dep, "counter", "in", 0));
    let old = dep.kill("echo", Signal::Kill).unwrap();
    dep.wait_restarted("echo", old, PATIENCE).unwrap();

    let ps_json = || {
        let out = dep.cli(&["ps", "--json"]).unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
    };
    // The message counters are the ones each agent reported with its last lease renewal.
    let counted = |list: &[serde_json::Value]| {
        list.iter()
            .any(|a| a["name"] == "counter" && a["msgs_in"].as_u64().is_some_and(|n| n > 0))
    };
    let mut list = ps_json();
    assert!(testing::wait_until(PATIENCE, || {
        list = ps_json();
        counted(&list)
    }));
    let names: Vec<&str> = list.iter().filter_map(|a| a["name"].as_str()).collect();
    assert_eq!(names, ["ticker", "counter", "echo"]);
    for a in &list {
        assert!(a["pid"].as_u64().is_some_and(|p| p > 0), "{a}");
        assert_eq!(a["state"], "running", "{a}");
        assert!(a["kind"].is_string() && a["uptime_ms"].is_u64(), "{a}");
        assert!(a["rss"].as_u64().is_some_and(|r| r > 1 << 20), "{a}");
        assert!(a["cpu"].is_number(), "{a}");
    }
    let echo = list.iter().find(|a| a["name"] == "echo").unwrap();
    assert_eq!(echo["restarts"], 1);
    let counter = list.iter().find(|a| a["name"] == "counter").unwrap();
    assert!(
        counter["msgs_in"].as_u64().is_some_and(|n| n > 0),
        "{counter}"
    );

    let out = dep.cli(&["ps"]).unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    let header = table.lines().next().unwrap_or("");
    for column in ["PID", "STATE", "RESTARTS", "UPTIME", "CPU%", "RSS"] {
        assert!(header.contains(column), "{table}");
    }
    let echo_line = table.lines().find(|l| l.starts_with("echo")).unwrap();
    assert!(
        echo_line.contains("running") && echo_line.contains("SIGKILL"),
        "{table}"
    );
    dep.stop().unwrap();
}

#[test]
fn kill_from_the_cli_is_fault_injection_and_custom_kinds_come_from_a_bin() {
    let host = testing::host_command().unwrap();
    let args: Vec<String> = host.args.iter().map(|a| format!("{a:?}")).collect();
    let manifest = format!(
        r#"
[[agent]]
name = "doubler"
kind = "test.doubler"
bin = {bin:?}
args = [{args}]
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  serializer = "json"
  handler = "double"
"#,
        bin = host.program.display().to_string(),
        args = args.join(", ")
    );
    let dep = up(&manifest);
    // A plain ZeroMQ REQ peer; it keeps its socket across the restart.
    let ctx = zmq::Context::new();
    let peer = ctx.socket(zmq::REQ).unwrap();
    peer.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    peer.set_linger(0).unwrap();
    let endpoint = dep.nameserver().addr("doubler", "main").unwrap().endpoint;
    peer.connect(&endpoint).unwrap();
    let ask = |n: &str| -> Vec<u8> {
        peer.send(n, 0).unwrap();
        peer.recv_bytes(0).unwrap()
    };
    assert_eq!(ask("21"), b"42");
    let old = dep.pid("doubler").unwrap();
    let out = dep.cli(&["kill", "doubler", "--signal", "KILL"]).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dep.wait_restarted("doubler", old, PATIENCE).unwrap();
    assert_eq!(ask("5"), b"10");
    let out = dep.cli(&["kill", "nobody"]).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("no running agent named \"nobody\""),
        "{stderr}"
    );
    dep.stop().unwrap();
}

/// Runs `axon up FLAGS` on `manifest` until it exits; returns its stdout and stderr.
fn run_up(flags: &[&str], manifest: &str) -> (std::process::ExitStatus, String, String) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("axon-up-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("deploy.toml");
    std::fs::write(&file, manifest).unwrap();
    let out = Command::new(AXON)
        .arg("up")
        .args(flags)
        .arg(&file)
        .env_remove("AXON_NAMESERVER")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status, text(&out.stdout), text(&out.stderr))
}

/// Runs `axon up` on a bad manifest: it must refuse, name the line, and start nothing.
fn refused(manifest: &str) -> String {
    let (status, stdout, stderr) = run_up(&[], manifest);
    assert_eq!(status.code(), Some(1), "refused: {stderr}");
    assert!(
        !stdout.contains("AXON-UP-READY"),
        "nothing started: {stdout}"
    );
    assert!(
        !stderr.contains("name server serving"),
        "nothing started: {stderr}"
    );
    stderr
}

#[test]
fn b2_bad_manifests_are_refused_with_their_line_before_anything_starts() {
    let unknown_field = "[[agent]]\nname = \"a\"\nkind = \"echo\"\ncolour = \"red\"\n";
    let e = refused(unknown_field);
    assert!(e.contains("line 4") && e.contains("colour"), "{e}");

    let bad_addr = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n  [[agent.bind]]\n  alias = \"m\"\n  socket = \"REP\"\n  transport = \"tcp\"\n  addr = \"127.0.0.1:notaport\"\n";
    let e = refused(bad_addr);
    assert!(e.contains("line 8"), "{e}");

    let duplicate =
        "[[agent]]\nname = \"a\"\nkind = \"echo\"\n\n[[agent]]\nname = \"a\"\nkind = \"counter\"\n";
    let e = refused(duplicate);
    assert!(e.contains("line 6") && e.contains("duplicate"), "{e}");

    let unknown_kind = "[[agent]]\nname = \"a\"\nkind = \"nope\"\n";
    let e = refused(unknown_kind);
    assert!(
        e.contains("line 3") && e.contains("unknown agent kind"),
        "{e}"
    );

    let bad_kind = "[[agent]]\nname = \"a\"\nkind = \"echo\"\n  [[agent.bind]]\n  alias = \"m\"\n  socket = \"REQQ\"\n";
    let e = refused(bad_kind);
    assert!(e.contains("line 6"), "{e}");

    // A good manifest, with every table the bad ones broke, passes the same checks.
    let good = "[supervisor]\nstrategy = \"one_for_one\"\nheartbeat = \"500ms\"\n\n[chaos]\nevery = \"3s\"\ntargets = [\"counter\"]\nsignal = \"KILL\"\n\n[[agent]]\nname = \"ticker\"\nkind = \"ticker\"\nattributes = { period_ms = 10 }\n  [[agent.bind]]\n  alias = \"out\"\n  socket = \"PUB\"\n  transport = \"tcp\"\n  addr = \"127.0.0.1\"\n\n[[agent]]\nname = \"counter\"\nkind = \"counter\"\n  [[agent.connect]]\n  to = \"ticker.out\"\n  alias = \"ticks\"\n  handler = \"count\"\n  topics = [\"tick\"]\n";
    let (status, stdout, stderr) = run_up(&["--check"], good);
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("valid (2 agents"), "{stdout}");
}

#[test]
fn agents_spawned_from_code_are_supervised_by_the_policy_given_at_spawn() {
    use axon::{BindOptions, Restart, Serializer, SocketKind, SpawnOptions};
    let ns = testing::node().unwrap();
    let spawn = SpawnOptions::default()
        .name("kept")
        .kind("test.doubler")
        .restart(Restart::Permanent);
    let mut kept = ns.spawn(spawn).unwrap();
    let bind = BindOptions {
        alias: Some("main".into()),
        serializer: Some(Serializer::Json),
        handler: Some("double".into()),
        ..BindOptions::default()
    };
    let addr = kept.bind_with(SocketKind::Rep, bind).unwrap();
    let ctx = zmq::Context::new();
    let peer = ctx.socket(zmq::REQ).unwrap();
    peer.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    peer.set_linger(0).unwrap();
    peer.connect(&addr.endpoint).unwrap();
    let ask = |n: &str| -> Vec<u8> {
        peer.send(n, 0).unwrap();
        peer.recv_bytes(0).unwrap()
    };
    assert_eq!(ask("4"), b"8");

    let old = ns.signal("kept", Signal::Kill).unwrap();
    let back = testing::wait_until(PATIENCE, || {
        ns.ps()
            .unwrap()
            .iter()
            .any(|s| s.name == "kept" && s.state == "running" && s.pid.is_some_and(|p| p != old))
    });
    assert!(back, "{:?}", ns.ps());
    assert_eq!(ns.addr("kept", "main").unwrap().endpoint, addr.endpoint);
    assert_eq!(
        ask("5"),
        b"10",
        "the same peer socket, answered by the new process"
    );

    // Without a restart policy an agent is temporary: listed, never restarted.
    ns.spawn(SpawnOptions::default().name("once").kind("test.doubler"))
        .unwrap();
    ns.signal("once", Signal::Kill).unwrap();
    let gone = testing::wait_until(PATIENCE, || {
        ns.ps()
            .unwrap()
            .iter()
            .any(|s| s.name == "once" && s.state == "exited" && s.pid.is_none() && s.restarts == 0)
    });
    assert!(gone, "{:?}", ns.ps());
    ns.shutdown().unwrap();
}

#[test]
fn an_agent_that_cannot_start_stops_axon_up_with_its_reason_and_is_not_restarted() {
    let bad = "[[agent]]\nname = \"t\"\nkind = \"ticker\"\nattributes = { period_ms = 0 }\n";
    let (status, stdout, e) = run_up(&[], bad);
    assert_eq!(status.code(), Some(1), "{e}");
    assert!(!stdout.contains("AXON-UP-READY"), "{stdout}");
    assert!(e.contains("period_ms must be at least 1"), "{e}");
    assert!(
        !e.contains("restart scheduled"),
        "a failed first start is not restarted: {e}"
    );
}
