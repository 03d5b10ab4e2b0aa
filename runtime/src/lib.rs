//! axon-runtime: what runs inside an agent process, and the clients that talk to one.
//!
//! # Layout
//!
//! The folders form a DAG: each uses only those above it. Read them in
//! the order a message travels.
//!
//! - [`error`], [`clock`], [`config`]: the crate's error type, wall-clock
//!   milliseconds, and the defaults read once from `AXON_*` variables.
//! - [`codec`]: values to bytes and back (`cbor`, `json`, `raw`), and hex.
//! - [`net`]: libzmq as axon uses it: socket kinds and [`Address`]es, the
//!   non-blocking `Socket` with its send backlog, frames and wake-ups.
//! - [`protocol`]: what crosses a control socket: the signed AXON/1 envelope,
//!   the arguments of every control method (one set, for both sides), and the
//!   journal a supervisor replays.
//! - `sockets`: one agent's socket table (no actix): open, send, request.
//! - `agent`: what agent authors touch: [`Agent`], [`Handlers`], [`Ctx`],
//!   [`Message`], [`attrs`].
//! - `script`: rhai scripts loaded at run time, sandboxed by
//!   [`ScriptLimits`]: the engine, value conversion, what a script reaches.
//! - `host`: the actix actor hosting one agent: boot, drains, inbound
//!   messages to handlers, requests, control methods, timers, and its
//!   non-blocking line to the name server; [`Registry`] runs a kind by name.
//! - [`client`]: talking to agents from outside: the async call core and the
//!   blocking [`Proxy`] over it.
//! - [`launch`]: how a process learns which agent it hosts, and spawning.
//! - [`logging`], `stats`: log records, the node's log file, terminal and logger-agent layers; an agent's counters.
//!
//! A message sent with `ctx.send` goes: `agent::Ctx::send` →
//! `sockets::Sockets::send` (encode) → `net::Socket::send` (libzmq, or the
//! backlog and a `host::drain` flush) … the peer's `host::drain` reads a
//! batch → `host::inbound` (per pattern) → the handler. See
//! `docs/architecture.md`.

#![deny(missing_docs)]

pub mod clock;
pub mod codec;
pub mod config;
pub mod error;
pub mod net;
pub mod protocol;
pub mod saved;

mod sockets;

mod agent;
mod host;
mod script;

pub mod client;
pub mod launch;
pub mod logging;
mod stats;

pub use agent::{
    attrs, Agent, BasicAgent, Ctx, HandlerError, HandlerErrorKind, HandlerResult, Handlers, Message,
};
pub use client::Proxy;
pub use codec::{Serializer, Value};
pub use config::Defaults;
pub use error::{Error, ErrorKind, RemoteError, Result};
pub use host::{Host, Registry, KILLED_EXIT};
pub use launch::AgentSpec;
pub use net::{Address, BindTarget, Framing, OnFull, Role, SocketKind, Transport};
pub use protocol::{BindOptions, ConnectOptions, Dispatch, Reliability, RequestOptions};
pub use script::{check_script, ScriptError, ScriptLimits, Signature};
pub use sockets::{safe_name, SocketKey, SocketRef};
pub use stats::{ReliableStats, SocketStats, Stats};
