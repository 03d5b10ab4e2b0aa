//! axon: a multi-agent runtime. Agents are OS processes, each hosting one
//! actix actor; they talk over ZeroMQ, a name server knows them all, and any
//! running agent can be inspected and reconfigured through a [`Proxy`].
//!
//! ```no_run
//! use axon::prelude::*;
//!
//! fn log_message(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
//!     tracing::info!(agent = ctx.name(), text = %msg.decode::<String>()?, "received");
//!     Ok(())
//! }
//!
//! fn main() -> axon::Result<()> {
//!     // Re-runs of this executable become agent hosts here and never return.
//!     axon::init(axon::registry().handler("log_message", log_message))?;
//!     let ns = axon::run_nameserver()?;
//!     let mut alice = ns.run_agent("alice")?;
//!     let mut bob = ns.run_agent("bob")?;
//!     let addr = alice.bind(SocketKind::Push, "main")?;
//!     bob.connect(&addr, "main", "log_message")?;
//!     for _ in 0..3 {
//!         alice.send("main", &"Hello, Bob!")?;
//!     }
//!     ns.shutdown()?;
//!     Ok(())
//! }
//! ```
//!
//! # Layout
//! - `init`: role dispatch at the top of `main` (agent host, name server, or script).
//! - [`logging`]: where log events go (the node's log file, the terminal,
//!   a logger agent) and reading them back; [`logging::Terminal`] for `axon up`.
//! - [`testing`]: helpers for tests that spawn agents from a test binary, and for
//!   fault-injection tests against deployments run by the `axon` binary, hosts in
//!   network namespaces (`testing::netns`) and a throw-away etcd.
//! - `up`: runs a manifest (`axon up`).
//! - [`prelude`]: the names a script or agent crate needs.

#![deny(missing_docs)]

mod init;
pub mod logging;
pub mod testing;

pub use axon_runtime::{
    attrs, client, clock, codec, config, launch, net, protocol, Address, Agent, AgentSpec,
    BasicAgent, BindOptions, ConnectOptions, Ctx, Defaults, Dispatch, Error, ErrorKind, Framing,
    HandlerError, HandlerResult, Handlers, Message, OnFull, Proxy, Registry, Reliability,
    ReliableStats, RemoteError, RequestOptions, Result, Role, Serializer, SocketKey, SocketKind,
    SocketRef, SocketStats, Stats, Transport, Value,
};
pub use axon_supervisor::{
    lifecycle, manifest, AgentInfo, AgentStatus, GroupSpec, GroupStatus, NameServer, NodeOptions,
    NodeStatus, PsArgs, Restart, RestartStrategy, SpawnOptions, SupervisorSpec, SupervisorStatus,
    GAVE_UP_EXIT, KIND_HOSTS_ENV,
};
pub use init::{init, registry, run_nameserver, run_nameserver_with};
pub use logging::{install_nameserver_tracing, install_tracing};

/// The names a script or an agent crate needs.
pub mod prelude {
    pub use crate::{
        Address, Agent, AgentInfo, AgentSpec, BasicAgent, BindOptions, ConnectOptions, Ctx,
        Dispatch, ErrorKind, Framing, HandlerError, HandlerResult, Handlers, Message, NameServer,
        OnFull, Proxy, Registry, Reliability, Role, Serializer, SocketKind, SocketRef,
        SpawnOptions, Stats, Transport, Value,
    };
}
