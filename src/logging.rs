//! Where an axon program's log events go (docs/logging.md), and reading
//! them back: the runtime's [`LogRecord`], log file, [`Tail`] and layers,
//! plus the subscribers axon installs.
//!
//! - Agents and name servers started by a node (installed by [`crate::init`]):
//!   every event at `AXON_LOG`'s level (default `info`) goes to the node's
//!   log file, `<runtime dir>/axon.log`; warnings and errors (or what
//!   `AXON_LOG` asks) also go to stderr, unless the node was started with
//!   [`NodeOptions::detach_logs`](crate::NodeOptions) (as `axon up` does):
//!   then nothing goes to the terminal, and their stderr is `<runtime dir>/stderr.log`.
//! - The CLI ([`install_tracing`]): its warnings on stderr; what else is set
//!   by [`Terminal`] ([`set_terminal`]); `axon up` also logs to the file and,
//!   when verbose, echoes the file ([`attach`]).
//! - A foreground name server (`axon nameserver`, `axon node`,
//!   [`install_nameserver_tracing`]): `info` on stderr, and the file.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use axon_runtime::logging::*;
use axon_runtime::AgentSpec;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// What of the log stream a process run in a terminal (`axon up`) shows there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Terminal {
    /// Only this process's errors.
    Quiet,
    /// Only this process's warnings and errors (or what `AXON_LOG` asks).
    #[default]
    Normal,
    /// This process's events from `info` up, and every event of the
    /// deployment's log file (by [`attach`]): the whole stream.
    Verbose,
}

impl Terminal {
    /// The filter directives of this process's terminal, as `process`.
    fn directives(self, process: &str) -> String {
        let env = std::env::var("AXON_LOG").unwrap_or_default();
        match self {
            Terminal::Quiet => "error".to_owned(),
            Terminal::Normal => filter_for(process, &env, "warn"),
            Terminal::Verbose => filter_for(process, &env, "info"),
        }
    }
}

/// The terminal filter of [`install_tracing`], changed by [`set_terminal`].
static TERMINAL: OnceLock<(String, reload::Handle<EnvFilter, Registry>)> = OnceLock::new();

/// How often [`attach`]'s echo looks at the log file.
const ECHO_PERIOD: Duration = Duration::from_millis(100);

/// The subscriber of a command-line process (`axon ps`, `axon up`, ...) as
/// `process`: [`Terminal::Normal`] on stderr until [`set_terminal`] says
/// otherwise, and the log file once [`attach`] names it.
pub fn install_tracing(process: &str) {
    let directives = Terminal::Normal.directives(process);
    let (filter, handle) = reload::Layer::new(env_filter(&directives, "warn"));
    let file = FileLayer::new(process).with_filter(file_filter(process, None));
    let installed = tracing_subscriber::registry()
        .with(TerminalLayer::new(process).with_filter(filter))
        .with(file)
        .try_init();
    if installed.is_ok() {
        let _ = TERMINAL.set((process.to_owned(), handle));
    }
}

/// What this process (its subscriber from [`install_tracing`]) shows on the terminal from now on.
pub fn set_terminal(terminal: Terminal) {
    if let Some((process, handle)) = TERMINAL.get() {
        let _ = handle.reload(env_filter(&terminal.directives(process), "warn"));
    }
}

/// Makes this process (`axon up`) log to the log file of the node whose
/// runtime directory is `dir`, shows `terminal` on the terminal, and with
/// [`Terminal::Verbose`] echoes every other process's events in the file
/// there too, until the returned [`Echo`] is dropped.
pub fn attach(dir: &Path, terminal: Terminal) -> std::io::Result<Echo> {
    to_file(dir)?;
    set_terminal(terminal);
    let stop = Arc::new(AtomicBool::new(false));
    if terminal == Terminal::Verbose {
        let (path, stop) = (dir.join(LOG_FILE), Arc::clone(&stop));
        std::thread::spawn(move || echo(&path, &stop));
    }
    Ok(Echo { stop })
}

/// Keeps [`attach`]'s echo of the log file going; dropped, it stops.
#[derive(Debug)]
pub struct Echo {
    stop: Arc<AtomicBool>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Prints the other processes' records of the log file at `path` on stderr until `stop`.
fn echo(path: &Path, stop: &AtomicBool) {
    let me = std::process::id();
    let mut tail = Tail::new(path);
    while !stop.load(Ordering::Relaxed) {
        for line in tail.poll().unwrap_or_default() {
            // Ours are on the terminal already.
            match LogRecord::from_json(&line) {
                Some(r) if r.pid != me => eprintln!("{}", r.line()),
                _ => {}
            }
        }
        std::thread::sleep(ECHO_PERIOD);
    }
}

/// The subscriber of an agent process: the log file, stderr (warnings by
/// default), and the logger agent when the spec names one.
pub(crate) fn install_agent_tracing(spec: &AgentSpec) {
    let logger = spec.logger.as_deref();
    install_process(&spec.name, spec.log.as_deref(), logger, "warn");
    if let Err(e) = to_file(&spec.runtime_dir) {
        tracing::warn!(error = %e, dir = %spec.runtime_dir.display(), "cannot write the node's log file");
    }
}

/// The subscriber of a name server a node handle started: as an agent's; the
/// name server opens the log file once it has its runtime directory.
pub(crate) fn install_spawned_nameserver_tracing() {
    install_process("nameserver", None, None, "warn");
}

/// Installs the tracing of a name server run in the foreground (`axon
/// nameserver`, `axon node`): `info` (or `AXON_LOG`) on stderr, the log
/// file once the name server has its runtime directory, and the logger
/// agent once one runs, as for a name server spawned by `axon up`.
pub fn install_nameserver_tracing() {
    install_process("nameserver", None, None, "info");
}

/// A process of a node, as `name`: the log file at `AXON_LOG` (default
/// `info`, `log` for this process), stderr at `AXON_LOG` (default
/// `shown`) unless the node is detached or a logger prints the events.
fn install_process(name: &str, log: Option<&str>, logger: Option<&str>, shown: &str) {
    let env = std::env::var("AXON_LOG").unwrap_or_default();
    let env = match log {
        Some(level) => format!("{env},@{name}={level}"),
        None => env,
    };
    let detached = detached();
    // Once a logger takes the events, it prints them: stderr would say everything twice.
    let quiet = tracing_subscriber::filter::filter_fn(move |_| {
        let elsewhere = is_connected() || (detached && writes_file());
        !elsewhere
    });
    let terminal = TerminalLayer::new(name)
        .with_filter(env_filter(&filter_for(name, &env, shown), shown))
        .with_filter(quiet);
    let _ = tracing_subscriber::registry()
        .with(terminal)
        .with(FileLayer::new(name).with_filter(file_filter(name, Some(&env))))
        .with(layer(name).with_filter(file_filter(name, Some(&env))))
        .try_init();
    if let Some(endpoint) = logger {
        if let Err(e) = connect(endpoint) {
            tracing::warn!(error = %e, "cannot reach the logger; logging to the file and stderr only");
        }
    }
}

/// What process `name` writes to the log file (and forwards): `AXON_LOG` (or `env`), default `info`.
fn file_filter(name: &str, env: Option<&str>) -> EnvFilter {
    let from_env = std::env::var("AXON_LOG").unwrap_or_default();
    env_filter(&filter_for(name, env.unwrap_or(&from_env), "info"), "info")
}

/// `directives` as a filter; `fallback` if they do not parse.
fn env_filter(directives: &str, fallback: &str) -> EnvFilter {
    EnvFilter::try_new(directives).unwrap_or_else(|_| EnvFilter::new(fallback))
}
