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
            install_agent_tracing(&spec);
            exit_on_panic(spec.name.clone());
            // Every event of this process carries the agent's name.
            let _span = tracing::info_span!("agent", name = %spec.name).entered();
            std::process::exit(registry.host(spec))
        }
        Some("nameserver") => {
            // Its lifecycle events reach the logger agent too, once one runs.
            install_forwarding_tracing("nameserver", None, None);
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

/// Logs to stderr, one readable line per event, filtered by `AXON_LOG` (default `info`).
///
/// For binaries that are not agents (the CLI, a name server); agents get
/// their subscriber from [`init`].
pub fn install_tracing(process: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("AXON_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .try_init();
    tracing::debug!(process, "tracing installed");
}

/// Logs to stderr, and to the logger agent once there is one; levels from
/// the spec or `AXON_LOG` (`@name=level` entries set one agent's level).
fn install_agent_tracing(spec: &AgentSpec) {
    install_forwarding_tracing(&spec.name, spec.log.as_deref(), spec.logger.as_deref());
}

/// Logs to stderr and forwards every event to the logger at `logger` (when
/// given, or later through `axon_runtime::logging::connect`) as `name`.
/// Installs the tracing of a name server run in this process (`axon nameserver`,
/// `axon node`): to stderr, and to the logger agent once one runs, as a name
/// server spawned by `axon up` does.
pub fn install_nameserver_tracing() {
    install_forwarding_tracing("nameserver", None, None);
}

fn install_forwarding_tracing(name: &str, log: Option<&str>, logger: Option<&str>) {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::EnvFilter;
    let env = std::env::var("AXON_LOG").unwrap_or_default();
    let env = match log {
        Some(level) => format!("{env},@{name}={level}"),
        None => env,
    };
    let directives = axon_runtime::logging::filter_for(name, &env, "info");
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    // Once a logger takes the events, it prints them: stderr would say everything twice.
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .with_filter(tracing_subscriber::filter::filter_fn(|_| {
            !axon_runtime::logging::is_connected()
        }));
    let forward = axon_runtime::logging::layer(name);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(forward)
        .try_init();
    if let Some(endpoint) = logger {
        if let Err(e) = axon_runtime::logging::connect(endpoint) {
            tracing::warn!(error = %e, "cannot reach the logger; logging to stderr only");
        }
    }
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
