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

fn dot(t: &Topology) -> String {
    let mut out = String::from("digraph axon {\n  rankdir=LR;\n");
    out += "  node [shape=box, style=\"rounded,filled\"];\n";
    for a in &t.agents {
        let (name, kind) = (esc(&a.name), esc(&a.kind));
        let fill = colour(&a.state);
        out += &format!(
            "  \"{name}\" [label=\"{name}\\n{kind} ({})\", fillcolor=\"{fill}\"];\n",
            esc(&a.state)
        );
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
    for (i, a) in t.agents.iter().enumerate() {
        out += &format!("  a{i}[\"{} ({})\"]\n", q(&a.name), q(&a.kind));
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
}
