//! Role dispatch: the first call in `main` of every axon program.

use axon_runtime::launch::{AgentSpec, ROLE_ENV};
use axon_runtime::{Error, Registry, Result};
use axon_supervisor::{NameServer, NodeOptions};

/// The registry with the plain kind and every ready-made kind of `axon-agents`.
pub fn registry() -> Registry {
    axon_agents::register(Registry::new())
}

/// Turns a process started by axon into what it was started as, and never
/// returns there; in any other process it returns at once.
///
/// - `AXON_ROLE=agent`: hosts the agent described by `AXON_AGENT` with a kind from `registry`.
/// - `AXON_ROLE=nameserver`: runs the name server.
/// - unset: returns `Ok(())` (script mode).
pub fn init(registry: Registry) -> Result<()> {
    let role = axon_runtime::config::env_var(ROLE_ENV)?;
    match role.as_deref() {
        None => Ok(()),
        Some("agent") => {
            let spec = AgentSpec::from_env()?.ok_or_else(|| {
                Error::Config(format!(
                    "{ROLE_ENV}=agent without {}",
                    axon_runtime::launch::AGENT_ENV
                ))
            })?;
            crate::logging::install_agent_tracing(&spec);
            exit_on_panic(spec.name.clone());
            // Every event of this process carries the agent's name.
            let _span = tracing::info_span!("agent", name = %spec.name).entered();
            std::process::exit(registry.host(spec))
        }
        Some("nameserver") => {
            // Its events go to the node's log file, and to the logger agent once one runs.
            crate::logging::install_spawned_nameserver_tracing();
            let code = match axon_supervisor::run_nameserver_process() {
                Ok(()) => 0,
                Err(e @ axon_supervisor::Error::GaveUp(_)) => {
                    tracing::error!(error = %e, "name server gave up");
                    axon_supervisor::GAVE_UP_EXIT
                }
                Err(e) => {
                    tracing::error!(error = %e, "name server failed");
                    1
                }
            };
            std::process::exit(code)
        }
        Some(other) => Err(Error::invalid(
            ROLE_ENV,
            other,
            "expected agent or nameserver",
        )),
    }
}

/// Starts a name server (a child process of this one) with default options.
pub fn run_nameserver() -> Result<NameServer> {
    run_nameserver_with(NodeOptions::default())
}

/// Starts a name server with `options`.
pub fn run_nameserver_with(options: NodeOptions) -> Result<NameServer> {
    NameServer::start(options).map_err(|e| Error::Config(e.to_string()))
}

/// A panic ends the agent process at once: it never lingers half-dead.
fn exit_on_panic(agent: String) {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        default(info);
        tracing::error!(agent = %agent, panic = %info, "agent panicked; exiting");
        std::process::exit(101);
    }));
}
