//! axon-supervisor: the name server, and the processes it starts.
//!
//! # Layout
//! - `registry`: the name server's records (who is registered, who is starting), as plain data.
//! - `methods`: argument and answer types of the name-server methods.
//! - `requests`: reading control frames, decoding arguments, the record-only methods, replies.
//! - `server`: the name server actor and its control socket; `server::spawn`: starting agents
//!   and their exits; `server::stop`: shutdowns; `server::supervise`: restarts (group restarts
//!   stop their members one at a time), heartbeats, memory, `ps`, `groups`.
//! - `supervision`: the supervisor's rules as plain data (strategies, intensity, backoff);
//!   `supervision::tree`: the supervision tree (order along it, escalation from group to
//!   parent), `supervision::groups`: each group's parent and restart window.
//! - [`lifecycle`]: lifecycle events (exits, restarts, give-ups, takeovers) as data, kept in a
//!   bounded ring the `events` method reads (`axon up` prints them).
//! - `stats`: process CPU and memory (read from `/proc/<pid>/stat`, no file kept open).
//! - `metrics`: Prometheus metrics over HTTP (`GET /metrics`): the snapshot a scrape reads and
//!   its encoding; `server::metrics` refreshes it from the records and the agents' renewals.
//! - `rundir`: the node's runtime directory (ipc files).
//! - `hosts`: which program hosts which agent kind, fixed when the node starts.
//! - `guard`: each control request under `catch_unwind`; a panic outside one stops the agents,
//!   removes the runtime directory and exits non-zero.
//! - [`topology`]: the node's agents and their connections (`topology`, `axon graph`).
//! - `handle`: [`NameServer`], the blocking handle scripts and tests use.
//! - [`policy`]: supervision strategies, restart types, intensity, backoff, nested groups.
//! - [`manifest`]: deployments described in TOML, validated before anything starts.
//! - [`error`]: the crate's error type.

#![deny(missing_docs)]

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod error;
mod guard;
mod handle;
mod hosts;
pub mod lifecycle;
pub mod manifest;
mod methods;
mod metrics;
pub mod policy;
mod registry;
mod requests;
mod rundir;
mod server;
mod stats;
mod store;
mod supervision;
pub mod topology;

pub use error::{Error, Result};
pub use handle::{NameServer, NodeOptions};
pub use hosts::KIND_HOSTS_ENV;
pub use methods::{
    AgentInfo, AgentStatus, GroupStatus, NodeStatus, PsArgs, SpawnOptions, SupervisorStatus,
};
pub use metrics::{METRICS_ENV, METRICS_FILE};
pub use policy::{GroupSpec, Restart, RestartStrategy, SupervisorSpec};
pub use server::{run_nameserver_process, GAVE_UP_EXIT};
