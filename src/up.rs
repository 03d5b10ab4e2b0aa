//! `axon up MANIFEST`: runs a deployment in the foreground.
//!
//! The manifest is validated before anything starts. Then a name server
//! (with the manifest's supervisor policy) starts, every agent is spawned in
//! order with its binds, and once all are up, the connects are made. Lifecycle
//! events (spawned, exited, restart scheduled, gave up) are printed by the
//! name server as they happen. SIGINT or SIGTERM shut everything down
//! gracefully; if the supervisor gives up and escalates, `up` exits non-zero.
//!
//! `up` is also the node's heart, as in Erlang: if the supervisor (the name
//! server process) dies, `up` starts another, which adopts the agents still
//! running (they serve on meanwhile) and restarts those that died. `up` is
//! the agents' subreaper, so an agent orphaned by the crash stays in its
//! care and is reaped when it ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axon::launch::HostCommand;
use axon::manifest::{AgentEntry, Chaos, Manifest};
use axon::{NameServer, NodeOptions, SpawnOptions};

/// The line `up` prints on stdout once every agent is up: endpoint, then key file.
pub const READY_LINE: &str = "AXON-UP-READY";

/// How often the foreground loop looks at signals, the name server and chaos.
const TICK: Duration = Duration::from_millis(20);

/// The heart restarts the supervisor at most this many times ...
const HEART_INTENSITY: usize = 5;

/// ... within this period; one more crash and `up` gives up.
const HEART_PERIOD: Duration = Duration::from_secs(60);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
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

/// Runs the deployment in `path` until a signal, or until the supervisor gives up.
pub fn run(
    path: &Path,
    validate_only: bool,
    node_dir: Option<PathBuf>,
    metrics: Option<std::net::SocketAddr>,
) -> Result<()> {
    let manifest = load(path)?;
    if validate_only {
        println!(
            "{}: valid ({} agents, {} groups, strategy {:?})",
            path.display(),
            manifest.agents.len(),
            manifest.supervisor.groups.len(),
            manifest.supervisor.strategy
        );
        return Ok(());
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    if let Err(e) = axon::launch::become_subreaper() {
        tracing::warn!(error = %e, "not the agents' subreaper: agents orphaned by a supervisor crash go to init");
    }
    let options = NodeOptions {
        bind: manifest.nameserver.clone(),
        supervisor: manifest.supervisor.clone(),
        kind_hosts: kind_hosts(&manifest)?,
        heart: true,
        dir: node_dir,
        metrics: metrics.or(manifest.metrics),
        detach_logs: true,
        ..NodeOptions::default()
    };
    let mut ns = axon::run_nameserver_with(options).context("starting the name server")?;
    let _logs = attach_logs(&ns, axon::logging::Terminal::Normal);
    let key_file = ns.runtime_dir().map(|d| d.join("key")).unwrap_or_default();
    eprintln!("axon: name server at {}", ns.address());
    if let Some(addr) = ns.status().ok().and_then(|s| s.metrics) {
        eprintln!("axon: metrics at http://{addr}/metrics");
    }
    if let Err(e) = start(&ns, &manifest) {
        let _ = ns.shutdown_timeout(Duration::from_secs(2));
        return Err(e);
    }
    eprintln!(
        "axon: {} agents up; in another shell: export AXON_NAMESERVER={} AXON_KEY_FILE={}",
        manifest.agents.len(),
        ns.address(),
        key_file.display()
    );
    println!("{READY_LINE} {} {}", ns.address(), key_file.display());
    let outcome = supervise(&mut ns, manifest.chaos.as_ref());
    match outcome {
        Ok(Ended::Signal) => {
            eprintln!("axon: shutting down");
            ns.shutdown().context("shutting down")
        }
        Ok(Ended::NameServer(status)) if status.success() => Ok(()),
        Ok(Ended::NameServer(status)) if status.code() == Some(axon::GAVE_UP_EXIT) => {
            bail!("the supervisor gave up (restart intensity exceeded at the root of the tree; the reason is in `supervisor gave up` above) and shut the deployment down")
        }
        Ok(Ended::NameServer(status)) => {
            bail!("the name server ended ({status}); see its last events above")
        }
        Err(e) => {
            let _ = ns.shutdown_timeout(Duration::from_secs(2));
            Err(e)
        }
    }
}

/// `up`'s own events go to the node's log file too, and `terminal` decides what the terminal shows.
fn attach_logs(ns: &NameServer, terminal: axon::logging::Terminal) -> Option<axon::logging::Echo> {
    let dir = ns.runtime_dir()?;
    match axon::logging::attach(dir, terminal) {
        Ok(echo) => Some(echo),
        Err(e) => {
            tracing::warn!(error = %e, "up's own events will not reach the node's log file");
            None
        }
    }
}

/// Spawns every agent in order with its binds, then makes the connects.
///
/// Agents the node already has (it took over a node directory whose
/// supervisor died: they were adopted, or restarted with their journal) are
/// left as they are.
fn start(ns: &NameServer, manifest: &Manifest) -> Result<()> {
    let known: std::collections::BTreeSet<String> = ns.ps()?.into_iter().map(|s| s.name).collect();
    if !known.is_empty() {
        eprintln!(
            "axon: took over a node with {} agents; starting only the manifest's others",
            known.len()
        );
    }
    let new: Vec<&AgentEntry> = manifest
        .agents
        .iter()
        .filter(|a| !known.contains(&a.name))
        .collect();
    for agent in &new {
        spawn(ns, agent).with_context(|| format!("starting agent {:?}", agent.name))?;
    }
    for agent in new {
        let mut proxy = ns.proxy(&agent.name)?;
        for c in &agent.connects {
            let to = ns.addr(&c.agent, &c.remote_alias).with_context(|| {
                format!("{}: finding {}.{}", agent.name, c.agent, c.remote_alias)
            })?;
            let made = proxy.connect_with(&to, c.options());
            made.with_context(|| {
                format!(
                    "{}: connecting {} to {}.{}",
                    agent.name, c.alias, c.agent, c.remote_alias
                )
            })?;
        }
    }
    Ok(())
}

fn spawn(ns: &NameServer, agent: &AgentEntry) -> Result<()> {
    let mut options = SpawnOptions::default()
        .name(&agent.name)
        .kind(&agent.kind)
        .restart(agent.restart);
    options.attributes = agent.attributes.clone();
    options.memory_limit = agent.memory_limit;
    options.group = agent.group.clone();
    options.script_limits = agent.script_limits;
    let mut proxy = ns.spawn(options)?;
    for s in &agent.scripts {
        proxy
            .load_script(&s.source)
            .with_context(|| format!("loading the script of manifest line {}", s.line))?;
    }
    for b in &agent.binds {
        let opts = b.options();
        let addr = proxy
            .bind_with(b.kind, opts)
            .with_context(|| format!("binding {}", b.alias))?;
        eprintln!(
            "axon: {}.{} bound at {}",
            agent.name, b.alias, addr.endpoint
        );
    }
    Ok(())
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

enum Ended {
    Signal,
    NameServer(std::process::ExitStatus),
}

/// Waits for a signal or the end of the name server, injecting chaos if asked;
/// starts the supervisor again when it dies (the heart), within
/// [`HEART_INTENSITY`] restarts per [`HEART_PERIOD`].
fn supervise(ns: &mut NameServer, chaos: Option<&Chaos>) -> Result<Ended> {
    let mut rng = Rng::seeded();
    let mut next_hit = chaos.map(|c| Instant::now() + c.every);
    let mut revived: std::collections::VecDeque<Instant> = Default::default();
    loop {
        if STOP.load(Ordering::SeqCst) {
            return Ok(Ended::Signal);
        }
        // Agents orphaned by a supervisor crash are ours to reap; the supervisor is waited for below.
        axon::launch::reap_orphans(ns.pid());
        if let Some(status) = ns.try_wait()? {
            if status.success() || status.code() == Some(axon::GAVE_UP_EXIT) {
                return Ok(Ended::NameServer(status));
            }
            while revived.front().is_some_and(|t| t.elapsed() > HEART_PERIOD) {
                revived.pop_front();
            }
            if revived.len() >= HEART_INTENSITY {
                eprintln!(
                    "axon: the supervisor died {} times within {:?}; giving up (its agents leave once their orphan grace is over)",
                    revived.len() + 1,
                    HEART_PERIOD
                );
                return Ok(Ended::NameServer(status));
            }
            eprintln!(
                "axon: the supervisor died ({status}); starting another, which adopts the agents"
            );
            ns.revive().context("restarting the supervisor")?;
            revived.push_back(Instant::now());
            eprintln!(
                "axon: supervisor back (pid {}); agents adopted",
                ns.pid().unwrap_or_default()
            );
            continue;
        }
        if let (Some(c), Some(at)) = (chaos, next_hit) {
            if Instant::now() >= at {
                let target = &c.targets[rng.below(c.targets.len())];
                match ns.signal(target, c.signal) {
                    Ok(pid) => eprintln!("axon: chaos: SIG{} to {target} (pid {pid})", c.signal),
                    Err(e) => eprintln!("axon: chaos: {target} not hit: {e}"),
                }
                next_hit = Some(at + c.every);
            }
        }
        std::thread::sleep(TICK);
    }
}

/// A small xorshift generator: chaos needs variety, not quality.
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng(nanos | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}
