//! The node's topology (`axon graph`): its agents, and one link per
//! connection, resolved to the agent that bound the other end.
//!
//! Binds come from the name server's records (every bound socket is
//! registered with its address); connects come from the journal the
//! supervisor keeps of each agent it started (every `connect` and
//! `subscribe` made through the control plane, `axon up`'s included). A
//! connect made by name (`to = "agent.alias"`) and one made to an address
//! both carry the bound side's address, so both resolve by endpoint.
//! Connects an agent's own code makes (in `on_init`, say) are not journaled,
//! so not shown.
//!
//! A cluster's picture joins every node's (`merge`): a node's answer also
//! carries its bound endpoints and the connects it could not resolve alone
//! (their bound end is on another node), which resolve against the binds of
//! all nodes.

use std::collections::BTreeMap;

use axon_runtime::protocol::journal::Entry;
use axon_runtime::protocol::methods::{Connect, HandlerSpec, Subscription};
use axon_runtime::SocketKind;
use serde::{Deserialize, Serialize};

use crate::methods::{AgentInfo, AgentStatus};

/// One agent of the picture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopologyAgent {
    /// Its name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its state, as `ps` shows it.
    pub state: String,
    /// Its supervision group's path; empty: the root.
    #[serde(default)]
    pub group: Vec<String>,
    /// The node that runs it, in a cluster's picture; empty on one node.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node: String,
}

/// One connection, drawn in the direction messages (or requests) flow.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    /// The sending (or requesting) agent.
    pub from: String,
    /// Its socket's alias.
    pub from_alias: String,
    /// Its socket's kind (`PUB`, `PUSH`, `REQ`, ...).
    pub from_kind: String,
    /// The receiving (or replying) agent.
    pub to: String,
    /// Its socket's alias.
    pub to_alias: String,
    /// Its socket's kind (`SUB`, `PULL`, `REP`, ...).
    pub to_kind: String,
    /// The topics subscribed (SUB sides), as text.
    #[serde(default)]
    pub topics: Vec<String>,
}

/// `topology`: the agents, and the connections between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Every agent, in `ps` order.
    pub agents: Vec<TopologyAgent>,
    /// Every connection whose bound end is an agent of the node, sorted.
    pub links: Vec<Link>,
    /// The node's bound sockets, to resolve other nodes' connects (`merge`).
    #[serde(default)]
    pub binds: Vec<Bound>,
    /// Connects whose bound end is on no agent of the node: another node's, or gone.
    #[serde(default)]
    pub unresolved: Vec<Connected>,
}

/// One bound socket: its endpoint, the agent that bound it and the alias.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bound {
    /// The endpoint, as registered.
    pub endpoint: String,
    /// The agent that bound it.
    pub agent: String,
    /// Its alias there.
    pub alias: String,
}

/// One journaled connect: who made it, its alias, the bound address's endpoint and kind, its topics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connected {
    /// The connecting agent.
    pub agent: String,
    /// Its socket's alias.
    pub alias: String,
    /// The bound end's endpoint.
    pub endpoint: String,
    /// The bound end's kind.
    pub bound_kind: SocketKind,
    /// The topics subscribed (SUB sides), as text.
    pub topics: Vec<String>,
}

impl Topology {
    /// One picture of several nodes': agents tagged with their node, links
    /// of each node, and the connects no node could resolve alone resolved
    /// against the binds of all (those still unresolved stay in `unresolved`).
    pub fn merge(parts: Vec<(String, Topology)>) -> Topology {
        let mut all = Topology::default();
        let mut pending = Vec::new();
        for (node, part) in parts {
            all.agents
                .extend(part.agents.into_iter().map(|a| TopologyAgent {
                    node: node.clone(),
                    ..a
                }));
            all.links.extend(part.links);
            all.binds.extend(part.binds);
            pending.extend(part.unresolved);
        }
        let bound = by_endpoint(&all.binds);
        for c in pending {
            match bound.get(&c.endpoint) {
                Some(owner) => all.links.push(link(owner, c)),
                None => all.unresolved.push(c),
            }
        }
        all.links.sort();
        all.links.dedup();
        all
    }
}

/// Bound endpoint -> (agent, alias).
fn by_endpoint(binds: &[Bound]) -> BTreeMap<String, (String, String)> {
    binds
        .iter()
        .map(|b| (b.endpoint.clone(), (b.agent.clone(), b.alias.clone())))
        .collect()
}

/// The topology from `ps`, the registered binds and the journals (by agent).
pub(crate) fn build<'a>(
    ps: Vec<AgentStatus>,
    binds: impl Iterator<Item = &'a AgentInfo>,
    journals: impl Iterator<Item = (&'a str, &'a [Entry])>,
) -> Topology {
    let binds: Vec<Bound> = binds
        .flat_map(|info| {
            info.addrs.iter().map(|(alias, a)| Bound {
                endpoint: a.endpoint.clone(),
                agent: info.name.clone(),
                alias: alias.clone(),
            })
        })
        .collect();
    let bound = by_endpoint(&binds);
    let (mut links, mut unresolved) = (Vec::new(), Vec::new());
    for c in journals.flat_map(|(agent, entries)| connects(agent, entries)) {
        match bound.get(&c.endpoint) {
            Some(owner) => links.push(link(owner, c)),
            None => unresolved.push(c),
        }
    }
    links.sort();
    let agents = ps
        .into_iter()
        .map(|s| TopologyAgent {
            name: s.name,
            kind: s.kind,
            state: s.state,
            group: s.group,
            node: String::new(),
        })
        .collect();
    Topology {
        agents,
        links,
        binds,
        unresolved,
    }
}

/// Who depends on whom, from the journals (by agent) and the registered binds:
/// (connecting agent, agent that bound the other end) for every resolved connect.
pub(crate) fn dependencies<'a>(
    binds: impl Iterator<Item = &'a AgentInfo>,
    journals: impl Iterator<Item = (&'a str, &'a [Entry])>,
) -> Vec<(String, String)> {
    let bound: BTreeMap<&str, &str> = binds
        .flat_map(|info| {
            info.addrs
                .values()
                .map(|a| (a.endpoint.as_str(), info.name.as_str()))
        })
        .collect();
    journals
        .flat_map(|(agent, entries)| connects(agent, entries))
        .filter_map(|c| {
            let owner = bound.get(c.endpoint.as_str())?;
            Some((c.agent, (*owner).to_owned()))
        })
        .collect()
}

/// The connects in one agent's journal, with the topics later subscribed on them.
fn connects(agent: &str, entries: &[Entry]) -> Vec<Connected> {
    let mut made: Vec<Connected> = Vec::new();
    for e in entries {
        match e.method.as_str() {
            "connect" => {
                let Ok(c) = e.args.deserialized::<Connect>() else {
                    continue;
                };
                let topics = match &c.handler {
                    Some(HandlerSpec::Topics(map)) => map.keys().map(|t| text(&t.0)).collect(),
                    _ => Vec::new(),
                };
                made.push(Connected {
                    agent: agent.to_owned(),
                    alias: c.alias.unwrap_or_default(),
                    endpoint: c.address.endpoint,
                    bound_kind: c.address.kind,
                    topics,
                });
            }
            "subscribe" => {
                let Ok(s) = e.args.deserialized::<Subscription>() else {
                    continue;
                };
                if let Some(c) = made.iter_mut().find(|c| c.alias == s.alias) {
                    c.topics.push(text(&s.topic.0));
                }
            }
            _ => {}
        }
    }
    made
}

fn text(topic: &[u8]) -> String {
    String::from_utf8_lossy(topic).into_owned()
}

/// The link of a connect to the socket `owner` (agent, alias) bound, oriented along the flow.
fn link(owner: &(String, String), c: Connected) -> Link {
    let (owner, owner_alias) = owner.clone();
    let own_kind = c.bound_kind.twin();
    let mut topics = c.topics;
    topics.sort();
    topics.dedup();
    match leads(c.bound_kind) {
        true => Link {
            from: owner,
            from_alias: owner_alias,
            from_kind: c.bound_kind.to_string(),
            to: c.agent,
            to_alias: c.alias,
            to_kind: own_kind.to_string(),
            topics,
        },
        false => Link {
            from: c.agent,
            from_alias: c.alias,
            from_kind: own_kind.to_string(),
            to: owner,
            to_alias: owner_alias,
            to_kind: c.bound_kind.to_string(),
            topics,
        },
    }
}

/// Whether messages (or requests) leave a socket of this kind toward its twin.
fn leads(kind: SocketKind) -> bool {
    matches!(
        kind,
        SocketKind::Pub
            | SocketKind::SyncPub
            | SocketKind::Push
            | SocketKind::Req
            | SocketKind::AsyncReq
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon_runtime::protocol::methods::{Subscription, Topic};
    use axon_runtime::{Address, Role, Serializer, Value};

    fn address(endpoint: &str, kind: SocketKind) -> Address {
        Address {
            endpoint: endpoint.into(),
            kind,
            role: Role::Server,
            serializer: Serializer::Cbor,
            requests: None,
            secure: false,
        }
    }

    fn info(name: &str, alias: &str, a: Address) -> AgentInfo {
        AgentInfo {
            name: name.into(),
            kind: "agent".into(),
            pid: 1,
            control: String::new(),
            addrs: BTreeMap::from([(alias.to_owned(), a)]),
        }
    }

    fn entry(method: &str, args: impl Serialize) -> Entry {
        Entry {
            key: String::new(),
            method: method.into(),
            args: Value::serialized(&args).unwrap(),
        }
    }

    #[test]
    fn connects_resolve_to_the_bound_agent_along_the_flow() {
        let feed = address("tcp://127.0.0.1:1", SocketKind::Pub);
        let sink = address("tcp://127.0.0.1:2", SocketKind::Pull);
        let binds = [
            info("feed", "out", feed.clone()),
            info("sink", "in", sink.clone()),
        ];
        let mut sub = Connect::new(&feed, Default::default());
        sub.alias = Some("prices".into());
        let mut push = Connect::new(&sink, Default::default());
        push.alias = Some("orders".into());
        let subscribe = Subscription {
            alias: "prices".into(),
            topic: Topic(b"EUR".to_vec()),
            handler: None,
        };
        let trader = [
            entry("connect", sub),
            entry("subscribe", subscribe),
            entry("connect", push),
        ];
        let unknown = [entry(
            "connect",
            Connect::new(&address("tcp://x:9", SocketKind::Rep), Default::default()),
        )];
        let journals = [("trader", &trader[..]), ("lost", &unknown[..])];
        let t = build(Vec::new(), binds.iter(), journals.into_iter());
        let link =
            |from: &str, fa: &str, fk: &str, to: &str, ta: &str, tk: &str, topics: &[&str]| Link {
                from: from.into(),
                from_alias: fa.into(),
                from_kind: fk.into(),
                to: to.into(),
                to_alias: ta.into(),
                to_kind: tk.into(),
                topics: topics.iter().map(|t| t.to_string()).collect(),
            };
        assert_eq!(
            t.links,
            vec![
                link("feed", "out", "PUB", "trader", "prices", "SUB", &["EUR"]),
                link("trader", "orders", "PUSH", "sink", "in", "PULL", &[]),
            ]
        );
        assert_eq!(t.unresolved.len(), 1);
        assert_eq!(t.unresolved[0].agent, "lost");
    }

    #[test]
    fn a_cluster_joins_connects_to_binds_on_other_nodes() {
        let feed = address("tcp://10.0.0.1:1", SocketKind::Pub);
        let status = |name: &str| AgentStatus {
            name: name.into(),
            kind: "agent".into(),
            pid: Some(1),
            state: "running".into(),
            restart: "permanent".into(),
            restarts: 0,
            uptime_ms: 0,
            cpu: None,
            rss: None,
            last_exit: None,
            group: Vec::new(),
            stats: None,
        };
        let mut sub = Connect::new(&feed, Default::default());
        sub.alias = Some("prices".into());
        let trader = [entry("connect", sub)];
        let gone = [entry(
            "connect",
            Connect::new(&address("tcp://x:9", SocketKind::Rep), Default::default()),
        )];
        let a_binds = [info("feed", "out", feed.clone())];
        let a = build(vec![status("feed")], a_binds.iter(), std::iter::empty());
        let b_journals = [("trader", &trader[..]), ("client", &gone[..])];
        let b = build(
            vec![status("trader"), status("client")],
            std::iter::empty(),
            b_journals.into_iter(),
        );
        assert!(a.links.is_empty() && b.links.is_empty());
        assert_eq!(b.unresolved.len(), 2);
        let all = Topology::merge(vec![("a".into(), a), ("b".into(), b)]);
        let nodes: Vec<(&str, &str)> = all
            .agents
            .iter()
            .map(|g| (g.name.as_str(), g.node.as_str()))
            .collect();
        assert_eq!(nodes, [("feed", "a"), ("trader", "b"), ("client", "b")]);
        assert_eq!(all.links.len(), 1);
        let l = &all.links[0];
        assert_eq!(
            (
                l.from.as_str(),
                l.from_kind.as_str(),
                l.to.as_str(),
                l.to_alias.as_str()
            ),
            ("feed", "PUB", "trader", "prices")
        );
        assert_eq!(all.unresolved.len(), 1);
        assert_eq!(all.unresolved[0].agent, "client");
    }
}
