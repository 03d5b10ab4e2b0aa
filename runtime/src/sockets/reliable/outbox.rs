//! The sender's outbox: every message from its send until its
//! acknowledgement, numbered in one incarnation, in order.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::wire::{Header, HEADER_LEN};

/// One message kept until acknowledged.
struct Entry {
    /// Room for the header, then the payload: the frame as it goes out, header written at
    /// each send (its floor moves).
    frame: Vec<u8>,
    /// When it was last handed to libzmq; `None`: waiting to be (again).
    sent: Option<Instant>,
    /// Times it went out.
    transmissions: u32,
    /// Negative acknowledgements it got (handler failures).
    failures: u32,
}

/// What an acknowledgement did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Messages it took out of the outbox.
    pub(crate) acked: u64,
    /// Messages given up after too many failures, with their sequence.
    pub(crate) dead: Vec<(u64, Vec<u8>)>,
}

/// The outbox of one reliable sender.
pub(crate) struct Outbox {
    pub(crate) incarnation: u64,
    /// The sequence of `entries[0]`: everything below is acknowledged or dead-lettered.
    base: u64,
    /// By sequence from `base`; `None` once acknowledged (popped when at the front).
    entries: VecDeque<Option<Entry>>,
    /// No entry below it waits to be sent.
    cursor: u64,
    live: usize,
    bytes: usize,
    in_flight: usize,
}

impl Outbox {
    /// An empty outbox whose next message is numbered `next`.
    pub(crate) fn new(incarnation: u64, next: u64) -> Self {
        Outbox {
            incarnation,
            base: next,
            entries: VecDeque::new(),
            cursor: next,
            live: 0,
            bytes: 0,
            in_flight: 0,
        }
    }

    /// The sequence the next message gets.
    pub(crate) fn next_seq(&self) -> u64 {
        self.base + self.entries.len() as u64
    }

    /// Every sequence below it is acknowledged or dead-lettered.
    pub(crate) fn floor(&self) -> u64 {
        self.base
    }

    /// Messages kept.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Their payload bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Messages waiting to be sent (the window is full, or libzmq is at its mark).
    pub(crate) fn waiting(&self) -> usize {
        self.live - self.in_flight
    }

    /// Messages sent and not yet acknowledged.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Keeps `payload` under the next sequence; returns its sequence.
    pub(crate) fn push(&mut self, payload: &[u8]) -> u64 {
        let seq = self.next_seq();
        self.bytes += payload.len();
        self.live += 1;
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len());
        frame.resize(HEADER_LEN, 0);
        frame.extend_from_slice(payload);
        self.entries.push_back(Some(Entry {
            frame,
            sent: None,
            transmissions: 0,
            failures: 0,
        }));
        seq
    }

    /// Puts a replayed message back at `seq` (at or past the end; gaps stay acknowledged).
    pub(crate) fn restore(&mut self, seq: u64, payload: &[u8]) {
        if self.entries.is_empty() && seq > self.base {
            self.base = seq;
            self.cursor = seq;
        }
        while self.next_seq() < seq {
            self.entries.push_back(None);
        }
        if self.next_seq() == seq {
            self.push(payload);
        }
    }

    /// Skips sequences: the next message is numbered at least `next`.
    pub(crate) fn skip_to(&mut self, next: u64) {
        if self.entries.is_empty() && next > self.base {
            self.base = next;
            self.cursor = next;
        }
        while self.next_seq() < next {
            self.entries.push_back(None);
        }
        self.trim();
    }

    /// The sequence of the next message waiting to be sent, while fewer than `window` are
    /// in flight.
    pub(crate) fn next_to_send(&self, window: usize) -> Option<u64> {
        if self.in_flight >= window {
            return None;
        }
        let from = ((self.cursor - self.base) as usize).min(self.entries.len());
        // `range`, not `skip`: the messages in flight before the cursor are not walked.
        self.entries
            .range(from..)
            .enumerate()
            .find_map(|(i, e)| match e {
                Some(e) if e.sent.is_none() => Some(self.cursor + i as u64),
                _ => None,
            })
    }

    /// The one-frame data message of `seq` with `header` written in: what goes out.
    pub(crate) fn frame(&mut self, seq: u64, header: &Header) -> Option<&[u8]> {
        let Some(Some(e)) = self.entry_mut(seq) else {
            return None;
        };
        header.write_joined(&mut e.frame);
        Some(&e.frame)
    }

    /// Records that `seq` went out at `now`; true when it had gone out before (a redelivery).
    pub(crate) fn mark_sent(&mut self, seq: u64, now: Instant) -> bool {
        self.cursor = seq + 1;
        let Some(Some(e)) = self.entry_mut(seq) else {
            return false;
        };
        e.sent = Some(now);
        e.transmissions += 1;
        let again = e.transmissions > 1;
        self.in_flight += 1;
        again
    }

    /// Sends again, from the oldest, what waited longer than `timeout` for its acknowledgement;
    /// returns how many.
    pub(crate) fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut expired = 0;
        let end = (self.cursor.saturating_sub(self.base) as usize).min(self.entries.len());
        let mut first = None;
        for (i, e) in self.entries.iter_mut().take(end).enumerate() {
            if let Some(e) = e {
                if e.sent.is_some_and(|at| now.duration_since(at) >= timeout) {
                    e.sent = None;
                    expired += 1;
                    first.get_or_insert(i);
                }
            }
        }
        self.in_flight -= expired;
        if let Some(i) = first {
            self.cursor = self.cursor.min(self.base + i as u64);
        }
        expired
    }

    /// Whether the inclusive range names a sequence never given out (garbage).
    pub(crate) fn out_of_range(&self, last: u64) -> bool {
        last >= self.next_seq()
    }

    /// Takes the messages of `first..=last` out: handled; returns how many were still kept.
    pub(crate) fn ack(&mut self, first: u64, last: u64) -> usize {
        let mut done = 0;
        for seq in first.max(self.base)..=last.min(self.next_seq().saturating_sub(1)) {
            done += usize::from(self.take(seq).is_some());
        }
        self.trim();
        done
    }

    /// The handler failed on `first..=last`: each goes out again, or, past `max_attempts`
    /// failures, comes back as a dead letter.
    pub(crate) fn nack(&mut self, first: u64, last: u64, max_attempts: u32) -> Applied {
        let mut applied = Applied::default();
        for seq in first.max(self.base)..=last.min(self.next_seq().saturating_sub(1)) {
            let Some(Some(e)) = self.entry_mut(seq) else {
                continue;
            };
            e.failures += 1;
            if e.failures >= max_attempts {
                if let Some(mut e) = self.take(seq) {
                    e.frame.drain(..HEADER_LEN);
                    applied.dead.push((seq, e.frame));
                }
                continue;
            }
            if e.sent.take().is_some() {
                self.in_flight -= 1;
            }
            self.cursor = self.cursor.min(seq);
        }
        self.trim();
        applied
    }

    /// The live messages, oldest first (for compacting a durable outbox).
    pub(crate) fn live(&self) -> impl Iterator<Item = (u64, &[u8])> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((self.base + i as u64, &e.as_ref()?.frame[HEADER_LEN..])))
    }

    fn entry_mut(&mut self, seq: u64) -> Option<&mut Option<Entry>> {
        let i = seq.checked_sub(self.base)?;
        self.entries.get_mut(usize::try_from(i).ok()?)
    }

    fn take(&mut self, seq: u64) -> Option<Entry> {
        let e = self.entry_mut(seq)?.take()?;
        self.live -= 1;
        self.bytes -= e.frame.len() - HEADER_LEN;
        if e.sent.is_some() {
            self.in_flight -= 1;
        }
        Some(e)
    }

    /// Drops acknowledged entries from the front.
    fn trim(&mut self) {
        while let Some(None) = self.entries.front() {
            self.entries.pop_front();
            self.base += 1;
        }
        self.cursor = self.cursor.max(self.base);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent_all(o: &mut Outbox, window: usize, now: Instant) -> Vec<u64> {
        let mut out = Vec::new();
        while let Some(seq) = o.next_to_send(window) {
            o.mark_sent(seq, now);
            out.push(seq);
        }
        out
    }

    #[test]
    fn messages_go_out_in_order_within_the_window_and_leave_when_acknowledged() {
        let mut o = Outbox::new(7, 0);
        for i in 0..5u8 {
            o.push(&[i; 3]);
        }
        let now = Instant::now();
        assert_eq!(sent_all(&mut o, 3, now), vec![0, 1, 2]);
        assert_eq!(o.ack(1, 1), 1);
        assert_eq!(
            (o.floor(), o.len(), o.bytes(), o.in_flight()),
            (0, 4, 12, 2)
        );
        assert_eq!(sent_all(&mut o, 3, now), vec![3]);
        assert_eq!(o.ack(0, 3), 3);
        assert_eq!((o.floor(), o.len()), (4, 1));
        assert!(o.out_of_range(5) && !o.out_of_range(4));
    }

    #[test]
    fn unacknowledged_messages_go_again_oldest_first() {
        let mut o = Outbox::new(1, 10);
        for _ in 0..3 {
            o.push(b"x");
        }
        let t0 = Instant::now();
        assert_eq!(sent_all(&mut o, 10, t0), vec![10, 11, 12]);
        o.ack(11, 11);
        assert_eq!(
            o.expire(t0 + Duration::from_secs(1), Duration::from_secs(2)),
            0
        );
        assert_eq!(
            o.expire(t0 + Duration::from_secs(2), Duration::from_secs(2)),
            2
        );
        assert_eq!(o.next_to_send(10), Some(10));
        assert!(o.mark_sent(10, t0), "a redelivery");
        assert_eq!(sent_all(&mut o, 10, t0), vec![12]);
    }

    #[test]
    fn failures_past_the_limit_come_back_as_dead_letters() {
        let mut o = Outbox::new(1, 0);
        o.push(b"poison");
        o.push(b"fine");
        let now = Instant::now();
        for _ in 0..2 {
            sent_all(&mut o, 10, now);
            assert!(o.nack(0, 0, 3).dead.is_empty());
        }
        sent_all(&mut o, 10, now);
        assert_eq!(o.nack(0, 0, 3).dead, vec![(0, b"poison".to_vec())]);
        assert_eq!((o.floor(), o.len(), o.in_flight()), (1, 1, 1));
    }

    #[test]
    fn a_replayed_outbox_keeps_its_numbers() {
        let mut o = Outbox::new(3, 0);
        o.restore(5, b"a");
        o.restore(7, b"b");
        assert_eq!(o.live().map(|(s, _)| s).collect::<Vec<_>>(), vec![5, 7]);
        o.skip_to(20);
        assert_eq!(o.push(b"c"), 20);
        assert_eq!(o.floor(), 5);
    }
}
