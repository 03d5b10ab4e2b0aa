//! A durable outbox: an append-only file of records, one per new message
//! and one per acknowledged range, compacted when mostly acknowledged.
//!
//! A record is `length u32 | crc32 u32 | body` (big-endian; the CRC-32 of
//! the body, IEEE polynomial). Bodies: `1 incarnation next_seq` (the first
//! record), `2 seq payload` (a message), `3 first last` (a range acknowledged
//! or dead-lettered). Every write reaches the kernel before the message is
//! sent, so a SIGKILL loses nothing; `sync` (fsync) runs once per tick.
//! A damaged record at the end (a torn write) and everything after it are
//! cut off, counted and logged.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::outbox::Outbox;
use super::wire::be;
use crate::error::Result;

const BEGIN: u8 = 1;
const MESSAGE: u8 = 2;
const DONE: u8 = 3;

/// Sequences skipped after a damaged tail: a number that may have left before the damage is
/// never given to another message.
const SKIP_AFTER_DAMAGE: u64 = 1 << 20;

/// Past this many bytes, a file whose live messages take under a quarter of it is rewritten.
const COMPACT_AT: u64 = 4 << 20;

/// The file behind a durable outbox.
pub(crate) struct DurableLog {
    path: PathBuf,
    file: File,
    len: u64,
    dirty: bool,
    buf: Vec<u8>,
}

/// A durable outbox read back.
pub(crate) struct Replayed {
    pub(crate) log: DurableLog,
    pub(crate) outbox: Outbox,
    /// Damaged records cut off the end.
    pub(crate) truncated: u64,
}

impl DurableLog {
    /// Opens the outbox at `path`: replays it, or starts one in a new `incarnation`.
    pub(crate) fn open(path: &Path, incarnation: u64) -> Result<Replayed> {
        let mut bytes = Vec::new();
        if let Ok(mut f) = File::open(path) {
            f.read_to_end(&mut bytes)?;
        }
        let (outbox, good, damaged) = replay(&bytes, incarnation);
        let truncated = u64::from(damaged);
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if damaged {
            file.set_len(good as u64)?;
            tracing::warn!(path = %path.display(), kept = good, cut = bytes.len() - good, "damaged end of a durable outbox cut off");
        }
        let mut log = DurableLog {
            path: path.to_owned(),
            file,
            len: good as u64,
            dirty: false,
            buf: Vec::new(),
        };
        if good == 0 {
            log.begin(&outbox)?;
        }
        Ok(Replayed {
            log,
            outbox,
            truncated,
        })
    }

    /// Records a new message (before it is sent).
    pub(crate) fn message(&mut self, seq: u64, payload: &[u8]) -> Result<()> {
        self.buf.clear();
        self.buf.push(MESSAGE);
        self.buf.extend_from_slice(&seq.to_be_bytes());
        self.buf.extend_from_slice(payload);
        self.write_record()
    }

    /// Records that `first..=last` left the outbox.
    pub(crate) fn done(&mut self, first: u64, last: u64) -> Result<()> {
        self.buf.clear();
        self.buf.push(DONE);
        self.buf.extend_from_slice(&first.to_be_bytes());
        self.buf.extend_from_slice(&last.to_be_bytes());
        self.write_record()
    }

    /// Makes what was written durable (fsync), if anything was; rewrites a mostly
    /// acknowledged file.
    pub(crate) fn sync(&mut self, outbox: &Outbox) -> Result<()> {
        if self.len > COMPACT_AT && (outbox.bytes() as u64) < self.len / 4 {
            return self.compact(outbox);
        }
        if self.dirty {
            self.file.sync_data()?;
            self.dirty = false;
        }
        Ok(())
    }

    /// Removes the file of an empty outbox (a clean close).
    pub(crate) fn remove_if_empty(self, outbox: &Outbox) {
        if outbox.len() == 0 {
            let _ = std::fs::remove_file(&self.path);
        }
    }

    /// Writes only the live messages to a new file, then puts it in place.
    fn compact(&mut self, outbox: &Outbox) -> Result<()> {
        let tmp = self.path.with_extension("outbox.tmp");
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        let mut fresh = DurableLog {
            path: self.path.clone(),
            file,
            len: 0,
            dirty: false,
            buf: Vec::new(),
        };
        fresh.begin(outbox)?;
        for (seq, payload) in outbox.live() {
            fresh.message(seq, payload)?;
        }
        fresh.file.sync_data()?;
        std::fs::rename(&tmp, &self.path)?;
        fresh.file = OpenOptions::new().append(true).open(&self.path)?;
        *self = fresh;
        Ok(())
    }

    fn begin(&mut self, outbox: &Outbox) -> Result<()> {
        self.buf.clear();
        self.buf.push(BEGIN);
        self.buf
            .extend_from_slice(&outbox.incarnation.to_be_bytes());
        self.buf.extend_from_slice(&outbox.floor().to_be_bytes());
        self.write_record()
    }

    fn write_record(&mut self) -> Result<()> {
        let mut record = Vec::with_capacity(8 + self.buf.len());
        record.extend_from_slice(&(self.buf.len() as u32).to_be_bytes());
        record.extend_from_slice(&crc32fast::hash(&self.buf).to_be_bytes());
        record.extend_from_slice(&self.buf);
        self.file.write_all(&record)?;
        self.len += record.len() as u64;
        self.dirty = true;
        Ok(())
    }
}

/// Rebuilds the outbox from the file's bytes; returns it, the length of the good records,
/// and whether a damaged record ended them.
fn replay(bytes: &[u8], incarnation: u64) -> (Outbox, usize, bool) {
    let mut outbox = Outbox::new(incarnation, 0);
    let mut at = 0;
    let mut done = Vec::new();
    while at < bytes.len() {
        let Some((body, next)) = record(bytes, at) else {
            break;
        };
        match (body.first(), at) {
            (Some(&BEGIN), 0) if body.len() == 17 => {
                outbox = Outbox::new(be(&body[1..9]), be(&body[9..17]));
            }
            (Some(&MESSAGE), _) if body.len() >= 9 && at > 0 => {
                outbox.restore(be(&body[1..9]), &body[9..])
            }
            (Some(&DONE), _) if body.len() == 17 && at > 0 => {
                done.push((be(&body[1..9]), be(&body[9..17])))
            }
            // A well-checksummed record that makes no sense: treat it as damage.
            _ => break,
        }
        at = next;
    }
    for (first, last) in done {
        outbox.ack(first, last);
    }
    let damaged = at < bytes.len();
    if damaged {
        let next = outbox.next_seq() + SKIP_AFTER_DAMAGE;
        outbox.skip_to(next);
    }
    (outbox, at, damaged)
}

/// The body of the record at `at` and where the next one starts, if it is whole and intact.
fn record(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let head = bytes.get(at..at + 8)?;
    let len = u32::from_be_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(head[4..].try_into().ok()?);
    let body = bytes.get(at + 8..at + 8 + len)?;
    (crc32fast::hash(body) == crc).then_some((body, at + 8 + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outbox_file_replays_unacknowledged_messages_and_cuts_a_torn_tail() {
        let dir = std::env::temp_dir().join(format!("axon-durable-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a@out.outbox");
        let _ = std::fs::remove_file(&path);
        let mut r = DurableLog::open(&path, 42).unwrap();
        for i in 0..4u8 {
            let seq = r.outbox.push(&[i]);
            r.log.message(seq, &[i]).unwrap();
        }
        r.outbox.ack(0, 1);
        r.log.done(0, 1).unwrap();
        r.log.sync(&r.outbox).unwrap();
        drop(r);
        // A torn write: half a record at the end.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 0, 20, 1, 2]).unwrap();
        drop(f);

        let again = DurableLog::open(&path, 99).unwrap();
        assert_eq!(again.truncated, 1);
        assert_eq!(
            again.outbox.incarnation, 42,
            "the incarnation is the file's"
        );
        let live: Vec<(u64, Vec<u8>)> = again.outbox.live().map(|(s, p)| (s, p.to_vec())).collect();
        assert_eq!(live, vec![(2, vec![2]), (3, vec![3])]);
        assert_eq!(again.outbox.next_seq(), 4 + SKIP_AFTER_DAMAGE);
        let len = std::fs::metadata(&path).unwrap().len();
        drop(again);
        let third = DurableLog::open(&path, 7).unwrap();
        assert_eq!((third.truncated, third.log.len), (0, len));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
