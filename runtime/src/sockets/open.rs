//! Opening sockets: binds (at a fresh or remembered address), connects,
//! SYNC pairs, and where ipc files go.

use std::path::{Path, PathBuf};

use super::{AddrChange, Sockets};
use crate::error::{Error, Result};
use crate::net::curve::Curve;
use crate::net::{tcp_endpoint_at, Address, Framing, Io, OnFull, Role, SocketKind, Transport};
use crate::protocol::{BindOptions, ConnectOptions, Dispatch};

impl Sockets {
    /// Binds a new socket; returns its slot index and generation.
    pub(crate) fn bind(&mut self, kind: SocketKind, opts: BindOptions) -> Result<(usize, u64)> {
        check_on_full(kind, opts.on_full)?;
        check_framing(kind, opts.framing)?;
        let receives = matches!(
            kind,
            SocketKind::Rep
                | SocketKind::Pull
                | SocketKind::Sub
                | SocketKind::AsyncRep
                | SocketKind::SyncPub
        );
        if receives && opts.handler.is_none() {
            let why = "a socket that receives needs a handler";
            return Err(Error::invalid("bind", kind.as_str(), why));
        }
        let alias = self.claim_alias(opts.alias, kind)?;
        let transport = opts.transport.unwrap_or(self.spec.defaults.transport);
        let previous = self.previous(&alias, kind, transport, opts.addr.as_deref());
        let endpoint = match previous {
            Some(prev) => prev.endpoint.clone(),
            None => self.bind_endpoint(transport, &alias, opts.addr.as_deref())?,
        };
        let reliable = opts
            .reliable
            .map(|r| self.reliable_state(kind, &alias, r, true))
            .transpose()?;
        let io = self.open(kind, &endpoint, true, opts.hwm, opts.secure, None)?;
        // A SYNC_PUB takes requests on a ROUTER of its own, next to its stream; a reliable
        // PUSH or PULL takes or sends acknowledgements there.
        let requests = match kind == SocketKind::SyncPub || reliable.is_some() {
            true => {
                let at = match previous.and_then(|p| p.requests.clone()) {
                    Some(at) => at,
                    None => self.companion_endpoint(transport, &alias, opts.addr.as_deref())?,
                };
                let router = self.open(SocketKind::Rep, &at, true, opts.hwm, opts.secure, None)?;
                // A restarted sender reconnects under its old routing id: it takes over.
                router.raw().set_router_handover(true)?;
                Some(router)
            }
            false => None,
        };
        let address = Address {
            endpoint: self.advertised(io.last_endpoint()?),
            kind,
            role: Role::Server,
            serializer: opts.serializer.unwrap_or(self.spec.defaults.serializer),
            requests: requests
                .as_ref()
                .map(Io::last_endpoint)
                .transpose()?
                .map(|e| self.advertised(e)),
            secure: opts.secure,
        };
        self.addr_changes
            .push(AddrChange::Bound(alias.clone(), address.clone()));
        let handler = opts.handler;
        let (index, generation) =
            self.insert(alias, address.clone(), io, handler.clone(), Vec::new());
        self.set_on_full(index, opts.on_full);
        if let Some(slot) = self.slots[index].as_mut() {
            slot.framing = opts.framing.unwrap_or_default();
            slot.reliable = reliable.map(Box::new);
        }
        if let Some(requests) = requests {
            let endpoint = address.requests.clone().unwrap_or_default();
            let side = Address {
                endpoint,
                ..address
            };
            self.attach_companion(index, side, requests, handler);
        }
        self.watch_reliable(index);
        Ok((index, generation))
    }

    /// Opens a socket; a `secure` one is a CURVE server (bind) or client (connect) with the
    /// deployment's keys, or an error on a build without CURVE (never plain text instead);
    /// `identity` is its routing id (a DEALER that a ROUTER addresses by name).
    fn open(
        &self,
        kind: SocketKind,
        endpoint: &str,
        bind: bool,
        hwm: Option<i32>,
        secure: bool,
        identity: Option<&[u8]>,
    ) -> Result<Io> {
        let d = &self.spec.defaults;
        let hwm = hwm.unwrap_or(d.hwm);
        let keys = match secure {
            true => Some(crate::protocol::auth::curve_keys()?),
            false => None,
        };
        let curve = keys.map(|k| match bind {
            true => Curve::Server {
                secret: &k.server_secret,
            },
            false => Curve::Client {
                server_public: &k.server_public,
                public: &k.client_public,
                secret: &k.client_secret,
            },
        });
        Io::open(
            kind,
            endpoint,
            bind,
            d.linger,
            d.max_message,
            hwm,
            crate::net::Identity {
                curve,
                routing_id: identity,
            },
        )
    }

    /// Sets what the socket at `index` does at its high-water mark (checked by [`check_on_full`]).
    fn set_on_full(&mut self, index: usize, on_full: Option<OnFull>) {
        if let (Some(on_full), Some(slot)) = (on_full, self.slots[index].as_mut()) {
            slot.socket.on_full = on_full;
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
    pub(crate) fn connect(&mut self, to: &Address, opts: ConnectOptions) -> Result<(usize, u64)> {
        if to.role != Role::Server {
            return Err(Error::invalid(
                "address",
                &to.endpoint,
                "connect needs the bound (server) side's address",
            ));
        }
        let own = to.twin();
        let ConnectOptions {
            alias,
            handler,
            mut topics,
            ..
        } = opts.clone();
        let reliable = opts.reliable.clone();
        if reliable.is_none() && own.kind == SocketKind::Pull && to.requests.is_some() {
            let why = "the bound PUSH is reliable: connect with reliable = true";
            return Err(Error::invalid("reliable", &to.endpoint, why));
        }
        let handled = handler.is_some() || topics.iter().any(|(_, h)| h.is_some());
        if matches!(
            own.kind,
            SocketKind::Pull | SocketKind::Sub | SocketKind::SyncSub
        ) && !handled
        {
            let why = "a socket that receives needs a handler";
            return Err(Error::invalid("connect", own.kind.as_str(), why));
        }
        // A SUB with no topics hears everything, as in osBrain.
        if matches!(own.kind, SocketKind::Sub | SocketKind::SyncSub) && topics.is_empty() {
            topics.push((Vec::new(), None));
        }
        check_on_full(own.kind, opts.on_full)?;
        check_dispatch(own.kind, opts.dispatch)?;
        let alias = self.claim_alias(alias, own.kind)?;
        if let Some(reliable) = reliable {
            return self.connect_reliable(to, own, alias, handler, reliable, &opts);
        }
        let io = self.open(own.kind, &to.endpoint, false, opts.hwm, to.secure, None)?;
        for (topic, _) in &topics {
            io.raw().set_subscribe(topic)?;
        }
        let dispatch = opts.dispatch.unwrap_or_default();
        if own.kind != SocketKind::SyncSub {
            let (index, generation) = self.insert(alias, own, io, handler, topics);
            self.set_on_full(index, opts.on_full);
            if let Some(slot) = self.slots[index].as_mut() {
                slot.dispatch = dispatch;
            }
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
        let requests = self.open(
            SocketKind::Req,
            &requests_at,
            false,
            opts.hwm,
            to.secure,
            None,
        )?;
        let reply_topic = format!("\u{0}axon-reply/{}/{alias}", self.spec.name).into_bytes();
        io.raw().set_subscribe(&reply_topic)?;
        let (index, generation) = self.insert(alias, own.clone(), io, handler, topics);
        if let Some(slot) = self.slots[index].as_mut() {
            slot.reply_topic = reply_topic;
            slot.dispatch = dispatch;
        }
        let side = Address {
            endpoint: requests_at,
            ..own
        };
        self.attach_companion(index, side, requests, None);
        Ok((index, generation))
    }

    /// Connects a reliable PUSH or PULL and its companion, which carries acknowledgements
    /// to or from the bound side's `requests` endpoint.
    fn connect_reliable(
        &mut self,
        to: &Address,
        own: Address,
        alias: String,
        handler: Option<String>,
        reliability: crate::protocol::Reliability,
        opts: &ConnectOptions,
    ) -> Result<(usize, u64)> {
        let acks_at = to.requests.clone().ok_or_else(|| {
            let why =
                "the bound side is not reliable (its address names no acknowledgement endpoint)";
            Error::invalid("reliable", &to.endpoint, why)
        })?;
        let reliable = self.reliable_state(own.kind, &alias, reliability, false)?;
        let identity = reliable.identity();
        let companion = self.open(
            SocketKind::Req,
            &acks_at,
            false,
            opts.hwm,
            to.secure,
            identity.as_ref().map(|id| &id[..]),
        )?;
        let io = self.open(own.kind, &to.endpoint, false, opts.hwm, to.secure, None)?;
        let (index, generation) = self.insert(alias, own.clone(), io, handler, Vec::new());
        self.set_on_full(index, opts.on_full);
        if let Some(slot) = self.slots[index].as_mut() {
            slot.reliable = Some(Box::new(reliable));
        }
        let side = Address {
            endpoint: acks_at,
            ..own
        };
        self.attach_companion(index, side, companion, None);
        self.watch_reliable(index);
        Ok((index, generation))
    }

    /// Where an earlier incarnation bound `alias`, when this bind leaves the address open (no path, no port).
    fn previous(
        &self,
        alias: &str,
        kind: SocketKind,
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

    /// A tcp endpoint bound on every interface (`*`), as other hosts reach it:
    /// at the advertised address, in a cluster.
    fn advertised(&self, endpoint: String) -> String {
        let (Some(host), Some(port)) = (
            self.spec.advertise.as_deref(),
            endpoint.strip_prefix("tcp://0.0.0.0:"),
        ) else {
            return endpoint;
        };
        format!("tcp://{host}:{port}")
    }

    fn bind_endpoint(
        &self,
        transport: Transport,
        alias: &str,
        addr: Option<&str>,
    ) -> Result<String> {
        match transport {
            Transport::Tcp => {
                let host = self.spec.advertise.as_deref().unwrap_or("127.0.0.1");
                tcp_endpoint_at(addr.unwrap_or(host))
            }
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
}

/// `s` as a file name, one-to-one: letters, digits, `-`, `_` and `.` stay,
/// every other byte becomes `%XX`, so distinct names never share a file.
pub fn safe_name(s: &str) -> String {
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
fn check_on_full(kind: SocketKind, on_full: Option<OnFull>) -> Result<()> {
    if on_full == Some(OnFull::Block) && matches!(kind, SocketKind::Pub | SocketKind::SyncPub) {
        return Err(Error::invalid(
            "on_full",
            "block",
            "a PUB socket never blocks; at the mark it drops and counts",
        ));
    }
    Ok(())
}

/// Only a PUB lays out its messages one way or the other (a SUB takes both; naming the default
/// anywhere is harmless).
fn check_framing(kind: SocketKind, framing: Option<Framing>) -> Result<()> {
    match framing {
        Some(f) if f != Framing::Multipart && kind != SocketKind::Pub => Err(Error::invalid(
            "framing",
            f.as_str(),
            format!("framing is for PUB binds, not {kind} (a SUB takes both framings)"),
        )),
        _ => Ok(()),
    }
}

/// Only a subscriber chooses among matching topic handlers (naming the default anywhere is harmless).
fn check_dispatch(kind: SocketKind, dispatch: Option<Dispatch>) -> Result<()> {
    match dispatch {
        Some(d)
            if d != Dispatch::Longest && !matches!(kind, SocketKind::Sub | SocketKind::SyncSub) =>
        {
            Err(Error::invalid(
                "dispatch",
                d.as_str(),
                format!("dispatch is for SUB and SYNC_SUB connects, not {kind}"),
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
