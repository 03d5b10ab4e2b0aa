//! Command-line interface: argument types and one function per command.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use axon::launch::Signal;
use axon::AgentStatus;
use clap::{Parser, Subcommand};

use crate::commands::{call_args, call_on, kill, nameserver, script_args, uptime};
#[cfg(feature = "cluster")]
use crate::reach::cluster;
use crate::reach::{connect, local_dir, NsArgs};
use crate::up;

/// axon: agents as OS processes over ZeroMQ.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a deployment from a manifest in the foreground; Ctrl-C stops it gracefully.
    Up {
        /// The manifest (TOML).
        manifest: PathBuf,
        /// Only validate the manifest, start nothing.
        #[arg(long)]
        check: bool,
        /// The node's runtime directory (else a fresh one). If a node ran
        /// there and its supervisor died, this one takes it over: the agents
        /// still running are adopted, not started again (e.g. under systemd).
        #[arg(long, env = "AXON_NODE_DIR")]
        node_dir: Option<PathBuf>,
        /// Serve Prometheus metrics at http://ADDR/metrics (IP:PORT, port 0: any free one;
        /// `axon status` shows the bound address). Over the manifest's `[metrics] addr`.
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
        /// Say less: only errors, the lifecycle events that matter (crash, restart,
        /// give-up) and the final summary; no start summary, no status line.
        #[arg(long, short = 'q', conflicts_with = "verbose")]
        quiet: bool,
        /// Say more: every lifecycle event (spawns, stops), each agent's binds.
        #[arg(long, short = 'v')]
        verbose: bool,
    },
    /// Runs a name server in the foreground until SIGINT/SIGTERM or `axon shutdown`.
    Nameserver {
        /// Endpoint to bind, e.g. tcp://127.0.0.1:7100 (default: an ipc file in a fresh runtime directory).
        #[arg(long)]
        bind: Option<String>,
        /// KIND=PROGRAM: agents of KIND are hosted by PROGRAM (a binary calling `axon::init`); repeatable.
        /// Spawn requests name kinds only, so these are the only programs the name server runs
        /// besides itself.
        #[arg(long = "kind-host", value_parser = parse_kind_host)]
        kind_hosts: Vec<(String, PathBuf)>,
    },
    /// Runs this host's node of a cluster in the foreground (cluster mode).
    #[cfg(feature = "cluster")]
    Node {
        /// The node's name, unique in the cluster.
        #[arg(long)]
        name: String,
        /// The cluster's registry: etcd://HOST:PORT[,HOST:PORT...][/PREFIX].
        #[arg(long, env = "AXON_REGISTRY")]
        registry: String,
        /// The address other hosts reach this node at (default: the one that routes to etcd).
        #[arg(long)]
        advertise: Option<String>,
        /// The control port of the node's name server (0: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The deployment key, the same on every host of the cluster.
        #[arg(long, env = "AXON_KEY_FILE")]
        key_file: Option<PathBuf>,
        /// KIND=PROGRAM: agents of KIND are hosted by PROGRAM; repeatable.
        #[arg(long = "kind-host", value_parser = parse_kind_host)]
        kind_hosts: Vec<(String, PathBuf)>,
        /// Serve Prometheus metrics at http://ADDR/metrics (IP:PORT; docs/metrics.md).
        #[arg(long, value_name = "ADDR")]
        metrics: Option<std::net::SocketAddr>,
    },
    /// Stores a manifest as a cluster's desired state; returns once every agent answers.
    #[cfg(feature = "cluster")]
    Deploy {
        /// The manifest (TOML).
        manifest: PathBuf,
        /// The cluster's registry (else the manifest's `[cluster] registry`).
        #[arg(long, env = "AXON_REGISTRY")]
        registry: Option<String>,
    },
    /// Removes a cluster's deployment and stops its agents everywhere.
    #[cfg(feature = "cluster")]
    Down {
        /// The cluster's registry.
        #[arg(long, env = "AXON_REGISTRY")]
        registry: String,
    },
    /// Lists the agents: pid, state, restarts, uptime, CPU, memory, messages.
    Ps {
        #[command(flatten)]
        ns: NsArgs,
        /// Print a JSON list instead of a table.
        #[arg(long)]
        json: bool,
        /// Show the supervision tree: groups with strategy and intensity usage, agents under them.
        #[arg(long, conflicts_with = "json")]
        tree: bool,
    },
    /// A live view of every agent: rates, restarts, sockets, logs; keys sort, filter, kill (`q` quits).
    Top {
        #[command(flatten)]
        ns: NsArgs,
        /// How often to refresh, e.g. 1s or 500ms.
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        interval: Duration,
    },
    /// The node at a glance: its supervisor (pid, uptime, takeovers) and agents.
    Status {
        #[command(flatten)]
        ns: NsArgs,
        /// Print JSON instead of lines.
        #[arg(long)]
        json: bool,
    },
    /// Prints the live topology: agents (coloured by state) and one edge per connection.
    Graph {
        #[command(flatten)]
        ns: NsArgs,
        /// dot (Graphviz), svg (rendered by Graphviz's `dot`), or mermaid.
        #[arg(long, value_enum, default_value = "dot")]
        format: crate::graph::Format,
    },
    /// Calls a control method on an agent and prints the JSON result.
    Call {
        #[command(flatten)]
        ns: NsArgs,
        /// The agent's name.
        agent: String,
        /// The control method, e.g. ping, bind, send, stats.
        method: String,
        /// The arguments as JSON: an object for control methods; for a script
        /// function an array (positional arguments) or any other value (one).
        args: Option<String>,
    },
    /// Loads a rhai script into a running agent: its functions become methods and handlers.
    Script {
        #[command(flatten)]
        ns: NsArgs,
        /// The agent's name.
        agent: String,
        /// The script (rhai source defining `fn`s).
        file: PathBuf,
        /// Define only this function (`set_method`) instead of every one in FILE.
        #[arg(long)]
        name: Option<String>,
    },
    /// Prints a deployment's log events: from the node's log file when the node
    /// runs on this machine, else from its logger agent (docs/logging.md).
    Logs {
        #[command(flatten)]
        ns: NsArgs,
        /// Only this agent's events (`nameserver` for lifecycle events, `up` for `axon up`'s).
        agent: Option<String>,
        /// Keep printing new events until interrupted (across the file's rotation).
        #[arg(long, short = 'f')]
        follow: bool,
        /// How many past events to print.
        #[arg(long, short = 'n', default_value_t = 100)]
        lines: usize,
        /// Only events at least this severe: error, warn, info, debug or trace.
        #[arg(long, value_parser = parse_level)]
        level: Option<tracing::Level>,
        /// Only events since then: a duration back from now (30s, 5m, 2h, 1d) or an
        /// RFC 3339 time (2026-12-07T22:41:03Z).
        #[arg(long, value_parser = parse_since)]
        since: Option<u64>,
    },
    /// Starts an agent on the node and waits until it answers (osBrain's run_agent).
    Spawn {
        #[command(flatten)]
        ns: NsArgs,
        /// The agent's name.
        name: String,
        /// Its kind (default: the plain `agent`).
        #[arg(long)]
        kind: Option<String>,
        /// permanent, transient or temporary (default: temporary, never restarted).
        #[arg(long)]
        restart: Option<String>,
        /// The supervision group (a `[[group]]` of the node's tree) to place it in; default: the root.
        #[arg(long)]
        group: Option<String>,
    },
    /// Sends a signal to an agent's process (fault injection).
    Kill {
        #[command(flatten)]
        ns: NsArgs,
        /// The agent's name.
        agent: String,
        /// KILL, STOP, TERM or CONT.
        #[arg(long, short = 's', default_value = "KILL")]
        signal: Signal,
    },
    /// Shuts the name server and all its agents down.
    Shutdown {
        #[command(flatten)]
        ns: NsArgs,
    },
}

impl Args {
    /// How this process signs its log events: `up` for `axon up`, else `axon`.
    pub fn process_name(&self) -> &'static str {
        match &self.command {
            Command::Up { .. } => "up",
            _ => "axon",
        }
    }

    /// Whether the command runs a name server in this process (`nameserver`, `node`).
    pub fn runs_a_name_server(&self) -> bool {
        match &self.command {
            Command::Nameserver { .. } => true,
            #[cfg(feature = "cluster")]
            Command::Node { .. } => true,
            _ => false,
        }
    }
}

/// Runs one command.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Up {
            manifest,
            check,
            node_dir,
            metrics,
            quiet,
            verbose,
        } => up::run(up::UpArgs {
            manifest,
            check,
            node_dir,
            metrics,
            verbosity: up::Verbosity::from_flags(quiet, verbose),
        }),
        Command::Nameserver { bind, kind_hosts } => nameserver(bind, kind_hosts),
        #[cfg(feature = "cluster")]
        Command::Node {
            name,
            registry,
            advertise,
            port,
            key_file,
            kind_hosts,
            metrics,
        } => crate::node::run(crate::node::NodeArgs {
            name,
            registry,
            advertise,
            port,
            key_file,
            kind_hosts,
            metrics,
        }),
        #[cfg(feature = "cluster")]
        Command::Deploy { manifest, registry } => {
            crate::node::deploy(&manifest, registry.as_deref())
        }
        #[cfg(feature = "cluster")]
        Command::Down { registry } => crate::node::down(&registry),
        #[cfg(feature = "cluster")]
        Command::Ps {
            ns: NsArgs {
                registry: Some(registry),
                ..
            },
            json,
            tree,
        } => match tree {
            true => bail!("ps --tree shows one node's tree; a cluster deployment has no groups"),
            false => crate::node::ps(&registry, json),
        },
        Command::Ps { ns, tree: true, .. } => crate::tree::print(&connect(&ns)?),
        Command::Ps { ns, json, .. } => ps(&ns, json),
        #[cfg(feature = "cluster")]
        Command::Top {
            ns: ns @ NsArgs {
                registry: Some(_), ..
            },
            interval,
        } => {
            let registry = axon_supervisor::cluster::Registry::parse(cluster(&ns)?)?;
            crate::top::run(crate::top::Source::Cluster(registry), interval)
        }
        Command::Top { ns, interval } => {
            let source = crate::top::Source::node(connect(&ns)?.address(), local_dir(&ns)?);
            crate::top::run(source, interval)
        }
        Command::Status { ns, json } => crate::status::print(&connect(&ns)?, json),
        #[cfg(feature = "cluster")]
        Command::Graph {
            ns: ns @ NsArgs {
                registry: Some(_), ..
            },
            format,
        } => {
            let topology = crate::node::topology(cluster(&ns)?, ns.timeout)?;
            print!("{}", crate::graph::render(&topology, format)?);
            Ok(())
        }
        Command::Graph { ns, format } => {
            let topology = connect(&ns)?
                .topology()
                .context("asking for the topology")?;
            print!("{}", crate::graph::render(&topology, format)?);
            Ok(())
        }
        #[cfg(feature = "cluster")]
        Command::Call {
            ns: ns @ NsArgs {
                registry: Some(_), ..
            },
            agent,
            method,
            args,
        } => {
            let (registry, args) = (cluster(&ns)?, call_args(args.as_deref())?);
            crate::node::call(registry, &agent, &method, args, ns.timeout)
        }
        Command::Call {
            ns,
            agent,
            method,
            args,
        } => call(&ns, &agent, &method, call_args(args.as_deref())?),
        #[cfg(feature = "cluster")]
        Command::Script {
            ns: ns @ NsArgs {
                registry: Some(_), ..
            },
            agent,
            file,
            name,
        } => {
            let (method, args) = script_args(&file, name.as_deref())?;
            crate::node::call(cluster(&ns)?, &agent, method, args, ns.timeout)
        }
        Command::Script {
            ns,
            agent,
            file,
            name,
        } => {
            let (method, args) = script_args(&file, name.as_deref())?;
            call(&ns, &agent, method, args)
        }
        Command::Logs {
            ns,
            agent,
            follow,
            lines,
            level,
            since,
        } => {
            let select = axon::logging::Select {
                agent,
                level,
                since_ms: since,
            };
            crate::logs::print(&ns, &select, follow, lines)
        }
        #[cfg(feature = "cluster")]
        Command::Kill {
            ns: ns @ NsArgs {
                registry: Some(_), ..
            },
            agent,
            signal,
        } => crate::node::kill(cluster(&ns)?, &agent, signal, ns.timeout),
        Command::Kill { ns, agent, signal } => kill(&connect(&ns)?, &agent, signal),
        Command::Spawn {
            ns,
            name,
            kind,
            restart,
            group,
        } => spawn(&ns, &name, kind.as_deref(), restart.as_deref(), group),
        Command::Shutdown { ns } => connect(&ns)?.shutdown().context("shutting down"),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    axon_supervisor::manifest::parse_duration(s)
}

fn parse_level(s: &str) -> Result<tracing::Level, String> {
    axon::logging::parse_level(s)
}

fn parse_since(s: &str) -> Result<u64, String> {
    axon::logging::parse_since(s, axon::clock::now_ms())
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    match parse_duration(s)? {
        d if d < Duration::from_millis(100) => Err(format!("{s:?} is too short: 100ms at least")),
        d => Ok(d),
    }
}

fn parse_kind_host(s: &str) -> Result<(String, PathBuf), String> {
    match s.split_once('=') {
        Some((kind, program)) if !kind.is_empty() && !program.is_empty() => {
            Ok((kind.to_owned(), PathBuf::from(program)))
        }
        _ => Err(format!("expected KIND=PROGRAM, got {s:?}")),
    }
}

fn spawn(
    ns: &NsArgs,
    name: &str,
    kind: Option<&str>,
    restart: Option<&str>,
    group: Option<String>,
) -> Result<()> {
    let mut options = axon::SpawnOptions::default().name(name);
    options.kind = kind.map(str::to_owned);
    options.group = group;
    options.restart = match restart {
        None => None,
        Some("permanent") => Some(axon::Restart::Permanent),
        Some("transient") => Some(axon::Restart::Transient),
        Some("temporary") => Some(axon::Restart::Temporary),
        Some(other) => bail!("--restart {other:?}: expected permanent, transient or temporary"),
    };
    let node = connect(ns)?;
    node.spawn(options)
        .with_context(|| format!("spawning {name}"))?;
    let info = node.info(name)?;
    println!("{} pid {} control {}", info.name, info.pid, info.control);
    Ok(())
}

/// One `ps` line: the name server's view plus the agent's own message counters.
#[derive(Debug, serde::Serialize)]
struct PsLine {
    #[serde(flatten)]
    status: AgentStatus,
    msgs_in: Option<u64>,
    msgs_out: Option<u64>,
}

/// Every agent with its counters, from one call: each agent reports them to the name server
/// with its lease renewals, so `ps` asks no agent (docs/cli.md).
fn ps(ns: &NsArgs, json: bool) -> Result<()> {
    let ns = connect(ns)?;
    let statuses = ns.ps_with_stats().context("listing agents")?;
    let lines: Vec<PsLine> = statuses
        .into_iter()
        .map(|mut status| {
            // Shown as two columns (and fields of their own in JSON).
            let stats = status.stats.take();
            PsLine {
                msgs_in: stats.as_ref().map(|s| s.received),
                msgs_out: stats.as_ref().map(|s| s.sent),
                status,
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
        return Ok(());
    }
    println!(
        "{:<18} {:<16} {:>8} {:<10} {:>8} {:>9} {:>6} {:>9} {:>9} {:>9}  LAST EXIT",
        "NAME", "KIND", "PID", "STATE", "RESTARTS", "UPTIME", "CPU%", "RSS", "MSGS IN", "MSGS OUT"
    );
    let dash = || "-".to_string();
    for l in lines {
        let s = &l.status;
        println!(
            "{:<18} {:<16} {:>8} {:<10} {:>8} {:>9} {:>6} {:>9} {:>9} {:>9}  {}",
            s.name,
            s.kind,
            s.pid.map_or_else(dash, |p| p.to_string()),
            s.state,
            s.restarts,
            s.pid.map_or_else(dash, |_| uptime(s.uptime_ms)),
            s.cpu.map_or_else(dash, |c| format!("{c:.1}")),
            s.rss
                .map_or_else(dash, |r| format!("{:.1}M", r as f64 / 1048576.0)),
            l.msgs_in.map_or_else(dash, |n| n.to_string()),
            l.msgs_out.map_or_else(dash, |n| n.to_string()),
            s.last_exit.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

fn call(ns: &NsArgs, agent: &str, method: &str, args: serde_json::Value) -> Result<()> {
    let proxy = connect(ns)?
        .proxy(agent)
        .with_context(|| format!("finding agent {agent}"))?;
    call_on(proxy, method, args, ns.timeout)
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
