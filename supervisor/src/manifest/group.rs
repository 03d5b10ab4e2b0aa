//! `[[group]]` tables: a supervision tree, flattened into the agents in
//! start order (each with its group) and the groups (parents first).
//!
//! Within one table, agents and groups start in the order they are written
//! (by their `name` line); a group starts its members before the next
//! sibling starts. Group names are unique in the tree and never an agent's
//! name; a group with no agent under it (directly or in a nested group) is
//! refused, as it would supervise nothing.

use std::collections::BTreeMap;

use toml::Spanned;

use super::{parse_duration, raw, Lines, ManifestError};
use crate::policy::{GroupSpec, SupervisorSpec};

/// The manifest's agents in start order, each with the group it is in (`None`: the root).
pub(super) type Placed<'a> = Vec<(&'a Spanned<raw::Agent>, Option<String>)>;

/// Walks the root's agents and groups in manifest order, depth first.
pub(super) fn flatten<'a>(
    lines: &Lines<'_>,
    agents: &'a [Spanned<raw::Agent>],
    groups: &'a [Spanned<raw::Group>],
) -> Result<(Placed<'a>, Vec<GroupSpec>), ManifestError> {
    let mut walk = Walk {
        placed: Vec::new(),
        groups: Vec::new(),
        lines,
    };
    walk.level(None, agents, groups)?;
    let Walk { placed, groups, .. } = walk;
    check_names(lines, &placed, &groups)?;
    Ok((placed, groups.into_iter().map(|(g, _)| g).collect()))
}

/// One entry of a table: an agent or a nested group.
enum Item<'a> {
    Agent(&'a Spanned<raw::Agent>),
    Group(&'a Spanned<raw::Group>),
}

struct Walk<'a, 'l> {
    placed: Placed<'a>,
    /// Each group with the span of its name, for error lines.
    groups: Vec<(GroupSpec, std::ops::Range<usize>)>,
    lines: &'l Lines<'l>,
}

impl<'a> Walk<'a, '_> {
    /// One table's agents and groups (of the group `parent`), in the order they are written.
    fn level(
        &mut self,
        parent: Option<&str>,
        agents: &'a [Spanned<raw::Agent>],
        groups: &'a [Spanned<raw::Group>],
    ) -> Result<(), ManifestError> {
        let mut items: Vec<(usize, Item<'a>)> = agents
            .iter()
            .map(|a| (a.get_ref().name.span().start, Item::Agent(a)))
            .collect();
        let nested = groups
            .iter()
            .map(|g| (g.get_ref().name.span().start, Item::Group(g)));
        items.extend(nested);
        items.sort_by_key(|(at, _)| *at);
        for (_, item) in items {
            match item {
                Item::Agent(agent) => self.placed.push((agent, parent.map(str::to_owned))),
                Item::Group(group) => self.group(parent, group)?,
            }
        }
        Ok(())
    }

    fn group(
        &mut self,
        parent: Option<&str>,
        spanned: &'a Spanned<raw::Group>,
    ) -> Result<(), ManifestError> {
        let g = spanned.get_ref();
        let name = g.name.get_ref();
        if name.is_empty() {
            return Err(self
                .lines
                .error(g.name.span(), "group name must not be empty"));
        }
        let defaults = SupervisorSpec::default();
        let period = match &g.period {
            Some(p) => parse_duration(p.get_ref()).map_err(|e| self.lines.error(p.span(), e))?,
            None => defaults.period,
        };
        let spec = GroupSpec {
            name: name.clone(),
            parent: parent.map(str::to_owned),
            strategy: g.strategy.unwrap_or(defaults.strategy),
            intensity: g.intensity.unwrap_or(defaults.intensity),
            period,
        };
        self.groups.push((spec, g.name.span()));
        let before = self.placed.len();
        self.level(Some(name), &g.agent, &g.group)?;
        if self.placed.len() == before {
            let message = format!(
                "group {name:?} has no agents: give it a [[group.agent]] (directly or in a nested group)"
            );
            return Err(self.lines.error(g.name.span(), message));
        }
        Ok(())
    }
}

/// Group names are unique in the tree and never an agent's.
fn check_names(
    lines: &Lines<'_>,
    placed: &Placed<'_>,
    groups: &[(GroupSpec, std::ops::Range<usize>)],
) -> Result<(), ManifestError> {
    let agents: BTreeMap<&str, usize> = placed
        .iter()
        .map(|(a, _)| {
            (
                a.get_ref().name.get_ref().as_str(),
                a.get_ref().name.span().start,
            )
        })
        .collect();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, span) in groups {
        let first = seen
            .get(g.name.as_str())
            .or_else(|| agents.get(g.name.as_str()));
        if let Some(first) = first {
            let message = format!(
                "duplicate name {:?}: line {} already names an agent or group (names are unique in the whole tree)",
                g.name,
                lines.of(*first..*first)
            );
            return Err(lines.error(span.clone(), message));
        }
        seen.insert(&g.name, span.start);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::manifest::{Manifest, ManifestError};
    use crate::policy::RestartStrategy;

    const TREE: &str = r#"
[supervisor]
intensity = 1
[[agent]]
name = "a"
kind = "echo"
[[group]]
name = "middle"
strategy = "one_for_all"
intensity = 2
period = "30s"
  [[group.agent]]
  name = "b"
  kind = "echo"
  [[group.group]]
  name = "inner"
    [[group.group.agent]]
    name = "c"
    kind = "echo"
    [[group.group.agent]]
    name = "d"
    kind = "echo"
    restart = "transient"
  [[group.agent]]
  name = "e"
  kind = "echo"
[[agent]]
name = "z"
kind = "echo"
"#;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        Manifest::parse(text, &["echo".to_owned()])
    }

    #[test]
    fn groups_flatten_into_start_order_with_each_agents_group() {
        let m = parse(TREE).unwrap();
        let placed: Vec<(&str, Option<&str>)> = m
            .agents
            .iter()
            .map(|a| (a.name.as_str(), a.group.as_deref()))
            .collect();
        assert_eq!(
            placed,
            [
                ("a", None),
                ("b", Some("middle")),
                ("c", Some("inner")),
                ("d", Some("inner")),
                ("e", Some("middle")),
                ("z", None)
            ]
        );
        let groups = &m.supervisor.groups;
        assert_eq!(groups.len(), 2);
        assert_eq!(
            (groups[0].name.as_str(), groups[0].parent.as_deref()),
            ("middle", None)
        );
        assert_eq!(groups[0].strategy, RestartStrategy::OneForAll);
        assert_eq!((groups[0].intensity, groups[0].period.as_secs()), (2, 30));
        assert_eq!(groups[1].parent.as_deref(), Some("middle"));
        assert_eq!(
            (groups[1].strategy, groups[1].intensity),
            (RestartStrategy::OneForOne, 3)
        );
        assert_eq!(m.supervisor.intensity, 1);
    }

    #[test]
    fn bad_groups_are_refused_at_their_line() {
        let e = parse(&TREE.replace("name = \"inner\"", "name = \"a\"")).unwrap_err();
        assert_eq!(e.line, 16, "{e}");
        assert!(e.message.contains("duplicate name \"a\": line 5"), "{e}");
        let e = parse(&TREE.replace("name = \"inner\"", "name = \"middle\"")).unwrap_err();
        assert_eq!(e.line, 16, "{e}");
        let e = parse(&TREE.replace("name = \"z\"", "name = \"c\"")).unwrap_err();
        assert!(e.message.contains("duplicate agent name"), "{e}");
        let e =
            parse(&TREE.replace("strategy = \"one_for_all\"", "strategy = \"all\"")).unwrap_err();
        assert_eq!(e.line, 9, "{e}");
        let e = parse(&TREE.replace("intensity = 2", "intensity = 2\nrestart = \"temporary\""))
            .unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        let e = parse(&TREE.replace("period = \"30s\"", "period = \"soon\"")).unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        let empty = "[[group]]\nname = \"g\"\n  [[group.group]]\n  name = \"h\"\n";
        let e = parse(empty).unwrap_err();
        assert_eq!(
            (e.line, e.message.contains("group \"h\" has no agents")),
            (4, true),
            "{e}"
        );
        let e = parse("[[group]]\nname = \"\"\n").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
    }

    #[test]
    fn a_manifest_without_groups_has_none() {
        let m = parse("[[agent]]\nname = \"a\"\nkind = \"echo\"\n").unwrap();
        assert!(m.supervisor.groups.is_empty() && m.agents[0].group.is_none());
    }
}
