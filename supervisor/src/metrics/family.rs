//! Registering a metric family in a scrape's registry, and the labels the
//! per-socket families share.

use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

/// Labels of every per-socket series (those of `axon_socket_info`, so the two join).
pub(super) const SOCKET: &[&str] = &["agent", "alias", "socket_kind", "node"];

/// A gauge family registered in `r`; the names are constants checked by the tests.
pub(super) fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
    let family = GaugeVec::new(Opts::new(name, help), labels);
    register(r, family, name)
}

/// A counter family registered in `r`.
pub(super) fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family = IntCounterVec::new(Opts::new(name, help), labels);
    register(r, family, name)
}

fn register<C: prometheus::core::Collector + Clone + 'static>(
    r: &Registry,
    family: prometheus::Result<C>,
    name: &str,
) -> C {
    match family.and_then(|f| r.register(Box::new(f.clone())).map(|()| f)) {
        Ok(f) => f,
        // Names and labels are constants: a failure is a bug, caught by the unit test.
        Err(e) => panic!("metric family {name}: {e}"),
    }
}
