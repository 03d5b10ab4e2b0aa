//! The name server's records: registered agents and agents still starting.
//!
//! Plain data and rules, no sockets, so that every rule is unit tested.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use axon_runtime::{Address, ErrorKind, Stats};

use crate::methods::{AgentInfo, Register};

/// A refusal: the error kind and its message.
pub(crate) type Refusal = (ErrorKind, String);

/// Someone waiting for an agent to finish starting: the caller's route and request id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Waiter {
    pub(crate) route: Vec<u8>,
    pub(crate) id: u64,
}

/// An agent spawned but not yet answering.
#[derive(Debug)]
pub(crate) struct Starting {
    /// Who asked for it; `None` for a restart by the supervisor.
    pub(crate) waiter: Option<Waiter>,
    pub(crate) pid: Option<u32>,
    /// Why the process said it could not start, and whether the spawn's arguments were at fault.
    pub(crate) failure: Option<(String, bool)>,
}

/// Who is registered, and who is on the way.
#[derive(Debug, Default)]
pub(crate) struct Records {
    agents: BTreeMap<String, AgentInfo>,
    starting: BTreeMap<String, Starting>,
    /// When each registered agent last renewed its lease, and its lease period.
    renewed: BTreeMap<String, (Instant, Duration)>,
    /// The counters each registered process last reported with a renewal (for `ps`).
    counters: BTreeMap<String, Stats>,
    next_unnamed: u64,
    /// Agents registered, changed or gone since the last [`Records::take_changed`] (for a cluster's registry).
    changed: BTreeSet<String>,
}

fn taken(name: &str) -> Refusal {
    (
        ErrorKind::NameTaken,
        format!("name already registered: {name:?}"),
    )
}

fn unknown(name: &str) -> Refusal {
    (ErrorKind::NotFound, format!("no agent named {name:?}"))
}

impl Records {
    /// Reserves a name for a new agent: the one asked for, or a fresh `agent-N`.
    pub(crate) fn claim(
        &mut self,
        name: Option<String>,
        waiter: Option<Waiter>,
    ) -> Result<String, Refusal> {
        let name = match name {
            Some(n) => {
                check_name(&n)?;
                if self.is_taken(&n) {
                    return Err(taken(&n));
                }
                n
            }
            None => self.fresh_name(),
        };
        self.starting.insert(
            name.clone(),
            Starting {
                waiter,
                pid: None,
                failure: None,
            },
        );
        Ok(name)
    }

    fn is_taken(&self, name: &str) -> bool {
        self.agents.contains_key(name) || self.starting.contains_key(name)
    }

    fn fresh_name(&mut self) -> String {
        loop {
            self.next_unnamed += 1;
            let name = format!("agent-{}", self.next_unnamed);
            if !self.is_taken(&name) {
                return name;
            }
        }
    }

    /// Notes the pid of a starting agent.
    pub(crate) fn started(&mut self, name: &str, pid: u32) {
        if let Some(s) = self.starting.get_mut(name) {
            s.pid = Some(pid);
        }
    }

    /// Registers an agent that reports in; a name held by another live agent is refused.
    pub(crate) fn register(&mut self, r: Register) -> Result<(), Refusal> {
        check_name(&r.name)?;
        usable(&r.control)?;
        match self.agents.get(&r.name) {
            Some(existing) if existing.pid != r.pid => return Err(taken(&r.name)),
            _ => {}
        }
        if let Some(s) = self.starting.get(&r.name) {
            if s.pid.is_some_and(|pid| pid != r.pid) {
                return Err(taken(&r.name));
            }
        }
        let info = AgentInfo {
            name: r.name.clone(),
            kind: r.kind,
            pid: r.pid,
            control: r.control,
            addrs: BTreeMap::new(),
        };
        let lease = Duration::from_millis(r.lease_ms);
        self.renewed.insert(r.name.clone(), (Instant::now(), lease));
        // Another process's counters, if it had the name before.
        self.counters.remove(&r.name);
        self.changed.insert(r.name.clone());
        self.agents.insert(r.name, info);
        Ok(())
    }

    /// Renews the lease of `name`, if it is the process `pid`, and keeps the counters it reports.
    pub(crate) fn renew(
        &mut self,
        name: &str,
        pid: u32,
        stats: Option<Stats>,
    ) -> Result<(), Refusal> {
        match self.agents.get(name) {
            Some(info) if info.pid == pid => {
                if let Some((at, _)) = self.renewed.get_mut(name) {
                    *at = Instant::now();
                }
                if let Some(stats) = stats {
                    self.counters.insert(name.to_owned(), stats);
                }
                Ok(())
            }
            _ => Err(unknown(name)),
        }
    }

    /// Takes `stalled` (time the name server itself was not running) off every
    /// agent's silence, never past `now`.
    pub(crate) fn forgive(&mut self, stalled: Duration, now: Instant) {
        for (at, _) in self.renewed.values_mut() {
            *at = (*at + stalled).min(now);
        }
    }

    /// The counters the registered agent `name` last reported, its process, and whether they
    /// are current: it renewed within its last `misses` renewal periods (a hung agent's are not).
    pub(crate) fn counters_of(
        &self,
        name: &str,
        misses: u32,
        now: Instant,
    ) -> Option<(u32, &Stats, bool)> {
        let pid = self.agents.get(name)?.pid;
        let (at, lease) = self.renewed.get(name)?;
        let period = axon_runtime::protocol::lease::renewal_period(*lease);
        let current = now.saturating_duration_since(*at) <= period.saturating_mul(misses);
        self.counters.get(name).map(|s| (pid, s, current))
    }

    /// The lease period of the registered agent `name`.
    pub(crate) fn lease_of(&self, name: &str) -> Option<Duration> {
        self.renewed.get(name).map(|(_, lease)| *lease)
    }

    /// How long the registered agent `name` has not renewed its lease.
    pub(crate) fn silent_for(&self, name: &str, now: Instant) -> Option<Duration> {
        self.renewed
            .get(name)
            .map(|(at, _)| now.saturating_duration_since(*at))
    }

    /// Forgets agents silent for more than `misses` of their lease periods, except those `exempt` says to keep.
    pub(crate) fn expire(
        &mut self,
        misses: u32,
        exempt: impl Fn(&AgentInfo) -> bool,
    ) -> Vec<AgentInfo> {
        let now = Instant::now();
        let expired: Vec<String> = self
            .agents
            .values()
            .filter(|info| !exempt(info))
            .filter(|info| {
                let renewed = self.renewed.get(&info.name);
                renewed.is_none_or(|(at, lease)| {
                    now.duration_since(*at) > lease.saturating_mul(misses)
                })
            })
            .map(|info| info.name.clone())
            .collect();
        expired
            .iter()
            .filter_map(|name| self.remove(name))
            .collect()
    }

    fn remove(&mut self, name: &str) -> Option<AgentInfo> {
        self.changed.insert(name.to_owned());
        self.renewed.remove(name);
        self.counters.remove(name);
        self.agents.remove(name)
    }

    /// Takes the record of a starting agent (it answered, failed or timed out).
    pub(crate) fn finish_start(&mut self, name: &str) -> Option<Starting> {
        self.starting.remove(name)
    }

    /// Notes why the starting process `pid` of `name` could not start.
    pub(crate) fn start_failed(
        &mut self,
        name: &str,
        pid: u32,
        reason: String,
        bad_arguments: bool,
    ) -> bool {
        match self.starting.get_mut(name) {
            Some(s) if s.pid == Some(pid) => {
                s.failure = Some((reason, bad_arguments));
                true
            }
            _ => false,
        }
    }

    /// The process of `name` while it is starting, once spawned.
    pub(crate) fn starting_pid(&self, name: &str) -> Option<u32> {
        self.starting.get(name).and_then(|s| s.pid)
    }

    /// Whether `name` is still starting.
    pub(crate) fn is_starting(&self, name: &str) -> bool {
        self.starting.contains_key(name)
    }

    /// Removes a registered agent.
    pub(crate) fn unregister(&mut self, name: &str) -> Result<AgentInfo, Refusal> {
        self.remove(name).ok_or_else(|| unknown(name))
    }

    /// Removes the agent `name` only if it is the process `pid` (a newer one keeps its record).
    pub(crate) fn exited(&mut self, name: &str, pid: u32) -> bool {
        match self.agents.get(name) {
            Some(info) if info.pid == pid => self.remove(name).is_some(),
            _ => false,
        }
    }

    /// Records where `name` bound `alias`.
    pub(crate) fn set_addr(
        &mut self,
        name: &str,
        alias: String,
        address: Address,
    ) -> Result<(), Refusal> {
        let info = self.agents.get_mut(name).ok_or_else(|| unknown(name))?;
        usable(&address.endpoint)?;
        address.requests.as_deref().map_or(Ok(()), usable)?;
        info.addrs.insert(alias, address);
        self.changed.insert(name.to_owned());
        Ok(())
    }

    /// Forgets the address of `alias`.
    pub(crate) fn del_addr(&mut self, name: &str, alias: &str) -> Result<(), Refusal> {
        let info = self.agents.get_mut(name).ok_or_else(|| unknown(name))?;
        info.addrs.remove(alias);
        self.changed.insert(name.to_owned());
        Ok(())
    }

    /// The address `name` bound under `alias`.
    pub(crate) fn addr(&self, name: &str, alias: &str) -> Result<&Address, Refusal> {
        let info = self.info(name)?;
        info.addrs.get(alias).ok_or_else(|| {
            (
                ErrorKind::NotFound,
                format!("{name} has no socket {alias:?}"),
            )
        })
    }

    /// The record of `name`.
    /// The agents registered, changed or gone since the last call.
    pub(crate) fn take_changed(&mut self) -> BTreeSet<String> {
        std::mem::take(&mut self.changed)
    }

    pub(crate) fn info(&self, name: &str) -> Result<&AgentInfo, Refusal> {
        self.agents.get(name).ok_or_else(|| unknown(name))
    }

    /// Registered names, sorted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.agents.keys().cloned().collect()
    }

    /// Every registered agent.
    pub(crate) fn agents(&self) -> impl Iterator<Item = &AgentInfo> {
        self.agents.values()
    }
}

/// An endpoint the name server hands out (or calls) must be one libzmq can take.
fn usable(endpoint: &str) -> Result<(), Refusal> {
    axon_runtime::net::check_endpoint(endpoint)
        .map_err(|e| (ErrorKind::BadArguments, e.to_string()))
}

/// An agent name is not empty and is not the name server's: requests are signed for their destination by name.
fn check_name(name: &str) -> Result<(), Refusal> {
    if name.is_empty() {
        return Err((ErrorKind::BadArguments, "name must not be empty".into()));
    }
    if name == axon_runtime::protocol::NAMESERVER {
        let message = format!("{name:?} is reserved for the name server");
        return Err((ErrorKind::BadArguments, message));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter() -> Waiter {
        Waiter {
            route: b"r".to_vec(),
            id: 1,
        }
    }

    fn reg(name: &str, pid: u32) -> Register {
        Register {
            name: name.into(),
            kind: "agent".into(),
            pid,
            control: format!("ipc:///tmp/{name}"),
            lease_ms: 60_000,
        }
    }

    #[test]
    fn time_the_name_server_was_stalled_is_taken_off_an_agents_silence() {
        let mut r = Records::default();
        r.register(reg("a", 7)).unwrap();
        let later = Instant::now() + Duration::from_secs(10);
        let silent = r.silent_for("a", later).unwrap();
        r.forgive(Duration::from_secs(4), later);
        assert_eq!(
            r.silent_for("a", later).unwrap(),
            silent - Duration::from_secs(4)
        );
        // Never renewed in the future: at most silent for nothing.
        r.forgive(Duration::from_secs(3600), later);
        assert_eq!(r.silent_for("a", later).unwrap(), Duration::ZERO);
    }

    #[test]
    fn unnamed_agents_get_distinct_fresh_names() {
        let mut r = Records::default();
        r.claim(Some("agent-2".into()), Some(waiter())).unwrap();
        let names: Vec<String> = (0..3)
            .map(|_| r.claim(None, Some(waiter())).unwrap())
            .collect();
        assert_eq!(names, ["agent-1", "agent-3", "agent-4"]);
    }

    #[test]
    fn taken_names_are_refused_while_starting_and_once_registered() {
        let mut r = Records::default();
        r.claim(Some("x".into()), Some(waiter())).unwrap();
        assert_eq!(
            r.claim(Some("x".into()), Some(waiter())).unwrap_err().0,
            ErrorKind::NameTaken
        );
        r.started("x", 10);
        assert_eq!(
            r.register(reg("x", 11)).unwrap_err().0,
            ErrorKind::NameTaken
        );
        r.register(reg("x", 10)).unwrap();
        r.finish_start("x").unwrap();
        let e = r.claim(Some("x".into()), Some(waiter())).unwrap_err();
        assert!(e.1.contains("name already registered"), "{e:?}");
        assert_eq!(
            r.register(reg("x", 12)).unwrap_err().0,
            ErrorKind::NameTaken
        );
    }

    #[test]
    fn an_exit_only_removes_the_process_that_exited() {
        let mut r = Records::default();
        r.register(reg("x", 10)).unwrap();
        assert!(!r.exited("x", 9));
        assert!(r.exited("x", 10));
        assert!(r.names().is_empty());
    }

    #[test]
    fn silent_agents_expire_unless_exempt() {
        let mut r = Records::default();
        r.register(reg("quiet", 1)).unwrap();
        r.register(reg("child", 2)).unwrap();
        assert!(r.expire(3, |_| false).is_empty());
        let mut quick = reg("quick", 3);
        quick.lease_ms = 0;
        r.register(quick).unwrap();
        let gone = r.expire(3, |info| info.pid == 2);
        assert_eq!(
            gone.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["quick"]
        );
        assert_eq!(r.names(), ["child", "quiet"]);
        assert!(r.renew("quick", 3, None).is_err());
        r.renew("child", 2, None).unwrap();
        assert!(r.renew("child", 3, None).is_err());
    }

    #[test]
    fn addresses_follow_binds_and_closes() {
        let mut r = Records::default();
        r.register(reg("a", 1)).unwrap();
        let addr = Address {
            endpoint: "ipc:///tmp/a-main".into(),
            kind: axon_runtime::SocketKind::Pub,
            role: axon_runtime::Role::Server,
            serializer: axon_runtime::Serializer::Cbor,
            requests: None,
            secure: false,
        };
        r.set_addr("a", "main".into(), addr.clone()).unwrap();
        assert_eq!(r.addr("a", "main").unwrap(), &addr);
        r.del_addr("a", "main").unwrap();
        assert_eq!(r.addr("a", "main").unwrap_err().0, ErrorKind::NotFound);
        assert_eq!(
            r.set_addr("b", "x".into(), addr.clone()).unwrap_err().0,
            ErrorKind::NotFound
        );
        // An endpoint libzmq cannot take is refused here, before anyone is told to connect to it.
        let nul = Address {
            endpoint: "ipc:///tmp/a\0b".into(),
            ..addr
        };
        assert_eq!(
            r.set_addr("a", "x".into(), nul).unwrap_err().0,
            ErrorKind::BadArguments
        );
        let mut ghost = reg("ghost", 9);
        ghost.control = "ipc://\0".into();
        assert_eq!(r.register(ghost).unwrap_err().0, ErrorKind::BadArguments);
    }
}
