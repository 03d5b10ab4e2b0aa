//! The tmq socket underneath each socket kind, opened with axon's options.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{Sink, Stream};
use tmq::{AsZmqSocket, Multipart};

use super::kind::SocketKind;
use crate::error::{Error, Result};

/// libzmq's own size limit is this many times the agent's, as a memory guard.
pub const HARD_LIMIT_FACTOR: usize = 4;

/// Who a socket is to its peers: its CURVE keys, and its routing id (a DEALER a ROUTER
/// addresses by name). None of either by default.
#[derive(Default)]
pub(crate) struct Identity<'a> {
    /// CURVE server or client keys.
    pub(crate) curve: Option<super::curve::Curve<'a>>,
    /// `ZMQ_ROUTING_ID`.
    pub(crate) routing_id: Option<&'a [u8]>,
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
        kind: SocketKind,
        endpoint: &str,
        bind: bool,
        linger: Duration,
        max_message: usize,
        hwm: i32,
        who: Identity<'_>,
    ) -> Result<Io> {
        let Identity { curve, routing_id } = who;
        super::check_endpoint(endpoint)?;
        let ctx = crate::net::zmq_context();
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
                let b = match routing_id {
                    Some(id) => b.set_identity(id),
                    None => b,
                };
                let b = match curve {
                    None => b,
                    Some(super::curve::Curve::Server { secret }) => {
                        b.set_curve_server(true).set_curve_secretkey(secret)
                    }
                    Some(super::curve::Curve::Client {
                        server_public,
                        public,
                        secret,
                    }) => b
                        .set_curve_serverkey(server_public)
                        .set_curve_publickey(public)
                        .set_curve_secretkey(secret),
                };
                if bind {
                    b.bind(endpoint)?
                } else {
                    b.connect(endpoint)?
                }
            }};
        }
        Ok(match kind {
            SocketKind::Req | SocketKind::AsyncReq => Io::Dealer(build!(tmq::dealer(ctx))),
            SocketKind::Rep | SocketKind::AsyncRep => Io::Router(build!(tmq::router(ctx))),
            SocketKind::Push => Io::Push(build!(tmq::push(ctx))),
            SocketKind::Pull => Io::Pull(build!(tmq::pull(ctx))),
            SocketKind::Pub | SocketKind::SyncPub => {
                // Built by hand: the option that reports the mark has no builder setter.
                let mut socket = ctx.socket(zmq::PUB)?;
                socket.set_linger(linger)?;
                socket.set_maxmsgsize(hard_limit)?;
                socket.set_sndhwm(hwm)?;
                socket.set_rcvhwm(hwm)?;
                match curve {
                    None => {}
                    Some(super::curve::Curve::Server { secret }) => {
                        socket.set_curve_server(true)?;
                        socket.set_curve_secretkey(secret)?;
                    }
                    Some(super::curve::Curve::Client {
                        server_public,
                        public,
                        secret,
                    }) => {
                        socket.set_curve_serverkey(server_public)?;
                        socket.set_curve_publickey(public)?;
                        socket.set_curve_secretkey(secret)?;
                    }
                }
                report_the_mark(&mut socket)?;
                if bind {
                    socket.bind(endpoint)?;
                } else {
                    socket.connect(endpoint)?;
                }
                Io::Pub(<tmq::publish::Publish as tmq::FromZmqSocket<_>>::from_zmq_socket(socket)?)
            }
            SocketKind::Sub | SocketKind::SyncSub => {
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
        // One frame (PUSH, and most payloads): no flags to work out.
        if let [frame] = frames {
            return match socket.send(*frame, zmq::DONTWAIT) {
                Ok(()) => Ok(true),
                Err(zmq::Error::EAGAIN) => Ok(false),
                Err(e) => Err(e.into()),
            };
        }
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

    pub(super) fn poll_sink(
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
pub(crate) fn report_the_mark(socket: &mut zmq::Socket) -> Result<()> {
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
