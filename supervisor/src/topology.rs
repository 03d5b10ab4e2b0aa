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
}

/// One journaled connect: who made it, its alias, the bound address's endpoint and kind, its topics.
struct Connected {
    agent: String,
    alias: String,
    endpoint: String,
    bound_kind: SocketKind,
    topics: Vec<String>,
}

/// The topology from `ps`, the registered binds and the journals (by agent).
pub(crate) fn build<'a>(
    ps: Vec<AgentStatus>,
    binds: impl Iterator<Item = &'a AgentInfo>,
    journals: impl Iterator<Item = (&'a str, &'a [Entry])>,
) -> Topology {
    // Bound endpoint -> (agent, alias).
    let mut bound: BTreeMap<String, (String, String)> = BTreeMap::new();
    for info in binds {
        for (alias, a) in &info.addrs {
            bound.insert(a.endpoint.clone(), (info.name.clone(), alias.clone()));
        }
    }
    let mut links: Vec<Link> = journals
        .flat_map(|(agent, entries)| connects(agent, entries))
        .filter_map(|c| link(&bound, c))
        .collect();
    links.sort();
    let agents = ps
        .into_iter()
        .map(|s| TopologyAgent {
            name: s.name,
            kind: s.kind,
            state: s.state,
            group: s.group,
        })
        .collect();
    Topology { agents, links }
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

/// The link of a connect whose bound end is known, oriented along the flow.
fn link(bound: &BTreeMap<String, (String, String)>, c: Connected) -> Option<Link> {
    let (owner, owner_alias) = bound.get(&c.endpoint)?.clone();
    let own_kind = c.bound_kind.twin();
    let mut topics = c.topics;
    topics.sort();
    topics.dedup();
    let link = match leads(c.bound_kind) {
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
    };
    Some(link)
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
    }
}
