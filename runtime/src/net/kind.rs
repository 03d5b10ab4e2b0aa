//! Socket kinds, roles and transports: the words an address is made of.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The messaging pattern side a socket plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SocketKind {
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

impl SocketKind {
    /// The kind the peer must use.
    pub fn twin(self) -> SocketKind {
        match self {
            SocketKind::Req => SocketKind::Rep,
            SocketKind::Rep => SocketKind::Req,
            SocketKind::Push => SocketKind::Pull,
            SocketKind::Pull => SocketKind::Push,
            SocketKind::Pub => SocketKind::Sub,
            SocketKind::Sub => SocketKind::Pub,
            SocketKind::AsyncRep => SocketKind::AsyncReq,
            SocketKind::AsyncReq => SocketKind::AsyncRep,
            SocketKind::SyncPub => SocketKind::SyncSub,
            SocketKind::SyncSub => SocketKind::SyncPub,
        }
    }

    /// Whether sending on this kind is a request whose reply goes to a handler.
    pub fn requests(self) -> bool {
        matches!(
            self,
            SocketKind::Req | SocketKind::AsyncReq | SocketKind::SyncSub
        )
    }

    /// Whether sockets of this kind hand received messages to a handler.
    pub fn receives(self) -> bool {
        !matches!(self, SocketKind::Push | SocketKind::Pub)
    }

    /// Whether `send` applies to sockets of this kind.
    pub fn sends(self) -> bool {
        !matches!(
            self,
            SocketKind::Rep | SocketKind::Pull | SocketKind::Sub | SocketKind::AsyncRep
        )
    }

    /// The canonical upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            SocketKind::Req => "REQ",
            SocketKind::Rep => "REP",
            SocketKind::Push => "PUSH",
            SocketKind::Pull => "PULL",
            SocketKind::Pub => "PUB",
            SocketKind::Sub => "SUB",
            SocketKind::AsyncRep => "ASYNC_REP",
            SocketKind::AsyncReq => "ASYNC_REQ",
            SocketKind::SyncPub => "SYNC_PUB",
            SocketKind::SyncSub => "SYNC_SUB",
        }
    }
}

impl fmt::Display for SocketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SocketKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "REQ" => SocketKind::Req,
            "REP" => SocketKind::Rep,
            "PUSH" => SocketKind::Push,
            "PULL" => SocketKind::Pull,
            "PUB" => SocketKind::Pub,
            "SUB" => SocketKind::Sub,
            "ASYNC_REP" => SocketKind::AsyncRep,
            "ASYNC_REQ" => SocketKind::AsyncReq,
            "SYNC_PUB" => SocketKind::SyncPub,
            "SYNC_SUB" => SocketKind::SyncSub,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_case_insensitively() {
        assert_eq!("pub".parse::<SocketKind>().unwrap(), SocketKind::Pub);
        assert!("PAIR".parse::<SocketKind>().is_err());
    }
}
