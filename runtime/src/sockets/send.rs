//! Sending from a socket: encoded values, requests, and the counters they move.

use serde::Serialize;

use super::{Sockets, Waiter};
use crate::error::{Error, Result};
use crate::net::{Framing, Sent, SocketKind};
use crate::sockets::SocketKey;
use crate::stats::Count;

impl Sockets {
    /// Encodes `value` with the socket's serializer and sends it.
    ///
    /// On request kinds (REQ, ASYNC_REQ, SYNC_SUB) it is a request whose reply
    /// goes to the socket's handler. Returns the slot whose backlog needs a flush.
    pub(crate) fn send<T: Serialize + ?Sized>(
        &mut self,
        socket: SocketKey<'_>,
        topic: Option<&[u8]>,
        value: &T,
    ) -> Result<Option<usize>> {
        let (index, slot) = self.find(socket)?;
        if slot.address.kind.requests() {
            let alias = slot.alias.clone();
            let (_, flush) = self.request(&alias, value, Waiter::socket_handler())?;
            return Ok(flush);
        }
        let mut buf = std::mem::take(&mut self.encode_buf);
        let result = self.send_encoded(index, topic, value, &mut buf);
        self.encode_buf = buf;
        result.map(|start| start.then_some(index))
    }

    fn send_encoded<T: Serialize + ?Sized>(
        &mut self,
        index: usize,
        topic: Option<&[u8]>,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<bool> {
        let Some(slot) = self.slots[index].as_mut() else {
            return Err(Error::UnknownAlias(String::new()));
        };
        slot.address.serializer.encode_into(value, buf)?;
        let result = match slot.address.kind {
            SocketKind::Push if slot.reliable.is_some() => Self::send_reliable(slot, buf),
            SocketKind::Push => slot.socket.send(&slot.alias, &[buf]),
            SocketKind::Pub if slot.framing == Framing::Osbrain => {
                let serializer = slot.address.serializer;
                crate::net::prepend_topic(topic.unwrap_or(b""), serializer, buf);
                slot.socket.send(&slot.alias, &[buf])
            }
            SocketKind::Pub | SocketKind::SyncPub => {
                slot.socket.send(&slot.alias, &[topic.unwrap_or(b""), buf])
            }
            kind => Err(Error::WrongKind {
                alias: slot.alias.to_string(),
                kind: kind.as_str(),
                reason: "cannot send on it".into(),
            }),
        };
        self.count_send(index, &result);
        result.map(Sent::start_flush)
    }

    /// Counts the outcome of a send on the socket at `index`: sent, dropped at the mark, or full.
    #[inline]
    pub(crate) fn count_send(&mut self, index: usize, result: &Result<Sent>) {
        match result {
            Ok(Sent::Dropped) => self.count_drop(index),
            Ok(_) => {
                self.count_on(Some(index), Count::Sent);
            }
            Err(Error::Full { .. }) => {
                self.count_on(Some(index), Count::DroppedFull);
            }
            Err(_) => {}
        }
    }

    /// Counts a message dropped at the high-water mark of the socket at `index`.
    pub(crate) fn count_drop(&mut self, index: usize) {
        let dropped = self.count_on(Some(index), Count::DroppedHwm);
        if crate::stats::worth_logging(dropped) {
            let alias = self.slots[index].as_ref().map(|s| s.alias.clone());
            tracing::warn!(agent = %self.spec.name, alias = ?alias, dropped, "messages dropped at the high-water mark");
        }
    }

    /// Sends a request whose reply goes to `waiter`.
    ///
    /// Returns the request id and the slot whose backlog needs a flush.
    pub(crate) fn request<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        value: &T,
        mut waiter: Waiter,
    ) -> Result<(u64, Option<usize>)> {
        let index = self.index(alias)?;
        let slot = self.slots[index]
            .as_mut()
            .ok_or_else(|| Error::UnknownAlias(alias.to_owned()))?;
        let kind = slot.address.kind;
        if !kind.requests() {
            let reason = "requests go on REQ, ASYNC_REQ or SYNC_SUB sockets".into();
            return Err(Error::WrongKind {
                alias: alias.to_owned(),
                kind: kind.as_str(),
                reason,
            });
        }
        if matches!(waiter, Waiter::Handler { handler: None, .. }) && slot.handler.is_none() {
            let why = "a request needs a reply handler: give one with the request or to the socket";
            return Err(Error::invalid("request", alias, why));
        }
        let payload = slot.address.serializer.encode(value)?;
        let id = slot.next_request;
        slot.next_request += 1;
        if let Waiter::Handler {
            on_error: Some(_),
            request,
            ..
        } = &mut waiter
        {
            request.clone_from(&payload);
        }
        let (target, reply_topic) = (slot.partner.unwrap_or(index), slot.reply_topic.clone());
        let forgotten = slot.waiting.insert(id, waiter, std::time::Instant::now());
        if forgotten > 0 {
            self.stats.requests_forgotten += forgotten;
            tracing::warn!(agent = %self.spec.name, alias, forgotten, "old requests forgotten unanswered (too many, or too old)");
        }
        let result = self.send_request_frames(target, kind, &reply_topic, id, &payload);
        if result.is_err() {
            if let Some(slot) = self.slots[index].as_mut() {
                slot.waiting.remove(&id);
            }
        }
        // A dropped request is counted; its waiter times out as for any lost request.
        self.count_send(target, &result);
        Ok((id, result?.start_flush().then_some(target)))
    }

    fn send_request_frames(
        &mut self,
        target: usize,
        kind: SocketKind,
        reply_topic: &[u8],
        id: u64,
        payload: &[u8],
    ) -> Result<Sent> {
        let chan = self.slots[target]
            .as_mut()
            .ok_or_else(|| Error::UnknownAlias(String::new()))?;
        let id = id.to_be_bytes();
        match kind {
            // The publisher answers on its stream, under this subscriber's own topic.
            SocketKind::SyncSub => chan
                .socket
                .send(&chan.alias, &[reply_topic, &id, b"", payload]),
            _ => chan.socket.send(&chan.alias, &[&id, b"", payload]),
        }
    }
}
