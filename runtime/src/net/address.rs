//! Addresses: what names an endpoint, and how the peer reaches it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::kind::{Role, SocketKind, Transport};
use crate::codec::Serializer;
use crate::error::{Error, Result};

/// A bound endpoint, with everything the peer needs to talk to it.
///
/// The serializer travels with the address: the connecting side follows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Address {
    /// The full ZeroMQ endpoint, e.g. `tcp://127.0.0.1:5555` or `ipc:///run/user/0/axon/n1/alice-main`.
    pub endpoint: String,
    /// The kind of the socket this address describes.
    pub kind: SocketKind,
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

/// Refuses an endpoint libzmq cannot be given: one holding a NUL byte,
/// which cannot become a C string (the zmq crate would panic on it).
///
/// Every bind and connect goes through here first, because endpoints come
/// from outside: control requests, name-server records, the environment.
pub fn check_endpoint(endpoint: &str) -> Result<()> {
    if endpoint.contains('\0') {
        let shown = endpoint.escape_default().to_string();
        return Err(Error::invalid("endpoint", shown, "holds a NUL byte"));
    }
    Ok(())
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
    fn endpoints_with_a_nul_byte_are_refused() {
        assert!(check_endpoint("ipc:///run/axon/a").is_ok());
        let e = check_endpoint("inproc://a\0b").unwrap_err();
        assert!(e.to_string().contains("NUL"), "{e}");
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
            kind: SocketKind::Push,
            role: Role::Server,
            serializer: Serializer::Json,
            requests: None,
        };
        let t = a.twin();
        assert_eq!(
            (t.kind, t.role, t.serializer),
            (SocketKind::Pull, Role::Client, Serializer::Json)
        );
        assert_eq!(t.twin(), a);
        assert_eq!(a.transport().unwrap(), Transport::Ipc);
    }
}
