//! The counters of at-least-once sockets (`stats.reliable`) as `axon_reliable_*`
//! series, labelled like the per-socket series so the two join.

use prometheus::{GaugeVec, IntCounterVec, Registry};

use axon_runtime::{ReliableStats, Stats};

use super::family::{counter, gauge, SOCKET};

/// The families of the reliable sockets' figures.
pub(super) struct ReliableFamilies {
    /// Totals, by metric name.
    counters: Vec<IntCounterVec>,
    /// Current sizes, by metric name.
    gauges: Vec<GaugeVec>,
}

/// Counters: name, help, and the field of [`ReliableStats`] each one shows.
type CounterField = (&'static str, &'static str, fn(&ReliableStats) -> u64);

const COUNTERS: &[CounterField] = &[
    ("axon_reliable_acked_messages_total", "Sender: messages acknowledged by the receiver", |s| s.acked),
    ("axon_reliable_redelivered_messages_total", "Sender: messages sent again (timeout, reconnect or negative acknowledgement)", |s| s.redelivered),
    ("axon_reliable_nacked_messages_total", "Sender: negative acknowledgements received (the receiver's handler failed)", |s| s.nacked),
    ("axon_reliable_dead_lettered_messages_total", "Sender: messages given up after max_attempts handler failures", |s| s.dead_lettered),
    ("axon_reliable_garbage_acks_total", "Acknowledgements ignored: malformed, of another incarnation or out of range (at a receiver, anything on its acknowledgement socket)", |s| s.garbage_acks),
    ("axon_reliable_truncated_records_total", "Sender (durable): damaged records cut off the end of the outbox file", |s| s.truncated_records),
    ("axon_reliable_handled_messages_total", "Receiver: messages handed to the handler", |s| s.handled),
    ("axon_reliable_duplicate_messages_total", "Receiver: messages seen before, dropped and acknowledged again", |s| s.duplicates),
    ("axon_reliable_acks_sent_total", "Receiver: acknowledgement frames sent", |s| s.acks_sent),
    ("axon_reliable_plain_frames_total", "Messages not in the reliable framing (a plain peer), dropped", |s| s.plain_frames),
];

/// Gauges: name, help, and the field each one shows.
const GAUGES: &[CounterField] = &[
    (
        "axon_reliable_outbox_messages",
        "Sender: messages kept until acknowledged",
        |s| s.outbox_messages,
    ),
    (
        "axon_reliable_outbox_bytes",
        "Sender: payload bytes of the messages kept until acknowledged",
        |s| s.outbox_bytes,
    ),
    (
        "axon_reliable_in_flight_messages",
        "Sender: messages sent and awaiting an acknowledgement",
        |s| s.in_flight,
    ),
];

impl ReliableFamilies {
    /// Every family, registered in `r`.
    pub(super) fn new(r: &Registry) -> ReliableFamilies {
        ReliableFamilies {
            counters: COUNTERS
                .iter()
                .map(|(name, help, _)| counter(r, name, help, SOCKET))
                .collect(),
            gauges: GAUGES
                .iter()
                .map(|(name, help, _)| gauge(r, name, help, SOCKET))
                .collect(),
        }
    }

    /// The reliable sockets of one agent's `stats`, for agent `agent` on `node`.
    pub(super) fn agent(&self, agent: &str, node: &str, stats: &Stats) {
        for (alias, s) in &stats.reliable {
            let kind = stats.sockets.get(alias).map_or("", |k| k.kind.as_str());
            let labels = [agent, alias.as_str(), kind, node];
            for (family, (_, _, field)) in self.counters.iter().zip(COUNTERS) {
                family.with_label_values(&labels).inc_by(field(s));
            }
            for (family, (_, _, field)) in self.gauges.iter().zip(GAUGES) {
                family.with_label_values(&labels).set(field(s) as f64);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon_runtime::SocketStats;
    use prometheus::{Encoder, TextEncoder};

    #[test]
    fn a_reliable_socket_shows_its_counters_under_its_socket_labels() {
        let mut stats = Stats::default();
        let push = SocketStats {
            kind: "PUSH".into(),
            ..SocketStats::default()
        };
        stats.sockets.insert("out".into(), push);
        let counted = ReliableStats {
            acked: 7,
            redelivered: 2,
            outbox_messages: 3,
            ..ReliableStats::default()
        };
        stats.reliable.insert("out".into(), counted);
        let r = Registry::new();
        ReliableFamilies::new(&r).agent("tx", "n1", &stats);
        let mut out = Vec::new();
        TextEncoder::new().encode(&r.gather(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let l = "{agent=\"tx\",alias=\"out\",node=\"n1\",socket_kind=\"PUSH\"}";
        for line in [
            format!("axon_reliable_acked_messages_total{l} 7\n"),
            format!("axon_reliable_redelivered_messages_total{l} 2\n"),
            format!("axon_reliable_outbox_messages{l} 3\n"),
            format!("axon_reliable_duplicate_messages_total{l} 0\n"),
        ] {
            assert!(out.contains(&line), "{line}\n{out}");
        }
    }
}
