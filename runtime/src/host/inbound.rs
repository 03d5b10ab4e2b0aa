//! Inbound data: from frames to handler calls, per pattern.
//!
//! Bad input never stops the agent: a message with the wrong layout, over
//! the size limit, or that does not decode is logged with agent and alias,
//! counted, and dropped (a REP requester gets an error answer).

use std::rc::Rc;

use actix::Context;

use super::Host;
use crate::agent::{Agent, HandlerError, HandlerErrorKind, HandlerFn, Message};
use crate::codec::Serializer;
use crate::error::{Error, ErrorKind, RemoteError};
use crate::net::{split_single_frame, Sent, SocketKind};
use crate::protocol::{encode_body, Dispatch, ERROR_MARKER};
use crate::sockets::is_header;
use crate::stats::{worth_logging, Count};

/// What a handler call came to.
pub(crate) enum Handled {
    /// The handler ran; `Some` holds the encoded reply when one was wanted.
    Ok(Option<Vec<u8>>),
    /// The handler ran and failed (already logged and counted).
    Failed(RemoteError),
    /// No handler was there to take the message (already logged and counted).
    Missing(RemoteError),
}

impl<A: Agent> Host<A> {
    /// Handles one message received on the data socket at `index`.
    #[inline]
    pub(super) fn on_data(&mut self, index: usize, frames: &[&[u8]], ctx: &mut Context<Self>) {
        let Some(slot) = self.sockets.slots.get(index).and_then(Option::as_ref) else {
            return;
        };
        let (kind, alias, serializer, reliable, companion) = (
            slot.address.kind,
            slot.alias.clone(),
            slot.address.serializer,
            slot.reliable.is_some(),
            slot.companion,
        );
        let size: usize = frames.iter().map(|f| f.len()).sum();
        if size > self.sockets.spec.defaults.max_message {
            return self.drop_oversized(index, frames, kind, &alias, size);
        }
        match kind {
            // A reliable PUSH or PULL's companion carries acknowledgements (or garbage).
            SocketKind::Push | SocketKind::Pull if companion => self.on_acks(index, frames, ctx),
            SocketKind::Pull if reliable => {
                self.on_reliable_pull(index, &alias, serializer, frames, ctx)
            }
            SocketKind::Pull => self.on_pull(index, &alias, serializer, frames, ctx),
            SocketKind::Sub => self.on_sub(index, &alias, serializer, frames, ctx),
            SocketKind::Rep | SocketKind::AsyncRep => {
                self.on_rep(index, &alias, serializer, frames, ctx)
            }
            SocketKind::Req | SocketKind::AsyncReq => {
                self.on_req_reply(index, &alias, serializer, frames, ctx)
            }
            SocketKind::SyncPub => self.on_sync_request(index, &alias, serializer, frames, ctx),
            SocketKind::SyncSub => self.on_sync_stream(index, &alias, serializer, frames, ctx),
            SocketKind::Push | SocketKind::Pub => {}
        }
    }

    /// Logs, counts and drops a message over the size limit; a REP requester gets an error answer.
    #[cold]
    #[inline(never)]
    fn drop_oversized(
        &mut self,
        index: usize,
        frames: &[&[u8]],
        kind: SocketKind,
        alias: &str,
        size: usize,
    ) {
        let limit = self.sockets.spec.defaults.max_message;
        let count = self.sockets.count(Count::Oversized);
        if worth_logging(count) {
            tracing::warn!(agent = %self.sockets.name(), alias, size, limit, count, "message over the size limit dropped");
        }
        if kind == SocketKind::Rep {
            let message = format!("message of {size} bytes exceeds the limit of {limit} bytes");
            self.answer_rep_error(index, frames, ErrorKind::BadRequest, alias, message);
        }
    }

    #[inline]
    fn on_pull(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        if frames.len() != 1 {
            if frames.len() == 2 && is_header(frames[0]) {
                let what =
                    "a reliable message on a plain PULL (connect or bind it with reliable = true)";
                return self.malformed(alias, what, frames.len());
            }
            return self.malformed(alias, "expected one frame", frames.len());
        }
        self.run_pull_handler(index, alias, serializer, frames[0], ctx);
    }

    /// Runs the handler of the PULL at `index` on `payload`.
    #[inline]
    pub(super) fn run_pull_handler(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        payload: &[u8],
        ctx: &mut Context<Self>,
    ) -> Handled {
        let handler = self.sockets.slots[index]
            .as_ref()
            .and_then(|s| s.handler.clone());
        let msg = Message::new(alias, None, payload, serializer);
        self.run_slot_handler(handler, msg, ctx)
    }

    #[inline]
    pub(super) fn on_sub(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let (matched, topic, payload) = match frames.len() {
            2 => (frames[0], Some(frames[0]), frames[1]),
            // One frame (osBrain's layout, or a plain publisher's payload): matched whole, as
            // ZeroMQ filtered it, and split by osBrain's rule (net::framing).
            1 => {
                let (topic, payload) = split_single_frame(frames[0], serializer);
                (frames[0], topic, payload)
            }
            n => return self.malformed(alias, "expected topic and payload frames", n),
        };
        let msg = Message::new(alias, topic, payload, serializer);
        let handler = match self.sockets.slots[index].as_ref() {
            Some(slot) if slot.dispatch == Dispatch::All => {
                return self.run_each_handler(slot.handlers_for(matched), msg, ctx)
            }
            Some(slot) => slot.handler_for(matched),
            None => return,
        };
        self.run_slot_handler(handler, msg, ctx);
    }

    /// Runs every handler on `msg` in turn; each failure is logged and counted, and the rest still run.
    fn run_each_handler(
        &mut self,
        handlers: Vec<Option<Rc<str>>>,
        msg: Message<'_>,
        ctx: &mut Context<Self>,
    ) {
        for handler in handlers {
            self.run_slot_handler(handler, msg, ctx);
        }
    }

    fn on_rep(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let Some(delim) = frames.iter().position(|f| f.is_empty()) else {
            return self.malformed(alias, "request without envelope delimiter", frames.len());
        };
        let body = frames.len() - delim - 1;
        if body != 1 {
            let count = self.sockets.count(Count::Malformed);
            let message = format!("expected one payload frame, got {body}");
            if worth_logging(count) {
                tracing::warn!(agent = %self.sockets.name(), alias = %alias, body, count, "malformed request");
            }
            return self.answer_rep_error(index, frames, ErrorKind::BadRequest, alias, message);
        }
        let handler = self.sockets.slots[index]
            .as_ref()
            .and_then(|s| s.handler.clone());
        let msg = Message::new(alias, None, frames[delim + 1], serializer).expecting_reply();
        let reply = match self.run_slot_handler(handler, msg, ctx) {
            Handled::Ok(reply) => reply.unwrap_or_default(),
            Handled::Failed(e) | Handled::Missing(e) => {
                return self.answer_rep_failure(index, frames, e)
            }
        };
        let mut out: Vec<&[u8]> = frames.iter().take(delim + 1).map(|f| &f[..]).collect();
        out.push(&reply);
        self.send_raw(index, &out, ctx);
    }

    fn answer_rep_error(
        &mut self,
        index: usize,
        frames: &[&[u8]],
        kind: ErrorKind,
        alias: &str,
        message: String,
    ) {
        let error = self.sockets.remote_error(kind, alias, message);
        self.answer_rep_failure(index, frames, error);
    }

    /// Answers a REP request with `error`, so the requester never hangs.
    fn answer_rep_failure(&mut self, index: usize, frames: &[&[u8]], error: RemoteError) {
        let alias = error.method.clone();
        let Some(delim) = frames.iter().position(|f| f.is_empty()) else {
            return;
        };
        let body = match encode_body(&error) {
            Ok(b) => b,
            Err(e) => {
                return tracing::warn!(agent = %self.sockets.spec.name, alias = %alias, error = %e, "could not encode an error answer")
            }
        };
        let mut out: Vec<&[u8]> = frames.iter().take(delim + 1).map(|f| &f[..]).collect();
        out.push(ERROR_MARKER);
        out.push(&body);
        if let Some(slot) = self.sockets.slots[index].as_mut() {
            // Error answers are rare; if the peer's queue is full the answer is dropped with a warning.
            if let Err(e) = slot.socket.try_send_now(&out) {
                tracing::warn!(agent = %self.sockets.spec.name, alias = %alias, error = %e, "could not answer request");
            }
        }
    }

    fn on_req_reply(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let id = match frames.len() {
            3 | 4 if frames[1].is_empty() => request_id(frames[0]),
            _ => None,
        };
        let Some(id) = id else {
            return self.malformed(alias, "reply without request id", frames.len());
        };
        self.on_reply(index, alias, serializer, id, &frames[2..], ctx);
    }

    /// Runs a socket's handler on `msg` (see [`Host::call`]), finding it by pointer when the
    /// socket named the same handler last time.
    #[inline]
    pub(super) fn run_slot_handler(
        &mut self,
        handler: Option<Rc<str>>,
        msg: Message<'_>,
        ctx: &mut Context<Self>,
    ) -> Handled {
        let Some(name) = handler else {
            return self.run_handler(None, msg, ctx);
        };
        let f = match &self.last_handler {
            Some((last, f)) if Rc::ptr_eq(last, &name) => f.clone(),
            _ => match self.handlers.get(&name) {
                Some(f) => {
                    self.last_handler = Some((name.clone(), f.clone()));
                    f
                }
                // Not compiled: a script function, or a missing handler (run_handler tells).
                None => return self.run_handler(Some(&name), msg, ctx),
            },
        };
        self.invoke(&name, &f, msg, ctx)
    }

    /// Runs the named handler on `msg`, logging and counting failures.
    pub(super) fn run_handler(
        &mut self,
        handler: Option<&str>,
        msg: Message<'_>,
        ctx: &mut Context<Self>,
    ) -> Handled {
        let alias = msg.alias();
        let Some(name) = handler else {
            self.sockets.count(Count::Unhandled);
            tracing::warn!(agent = %self.sockets.spec.name, alias, "message with no handler dropped");
            return Handled::Missing(self.sockets.remote_error(
                ErrorKind::NotFound,
                alias,
                "no handler for this message",
            ));
        };
        let Some(f) = self.handlers.get(name) else {
            if let Some(arity) = self.script_arity(name, msg.topic().is_some()) {
                return self.run_script_handler(name, arity, msg, ctx);
            }
            self.sockets.count(Count::Unhandled);
            tracing::warn!(agent = %self.sockets.spec.name, alias, handler = name, "unknown handler");
            return Handled::Missing(self.sockets.remote_error(
                ErrorKind::NotFound,
                name,
                "no such handler",
            ));
        };
        self.invoke(name, &f, msg, ctx)
    }

    // Always inlined: it runs for every message, and a call would cost as much as its body.
    #[inline(always)]
    fn invoke(
        &mut self,
        name: &str,
        f: &Rc<HandlerFn<A>>,
        msg: Message<'_>,
        ctx: &mut Context<Self>,
    ) -> Handled {
        self.sockets.count(Count::Received);
        let result = self.with_ctx(ctx, |agent, c| f(agent, c, msg));
        match result {
            Ok(reply) => Handled::Ok(reply),
            Err(e) => Handled::Failed(self.handler_failed(name, &msg, e)),
        }
    }

    /// Logs and counts a handler's failure; the error a requester gets back.
    #[cold]
    #[inline(never)]
    pub(super) fn handler_failed(
        &mut self,
        name: &str,
        msg: &Message<'_>,
        e: HandlerError,
    ) -> RemoteError {
        let alias = msg.alias();
        if e.kind() == HandlerErrorKind::Decode {
            let count = self.sockets.count(Count::DecodeError);
            if worth_logging(count) {
                tracing::warn!(agent = %self.sockets.spec.name, alias, handler = name, serializer = %msg.serializer(), error = %e, count, "message does not decode");
            }
            self.sockets.remote_error(ErrorKind::BadRequest, name, e)
        } else {
            self.sockets.count(Count::HandlerError);
            tracing::warn!(agent = %self.sockets.spec.name, alias, handler = name, error = %e, "handler failed");
            self.sockets.remote_error(ErrorKind::Handler, name, e)
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn malformed(&mut self, alias: &str, what: &'static str, frames: usize) {
        let count = self.sockets.count(Count::Malformed);
        if worth_logging(count) {
            tracing::warn!(agent = %self.sockets.spec.name, alias, frames, count, "malformed message dropped: {what}");
        }
    }

    /// Sends frames on the socket at `index`, starting a flush if they had to wait.
    pub(super) fn send_raw(&mut self, index: usize, frames: &[&[u8]], ctx: &mut Context<Self>) {
        let Some(slot) = self.sockets.slots[index].as_mut() else {
            return;
        };
        let sent = slot.socket.send(&slot.alias, frames);
        if let Err(e) = &sent {
            tracing::warn!(agent = %self.sockets.spec.name, alias = %slot.alias, error = %e, "reply not sent");
            // count_send counts only a full socket; a reply lost to any other error counts there too.
            if !matches!(e, Error::Full { .. }) {
                self.sockets.count_on(Some(index), Count::DroppedFull);
            }
        }
        // A reply is counted as a `send` is: sent, dropped at the mark, or full.
        self.sockets.count_send(index, &sent);
        if matches!(sent, Ok(Sent::Queued { start_flush: true })) {
            super::drain::start_flush(&self.sockets, ctx, index)
        }
    }
}

/// Whether a REQ reply is a value or an error answer.
/// A request id frame: 8 bytes, big-endian.
pub(super) fn request_id(frame: &[u8]) -> Option<u64> {
    frame.try_into().ok().map(u64::from_be_bytes)
}
