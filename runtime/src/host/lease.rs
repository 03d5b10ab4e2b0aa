//! The agent's end of the lease channel (`protocol::lease`): a datagram
//! socket of its own, bound to a random abstract address, from which it
//! sends signed renewals to the name server's `leases.sock` and reads the
//! answers. No connection is kept: the name server holds one socket for
//! every agent, and a supervisor that took the node over is reached at the
//! same path.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

use futures::FutureExt;
use tokio::net::UnixDatagram;

use super::nameserver::Pending;
use crate::codec::{to_value, Value};
use crate::error::{Error, Result};
use crate::protocol::auth::{process_key, random_u64};
use crate::protocol::lease::{self, Renewal, LEASES, LEASE_SOCKET, MAX_DATAGRAM};
use crate::protocol::Request;

/// How long a renewal waits before trying again when the name server's queue is full.
const RETRY: Duration = Duration::from_millis(5);

/// The agent's lease socket and where renewals go.
pub(super) struct LeaseChannel {
    socket: Rc<UnixDatagram>,
    server: PathBuf,
    /// Renewal ids are `base + n`: an answer meant for another process (or an old one of this
    /// process's) does not match.
    base: u64,
    sent: u64,
}

impl LeaseChannel {
    /// Opens the agent's socket; renewals go to the name server of the node at `runtime_dir`.
    /// Call it inside the agent's System.
    pub(super) fn open(runtime_dir: &Path) -> std::io::Result<Self> {
        let name = format!("axon-lease-{:016x}", random_u64());
        let socket =
            std::os::unix::net::UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name)?)?;
        socket.set_nonblocking(true)?;
        Ok(LeaseChannel {
            socket: Rc::new(UnixDatagram::from_std(socket)?),
            server: runtime_dir.join(LEASE_SOCKET),
            base: random_u64(),
            sent: 0,
        })
    }

    /// Sends `renewal`; the answer (or a timeout after `timeout`) comes through the returned future.
    pub(super) fn renew(&mut self, renewal: &Renewal, timeout: Duration) -> Pending {
        self.sent += 1;
        let id = self.base.wrapping_add(self.sent);
        let datagram = match datagram(id, renewal) {
            Ok(d) => d,
            Err(e) => return async move { Err(e) }.boxed_local(),
        };
        let (socket, server) = (self.socket.clone(), self.server.clone());
        async move {
            match tokio::time::timeout(timeout, exchange(&socket, &server, &datagram, id)).await {
                Ok(answer) => answer,
                Err(_) => Err(Error::Timeout(timeout, "renew on the lease channel".into())),
            }
        }
        .boxed_local()
    }
}

/// The signed renewal; one whose counters make it too large goes without the per-socket ones.
fn datagram(id: u64, renewal: &Renewal) -> Result<Vec<u8>> {
    let sealed =
        |r: &Renewal| lease::seal_request(&Request::new(id, LEASES, "renew", to_value(r)?, false));
    sealed(renewal).or_else(|_| {
        let mut smaller = renewal.clone();
        if let Some(stats) = &mut smaller.stats {
            stats.sockets.clear();
            stats.reliable.clear();
        }
        sealed(&smaller)
    })
}

/// Sends `datagram` (again after [`RETRY`] while the name server's queue is full) and waits
/// for the answer with `id`.
async fn exchange(socket: &UnixDatagram, server: &Path, datagram: &[u8], id: u64) -> Result<Value> {
    loop {
        match socket.try_send_to(datagram, server) {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => tokio::time::sleep(RETRY).await,
            Err(e) => {
                return Err(Error::Config(format!(
                    "renewal not sent to {}: {e}",
                    server.display()
                )))
            }
        }
    }
    let key = process_key();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let n = socket.recv(&mut buf).await?;
        match lease::open_reply(&buf[..n], key.as_ref()) {
            Some(reply) if reply.id == id => {
                return reply.result.into_result().map_err(Error::Remote)
            }
            // A late answer to a renewal that gave up, or noise: not this one.
            _ => continue,
        }
    }
}
