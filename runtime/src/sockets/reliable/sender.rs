//! The sending end: a send keeps the message and sends it within the
//! window; an acknowledgement takes messages out (or, negative, sends them
//! again or gives them up); a tick sends again what timed out.

use std::time::Instant;

use super::wire::{Ack, Header, Verdict};
use super::{Reliable, Sender};
use crate::codec::hex::encode as hex_payload;
use crate::error::{Error, Result};
use crate::net::{Sent, Socket};
use crate::sockets::{Slot, Sockets};
use crate::stats::worth_logging;

impl Sockets {
    /// Keeps `payload` in the outbox of the reliable PUSH `slot` and sends what the window allows.
    ///
    /// A full outbox refuses with [`Error::Full`], handing the message back.
    pub(crate) fn send_reliable(slot: &mut Slot, payload: &[u8]) -> Result<Sent> {
        let Some((s, socket, alias)) = sender_of(slot) else {
            return Err(Error::invalid(
                "reliable",
                &*slot.alias,
                "not a reliable sender",
            ));
        };
        if s.outbox.len() >= s.opts.outbox_messages
            || s.outbox.bytes() + payload.len() > s.opts.outbox_bytes
        {
            return Err(Error::Full {
                alias: alias.to_string(),
                message: vec![payload.to_vec()],
            });
        }
        if let Some(log) = &mut s.log {
            // Recorded before it is sent: a crash after the send finds it in the file.
            log.message(s.outbox.next_seq(), payload)?;
        }
        s.outbox.push(payload);
        Ok(match pump(s, socket, alias) {
            true => Sent::Queued { start_flush: true },
            false => Sent::Now,
        })
    }

    /// Applies what arrived on the companion at `index` of a reliable socket; returns the
    /// indexes of sockets whose backlog needs a flush (dead letters sent on).
    pub(crate) fn on_acks(&mut self, index: usize, frames: &[&[u8]]) -> Vec<usize> {
        let Some(main) = self.slots[index].as_ref().and_then(|s| s.partner) else {
            return Vec::new();
        };
        let Some(slot) = self.slots[main].as_mut() else {
            return Vec::new();
        };
        let Slot {
            socket,
            reliable,
            alias,
            ..
        } = slot;
        let flush;
        // A ROUTER's message opens with its sender's routing id; a DEALER's does not.
        let frame = match frames {
            [ack] | [_, ack] => Ack::parse(ack),
            _ => Err("not one acknowledgement frame"),
        };
        let dead = match reliable.as_deref_mut() {
            Some(Reliable::Sender(s)) => match frame.and_then(|ack| s.apply(&ack)) {
                Ok(dead) => {
                    flush = pump(s, socket, alias);
                    dead
                }
                Err(why) => return garbage(&self.spec.name, alias, &mut s.stats.garbage_acks, why),
            },
            Some(Reliable::Receiver(r)) => {
                let why = "a receiver takes no acknowledgements";
                return garbage(&self.spec.name, alias, &mut r.stats.garbage_acks, why);
            }
            None => return Vec::new(),
        };
        let (alias, to) = (alias.clone(), dead_letter_alias(reliable));
        let mut flushes: Vec<usize> = dead
            .into_iter()
            .filter_map(|(seq, payload)| self.dead_letter(&alias, to.as_deref(), seq, &payload))
            .collect();
        if flush {
            flushes.push(main);
        }
        flushes
    }

    /// Sends on again, oldest first, what waited too long for its acknowledgement (or
    /// everything in flight, when a receiver connected again), and makes a durable outbox's
    /// writes durable; true when the socket's backlog needs a flush.
    pub(crate) fn reliable_tick(&mut self, index: usize) -> bool {
        let Some((s, socket, alias)) = self.slots[index].as_mut().and_then(sender_of) else {
            return false;
        };
        // A receiver that came back gets what was in flight now, not after the timeout.
        // Every watch is read: events left unread would count at the next tick.
        let back = s
            .watch
            .iter_mut()
            .fold(false, |back, w| w.reconnected() | back);
        let timeout = match back {
            true => {
                tracing::debug!(agent = %self.spec.name, alias = %alias, in_flight = s.outbox.in_flight(), "a receiver connected again: sending what was in flight");
                std::time::Duration::ZERO
            }
            false => s.opts.ack_timeout(),
        };
        s.outbox.expire(Instant::now(), timeout);
        let flush = pump(s, socket, alias);
        if let Some(log) = &mut s.log {
            if let Err(e) = log.sync(&s.outbox) {
                tracing::warn!(agent = %self.spec.name, alias = %alias, error = %e, "durable outbox not synced");
            }
        }
        flush
    }

    /// Gives up a message: sends it on the dead-letter socket `to`, else logs it in hex.
    fn dead_letter(
        &mut self,
        alias: &str,
        to: Option<&str>,
        seq: u64,
        payload: &[u8],
    ) -> Option<usize> {
        let Some(to) = to else {
            tracing::warn!(agent = %self.spec.name, alias, seq, payload = %hex_payload(payload), "message dead-lettered: its handler failed on every attempt");
            return None;
        };
        match self.forward(to, payload) {
            Ok(flush) => flush,
            Err(e) => {
                tracing::warn!(agent = %self.spec.name, alias, seq, dead_letter = to, error = %e, payload = %hex_payload(payload), "dead letter not sent; logged here");
                None
            }
        }
    }

    /// Sends an encoded payload as it is on the PUSH `alias` (plain or reliable); returns
    /// the slot whose backlog needs a flush.
    fn forward(&mut self, alias: &str, payload: &[u8]) -> Result<Option<usize>> {
        let index = self.index(alias)?;
        let slot = self.slots[index]
            .as_mut()
            .ok_or_else(|| Error::UnknownAlias(alias.to_owned()))?;
        let sent = match (&slot.reliable, slot.address.kind) {
            (Some(_), _) => Self::send_reliable(slot, payload),
            (None, crate::net::SocketKind::Push) => slot.socket.send(&slot.alias, &[payload]),
            (None, kind) => Err(Error::WrongKind {
                alias: alias.to_owned(),
                kind: kind.as_str(),
                reason: "a dead-letter socket is a PUSH".into(),
            }),
        };
        self.count_send(index, &sent);
        Ok(sent?.start_flush().then_some(index))
    }
}

impl Sender {
    /// Applies one acknowledgement; the dead letters it made, or why it is garbage.
    fn apply(&mut self, ack: &Ack) -> std::result::Result<Vec<(u64, Vec<u8>)>, &'static str> {
        if ack.incarnation != self.outbox.incarnation {
            return Err("acknowledges another incarnation");
        }
        if ack
            .ranges
            .iter()
            .any(|&(_, last)| self.outbox.out_of_range(last))
        {
            return Err("acknowledges a sequence never sent");
        }
        let mut dead = Vec::new();
        for &(first, last) in &ack.ranges {
            match ack.verdict {
                Verdict::Ack => {
                    self.stats.acked += self.outbox.ack(first, last) as u64;
                    self.record_done(first, last);
                }
                Verdict::Nack => {
                    self.stats.nacked += last - first + 1;
                    let applied = self.outbox.nack(first, last, self.opts.max_attempts);
                    for (seq, _) in &applied.dead {
                        self.record_done(*seq, *seq);
                    }
                    dead.extend(applied.dead);
                }
            }
        }
        self.stats.dead_lettered += dead.len() as u64;
        Ok(dead)
    }

    fn record_done(&mut self, first: u64, last: u64) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.done(first, last) {
                tracing::warn!(error = %e, first, last, "durable outbox: acknowledgement not recorded (the messages may be sent again after a restart)");
            }
        }
    }
}

/// Sends the outbox's waiting messages, oldest first, while the window has room; true when
/// the socket's backlog needs a flush.
///
/// Through the socket's own backlog at the high-water mark: libzmq reports room again only
/// through its readiness, which the backlog's flush waits on (an acknowledgement may not come
/// before it, when everything sent was acknowledged).
fn pump(s: &mut Sender, socket: &mut Socket, alias: &str) -> bool {
    let (window, now) = (s.opts.window as usize, Instant::now());
    let (incarnation, floor) = (s.outbox.incarnation, s.outbox.floor());
    let mut flush = false;
    while let Some(seq) = s.outbox.next_to_send(window) {
        let header = Header {
            incarnation,
            seq,
            floor,
        };
        let Some(frame) = s.outbox.frame(seq, &header) else {
            return flush;
        };
        match socket.send(alias, &[frame]) {
            Ok(sent) => {
                flush |= sent.start_flush();
                if s.outbox.mark_sent(seq, now) {
                    s.stats.redelivered += 1;
                }
            }
            // The backlog is full too: the next acknowledgement or tick tries again.
            Err(Error::Full { .. }) => return flush,
            Err(e) => {
                tracing::warn!(alias, error = %e, "reliable send failed; it will be tried again");
                return flush;
            }
        }
    }
    flush
}

/// The sending end of a reliable PUSH, with its socket and alias.
fn sender_of(slot: &mut Slot) -> Option<(&mut Sender, &mut Socket, &str)> {
    match slot.reliable.as_deref_mut() {
        Some(Reliable::Sender(s)) => Some((s, &mut slot.socket, &slot.alias)),
        _ => None,
    }
}

/// The dead-letter alias a sender was given.
fn dead_letter_alias(reliable: &Option<Box<Reliable>>) -> Option<String> {
    match reliable.as_deref() {
        Some(Reliable::Sender(s)) => s.opts.dead_letter.clone(),
        _ => None,
    }
}

/// Counts and (now and then) logs a garbage acknowledgement; nothing needs a flush.
fn garbage(agent: &str, alias: &str, count: &mut u64, why: &str) -> Vec<usize> {
    *count += 1;
    if worth_logging(*count) {
        tracing::warn!(
            agent,
            alias,
            count = *count,
            why,
            "garbage acknowledgement ignored"
        );
    }
    Vec::new()
}
