//! `axon ps --tree`: the node's supervision tree, groups with their strategy
//! and intensity usage, agents under their group in start order.
//!
//! ```text
//! root  one_for_one  intensity 0/1 in 10s
//! ├── a  echo  running  pid 4711  restarts 0
//! ├── middle  one_for_one  intensity 1/2 in 30s  restarted 0
//! │   ├── b  echo  running  pid 4712  restarts 1
//! │   └── inner  one_for_one  intensity 0/1 in 30s  restarted 1
//! │       └── c  echo  running  pid 4790  restarts 2
//! └── z  echo  running  pid 4720  restarts 0
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use axon::{AgentStatus, GroupStatus, NameServer};

/// One line under a group: an agent (by index in `ps`) or a group (by path).
enum Item {
    Agent(usize),
    Group(Vec<String>),
}

/// Prints the tree of the node `ns` serves.
pub fn print(ns: &NameServer) -> Result<()> {
    let agents = ns.ps().context("listing agents")?;
    let groups = ns.groups().context("listing supervision groups")?;
    for line in render(&agents, &groups) {
        println!("{line}");
    }
    Ok(())
}

/// The tree as lines: `agents` in start order (as `ps` gives them), `groups` parents first.
pub fn render(agents: &[AgentStatus], groups: &[GroupStatus]) -> Vec<String> {
    let mut children: BTreeMap<Vec<String>, Vec<Item>> = BTreeMap::new();
    for (i, a) in agents.iter().enumerate() {
        open(&a.group, &mut children);
        children
            .entry(a.group.clone())
            .or_default()
            .push(Item::Agent(i));
    }
    for g in groups {
        open(&g.path, &mut children);
    }
    let by_path: BTreeMap<&[String], &GroupStatus> =
        groups.iter().map(|g| (g.path.as_slice(), g)).collect();
    let mut lines = vec![group_line("root", by_path.get(&[][..]).copied())];
    let tree = Tree {
        agents,
        by_path,
        children,
    };
    tree.below(&[], "", &mut lines);
    lines
}

struct Tree<'a> {
    agents: &'a [AgentStatus],
    by_path: BTreeMap<&'a [String], &'a GroupStatus>,
    children: BTreeMap<Vec<String>, Vec<Item>>,
}

impl Tree<'_> {
    /// The lines under the group `path`, each prefixed by `indent` and its branch.
    fn below(&self, path: &[String], indent: &str, lines: &mut Vec<String>) {
        let Some(items) = self.children.get(path) else {
            return;
        };
        for (n, item) in items.iter().enumerate() {
            let last = n + 1 == items.len();
            let (branch, more) = if last {
                ("└── ", "    ")
            } else {
                ("├── ", "│   ")
            };
            match item {
                Item::Agent(i) => {
                    lines.push(format!("{indent}{branch}{}", agent_line(&self.agents[*i])))
                }
                Item::Group(g) => {
                    let name = g.last().map_or("?", String::as_str);
                    let status = self.by_path.get(g.as_slice()).copied();
                    lines.push(format!("{indent}{branch}{}", group_line(name, status)));
                    self.below(g, &format!("{indent}{more}"), lines);
                }
            }
        }
    }
}

/// Puts each group on `path` under its parent, where it first shows.
fn open(path: &[String], children: &mut BTreeMap<Vec<String>, Vec<Item>>) {
    for depth in 1..=path.len() {
        let (parent, group) = (path[..depth - 1].to_vec(), path[..depth].to_vec());
        let siblings = children.entry(parent).or_default();
        let known = siblings
            .iter()
            .any(|i| matches!(i, Item::Group(g) if *g == group));
        if !known {
            siblings.push(Item::Group(group));
        }
    }
}

fn group_line(name: &str, g: Option<&GroupStatus>) -> String {
    let Some(g) = g else {
        return format!("{name}  (no longer in the tree)");
    };
    let strategy = serde_json::to_value(g.strategy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let period = humantime(Duration::from_millis(g.period_ms));
    let mut line = format!(
        "{name}  {strategy}  intensity {}/{} in {period}",
        g.recent, g.intensity
    );
    if !g.path.is_empty() {
        line.push_str(&format!("  restarted {}", g.restarts));
    }
    line
}

fn agent_line(a: &AgentStatus) -> String {
    let pid = a.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
    format!(
        "{}  {}  {}  pid {pid}  restarts {}",
        a.name, a.kind, a.state, a.restarts
    )
}

/// `500ms`, `10s`, `1.5s`.
fn humantime(d: Duration) -> String {
    match d.subsec_millis() {
        0 => format!("{}s", d.as_secs()),
        _ if d.as_secs() == 0 => format!("{}ms", d.as_millis()),
        _ => format!("{}s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon::RestartStrategy;

    fn agent(name: &str, group: &[&str]) -> AgentStatus {
        AgentStatus {
            name: name.into(),
            kind: "echo".into(),
            pid: Some(7),
            state: "running".into(),
            restart: "permanent".into(),
            restarts: 0,
            uptime_ms: 0,
            cpu: None,
            rss: None,
            last_exit: None,
            group: group.iter().map(|g| (*g).to_owned()).collect(),
            stats: None,
        }
    }

    fn group(path: &[&str]) -> GroupStatus {
        GroupStatus {
            path: path.iter().map(|g| (*g).to_owned()).collect(),
            strategy: RestartStrategy::RestForOne,
            intensity: 2,
            period_ms: 1500,
            recent: 1,
            restarts: 0,
        }
    }

    #[test]
    fn groups_sit_where_their_first_agent_starts_and_empty_ones_last() {
        let agents = [agent("a", &[]), agent("b", &["g", "h"]), agent("c", &[])];
        let groups = [group(&[]), group(&["g"]), group(&["g", "h"]), group(&["e"])];
        let lines = render(&agents, &groups);
        let expected = [
            "root  rest_for_one  intensity 1/2 in 1.5s",
            "├── a  echo  running  pid 7  restarts 0",
            "├── g  rest_for_one  intensity 1/2 in 1.5s  restarted 0",
            "│   └── h  rest_for_one  intensity 1/2 in 1.5s  restarted 0",
            "│       └── b  echo  running  pid 7  restarts 0",
            "├── c  echo  running  pid 7  restarts 0",
            "└── e  rest_for_one  intensity 1/2 in 1.5s  restarted 0",
        ];
        assert_eq!(lines, expected);
    }
}
