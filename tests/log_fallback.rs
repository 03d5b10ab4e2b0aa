//! Log events a logger cannot take are counted and written to stderr, never lost without trace.

mod common;

use axon::prelude::*;
use axon::testing::{self, wait_until};
use common::{TempDir, PATIENCE};

axon::test_host!(common::registry());

#[test]
fn events_a_full_logger_cannot_take_are_counted_and_fall_back_to_stderr() {
    let dir = TempDir::new("log-fallback");
    let endpoint = format!("ipc://{}", dir.0.join("logger.ipc").display());
    // A logger that stops reading after its first event: its queue fills and stays full.
    let stuck = zmq::Context::new().socket(zmq::SUB).unwrap();
    stuck.set_rcvhwm(1).unwrap();
    stuck.set_rcvtimeo(10).unwrap();
    stuck.set_subscribe(b"").unwrap();
    stuck.bind(&endpoint).unwrap();

    let ns = testing::node().unwrap();
    let mut agent = ns.run_agent("chatty").unwrap();
    let args = serde_json::json!({ "endpoint": endpoint });
    agent.call::<_, Value>("set_logger", &args).unwrap();
    // Events sent before the subscription is up are not the logger's to miss: wait for one to arrive.
    let subscribed = wait_until(PATIENCE, || {
        agent.execute::<_, Value>("log_levels", "probe").unwrap();
        stuck.recv_bytes(0).is_ok()
    });
    assert!(subscribed, "the logger's subscription came up");
    assert_eq!(agent.stats().unwrap().logs_not_forwarded, 0);
    // Each call logs four events; the stuck logger takes none of them.
    let overflowed = wait_until(PATIENCE, || {
        for _ in 0..50 {
            agent.execute::<_, Value>("log_levels", "flood").unwrap();
        }
        agent.stats().unwrap().logs_not_forwarded > 0
    });
    assert!(
        overflowed,
        "a full logger queue shows in logs_not_forwarded"
    );
    // The agent serves on.
    agent.ping().unwrap();
    ns.shutdown().unwrap();
}
