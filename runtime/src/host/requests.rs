//! Requests and their replies, and osBrain's two channels.
//!
//! - ASYNC_REQ (and REQ): each request carries an id; its reply goes to the
//!   handler given with the request (else the socket's); a `wait` bounds
//!   the wait, after which `on_error` runs once and a late reply is logged
//!   as unknown.
//! - SYNC_PUB / SYNC_SUB: the publisher binds its stream (PUB) and a
//!   requests socket (ROUTER); a subscriber's request goes to the latter and
//!   the handler's value is published on the stream under that subscriber's
//!   own reply topic, so it arrives in order with the stream and only there.

use std::rc::Rc;
use std::time::Duration;

use actix::{AsyncContext, Context};

use super::control::Caller;
use super::inbound::{request_id, Handled};
use super::Host;
use crate::agent::{Agent, Message};
use crate::codec::{Serializer, Value};
use crate::error::{Error, ErrorKind, RemoteError, Result};
use crate::protocol::{decode_body, encode_body, ERROR_MARKER};
use crate::sockets::{Sockets, Waiter};
use crate::stats::Count;

/// Gives up on request `id` of `alias` if no reply came within `wait`.
pub(super) fn expire_after<A: Agent>(
    sockets: &Sockets,
    actor: &mut Context<Host<A>>,
    alias: &str,
    id: u64,
    wait: Duration,
) {
    let Some((index, generation)) = sockets
        .index(alias)
        .ok()
        .and_then(|i| Some((i, sockets.slots[i].as_ref()?.generation)))
    else {
        return;
    };
    actor.run_later(wait, move |host, actor| {
        host.request_expired(index, generation, id, wait, actor)
    });
}

impl<A: Agent> Host<A> {
    /// No reply came in time: a control caller gets a timeout error, a handler
    /// request runs `on_error` once; a reply arriving later is dropped as unknown.
    fn request_expired(
        &mut self,
        index: usize,
        generation: u64,
        id: u64,
        wait: Duration,
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.sockets.live_slot(index, generation) else {
            return;
        };
        let (alias, serializer) = (slot.alias.clone(), slot.address.serializer);
        let Some(waiter) = slot.waiting.remove(&id) else {
            return;
        };
        tracing::warn!(agent = %self.sockets.spec.name, alias = %alias, id, "no reply within the wait");
        match waiter {
            Waiter::Control { route, id } => {
                let message = format!("no reply within {wait:?}");
                let e = self
                    .sockets
                    .remote_error(ErrorKind::Timeout, "request", message);
                self.answer(&Caller::new(route, id), Err(e));
            }
            Waiter::Handler {
                on_error: Some(on_error),
                request,
                ..
            } => {
                let msg = Message::new(&alias, None, &request, serializer);
                self.run_handler(Some(&on_error), msg, ctx);
            }
            Waiter::Handler { on_error: None, .. } => {}
        }
    }

    /// A reply (`body` = `[payload]` or `[ERROR_MARKER, error]`) to request `id` of the socket at `index`.
    pub(super) fn on_reply(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        id: u64,
        body: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.sockets.slots[index].as_mut() else {
            return;
        };
        let Some(waiter) = slot.waiting.remove(&id) else {
            self.sockets.count(Count::Unhandled);
            tracing::warn!(agent = %self.sockets.spec.name, alias = %alias, id, "reply to an unknown request dropped");
            return;
        };
        let socket_handler = slot.handler.clone();
        let outcome = reply_outcome(body);
        match waiter {
            Waiter::Control { route, id } => {
                let value = outcome.and_then(|()| decode_value(body, serializer));
                self.answer(&Caller::new(route, id), value);
            }
            Waiter::Handler { handler, .. } => match outcome {
                Ok(()) => {
                    let msg = Message::new(alias, None, body[0], serializer);
                    self.run_handler(
                        handler.map(Rc::from).or(socket_handler).as_deref(),
                        msg,
                        ctx,
                    );
                }
                Err(e) => {
                    self.sockets.count(Count::HandlerError);
                    tracing::warn!(agent = %self.sockets.spec.name, alias = %alias, error = %e, "request failed at the replier");
                }
            },
        }
    }

    /// SYNC_PUB's requests side got `[route, reply topic, id, "", payload]`: answer on the stream.
    pub(super) fn on_sync_request(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let id = match frames.len() {
            5 if frames[3].is_empty() => request_id(frames[2]),
            _ => None,
        };
        let (Some(id), Some(slot)) = (id, self.sockets.slots[index].as_ref()) else {
            return self.malformed(
                alias,
                "SYNC_PUB request without reply topic and id",
                frames.len(),
            );
        };
        let (handler, stream) = (slot.handler.clone(), slot.partner);
        let msg = Message::new(alias, None, frames[4], serializer).expecting_reply();
        let answer = match self.run_handler(handler.as_deref(), msg, ctx) {
            Handled::Ok(reply) => Ok(reply.unwrap_or_default()),
            Handled::Failed(e) | Handled::Missing(e) => Err(encode_body(&e).unwrap_or_default()),
        };
        let Some(stream) = stream else { return };
        let id = id.to_be_bytes();
        match &answer {
            Ok(reply) => self.send_raw(stream, &[frames[1], &id, reply], ctx),
            Err(error) => self.send_raw(stream, &[frames[1], &id, ERROR_MARKER, error], ctx),
        }
    }

    /// SYNC_SUB's stream: replies under its own topic, everything else as on a SUB.
    pub(super) fn on_sync_stream(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let Some(slot) = self.sockets.slots[index].as_ref() else {
            return;
        };
        // Nothing arrives on the hidden requests side: the publisher answers on its stream.
        if slot.companion {
            return;
        }
        let is_reply = frames.len() >= 3 && frames[0][..] == slot.reply_topic[..];
        if !is_reply {
            return self.on_sub(index, alias, serializer, frames, ctx);
        }
        match request_id(frames[1]) {
            Some(id) => self.on_reply(index, alias, serializer, id, &frames[2..], ctx),
            None => self.malformed(alias, "reply without request id", frames.len()),
        }
    }
}

/// Whether a reply body is a value or an error answer.
fn reply_outcome(body: &[&[u8]]) -> Result<(), RemoteError> {
    match body {
        [marker, error] if marker[..] == *ERROR_MARKER => {
            Err(decode_body(error).unwrap_or_else(|e| RemoteError {
                kind: ErrorKind::BadRequest,
                message: format!("undecodable error answer: {e}"),
                agent: String::new(),
                method: String::new(),
            }))
        }
        [_] => Ok(()),
        _ => Err(RemoteError {
            kind: ErrorKind::BadRequest,
            message: format!("reply of {} frames", body.len()),
            agent: String::new(),
            method: String::new(),
        }),
    }
}

fn decode_value(body: &[&[u8]], serializer: Serializer) -> Result<Value, RemoteError> {
    serializer
        .decode::<Value>(body[0])
        .map_err(|e: Error| RemoteError {
            kind: ErrorKind::BadRequest,
            message: e.to_string(),
            agent: String::new(),
            method: "request".into(),
        })
}
