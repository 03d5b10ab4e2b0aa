//! The name server end to end: real processes, real sockets, real signals.
//!
//! Run by `cargo test -p axon-supervisor`. This binary is its own host
//! command: re-run with `AXON_ROLE=nameserver` it is a name server, with
//! `AXON_ROLE=agent` an agent host (hence `harness = false` and the small
//! runner in `main`).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axon_runtime::launch::{signal, HostCommand, Signal};
use axon_runtime::launch::{AgentSpec, ROLE_ENV};
use axon_runtime::protocol::{self as wire, Outcome, Reply, Request};
use axon_runtime::{
    BasicAgent, Ctx, Error, ErrorKind, HandlerResult, Message, Proxy, Registry, Value,
};
use axon_supervisor::{NameServer, NodeOptions, SpawnOptions};
use serde::Serialize;

/// Time any single condition may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

fn main() {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("nameserver") => std::process::exit(match axon_supervisor::run_nameserver_process() {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("name server failed: {e}");
                1
            }
        }),
        Ok("agent") => std::process::exit(host_agent()),
        _ => run_tests(),
    }
}

fn host_agent() -> i32 {
    let Ok(Some(spec)) = AgentSpec::from_env() else {
        eprintln!("agent role without a usable spec");
        return 3;
    };
    Registry::new().handler("stuck", stuck).host(spec)
}

/// Hangs its agent, so that only SIGKILL ends it.
fn stuck(_: &mut BasicAgent, _: &mut Ctx<'_, BasicAgent>, _: Message<'_>) -> HandlerResult<()> {
    std::thread::sleep(Duration::from_secs(3600));
    Ok(())
}

type Test = (&'static str, fn());

const TESTS: &[Test] = &[
    ("records_answer_by_hand", records_answer_by_hand),
    ("malformed_messages", malformed_messages),
    ("spawn_names_and_exits", spawn_names_and_exits),
    (
        "shutdown_agent_waits_for_the_exit",
        shutdown_agent_waits_for_the_exit,
    ),
    ("shutdown_ends_everything", shutdown_ends_everything),
    ("sigterm_is_a_shutdown", sigterm_is_a_shutdown),
    ("drop_cleans_up", drop_cleans_up),
    ("tcp_bind_and_connect", tcp_bind_and_connect),
    ("start_and_connect_failures", start_and_connect_failures),
    (
        "a_panicking_request_is_answered_internal",
        a_panicking_request_is_answered_internal,
    ),
    (
        "a_panic_outside_a_request_stops_everything",
        a_panic_outside_a_request_stops_everything,
    ),
];

/// Runs the tests named by the arguments (all when none), one at a time.
fn run_tests() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        TESTS.iter().for_each(|(name, _)| println!("{name}: test"));
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let chosen: Vec<&Test> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let failed: Vec<&str> = chosen
        .iter()
        .filter(|(name, test)| {
            let ok = std::panic::catch_unwind(test).is_ok();
            println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
            !ok
        })
        .map(|(name, _)| *name)
        .collect();
    println!(
        "\ntest result: {}. {} passed; {} failed",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len()
    );
    if !failed.is_empty() {
        std::process::exit(1);
    }
}

fn start() -> NameServer {
    NameServer::start(NodeOptions::default()).unwrap()
}

/// Waits for `cond` until `PATIENCE` is over.
fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// Whether `pid` is no longer running (gone, or a zombie nobody reaped yet).
fn is_dead(pid: u32) -> bool {
    !axon_runtime::launch::alive(pid)
}

/// The node's runtime directory: where the name server's ipc endpoint lives.
fn runtime_dir(ns: &NameServer) -> PathBuf {
    let path = ns.address().strip_prefix("ipc://").unwrap();
    PathBuf::from(path).parent().unwrap().to_owned()
}

fn remote_kind(e: &Error) -> ErrorKind {
    e.remote()
        .unwrap_or_else(|| panic!("not a remote error: {e}"))
        .kind
}

#[derive(Serialize)]
struct Register<'a> {
    name: &'a str,
    kind: &'a str,
    pid: u32,
    control: &'a str,
}

fn named(name: &str) -> BTreeMap<&'static str, &str> {
    BTreeMap::from([("name", name)])
}

fn records_answer_by_hand() {
    let ns = start();
    let mut p = Proxy::open("nameserver", ns.address()).unwrap();
    let fake = |pid| Register {
        name: "fake",
        kind: "agent",
        pid,
        control: "ipc:///nonexistent/fake.ctl",
    };
    let _: Value = p.call("register", fake(4242)).unwrap();
    assert_eq!(ns.agents().unwrap(), ["fake"]);
    let _: Value = p.call("register", fake(4242)).unwrap();
    let e = p.call::<_, Value>("register", fake(4243)).unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::NameTaken);
    let remote = e.remote().unwrap();
    assert!(remote.message.contains("name already registered"), "{e}");
    assert_eq!(
        (remote.agent.as_str(), remote.method.as_str()),
        ("nameserver", "register")
    );
    let info = ns.info("fake").unwrap();
    assert_eq!((info.pid, info.kind.as_str()), (4242, "agent"));
    assert_eq!(
        remote_kind(&ns.info("ghost").unwrap_err()),
        ErrorKind::NotFound
    );
    assert_eq!(
        remote_kind(&ns.addr("fake", "out").unwrap_err()),
        ErrorKind::NotFound
    );
    let e = p.call::<_, Value>("frobnicate", ()).unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::UnknownMethod);
    let e = p.call::<_, Value>("info", ()).unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::BadArguments);
    let _: Value = p.call("unregister", named("fake")).unwrap();
    assert!(ns.agents().unwrap().is_empty());
    let e = p.call::<_, Value>("unregister", named("fake")).unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::NotFound);
    ns.shutdown().unwrap();
}

fn signed_frames(proto: &[u8], id: u64) -> Vec<Vec<u8>> {
    let body = wire::encode_body(&Request::new(
        id,
        wire::NAMESERVER,
        "ping",
        Value::Null,
        false,
    ))
    .unwrap();
    vec![
        proto.to_vec(),
        axon_runtime::protocol::auth::signature(&body),
        body,
    ]
}

fn next_reply(socket: &zmq::Socket) -> Reply {
    assert!(
        socket
            .poll(zmq::POLLIN, PATIENCE.as_millis() as i64)
            .unwrap()
            > 0
    );
    let frames = socket.recv_multipart(0).unwrap();
    assert_eq!(frames.len(), 3);
    wire::decode_body(&frames[2]).unwrap()
}

fn malformed_messages() {
    let ns = start();
    let socket = axon_runtime::net::zmq_context()
        .socket(zmq::DEALER)
        .unwrap();
    socket.set_linger(0).unwrap();
    socket.connect(ns.address()).unwrap();
    // Dropped: nothing names a request id.
    socket.send_multipart([&b"garbage"[..]], 0).unwrap();
    socket
        .send_multipart([wire::PROTOCOL, b"", b"\xff\x00"], 0)
        .unwrap();
    // Answered bad_request: wrong protocol, missing signature frame.
    socket
        .send_multipart(signed_frames(b"AXON/0", 77), 0)
        .unwrap();
    let [_, _, body] = &signed_frames(wire::PROTOCOL, 78)[..] else {
        unreachable!()
    };
    socket.send_multipart([wire::PROTOCOL, body], 0).unwrap();
    socket
        .send_multipart(signed_frames(wire::PROTOCOL, 79), 0)
        .unwrap();
    // Replies leave in order: an answer to a dropped message would come before these.
    for id in [77, 78] {
        let reply = next_reply(&socket);
        assert_eq!(reply.id, id);
        let Outcome::Err(e) = reply.result else {
            panic!("expected bad_request for {id}")
        };
        assert_eq!(e.kind, ErrorKind::BadRequest);
    }
    let pong = next_reply(&socket);
    assert_eq!(
        (pong.id, pong.result),
        (79, Outcome::Ok(Value::Text("pong".into())))
    );
    assert!(ns.agents().unwrap().is_empty());
    ns.shutdown().unwrap();
}

fn spawn_names_and_exits() {
    let ns = start();
    let mut two = ns.run_agent("agent-2").unwrap();
    let one = ns.spawn(SpawnOptions::default()).unwrap();
    let three = ns.spawn(SpawnOptions::default()).unwrap();
    assert_eq!((one.name(), three.name()), ("agent-1", "agent-3"));
    let pong: String = two.call("ping", ()).unwrap();
    assert_eq!(pong, "pong");
    let e = ns.run_agent("agent-2").unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::NameTaken);
    assert!(e.to_string().contains("name already registered"), "{e}");

    let bound: axon_runtime::Address = two
        .call("bind", BTreeMap::from([("kind", "PUSH"), ("alias", "out")]))
        .unwrap();
    assert_eq!(ns.addr("agent-2", "out").unwrap(), bound);
    let mut p = Proxy::open("nameserver", ns.address()).unwrap();
    let alias = BTreeMap::from([("name", "agent-2"), ("alias", "out")]);
    let _: Value = p.call("del_addr", alias).unwrap();
    assert_eq!(
        remote_kind(&ns.addr("agent-2", "out").unwrap_err()),
        ErrorKind::NotFound
    );

    // A process that exits before it registers: the spawner learns how it ended.
    let e = ns
        .spawn(SpawnOptions::default().name("bad").kind("no-such-kind"))
        .unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::Internal, "{e}");
    assert!(e.to_string().contains("exit status: 2"), "{e}");
    let pid = ns.info("agent-1").unwrap().pid;
    signal(pid, Signal::Kill).unwrap();
    assert!(wait_until(|| ns.agents().unwrap() == ["agent-2", "agent-3"]));
    ns.shutdown().unwrap();
}

fn stop_args(name: &str, grace_ms: u64) -> BTreeMap<&'static str, Value> {
    BTreeMap::from([
        ("name", Value::Text(name.into())),
        ("timeout_ms", Value::Integer(grace_ms.into())),
    ])
}

fn shutdown_agent_waits_for_the_exit() {
    let ns = start();
    let mut p = Proxy::open("nameserver", ns.address()).unwrap();
    ns.run_agent("polite").unwrap();
    let pid = ns.info("polite").unwrap().pid;
    // Far shorter than the grace: it answers when the agent is gone, not when the grace is over.
    let _: Value = p
        .call_timeout("shutdown_agent", stop_args("polite", 600_000), PATIENCE)
        .unwrap();
    assert!(is_dead(pid));
    assert!(ns.agents().unwrap().is_empty());

    let mut stuck = ns.run_agent("stuck").unwrap();
    let pid = ns.info("stuck").unwrap().pid;
    stuck
        .oneway("execute", BTreeMap::from([("handler", "stuck")]))
        .unwrap();
    let _: Value = p
        .call_timeout("shutdown_agent", stop_args("stuck", 300), PATIENCE)
        .unwrap();
    assert!(is_dead(pid));
    assert!(ns.agents().unwrap().is_empty());
    let e = p
        .call::<_, Value>("shutdown_agent", stop_args("stuck", 300))
        .unwrap_err();
    assert_eq!(remote_kind(&e), ErrorKind::NotFound);
    ns.shutdown().unwrap();
}

fn shutdown_ends_everything() {
    let ns = start();
    let dir = runtime_dir(&ns);
    ns.run_agent("a").unwrap();
    let mut stuck = ns.run_agent("stuck").unwrap();
    stuck
        .oneway("execute", BTreeMap::from([("handler", "stuck")]))
        .unwrap();
    let pids = [ns.info("a").unwrap().pid, ns.info("stuck").unwrap().pid];
    let ns_pid = ns.pid().unwrap();
    assert!(dir.exists());
    ns.shutdown_timeout(Duration::from_millis(300)).unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(pids.iter().all(|pid| wait_until(|| is_dead(*pid))));
    assert!(is_dead(ns_pid));
}

fn sigterm_is_a_shutdown() {
    let ns = start();
    let dir = runtime_dir(&ns);
    ns.run_agent("a").unwrap();
    let pid = ns.info("a").unwrap().pid;
    signal(ns.pid().unwrap(), Signal::Term).unwrap();
    assert!(wait_until(|| is_dead(ns.pid().unwrap())));
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(wait_until(|| is_dead(pid)));
}

fn drop_cleans_up() {
    let ns = start();
    let dir = runtime_dir(&ns);
    ns.run_agent("a").unwrap();
    let pids = [ns.info("a").unwrap().pid, ns.pid().unwrap()];
    drop(ns);
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(pids.iter().all(|pid| wait_until(|| is_dead(*pid))));
}

fn tcp_bind_and_connect() {
    let options = NodeOptions {
        bind: Some("tcp://127.0.0.1:*".into()),
        ..NodeOptions::default()
    };
    let ns = NameServer::start(options).unwrap();
    let port = ns.address().strip_prefix("tcp://127.0.0.1:").unwrap();
    assert!(port.parse::<u16>().unwrap() > 0, "{}", ns.address());
    let other = NameServer::connect(ns.address(), PATIENCE).unwrap();
    ns.run_agent("a").unwrap();
    assert_eq!(other.agents().unwrap(), ["a"]);
    drop(other);
    ns.shutdown().unwrap();
}

fn start_and_connect_failures() {
    let options = NodeOptions {
        host: Some(HostCommand {
            program: "/bin/false".into(),
            args: Vec::new(),
        }),
        ..NodeOptions::default()
    };
    let e = NameServer::start(options).unwrap_err();
    assert!(matches!(e, Error::Config(_)), "{e}");
    assert!(e.to_string().contains("exited during start-up"), "{e}");
    assert!(e.to_string().contains("exit status: 1"), "{e}");
    let timeout = Duration::from_millis(300);
    let e = NameServer::connect("ipc:///nonexistent/axon/nobody.ctl", timeout).unwrap_err();
    assert!(matches!(e, Error::Timeout(t, _) if t == timeout), "{e}");
}

/// A request that panics (a bug; here the test-only `fault_panic`) is answered `internal`,
/// saying what panicked where; the name server serves on, as the same process, with its records.
fn a_panicking_request_is_answered_internal() {
    let ns = start();
    ns.run_agent("a").unwrap();
    let pid = ns.pid().unwrap();
    let mut p = Proxy::open("nameserver", ns.address()).unwrap();
    p.set_timeout(PATIENCE);
    for _ in 0..2 {
        let e = p.call::<_, Value>("fault_panic", ()).unwrap_err();
        assert_eq!(remote_kind(&e), ErrorKind::Internal);
        let remote = e.remote().unwrap();
        assert!(remote.message.contains("a panic inside a request"), "{e}");
        assert!(remote.message.contains("faults.rs"), "{e}");
        assert_eq!(remote.method, "fault_panic");
    }
    assert_eq!(ns.agents().unwrap(), ["a"]);
    ns.proxy("a").unwrap().ping().unwrap();
    assert!(!is_dead(pid));
    ns.shutdown().unwrap();
}

/// A panic outside any request (here the test-only `fault_panic_later`, from a timer of the
/// actor) ends the name server, but never half-dead: its agents are stopped, its runtime
/// directory is removed, and it exits with 101.
fn a_panic_outside_a_request_stops_everything() {
    let mut ns = start();
    let dir = runtime_dir(&ns);
    ns.run_agent("a").unwrap();
    let agent = ns.info("a").unwrap().pid;
    let mut p = Proxy::open("nameserver", ns.address()).unwrap();
    p.oneway("fault_panic_later", ()).unwrap();
    let mut status = None;
    let exited = wait_until(|| {
        status = ns.try_wait().unwrap();
        status.is_some()
    });
    assert!(exited, "the name server is still running");
    assert_eq!(status.and_then(|s| s.code()), Some(101), "{status:?}");
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert!(wait_until(|| is_dead(agent)));
}
