//! The frames of an at-least-once channel (docs/protocol.md, "Reliable
//! PUSH/PULL"): a header frame before each payload, and acknowledgements
//! on the companion socket. Every integer is big-endian.

/// First bytes of a data message's header frame.
pub(crate) const DATA_MAGIC: &[u8; 4] = b"AXR1";
/// First bytes of an acknowledgement: these sequences were handled.
pub(crate) const ACK_MAGIC: &[u8; 4] = b"AXA1";
/// First bytes of a negative acknowledgement: the handler failed on these sequences.
pub(crate) const NACK_MAGIC: &[u8; 4] = b"AXN1";
/// A header frame's length: magic, incarnation, sequence, floor.
pub(crate) const HEADER_LEN: usize = 28;
/// Most ranges in one acknowledgement frame.
pub(crate) const MAX_RANGES: usize = 1024;

/// What numbers a data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// The sender's outbox.
    pub(crate) incarnation: u64,
    /// This message's number in it.
    pub(crate) seq: u64,
    /// Every sequence below it is acknowledged (or dead-lettered): seen, for the receiver.
    pub(crate) floor: u64,
}

impl Header {
    /// The header frame.
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..4].copy_from_slice(DATA_MAGIC);
        out[4..12].copy_from_slice(&self.incarnation.to_be_bytes());
        out[12..20].copy_from_slice(&self.seq.to_be_bytes());
        out[20..28].copy_from_slice(&self.floor.to_be_bytes());
        out
    }

    /// Reads a header frame; `None` when `frame` is not one.
    pub(crate) fn parse(frame: &[u8]) -> Option<Header> {
        if frame.len() != HEADER_LEN || &frame[..4] != DATA_MAGIC {
            return None;
        }
        Some(Header {
            incarnation: be(&frame[4..12]),
            seq: be(&frame[12..20]),
            floor: be(&frame[20..28]),
        })
    }
}

/// Whether a frame looks like a reliable header (for telling a plain PULL what it got).
pub(crate) fn is_header(frame: &[u8]) -> bool {
    Header::parse(frame).is_some()
}

/// An acknowledgement's verdict on its sequences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Handled: forget them.
    Ack,
    /// The handler failed: send them again, up to the attempt limit.
    Nack,
}

/// One acknowledgement frame: inclusive ranges of sequences of one incarnation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) verdict: Verdict,
    pub(crate) incarnation: u64,
    pub(crate) ranges: Vec<(u64, u64)>,
}

impl Ack {
    /// Appends the frame to `out`.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self.verdict {
            Verdict::Ack => ACK_MAGIC,
            Verdict::Nack => NACK_MAGIC,
        });
        out.extend_from_slice(&self.incarnation.to_be_bytes());
        for (first, last) in &self.ranges {
            out.extend_from_slice(&first.to_be_bytes());
            out.extend_from_slice(&last.to_be_bytes());
        }
    }

    /// Reads an acknowledgement frame, or says what is wrong with it.
    pub(crate) fn parse(frame: &[u8]) -> Result<Ack, &'static str> {
        if frame.len() < 12 {
            return Err("shorter than magic and incarnation");
        }
        let verdict = match &frame[..4] {
            m if m == ACK_MAGIC => Verdict::Ack,
            m if m == NACK_MAGIC => Verdict::Nack,
            _ => return Err("unknown magic"),
        };
        let body = &frame[12..];
        if body.is_empty() || !body.len().is_multiple_of(16) || body.len() / 16 > MAX_RANGES {
            return Err("ranges are not 1 to 1024 pairs of 8-byte sequences");
        }
        let ranges: Vec<(u64, u64)> = body
            .chunks_exact(16)
            .map(|r| (be(&r[..8]), be(&r[8..])))
            .collect();
        if ranges.iter().any(|(first, last)| first > last) {
            return Err("a range ends before it starts");
        }
        Ok(Ack {
            verdict,
            incarnation: be(&frame[4..12]),
            ranges,
        })
    }
}

/// The routing id a connecting sender's ack socket (DEALER) takes: `R` and its
/// incarnation, so that a bound receiver's ROUTER can address it.
pub(crate) fn routing_id(incarnation: u64) -> [u8; 9] {
    let mut id = [b'R'; 9];
    id[1..].copy_from_slice(&incarnation.to_be_bytes());
    id
}

fn be(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_and_acks_round_trip() {
        let h = Header {
            incarnation: 0x0102_0304_0506_0708,
            seq: 9,
            floor: 3,
        };
        let frame = h.encode();
        assert_eq!(&frame[..8], b"AXR1\x01\x02\x03\x04");
        assert_eq!(Header::parse(&frame), Some(h));
        assert_eq!(Header::parse(&frame[..27]), None);
        let ack = Ack {
            verdict: Verdict::Nack,
            incarnation: 7,
            ranges: vec![(1, 4), (9, 9)],
        };
        let mut out = Vec::new();
        ack.encode_into(&mut out);
        assert_eq!(out.len(), 12 + 32);
        assert_eq!(Ack::parse(&out), Ok(ack));
    }

    #[test]
    fn malformed_acks_say_why() {
        assert!(Ack::parse(b"AXA1").is_err());
        assert!(Ack::parse(b"XXXX\0\0\0\0\0\0\0\x01").is_err());
        let mut empty = b"AXA1".to_vec();
        empty.extend_from_slice(&[0; 8]);
        assert!(Ack::parse(&empty).is_err(), "no range");
        let mut backwards = empty.clone();
        backwards.extend_from_slice(&5u64.to_be_bytes());
        backwards.extend_from_slice(&4u64.to_be_bytes());
        assert!(Ack::parse(&backwards).is_err());
        let mut odd = empty.clone();
        odd.extend_from_slice(&[1; 9]);
        assert!(Ack::parse(&odd).is_err());
    }
}
