//! The runtime's error type, and the structured error a remote side answers with.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Result alias used across the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime, by cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The ZeroMQ transport failed (socket, bind, connect, send or receive).
    #[error("transport error: {0}")]
    Transport(#[from] zmq::Error),
    /// tmq failed to bridge a socket into the event loop.
    #[error("socket error: {0}")]
    Socket(#[from] tmq::TmqError),
    /// The peer did not answer within the allowed time.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    /// The remote side answered with an error: the request reached it and was refused.
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// A value could not be encoded with the chosen serializer.
    #[error("cannot encode with {serializer}: {reason}")]
    Encode {
        /// Serializer that was used.
        serializer: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Bytes did not decode with the chosen serializer.
    #[error("cannot decode with {serializer}: {reason}")]
    Decode {
        /// Serializer that was used.
        serializer: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// An address, kind, transport or serializer name did not parse.
    #[error("invalid {what} {value:?}: {reason}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// The offending input.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// No socket is open under this alias.
    #[error("no socket with alias {0:?}")]
    UnknownAlias(String),
    /// The alias is already taken by another socket of this agent.
    #[error("alias {0:?} is already in use")]
    AliasInUse(String),
    /// The operation does not apply to this kind of socket.
    #[error("socket {alias:?} is {kind}: {reason}")]
    WrongKind {
        /// The socket alias.
        alias: String,
        /// Its socket kind, e.g. `PUB`.
        kind: &'static str,
        /// What was attempted.
        reason: String,
    },
    /// The socket's send queue is full (high-water mark) and the message was handed back.
    #[error("socket {alias:?} is full (high-water mark); message not sent")]
    Full {
        /// The socket alias.
        alias: String,
        /// The encoded message, handed back to the caller.
        message: Vec<Vec<u8>>,
    },
    /// A message exceeded the configured size limit.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Size of the offending message.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The process environment or configuration is unusable.
    #[error("configuration error: {0}")]
    Config(String),
    /// An I/O operation on a local file, pipe or process failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Builds an [`Error::Invalid`].
    pub fn invalid(
        what: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            what,
            value: value.into(),
            reason: reason.into(),
        }
    }

    /// The remote error, when the peer answered no.
    pub fn remote(&self) -> Option<&RemoteError> {
        match self {
            Error::Remote(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a remote side answered no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The method does not exist on this agent.
    UnknownMethod,
    /// The arguments are missing, of the wrong type, or out of range.
    BadArguments,
    /// The request could not be decoded at all.
    BadRequest,
    /// A handler ran and returned an error.
    Handler,
    /// The name is already registered.
    NameTaken,
    /// The agent, alias or item asked for does not exist.
    NotFound,
    /// The operation failed in the transport (bind, connect, send).
    Transport,
    /// The remote side gave up waiting on something else.
    Timeout,
    /// The request was not authorised.
    Refused,
    /// Anything else that went wrong on the remote side.
    Internal,
}

impl ErrorKind {
    /// The snake_case name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownMethod => "unknown_method",
            ErrorKind::BadArguments => "bad_arguments",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Handler => "handler",
            ErrorKind::NameTaken => "name_taken",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Transport => "transport",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Refused => "refused",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A structured error from an agent or the name server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct RemoteError {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// A human-readable cause.
    pub message: String,
    /// The agent (or `nameserver`) that answered.
    pub agent: String,
    /// The method or handler that failed.
    pub method: String,
}

impl fmt::Display for RemoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} refused {}: {} ({})",
            self.agent,
            self.method,
            self.message,
            self.kind.as_str()
        )
    }
}
