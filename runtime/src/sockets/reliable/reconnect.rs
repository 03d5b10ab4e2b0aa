//! A reliable sender's watch on its PUSH's connections: a receiver that
//! comes back (a restarted process, the same address) gets what was in
//! flight at once, instead of after the acknowledgement timeout.
//!
//! libzmq reports a socket's connection events on a PAIR socket of its own
//! (`zmq_socket_monitor`); the sender's tick reads them. A handshake that
//! succeeds after a disconnection means a receiver (re)connected: the
//! messages in flight may have died with the old one, so they go again.
//! The receiver drops the copies it already handled (duplicates). Both the
//! PUSH and its acknowledgement companion are watched: acknowledgements the
//! new receiver sent before the companion was back were lost, and the copies
//! sent once it is back are acknowledged again.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Result;

/// Numbers the monitor endpoints of this process: each is bound once, never reused.
static NEXT_WATCH: AtomicU64 = AtomicU64::new(0);

/// The connection events a sender cares about.
const EVENTS: i32 =
    zmq::SocketEvent::DISCONNECTED as i32 | zmq::SocketEvent::HANDSHAKE_SUCCEEDED as i32;

/// Most events read per tick: a flapping peer cannot keep the actor busy.
const EVENTS_PER_TICK: usize = 256;

/// The events of one monitored socket.
pub(crate) struct Watch {
    events: zmq::Socket,
    /// A peer went away and none has come back since.
    lost: bool,
}

impl Watch {
    /// Watches `socket`'s connections (a sender's, `incarnation`).
    pub(crate) fn new(socket: &zmq::Socket, incarnation: u64) -> Result<Watch> {
        let n = NEXT_WATCH.fetch_add(1, Ordering::Relaxed);
        let endpoint = format!("inproc://axon-reliable-{incarnation:016x}-{n}");
        socket.monitor(&endpoint, EVENTS)?;
        let events = crate::net::zmq_context().socket(zmq::PAIR)?;
        events.set_linger(0)?;
        events.connect(&endpoint)?;
        Ok(Watch {
            events,
            lost: false,
        })
    }

    /// Reads the events so far; true when a peer connected after one was lost.
    pub(crate) fn reconnected(&mut self) -> bool {
        let mut back = false;
        for _ in 0..EVENTS_PER_TICK {
            let Ok(frames) = self.events.recv_multipart(zmq::DONTWAIT) else {
                break;
            };
            match frames.first().and_then(|f| event(f)) {
                Some(zmq::SocketEvent::DISCONNECTED) => self.lost = true,
                Some(zmq::SocketEvent::HANDSHAKE_SUCCEEDED) if self.lost => {
                    self.lost = false;
                    back = true;
                }
                _ => {}
            }
        }
        back
    }
}

/// The event a monitor frame names: its first two bytes, little-endian (libzmq's layout).
fn event(frame: &[u8]) -> Option<zmq::SocketEvent> {
    let id = u16::from_le_bytes([*frame.first()?, *frame.get(1)?]);
    Some(zmq::SocketEvent::from_raw(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits (bounded) until `watch` reports a reconnection.
    fn until_reconnected(watch: &mut Watch) -> bool {
        (0..500).any(|_| {
            let back = watch.reconnected();
            if !back {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            back
        })
    }

    #[test]
    fn a_peer_that_comes_back_is_reported_once() {
        let ctx = crate::net::zmq_context();
        let dir = std::env::temp_dir().join(format!("axon-watch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let endpoint = format!("ipc://{}/pull", dir.display());
        let push = ctx.socket(zmq::PUSH).unwrap();
        push.set_linger(0).unwrap();
        let mut watch = Watch::new(&push, crate::protocol::auth::random_u64()).unwrap();
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_linger(0).unwrap();
        pull.bind(&endpoint).unwrap();
        push.connect(&endpoint).unwrap();
        push.send("one", 0).unwrap();
        assert_eq!(pull.recv_bytes(0).unwrap(), b"one");
        // The first connection is no reconnection.
        assert!(!watch.reconnected());
        drop(pull);
        let pull = ctx.socket(zmq::PULL).unwrap();
        pull.set_linger(0).unwrap();
        pull.bind(&endpoint).unwrap();
        assert!(until_reconnected(&mut watch), "the new peer is reported");
        assert!(!watch.reconnected(), "once");
        drop(pull);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
