//! `axon graph` against a deployment run by the real `axon up`: the exact
//! nodes and edges in DOT and Mermaid (PUB/SUB with topics, PUSH/PULL,
//! REQ/REP; connects by name and by address), and SVG through Graphviz.

use std::collections::BTreeSet;

use axon::testing::Deployment;
use axon::ConnectOptions;

const AXON: &str = env!("CARGO_BIN_EXE_axon");

const MANIFEST: &str = r#"
[[agent]]
name = "feed"
kind = "ticker"
attributes = { period_ms = 100, topic = "t" }
  [[agent.bind]]
  alias = "out"
  socket = "PUB"
  transport = "tcp"

[[agent]]
name = "watcher"
kind = "counter"
  [[agent.connect]]
  to = "feed.out"
  alias = "prices"
  handler = "count"
  topics = ["t"]

[[agent]]
name = "sink"
kind = "counter"
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  transport = "tcp"
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

[[agent]]
name = "client"
kind = "agent"
  [[agent.connect]]
  to = "echo.main"
  alias = "ask"
  [[agent.connect]]
  to = "sink.in"
  alias = "orders"
"#;

/// Runs `axon graph --format FORMAT` against `dep`; its stdout.
fn graph(dep: &Deployment, format: &str) -> String {
    let out = dep.cli(&["graph", "--format", format]).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "axon graph --format {format}: {err}");
    String::from_utf8(out.stdout).unwrap()
}

/// A deployment whose client also connected to the sink by address, not by name.
fn deployment() -> Deployment {
    let dep = Deployment::start(AXON, MANIFEST).expect("deployment starts");
    let sink = dep.nameserver().addr("sink", "in").unwrap();
    let mut client = dep.proxy("client").unwrap();
    client
        .connect_with(&sink, ConnectOptions::alias("direct"))
        .unwrap();
    dep
}

fn lines(text: &str, keep: impl Fn(&str) -> bool) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| keep(l))
        .map(String::from)
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn graph_draws_every_agent_and_connection_in_dot_mermaid_and_svg() {
    let dep = deployment();

    let dot = graph(&dep, "dot");
    assert!(
        dot.starts_with("digraph axon {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    let edges = lines(&dot, |l| l.contains(" -> \"") && l.ends_with("];"));
    let want = set(&[
        r#""client" -> "echo" [label="REQ/REP ask -> main"];"#,
        r#""client" -> "sink" [label="PUSH/PULL direct -> in"];"#,
        r#""client" -> "sink" [label="PUSH/PULL orders -> in"];"#,
        r#""feed" -> "watcher" [label="PUB/SUB out -> prices [t]"];"#,
    ]);
    assert_eq!(edges, want, "{dot}");
    let nodes = lines(&dot, |l| l.starts_with('"') && !l.contains(" -> "));
    let running = "fillcolor=\"#b7e4b0\"];";
    let want = set(&[
        &format!(r#""feed" [label="feed\nticker (running)", {running}"#),
        &format!(r#""watcher" [label="watcher\ncounter (running)", {running}"#),
        &format!(r#""sink" [label="sink\ncounter (running)", {running}"#),
        &format!(r#""echo" [label="echo\necho (running)", {running}"#),
        &format!(r#""client" [label="client\nagent (running)", {running}"#),
    ]);
    assert_eq!(nodes, want, "{dot}");

    let mermaid = graph(&dep, "mermaid");
    let want = "flowchart LR
  a0[\"feed (ticker)\"]
  a1[\"watcher (counter)\"]
  a2[\"sink (counter)\"]
  a3[\"echo (echo)\"]
  a4[\"client (agent)\"]
  a4 -->|\"REQ/REP ask -> main\"| a3
  a4 -->|\"PUSH/PULL direct -> in\"| a2
  a4 -->|\"PUSH/PULL orders -> in\"| a2
  a0 -->|\"PUB/SUB out -> prices [t]\"| a1
  style a0 fill:#b7e4b0
  style a1 fill:#b7e4b0
  style a2 fill:#b7e4b0
  style a3 fill:#b7e4b0
  style a4 fill:#b7e4b0
";
    assert_eq!(mermaid, want);

    // CI installs Graphviz (.ci/run); here it must be there too.
    let svg = graph(&dep, "svg");
    assert!(
        svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
        "{svg}"
    );
    for name in [
        "feed",
        "watcher",
        "sink",
        "echo",
        "client",
        "PUSH/PULL direct &#45;&gt; in",
    ] {
        assert!(svg.contains(name), "{name} missing from the SVG:\n{svg}");
    }
    dep.stop().unwrap();
}
