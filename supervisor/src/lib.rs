//! axon-supervisor: the name server, and the processes it starts.
//!
//! # Layout
//! - `registry`: the name server's records (who is registered, who is starting), as plain data.
//! - `methods`: argument and answer types of the name-server methods.
//! - `requests`: reading control frames, decoding arguments, the record-only methods, replies.
//! - `server`: the name server actor: control socket, spawning, exits; `server::stop`: shutdowns.
//! - `rundir`: the node's runtime directory (ipc files).
//! - `handle`: [`NameServer`], the blocking handle scripts and tests use.
//! - [`manifest`]: deployments described in TOML, validated before anything starts.
//! - [`error`]: the crate's error type.

pub mod error;
mod handle;
pub mod manifest;
mod methods;
mod registry;
mod requests;
mod rundir;
mod server;

pub use error::{Error, Result};
pub use handle::{NameServer, NodeOptions};
pub use methods::{AgentInfo, SpawnOptions};
pub use server::run_nameserver_process;
