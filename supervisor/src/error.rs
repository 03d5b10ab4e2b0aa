//! The supervisor's error type.

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong running a name server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A runtime operation failed (sockets, configuration, calls).
    #[error(transparent)]
    Runtime(#[from] axon_runtime::Error),
    /// A file or process operation failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The supervisor exceeded its restart intensity and shut the node down (OTP's escalation).
    #[error("supervisor gave up: {0}")]
    GaveUp(String),
    /// The event loop could not run.
    #[error("event loop failed: {0}")]
    EventLoop(String),
}
