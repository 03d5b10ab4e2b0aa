//! Addresses: what names an endpoint, and how the peer reaches it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::serializer::Serializer;

/// The messaging pattern side a socket plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    /// Sends requests and waits for replies (a DEALER underneath, so the agent never blocks).
    Req,
    /// Answers requests with its handler's return value (a ROUTER underneath).
    Rep,
    /// Sends messages round-robin to connected pullers.
    Push,
    /// Receives messages fanned in from pushers.
    Pull,
    /// Publishes messages by topic.
    Pub,
    /// Receives published messages whose topic matches a subscription prefix.
    Sub,
    /// Answers asynchronous requests (osBrain's ASYNC_REP); a ROUTER like REP.
    AsyncRep,
    /// Sends requests without waiting; each reply goes to the handler given with its request.
    AsyncReq,
    /// Publishes a stream and answers requests in order with it, only to the requester (SYNC_PUB).
    SyncPub,
    /// Subscribes to a SYNC_PUB stream and sends it requests (SYNC_SUB).
    SyncSub,
}

impl Kind {
    /// The kind the peer must use.
    pub fn twin(self) -> Kind {
        match self {
            Kind::Req => Kind::Rep,
            Kind::Rep => Kind::Req,
            Kind::Push => Kind::Pull,
            Kind::Pull => Kind::Push,
            Kind::Pub => Kind::Sub,
            Kind::Sub => Kind::Pub,
            Kind::AsyncRep => Kind::AsyncReq,
            Kind::AsyncReq => Kind::AsyncRep,
            Kind::SyncPub => Kind::SyncSub,
            Kind::SyncSub => Kind::SyncPub,
        }
    }

    /// Whether sending on this kind is a request whose reply goes to a handler.
    pub fn requests(self) -> bool {
        matches!(self, Kind::Req | Kind::AsyncReq | Kind::SyncSub)
    }

    /// Whether sockets of this kind hand received messages to a handler.
    pub fn receives(self) -> bool {
        !matches!(self, Kind::Push | Kind::Pub)
    }

    /// Whether `send` applies to sockets of this kind.
    pub fn sends(self) -> bool {
        !matches!(self, Kind::Rep | Kind::Pull | Kind::Sub | Kind::AsyncRep)
    }

    /// The canonical upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Req => "REQ",
            Kind::Rep => "REP",
            Kind::Push => "PUSH",
            Kind::Pull => "PULL",
            Kind::Pub => "PUB",
            Kind::Sub => "SUB",
            Kind::AsyncRep => "ASYNC_REP",
            Kind::AsyncReq => "ASYNC_REQ",
            Kind::SyncPub => "SYNC_PUB",
            Kind::SyncSub => "SYNC_SUB",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "REQ" => Kind::Req,
            "REP" => Kind::Rep,
            "PUSH" => Kind::Push,
            "PULL" => Kind::Pull,
            "PUB" => Kind::Pub,
            "SUB" => Kind::Sub,
            "ASYNC_REP" => Kind::AsyncRep,
            "ASYNC_REQ" => Kind::AsyncReq,
            "SYNC_PUB" => Kind::SyncPub,
            "SYNC_SUB" => Kind::SyncSub,
            _ => {
                let expected = "expected REQ, REP, PUSH, PULL, PUB, SUB, ASYNC_REP, ASYNC_REQ, SYNC_PUB or SYNC_SUB";
                return Err(Error::invalid("socket kind", s, expected));
            }
        })
    }
}

/// Which side of a connection an address describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The side that binds.
    Server,
    /// The side that connects.
    Client,
}

impl Role {
    /// The other side.
    pub fn twin(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}

/// How bytes travel between the two sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Unix domain sockets (files in the node's runtime directory); the default on Unix.
    Ipc,
    /// TCP, for peers on other hosts or foreign programs.
    Tcp,
    /// In-process; only peers inside the same process can connect.
    Inproc,
}

impl Transport {
    /// The scheme used in ZeroMQ endpoints.
    pub fn scheme(self) -> &'static str {
        match self {
            Transport::Ipc => "ipc",
            Transport::Tcp => "tcp",
            Transport::Inproc => "inproc",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.scheme())
    }
}

impl FromStr for Transport {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "ipc" => Ok(Transport::Ipc),
            "tcp" => Ok(Transport::Tcp),
            "inproc" => Ok(Transport::Inproc),
            _ => Err(Error::invalid(
                "transport",
                s,
                "expected ipc, tcp or inproc",
            )),
        }
    }
}

/// A bound endpoint, with everything the peer needs to talk to it.
///
/// The serializer travels with the address: the connecting side follows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    /// The full ZeroMQ endpoint, e.g. `tcp://127.0.0.1:5555` or `ipc:///run/user/0/axon/n1/alice-main`.
    pub endpoint: String,
    /// The kind of the socket this address describes.
    pub kind: Kind,
    /// Whether this is the bound (server) or connecting (client) side.
    pub role: Role,
    /// How payloads are encoded on this channel.
    pub serializer: Serializer,
    /// SYNC_PUB only: the endpoint that takes requests (the stream is `endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<String>,
}

impl Address {
    /// The address as seen from the other side: twin kind and role, same endpoint and serializer.
    pub fn twin(&self) -> Address {
        Address {
            endpoint: self.endpoint.clone(),
            kind: self.kind.twin(),
            role: self.role.twin(),
            serializer: self.serializer,
            requests: self.requests.clone(),
        }
    }

    /// The transport, read from the endpoint's scheme.
    pub fn transport(&self) -> Result<Transport> {
        let scheme = self
            .endpoint
            .split_once("://")
            .map(|(s, _)| s)
            .ok_or_else(|| Error::invalid("endpoint", &self.endpoint, "missing scheme"))?;
        scheme.parse()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} ({})",
            self.endpoint,
            self.kind,
            match self.role {
                Role::Server => "server",
                Role::Client => "client",
            },
            self.serializer
        )
    }
}

/// The file behind an `ipc://` endpoint.
pub fn ipc_path(endpoint: &str) -> Option<&std::path::Path> {
    endpoint.strip_prefix("ipc://").map(std::path::Path::new)
}

/// Removes the file of a bound `ipc://` endpoint (libzmq leaves it behind on close).
pub fn remove_ipc_file(endpoint: &str) {
    if let Some(path) = ipc_path(endpoint) {
        // Already gone is fine: removal is best effort and idempotent.
        let _ = std::fs::remove_file(path);
    }
}

/// Where to bind: a transport and an optional location.
///
/// For `tcp`, the location is `host` (a free port is chosen) or `host:port`;
/// hostnames such as `localhost` are resolved. For `ipc` it is a file name
/// inside the runtime directory, or an absolute path. For `inproc` it is a name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BindTarget {
    /// The transport; `None` means the agent's or the global default.
    pub transport: Option<Transport>,
    /// The location; `None` means a fresh one.
    pub addr: Option<String>,
}

/// Resolves a TCP location given as `host` or `host:port` into a ZeroMQ endpoint.
///
/// A missing port becomes the wildcard `*`, so the kernel picks a free port; the
/// real endpoint is read back after binding.
pub fn tcp_endpoint(location: &str) -> Result<String> {
    let location = location.trim_start_matches("tcp://");
    let (host, port) = split_host_port(location)?;
    let ip = resolve_host(host)?;
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    Ok(match port {
        Some(p) => format!("tcp://{host}:{p}"),
        None => format!("tcp://{host}:*"),
    })
}

fn split_host_port(location: &str) -> Result<(&str, Option<u16>)> {
    if location.is_empty() {
        return Ok(("127.0.0.1", None));
    }
    if let Some(rest) = location.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| Error::invalid("tcp address", location, "unclosed '['"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(parse_port(location, p)?),
            None if tail.is_empty() => None,
            None => return Err(Error::invalid("tcp address", location, "junk after ']'")),
        };
        return Ok((host, port));
    }
    match location.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Ok((host, Some(parse_port(location, port)?))),
        Some(_) => Ok((location, None)),
        None => Ok((location, None)),
    }
}

fn parse_port(location: &str, port: &str) -> Result<u16> {
    if port == "*" || port == "0" {
        return Ok(0);
    }
    port.parse().map_err(|_| {
        Error::invalid(
            "tcp address",
            location,
            "port is not a number from 0 to 65535",
        )
    })
}

fn resolve_host(host: &str) -> Result<String> {
    use std::net::{IpAddr, ToSocketAddrs};
    if host == "*" {
        return Ok("*".into());
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip.to_string());
    }
    let mut addrs = (host, 0)
        .to_socket_addrs()
        .map_err(|e| Error::invalid("tcp address", host, format!("cannot resolve host: {e}")))?;
    let first = addrs
        .find(|a| a.is_ipv4())
        .ok_or_else(|| Error::invalid("tcp address", host, "host has no IPv4 address"))?;
    Ok(first.ip().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_host_only_asks_for_a_free_port() {
        assert_eq!(tcp_endpoint("127.0.0.1").unwrap(), "tcp://127.0.0.1:*");
        assert_eq!(tcp_endpoint("").unwrap(), "tcp://127.0.0.1:*");
    }

    #[test]
    fn tcp_host_port_is_kept_and_hostnames_resolve() {
        assert_eq!(
            tcp_endpoint("127.0.0.1:7101").unwrap(),
            "tcp://127.0.0.1:7101"
        );
        assert_eq!(
            tcp_endpoint("localhost:7101").unwrap(),
            "tcp://127.0.0.1:7101"
        );
        assert_eq!(
            tcp_endpoint("tcp://localhost").unwrap(),
            "tcp://127.0.0.1:*"
        );
        assert_eq!(tcp_endpoint("[::1]:9").unwrap(), "tcp://[::1]:9");
    }

    #[test]
    fn bad_tcp_ports_are_refused() {
        assert!(tcp_endpoint("127.0.0.1:99999").is_err());
        assert!(tcp_endpoint("127.0.0.1:http").is_err());
        assert!(tcp_endpoint("no-such-host.invalid").is_err());
    }

    #[test]
    fn twins_swap_kind_and_role() {
        let a = Address {
            endpoint: "ipc:///tmp/x".into(),
            kind: Kind::Push,
            role: Role::Server,
            serializer: Serializer::Json,
            requests: None,
        };
        let t = a.twin();
        assert_eq!(
            (t.kind, t.role, t.serializer),
            (Kind::Pull, Role::Client, Serializer::Json)
        );
        assert_eq!(t.twin(), a);
        assert_eq!(a.transport().unwrap(), Transport::Ipc);
    }

    #[test]
    fn kinds_parse_case_insensitively() {
        assert_eq!("pub".parse::<Kind>().unwrap(), Kind::Pub);
        assert!("PAIR".parse::<Kind>().is_err());
    }
}
