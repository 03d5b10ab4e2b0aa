//! One agent's socket table: its sockets by alias, each with its backlog,
//! handlers, subscriptions and waiting requests, and the counters they move.
//! No actix here: the host drives these sockets, handlers reach them
//! through `Ctx`, and neither sees a socket's internals.
//!
//! - `open`: binds and connects, and where ipc files go.
//! - `slot`: one open socket and what the host needs to serve it.
//! - `send`: sending values and requests.
//! - `counts`: counting what a message came to, per agent and per socket.
//! - `socket_ref`: naming a socket by alias or by a handle resolved once.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::error::{Error, RemoteError, Result};
use crate::launch::AgentSpec;
use crate::net::{Address, Io, Role, Socket, SocketKind};
use crate::stats::Stats;

mod counts;
mod open;
mod reliable;
mod send;
mod slot;
mod socket_ref;

pub use open::safe_name;
pub(crate) use reliable::{is_header, Incoming, Verdict};
pub(crate) use slot::{Slot, Waiter, Waiting};
use socket_ref::unknown_socket;
pub use socket_ref::{SocketKey, SocketRef};

/// A change of where this agent's sockets are bound, for the name server to learn.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum AddrChange {
    /// `alias` is bound at this address.
    Bound(String, Address),
    /// `alias` is closed.
    Closed(String),
}

/// The sockets and counters of one agent.
pub(crate) struct Sockets {
    pub(crate) spec: AgentSpec,
    pub(crate) slots: Vec<Option<Slot>>,
    /// Slot index by alias; an ordered map: a few short keys compare faster than they hash.
    pub(crate) aliases: BTreeMap<Rc<str>, usize>,
    pub(crate) stats: Stats,
    /// The socket whose message the host is handling now, if any: what counts
    /// made on the way (received, handler and decode errors, ...) are for.
    pub(crate) serving: Option<usize>,
    /// Where sockets were bound or closed since the host last looked, oldest first.
    addr_changes: Vec<AddrChange>,
    pub(crate) encode_buf: Vec<u8>,
    next_generation: u64,
    next_alias: u64,
}

impl Sockets {
    pub(crate) fn new(spec: AgentSpec) -> Self {
        Sockets {
            spec,
            slots: Vec::new(),
            aliases: BTreeMap::new(),
            stats: Stats::default(),
            serving: None,
            addr_changes: Vec::new(),
            encode_buf: Vec::with_capacity(256),
            next_generation: 1,
            next_alias: 1,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    /// The slot index of `alias`.
    pub(crate) fn index(&self, alias: &str) -> Result<usize> {
        self.aliases
            .get(alias)
            .copied()
            .ok_or_else(|| Error::UnknownAlias(alias.to_owned()))
    }

    /// A handle on the socket `alias` that skips the lookup from then on.
    pub(crate) fn socket_ref(&self, alias: &str) -> Result<SocketRef> {
        let (index, slot) = self.find(SocketKey::Alias(alias))?;
        Ok(SocketRef {
            index,
            generation: slot.generation,
            alias: slot.alias.clone(),
        })
    }

    /// The open slot that `key` names, and its index: the alias looked up, or
    /// the handle checked to name a socket that is still open.
    #[inline(always)]
    pub(crate) fn find(&self, key: SocketKey<'_>) -> Result<(usize, &Slot)> {
        let found = match key {
            SocketKey::Ref(r) => self
                .slots
                .get(r.index)
                .and_then(Option::as_ref)
                .filter(|s| s.generation == r.generation)
                .map(|s| (r.index, s)),
            SocketKey::Alias(alias) => self
                .aliases
                .get(alias)
                .and_then(|&i| self.slots[i].as_ref().map(|s| (i, s))),
        };
        found.ok_or_else(|| unknown_socket(key))
    }

    /// The slot that `key` names.
    #[inline]
    pub(crate) fn slot_of(&self, key: SocketKey<'_>) -> Result<&Slot> {
        self.find(key).map(|(_, slot)| slot)
    }

    pub(crate) fn slot(&self, alias: &str) -> Result<&Slot> {
        self.slot_of(SocketKey::Alias(alias))
    }

    pub(crate) fn slot_mut(&mut self, alias: &str) -> Result<&mut Slot> {
        let i = self.index(alias)?;
        self.slots[i]
            .as_mut()
            .ok_or_else(|| Error::UnknownAlias(alias.to_owned()))
    }

    /// The slot at `index` if it is still the same socket (`generation`).
    pub(crate) fn live_slot(&mut self, index: usize, generation: u64) -> Option<&mut Slot> {
        self.slots
            .get_mut(index)
            .and_then(Option::as_mut)
            .filter(|s| s.generation == generation)
    }

    pub(crate) fn fresh_alias(&mut self, kind: SocketKind) -> String {
        loop {
            let alias = format!("{}-{}", kind.as_str().to_ascii_lowercase(), self.next_alias);
            self.next_alias += 1;
            if !self.aliases.contains_key(alias.as_str()) {
                return alias;
            }
        }
    }

    fn claim_alias(&mut self, alias: Option<String>, kind: SocketKind) -> Result<String> {
        match alias {
            Some(a) if self.aliases.contains_key(a.as_str()) => Err(Error::AliasInUse(a)),
            Some(a) if a.is_empty() => Err(Error::invalid("alias", a, "must not be empty")),
            Some(a) if a.contains('/') => Err(Error::invalid(
                "alias",
                a,
                "must not contain `/` (it separates an alias from its parts)",
            )),
            Some(a) => Ok(a),
            None => Ok(self.fresh_alias(kind)),
        }
    }

    fn insert(
        &mut self,
        alias: String,
        address: Address,
        io: Io,
        handler: Option<String>,
        topics: Vec<(Vec<u8>, Option<String>)>,
    ) -> (usize, u64) {
        let alias: Rc<str> = alias.into();
        let (index, generation) = self.insert_slot(alias.clone(), address, io, handler, topics);
        self.aliases.insert(alias, index);
        (index, generation)
    }

    /// Stores a socket in a free slot; only [`Sockets::insert`] makes it reachable by alias.
    fn insert_slot(
        &mut self,
        alias: Rc<str>,
        address: Address,
        io: Io,
        handler: Option<String>,
        topics: Vec<(Vec<u8>, Option<String>)>,
    ) -> (usize, u64) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = Slot {
            alias: alias.clone(),
            address,
            socket: Socket::new(io),
            // Names are shared, so a handler lookup per message clones no string.
            handler: handler.map(Rc::from),
            topics: topics
                .into_iter()
                .map(|(t, h)| (t, h.map(Rc::from)))
                .collect(),
            waiting: Waiting::default(),
            next_request: 1,
            generation,
            partner: None,
            companion: false,
            reply_topic: Vec::new(),
            dispatch: crate::protocol::Dispatch::Longest,
            framing: crate::net::Framing::Multipart,
            counts: crate::stats::Counts::default(),
            reliable: None,
        };
        let index = match self.slots.iter().position(Option::is_none) {
            Some(i) => {
                self.slots[i] = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        (index, generation)
    }

    /// Subscribes the SUB socket `alias` to `topic`; `handler` overrides the socket's for it.
    pub(crate) fn subscribe(
        &mut self,
        alias: &str,
        topic: Vec<u8>,
        handler: Option<&str>,
    ) -> Result<()> {
        let slot = self.sub_slot(alias)?;
        slot.socket.subscribe(&topic)?;
        slot.topics.retain(|(t, _)| *t != topic);
        slot.topics.push((topic, handler.map(Rc::from)));
        Ok(())
    }

    /// Takes back the subscription of the SUB socket `alias` to `topic`.
    pub(crate) fn unsubscribe(&mut self, alias: &str, topic: &[u8]) -> Result<()> {
        let slot = self.sub_slot(alias)?;
        let before = slot.topics.len();
        slot.topics.retain(|(t, _)| t[..] != *topic);
        if slot.topics.len() == before {
            return Err(Error::invalid(
                "topic",
                String::from_utf8_lossy(topic),
                "not subscribed",
            ));
        }
        slot.socket.unsubscribe(topic)
    }

    /// The slot of `alias` if it is a SUB socket.
    pub(crate) fn sub_slot(&mut self, alias: &str) -> Result<&mut Slot> {
        let slot = self.slot_mut(alias)?;
        match slot.address.kind {
            SocketKind::Sub | SocketKind::SyncSub => Ok(slot),
            kind => Err(Error::WrongKind {
                alias: alias.to_owned(),
                kind: kind.as_str(),
                reason: "only SUB sockets subscribe".into(),
            }),
        }
    }

    /// Closes `alias`; queued messages are flushed within the linger time.
    pub(crate) fn close(&mut self, alias: &str) -> Result<()> {
        let index = self.index(alias)?;
        self.aliases.remove(alias);
        let mut slot = self.slots[index].take();
        // The hidden requests side of a SYNC pair (or acknowledgements side) goes with it.
        if let Some(partner) = slot.as_ref().and_then(|s| s.partner) {
            self.slots[partner] = None;
        }
        if let Some(reliable) = slot.as_mut().and_then(|s| s.reliable.take()) {
            reliable.close(&self.spec.name, alias);
        }
        if slot.is_some_and(|s| s.address.role == Role::Server) {
            self.addr_changes.push(AddrChange::Closed(alias.to_owned()));
        }
        Ok(())
    }

    /// Whether sockets were bound or closed since the last [`Sockets::take_addr_changes`].
    #[inline]
    pub(crate) fn has_addr_changes(&self) -> bool {
        !self.addr_changes.is_empty()
    }

    /// The binds and closes since the last call, oldest first, for the name server.
    pub(crate) fn take_addr_changes(&mut self) -> Vec<AddrChange> {
        std::mem::take(&mut self.addr_changes)
    }

    /// Where the sockets that others connect to are bound, by alias.
    pub(crate) fn bound_addrs(&self) -> BTreeMap<String, Address> {
        self.slots
            .iter()
            .flatten()
            .filter(|s| s.address.role == Role::Server && !s.companion)
            .map(|s| (s.alias.to_string(), s.address.clone()))
            .collect()
    }

    /// Queues every bound socket for the name server again (a new name server knows none).
    pub(crate) fn report_binds_again(&mut self) {
        let bound = self.bound_addrs();
        self.addr_changes.extend(
            bound
                .into_iter()
                .map(|(a, addr)| AddrChange::Bound(a, addr)),
        );
    }

    /// Closes every data socket.
    pub(crate) fn close_all(&mut self) {
        let aliases: Vec<Rc<str>> = self.aliases.keys().cloned().collect();
        for alias in aliases {
            let _ = self.close(&alias);
        }
    }

    /// A structured error naming this agent.
    pub(crate) fn remote_error(
        &self,
        kind: crate::error::ErrorKind,
        method: &str,
        message: impl ToString,
    ) -> RemoteError {
        RemoteError {
            kind,
            message: message.to_string(),
            agent: self.spec.name.clone(),
            method: method.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Transport;
    use crate::protocol::BindOptions;

    #[test]
    fn a_socket_ref_names_one_socket_until_it_closes() {
        actix_rt::System::new().block_on(async {
            let dir = std::env::temp_dir();
            let mut core = Sockets::new(AgentSpec::new("refs", "test", dir));
            // libzmq releases an inproc name only after the close completes: a new name each time.
            let bind = |alias: &str, name: &str| BindOptions {
                alias: Some(alias.into()),
                transport: Some(Transport::Inproc),
                addr: Some(name.into()),
                ..BindOptions::default()
            };
            core.bind(SocketKind::Push, bind("out", "socket-ref-1")).unwrap();
            let out = core.socket_ref("out").unwrap();
            assert_eq!(out.alias(), "out");
            assert_eq!(core.find((&out).into()).unwrap().0, core.index("out").unwrap());
            // Nobody is connected: the message waits in libzmq's queue or the backlog.
            assert!(core.send((&out).into(), None, "hello").is_ok());
            assert_eq!(core.stats.sent, 1);
            // Counted on the socket too, with the message still waiting (no peer).
            let out_stats = &core.socket_stats()["out"];
            assert_eq!((out_stats.kind.as_str(), out_stats.bound), ("PUSH", true));
            assert_eq!(out_stats.sent, 1);

            core.close("out").unwrap();
            assert!(matches!(core.send((&out).into(), None, "x"), Err(Error::UnknownAlias(a)) if a == "out"));
            // A new socket under the same alias is not the one the handle named.
            core.bind(SocketKind::Push, bind("out", "socket-ref-2")).unwrap();
            assert!(matches!(core.find((&out).into()), Err(Error::UnknownAlias(_))));
            assert!(core.socket_ref("out").unwrap() != out);
            assert!(matches!(core.socket_ref("nope"), Err(Error::UnknownAlias(_))));
        });
    }
}
