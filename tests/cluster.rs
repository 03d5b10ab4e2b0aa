//! Cluster mode on separate network stacks: each "host" is a Linux network
//! namespace joined to the others by a veth pair and a bridge, with a real
//! etcd on one of them and a real `axon node` on each. Needs root (`ip
//! netns`) and etcd (Debian etcd-server); a test that cannot have them
//! fails, it is not skipped. Built with `--features cluster`.
#![cfg(feature = "cluster")]

mod common;

use std::process::{Output, Stdio};

use axon::launch::alive;
use axon::testing::netns::Host;
use axon::testing::{wait_until, Cluster};
use common::prometheus::{promtool, scrape, value};
use common::{TempDir, PATIENCE};

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// Runs the CLI in `host`'s namespace with the key in `key` (another key than the cluster's).
fn axon(host: &Host, key: &TempDir, args: &[&str]) -> Output {
    host.command(AXON)
        .args(args)
        .env("AXON_KEY_FILE", key.0.join("key"))
        .env_remove("AXON_NAMESERVER")
        .stdin(Stdio::null())
        .output()
        .expect("axon runs")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn key_dir(test: &str) -> TempDir {
    let dir = TempDir::new(test);
    let key = axon::protocol::auth::Key::generate().unwrap();
    std::fs::write(dir.0.join("key"), key.to_hex()).unwrap();
    dir
}

/// The agents the registry lists, none while etcd does not answer.
fn listed(cluster: &Cluster) -> Option<Vec<serde_json::Value>> {
    cluster.ps().ok()
}

#[test]
fn nodes_on_three_hosts_see_and_control_each_others_agents() {
    let cluster = Cluster::start(AXON, &["a", "b"]).expect("cluster (needs root and etcd)");
    let (a, b) = (
        cluster.net().host("a").unwrap(),
        cluster.net().host("b").unwrap(),
    );
    let (node_a, node_b) = (
        cluster.endpoint("a").unwrap(),
        cluster.endpoint("b").unwrap(),
    );

    ok(cluster
        .cli_on(a, &["spawn", "--ns", node_a, "ea", "--kind", "echo"])
        .unwrap());
    ok(cluster
        .cli_on(b, &["spawn", "--ns", node_b, "eb", "--kind", "echo"])
        .unwrap());
    let bind = r#"{"kind":"REP","alias":"main","handler":"echo","transport":"tcp"}"#;
    ok(cluster
        .cli_on(a, &["call", "--ns", node_a, "ea", "bind", bind])
        .unwrap());

    // From the third host, the registry lists both, each on its node, reachable on its host's address.
    let agents = common::eventually("both agents in the registry", || {
        let ea = cluster.agent("ea").ok()??;
        let eb = cluster.agent("eb").ok()??;
        ea["addrs"].get("main")?;
        Some((ea, eb))
    });
    let (ea, eb) = agents;
    assert_eq!(ea["node"], "a");
    assert_eq!(eb["node"], "b");
    let a_ip = a.addr().to_string();
    assert!(ea["control"].as_str().unwrap().contains(&a_ip), "{ea}");
    assert!(
        ea["addrs"]["main"]["endpoint"]
            .as_str()
            .unwrap()
            .contains(&a_ip),
        "{ea}"
    );

    // Control across hosts: from the third host, through node a's endpoint, signed with the cluster key.
    let pong = ok(cluster
        .cli(&["call", "--ns", node_a, "ea", "ping"])
        .unwrap());
    assert!(pong.contains("pong"), "{pong}");
    // Data across hosts: eb (on b) connects a REQ to ea's REP (on a) and asks.
    let address = ea["addrs"]["main"].to_string();
    let connect = format!(r#"{{"address":{address},"alias":"out","handler":"echo"}}"#);
    ok(cluster
        .cli_on(b, &["call", "--ns", node_b, "eb", "connect", &connect])
        .unwrap());
    let request = r#"{"alias":"out","message":"across","timeout_ms":10000}"#;
    let reply = ok(cluster
        .cli_on(b, &["call", "--ns", node_b, "eb", "request", request])
        .unwrap());
    assert!(reply.contains("across"), "{reply}");
}

#[test]
fn a_node_whose_host_dies_leaves_the_registry_with_its_lease() {
    let mut cluster = Cluster::start(AXON, &["a"]).expect("cluster (needs root and etcd)");
    let a = cluster.net().host("a").unwrap();
    let node = cluster.endpoint("a").unwrap();
    ok(cluster
        .cli_on(a, &["spawn", "--ns", node, "ea", "--kind", "echo"])
        .unwrap());
    assert!(wait_until(PATIENCE, || listed(&cluster)
        .is_some_and(|ps| ps.len() == 1)));
    // Every process of host a, SIGKILLed at once.
    cluster.kill_node("a").unwrap();
    // No one removes the keys: the lease runs out and etcd does.
    assert!(
        wait_until(PATIENCE, || listed(&cluster)
            .is_some_and(|ps| ps.is_empty())),
        "the dead node's agents stayed in the registry"
    );
}

#[test]
fn a_node_cut_off_from_etcd_stops_its_agents_before_its_lease_can_expire() {
    let cluster = Cluster::start(AXON, &["a"]).expect("cluster (needs root and etcd)");
    let a = cluster.net().host("a").unwrap();
    let node = cluster.endpoint("a").unwrap();
    let spawn = [
        "spawn",
        "--ns",
        node,
        "ea",
        "--kind",
        "echo",
        "--restart",
        "permanent",
    ];
    let out = ok(cluster.cli_on(a, &spawn).unwrap());
    let pid: u32 = out
        .split_whitespace()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .expect("spawn prints the pid");
    assert!(wait_until(PATIENCE, || listed(&cluster)
        .is_some_and(|ps| ps.len() == 1)));

    cluster.cut("a").unwrap();
    // Sample from etcd's side until the entry is gone. At no sample may the registry have
    // dropped the agent (its lease expired: another node could now run it) while its
    // process still lives.
    let mut samples = 0;
    let gone = wait_until(PATIENCE, || {
        let listed = listed(&cluster).map(|ps| !ps.is_empty());
        let running = alive(pid);
        samples += 1;
        assert!(
            !(listed == Some(false) && running),
            "the lease expired while the agent still ran (sample {samples})"
        );
        listed == Some(false)
    });
    assert!(gone, "the cut node's agent never left the registry");
    assert!(!alive(pid), "the fenced agent still runs");

    // Healed: the node joins again (a new lease) and runs agents again.
    cluster.heal("a").unwrap();
    let respawned = wait_until(PATIENCE, || {
        cluster
            .cli_on(a, &["spawn", "--ns", node, "eb", "--kind", "echo"])
            .is_ok_and(|out| out.status.success())
    });
    assert!(respawned, "the node never ran agents again after healing");
    assert!(wait_until(PATIENCE, || listed(&cluster)
        .is_some_and(|ps| ps.iter().any(|e| e["name"] == "eb"))));
}

/// A stream across hosts, by name: `src` prefers host a (then b), `sink` runs on c.
const STREAM: &str = r#"
[[agent]]
name = "src"
kind = "ticker"
restart = "permanent"
nodes = ["a", "b"]
attributes = { period_ms = 5 }
  [[agent.bind]]
  alias = "out"
  socket = "PUSH"
  transport = "tcp"

[[agent]]
name = "sink"
kind = "counter"
restart = "permanent"
nodes = ["c"]
  [[agent.connect]]
  to = "src.out"
  alias = "in"
  handler = "count"

[[agent]]
name = "spare"
kind = "echo"
"#;

/// The sink's total, 0 until it answers.
fn total(cluster: &Cluster) -> u64 {
    cluster.get_attr("sink", "total").unwrap_or(0)
}

#[test]
fn a_deployment_follows_its_agents_across_hosts_with_at_most_one_incarnation() {
    let cluster = Cluster::start(AXON, &["a", "b", "c"]).expect("cluster (needs root and etcd)");
    let a = cluster.net().host("a").unwrap();
    let registry = cluster.registry();

    // Deployed from a host that runs no node; it returns once every agent answers.
    cluster.deploy(STREAM).expect("deployed");
    let src = cluster.agent("src").unwrap().expect("src deployed");
    assert_eq!(src["node"], "a", "{src}");
    assert_eq!(cluster.node_of("sink").unwrap().as_deref(), Some("c"));
    assert!(cluster.agent("spare").unwrap().is_some());
    // The stream flows from host a to host c, connected by name.
    assert!(
        wait_until(PATIENCE, || total(&cluster) > 0),
        "no ticks across hosts"
    );

    // Host a's cable is cut: its node fences, the leader gives src to b once a's lease is gone.
    let first = src["pid"].as_u64().unwrap() as u32;
    let mut seen = vec![first];
    cluster.cut("a").unwrap();
    let moved = wait_until(PATIENCE, || {
        let now = cluster.agent("src").ok().flatten();
        if let Some(pid) = now.as_ref().and_then(|s| s["pid"].as_u64()) {
            if !seen.contains(&(pid as u32)) {
                seen.push(pid as u32);
            }
        }
        // Never two processes for one name, at any sample.
        let live = seen.iter().filter(|p| alive(**p)).count();
        assert!(live <= 1, "src runs twice: {seen:?}");
        now.is_some_and(|s| s["node"] == "b")
    });
    assert!(moved, "src was not restarted on b");
    assert!(!alive(first), "the cut node's src still runs");
    // The stream follows src to b.
    let before = total(&cluster);
    assert!(
        wait_until(PATIENCE, || total(&cluster) > before),
        "sink did not follow src to host b"
    );

    // Healed: a rejoins and duplicates nothing.
    cluster.heal("a").unwrap();
    assert!(wait_until(PATIENCE, || cluster
        .cli_on(a, &["ps", "--registry", &registry])
        .is_ok_and(|out| out.status.success())));
    // An observation window, not a wait: at every sample of two seconds, one src, on b.
    for _ in 0..20 {
        let live = seen.iter().filter(|p| alive(**p)).count();
        assert!(live <= 1, "src runs twice after healing: {seen:?}");
        assert_eq!(cluster.node_of("src").unwrap().as_deref(), Some("b"));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    // Down: every agent of the deployment stops, on every host.
    cluster.down().unwrap();
    assert!(listed(&cluster).is_some_and(|ps| ps.is_empty()));
}

#[test]
fn a_crashed_host_s_agents_come_back_elsewhere_with_their_configuration() {
    let mut cluster = Cluster::start(AXON, &["a", "b"]).expect("cluster");
    let manifest = r#"
[[agent]]
name = "worker"
kind = "counter"
restart = "permanent"
nodes = ["a", "b"]
"#;
    cluster.deploy(manifest).expect("deployed");
    assert_eq!(cluster.node_of("worker").unwrap().as_deref(), Some("a"));
    // Configured through the control plane after the deploy: journaled, kept in etcd.
    let bind = r#"{"kind":"PULL","alias":"extra","handler":"count","transport":"tcp"}"#;
    cluster.call("worker", "bind", bind).unwrap();
    let first = cluster.pid_of("worker").unwrap().expect("running");

    // Host a crashes: every process on it, at once.
    cluster.kill_node("a").unwrap();
    let moved = cluster.wait_until(PATIENCE, || {
        cluster.node_of("worker").ok().flatten().as_deref() == Some("b")
    });
    assert!(moved, "worker not restarted on b");
    assert!(!alive(first));
    let aliases = cluster.call("worker", "aliases", "null").unwrap();
    assert!(
        aliases.contains("extra"),
        "the journal did not follow: {aliases}"
    );
    cluster.down().unwrap();
    assert!(cluster.ps().unwrap().is_empty());
}

#[test]
fn req_rep_and_pub_sub_by_name_across_hosts() {
    let cluster = Cluster::start(AXON, &["a", "b"]).expect("cluster");
    let manifest = r#"
[[agent]]
name = "replier"
kind = "echo"
nodes = ["a"]
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "tcp"
  handler = "echo"

[[agent]]
name = "news"
kind = "ticker"
nodes = ["a"]
attributes = { period_ms = 5, topic = "t" }
  [[agent.bind]]
  alias = "out"
  socket = "PUB"
  transport = "tcp"

[[agent]]
name = "asker"
kind = "counter"
nodes = ["b"]
  [[agent.connect]]
  to = "replier.main"
  alias = "ask"
  [[agent.connect]]
  to = "news.out"
  alias = "news"
  handler = "count"
  topics = ["t"]
"#;
    cluster.deploy(manifest).expect("deployed");
    // REQ (host b) -> REP (host a), connected by name.
    let request = r#"{"alias":"ask","message":"across by name","timeout_ms":10000}"#;
    let reply = common::eventually("a reply across hosts", || {
        cluster.call("asker", "request", request).ok()
    });
    assert!(reply.contains("across by name"), "{reply}");
    // PUB (host a) -> SUB (host b), connected by name, topic "t".
    let heard = cluster.wait_until(PATIENCE, || {
        cluster
            .get_attr::<u64>("asker", "total")
            .is_ok_and(|n| n > 0)
    });
    assert!(heard, "no ticks across hosts");
    // The picture joins both nodes: each connect on b is an edge to its bound end on a.
    let registry = cluster.registry();
    let b = cluster.net().host("b").expect("host b");
    let dot = ok(cluster
        .cli_on(b, &["graph", "--registry", &registry])
        .unwrap());
    for line in [
        "  subgraph \"cluster_0\" {\n    label=\"node a\";\n",
        "label=\"node b\";\n    \"asker\" [label=\"asker\\ncounter (running)\"",
        "  \"asker\" -> \"replier\" [label=\"REQ/REP ask -> main\"];\n",
        "  \"news\" -> \"asker\" [label=\"PUB/SUB out -> news [t]\"];\n",
    ] {
        assert!(dot.contains(line), "{line:?} not in:\n{dot}");
    }
    assert_eq!(dot.matches("\" -> \"").count(), 2, "{dot}");
    cluster.down().unwrap();
}

/// An echo agent pinned to host a (restarted there when it dies).
const PINNED: &str = r#"
[[agent]]
name = "echo"
kind = "echo"
restart = "permanent"
nodes = ["a"]
"#;

#[test]
fn call_through_the_registry_reaches_an_agent_on_another_host_and_a_wrong_key_is_refused() {
    let cluster = Cluster::start(AXON, &["a", "b"]).expect("cluster");
    cluster.deploy(PINNED).expect("deployed");
    assert_eq!(cluster.node_of("echo").unwrap().as_deref(), Some("a"));
    let registry = cluster.registry();

    // From the etcd host, which runs no node: found in etcd, called on host a.
    let pong = ok(cluster
        .cli(&["call", "--registry", &registry, "echo", "ping"])
        .unwrap());
    assert!(pong.contains("pong"), "{pong}");
    let missing = cluster
        .cli(&["call", "--registry", &registry, "nobody", "ping"])
        .unwrap();
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no agent nobody"),
        "{missing:?}"
    );

    // No logger deployed: `logs --registry` says what to deploy.
    let logs = cluster.cli(&["logs", "--registry", &registry]).unwrap();
    assert!(!logs.status.success(), "{logs:?}");
    assert!(
        String::from_utf8_lossy(&logs.stderr).contains("kind = \"logger\""),
        "{logs:?}"
    );

    // Another key: the agent refuses the call, its node refuses the signal; both exit 77.
    let wrong = key_dir("cluster-wrong-key");
    let etcd_host = cluster.net().host("etcd").unwrap();
    let pid = cluster.pid_of("echo").unwrap().expect("echo runs");
    for args in [
        ["call", "--registry", &registry, "echo", "ping"],
        ["kill", "--registry", &registry, "echo", "--signal=KILL"],
    ] {
        let out = axon(etcd_host, &wrong, &args);
        assert_eq!(out.status.code(), Some(77), "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("refused"),
            "{out:?}"
        );
    }
    assert!(alive(pid), "a refused kill killed the agent");
    assert_eq!(cluster.pid_of("echo").unwrap(), Some(pid));
}

#[test]
fn kill_through_the_registry_reaches_the_agent_s_node_whose_supervisor_restarts_it() {
    // Every node also serves metrics (`axon node --metrics`), each in its own namespace.
    let metrics = ["--metrics", "0.0.0.0:9464"];
    let cluster = Cluster::start_with(AXON, &["a", "b"], &[], &metrics).expect("cluster");
    cluster.deploy(PINNED).expect("deployed");
    let registry = cluster.registry();
    let first = cluster.pid_of("echo").unwrap().expect("echo runs");

    let out = ok(cluster
        .cli(&["kill", "--registry", &registry, "echo"])
        .unwrap());
    assert!(
        out.contains(&format!("SIGKILL sent to echo (pid {first})")),
        "{out}"
    );
    assert!(
        wait_until(PATIENCE, || !alive(first)),
        "echo survived SIGKILL"
    );
    // The supervisor of host a restarts it there: a new process, the same node.
    let restarted = wait_until(PATIENCE, || {
        cluster
            .pid_of("echo")
            .ok()
            .flatten()
            .is_some_and(|pid| pid != first)
    });
    assert!(restarted, "echo was not restarted");
    assert_eq!(cluster.node_of("echo").unwrap().as_deref(), Some("a"));
    let pong = ok(cluster
        .cli(&["call", "--registry", &registry, "echo", "ping"])
        .unwrap());
    assert!(pong.contains("pong"), "{pong}");

    // Node a's metrics count the restart; node b's know nothing of echo.
    let on = |host: &str| {
        let h = cluster.net().host(host).unwrap();
        let addr = format!("{}:9464", h.addr());
        h.enter(move || scrape(&addr)).unwrap()
    };
    let echo = [("agent", "echo"), ("kind", "echo")];
    let mut body = String::new();
    let counted = wait_until(PATIENCE, || {
        body = on("a");
        value(&body, "axon_agent_restarts_total", &echo) == Some(1.0)
    });
    assert!(
        counted,
        "node a's metrics never counted the restart:\n{body}"
    );
    assert_eq!(
        value(
            &body,
            "axon_agent_state",
            &[("agent", "echo"), ("state", "running")]
        ),
        Some(1.0)
    );
    promtool(&body);
    let b = on("b");
    assert_eq!(value(&b, "axon_agent_restarts_total", &echo), None, "{b}");
    assert_eq!(
        value(&b, "axon_supervisor_agents", &[("state", "running")]),
        Some(0.0),
        "{b}"
    );
}

#[test]
fn logs_through_the_registry_merge_the_events_of_every_node_s_logger() {
    let cluster = Cluster::start(AXON, &["a", "b"]).expect("cluster");
    let manifest = format!(
        "{PINNED}{}",
        r#"
[[agent]]
name = "echo-b"
kind = "echo"
nodes = ["b"]

[[agent]]
name = "logger-a"
kind = "logger"
nodes = ["a"]

[[agent]]
name = "logger-b"
kind = "logger"
nodes = ["b"]
"#
    );
    cluster.deploy(&manifest).expect("deployed");
    let registry = cluster.registry();
    // A wrongly signed request makes each echo log a warning, which its node's logger collects.
    let wrong = key_dir("cluster-logs-wrong-key");
    let etcd_host = cluster.net().host("etcd").unwrap();
    for agent in ["echo", "echo-b"] {
        let out = axon(
            etcd_host,
            &wrong,
            &["call", "--registry", &registry, agent, "ping"],
        );
        assert_eq!(out.status.code(), Some(77), "{out:?}");
    }
    let both = wait_until(PATIENCE, || {
        let out = cluster.cli(&["logs", "--registry", &registry]).unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        out.status.success()
            && text
                .lines()
                .any(|l| l.contains(" echo[") && l.contains("refused"))
            && text
                .lines()
                .any(|l| l.contains(" echo-b[") && l.contains("refused"))
    });
    assert!(
        both,
        "{:?}",
        cluster.cli(&["logs", "--registry", &registry]).unwrap()
    );
    // One agent's events only.
    let only = ok(cluster
        .cli(&["logs", "--registry", &registry, "echo-b"])
        .unwrap());
    assert!(
        !only.is_empty() && only.lines().all(|l| l.contains(" echo-b[")),
        "{only}"
    );
}
