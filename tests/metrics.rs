//! Prometheus metrics of a deployment run by the real `axon up --metrics`:
//! exact counters after real traffic, a restart after a SIGKILL, and the whole
//! exposition checked by `promtool check metrics` (Debian package `prometheus`).

use std::process::{Command, Stdio};
use std::time::Duration;

use axon::launch::Signal;
use axon::testing::{self, Deployment};
use common::prometheus::{promtool, scrape, value};

mod common;

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const MANIFEST: &str = r#"
[supervisor]
intensity = 10
period = "10s"
heartbeat = "30s"

[[agent]]
name = "sink"
kind = "counter"
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  transport = "tcp"
  serializer = "raw"
  handler = "count"

[[agent]]
name = "echo"
kind = "echo"
restart = "permanent"
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "tcp"
  serializer = "raw"
  handler = "echo"
"#;

/// Waits until the scrape shows `name{labels}` at `want`; the last body when it does not.
fn shows(addr: &str, name: &str, labels: &[(&str, &str)], want: f64) -> Result<(), String> {
    let mut last = String::new();
    let seen = testing::wait_until(PATIENCE, || {
        last = scrape(addr);
        value(&last, name, labels) == Some(want)
    });
    match seen {
        true => Ok(()),
        false => Err(format!("{name}{labels:?} never {want}:\n{last}")),
    }
}

#[test]
fn metrics_count_real_traffic_and_a_restart_and_pass_promtool() {
    let dep = Deployment::start_with(AXON, MANIFEST, &["--metrics", "127.0.0.1:0"])
        .expect("deployment starts");
    let addr = dep.node_status().unwrap().metrics.expect("metrics served");
    assert!(
        addr.starts_with("127.0.0.1:") && !addr.ends_with(":0"),
        "{addr}"
    );
    let printed = format!("  metrics   http://{addr}/metrics");
    assert!(dep.output().contains(&printed), "{:?}", dep.output());

    // 7 messages into the sink's PULL, 3 requests to echo.
    let ctx = zmq::Context::new();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(1000).unwrap();
    push.connect(&dep.nameserver().addr("sink", "in").unwrap().endpoint)
        .unwrap();
    for i in 0..7 {
        push.send(format!("m{i}").as_bytes(), 0).unwrap();
    }
    // Two frames on a PULL: malformed, counted on the agent and on its socket `in`.
    push.send_multipart([&b"a"[..], &b"b"[..]], 0).unwrap();
    let req = ctx.socket(zmq::REQ).unwrap();
    req.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    req.set_linger(0).unwrap();
    req.connect(&dep.nameserver().addr("echo", "main").unwrap().endpoint)
        .unwrap();
    for i in 0..3 {
        req.send(format!("q{i}").as_bytes(), 0).unwrap();
        assert_eq!(req.recv_bytes(0).unwrap(), format!("q{i}").as_bytes());
    }

    let sink = [("agent", "sink"), ("kind", "counter")];
    let echo = [("agent", "echo"), ("kind", "echo")];
    shows(&addr, "axon_agent_received_messages_total", &sink, 7.0).unwrap();
    shows(&addr, "axon_agent_received_messages_total", &echo, 3.0).unwrap();
    let in_ = [("agent", "sink"), ("alias", "in"), ("socket_kind", "PULL")];
    let bad = [&in_[..], &[("error", "malformed")]].concat();
    shows(&addr, "axon_socket_errors_total", &bad, 1.0).unwrap();
    let body = scrape(&addr);
    let at = |name: &str, labels: &[(&str, &str)]| value(&body, name, labels);
    // Per socket: the sink's PULL and echo's REP, each with exactly its own traffic.
    let main = [("agent", "echo"), ("alias", "main"), ("socket_kind", "REP")];
    let sockets = [
        ("axon_socket_received_messages_total", &in_, 7.0),
        ("axon_socket_sent_messages_total", &in_, 0.0),
        ("axon_socket_backlog_messages", &in_, 0.0),
        ("axon_socket_received_messages_total", &main, 3.0),
        ("axon_socket_sent_messages_total", &main, 3.0),
        ("axon_socket_backlog_messages", &main, 0.0),
    ];
    for (name, labels, want) in sockets {
        assert_eq!(at(name, labels), Some(want), "{name}{labels:?}\n{body}");
    }
    for cause in ["full", "hwm", "oversized", "unhandled"] {
        let labels = [&main[..], &[("cause", cause)]].concat();
        assert_eq!(at("axon_socket_dropped_messages_total", &labels), Some(0.0));
    }
    let decode = [&in_[..], &[("error", "decode")]].concat();
    assert_eq!(at("axon_socket_errors_total", &decode), Some(0.0));
    let agent_bad = [("agent", "sink"), ("error", "malformed")];
    assert_eq!(at("axon_agent_errors_total", &agent_bad), Some(1.0));
    assert_eq!(at("axon_agent_sent_messages_total", &sink), Some(0.0));
    // A REP's replies are messages it sent.
    assert_eq!(at("axon_agent_sent_messages_total", &echo), Some(3.0));
    assert_eq!(at("axon_agent_restarts_total", &echo), Some(0.0));
    let running = [("agent", "echo"), ("state", "running")];
    assert_eq!(at("axon_agent_state", &running), Some(1.0));
    assert_eq!(
        at(
            "axon_agent_state",
            &[("agent", "echo"), ("state", "failed")]
        ),
        Some(0.0)
    );
    assert_eq!(
        at("axon_supervisor_agents", &[("state", "running")]),
        Some(2.0)
    );
    assert_eq!(at("axon_agent_stats_answered", &sink), Some(1.0));
    let pull = [("agent", "sink"), ("alias", "in"), ("socket_kind", "PULL")];
    assert_eq!(at("axon_socket_info", &pull), Some(1.0));
    assert!(
        at("axon_agent_resident_memory_bytes", &sink).is_some_and(|b| b > 1e6),
        "{body}"
    );
    assert!(
        at("axon_supervisor_resident_memory_bytes", &[]).is_some_and(|b| b > 1e6),
        "{body}"
    );
    assert!(
        at("axon_agent_heartbeat_age_seconds", &sink).is_some_and(|s| s < PATIENCE.as_secs_f64())
    );
    assert_eq!(at("axon_agent_lease_period_seconds", &sink), Some(30.0));
    assert!(at(
        "axon_supervisor_control_requests_total",
        &[("method", "spawn")]
    )
    .is_some_and(|n| n >= 2.0));
    promtool(&body);

    // A SIGKILLed agent: restarted once, its new process counted from zero.
    let old = dep.kill("echo", Signal::Kill).unwrap();
    dep.wait_restarted("echo", old, PATIENCE).unwrap();
    shows(&addr, "axon_agent_restarts_total", &echo, 1.0).unwrap();
    shows(&addr, "axon_agent_received_messages_total", &echo, 0.0).unwrap();
    let body = scrape(&addr);
    assert_eq!(value(&body, "axon_agent_restarts_total", &sink), Some(0.0));
    assert_eq!(
        value(&body, "axon_agent_received_messages_total", &sink),
        Some(7.0)
    );
    promtool(&body);

    // A hung agent (SIGSTOP) does not hang a scrape: it shows unanswered, with its last figures.
    dep.kill("sink", Signal::Stop).unwrap();
    shows(&addr, "axon_agent_stats_answered", &sink, 0.0).unwrap();
    let body = scrape(&addr);
    assert_eq!(
        value(&body, "axon_agent_received_messages_total", &sink),
        Some(7.0)
    );
    dep.kill("sink", Signal::Cont).unwrap();
    shows(&addr, "axon_agent_stats_answered", &sink, 1.0).unwrap();

    dep.stop().unwrap();
}

/// A reliable PULL fed by a plain ZeroMQ peer that speaks the documented framing
/// (docs/protocol.md), relayed on a reliable PUSH to a second reliable PULL.
const RELIABLE: &str = r#"
[[agent]]
name = "sink"
kind = "counter"
bind = [{ alias = "in", socket = "PULL", transport = "tcp", serializer = "raw", handler = "count", reliable = true }]

[[agent]]
name = "relay"
kind = "relay"
bind = [{ alias = "in", socket = "PULL", transport = "tcp", serializer = "raw", handler = "relay", reliable = true }]
connect = [{ to = "sink.in", alias = "out", reliable = { ack_timeout_ms = 600000 } }]
"#;

/// A reliable data message: one frame `"AXR2" ‖ incarnation ‖ sequence ‖ floor ‖ payload`,
/// or in the first layout a header frame (`"AXR1"`, the same fields) and the payload.
fn reliable_message(incarnation: u64, seq: u64, payload: &[u8], joined: bool) -> Vec<Vec<u8>> {
    let mut header = match joined {
        true => b"AXR2".to_vec(),
        false => b"AXR1".to_vec(),
    };
    for n in [incarnation, seq, 0] {
        header.extend_from_slice(&n.to_be_bytes());
    }
    match joined {
        true => vec![[header, payload.to_vec()].concat()],
        false => vec![header, payload.to_vec()],
    }
}

/// The sequences an acknowledgement frame (`AXA1`, incarnation, ranges) names.
fn acknowledged(frame: &[u8]) -> Vec<u64> {
    assert_eq!(&frame[..4], b"AXA1", "{frame:?}");
    let be = |b: &[u8]| u64::from_be_bytes(b.try_into().unwrap());
    frame[12..]
        .chunks_exact(16)
        .flat_map(|r| be(&r[..8])..=be(&r[8..]))
        .collect()
}

#[test]
fn reliable_sockets_export_their_counters_exactly() {
    let dep = Deployment::start_with(AXON, RELIABLE, &["--metrics", "127.0.0.1:0"])
        .expect("deployment starts");
    let addr = dep.node_status().unwrap().metrics.expect("metrics served");
    let relay_in = dep.nameserver().addr("relay", "in").unwrap();
    let incarnation = 0x0A0B_0C0D_u64;
    let ctx = zmq::Context::new();
    // The acknowledgement path first: the receiver routes acknowledgements by this identity.
    let acks = ctx.socket(zmq::DEALER).unwrap();
    acks.set_linger(0).unwrap();
    let mut identity = b"R".to_vec();
    identity.extend_from_slice(&incarnation.to_be_bytes());
    acks.set_identity(&identity).unwrap();
    acks.connect(relay_in.requests.as_deref().expect("an ack endpoint"))
        .unwrap();
    // Anything but an acknowledgement on a receiver's ack socket is garbage: counted once,
    // and once it is, the receiver knows the route back.
    acks.send("hello", 0).unwrap();
    let in_ = [("agent", "relay"), ("alias", "in"), ("socket_kind", "PULL")];
    shows(&addr, "axon_reliable_garbage_acks_total", &in_, 1.0).unwrap();

    // Five messages (one in the two-frame layout), sequence 2 again, and one plain frame.
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(1000).unwrap();
    push.connect(&relay_in.endpoint).unwrap();
    for seq in [0, 1, 2, 3, 4, 2] {
        let message = reliable_message(incarnation, seq, b"m", seq != 3);
        push.send_multipart(message, 0).unwrap();
    }
    push.send("plain", 0).unwrap();
    shows(&addr, "axon_reliable_plain_frames_total", &in_, 1.0).unwrap();

    // Every acknowledgement frame that left reaches the peer, and is counted.
    let (mut frames, mut seqs, mut last) = (0.0, Vec::new(), String::new());
    let counted = testing::wait_until(PATIENCE, || {
        while let Ok(frame) = acks.recv_bytes(zmq::DONTWAIT) {
            frames += 1.0;
            seqs.extend(acknowledged(&frame));
        }
        last = scrape(&addr);
        seqs.len() == 6 && value(&last, "axon_reliable_acks_sent_total", &in_) == Some(frames)
    });
    assert!(counted, "{seqs:?} in {frames} frames:\n{last}");
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        [0, 1, 2, 2, 3, 4],
        "each message and the duplicate acknowledged"
    );

    let out = [
        ("agent", "relay"),
        ("alias", "out"),
        ("socket_kind", "PUSH"),
    ];
    let sink = [("agent", "sink"), ("alias", "in"), ("socket_kind", "PULL")];
    shows(&addr, "axon_reliable_acked_messages_total", &out, 5.0).unwrap();
    shows(&addr, "axon_reliable_outbox_messages", &out, 0.0).unwrap();
    let body = scrape(&addr);
    let at = |name: &str, labels: &[(&str, &str)]| value(&body, name, labels);
    let want = [
        ("axon_reliable_handled_messages_total", &in_, 5.0),
        ("axon_reliable_duplicate_messages_total", &in_, 1.0),
        ("axon_reliable_garbage_acks_total", &in_, 1.0),
        ("axon_reliable_plain_frames_total", &in_, 1.0),
        ("axon_reliable_acks_sent_total", &in_, frames),
        ("axon_reliable_acked_messages_total", &out, 5.0),
        ("axon_reliable_redelivered_messages_total", &out, 0.0),
        ("axon_reliable_nacked_messages_total", &out, 0.0),
        ("axon_reliable_dead_lettered_messages_total", &out, 0.0),
        ("axon_reliable_garbage_acks_total", &out, 0.0),
        ("axon_reliable_outbox_bytes", &out, 0.0),
        ("axon_reliable_in_flight_messages", &out, 0.0),
        ("axon_reliable_handled_messages_total", &sink, 5.0),
        ("axon_reliable_duplicate_messages_total", &sink, 0.0),
        ("axon_socket_received_messages_total", &in_, 5.0),
    ];
    for (name, labels, want) in want {
        assert_eq!(at(name, labels), Some(want), "{name}{labels:?}\n{body}");
    }
    promtool(&body);
    dep.stop().unwrap();
}

#[test]
fn the_manifest_asks_for_metrics_and_axon_status_shows_where() {
    let manifest = format!("[metrics]\naddr = \"127.0.0.1:0\"\n{MANIFEST}");
    let dep = Deployment::start(AXON, &manifest).expect("deployment starts");
    let addr = dep.node_status().unwrap().metrics.expect("metrics served");
    let status = dep.cli(&["status"]).unwrap();
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(
        printed.contains(&format!("metrics     http://{addr}/metrics\n")),
        "{printed}"
    );
    shows(
        &addr,
        "axon_supervisor_agents",
        &[("state", "running")],
        2.0,
    )
    .unwrap();
    dep.stop().unwrap();
}

#[test]
fn a_metrics_port_in_use_is_a_clear_error_and_leaves_nothing_behind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = std::env::temp_dir().join(format!("axon-metrics-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = dir.join("deploy.toml");
    std::fs::write(&manifest, "[[agent]]\nname = \"e\"\nkind = \"echo\"\n").unwrap();
    let out = Command::new(AXON)
        .arg("up")
        .arg(&manifest)
        .args(["--metrics", &format!("127.0.0.1:{port}")])
        .env("XDG_RUNTIME_DIR", &dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let left: Vec<_> = walk(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(!out.status.success(), "{err}");
    let said = format!("metrics address \"127.0.0.1:{port}\": Address already in use");
    assert!(err.contains(&said), "{err}");
    assert_eq!(left, vec![manifest], "no runtime directory is left");
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        match e.file_type().unwrap().is_dir() {
            true => files.extend(walk(&e.path())),
            false => files.push(e.path()),
        }
    }
    files
}
