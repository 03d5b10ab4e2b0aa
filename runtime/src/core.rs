//! `Core`: the agent-independent state of a host: its sockets, counters and
//! the operations on them (bind, connect, send, close). Handlers reach it
//! through [`crate::Ctx`], the control plane through the host.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

use crate::address::{tcp_endpoint, Address, Kind, Role, Transport};
use crate::error::{Error, Result};
use crate::serializer::Serializer;
use crate::socket::{Channel, Io, OnFull};
use crate::socket_ref::{unknown_socket, SocketKey, SocketRef};
use crate::spec::AgentSpec;
use crate::stats::Stats;
use crate::wire::RemoteError;

mod send;

/// Who waits for the answer to a request.
pub(crate) enum Waiter {
    /// A reply handler: the request's own, else the socket's.
    Handler {
        handler: Option<String>,
        /// Runs, with the request as its message, if no reply comes within the wait.
        on_error: Option<String>,
        /// The request's payload, kept only when there is an `on_error`.
        request: Vec<u8>,
    },
    /// A control-plane `request` call, answered when the reply arrives.
    Control { route: Vec<u8>, id: u64 },
}

impl Waiter {
    /// The socket's reply handler will take the reply.
    pub(crate) fn socket_handler() -> Self {
        Waiter::Handler {
            handler: None,
            on_error: None,
            request: Vec::new(),
        }
    }
}

/// How a request's reply is handled (ASYNC_REQ, SYNC_SUB, REQ).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Handler for this request's reply; the socket's handler when `None`.
    pub handler: Option<String>,
    /// Handler run (with the request as its message) when no reply comes within `wait`.
    pub on_error: Option<String>,
    /// How long to wait for the reply; forever when `None`. A late reply is logged and dropped.
    pub wait: Option<std::time::Duration>,
}

/// One open socket and what the host needs to serve it.
pub(crate) struct Slot {
    pub(crate) alias: Rc<str>,
    pub(crate) address: Address,
    pub(crate) chan: Channel,
    /// Handler for received messages (REQ: for replies).
    pub(crate) handler: Option<Rc<str>>,
    /// SUB subscriptions: topic prefix and the handler for it (None: the socket's handler).
    pub(crate) topics: Vec<(Vec<u8>, Option<Rc<str>>)>,
    /// REQ: requests awaiting replies, by request id.
    pub(crate) waiting: HashMap<u64, Waiter>,
    pub(crate) next_request: u64,
    pub(crate) generation: u64,
    /// SYNC_PUB / SYNC_SUB: the other socket of the pair (requests side, or stream side).
    pub(crate) partner: Option<usize>,
    /// Whether this is the hidden requests side of a SYNC_PUB / SYNC_SUB pair.
    pub(crate) companion: bool,
    /// SYNC_SUB: the topic under which the publisher sends this subscriber its replies.
    pub(crate) reply_topic: Vec<u8>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.address.role == Role::Server {
            crate::address::remove_ipc_file(&self.address.endpoint);
        }
    }
}

impl Slot {
    /// The handler for a message on `topic`: the longest matching subscription wins.
    pub(crate) fn handler_for(&self, topic: &[u8]) -> Option<Rc<str>> {
        let best = self
            .topics
            .iter()
            .filter(|(t, _)| topic.starts_with(t))
            .max_by_key(|(t, _)| t.len());
        match best {
            Some((_, Some(h))) => Some(h.clone()),
            _ => self.handler.clone(),
        }
    }
}

/// Where a bind should land.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// Alias; a fresh one when `None`.
    pub alias: Option<String>,
    /// Transport; the agent's default when `None`.
    pub transport: Option<Transport>,
    /// Location (tcp `host` or `host:port`, ipc file, inproc name); fresh when `None`.
    pub addr: Option<String>,
    /// Serializer; the agent's default when `None`.
    pub serializer: Option<Serializer>,
    /// Handler name for received messages.
    pub handler: Option<String>,
    /// High-water mark in messages; the agent's default (`Defaults::hwm`) when `None`.
    pub hwm: Option<i32>,
    /// What a send does at the mark; by kind when `None` (PUB drops, others block).
    pub on_full: Option<OnFull>,
}

/// Options of a connected socket.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// High-water mark in messages; the agent's default when `None`.
    pub hwm: Option<i32>,
    /// What a send does at the mark; by kind when `None`.
    pub on_full: Option<OnFull>,
}

/// The sockets and counters of one agent.
pub(crate) struct Core {
    pub(crate) spec: AgentSpec,
    pub(crate) slots: Vec<Option<Slot>>,
    /// Slot index by alias; an ordered map: a few short keys compare faster than they hash.
    pub(crate) aliases: BTreeMap<Rc<str>, usize>,
    pub(crate) stats: Stats,
    pub(crate) nameserver: Option<crate::Proxy>,
    pub(crate) encode_buf: Vec<u8>,
    next_generation: u64,
    next_alias: u64,
}

impl Core {
    pub(crate) fn new(spec: AgentSpec) -> Self {
        Core {
            spec,
            slots: Vec::new(),
            aliases: BTreeMap::new(),
            stats: Stats::default(),
            nameserver: None,
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

    pub(crate) fn fresh_alias(&mut self, kind: Kind) -> String {
        loop {
            let alias = format!("{}-{}", kind.as_str().to_ascii_lowercase(), self.next_alias);
            self.next_alias += 1;
            if !self.aliases.contains_key(alias.as_str()) {
                return alias;
            }
        }
    }

    fn claim_alias(&mut self, alias: Option<String>, kind: Kind) -> Result<String> {
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

    /// Binds a new socket; returns its slot index and generation.
    pub(crate) fn bind(&mut self, kind: Kind, opts: BindOptions) -> Result<(usize, u64)> {
        check_on_full(kind, opts.on_full)?;
        let alias = self.claim_alias(opts.alias, kind)?;
        let transport = opts.transport.unwrap_or(self.spec.defaults.transport);
        let previous = self.previous(&alias, kind, transport, opts.addr.as_deref());
        let endpoint = match previous {
            Some(prev) => prev.endpoint.clone(),
            None => self.bind_endpoint(transport, &alias, opts.addr.as_deref())?,
        };
        let io = self.open(kind, &endpoint, true, opts.hwm)?;
        // A SYNC_PUB takes requests on a ROUTER of its own, next to its stream.
        let requests = match kind {
            Kind::SyncPub => {
                let at = match previous.and_then(|p| p.requests.clone()) {
                    Some(at) => at,
                    None => self.companion_endpoint(transport, &alias, opts.addr.as_deref())?,
                };
                Some(self.open(Kind::Rep, &at, true, opts.hwm)?)
            }
            _ => None,
        };
        let address = Address {
            endpoint: io.last_endpoint()?,
            kind,
            role: Role::Server,
            serializer: opts.serializer.unwrap_or(self.spec.defaults.serializer),
            requests: requests.as_ref().map(Io::last_endpoint).transpose()?,
        };
        self.report_addr(&alias, &address);
        let handler = opts.handler;
        let (index, generation) =
            self.insert(alias, address.clone(), io, handler.clone(), Vec::new());
        self.set_on_full(index, opts.on_full);
        if let Some(requests) = requests {
            let endpoint = address.requests.clone().unwrap_or_default();
            let side = Address {
                endpoint,
                ..address
            };
            self.attach_companion(index, side, requests, handler);
        }
        Ok((index, generation))
    }

    fn open(&self, kind: Kind, endpoint: &str, bind: bool, hwm: Option<i32>) -> Result<Io> {
        let d = &self.spec.defaults;
        let hwm = hwm.unwrap_or(d.hwm);
        Io::open(kind, endpoint, bind, d.linger, d.max_message, hwm)
    }

    /// Sets what the socket at `index` does at its high-water mark (checked by [`check_on_full`]).
    fn set_on_full(&mut self, index: usize, on_full: Option<OnFull>) {
        if let (Some(on_full), Some(slot)) = (on_full, self.slots[index].as_mut()) {
            slot.chan.on_full = on_full;
        }
    }

    /// Where a SYNC_PUB's requests socket binds: beside its stream.
    fn companion_endpoint(
        &self,
        transport: Transport,
        alias: &str,
        addr: Option<&str>,
    ) -> Result<String> {
        // Aliases never hold `/`, so this names no socket a user could bind.
        let requests = format!("{alias}/requests");
        match (transport, addr) {
            // Same host, a port of its own.
            (Transport::Tcp, Some(a)) => {
                let host = a.trim_start_matches("tcp://");
                let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
                self.bind_endpoint(transport, &requests, Some(host))
            }
            (_, Some(a)) => {
                self.bind_endpoint(transport, &requests, Some(&format!("{a}-requests")))
            }
            (_, None) => self.bind_endpoint(transport, &requests, None),
        }
    }

    /// Adds the hidden requests side of a SYNC pair, linked both ways to the slot at `main`.
    fn attach_companion(&mut self, main: usize, address: Address, io: Io, handler: Option<String>) {
        let alias = format!(
            "{}/requests",
            self.slots[main].as_ref().map_or("", |s| &s.alias)
        );
        let (index, _) = self.insert_slot(alias.into(), address, io, handler, Vec::new());
        if let Some(slot) = self.slots[index].as_mut() {
            slot.companion = true;
            slot.partner = Some(main);
        }
        if let Some(slot) = self.slots[main].as_mut() {
            slot.partner = Some(index);
        }
    }

    /// Connects a new socket to the server side `to`; returns its slot index and generation.
    pub(crate) fn connect(
        &mut self,
        to: &Address,
        alias: Option<String>,
        handler: Option<String>,
        topics: Vec<(Vec<u8>, Option<String>)>,
        opts: ConnectOptions,
    ) -> Result<(usize, u64)> {
        if to.role != Role::Server {
            return Err(Error::invalid(
                "address",
                &to.endpoint,
                "connect needs the bound (server) side's address",
            ));
        }
        let own = to.twin();
        let alias = self.claim_alias(alias, own.kind)?;
        check_on_full(own.kind, opts.on_full)?;
        let io = self.open(own.kind, &to.endpoint, false, opts.hwm)?;
        for (topic, _) in &topics {
            io.raw().set_subscribe(topic)?;
        }
        if own.kind != Kind::SyncSub {
            let (index, generation) = self.insert(alias, own, io, handler, topics);
            self.set_on_full(index, opts.on_full);
            return Ok((index, generation));
        }
        // A SYNC_SUB also sends requests, and hears its replies on a topic of its own.
        let requests_at = to.requests.clone().ok_or_else(|| {
            Error::invalid(
                "address",
                &to.endpoint,
                "a SYNC_PUB address names its requests endpoint",
            )
        })?;
        let requests = self.open(Kind::Req, &requests_at, false, opts.hwm)?;
        let reply_topic = format!("\u{0}axon-reply/{}/{alias}", self.spec.name).into_bytes();
        io.raw().set_subscribe(&reply_topic)?;
        let (index, generation) = self.insert(alias, own.clone(), io, handler, topics);
        if let Some(slot) = self.slots[index].as_mut() {
            slot.reply_topic = reply_topic;
        }
        let side = Address {
            endpoint: requests_at,
            ..own
        };
        self.attach_companion(index, side, requests, None);
        Ok((index, generation))
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

    /// Stores a socket in a free slot; only [`Core::insert`] makes it reachable by alias.
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
            chan: Channel::new(io),
            // Names are shared, so a handler lookup per message clones no string.
            handler: handler.map(Rc::from),
            topics: topics
                .into_iter()
                .map(|(t, h)| (t, h.map(Rc::from)))
                .collect(),
            waiting: HashMap::new(),
            next_request: 1,
            generation,
            partner: None,
            companion: false,
            reply_topic: Vec::new(),
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

    /// Where an earlier incarnation bound `alias`, when this bind leaves the address open (no path, no port).
    fn previous(
        &self,
        alias: &str,
        kind: Kind,
        transport: Transport,
        addr: Option<&str>,
    ) -> Option<&Address> {
        let prev = self.spec.rebind.get(alias)?;
        let open = match (transport, addr) {
            (_, None) => true,
            (Transport::Tcp, Some(a)) => {
                let a = a.trim_start_matches("tcp://");
                a.rsplit_once(':').is_none_or(|(_, port)| port == "0")
            }
            (_, Some(_)) => false,
        };
        let same = prev.kind == kind && prev.transport().ok() == Some(transport);
        (open && same).then_some(prev)
    }

    fn bind_endpoint(
        &self,
        transport: Transport,
        alias: &str,
        addr: Option<&str>,
    ) -> Result<String> {
        match transport {
            Transport::Tcp => tcp_endpoint(addr.unwrap_or("127.0.0.1")),
            Transport::Inproc => Ok(format!(
                "inproc://{}",
                addr.map(str::to_owned)
                    .unwrap_or_else(|| format!("{}-{}", self.spec.name, alias))
            )),
            Transport::Ipc => {
                let file = match addr {
                    Some(a) => ipc_file(&self.spec.runtime_dir, a)?,
                    // `@` is always escaped in safe names: the split is unambiguous.
                    None => self.spec.runtime_dir.join(format!(
                        "{}@{}.ipc",
                        safe_name(&self.spec.name),
                        safe_name(alias)
                    )),
                };
                Ok(format!("ipc://{}", file.display()))
            }
        }
    }

    /// Tells the name server where `alias` is bound (best effort: a failure is logged).
    fn report_addr(&mut self, alias: &str, address: &Address) {
        #[derive(Serialize)]
        struct SetAddr<'a> {
            name: &'a str,
            alias: &'a str,
            address: &'a Address,
        }
        let name = self.spec.name.clone();
        if let Some(ns) = self.nameserver.as_mut() {
            let args = SetAddr {
                name: &name,
                alias,
                address,
            };
            if let Err(e) = ns.call::<_, crate::Value>("set_addr", args) {
                tracing::warn!(agent = %name, alias, error = %e, "could not report address to the name server");
            }
        }
    }

    /// Subscribes the SUB socket `alias` to `topic`; `handler` overrides the socket's for it.
    pub(crate) fn subscribe(
        &mut self,
        alias: &str,
        topic: Vec<u8>,
        handler: Option<&str>,
    ) -> Result<()> {
        let slot = self.sub_slot(alias)?;
        slot.chan.subscribe(&topic)?;
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
        slot.chan.unsubscribe(topic)
    }

    /// The slot of `alias` if it is a SUB socket.
    pub(crate) fn sub_slot(&mut self, alias: &str) -> Result<&mut Slot> {
        let slot = self.slot_mut(alias)?;
        match slot.address.kind {
            Kind::Sub | Kind::SyncSub => Ok(slot),
            kind => Err(Error::WrongKind {
                alias: alias.to_owned(),
                kind,
                reason: "only SUB sockets subscribe".into(),
            }),
        }
    }

    /// Closes `alias`; queued messages are flushed within the linger time.
    pub(crate) fn close(&mut self, alias: &str) -> Result<()> {
        let index = self.index(alias)?;
        self.aliases.remove(alias);
        let slot = self.slots[index].take();
        // The hidden requests side of a SYNC pair goes with it.
        if let Some(partner) = slot.as_ref().and_then(|s| s.partner) {
            self.slots[partner] = None;
        }
        if let Some(slot) = slot {
            if slot.address.role == Role::Server {
                let name = self.spec.name.clone();
                if let Some(ns) = self.nameserver.as_mut() {
                    let args = [("name", name.as_str()), ("alias", alias)];
                    let args: HashMap<_, _> = args.into_iter().collect();
                    let _ = ns.call::<_, crate::Value>("del_addr", args);
                }
            }
        }
        Ok(())
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
        kind: crate::ErrorKind,
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

/// `s` as a file name, one-to-one: letters, digits, `-`, `_` and `.` stay,
/// every other byte becomes `%XX`, so distinct names never share a file.
pub(crate) fn safe_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The file an ipc bind at `addr` uses: inside the runtime directory, always.
///
/// libzmq unlinks the path before it binds there, so a bind anywhere else
/// would let whoever configures the agent delete any file the agent may.
fn ipc_file(runtime_dir: &Path, addr: &str) -> Result<PathBuf> {
    let addr = addr.trim_start_matches("ipc://");
    let path = Path::new(addr);
    let relative = match path.strip_prefix(runtime_dir) {
        Ok(rest) => rest,
        Err(_) if path.is_relative() => path,
        Err(_) => {
            let why = format!(
                "an ipc bind stays inside the runtime directory {}",
                runtime_dir.display()
            );
            return Err(Error::invalid("addr", addr, why));
        }
    };
    let plain = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain || relative.as_os_str().is_empty() {
        let why = "an ipc file name is a plain relative path (no `..`, no `.`)";
        return Err(Error::invalid("addr", addr, why));
    }
    Ok(runtime_dir.join(relative))
}

/// PUB never blocks: at the mark it drops (and counts); every other sending socket may do either.
fn check_on_full(kind: Kind, on_full: Option<OnFull>) -> Result<()> {
    if on_full == Some(OnFull::Block) && matches!(kind, Kind::Pub | Kind::SyncPub) {
        return Err(Error::invalid(
            "on_full",
            "block",
            "a PUB socket never blocks; at the mark it drops and counts",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn slot(topics: &[(&str, Option<&str>)]) -> Slot {
        let io = Io::open(
            Kind::Sub,
            "inproc://handler-for",
            false,
            Duration::ZERO,
            1024,
            crate::socket::DEFAULT_HWM,
        )
        .unwrap();
        Slot {
            alias: "s".into(),
            address: Address {
                endpoint: "inproc://handler-for".into(),
                kind: Kind::Sub,
                role: Role::Client,
                serializer: Serializer::Cbor,
                requests: None,
            },
            chan: Channel::new(io),
            handler: Some("default".into()),
            topics: topics
                .iter()
                .map(|(t, h)| (t.as_bytes().to_vec(), h.map(Rc::from)))
                .collect(),
            waiting: HashMap::new(),
            next_request: 1,
            generation: 1,
            partner: None,
            companion: false,
            reply_topic: Vec::new(),
        }
    }

    #[test]
    fn the_longest_matching_topic_picks_the_handler() {
        // tmq registers sockets with the reactor, so build them inside a runtime.
        actix_rt::System::new().block_on(async {
            let s = slot(&[("fo", Some("short")), ("foo", Some("long")), ("", None)]);
            assert_eq!(s.handler_for(b"foobar").as_deref(), Some("long"));
            assert_eq!(s.handler_for(b"fox").as_deref(), Some("short"));
            assert_eq!(s.handler_for(b"bar").as_deref(), Some("default"));
        });
    }

    #[test]
    fn a_socket_ref_names_one_socket_until_it_closes() {
        actix_rt::System::new().block_on(async {
            let dir = std::env::temp_dir();
            let mut core = Core::new(AgentSpec::new("refs", "test", dir));
            // libzmq releases an inproc name only after the close completes: a new name each time.
            let bind = |alias: &str, name: &str| BindOptions {
                alias: Some(alias.into()),
                transport: Some(Transport::Inproc),
                addr: Some(name.into()),
                ..BindOptions::default()
            };
            core.bind(Kind::Push, bind("out", "socket-ref-1")).unwrap();
            let out = core.socket_ref("out").unwrap();
            assert_eq!(out.alias(), "out");
            assert_eq!(core.find((&out).into()).unwrap().0, core.index("out").unwrap());
            // Nobody is connected: the message waits in libzmq's queue or the backlog.
            assert!(core.send((&out).into(), None, "hello").is_ok());
            assert_eq!(core.stats.sent, 1);

            core.close("out").unwrap();
            assert!(matches!(core.send((&out).into(), None, "x"), Err(Error::UnknownAlias(a)) if a == "out"));
            // A new socket under the same alias is not the one the handle named.
            core.bind(Kind::Push, bind("out", "socket-ref-2")).unwrap();
            assert!(matches!(core.find((&out).into()), Err(Error::UnknownAlias(_))));
            assert!(core.socket_ref("out").unwrap() != out);
            assert!(matches!(core.socket_ref("nope"), Err(Error::UnknownAlias(_))));
        });
    }

    #[test]
    fn names_are_made_file_safe() {
        assert_eq!(safe_name("a/b c.d"), "a%2Fb%20c.d");
        assert_ne!(safe_name("a b"), safe_name("a_b"));
        assert_eq!(safe_name("Grüße-1"), "Gr%C3%BC%C3%9Fe-1");
    }

    #[test]
    fn ipc_binds_stay_inside_the_runtime_directory() {
        let dir = Path::new("/run/axon/n1");
        assert_eq!(ipc_file(dir, "a.ipc").unwrap(), dir.join("a.ipc"));
        assert_eq!(ipc_file(dir, "sub/a").unwrap(), dir.join("sub/a"));
        assert_eq!(ipc_file(dir, "/run/axon/n1/a").unwrap(), dir.join("a"));
        assert_eq!(
            ipc_file(dir, "ipc:///run/axon/n1/a").unwrap(),
            dir.join("a")
        );
        for bad in [
            "/etc/passwd",
            "../n2/a",
            "a/../../x",
            "/run/axon/n1/../n2/a",
            "",
            ".",
        ] {
            assert!(
                matches!(ipc_file(dir, bad), Err(Error::Invalid { .. })),
                "{bad}"
            );
        }
    }
}
