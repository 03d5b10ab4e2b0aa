//! `Serializer`: how a payload becomes frame bytes and back.
//!
//! `cbor` (the default) and `json` carry any serde value; `raw` carries bytes
//! as they are, so plain ZeroMQ programs in any language can be peers. With
//! `raw`, a value must be bytes or text to be sent, and decoding yields the
//! frame's bytes (or text, when the target type asks for a string).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::cbor_head::{read_string, CborString};
use crate::error::{Error, Result};

/// A dynamic value: what crosses the control plane and what `raw`/`cbor`/`json` payloads decode to.
pub type Value = ciborium::Value;

/// How payloads are encoded on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Serializer {
    /// CBOR (RFC 8949) through ciborium: compact, self-describing, carries bytes.
    #[default]
    Cbor,
    /// JSON through serde_json: readable, interoperable; bytes become arrays of numbers.
    Json,
    /// The frame's bytes as they are.
    Raw,
}

impl Serializer {
    /// The serializer's name as used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Serializer::Cbor => "cbor",
            Serializer::Json => "json",
            Serializer::Raw => "raw",
        }
    }

    /// Encodes `value`, appending to `out` (which is cleared first) so callers can reuse buffers.
    // Always inlined: a send's hot path, where a call costs as much as the string fast path.
    #[inline(always)]
    pub fn encode_into<T: Serialize + ?Sized>(self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        out.clear();
        match self {
            // One string (the common payload) has its CBOR head written by hand, here on the hot path.
            Serializer::Cbor if super::raw::encode_cbor_string(value, out) => Ok(()),
            Serializer::Raw => super::raw::encode(value, out).map_err(|e| self.encode_error(e)),
            Serializer::Cbor | Serializer::Json => self.encode_with_library(value, out),
        }
    }

    /// Encodes `value` into the empty `out` with ciborium or serde_json.
    fn encode_with_library<T: Serialize + ?Sized>(
        self,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<()> {
        match self {
            Serializer::Json => {
                serde_json::to_writer(&mut *out, value).map_err(|e| self.encode_error(e))
            }
            _ => ciborium::into_writer(value, &mut *out).map_err(|e| self.encode_error(e)),
        }
    }

    /// Encodes `value` into a fresh buffer.
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(value, &mut out)?;
        Ok(out)
    }

    /// Decodes `bytes` into `T`.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T> {
        match self {
            Serializer::Cbor => decode_cbor(bytes).map_err(|e| self.decode_error(e)),
            Serializer::Json => serde_json::from_slice(bytes).map_err(|e| self.decode_error(e)),
            Serializer::Raw => decode_raw(bytes),
        }
    }

    /// Whether `bytes` hold exactly one complete value of this serializer,
    /// nothing missing and nothing after it. Always true for `raw`.
    pub fn is_one_value(self, bytes: &[u8]) -> bool {
        match self {
            Serializer::Raw => true,
            Serializer::Json => serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok(),
            Serializer::Cbor => {
                let mut rest = bytes;
                ciborium::from_reader::<serde::de::IgnoredAny, _>(&mut rest).is_ok()
                    && rest.is_empty()
            }
        }
    }

    /// Decodes a byte-string payload, lending out the frame's own bytes
    /// where the encoding allows: always for `raw`, and for `cbor` when the
    /// payload is one definite-length byte or text string (what `send` of
    /// bytes or a `str` produces). Otherwise it decodes into an owned buffer,
    /// with the same errors as `decode::<ByteBuf>`.
    pub fn decode_bytes(self, bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
        match self {
            Serializer::Raw => Ok(Cow::Borrowed(bytes)),
            Serializer::Cbor => match read_string(bytes) {
                Some((CborString::Bytes, inner)) => Ok(Cow::Borrowed(inner)),
                // Text must be UTF-8 to be taken as bytes, as `decode::<ByteBuf>` checks too.
                Some((CborString::Text, inner)) if std::str::from_utf8(inner).is_ok() => {
                    Ok(Cow::Borrowed(inner))
                }
                _ => Ok(Cow::Owned(self.decode::<ByteBuf>(bytes)?.into_vec())),
            },
            Serializer::Json => Ok(Cow::Owned(self.decode::<ByteBuf>(bytes)?.into_vec())),
        }
    }

    /// Decodes a text payload, lending out the frame's own bytes where the
    /// encoding allows: `raw` frames and `cbor` text strings that are valid
    /// UTF-8, and `json` strings without escapes. Otherwise it decodes into
    /// an owned `String`, with the same errors as `decode::<String>`.
    pub fn decode_str(self, bytes: &[u8]) -> Result<Cow<'_, str>> {
        let borrowed = match self {
            Serializer::Raw => {
                return std::str::from_utf8(bytes)
                    .map(Cow::Borrowed)
                    .map_err(|e| self.decode_error(e))
            }
            Serializer::Cbor => match read_string(bytes) {
                Some((CborString::Text, inner)) => std::str::from_utf8(inner).ok(),
                _ => None,
            },
            Serializer::Json => serde_json::from_slice::<&str>(bytes).ok(),
        };
        match borrowed {
            Some(text) => Ok(Cow::Borrowed(text)),
            None => self.decode::<String>(bytes).map(Cow::Owned),
        }
    }

    fn encode_error(self, e: impl fmt::Display) -> Error {
        Error::Encode {
            serializer: self.as_str(),
            reason: e.to_string(),
        }
    }

    fn decode_error(self, e: impl fmt::Display) -> Error {
        Error::Decode {
            serializer: self.as_str(),
            reason: e.to_string(),
        }
    }
}

/// Raw frames decode as bytes; a target that wants text gets the bytes as UTF-8.
fn decode_raw<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    let as_bytes = Value::Bytes(bytes.to_vec()).deserialized::<T>();
    match as_bytes {
        Ok(v) => Ok(v),
        Err(first) => {
            let text = std::str::from_utf8(bytes).map_err(|_| Error::Decode {
                serializer: "raw",
                reason: first.to_string(),
            })?;
            Value::Text(text.to_owned())
                .deserialized::<T>()
                .map_err(|e| Error::Decode {
                    serializer: "raw",
                    reason: e.to_string(),
                })
        }
    }
}

/// Turns any serde value into a dynamic [`Value`].
pub fn to_value<T: Serialize + ?Sized>(v: &T) -> Result<Value> {
    Value::serialized(v).map_err(|e| Serializer::Cbor.encode_error(e))
}

/// A short name for a value's type, for error messages.
pub fn value_type(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "an integer",
        Value::Bytes(_) => "bytes",
        Value::Float(_) => "a float",
        Value::Text(_) => "text",
        Value::Bool(_) => "a bool",
        Value::Null => "null",
        Value::Tag(..) => "a tagged value",
        Value::Array(_) => "an array",
        Value::Map(_) => "a map",
        _ => "an unknown value",
    }
}

impl fmt::Display for Serializer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Serializer {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cbor" => Ok(Serializer::Cbor),
            "json" => Ok(Serializer::Json),
            "raw" => Ok(Serializer::Raw),
            _ => Err(Error::invalid(
                "serializer",
                s,
                "expected cbor, json or raw",
            )),
        }
    }
}

/// Scratch space for CBOR text and byte strings, reused by every decode on this thread.
///
/// `ciborium::from_reader` zeroes a fresh 4 KiB scratch buffer per call;
/// for small messages that memset was the largest cost of receiving.
const CBOR_SCRATCH: usize = 4096;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; CBOR_SCRATCH]);
}

fn decode_cbor<T: DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, String> {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut buf) => {
            ciborium::de::from_reader_with_buffer(bytes, &mut buf).map_err(|e| e.to_string())
        }
        // A decode inside a decode (a Deserialize impl that decodes again) gets its own buffer.
        Err(_) => ciborium::from_reader(bytes).map_err(|e| e.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Order {
        symbol: String,
        qty: i64,
        px: f64,
    }

    #[test]
    fn cbor_and_json_round_trip_structures() {
        let o = Order {
            symbol: "ACME".into(),
            qty: -3,
            px: 10.5,
        };
        for s in [Serializer::Cbor, Serializer::Json] {
            let bytes = s.encode(&o).unwrap();
            assert_eq!(s.decode::<Order>(&bytes).unwrap(), o, "{s}");
            let m: BTreeMap<String, i32> = [("a".to_string(), 1)].into();
            assert_eq!(
                s.decode::<BTreeMap<String, i32>>(&s.encode(&m).unwrap())
                    .unwrap(),
                m
            );
        }
    }

    #[test]
    fn strings_are_lent_out_where_the_encoding_allows() {
        use serde_bytes::Bytes;
        let borrowed = |c: &Cow<'_, [u8]>| matches!(c, Cow::Borrowed(_));
        // Lengths across every CBOR length form: inline, 1, 2 and 4 bytes.
        for len in [0usize, 5, 23, 24, 255, 256, 70_000] {
            let payload = vec![0xA5u8; len];
            let cbor = Serializer::Cbor.encode(&Bytes::new(&payload)).unwrap();
            let got = Serializer::Cbor.decode_bytes(&cbor).unwrap();
            assert!(borrowed(&got), "cbor bytes of {len}");
            assert_eq!(&*got, &payload[..]);
            let text = "é".repeat(len / 2);
            let cbor = Serializer::Cbor.encode(&text).unwrap();
            let got = Serializer::Cbor.decode_str(&cbor).unwrap();
            assert!(matches!(got, Cow::Borrowed(_)), "cbor text of {len}");
            assert_eq!(got, text);
            assert_eq!(
                &*Serializer::Cbor.decode_bytes(&cbor).unwrap(),
                text.as_bytes()
            );
        }
        assert!(borrowed(&Serializer::Raw.decode_bytes(b"\xff").unwrap()));
        assert_eq!(Serializer::Raw.decode_str(b"hi").unwrap(), "hi");
        assert_eq!(Serializer::Json.decode_str(br#""plain""#).unwrap(), "plain");
        // Escaped JSON text and JSON byte arrays are decoded, not lent.
        assert_eq!(Serializer::Json.decode_str(br#""a\"b""#).unwrap(), "a\"b");
        let json = Serializer::Json.encode(&Bytes::new(b"ab")).unwrap();
        assert_eq!(&*Serializer::Json.decode_bytes(&json).unwrap(), b"ab");
    }

    #[test]
    fn lent_strings_fail_like_decoding_does() {
        let cbor = Serializer::Cbor;
        // Not a string at all, a truncated string, trailing bytes, bad UTF-8.
        let number = cbor.encode(&7).unwrap();
        assert!(matches!(
            cbor.decode_bytes(&number),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            cbor.decode_str(&number),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            cbor.decode_bytes(b"\x45ab"),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(
            cbor.decode_str(b"\x62\xff\xfe"),
            Err(Error::Decode { .. })
        ));
        // Text that is not UTF-8 is not lent out as bytes either (found by runtime/tests/decoders.rs).
        assert!(matches!(
            cbor.decode_bytes(b"\x62\xff\xfe"),
            Err(Error::Decode { .. })
        ));
        assert!(cbor.decode_bytes(&[]).is_err());
        let mut trailing = cbor.encode("ab").unwrap();
        trailing.push(0);
        assert_eq!(
            cbor.decode_str(&trailing).unwrap(),
            cbor.decode::<String>(&trailing).unwrap()
        );
        assert!(matches!(
            Serializer::Raw.decode_str(b"\xff"),
            Err(Error::Decode { .. })
        ));
    }

    #[test]
    fn raw_carries_bytes_and_text_only() {
        let r = Serializer::Raw;
        assert_eq!(r.encode("hi").unwrap(), b"hi");
        assert_eq!(
            r.encode(&serde_bytes::Bytes::new(b"\x00\xff")).unwrap(),
            b"\x00\xff"
        );
        assert_eq!(r.decode::<String>(b"hi").unwrap(), "hi");
        assert_eq!(
            r.decode::<serde_bytes::ByteBuf>(b"\xff")
                .unwrap()
                .into_vec(),
            b"\xff"
        );
        assert!(r.encode(&42).is_err());
        assert!(r.decode::<String>(b"\xff\xfe").is_err());
    }

    #[test]
    fn garbage_is_a_decode_error_not_a_panic() {
        assert!(matches!(
            Serializer::Cbor.decode::<Order>(b"\xff\x00garbage"),
            Err(Error::Decode {
                serializer: "cbor",
                ..
            })
        ));
        assert!(Serializer::Json.decode::<Value>(b"{not json").is_err());
    }

    #[test]
    fn encoding_reuses_the_buffer() {
        let mut buf = Vec::with_capacity(64);
        Serializer::Cbor.encode_into(&"a", &mut buf).unwrap();
        Serializer::Cbor.encode_into(&"b", &mut buf).unwrap();
        assert_eq!(Serializer::Cbor.decode::<String>(&buf).unwrap(), "b");
    }
}
