//! libzmq as axon uses it: socket kinds and addresses, opening a socket
//! with axon's options, reading a message's frames and laying out PUB frames (axon's or osBrain's), waking one socket's
//! drain, and `Socket`: one socket with its send backlog.
//!
//! Nothing here knows about agents, handlers or the control plane.

mod address;
pub(crate) mod curve;
mod frames;
mod framing;
mod io;
mod kind;
mod socket;
mod wakeup;

pub use address::{
    check_endpoint, ipc_path, look_up, needs_lookup, remove_ipc_file, tcp_endpoint,
    tcp_endpoint_at, Address, BindTarget,
};
pub(crate) use frames::Frames;
pub(crate) use framing::prepend_topic;
pub use framing::{split as split_single_frame, Framing, TOPIC_SEPARATOR};
pub use io::HARD_LIMIT_FACTOR;
pub(crate) use io::{report_the_mark, Identity, Io};
pub use kind::{Role, SocketKind, Transport};
pub use socket::{OnFull, BACKLOG_BYTES, BACKLOG_LIMIT, DEFAULT_HWM};
pub(crate) use socket::{Sent, Socket};

/// The process-wide ZeroMQ context shared by every socket (so `inproc` works across them).
pub fn zmq_context() -> &'static zmq::Context {
    static CONTEXT: std::sync::OnceLock<zmq::Context> = std::sync::OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new)
}
