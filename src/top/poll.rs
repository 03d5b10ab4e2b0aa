//! The poller: a thread of its own that asks the deployment what `axon top`
//! shows, once per interval, and sends each round to the UI. A round is one
//! `ps` call per node: the agents' counters come with it (each agent reports
//! them with its lease renewals), so a round costs the same few calls with
//! ten agents or ten thousand. Every call is bounded (the name servers by
//! [`NS_TIMEOUT`], agents by [`AGENT_TIMEOUT`]); an agent that reported no
//! counters just shows `-`.
//!
//! It also carries out what the UI asks: kill an agent (through the name
//! server that supervises it, as `axon kill` does), and, while the detail
//! view is open, fetch that agent's timers, attributes and last log lines.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use axon::launch::Signal;
use axon::{AgentStatus, PsArgs, Value};
use futures::future::join_all;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use super::model::{Sample, Seen};
use super::source::{ask, NodeRef, Source, NAMESERVER};

/// How long a name server may take to answer `ps`.
pub const NS_TIMEOUT: Duration = Duration::from_secs(1);

/// How long an agent may take to answer `stats` (and the detail view's calls).
pub const AGENT_TIMEOUT: Duration = Duration::from_millis(500);

/// How many log lines the detail view asks for.
const LOG_LINES: usize = 200;

/// The kind of logger agents (`axon logs` reads theirs).
const LOGGER_KIND: &str = "logger";

/// What the UI asks of the poller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// SIGKILL this agent's process.
    Kill(String),
    /// Fetch this agent's details every round (`None`: stop).
    Focus(Option<String>),
}

/// What the poller sends the UI.
#[derive(Debug)]
pub enum Update {
    /// A round of every agent.
    Round(Sample),
    /// The details of the agent in focus.
    Detail(Detail),
    /// Something to tell the user in the status bar (a kill's outcome).
    Notice(String),
}

/// The parts of one agent's detail view that need calls of their own.
#[derive(Debug, Clone)]
pub struct Detail {
    /// The agent.
    pub name: String,
    /// Its timers' aliases, or why they are not known.
    pub timers: std::result::Result<Vec<String>, String>,
    /// Its named attributes, or why they are not known.
    pub attrs: std::result::Result<BTreeMap<String, Value>, String>,
    /// Its last log lines.
    pub logs: Logs,
}

/// An agent's last log lines, as the deployment's logger keeps them.
#[derive(Debug, Clone, PartialEq)]
pub enum Logs {
    /// The deployment runs no logger agent.
    NoLogger,
    /// The lines, oldest first.
    Lines(Vec<String>),
    /// The logger did not answer.
    Failed(String),
}

/// Where an agent is: its node's name server, and its own control endpoint once known.
#[derive(Debug, Clone)]
struct Place {
    ns: String,
    pid: Option<u32>,
    kind: String,
    /// In state `running`.
    running: bool,
    control: Option<String>,
}

/// The poller's state between rounds.
struct Poller {
    source: Source,
    interval: Duration,
    updates: mpsc::Sender<Update>,
    focus: Option<String>,
    /// Every agent of the last round, by name.
    places: BTreeMap<String, Place>,
    /// What each node showed last: kept (without counters) while it does not answer.
    last_seen: BTreeMap<String, Vec<Seen>>,
    /// An agent killed from the screen, watched closely until it serves again.
    following: Option<Following>,
}

/// A killed agent, polled for every `FOLLOW_EVERY` until a new process of it serves (or
/// `FOLLOW_FOR` is over), so that its restart shows at once rather than at the next interval.
struct Following {
    name: String,
    killed: u32,
    until: tokio::time::Instant,
}

/// How often a killed agent is looked at while it restarts.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// How long a killed agent is looked at that closely.
const FOLLOW_FOR: Duration = Duration::from_secs(3);

/// Starts the poller on a thread of its own; it ends when the UI drops its receiver or sender.
pub fn spawn(
    source: Source,
    interval: Duration,
) -> Result<(UnboundedSender<Command>, mpsc::Receiver<Update>)> {
    let (commands, inbox) = unbounded_channel();
    let (updates, rx) = mpsc::channel();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the poller's runtime")?;
    let poller = Poller {
        source,
        interval,
        updates,
        focus: None,
        places: BTreeMap::new(),
        last_seen: BTreeMap::new(),
        following: None,
    };
    std::thread::Builder::new()
        .name("axon-top-poll".into())
        .spawn(move || runtime.block_on(poller.run(inbox)))
        .context("starting the poller")?;
    Ok((commands, rx))
}

impl Poller {
    /// Rounds every interval, and commands as they come, until the UI is gone.
    async fn run(mut self, mut inbox: UnboundedReceiver<Command>) {
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(next) => {
                    if !self.round().await {
                        return;
                    }
                    // A round that overran the interval is followed at once, never by a burst.
                    next = (next + self.interval).max(tokio::time::Instant::now());
                    if self.still_following() {
                        next = next.min(tokio::time::Instant::now() + FOLLOW_EVERY);
                    }
                }
                command = inbox.recv() => match command {
                    // The UI ended.
                    None => return,
                    Some(Command::Kill(name)) => {
                        let (notice, killed) = self.kill(&name).await;
                        if self.updates.send(Update::Notice(notice)).is_err() {
                            return;
                        }
                        // Show the restart as soon as the supervisor makes it.
                        next = tokio::time::Instant::now();
                        self.following = killed.map(|killed| Following {
                            name,
                            killed,
                            until: next + FOLLOW_FOR,
                        });
                    }
                    Some(Command::Focus(name)) => {
                        self.focus = name;
                        next = tokio::time::Instant::now();
                    }
                },
            }
        }
    }

    /// One round: every node's `ps` with the agents' counters, the focus's details; false once the UI is gone.
    async fn round(&mut self) -> bool {
        let (mut unreachable, nodes) = match self.source.nodes().await {
            Ok(nodes) => (Vec::new(), nodes),
            Err(e) => (vec![format!("{e:#}")], Vec::new()),
        };
        let listed = join_all(nodes.iter().map(|n| async move {
            let args = PsArgs { stats: true };
            let ps =
                ask::<Vec<AgentStatus>>(&n.endpoint, NAMESERVER, "ps", &args, NS_TIMEOUT).await;
            (n, ps)
        }))
        .await;
        let mut agents = Vec::new();
        let mut places = BTreeMap::new();
        for (node, ps) in listed {
            match ps {
                Ok(statuses) => {
                    let seen = self.seen(node, statuses, &mut places);
                    self.last_seen.insert(node.name.clone(), seen.clone());
                    agents.extend(seen);
                }
                Err(e) => {
                    unreachable.push(format!("{}: {e:#}", node.name));
                    let kept = self.last_seen.get(&node.name).cloned().unwrap_or_default();
                    agents.extend(kept.into_iter().map(|s| Seen { stats: None, ..s }));
                    places.extend(self.places_on(&node.endpoint));
                }
            }
        }
        self.places = places;
        let sample = Sample {
            at: Instant::now(),
            agents,
            unreachable,
        };
        if self.updates.send(Update::Round(sample)).is_err() {
            return false;
        }
        match self.focus.clone() {
            Some(name) => {
                let detail = self.detail(&name).await;
                self.updates.send(Update::Detail(detail)).is_ok()
            }
            None => true,
        }
    }

    /// The agents `node` listed, and where each is.
    fn seen(
        &self,
        node: &NodeRef,
        statuses: Vec<AgentStatus>,
        places: &mut BTreeMap<String, Place>,
    ) -> Vec<Seen> {
        statuses
            .into_iter()
            .map(|mut status| {
                // The control endpoint is asked once per process, when it is needed.
                let known = self
                    .places
                    .get(&status.name)
                    .filter(|p| p.pid == status.pid);
                let place = Place {
                    ns: node.endpoint.clone(),
                    pid: status.pid,
                    kind: status.kind.clone(),
                    running: status.state == "running",
                    control: known.and_then(|p| p.control.clone()),
                };
                places.insert(status.name.clone(), place);
                Seen {
                    node: node.name.clone(),
                    stats: status.stats.take(),
                    status,
                }
            })
            .collect()
    }

    /// The places of the last round on the node at `ns` (a node that did not answer now).
    fn places_on(&self, ns: &str) -> Vec<(String, Place)> {
        let on = self.places.iter().filter(|(_, p)| p.ns == ns);
        on.map(|(n, p)| (n.clone(), p.clone())).collect()
    }

    /// The control endpoint of `name`'s current process, asked of its name server once per process.
    async fn find_control(&mut self, name: &str) -> Option<String> {
        let place = self.places.get(name)?;
        if place.control.is_some() || place.pid.is_none() {
            return place.control.clone();
        }
        let args = Named { name };
        let info = ask::<axon::AgentInfo>(&place.ns, NAMESERVER, "info", &args, NS_TIMEOUT).await;
        let place = self.places.get_mut(name)?;
        place.control = info
            .ok()
            .filter(|i| place.pid == Some(i.pid))
            .map(|i| i.control);
        place.control.clone()
    }

    /// SIGKILLs `name` through its node's name server; what happened, for the status bar.
    async fn kill(&self, name: &str) -> (String, Option<u32>) {
        let Some(place) = self.places.get(name) else {
            return (format!("kill {name}: no such agent any more"), None);
        };
        let args = SignalArgs {
            name,
            signal: Signal::Kill,
        };
        match ask::<u32>(&place.ns, NAMESERVER, "signal", &args, NS_TIMEOUT).await {
            Ok(pid) => (format!("SIGKILL sent to {name} (pid {pid})"), Some(pid)),
            Err(e) => (format!("kill {name}: {e:#}"), None),
        }
    }

    /// Whether the agent killed from the screen is still to be watched closely: not yet
    /// serving as a new process, and not for too long.
    fn still_following(&mut self) -> bool {
        let Some(f) = &self.following else {
            return false;
        };
        let serving = self
            .places
            .get(&f.name)
            .is_some_and(|p| p.pid.is_some_and(|pid| pid != f.killed) && p.running);
        if serving || tokio::time::Instant::now() > f.until {
            self.following = None;
        }
        self.following.is_some()
    }

    /// The calls of `name`'s detail view: timers, attributes and log lines, at once.
    async fn detail(&mut self, name: &str) -> Detail {
        let control = self.find_control(name).await;
        let logger = self.find_logger().await;
        let (timers, attrs, logs) = tokio::join!(
            ask_agent(control.as_deref(), name, "list_timers"),
            ask_agent(control.as_deref(), name, "attrs"),
            self.logs(name, logger)
        );
        Detail {
            name: name.to_owned(),
            timers,
            attrs,
            logs,
        }
    }

    /// The deployment's logger agent and its control endpoint, if it runs one.
    async fn find_logger(&mut self) -> Option<(String, String)> {
        if self.source.log_file().is_some() {
            return None;
        }
        let logger = self
            .places
            .iter()
            .find(|(_, p)| p.kind == LOGGER_KIND && p.pid.is_some());
        let logger = logger.map(|(name, _)| name.clone())?;
        let control = self.find_control(&logger).await?;
        Some((logger, control))
    }

    /// `name`'s last log lines, from where `axon logs` reads them: the node's log file when it
    /// runs here, else the deployment's `logger`.
    async fn logs(&self, name: &str, logger: Option<(String, String)>) -> Logs {
        if let Some(path) = self.source.log_file() {
            let agent = name.to_owned();
            let read = tokio::task::spawn_blocking(move || from_file(&path, &agent));
            return match read.await {
                Ok(Ok(lines)) => Logs::Lines(lines),
                Ok(Err(e)) => Logs::Failed(format!("{e:#}")),
                Err(e) => Logs::Failed(e.to_string()),
            };
        }
        let Some((logger, control)) = logger else {
            return Logs::NoLogger;
        };
        let agent = name.to_owned();
        // `history` drives a blocking proxy: on a thread of the blocking pool, not this runtime's.
        let read = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
            let mut proxy = axon::Proxy::open(logger, control)?;
            proxy.set_timeout(AGENT_TIMEOUT);
            let mut records = crate::commands::history(&mut proxy, Some(&agent), LOG_LINES)?;
            // Every line is this agent's: its name once (the line's prefix) is enough.
            for r in &mut records {
                r.fields.remove("agent");
            }
            Ok(records.iter().map(|r| r.line()).collect())
        });
        match read.await {
            Ok(Ok(lines)) => Logs::Lines(lines),
            Ok(Err(e)) => Logs::Failed(format!("{e:#}")),
            Err(e) => Logs::Failed(e.to_string()),
        }
    }
}

/// The last `LOG_LINES` events of `agent` in the log file at `path`, in their human form.
fn from_file(path: &std::path::Path, agent: &str) -> Result<Vec<String>> {
    let (records, _) =
        axon::logging::read_all(path).with_context(|| format!("reading {}", path.display()))?;
    let mine: Vec<String> = records
        .into_iter()
        .filter(|r| r.agent == agent)
        .map(|mut r| {
            // Every line is this agent's: its name once (the line's prefix) is enough.
            r.fields.remove("agent");
            r.line()
        })
        .collect();
    Ok(mine[mine.len().saturating_sub(LOG_LINES)..].to_vec())
}

/// Calls `method` on agent `name` at `control` (none: it has no process now); the error as text.
async fn ask_agent<R: serde::de::DeserializeOwned>(
    control: Option<&str>,
    name: &str,
    method: &str,
) -> std::result::Result<R, String> {
    let control = control.ok_or_else(|| "no process answers".to_owned())?;
    ask(control, name, method, &(), AGENT_TIMEOUT)
        .await
        .map_err(|e| format!("{e:#}"))
}

/// The argument of `info`.
#[derive(serde::Serialize)]
struct Named<'a> {
    name: &'a str,
}

/// The arguments of `signal`.
#[derive(serde::Serialize)]
struct SignalArgs<'a> {
    name: &'a str,
    signal: Signal,
}
