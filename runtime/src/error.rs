//! The runtime's error type.

use crate::wire::RemoteError;

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
        /// Its kind.
        kind: crate::Kind,
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
