//! The frames of an at-least-once channel (docs/protocol.md, "Reliable
//! PUSH/PULL"): a data message is one frame, a header and then the payload
//! (or, as first specified, a header frame before a payload frame); and
//! acknowledgements on the companion socket. Every integer is big-endian.

/// First bytes of a two-frame data message's header frame (the first framing: still read).
pub(crate) const DATA_MAGIC: &[u8; 4] = b"AXR1";
/// First bytes of a one-frame data message: header and payload in one frame (what axon sends).
pub(crate) const JOINED_MAGIC: &[u8; 4] = b"AXR2";
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
    /// Writes the one-frame header into the first [`HEADER_LEN`] bytes of `frame`.
    pub(crate) fn write_joined(&self, frame: &mut [u8]) {
        self.write(JOINED_MAGIC, &mut frame[..HEADER_LEN]);
    }

    /// The header frame of the two-frame layout.
    #[cfg(test)]
    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        self.write(DATA_MAGIC, &mut out);
        out
    }

    fn write(&self, magic: &[u8; 4], out: &mut [u8]) {
        out[..4].copy_from_slice(magic);
        out[4..12].copy_from_slice(&self.incarnation.to_be_bytes());
        out[12..20].copy_from_slice(&self.seq.to_be_bytes());
        out[20..28].copy_from_slice(&self.floor.to_be_bytes());
    }

    /// Reads a header frame of the two-frame layout; `None` when `frame` is not one.
    pub(crate) fn parse(frame: &[u8]) -> Option<Header> {
        if frame.len() != HEADER_LEN || &frame[..4] != DATA_MAGIC {
            return None;
        }
        Some(Header::read(frame))
    }

    /// A data message's header and payload, in either layout; `None` when it is neither.
    pub(crate) fn split<'f>(frames: &[&'f [u8]]) -> Option<(Header, &'f [u8])> {
        match frames {
            [frame] if frame.len() >= HEADER_LEN && &frame[..4] == JOINED_MAGIC => {
                Some((Header::read(frame), &frame[HEADER_LEN..]))
            }
            [header, payload] => Some((Header::parse(header)?, payload)),
            _ => None,
        }
    }

    fn read(frame: &[u8]) -> Header {
        Header {
            incarnation: be(&frame[4..12]),
            seq: be(&frame[12..20]),
            floor: be(&frame[20..28]),
        }
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

/// The big-endian u64 in `bytes` (exactly 8 of them: callers slice fixed fields).
pub(super) fn be(bytes: &[u8]) -> u64 {
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
        let mut joined = vec![0; HEADER_LEN];
        joined.extend_from_slice(b"payload");
        h.write_joined(&mut joined);
        assert_eq!(&joined[..4], b"AXR2");
        assert_eq!(Header::split(&[&joined]), Some((h, &b"payload"[..])));
        assert_eq!(Header::split(&[&frame, b"p"]), Some((h, &b"p"[..])));
        assert_eq!(
            Header::split(&[&joined[..27]]),
            None,
            "shorter than a header"
        );
        assert_eq!(Header::split(&[&frame]), None, "a lone AXR1 header");
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
