//! axon-runtime: what runs inside an agent process, and the clients that talk to one.
//!
//! # Layout
//! - [`address`]: socket kinds, roles, transports and [`Address`], the value naming an endpoint.
//! - [`serializer`]: `cbor`, `json` and `raw` payload encodings.
//! - [`config`]: defaults read once from `AXON_*` variables.
//! - [`wire`]: control-plane requests, replies and errors as they cross the socket.
//! - `agent`: the [`Agent`] trait and its named handlers.
//! - `message`: the view of a received message a handler gets.
//! - `context`: [`Ctx`], what a handler can do (send, bind, timers, stop, ...).
//! - `timers`: `each` / `after` timers by alias, without bursts.
//! - `socket`: one owned ZeroMQ socket: open, send without blocking, receive in batches.
//! - `socket_ref`: naming a socket by alias or by a [`SocketRef`] resolved once.
//! - `host`: the actix actor hosting one agent, and its control dispatch (`control`).
//! - `spec` / `registry`: how a process learns which agent it hosts, and the kinds it can host.
//! - [`proxy`]: a blocking control client; `call`: its async one-shot counterpart.
//! - `process`: spawning helpers shared by the name server and scripts.
//! - [`error`]: the crate's error type.

pub mod address;
mod agent;
pub mod attrs;
pub mod auth;
pub mod call;
mod channels;
pub mod config;
mod context;
mod control;
mod core;
mod dispatch;
pub mod error;
mod host;
pub mod journal;
pub mod logging;
mod message;
mod ops;
pub mod process;
pub mod proxy;
mod raw;
mod registry;
pub mod serializer;
mod socket;
mod socket_ref;
pub mod spec;
mod stats;
mod timers;
pub mod wire;

pub use address::{Address, BindTarget, Kind, Role, Transport};
pub use agent::{Agent, HandlerError, HandlerResult, Handlers};
pub use config::Defaults;
pub use context::Ctx;
pub use core::{BindOptions, ConnectOptions, RequestOptions};
pub use error::{Error, Result};
pub use host::{Host, Stats, KILLED_EXIT};
pub use message::Message;
pub use proxy::Proxy;
pub use registry::{BasicAgent, Registry};
pub use serializer::{Serializer, Value};
pub use socket::OnFull;
pub use socket_ref::{SocketKey, SocketRef};
pub use spec::AgentSpec;
pub use wire::{ErrorKind, RemoteError};

/// The process-wide ZeroMQ context shared by every socket (so `inproc` works across them).
pub fn zmq_context() -> &'static zmq::Context {
    static CONTEXT: std::sync::OnceLock<zmq::Context> = std::sync::OnceLock::new();
    CONTEXT.get_or_init(zmq::Context::new)
}

/// Terminates the process-wide ZeroMQ context at exit, waiting at most
/// `limit` for messages still queued in closed sockets to leave.
///
/// Call it once every socket is closed, right before the process exits.
pub fn terminate_zmq(limit: std::time::Duration) {
    // The log forwarding socket lives in a static; it must close too, or termination waits for it.
    logging::disconnect();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ctx = zmq_context().clone();
        // zmq_ctx_term blocks until every socket is closed and flushed (or its linger is over).
        let _ = ctx.destroy();
        let _ = done.send(());
    });
    // Past the limit the process exits anyway; what is still queued is lost, as documented.
    let _ = wait.recv_timeout(limit);
}
