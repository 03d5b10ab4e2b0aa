//! The receiver's side: which (incarnation, sequence) pairs it has handled,
//! and the acknowledgements waiting to go back.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use super::wire::{Ack, Verdict, MAX_RANGES};

/// Handled sequences remembered above an incarnation's floor at most; past it the oldest
/// is forgotten (and would be handled again: never dropped unhandled).
pub(crate) const DEDUPE_WINDOW: usize = 1 << 16;

/// Senders (incarnations) remembered at most; past it the least recently added is forgotten.
pub(crate) const INCARNATIONS: usize = 1024;

/// Acknowledged sequences that make a batch worth sending before the drain's turn ends.
pub(crate) const ACK_BATCH: usize = 64;

/// What one incarnation's messages have been handled.
#[derive(Default)]
struct Seen {
    /// Every sequence below it counts as handled.
    floor: u64,
    /// Handled sequences at or above `floor`.
    above: BTreeSet<u64>,
}

/// Hashes an incarnation as itself: it is 64 random bits already, and the map is looked up
/// twice per message (SipHash was a visible share of a receiver's profile). A peer that
/// picks colliding incarnations slows only its own lookups, over at most [`INCARNATIONS`].
#[derive(Default)]
struct Incarnation(u64);

impl Hasher for Incarnation {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Handled messages by sender, to drop duplicates.
#[derive(Default)]
pub(crate) struct Dedupe {
    by_incarnation: HashMap<u64, Seen, BuildHasherDefault<Incarnation>>,
    order: VecDeque<u64>,
}

impl Dedupe {
    /// Whether (incarnation, seq) was handled; `floor` is the sender's (all below it acknowledged).
    pub(crate) fn seen(&mut self, incarnation: u64, seq: u64, floor: u64) -> bool {
        let seen = self.entry(incarnation);
        if floor > seen.floor {
            seen.floor = floor;
            seen.above = seen.above.split_off(&floor);
        }
        seq < seen.floor || seen.above.contains(&seq)
    }

    /// Records that (incarnation, seq) was handled.
    pub(crate) fn handled(&mut self, incarnation: u64, seq: u64) {
        let seen = self.entry(incarnation);
        // In order, nothing above: the common case moves the floor only.
        if seq == seen.floor && seen.above.is_empty() {
            seen.floor += 1;
            return;
        }
        if seq < seen.floor {
            return;
        }
        seen.above.insert(seq);
        while seen.above.first() == Some(&seen.floor) {
            seen.above.pop_first();
            seen.floor += 1;
        }
        if seen.above.len() > DEDUPE_WINDOW {
            seen.above.pop_first();
        }
    }

    fn entry(&mut self, incarnation: u64) -> &mut Seen {
        if !self.by_incarnation.contains_key(&incarnation) {
            if self.order.len() >= INCARNATIONS {
                if let Some(old) = self.order.pop_front() {
                    self.by_incarnation.remove(&old);
                }
            }
            self.order.push_back(incarnation);
        }
        self.by_incarnation.entry(incarnation).or_default()
    }
}

/// Acknowledgements not sent yet, by incarnation, as ranges.
#[derive(Default)]
pub(crate) struct PendingAcks {
    acks: Vec<Ack>,
    count: usize,
}

impl PendingAcks {
    /// Adds `seq` of `incarnation` with `verdict`.
    pub(crate) fn add(&mut self, verdict: Verdict, incarnation: u64, seq: u64) {
        self.count += 1;
        let found = self
            .acks
            .iter_mut()
            .rev()
            .find(|a| a.verdict == verdict && a.incarnation == incarnation);
        let extended = match found {
            Some(ack) => {
                let room = ack.ranges.len() < MAX_RANGES;
                match ack.ranges.last_mut() {
                    Some((_, last)) if *last + 1 == seq => {
                        *last = seq;
                        true
                    }
                    _ if room => {
                        ack.ranges.push((seq, seq));
                        true
                    }
                    _ => false,
                }
            }
            None => false,
        };
        if !extended {
            self.acks.push(Ack {
                verdict,
                incarnation,
                ranges: vec![(seq, seq)],
            });
        }
    }

    /// Whether enough waits to be worth sending now.
    pub(crate) fn full(&self) -> bool {
        self.count >= ACK_BATCH
    }

    /// Whether none waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.acks.is_empty()
    }

    /// Everything waiting, as frames to send.
    pub(crate) fn take(&mut self) -> Vec<Ack> {
        self.count = 0;
        std::mem::take(&mut self.acks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_recognised_per_incarnation() {
        let mut d = Dedupe::default();
        assert!(!d.seen(1, 0, 0));
        d.handled(1, 0);
        d.handled(1, 2);
        assert!(d.seen(1, 0, 0) && d.seen(1, 2, 0));
        assert!(!d.seen(1, 1, 0) && !d.seen(2, 0, 0));
        // The sender says everything below 10 is acknowledged.
        assert!(d.seen(1, 5, 10));
        assert!(!d.seen(1, 10, 10));
    }

    #[test]
    fn a_full_window_forgets_rather_than_drops() {
        let mut d = Dedupe::default();
        for seq in 1..=(DEDUPE_WINDOW as u64 + 1) {
            d.handled(9, seq);
        }
        // Sequence 0 never came; 1 was forgotten, so it would be handled again.
        assert!(!d.seen(9, 0, 0) && !d.seen(9, 1, 0) && d.seen(9, 2, 0));
    }

    #[test]
    fn acknowledgements_batch_into_ranges() {
        let mut p = PendingAcks::default();
        for seq in [1, 2, 3, 7] {
            p.add(Verdict::Ack, 5, seq);
        }
        p.add(Verdict::Nack, 5, 4);
        p.add(Verdict::Ack, 6, 0);
        let acks = p.take();
        assert_eq!(acks.len(), 3);
        assert_eq!(acks[0].ranges, vec![(1, 3), (7, 7)]);
        assert_eq!(
            (acks[1].verdict, acks[1].ranges.clone()),
            (Verdict::Nack, vec![(4, 4)])
        );
        assert!(p.is_empty());
    }
}
