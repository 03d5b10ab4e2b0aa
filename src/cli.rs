//! Command-line interface: argument types and one function per command.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use axon::{NameServer, Value};
use clap::{Parser, Subcommand};

/// axon: agents as OS processes over ZeroMQ.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Args)]
struct NsArgs {
    /// The name server's control endpoint.
    #[arg(long, env = "AXON_NAMESERVER")]
    ns: String,
    /// How long to wait for answers.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// File holding the deployment key (the name server writes `<runtime dir>/key`).
    #[arg(long, env = "AXON_KEY_FILE")]
    key_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a name server in the foreground until SIGINT/SIGTERM or `axon shutdown`.
    Nameserver {
        /// Endpoint to bind, e.g. tcp://127.0.0.1:7100 (default: an ipc file in a fresh runtime directory).
        #[arg(long)]
        bind: Option<String>,
    },
    /// Lists the registered agents.
    Ps {
        #[command(flatten)]
        ns: NsArgs,
        /// Print a JSON list instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Calls a control method on an agent and prints the JSON result.
    Call {
        #[command(flatten)]
        ns: NsArgs,
        /// The agent's name.
        agent: String,
        /// The control method, e.g. ping, bind, send, stats.
        method: String,
        /// The arguments as a JSON object.
        args: Option<String>,
    },
    /// Shuts the name server and all its agents down.
    Shutdown {
        #[command(flatten)]
        ns: NsArgs,
    },
}

/// Runs one command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Nameserver { bind } => nameserver(bind),
        Command::Ps { ns, json } => ps(&ns, json),
        Command::Call {
            ns,
            agent,
            method,
            args,
        } => call(&ns, &agent, &method, args.as_deref()),
        Command::Shutdown { ns } => connect(&ns)?.shutdown().context("shutting down"),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    axon_supervisor::manifest::parse_duration(s)
}

fn connect(ns: &NsArgs) -> Result<NameServer> {
    if let Some(path) = &ns.key_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading key file {}", path.display()))?;
        axon::auth::install_key(axon::auth::Key::from_hex(&text).context("parsing the key file")?);
    }
    NameServer::connect(&ns.ns, ns.timeout)
        .with_context(|| format!("no name server answers at {}", ns.ns))
}

fn nameserver(bind: Option<String>) -> Result<()> {
    if let Some(bind) = bind {
        // The name server reads its bind address from the environment, like a spawned one.
        std::env::set_var("AXON_NS_BIND", bind);
    }
    axon_supervisor::run_nameserver_process().context("running the name server")
}

fn ps(ns: &NsArgs, json: bool) -> Result<()> {
    let ns = connect(ns)?;
    let mut infos = Vec::new();
    for name in ns.agents().context("listing agents")? {
        // An agent may leave between the listing and the lookup.
        if let Ok(info) = ns.info(&name) {
            infos.push(info);
        }
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
        return Ok(());
    }
    println!("{:<20} {:<12} {:>8}  SOCKETS", "NAME", "KIND", "PID");
    for info in infos {
        let sockets: Vec<String> = info
            .addrs
            .iter()
            .map(|(a, addr)| format!("{a}={}", addr.endpoint))
            .collect();
        println!(
            "{:<20} {:<12} {:>8}  {}",
            info.name,
            info.kind,
            info.pid,
            sockets.join(" ")
        );
    }
    Ok(())
}

fn call(ns: &NsArgs, agent: &str, method: &str, args: Option<&str>) -> Result<()> {
    let args: serde_json::Value = match args {
        Some(text) => serde_json::from_str(text).context("ARGS must be JSON")?,
        None => serde_json::Value::Null,
    };
    if !(args.is_object() || args.is_null()) {
        bail!("ARGS must be a JSON object");
    }
    let mut proxy = connect(ns)?
        .proxy(agent)
        .with_context(|| format!("finding agent {agent}"))?;
    proxy.set_timeout(ns.timeout);
    let result: Value = proxy.call(method, args)?;
    println!("{}", serde_json::to_string_pretty(&result)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
