//! The name server's end of the lease channel (`axon_runtime::protocol::lease`):
//! one datagram socket, `leases.sock` in the runtime directory, that every
//! supervised agent renews its lease on, so that the name server holds no
//! connection per agent (a libzmq connection costs about 48 KiB).
//!
//! A thread of its own reads the socket, so that the kernel's short queue
//! (`net.unix.max_dgram_qlen`, often 10 datagrams) is drained whatever the
//! actor is busy with, and checks each datagram like a control request
//! (signature, destination, freshness, replay window). Renewals that pass go
//! to the actor as [`Renewed`]; it renews the lease and answers from a
//! second, non-blocking socket. Anything else is counted
//! ([`Leases::refused`], shown by `status`) and logged at powers of two, so
//! that a flood cannot flood the log; nothing a datagram holds ends the thread.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use actix::prelude::*;
use axon_runtime::protocol::auth::Guard;
use axon_runtime::protocol::lease::{self, Renewal, LEASES, LEASE_SOCKET, MAX_DATAGRAM};
use axon_runtime::protocol::Unparsed;
use axon_runtime::{RemoteError, Value};

use super::Server;
use crate::requests::refusal;

/// The name server's lease socket: the reading thread's count, and the socket answers leave by.
#[derive(Debug)]
pub(super) struct Leases {
    answers: UnixDatagram,
    refused: Arc<AtomicU64>,
}

/// A renewal that passed the checks: what it says, its id, and where the answer goes.
#[derive(Message)]
#[rtype(result = "()")]
pub(super) struct Renewed {
    renewal: Renewal,
    id: u64,
    from: SocketAddr,
}

impl Leases {
    /// Binds `<dir>/leases.sock` (in place of a dead supervisor's) and starts reading it for `server`.
    pub(super) fn open(dir: &Path, server: Addr<Server>) -> std::io::Result<Leases> {
        let path = dir.join(LEASE_SOCKET);
        match std::fs::remove_file(&path) {
            Ok(()) => {
                tracing::info!(path = %path.display(), "lease socket of an earlier supervisor replaced")
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let socket = UnixDatagram::bind(&path)?;
        let answers = UnixDatagram::unbound()?;
        answers.set_nonblocking(true)?;
        let refused = Arc::new(AtomicU64::new(0));
        let count = refused.clone();
        std::thread::Builder::new()
            .name("axon-leases".into())
            .spawn(move || read(&socket, &server, &count))?;
        Ok(Leases { answers, refused })
    }

    /// Datagrams refused since start: not renewals, badly signed, stale or replayed.
    pub(super) fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Answers renewal `id` at `to`; an agent whose queue is full misses this answer (it renews again).
    fn answer(&self, id: u64, outcome: Result<Value, RemoteError>, to: &SocketAddr) {
        let sent = lease::seal_reply(id, outcome)
            .map_err(|e| e.to_string())
            .and_then(|d| self.answers.send_to_addr(&d, to).map_err(|e| e.to_string()));
        if let Err(e) = sent {
            tracing::debug!(error = %e, "renewal not answered");
        }
    }
}

/// The reading thread: until the server is gone, or the socket fails.
fn read(socket: &UnixDatagram, server: &Addr<Server>, refused: &AtomicU64) {
    let mut guard = Guard::new(LEASES);
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return tracing::error!(error = %e, "lease socket failed; agents renew no more")
            }
        };
        match take(&buf[..n], &mut guard) {
            Ok((id, renewal)) if server.connected() => {
                server.do_send(Renewed { renewal, id, from })
            }
            // The server has stopped: no one to renew with.
            Ok(_) => return,
            Err(why) => {
                let count = refused.fetch_add(1, Ordering::Relaxed) + 1;
                // Counted always; logged at powers of two, so that a flood cannot flood the log.
                if count.is_power_of_two() {
                    tracing::warn!(why = %why, refused = count, "lease datagram refused");
                }
            }
        }
    }
}

/// A renewal's id and arguments, or why the datagram is not one.
fn take(datagram: &[u8], guard: &mut Guard) -> Result<(u64, Renewal), String> {
    let request = lease::open_request(datagram, guard).map_err(|u| match u {
        Unparsed::Malformed { why, .. } => why,
        Unparsed::Refused { why, .. } => format!("refused: {why}"),
    })?;
    if request.method != "renew" {
        return Err(format!("method {:?} on the lease channel", request.method));
    }
    let renewal = request
        .decode_args()
        .map_err(|why| format!("invalid arguments to renew: {why}"))?;
    Ok((request.id, renewal))
}

impl Handler<Renewed> for Server {
    type Result = ();

    fn handle(&mut self, r: Renewed, _: &mut Context<Self>) {
        if let Some(m) = &mut self.metrics {
            m.served("renew");
        }
        let Renewal { name, pid, stats } = r.renewal;
        let outcome = self.records.renew(&name, pid, stats).map(|()| Value::Null);
        if let Some(leases) = &self.leases {
            leases.answer(r.id, outcome.map_err(|e| refusal(e, "renew")), &r.from);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axon_runtime::protocol::auth::ensure_key;
    use axon_runtime::protocol::Request;

    fn sealed(method: &str, args: Value) -> Vec<u8> {
        lease::seal_request(&Request::new(3, LEASES, method, args, false)).unwrap()
    }

    #[test]
    fn only_signed_fresh_renewals_with_their_arguments_are_taken() {
        ensure_key().unwrap();
        let mut guard = Guard::new(LEASES);
        let renewal = Renewal {
            name: "a".into(),
            pid: 9,
            stats: Some(axon_runtime::Stats {
                received: 4,
                ..Default::default()
            }),
        };
        let good = sealed("renew", axon_runtime::codec::to_value(&renewal).unwrap());
        assert_eq!(take(&good, &mut guard), Ok((3, renewal)));
        assert!(take(&good, &mut guard).unwrap_err().contains("replayed"));
        let other = sealed("shutdown", Value::Null);
        assert!(take(&other, &mut guard)
            .unwrap_err()
            .contains("\"shutdown\""));
        let bad_args = sealed("renew", Value::Text("a".into()));
        assert!(take(&bad_args, &mut guard)
            .unwrap_err()
            .contains("invalid arguments"));
        assert!(take(b"\x00\x01garbage", &mut guard).is_err());
    }
}
