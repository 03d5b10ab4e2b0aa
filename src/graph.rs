//! `axon graph`: the live topology as Graphviz DOT, SVG (through `dot`) or Mermaid.
//!
//! Agents are nodes coloured by state; each connection is an edge along the
//! flow of messages (or requests), labelled with its pattern, the two
//! aliases and, for SUB sides, the topics. The topology comes from the name
//! server's `topology` method (binds from its records, connects from the
//! journal of each agent it started).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use axon_supervisor::topology::{Link, Topology};

/// What `axon graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// SVG, rendered by Graphviz's `dot -Tsvg`.
    Svg,
    /// A Mermaid flowchart (for docs).
    Mermaid,
}

/// The topology in `format`.
pub fn render(t: &Topology, format: Format) -> Result<String> {
    match format {
        Format::Dot => Ok(dot(t)),
        Format::Mermaid => Ok(mermaid(t)),
        Format::Svg => svg(&dot(t)),
    }
}

/// Fill colour of an agent in `state` (DOT and Mermaid alike).
fn colour(state: &str) -> &'static str {
    match state {
        "running" => "#b7e4b0",
        "starting" | "restarting" => "#ffe08a",
        "stopping" | "stopped" => "#d9d9d9",
        "exited" | "failed" => "#f4a6a0",
        _ => "#bcd7f5",
    }
}

/// An edge's label: pattern, aliases, topics.
fn label(l: &Link) -> String {
    let mut text = format!(
        "{}/{} {} -> {}",
        l.from_kind, l.to_kind, l.from_alias, l.to_alias
    );
    if !l.topics.is_empty() {
        text += &format!(" [{}]", l.topics.join(", "));
    }
    text
}

/// A DOT string's inside: backslashes and quotes escaped.
fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The agents' indices grouped by node, in first-seen order; one group named "" on one node.
fn by_node(t: &Topology) -> Vec<(&str, Vec<usize>)> {
    let mut groups: Vec<(&str, Vec<usize>)> = Vec::new();
    for (i, a) in t.agents.iter().enumerate() {
        match groups.iter_mut().find(|(n, _)| *n == a.node) {
            Some((_, members)) => members.push(i),
            None => groups.push((&a.node, vec![i])),
        }
    }
    groups
}

fn dot(t: &Topology) -> String {
    let mut out = String::from("digraph axon {\n  rankdir=LR;\n");
    out += "  node [shape=box, style=\"rounded,filled\"];\n";
    for (n, (node, members)) in by_node(t).into_iter().enumerate() {
        let indent = match node.is_empty() {
            true => "  ",
            false => {
                out += &format!(
                    "  subgraph \"cluster_{n}\" {{\n    label=\"node {}\";\n",
                    esc(node)
                );
                "    "
            }
        };
        for a in members.into_iter().map(|i| &t.agents[i]) {
            let (name, kind) = (esc(&a.name), esc(&a.kind));
            let fill = colour(&a.state);
            out += &format!(
                "{indent}\"{name}\" [label=\"{name}\\n{kind} ({})\", fillcolor=\"{fill}\"];\n",
                esc(&a.state)
            );
        }
        if !node.is_empty() {
            out += "  }\n";
        }
    }
    for l in &t.links {
        let (from, to, text) = (esc(&l.from), esc(&l.to), esc(&label(l)));
        out += &format!("  \"{from}\" -> \"{to}\" [label=\"{text}\"];\n");
    }
    out + "}\n"
}

fn mermaid(t: &Topology) -> String {
    // Mermaid ids are plain words: agents are a0, a1, ... in `ps` order, named in their labels.
    let id = |name: &str| {
        t.agents
            .iter()
            .position(|a| a.name == name)
            .map(|i| format!("a{i}"))
    };
    let q = |s: &str| s.replace('"', "#quot;");
    let mut out = String::from("flowchart LR\n");
    for (n, (node, members)) in by_node(t).into_iter().enumerate() {
        let indent = match node.is_empty() {
            true => "  ",
            false => {
                out += &format!("  subgraph n{n}[\"node {}\"]\n", q(node));
                "    "
            }
        };
        for i in members {
            let a = &t.agents[i];
            out += &format!("{indent}a{i}[\"{} ({})\"]\n", q(&a.name), q(&a.kind));
        }
        if !node.is_empty() {
            out += "  end\n";
        }
    }
    for l in &t.links {
        if let (Some(from), Some(to)) = (id(&l.from), id(&l.to)) {
            out += &format!("  {from} -->|\"{}\"| {to}\n", q(&label(l)));
        }
    }
    for (i, a) in t.agents.iter().enumerate() {
        out += &format!("  style a{i} fill:{}\n", colour(&a.state));
    }
    out
}

/// Renders DOT to SVG with Graphviz's `dot`.
fn svg(dot: &str) -> Result<String> {
    let child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "--format svg needs Graphviz's `dot`, which is not installed (Debian: apt-get install graphviz); --format dot or mermaid need nothing"
        ),
        Err(e) => return Err(e).context("running dot -Tsvg"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(dot.as_bytes()).context("writing to dot")?;
    }
    let out = child.wait_with_output().context("waiting for dot")?;
    if !out.status.success() {
        bail!(
            "dot -Tsvg failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).context("dot's SVG is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon_supervisor::topology::TopologyAgent;

    fn agent(name: &str, state: &str) -> TopologyAgent {
        TopologyAgent {
            name: name.into(),
            kind: "k".into(),
            state: state.into(),
            group: Vec::new(),
            node: String::new(),
        }
    }

    #[test]
    fn states_colour_nodes_and_quotes_are_escaped() {
        let t = Topology {
            agents: vec![agent("a\"b", "failed"), agent("c", "restarting")],
            links: vec![Link {
                from: "c".into(),
                from_alias: "out".into(),
                from_kind: "PUB".into(),
                to: "a\"b".into(),
                to_alias: "in".into(),
                to_kind: "SUB".into(),
                topics: vec!["x".into(), "y".into()],
            }],
            ..Topology::default()
        };
        let dot = dot(&t);
        assert!(
            dot.contains("  \"a\\\"b\" [label=\"a\\\"b\\nk (failed)\", fillcolor=\"#f4a6a0\"];\n"),
            "{dot}"
        );
        assert!(dot.contains("fillcolor=\"#ffe08a\""), "{dot}");
        assert!(
            dot.contains("  \"c\" -> \"a\\\"b\" [label=\"PUB/SUB out -> in [x, y]\"];\n"),
            "{dot}"
        );
        let mermaid = mermaid(&t);
        assert!(mermaid.contains("  a0[\"a#quot;b (k)\"]\n"), "{mermaid}");
        assert!(
            mermaid.contains("  a1 -->|\"PUB/SUB out -> in [x, y]\"| a0\n"),
            "{mermaid}"
        );
        assert!(mermaid.contains("  style a0 fill:#f4a6a0\n"), "{mermaid}");
    }

    #[test]
    fn a_cluster_draws_one_box_per_node() {
        let on = |name: &str, node: &str| TopologyAgent {
            node: node.into(),
            ..agent(name, "running")
        };
        let t = Topology {
            agents: vec![on("a", "n1"), on("b", "n2"), on("c", "n1")],
            ..Topology::default()
        };
        let dot = dot(&t);
        let box1 = "  subgraph \"cluster_0\" {\n    label=\"node n1\";\n    \"a\" [";
        assert!(dot.contains(box1), "{dot}");
        assert!(dot.contains("    \"c\" [label=\"c\\nk (running)\", fillcolor=\"#b7e4b0\"];\n  }\n  subgraph \"cluster_1\" {\n    label=\"node n2\";\n    \"b\" ["), "{dot}");
        let mermaid = mermaid(&t);
        assert!(mermaid.contains("  subgraph n0[\"node n1\"]\n    a0[\"a (k)\"]\n    a2[\"c (k)\"]\n  end\n  subgraph n1[\"node n2\"]\n    a1[\"b (k)\"]\n  end\n"), "{mermaid}");
    }
}
