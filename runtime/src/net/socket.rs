//! One owned ZeroMQ socket with its send backlog: sent to without
//! blocking, received from in batches by the host.
//!
//! Sends take a fast path straight into libzmq (`DONTWAIT`); when the
//! high-water mark is reached the message waits in a bounded backlog that a
//! flush future drains through tmq as room appears. Order is kept: nothing
//! bypasses the backlog.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use tmq::Multipart;

use super::frames::Frames;
use super::io::Io;
use super::wakeup::Wakeup;
use crate::error::{Error, Result};

/// Most messages a socket keeps waiting for high-water-mark room before `send` refuses.
pub const BACKLOG_LIMIT: usize = 100_000;

/// Most bytes a socket keeps waiting for high-water-mark room before `send` refuses.
pub const BACKLOG_BYTES: usize = 64 << 20;

/// libzmq's high-water mark unless told otherwise: messages queued per peer, each way.
pub const DEFAULT_HWM: i32 = 1000;

/// What a send does when the socket's high-water mark is reached.
///
/// PUSH, REQ and DEALER-based sockets block by default: the message waits
/// in a bounded backlog (in order) until the peer makes room. PUB drops,
/// as in ZeroMQ, but never silently: the socket is set so that libzmq
/// reports the mark (`ZMQ_XPUB_NODROP`), the message is dropped for every
/// subscriber, counted in the agent's `stats.dropped_hwm`, and logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFull {
    /// Wait in the backlog for room (not for PUB).
    Block,
    /// Drop the message and count it.
    Drop,
}

impl std::str::FromStr for OnFull {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "block" => Ok(OnFull::Block),
            "drop" => Ok(OnFull::Drop),
            _ => Err(Error::invalid("on_full", s, "expected block or drop")),
        }
    }
}

/// What became of a message given to [`Socket::send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// libzmq has it.
    Now,
    /// It waits in the backlog; a flush must be started if none runs.
    Queued { start_flush: bool },
    /// The socket was at its mark and drops there (`on_full = drop`): the caller counts it.
    Dropped,
}

impl Sent {
    /// Whether the caller must start a flush.
    pub(crate) fn start_flush(self) -> bool {
        matches!(self, Sent::Queued { start_flush: true })
    }
}

/// A socket with its send backlog.
pub(crate) struct Socket {
    pub(crate) io: Io,
    wakeup: Arc<Wakeup>,
    /// The waker handed to the socket's readiness: it marks the drain due, then wakes the actor.
    waker: Waker,
    /// The socket was drained empty and is waiting for its waker.
    idle: bool,
    /// Its drain handed out a message and will look again before it sleeps.
    draining: bool,
    /// What a send does at the high-water mark.
    pub(crate) on_full: OnFull,
    backlog: VecDeque<Multipart>,
    /// The payload bytes in `backlog`.
    backlog_bytes: usize,
    /// A flush future is running: tmq may hold a message, so the fast path is closed.
    flushing: bool,
}

impl Socket {
    pub(crate) fn new(io: Io) -> Self {
        let on_full = match io {
            Io::Pub(_) => OnFull::Drop,
            _ => OnFull::Block,
        };
        let wakeup = Arc::new(Wakeup {
            due: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        Socket {
            io,
            waker: Waker::from(wakeup.clone()),
            wakeup,
            idle: false,
            draining: false,
            on_full,
            backlog: VecDeque::new(),
            backlog_bytes: 0,
            flushing: false,
        }
    }

    /// Hands `frames` to libzmq now or not at all (`Ok(false)` at the mark), bypassing the
    /// backlog: for answers that must not wait behind it (control replies, error answers).
    #[inline]
    pub(crate) fn try_send_now(&self, frames: &[&[u8]]) -> Result<bool> {
        self.touched();
        self.io.try_send_now(frames)
    }

    /// How long closing it may keep flushing queued messages.
    pub(crate) fn set_linger(&self, linger: std::time::Duration) -> Result<()> {
        let ms = linger.as_millis().min(i32::MAX as u128) as i32;
        Ok(self.io.raw().set_linger(ms)?)
    }

    /// Whether messages can be received on it.
    pub(crate) fn receives(&self) -> bool {
        self.io.receives()
    }

    /// Subscribes to `topic` (SUB sockets).
    pub(crate) fn subscribe(&self, topic: &[u8]) -> Result<()> {
        self.io.raw().set_subscribe(topic)?;
        self.touched();
        Ok(())
    }

    /// Takes the subscription to `topic` back (SUB sockets).
    pub(crate) fn unsubscribe(&self, topic: &[u8]) -> Result<()> {
        self.io.raw().set_unsubscribe(topic)?;
        self.touched();
        Ok(())
    }

    /// Sends `frames` in order after everything sent before, never blocking.
    #[inline]
    pub(crate) fn send(&mut self, alias: &str, frames: &[&[u8]]) -> Result<Sent> {
        if !self.flushing && self.try_send_now(frames)? {
            return Ok(Sent::Now);
        }
        if self.on_full == OnFull::Drop {
            return Ok(Sent::Dropped);
        }
        let size: usize = frames.iter().map(|f| f.len()).sum();
        if self.backlog.len() >= BACKLOG_LIMIT || self.backlog_bytes + size > BACKLOG_BYTES {
            return Err(Error::Full {
                alias: alias.to_owned(),
                message: frames.iter().map(|f| f.to_vec()).collect(),
            });
        }
        self.backlog_bytes += size;
        self.backlog
            .push_back(frames.iter().map(|f| zmq::Message::from(*f)).collect());
        let start_flush = !self.flushing;
        self.flushing = true;
        Ok(Sent::Queued { start_flush })
    }

    /// Marks the drain of a receiving socket due after an operation on the
    /// socket: libzmq processes its pending commands on every call, and may so
    /// take in the readiness the drain would have been woken by.
    #[inline]
    pub(crate) fn touched(&self) {
        if !self.io.receives() {
            return;
        }
        self.wakeup.due.store(true, Ordering::Release);
        // Inside its own drain (a reply from a handler) the drain looks again anyway.
        if !self.draining {
            self.wakeup.wake_by_ref();
        }
    }

    /// Drains the backlog as the socket accepts; ready once it is empty and sent.
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<tmq::Result<()>> {
        loop {
            let mut next = self.backlog.pop_front();
            let last = next.is_none();
            let size: usize = next.as_ref().map_or(0, |m| m.iter().map(|f| f.len()).sum());
            let polled = self.io.poll_sink(cx, &mut next);
            // Taken by the sink (sent, or held by tmq until it is): no longer ours to count.
            if next.is_none() {
                self.backlog_bytes -= size;
            }
            match polled {
                Poll::Ready(Ok(())) if last => {
                    self.flushing = false;
                    return Poll::Ready(Ok(()));
                }
                // Only an actual send touches the socket (touching wakes the actor: never on an idle poll).
                Poll::Ready(Ok(())) => self.touched(),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {
                    if let Some(m) = next {
                        self.backlog.push_front(m);
                    }
                    return Poll::Pending;
                }
            }
        }
    }

    /// Messages waiting for room.
    pub(crate) fn backlog_len(&self) -> usize {
        self.backlog.len()
    }

    /// Receives the next message into `frames`.
    ///
    /// Messages are read straight from libzmq into reused buffers; only when
    /// none is waiting does tmq's poll register the task for wake-up (and
    /// take a message that slipped in meanwhile).
    #[inline]
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        frames: &mut Frames,
    ) -> Poll<Option<Result<()>>> {
        // While a flush runs it shares the socket's readiness with the drain
        // (and registers the actor's own waker there): the drain then looks every time.
        if self.idle && !self.flushing && !self.wakeup.due.swap(false, Ordering::AcqRel) {
            self.wakeup.follow(cx.waker());
            return Poll::Pending;
        }
        self.idle = false;
        // What happened to the socket up to now, this look covers.
        self.wakeup.due.store(false, Ordering::Release);
        self.draining = true;
        match frames.recv(self.io.raw()) {
            Ok(true) => return Poll::Ready(Some(Ok(()))),
            Ok(false) => {}
            Err(e) => return Poll::Ready(Some(Err(e))),
        }
        // Nothing waiting: register our waker with the socket's readiness, with the
        // actor's current first, since tmq may wake it at once. Once per sleep, not per message.
        self.wakeup.follow(cx.waker());
        // tmq clears a readiness it finds stale and wakes the task at once, so
        // that it looks again. Look again here instead: a second receive would
        // only find what this one just did, and another turn of the actor costs
        // libzmq another poll system call or two.
        for _ in 0..2 {
            self.wakeup.due.store(false, Ordering::Release);
            match self.io.poll_recv(&mut Context::from_waker(&self.waker)) {
                Poll::Ready(Some(Ok(multipart))) => {
                    frames.fill_from(multipart);
                    return Poll::Ready(Some(Ok(())));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(None) => return Poll::Ready(None),
                // Registered with the reactor: sleep until the socket wakes it.
                Poll::Pending if !self.wakeup.due.load(Ordering::Acquire) => break,
                // Woken at once: the readiness was stale and is now cleared; look once more.
                Poll::Pending => {}
            }
        }
        self.idle = true;
        self.draining = false;
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::SocketKind;
    use std::time::Duration;

    #[test]
    fn a_backlog_is_bounded_by_bytes_as_well_as_by_count() {
        // tmq registers sockets with the reactor, so build them inside a runtime.
        actix_rt::System::new().block_on(async {
            // A PUSH with no peer: nothing leaves, everything waits in the backlog.
            let io = Io::open(
                SocketKind::Push,
                "inproc://backlog-bytes",
                true,
                Duration::ZERO,
                1 << 30,
                1,
                crate::net::Identity::default(),
            )
            .unwrap();
            let mut socket = Socket::new(io);
            let mib = vec![0u8; 1 << 20];
            let fits = BACKLOG_BYTES / mib.len();
            for _ in 0..fits {
                assert!(matches!(
                    socket.send("out", &[&mib]),
                    Ok(Sent::Queued { .. })
                ));
            }
            assert_eq!(socket.backlog_len(), fits);
            match socket.send("out", &[&mib]) {
                Err(Error::Full { alias, message }) => {
                    assert_eq!((alias.as_str(), message.len()), ("out", 1));
                    assert_eq!(message[0].len(), mib.len(), "the message is handed back");
                }
                other => panic!("expected Full, got {other:?}"),
            }
        });
    }
}
