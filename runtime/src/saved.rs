//! The layout of a supervisor's saved record slot (`<runtime dir>/state`):
//! a header (magic `AXS1`, sequence, body length, body CRC-32; all
//! little-endian) before a CBOR body. The supervisor writes and reads the
//! slots (its `store`); an orphaned agent reads them to see which processes
//! of its node still live. One layout, here, for both.

/// The header's size: magic, sequence (u64), body length (u32), CRC-32 (u32).
pub const HEADER: usize = 4 + 8 + 4 + 4;

/// The start of every slot.
const MAGIC: &[u8; 4] = b"AXS1";

/// Room for a header before the body a caller writes after it ([`seal`] fills it in).
pub fn unsealed() -> Vec<u8> {
    vec![0; HEADER]
}

/// Fills in the header of `slot` (made by [`unsealed`], the body written after it) as version `seq`.
pub fn seal(slot: &mut [u8], seq: u64) {
    let body = (slot.len() - HEADER) as u32;
    let crc = crc32fast::hash(&slot[HEADER..]);
    slot[..4].copy_from_slice(MAGIC);
    slot[4..12].copy_from_slice(&seq.to_le_bytes());
    slot[12..16].copy_from_slice(&body.to_le_bytes());
    slot[16..HEADER].copy_from_slice(&crc.to_le_bytes());
}

/// A slot's sequence and body, if the slot is whole (magic, length and CRC-32 agree).
pub fn whole(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let header = bytes.get(..HEADER)?;
    if &header[..4] != MAGIC {
        return None;
    }
    let seq = u64::from_le_bytes(header[4..12].try_into().ok()?);
    let len = u32::from_le_bytes(header[12..16].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[16..HEADER].try_into().ok()?);
    let body = bytes.get(HEADER..HEADER.checked_add(len)?)?;
    (bytes.len() == HEADER + len && crc32fast::hash(body) == crc).then_some((seq, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_slot_is_whole_and_a_torn_one_is_not() {
        let mut slot = unsealed();
        slot.extend_from_slice(b"body");
        seal(&mut slot, 7);
        assert_eq!(whole(&slot), Some((7, &b"body"[..])));
        assert_eq!(whole(&slot[..slot.len() - 1]), None);
        slot[HEADER] ^= 1;
        assert_eq!(whole(&slot), None);
    }
}
