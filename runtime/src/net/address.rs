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
    /// The bound side is a CURVE server (`secure`): connect with the deployment's CURVE keys.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secure: bool,
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
            secure: self.secure,
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
/// real endpoint is read back after binding. A host name other than
/// `localhost` is looked up here, which may wait on DNS: an agent's event
/// loop uses [`tcp_endpoint_at`] instead.
pub fn tcp_endpoint(location: &str) -> Result<String> {
    let location = location.trim_start_matches("tcp://");
    let (host, port) = split_host_port(location)?;
    let ip = resolve_host(host)?;
    Ok(endpoint(ip, port))
}

/// [`tcp_endpoint`] for a location that needs no DNS lookup (an IP address,
/// `*`, `localhost`); a host name is refused with an error saying so.
pub fn tcp_endpoint_at(location: &str) -> Result<String> {
    if needs_lookup(location) {
        let why = "a host name needs a DNS lookup, which an agent's event loop never waits for: \
                   bind to an IP address, `*` or `localhost` (the control plane's `bind` looks names up first)";
        return Err(Error::invalid("tcp address", location, why));
    }
    tcp_endpoint(location)
}

/// Whether the TCP location `host[:port]` names a host that needs a DNS lookup.
pub fn needs_lookup(location: &str) -> bool {
    let location = location.trim_start_matches("tcp://");
    match split_host_port(location) {
        Ok((host, _)) => literal_host(host).is_none(),
        // A bad location fails without any lookup.
        Err(_) => false,
    }
}

/// The TCP location `host[:port]` with its host name looked up, off the
/// calling thread (tokio's resolver pool): `ip[:port]`.
pub async fn look_up(location: &str) -> Result<String> {
    let bare = location.trim_start_matches("tcp://");
    let (host, port) = split_host_port(bare)?;
    if literal_host(host).is_some() {
        return Ok(location.to_owned());
    }
    let not_found = |why: String| Error::invalid("tcp address", host, why);
    let addrs = tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| not_found(format!("cannot resolve host: {e}")))?;
    let ip = addrs
        .into_iter()
        .find(|a| a.is_ipv4())
        .ok_or_else(|| not_found("host has no IPv4 address".into()))?
        .ip();
    Ok(match port {
        Some(p) => format!("{ip}:{p}"),
        None => ip.to_string(),
    })
}

fn endpoint(ip: String, port: Option<u16>) -> String {
    let host = if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip
    };
    match port {
        Some(p) => format!("tcp://{host}:{p}"),
        None => format!("tcp://{host}:*"),
    }
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

/// A host that needs no lookup, as it goes in an endpoint: an IP address, `*`, `localhost`.
fn literal_host(host: &str) -> Option<String> {
    match host {
        "*" => Some("*".into()),
        "localhost" => Some("127.0.0.1".into()),
        _ => host
            .parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| ip.to_string()),
    }
}

fn resolve_host(host: &str) -> Result<String> {
    use std::net::ToSocketAddrs;
    if let Some(ip) = literal_host(host) {
        return Ok(ip);
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
    fn only_host_names_need_a_lookup_and_the_event_loop_refuses_them() {
        for literal in [
            "127.0.0.1",
            "127.0.0.1:9",
            "*",
            "localhost:7",
            "[::1]:9",
            "",
        ] {
            assert!(!needs_lookup(literal), "{literal}");
            assert!(tcp_endpoint_at(literal).is_ok(), "{literal}");
        }
        assert!(needs_lookup("example.invalid:80"));
        let e = tcp_endpoint_at("example.invalid").unwrap_err();
        assert!(e.to_string().contains("DNS lookup"), "{e}");
    }

    #[test]
    fn look_up_keeps_the_port_and_leaves_literals_alone() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            assert_eq!(look_up("127.0.0.1:5").await.unwrap(), "127.0.0.1:5");
            assert!(look_up("no-such-host.invalid").await.is_err());
        });
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
            secure: false,
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
