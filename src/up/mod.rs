//! `axon up MANIFEST`: runs a deployment in the foreground.
//!
//! The manifest is validated before anything starts. Then a name server
//! (with the manifest's supervisor policy) starts, every agent is spawned in
//! order with its binds, and once all are up, the connects are made. `up`
//! then prints a start summary, one status line per second (agents running,
//! restarts, messages per second, the deployment's own `[status]` text), the
//! lifecycle events that matter (crash, restart, give-up, takeover) as the
//! supervisor reports them (`NameServer::events`), and a final summary when
//! it ends. SIGINT or SIGTERM shut everything down gracefully; if the
//! supervisor gives up and escalates, `up` exits non-zero.
//!
//! `up` is also the node's heart, as in Erlang: if the supervisor (the name
//! server process) dies, `up` starts another, which adopts the agents still
//! running (they serve on meanwhile) and restarts those that died. `up` is
//! the agents' subreaper, so an agent orphaned by the crash stays in its
//! care and is reaped when it ends.
//!
//! Files: `console` (stdout, the status line in place, verbosity), `start`
//! (spawning the manifest), `heart` (the foreground loop: signals, the
//! heart, chaos), `watch` (events and status line while it runs), `events`,
//! `status`, `summary` (what the lines say), `progress` (bars on a terminal).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::HostCommand;
use axon::lifecycle::StopReport;
use axon::manifest::Manifest;
use axon::{NameServer, NodeOptions};

mod console;
mod events;
mod heart;
mod progress;
mod start;
mod status;
mod summary;
mod watch;

use console::Console;
pub use console::Verbosity;
use heart::Ended;
use summary::Reason;
use watch::Watch;

/// The line `up` prints on stdout once every agent is up, when stdout is not
/// a terminal (for programs that run it): endpoint, then key file.
pub const READY_LINE: &str = "AXON-UP-READY";

/// Grace the agents get to stop when `up` is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How long `up` waits for the name server while watching it: it answers
/// in milliseconds, and one that died is noticed (and revived) sooner.
const WATCH_TIMEOUT: Duration = Duration::from_millis(1000);

/// How often progress is looked at while the node stops.
const SHUTDOWN_POLL: Duration = Duration::from_millis(100);

/// What `axon up` is asked to do.
pub struct UpArgs {
    /// The manifest.
    pub manifest: PathBuf,
    /// Only validate it.
    pub check: bool,
    /// The node's runtime directory, if given.
    pub node_dir: Option<PathBuf>,
    /// Where to serve Prometheus metrics, over the manifest's.
    pub metrics: Option<std::net::SocketAddr>,
    /// How much to say.
    pub verbosity: Verbosity,
}

/// Reads and validates a manifest; the error names the file and line.
pub fn load(path: &Path) -> Result<Manifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading manifest {}", path.display()))?;
    let kinds = axon::registry().kinds();
    let mut manifest =
        Manifest::parse(&text, &kinds).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    manifest
        .read_scripts(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    for warning in &manifest.warnings {
        tracing::warn!("{}: {warning}", path.display());
    }
    for agent in &manifest.agents {
        if let Some(bin) = &agent.bin {
            let meta = std::fs::metadata(bin).with_context(|| {
                format!(
                    "{}: agent {:?}: bin {} (build it first)",
                    path.display(),
                    agent.name,
                    bin.display()
                )
            })?;
            use std::os::unix::fs::PermissionsExt;
            if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
                bail!(
                    "{}: agent {:?}: bin {} is not an executable file",
                    path.display(),
                    agent.name,
                    bin.display()
                );
            }
        }
    }
    Ok(manifest)
}

/// Runs the deployment until a signal, or until the supervisor gives up.
pub fn run(args: UpArgs) -> Result<()> {
    let manifest = load(&args.manifest)?;
    if args.check {
        println!(
            "{}: valid ({} agents, {} groups, strategy {:?})",
            args.manifest.display(),
            manifest.agents.len(),
            manifest.supervisor.groups.len(),
            manifest.supervisor.strategy
        );
        return Ok(());
    }
    crate::signals::catch_stop_signals();
    if let Err(e) = axon::launch::become_subreaper() {
        tracing::warn!(error = %e, "not the agents' subreaper: agents orphaned by a supervisor crash go to init");
    }
    let options = NodeOptions {
        bind: manifest.nameserver.clone(),
        supervisor: manifest.supervisor.clone(),
        kind_hosts: kind_hosts(&manifest)?,
        heart: true,
        dir: args.node_dir,
        metrics: args.metrics.or(manifest.metrics),
        // The node's processes write their events to its log file, not to this terminal.
        detach_logs: true,
        ..NodeOptions::default()
    };
    let since = Instant::now();
    let mut console = Console::new(args.verbosity);
    let mut ns = axon::run_nameserver_with(options).context("starting the name server")?;
    let _logs = attach_logs(&ns, args.verbosity);
    let count = match start::start(&ns, &manifest, &mut console) {
        Ok(count) => count,
        Err(e) => {
            let _ = ns.shutdown_timeout(Duration::from_secs(2));
            return Err(e);
        }
    };
    announce(&ns, &count, since, &mut console);
    // A supervisor that dies must not hold the loop (and so the heart) for long.
    ns.set_timeout(WATCH_TIMEOUT);
    let fleet = status::Fleet::new(manifest.status.clone());
    let mut watch = Watch::new(console, fleet, since);
    let outcome = heart::supervise(&mut ns, manifest.chaos.as_ref(), &mut watch);
    finish(ns, outcome, watch)
}

/// The start summary, and the ready line for a program reading stdout.
fn announce(ns: &NameServer, count: &start::Count, since: Instant, console: &mut Console) {
    let dir = ns.runtime_dir().map(Path::to_path_buf).unwrap_or_default();
    let metrics = ns.status().ok().and_then(|s| s.metrics);
    let started = summary::Started {
        started: count.started,
        adopted: count.adopted,
        took: since.elapsed(),
        endpoint: ns.address(),
        dir: &dir,
        metrics: metrics.as_deref(),
    };
    console.say(Verbosity::Normal, &summary::started(&started));
    if !console.is_tty() {
        let key_file = dir.join("key");
        let ready = format!("{READY_LINE} {} {}", ns.address(), key_file.display());
        console.say(Verbosity::Quiet, &ready);
    }
}

/// Stops what is left, prints the final summary, and says how `up` ends.
fn finish(ns: NameServer, outcome: Result<Ended>, mut watch: Watch) -> Result<()> {
    watch.console.retire();
    let ended = match outcome {
        Ok(ended) => ended,
        Err(e) => {
            let _ = ns.shutdown_timeout(Duration::from_secs(2));
            return Err(e);
        }
    };
    let (reason, report, stopped) = match ended {
        Ended::Signal(name) => {
            let (report, stopped) = stop(ns, &mut watch);
            (Reason::Signal(name), report, stopped)
        }
        Ended::NameServer(status) => {
            let report = ns.stop_report(Duration::from_millis(500));
            let reason = match report.as_ref().is_some_and(|r| r.gave_up)
                || status.code() == Some(axon::GAVE_UP_EXIT)
            {
                true => Reason::GaveUp,
                false => Reason::Ended(status.to_string()),
            };
            (reason, report, Ok(()))
        }
        Ended::HeartGaveUp(status) => (Reason::HeartGaveUp, None, Err(anyhow::anyhow!("{status}"))),
    };
    if let Some(r) = &report {
        watch.show_last(r.last.clone());
    }
    let ran = watch.since.elapsed();
    let restarts = watch.fleet.last.restarts;
    let text = summary::finished(&reason, ran, report, restarts);
    watch.console.say(Verbosity::Quiet, &text);
    match reason {
        Reason::Signal(_) => stopped.context("shutting down"),
        Reason::GaveUp => bail!("the supervisor gave up (restart intensity exceeded at the root of the tree; the reason is in `supervisor gave up` above) and shut the deployment down"),
        Reason::HeartGaveUp => bail!("the supervisor kept dying; axon up gave up restarting it"),
        Reason::Ended(status) if status.contains("exit status: 0") => Ok(()),
        Reason::Ended(status) => bail!("the name server ended ({status}); see its last events above"),
    }
}

/// Shuts the node down gracefully, with a bar for many agents on a terminal.
fn stop(ns: NameServer, watch: &mut Watch) -> (Option<StopReport>, Result<()>) {
    // One number, not a row per agent: the shutdown is asked without waiting for a long answer.
    let total = ns.status().map_or(0, |s| s.children_running);
    let bar = progress::agents(total, "stopped", watch.console.is_tty());
    let stopped = ns.shutdown_watching(SHUTDOWN_GRACE, SHUTDOWN_POLL, |ns| {
        watch.show_events(ns);
        if let Ok(rows) = ns.ps() {
            let live = rows.iter().filter(|r| r.pid.is_some()).count();
            bar.set_position(total.saturating_sub(live) as u64);
        }
    });
    bar.finish_and_clear();
    match stopped {
        Ok(report) => (report, Ok(())),
        Err(e) => (None, Err(e.into())),
    }
}

/// The programs of the manifest's `bin`s, by the kinds they host (the manifest checked that each
/// kind has one). The node is started with them: requests name kinds, never programs.
fn kind_hosts(manifest: &Manifest) -> Result<BTreeMap<String, HostCommand>> {
    let mut hosts = BTreeMap::new();
    for agent in &manifest.agents {
        if let Some(bin) = &agent.bin {
            let host = HostCommand {
                program: absolute(bin)?,
                args: agent.args.clone(),
            };
            hosts.insert(agent.kind.clone(), host);
        }
    }
    Ok(hosts)
}

fn absolute(path: &Path) -> Result<PathBuf> {
    Ok(std::env::current_dir()?.join(path))
}

/// `up`'s own events go to the node's log file too; `verbosity` decides what of the log stream
/// the terminal shows (`-v`: everyone's INFO events, echoed from the file).
fn attach_logs(ns: &NameServer, verbosity: Verbosity) -> Option<axon::logging::Echo> {
    let terminal = match verbosity {
        Verbosity::Quiet => axon::logging::Terminal::Quiet,
        Verbosity::Normal => axon::logging::Terminal::Normal,
        Verbosity::Verbose => axon::logging::Terminal::Verbose,
    };
    let dir = ns.runtime_dir()?;
    match axon::logging::attach(dir, terminal) {
        Ok(echo) => Some(echo),
        Err(e) => {
            tracing::warn!(error = %e, "up's own events will not reach the node's log file");
            None
        }
    }
}
