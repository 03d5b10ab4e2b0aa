//! A [`Snapshot`] in the Prometheus text exposition format, built with the
//! `prometheus` crate: a fresh registry per scrape, its counters set to the
//! totals the supervisor and the agents keep.

use prometheus::{Encoder, GaugeVec, IntCounterVec, Registry, TextEncoder};

use super::family::{counter, gauge, SOCKET};
use super::reliable::ReliableFamilies;
use super::{AgentFigures, Snapshot};
use axon_runtime::{SocketStats, Stats};

/// Labels of every per-agent series.
const AGENT: &[&str] = &["agent", "kind", "node", "group"];

/// The states an agent can be in (`ps`), each a series of `axon_agent_state`.
const STATES: &[&str] = &[
    "starting",
    "running",
    "restarting",
    "stopping",
    "stopped",
    "exited",
    "failed",
    "registered",
];

/// The exposition's content type.
pub(crate) fn content_type() -> String {
    TextEncoder::new().format_type().to_owned()
}

/// Encodes `s`; a metric that fails to build is left out, with a warning.
pub(crate) fn text(s: Snapshot) -> String {
    let families = Families::new();
    for agent in &s.agents {
        families.agent(&s.node, agent, s.stats.get(&agent.status.name));
    }
    families.supervisor(&s);
    let mut out = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&families.registry.gather(), &mut out) {
        tracing::warn!(error = %e, "metrics not encoded");
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The metric families of one scrape, registered in its registry.
struct Families {
    registry: Registry,
    state: GaugeVec,
    restarts: IntCounterVec,
    uptime: GaugeVec,
    cpu: GaugeVec,
    rss: GaugeVec,
    heartbeat: GaugeVec,
    lease: GaugeVec,
    answered: GaugeVec,
    received: IntCounterVec,
    sent: IntCounterVec,
    dropped: IntCounterVec,
    errors: IntCounterVec,
    control: IntCounterVec,
    forgotten: IntCounterVec,
    logs_lost: IntCounterVec,
    socket: GaugeVec,
    sockets: SocketFamilies,
    reliable: ReliableFamilies,
    sup: SupervisorFamilies,
}

/// The per-socket counters' families.
struct SocketFamilies {
    received: IntCounterVec,
    sent: IntCounterVec,
    dropped: IntCounterVec,
    errors: IntCounterVec,
    backlog: GaugeVec,
}

/// The supervisor's own families.
struct SupervisorFamilies {
    cpu: GaugeVec,
    rss: GaugeVec,
    uptime: GaugeVec,
    incarnation: GaugeVec,
    agents: GaugeVec,
    requests: IntCounterVec,
    malformed: IntCounterVec,
    journal: GaugeVec,
    adopted: GaugeVec,
}

impl Families {
    fn new() -> Families {
        let r = Registry::new();
        let with = |extra: &[&'static str]| [AGENT, extra].concat();
        let sup = SupervisorFamilies {
            cpu: gauge(&r, "axon_supervisor_cpu_usage_ratio", "CPU use of the supervisor process over the last second (1 = one core)", &["node"]),
            rss: gauge(&r, "axon_supervisor_resident_memory_bytes", "Resident memory of the supervisor process", &["node"]),
            uptime: gauge(&r, "axon_supervisor_uptime_seconds", "Time since this supervisor process started", &["node"]),
            incarnation: gauge(&r, "axon_supervisor_incarnation", "Supervisors the node has had, this one included (2 and up: it took over after a crash)", &["node"]),
            agents: gauge(&r, "axon_supervisor_agents", "Agents of the node by state", &["node", "state"]),
            requests: counter(&r, "axon_supervisor_control_requests_total", "Control requests the supervisor served, by method", &["node", "method"]),
            malformed: counter(&r, "axon_supervisor_malformed_messages_total", "Control messages that were not requests", &["node"]),
            journal: gauge(&r, "axon_supervisor_journal_entries", "Journal entries kept for restarts, over all agents", &["node"]),
            adopted: gauge(&r, "axon_supervisor_adopted_agents", "Agents adopted from a previous supervisor that still run", &["node"]),
        };
        let socket = |extra: &[&'static str]| [SOCKET, extra].concat();
        let sockets = SocketFamilies {
            received: counter(
                &r,
                "axon_socket_received_messages_total",
                "Messages received on the socket and handed to a handler",
                SOCKET,
            ),
            sent: counter(
                &r,
                "axon_socket_sent_messages_total",
                "Messages sent on the socket",
                SOCKET,
            ),
            dropped: counter(
                &r,
                "axon_socket_dropped_messages_total",
                "Messages of the socket dropped, by cause",
                &socket(&["cause"]),
            ),
            errors: counter(
                &r,
                "axon_socket_errors_total",
                "Errors on the socket's messages, by kind",
                &socket(&["error"]),
            ),
            backlog: gauge(
                &r,
                "axon_socket_backlog_messages",
                "Messages waiting in the socket's send backlog",
                SOCKET,
            ),
        };
        Families {
            state: gauge(&r, "axon_agent_state", "1 for the agent's current state, 0 for the others", &with(&["state"])),
            restarts: counter(&r, "axon_agent_restarts_total", "How often the supervisor restarted the agent", AGENT),
            uptime: gauge(&r, "axon_agent_uptime_seconds", "Time since the agent's current process started", AGENT),
            cpu: gauge(&r, "axon_agent_cpu_usage_ratio", "CPU use of the agent's process over the last second (1 = one core)", AGENT),
            rss: gauge(&r, "axon_agent_resident_memory_bytes", "Resident memory of the agent's process", AGENT),
            heartbeat: gauge(&r, "axon_agent_heartbeat_age_seconds", "Time since the agent last renewed its lease (its heartbeat)", AGENT),
            lease: gauge(&r, "axon_agent_lease_period_seconds", "How often the agent renews its lease", AGENT),
            answered: gauge(&r, "axon_agent_stats_answered", "1 when the agent's counters are current (it renewed its lease within its last three renewal periods), else 0 (they are then the last it reported)", AGENT),
            received: counter(&r, "axon_agent_received_messages_total", "Messages received on data sockets and handed to a handler", AGENT),
            sent: counter(&r, "axon_agent_sent_messages_total", "Messages sent on data sockets", AGENT),
            dropped: counter(&r, "axon_agent_dropped_messages_total", "Messages dropped, by cause", &with(&["cause"])),
            errors: counter(&r, "axon_agent_errors_total", "Errors, by kind", &with(&["error"])),
            control: counter(&r, "axon_agent_control_requests_total", "Control requests the agent served", AGENT),
            forgotten: counter(&r, "axon_agent_requests_forgotten_total", "Requests forgotten unanswered (too old, or too many waiting)", AGENT),
            logs_lost: counter(&r, "axon_agent_logs_not_forwarded_total", "Log events the logger could not take, written to stderr instead", AGENT),
            socket: gauge(&r, "axon_socket_info", "1 for each socket an agent bound", SOCKET),
            sockets,
            reliable: ReliableFamilies::new(&r),
            sup,
            registry: r,
        }
    }

    fn agent(&self, node: &str, a: &AgentFigures, stats: Option<&(u32, Stats, bool)>) {
        let st = &a.status;
        let group = st.group.join("/");
        let l = [st.name.as_str(), st.kind.as_str(), node, group.as_str()];
        for state in STATES {
            let on = f64::from(u8::from(st.state == *state));
            let labels = [l[0], l[1], l[2], l[3], state];
            self.state.with_label_values(&labels).set(on);
        }
        self.restarts
            .with_label_values(&l)
            .inc_by(st.restarts.into());
        self.uptime
            .with_label_values(&l)
            .set(st.uptime_ms as f64 / 1000.0);
        if let Some(cpu) = st.cpu {
            self.cpu.with_label_values(&l).set(f64::from(cpu) / 100.0);
        }
        if let Some(rss) = st.rss {
            self.rss.with_label_values(&l).set(rss as f64);
        }
        if let (Some(age), Some(lease)) = (a.heartbeat_age, a.lease) {
            self.heartbeat.with_label_values(&l).set(age.as_secs_f64());
            self.lease.with_label_values(&l).set(lease.as_secs_f64());
        }
        for s in &a.sockets {
            let labels = [st.name.as_str(), s.alias.as_str(), s.kind.as_str(), node];
            self.socket.with_label_values(&labels).set(1.0);
        }
        // An agent never asked yet (just started) has no counters: absent, not zero.
        if let Some((_, stats, answered)) = stats.filter(|(pid, ..)| Some(*pid) == st.pid) {
            self.answered
                .with_label_values(&l)
                .set(f64::from(u8::from(*answered)));
            self.counters(&l, stats);
            for (alias, s) in &stats.sockets {
                self.sockets.counters(&[l[0], alias, &s.kind, node], s);
            }
            self.reliable.agent(l[0], node, stats);
        }
    }

    fn counters(&self, l: &[&str; 4], s: &Stats) {
        let with = |extra: &'static str| [l[0], l[1], l[2], l[3], extra];
        self.received.with_label_values(l).inc_by(s.received);
        self.sent.with_label_values(l).inc_by(s.sent);
        let drops = drop_causes(s.dropped_full, s.dropped_hwm, s.oversized, s.unhandled);
        for (cause, n) in drops {
            self.dropped.with_label_values(&with(cause)).inc_by(n);
        }
        let errors = [
            ("handler", s.handler_errors),
            ("decode", s.decode_errors),
            ("malformed", s.malformed),
            ("control", s.control_errors),
            ("refused", s.refused),
        ];
        for (kind, n) in errors {
            self.errors.with_label_values(&with(kind)).inc_by(n);
        }
        self.control.with_label_values(l).inc_by(s.control_requests);
        self.forgotten
            .with_label_values(l)
            .inc_by(s.requests_forgotten);
        self.logs_lost
            .with_label_values(l)
            .inc_by(s.logs_not_forwarded);
    }

    fn supervisor(&self, s: &Snapshot) {
        let (f, n, sup) = (&s.supervisor, [s.node.as_str()], &self.sup);
        sup.cpu.with_label_values(&n).set(f64::from(f.cpu) / 100.0);
        sup.rss.with_label_values(&n).set(f.rss as f64);
        sup.uptime.with_label_values(&n).set(f.uptime_seconds);
        sup.incarnation
            .with_label_values(&n)
            .set(f.incarnation.into());
        for state in STATES {
            let count = s.agents.iter().filter(|a| a.status.state == *state).count();
            sup.agents
                .with_label_values(&[n[0], state])
                .set(count as f64);
        }
        for (method, count) in &f.requests {
            sup.requests
                .with_label_values(&[n[0], method])
                .inc_by(*count);
        }
        sup.malformed.with_label_values(&n).inc_by(f.malformed);
        sup.journal
            .with_label_values(&n)
            .set(f.journal_entries as f64);
        sup.adopted.with_label_values(&n).set(f.adopted as f64);
    }
}

impl SocketFamilies {
    /// One socket's series, labelled `l` (agent, alias, kind, node).
    fn counters(&self, l: &[&str; 4], s: &SocketStats) {
        let with = |extra: &'static str| [l[0], l[1], l[2], l[3], extra];
        self.received.with_label_values(l).inc_by(s.received);
        self.sent.with_label_values(l).inc_by(s.sent);
        for (cause, n) in drop_causes(s.dropped_full, s.dropped_hwm, s.oversized, s.unhandled) {
            self.dropped.with_label_values(&with(cause)).inc_by(n);
        }
        let errors = [
            ("handler", s.handler_errors),
            ("decode", s.decode_errors),
            ("malformed", s.malformed),
        ];
        for (kind, n) in errors {
            self.errors.with_label_values(&with(kind)).inc_by(n);
        }
        self.backlog.with_label_values(l).set(s.backlog as f64);
    }
}

/// The `cause` label of each dropped-messages count, agents' and sockets' alike.
fn drop_causes(full: u64, hwm: u64, oversized: u64, unhandled: u64) -> [(&'static str, u64); 4] {
    [
        ("full", full),
        ("hwm", hwm),
        ("oversized", oversized),
        ("unhandled", unhandled),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_snapshot_encodes_the_supervisor_figures() {
        let s = Snapshot {
            node: "n1".into(),
            ..Snapshot::default()
        };
        let out = text(s);
        assert!(
            out.contains("axon_supervisor_agents{node=\"n1\",state=\"running\"} 0\n"),
            "{out}"
        );
        assert!(
            out.contains("# TYPE axon_supervisor_malformed_messages_total counter\n"),
            "{out}"
        );
    }
}
