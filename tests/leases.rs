//! The lease channel (docs/protocol.md, "Lease renewals"): supervised agents
//! renew over signed datagrams on the node's `leases.sock`, the name server
//! answers each one, refuses (and counts) anything else, and keeps serving;
//! `ps` carries the counters the agents reported with their renewals.

mod common;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use axon::codec::to_value;
use axon::launch::{signal, Signal};
use axon::prelude::*;
use axon::protocol::auth::{random_u64, Key};
use axon::protocol::lease::{self, Renewal, LEASES, LEASE_SOCKET};
use axon::protocol::{Outcome, Request};
use axon::testing::{self, process_alive, wait_until};
use axon::{ErrorKind, NodeOptions, Restart, SupervisorSpec};
use common::PATIENCE;

axon::test_host!(common::registry());

/// A socket of the test's own, bound to an abstract address so that the name server can answer.
fn test_socket() -> UnixDatagram {
    let name = format!("axon-lease-test-{:016x}", random_u64());
    let socket = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name).unwrap()).unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    socket
}

fn renewal(id: u64, name: &str, pid: u32) -> Vec<u8> {
    let args = to_value(&Renewal {
        name: name.into(),
        pid,
        stats: None,
    })
    .unwrap();
    lease::seal_request(&Request::new(id, LEASES, "renew", args, false)).unwrap()
}

/// The answer to renewal `id`.
fn answer(socket: &UnixDatagram, id: u64) -> Outcome {
    let mut buf = vec![0u8; lease::MAX_DATAGRAM];
    let key = axon::protocol::auth::process_key();
    loop {
        let n = socket
            .recv(&mut buf)
            .expect("an answer within the patience");
        if let Some(reply) = lease::open_reply(&buf[..n], key.as_ref()) {
            if reply.id == id {
                return reply.result;
            }
        }
    }
}

fn refused(ns: &NameServer) -> u64 {
    ns.status().unwrap().lease_datagrams_refused
}

#[test]
fn renewals_are_answered_and_bad_datagrams_counted_and_ignored() {
    let ns = testing::node().unwrap();
    let mut agent = ns.run_agent("a").unwrap();
    let pid = ns.info("a").unwrap().pid;
    let path = ns.runtime_dir().unwrap().join(LEASE_SOCKET);
    let socket = test_socket();

    // A good renewal is answered; one for another process of the name is refused as unknown.
    socket.send_to(&renewal(1, "a", pid), &path).unwrap();
    assert_eq!(answer(&socket, 1), Outcome::Ok(Value::Null));
    socket.send_to(&renewal(2, "a", pid + 1), &path).unwrap();
    match answer(&socket, 2) {
        Outcome::Err(e) => assert_eq!(e.kind, ErrorKind::NotFound, "{e:?}"),
        other => panic!("a renewal of another process was taken: {other:?}"),
    }
    assert_eq!(refused(&ns), 0);

    // The same datagram again, garbage, a wrong key's signature, another method: refused.
    let replayed = renewal(3, "a", pid);
    socket.send_to(&replayed, &path).unwrap();
    assert_eq!(answer(&socket, 3), Outcome::Ok(Value::Null));
    socket.send_to(&replayed, &path).unwrap();
    socket.send_to(b"\x00garbage\xff", &path).unwrap();
    socket.send_to(b"AXON/1", &path).unwrap();
    let mut forged = renewal(4, "a", pid);
    let sig_at = axon::protocol::PROTOCOL.len() + 1;
    let wrong = Key::generate().unwrap().sign(&forged[sig_at + 32..]);
    forged[sig_at..sig_at + 32].copy_from_slice(&wrong);
    socket.send_to(&forged, &path).unwrap();
    let stop =
        lease::seal_request(&Request::new(5, LEASES, "shutdown", Value::Null, false)).unwrap();
    socket.send_to(&stop, &path).unwrap();
    assert!(
        wait_until(PATIENCE, || refused(&ns) == 5),
        "refused: {}",
        refused(&ns)
    );

    // Nothing was answered, nothing stopped, and the agent's own renewals still go through.
    socket.set_nonblocking(true).unwrap();
    assert!(
        socket.recv(&mut [0u8; 64]).is_err(),
        "a refused datagram was answered"
    );
    assert_eq!(ns.ps().unwrap().len(), 1);
    agent.ping().unwrap();
    let renewed = wait_until(PATIENCE, || ns.ps_with_stats().unwrap()[0].stats.is_some());
    assert!(renewed, "the agent's renewals reach the name server");
    assert_eq!(refused(&ns), 5);
    ns.shutdown().unwrap();
    assert!(wait_until(PATIENCE, || !process_alive(pid)));
}

#[test]
fn ps_returns_every_agent_with_its_counters_from_one_call() {
    let ns = testing::node().unwrap();
    let mut sender = ns.run_agent("sender").unwrap();
    let mut receiver = ns.run_agent("receiver").unwrap();
    let bound = receiver
        .bind_handler(SocketKind::Pull, "in", "tally")
        .unwrap();
    sender.connect(&bound, "out", None).unwrap();
    for i in 1..=7i64 {
        sender.send("out", &i).unwrap();
    }
    for name in ["c", "d", "e"] {
        ns.run_agent(name).unwrap();
    }
    let counted = |name: &str, ps: &[axon::AgentStatus]| {
        let line = ps.iter().find(|s| s.name == name)?;
        line.stats.as_ref().map(|s| (s.received, s.sent))
    };
    let mut ps = Vec::new();
    let seen = wait_until(PATIENCE, || {
        ps = ns.ps_with_stats().unwrap();
        counted("receiver", &ps) == Some((7, 0))
            && counted("sender", &ps) == Some((0, 7))
            && ps.iter().all(|s| s.stats.is_some())
    });
    assert!(seen, "{ps:?}");
    assert_eq!(ps.len(), 5);
    for quiet in ["c", "d", "e"] {
        assert_eq!(counted(quiet, &ps), Some((0, 0)), "{ps:?}");
    }
    // Without asking for them, no counters.
    assert!(ns.ps().unwrap().iter().all(|s| s.stats.is_none()));
    ns.shutdown().unwrap();
}

#[test]
fn adopted_agents_renew_with_the_new_supervisor() {
    let options = NodeOptions {
        heart: true,
        supervisor: SupervisorSpec {
            heartbeat: Duration::from_millis(200),
            orphan_grace: Duration::from_secs(2),
            ..SupervisorSpec::default()
        },
        ..NodeOptions::default()
    };
    let mut ns = testing::node_with(options).unwrap();
    let worker = SpawnOptions::default()
        .name("w")
        .restart(Restart::Permanent);
    let mut proxy = ns.spawn(worker).unwrap();
    let pid = ns.info("w").unwrap().pid;
    signal(ns.pid().unwrap(), Signal::Kill).unwrap();
    assert!(wait_until(PATIENCE, || ns.try_wait().unwrap().is_some()));
    ns.revive().unwrap();
    assert_eq!(ns.status().unwrap().supervisor.incarnation, 2);
    // The counters reach the new supervisor only through renewals made to it.
    let reported = wait_until(PATIENCE, || {
        let ps = ns.ps_with_stats().unwrap_or_default();
        ps.iter()
            .any(|s| s.name == "w" && s.pid == Some(pid) && s.stats.is_some())
    });
    assert!(reported, "{:?}", ns.ps_with_stats());
    // Past the orphan grace (2 s) and many heartbeats: still the same process, never restarted.
    let ended = wait_until(Duration::from_secs(3), || !process_alive(pid));
    assert!(
        !ended,
        "the adopted agent left: its renewals did not reach the new supervisor"
    );
    let w = ns
        .ps()
        .unwrap()
        .into_iter()
        .find(|s| s.name == "w")
        .unwrap();
    assert_eq!(
        (w.pid, w.restarts, w.state.as_str()),
        (Some(pid), 0, "running")
    );
    proxy.ping().unwrap();
    ns.shutdown().unwrap();
    assert!(wait_until(PATIENCE, || !process_alive(pid)));
}
