//! How a PUB message is laid out in frames: axon's two frames, or osBrain's one.
//!
//! - `multipart` (axon's own): `[topic, payload]`, two ZeroMQ frames. Any
//!   topic and any payload, no byte is reserved.
//! - `osbrain`: one frame, the topic followed by the payload, as osBrain
//!   0.6.5 publishes. osBrain puts its separator byte `\x80` between the two
//!   for every serializer but `raw`; axon does the same (for `json` and
//!   `cbor`). With `raw` there is no separator, and a receiver cannot tell
//!   where the topic ends: the whole frame is the payload, as an osBrain SUB
//!   handler gets it.
//!
//! A SUB socket takes both layouts, whatever the publisher's setting: two
//! frames are topic and payload; one frame is matched by prefix against the
//! subscriptions (as ZeroMQ filtered it) and split by [`split`].

use std::fmt;

use crate::codec::Serializer;
use crate::error::{Error, Result};

/// osBrain's byte between topic and payload (`osbrain.agent.TOPIC_SEPARATOR`).
pub const TOPIC_SEPARATOR: u8 = 0x80;

/// How a PUB socket lays out a message in frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Framing {
    /// Two frames, topic then payload (axon's own, the default).
    #[default]
    Multipart,
    /// One frame, topic then payload, with osBrain's separator unless the serializer is raw.
    Osbrain,
}

impl Framing {
    /// The name used in manifests and control calls.
    pub fn as_str(self) -> &'static str {
        match self {
            Framing::Multipart => "multipart",
            Framing::Osbrain => "osbrain",
        }
    }
}

impl fmt::Display for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Framing {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "multipart" => Ok(Framing::Multipart),
            "osbrain" => Ok(Framing::Osbrain),
            _ => Err(Error::invalid(
                "framing",
                s,
                "expected multipart or osbrain",
            )),
        }
    }
}

/// Whether osBrain puts its separator between topic and payload for `serializer`.
fn separated(serializer: Serializer) -> bool {
    serializer != Serializer::Raw
}

/// Turns the encoded payload in `buf` into one osBrain frame: topic, separator (unless raw), payload.
pub(crate) fn prepend_topic(topic: &[u8], serializer: Serializer, buf: &mut Vec<u8>) {
    let sep: &[u8] = if separated(serializer) {
        &[TOPIC_SEPARATOR]
    } else {
        &[]
    };
    buf.splice(0..0, topic.iter().chain(sep).copied());
}

/// Topic and payload of a single-frame PUB message, by osBrain's rule.
///
/// A frame that is one complete value of the serializer is a plain ZeroMQ
/// publisher's payload, sent without a topic (a JSON payload may hold the
/// byte `0x80` inside UTF-8 text, a CBOR payload almost anywhere); it is
/// all payload. Otherwise, with a separating serializer, the topic is what
/// comes before the first separator byte and the payload what follows it
/// (osBrain's layout never parses whole: the separator is not valid JSON,
/// and a topic in front of a CBOR value leaves bytes over or breaks it).
/// With `raw`, the topic is unknown and the frame is the payload.
pub fn split(frame: &[u8], serializer: Serializer) -> (Option<&[u8]>, &[u8]) {
    if !separated(serializer) || serializer.is_one_value(frame) {
        return (None, frame);
    }
    match frame.iter().position(|b| *b == TOPIC_SEPARATOR) {
        Some(at) => (Some(&frame[..at]), &frame[at + 1..]),
        None => (None, frame),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_names_parse_and_print() {
        for f in [Framing::Multipart, Framing::Osbrain] {
            assert_eq!(f.as_str().parse::<Framing>().unwrap(), f);
        }
        assert!(matches!(
            "single".parse::<Framing>(),
            Err(Error::Invalid { .. })
        ));
        assert_eq!(Framing::default(), Framing::Multipart);
    }

    #[test]
    fn json_and_cbor_frames_hold_the_separator_raw_frames_do_not() {
        let mut buf = b"\"hello\"".to_vec();
        prepend_topic(b"t", Serializer::Json, &mut buf);
        assert_eq!(buf, b"t\x80\"hello\"");
        let mut buf = vec![0x80, 0x01];
        prepend_topic(b"", Serializer::Cbor, &mut buf);
        assert_eq!(buf, [0x80, 0x80, 0x01]);
        let mut buf = b" hello".to_vec();
        prepend_topic(b"t", Serializer::Raw, &mut buf);
        assert_eq!(buf, b"t hello");
    }

    #[test]
    fn a_single_frame_splits_at_the_first_separator() {
        assert_eq!(
            split(b"t\x80\"hello\"", Serializer::Json),
            (Some(&b"t"[..]), &b"\"hello\""[..])
        );
        // The payload may hold the byte itself (CBOR's empty array is 0x80).
        assert_eq!(
            split(&[b'a', 0x80, 0x80], Serializer::Cbor),
            (Some(&b"a"[..]), &[0x80][..])
        );
        assert_eq!(
            split(b"\x80{}", Serializer::Json),
            (Some(&b""[..]), &b"{}"[..])
        );
        // No separator: a plain publisher's payload.
        assert_eq!(split(b"{}", Serializer::Json), (None, &b"{}"[..]));
        // A plain publisher's payload holding the byte: one whole value, not split.
        let text = Serializer::Json.encode("À").unwrap();
        assert_eq!(split(&text, Serializer::Json), (None, &text[..]));
        let list = Serializer::Cbor.encode(&vec![Vec::<u8>::new(); 3]).unwrap();
        assert!(list.contains(&TOPIC_SEPARATOR));
        assert_eq!(split(&list, Serializer::Cbor), (None, &list[..]));
        // Raw: the topic cannot be told apart; osBrain hands over the whole frame too.
        assert_eq!(
            split(b"tt hello", Serializer::Raw),
            (None, &b"tt hello"[..])
        );
    }

    #[test]
    fn what_is_prepended_splits_back() {
        for s in [Serializer::Json, Serializer::Cbor] {
            let mut buf = s.encode(&vec![1u8, 2, 3]).unwrap();
            let payload = buf.clone();
            prepend_topic("À".as_bytes(), s, &mut buf);
            // "À" is C3 80 in UTF-8: a topic holding the separator byte breaks the split, as in osBrain.
            assert_ne!(split(&buf, s).1, &payload[..]);
            let mut buf = payload.clone();
            prepend_topic(b"odd", s, &mut buf);
            assert_eq!(split(&buf, s), (Some(&b"odd"[..]), &payload[..]));
        }
    }
}
