//! The receiving end: a message is checked against what was handled,
//! handled, and acknowledged in batches on the companion.

use super::wire::{routing_id, Header, Verdict};
use super::Reliable;
use crate::sockets::Sockets;
use crate::stats::worth_logging;

/// What a reliable PULL received.
pub(crate) enum Incoming<'f> {
    /// A message to handle, then to give a verdict on.
    Fresh {
        incarnation: u64,
        seq: u64,
        payload: &'f [u8],
    },
    /// Handled before: dropped, acknowledged again.
    Duplicate,
    /// Not in the reliable framing: dropped.
    Plain,
}

impl Sockets {
    /// Sorts a message received on the reliable PULL at `index`, counting duplicates and
    /// plain frames.
    pub(crate) fn incoming<'f>(&mut self, index: usize, frames: &[&'f [u8]]) -> Incoming<'f> {
        let name = &self.spec.name;
        let Some(slot) = self.slots[index].as_mut() else {
            return Incoming::Plain;
        };
        let Some(Reliable::Receiver(r)) = slot.reliable.as_deref_mut() else {
            return Incoming::Plain;
        };
        let Some((h, payload)) = Header::split(frames) else {
            r.stats.plain_frames += 1;
            if worth_logging(r.stats.plain_frames) {
                tracing::warn!(agent = %name, alias = %slot.alias, frames = frames.len(), count = r.stats.plain_frames, "a plain message on a reliable PULL dropped: its sender must be reliable too");
            }
            return Incoming::Plain;
        };
        if r.dedupe.seen(h.incarnation, h.seq, h.floor) {
            r.stats.duplicates += 1;
            r.pending.add(Verdict::Ack, h.incarnation, h.seq);
            return Incoming::Duplicate;
        }
        Incoming::Fresh {
            incarnation: h.incarnation,
            seq: h.seq,
            payload,
        }
    }

    /// Records what became of a fresh message: handled (`Ack`) or failed (`Nack`); sends
    /// the acknowledgements once a batch is full.
    pub(crate) fn verdict(&mut self, index: usize, incarnation: u64, seq: u64, verdict: Verdict) {
        let Some(Reliable::Receiver(r)) = self.reliable_mut(index) else {
            return;
        };
        if verdict == Verdict::Ack {
            r.dedupe.handled(incarnation, seq);
            r.stats.handled += 1;
        }
        r.pending.add(verdict, incarnation, seq);
        if r.pending.full() {
            self.send_acks(index);
        }
    }

    /// Sends the pending acknowledgements of the reliable PULL at `index` on its companion.
    ///
    /// One that libzmq cannot take now is dropped: the sender sends the message again, and
    /// it is acknowledged again as a duplicate.
    pub(crate) fn send_acks(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        let (Some(Reliable::Receiver(r)), Some(companion)) =
            (slot.reliable.as_deref_mut(), slot.partner)
        else {
            return;
        };
        if r.pending.is_empty() {
            return;
        }
        let (acks, routed) = (r.pending.take(), r.routed);
        let Some(Some(out)) = self.slots.get(companion) else {
            return;
        };
        let mut frame = Vec::with_capacity(64);
        let mut sent = 0;
        for ack in acks {
            frame.clear();
            ack.encode_into(&mut frame);
            let to = routing_id(ack.incarnation);
            let result = match routed {
                true => out.socket.try_send_now(&[&to, &frame]),
                false => out.socket.try_send_now(&[&frame]),
            };
            match result {
                Ok(true) => sent += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::debug!(agent = %self.spec.name, error = %e, "acknowledgement not sent")
                }
            }
        }
        if let Some(Reliable::Receiver(r)) = self.reliable_mut(index) {
            r.stats.acks_sent += sent;
        }
    }
}
