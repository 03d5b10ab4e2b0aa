//! One owned ZeroMQ socket: opened through tmq, sent to without blocking,
//! received from in batches by the host.
//!
//! Sends take a fast path straight into libzmq (`DONTWAIT`); when the
//! high-water mark is reached the message waits in a bounded backlog that a
//! flush future drains through tmq as room appears. Order is kept: nothing
//! bypasses the backlog.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::{Sink, Stream};
use tmq::{AsZmqSocket, Multipart};

use crate::address::Kind;
use crate::error::{Error, Result};

/// libzmq's own size limit is this many times the agent's, as a memory guard.
pub const HARD_LIMIT_FACTOR: usize = 4;

/// Most messages a socket keeps waiting for high-water-mark room before `send` refuses.
pub const BACKLOG_LIMIT: usize = 100_000;

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

/// The tmq socket underneath an axon socket kind.
pub(crate) enum Io {
    /// REQ (and clients of the control plane): a DEALER, so requests never block the actor.
    Dealer(tmq::dealer::Dealer),
    /// REP and the control socket: a ROUTER, replies go back by routing id.
    Router(tmq::router::Router),
    Push(tmq::push::Push),
    Pull(tmq::pull::Pull),
    Pub(tmq::publish::Publish),
    Sub(tmq::subscribe::Subscribe),
}

impl Io {
    /// Opens a socket of `kind`, binding or connecting it to `endpoint`.
    ///
    /// libzmq drops connections that send messages over [`HARD_LIMIT_FACTOR`]
    /// times `max_message`; smaller oversized messages reach the host, which
    /// logs and counts them.
    pub(crate) fn open(
        kind: Kind,
        endpoint: &str,
        bind: bool,
        linger: Duration,
        max_message: usize,
        hwm: i32,
    ) -> Result<Io> {
        let ctx = crate::zmq_context();
        let linger = linger.as_millis().min(i32::MAX as u128) as i32;
        let hard_limit =
            i64::try_from(max_message.saturating_mul(HARD_LIMIT_FACTOR)).unwrap_or(i64::MAX);
        macro_rules! build {
            ($builder:expr) => {{
                let b = $builder
                    .set_linger(linger)
                    .set_maxmsgsize(hard_limit)
                    .set_sndhwm(hwm)
                    .set_rcvhwm(hwm);
                if bind {
                    b.bind(endpoint)?
                } else {
                    b.connect(endpoint)?
                }
            }};
        }
        Ok(match kind {
            Kind::Req | Kind::AsyncReq => Io::Dealer(build!(tmq::dealer(ctx))),
            Kind::Rep | Kind::AsyncRep => Io::Router(build!(tmq::router(ctx))),
            Kind::Push => Io::Push(build!(tmq::push(ctx))),
            Kind::Pull => Io::Pull(build!(tmq::pull(ctx))),
            Kind::Pub | Kind::SyncPub => {
                // Built by hand: the option that reports the mark has no builder setter.
                let mut socket = ctx.socket(zmq::PUB)?;
                socket.set_linger(linger)?;
                socket.set_maxmsgsize(hard_limit)?;
                socket.set_sndhwm(hwm)?;
                socket.set_rcvhwm(hwm)?;
                report_the_mark(&mut socket)?;
                if bind {
                    socket.bind(endpoint)?;
                } else {
                    socket.connect(endpoint)?;
                }
                Io::Pub(<tmq::publish::Publish as tmq::FromZmqSocket<_>>::from_zmq_socket(socket)?)
            }
            Kind::Sub | Kind::SyncSub => {
                // tmq wants a first topic; subscribe to all and take it back at once.
                let mut sub = build!(tmq::subscribe(ctx)).subscribe(b"")?;
                sub.unsubscribe(b"")?;
                Io::Sub(sub)
            }
        })
    }

    /// Whether messages can be received on it.
    pub(crate) fn receives(&self) -> bool {
        !matches!(self, Io::Push(_) | Io::Pub(_))
    }

    /// The libzmq socket.
    #[inline]
    pub(crate) fn raw(&self) -> &zmq::Socket {
        match self {
            Io::Dealer(s) => s.get_socket(),
            Io::Router(s) => s.get_socket(),
            Io::Push(s) => s.get_socket(),
            Io::Pull(s) => s.get_socket(),
            Io::Pub(s) => s.get_socket(),
            Io::Sub(s) => s.get_socket(),
        }
    }

    /// The endpoint actually bound (wildcard ports resolved).
    pub(crate) fn last_endpoint(&self) -> Result<String> {
        match self.raw().get_last_endpoint()? {
            Ok(e) => Ok(e),
            Err(bytes) => Err(Error::invalid(
                "endpoint",
                String::from_utf8_lossy(&bytes),
                "not UTF-8",
            )),
        }
    }

    /// Polls for the next received message.
    pub(crate) fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<tmq::Result<Multipart>>> {
        match self {
            Io::Dealer(s) => Pin::new(s).poll_next(cx),
            Io::Router(s) => Pin::new(s).poll_next(cx),
            Io::Pull(s) => Pin::new(s).poll_next(cx),
            Io::Sub(s) => Pin::new(s).poll_next(cx),
            Io::Push(_) | Io::Pub(_) => Poll::Pending,
        }
    }

    /// Tries to hand `frames` to libzmq at once; `Ok(false)` when the high-water mark is reached.
    #[inline]
    pub(crate) fn try_send_now(&self, frames: &[&[u8]]) -> Result<bool> {
        let socket = self.raw();
        let last = frames.len().saturating_sub(1);
        for (i, frame) in frames.iter().enumerate() {
            let flags = if i < last {
                zmq::DONTWAIT | zmq::SNDMORE
            } else {
                zmq::DONTWAIT
            };
            match socket.send(*frame, flags) {
                Ok(()) => {}
                // libzmq takes multipart messages atomically: EAGAIN only happens on the first frame.
                Err(zmq::Error::EAGAIN) if i == 0 => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(true)
    }

    fn poll_sink(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<Multipart>,
    ) -> Poll<tmq::Result<()>> {
        macro_rules! drive {
            ($s:expr) => {{
                let mut s = Pin::new($s);
                if let Some(m) = msg.take() {
                    match Sink::<Multipart>::poll_ready(s.as_mut(), cx) {
                        Poll::Ready(Ok(())) => s.as_mut().start_send(m)?,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => {
                            *msg = Some(m);
                            return Poll::Pending;
                        }
                    }
                }
                Sink::<Multipart>::poll_flush(s, cx)
            }};
        }
        match self {
            Io::Dealer(s) => drive!(s),
            Io::Router(s) => drive!(s),
            Io::Push(s) => drive!(s),
            Io::Pub(s) => drive!(s),
            Io::Pull(_) | Io::Sub(_) => Poll::Ready(Ok(())),
        }
    }
}

/// Makes a PUB socket refuse a message at the high-water mark instead of
/// dropping it silently, so that every drop can be counted.
fn report_the_mark(socket: &mut zmq::Socket) -> Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: the socket pointer is valid for the socket's lifetime; the option
    // value is a live c_int whose size is passed along.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            socket.as_mut_ptr(),
            zmq_sys::ZMQ_XPUB_NODROP as libc::c_int,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: zmq_errno only reads libzmq's thread-local error number.
        Err(Error::Transport(zmq::Error::from_raw(unsafe {
            zmq_sys::zmq_errno()
        })))
    }
}

/// Frames per message looked at without an allocation (REP envelopes with a few hops fit).
const INLINE_FRAMES: usize = 8;

/// The frames of one received message, in reused `zmq::Message` buffers.
#[derive(Default)]
pub(crate) struct Frames {
    parts: Vec<zmq::Message>,
    len: usize,
}

impl Frames {
    /// Runs `f` on the frames received, as byte slices.
    ///
    /// Every look at a `zmq::Message`'s bytes is two calls into libzmq
    /// (`zmq_msg_data`, `zmq_msg_size`), so each frame is looked at once
    /// here; up to [`INLINE_FRAMES`] views live on the stack.
    #[inline]
    pub(crate) fn with_views<R>(&self, f: impl FnOnce(&[&[u8]]) -> R) -> R {
        let parts = &self.parts[..self.len];
        if parts.len() <= INLINE_FRAMES {
            let mut views: [&[u8]; INLINE_FRAMES] = [&[]; INLINE_FRAMES];
            for (view, part) in views.iter_mut().zip(parts) {
                *view = part;
            }
            f(&views[..parts.len()])
        } else {
            let views: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            f(&views)
        }
    }

    /// Receives one whole message without blocking; `false` when none is waiting.
    #[inline]
    fn recv(&mut self, socket: &zmq::Socket) -> Result<bool> {
        self.len = 0;
        loop {
            if self.parts.len() == self.len {
                self.parts.push(zmq::Message::new());
            }
            // Later frames of a multipart message are already there: ZeroMQ delivers them atomically.
            let flags = if self.len == 0 { zmq::DONTWAIT } else { 0 };
            match socket.recv(&mut self.parts[self.len], flags) {
                Ok(()) => {
                    self.len += 1;
                    if !self.parts[self.len - 1].get_more() {
                        return Ok(true);
                    }
                }
                Err(zmq::Error::EAGAIN) if self.len == 0 => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn fill_from(&mut self, multipart: Multipart) {
        self.parts.clear();
        self.parts.extend(multipart);
        self.len = self.parts.len();
    }
}

/// Whether a socket's drain has something to look at.
///
/// actix polls every future of an actor whenever any of them is woken, so
/// without this every socket of an agent would try a receive (and libzmq a
/// `poll` system call or two) for every message any socket gets. The drain
/// registers this waker with the socket's readiness instead of the actor's,
/// and skips its socket until it is woken: by the reactor (the socket's fd
/// is ready) or by any other operation on the socket, since libzmq may then
/// have taken the readiness in (see [`Channel::touched`]).
struct Wakeup {
    due: AtomicBool,
    /// The actor's task waker.
    task: Mutex<Option<Waker>>,
}

impl Wakeup {
    /// Keeps the actor's waker current.
    fn follow(&self, waker: &Waker) {
        if let Ok(mut task) = self.task.lock() {
            if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
                *task = Some(waker.clone());
            }
        }
    }
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.store(true, Ordering::Release);
        if let Ok(task) = self.task.lock() {
            if let Some(t) = task.as_ref() {
                t.wake_by_ref();
            }
        }
    }
}

/// What became of a message given to [`Channel::send`].
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
pub(crate) struct Channel {
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
    /// A flush future is running: tmq may hold a message, so the fast path is closed.
    flushing: bool,
}

impl Channel {
    pub(crate) fn new(io: Io) -> Self {
        let on_full = match io {
            Io::Pub(_) => OnFull::Drop,
            _ => OnFull::Block,
        };
        let wakeup = Arc::new(Wakeup {
            due: AtomicBool::new(false),
            task: Mutex::new(None),
        });
        Channel {
            io,
            waker: Waker::from(wakeup.clone()),
            wakeup,
            idle: false,
            draining: false,
            on_full,
            backlog: VecDeque::new(),
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
        if self.backlog.len() >= BACKLOG_LIMIT {
            return Err(Error::Full {
                alias: alias.to_owned(),
                message: frames.iter().map(|f| f.to_vec()).collect(),
            });
        }
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
            match self.io.poll_sink(cx, &mut next) {
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
