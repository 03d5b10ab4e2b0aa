//! The head of a CBOR string (RFC 8949, section 3): major type and length,
//! read and written by hand for the hot path.
//!
//! A payload that is one byte or text string (what `send` of bytes or a
//! `str` produces) is the common case on a data socket. Through ciborium its
//! head costs about 100 instructions to write and 170 to read; here, a
//! few. Anything else goes through ciborium as before.

/// The two kinds of CBOR string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CborString {
    /// Major type 2: a byte string.
    Bytes,
    /// Major type 3: a text string (UTF-8, not checked here).
    Text,
}

impl CborString {
    /// The major type in the head's top three bits.
    fn major(self) -> u8 {
        match self {
            CborString::Bytes => 2 << 5,
            CborString::Text => 3 << 5,
        }
    }
}

/// Appends the head of a definite-length string of `len` bytes, in the
/// shortest form, as ciborium writes it.
#[inline]
pub(crate) fn write_head(kind: CborString, len: usize, out: &mut Vec<u8>) {
    let major = kind.major();
    let len = len as u64;
    match len {
        0..=23 => out.push(major | len as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, len as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

/// The kind and contents of `bytes` when it is exactly one definite-length
/// string (any length form, as ciborium accepts); `None` for anything else,
/// an indefinite length or a reserved one included.
#[inline]
pub(crate) fn read_string(bytes: &[u8]) -> Option<(CborString, &[u8])> {
    let (&first, rest) = bytes.split_first()?;
    let kind = match first >> 5 {
        2 => CborString::Bytes,
        3 => CborString::Text,
        _ => return None,
    };
    let (len, body) = match first & 0x1f {
        n @ 0..=23 => (u64::from(n), rest),
        24 => {
            let (&n, body) = rest.split_first()?;
            (u64::from(n), body)
        }
        25 => be_len::<2>(rest)?,
        26 => be_len::<4>(rest)?,
        27 => be_len::<8>(rest)?,
        _ => return None,
    };
    (len == body.len() as u64).then_some((kind, body))
}

/// A big-endian length of `N` bytes at the start of `rest`, and what follows it.
#[inline]
fn be_len<const N: usize>(rest: &[u8]) -> Option<(u64, &[u8])> {
    let (head, body) = rest.split_first_chunk::<N>()?;
    let mut wide = [0u8; 8];
    wide[8 - N..].copy_from_slice(head);
    Some((u64::from_be_bytes(wide), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_bytes::Bytes;

    fn ciborium<T: serde::Serialize + ?Sized>(v: &T) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    #[test]
    fn heads_are_written_as_ciborium_writes_them_and_read_back() {
        for len in [0usize, 1, 23, 24, 255, 256, 65_535, 65_536, 70_000] {
            let payload = vec![b'a'; len];
            let text = std::str::from_utf8(&payload).unwrap();
            for (kind, expected) in [
                (CborString::Bytes, ciborium(Bytes::new(&payload))),
                (CborString::Text, ciborium(text)),
            ] {
                let mut out = Vec::new();
                write_head(kind, len, &mut out);
                out.extend_from_slice(&payload);
                assert_eq!(out, expected, "{kind:?} of {len}");
                assert_eq!(read_string(&out), Some((kind, &payload[..])));
            }
        }
    }

    #[test]
    fn anything_but_one_whole_definite_string_is_not_read() {
        // Empty, an integer, a truncated string, trailing bytes, an indefinite
        // length, a reserved length form, a length cut short.
        for bytes in [
            &b""[..],
            b"\x07",
            b"\x45ab",
            b"\x42abc",
            b"\x5f\x41a\xff",
            b"\x5c",
            b"\x59\x01",
            b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff",
        ] {
            assert_eq!(read_string(bytes), None, "{bytes:02x?}");
        }
        // A longer length form than needed is still one string, as ciborium reads it.
        assert_eq!(
            read_string(b"\x58\x02ab"),
            Some((CborString::Bytes, &b"ab"[..]))
        );
    }
}
