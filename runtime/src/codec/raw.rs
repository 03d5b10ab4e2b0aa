//! The `raw` serializer's encoder, and `cbor`'s fast path: a serde
//! serializer that takes bytes or text and writes them straight into the
//! output buffer (no intermediate value, no allocation), and refuses
//! everything else.
//!
//! For `raw` the bytes go out as they are. For `cbor` a string head goes
//! first (`cbor_head`), and a refusal costs nothing: the caller encodes the
//! value with ciborium instead.

use std::fmt;

use serde::ser::{self, Impossible, Serialize};

use super::cbor_head::{write_head, CborString};

/// Why a value cannot go out as raw bytes.
#[derive(Debug)]
pub(crate) enum NotRaw {
    /// The value is of this kind ("an integer", "a map", ...), not bytes or text.
    Kind(&'static str),
    /// Its `Serialize` implementation failed with this message.
    Custom(String),
}

impl fmt::Display for NotRaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotRaw::Kind(what) => write!(f, "raw takes bytes or text, not {what}"),
            NotRaw::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for NotRaw {}

impl ser::Error for NotRaw {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        NotRaw::Custom(msg.to_string())
    }
}

/// Writes `value` (bytes or text) into `out`.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), NotRaw> {
    value.serialize(Strings { out, cbor: false })
}

/// Writes `value` into `out` as one CBOR string, as ciborium would, when it
/// serializes as bytes or text; `false` (with `out` as it was) otherwise.
#[inline(always)]
pub(crate) fn encode_cbor_string<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    let written = value.serialize(Strings { out, cbor: true }).is_ok();
    if !written {
        out.truncate(start);
    }
    written
}

struct Strings<'a> {
    out: &'a mut Vec<u8>,
    /// Each string gets its CBOR head.
    cbor: bool,
}

impl Strings<'_> {
    #[inline(always)]
    fn write(self, kind: CborString, v: &[u8]) -> Result<(), NotRaw> {
        // Room for the longest head and the string, reserved once.
        self.out.reserve(9 + v.len());
        if self.cbor {
            write_head(kind, v.len(), self.out);
        }
        self.out.extend_from_slice(v);
        Ok(())
    }
}

fn refuse(what: &'static str) -> NotRaw {
    NotRaw::Kind(what)
}

macro_rules! refuse_scalars {
    ($($method:ident($ty:ty) => $what:literal),* $(,)?) => {
        $(fn $method(self, _: $ty) -> Result<(), NotRaw> {
            Err(refuse($what))
        })*
    };
}

impl ser::Serializer for Strings<'_> {
    type Ok = ();
    type Error = NotRaw;
    type SerializeSeq = Impossible<(), NotRaw>;
    type SerializeTuple = Impossible<(), NotRaw>;
    type SerializeTupleStruct = Impossible<(), NotRaw>;
    type SerializeTupleVariant = Impossible<(), NotRaw>;
    type SerializeMap = Impossible<(), NotRaw>;
    type SerializeStruct = Impossible<(), NotRaw>;
    type SerializeStructVariant = Impossible<(), NotRaw>;

    #[inline]
    fn serialize_bytes(self, v: &[u8]) -> Result<(), NotRaw> {
        self.write(CborString::Bytes, v)
    }

    #[inline]
    fn serialize_str(self, v: &str) -> Result<(), NotRaw> {
        self.write(CborString::Text, v.as_bytes())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), NotRaw> {
        value.serialize(self)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), NotRaw> {
        value.serialize(self)
    }

    refuse_scalars! {
        serialize_bool(bool) => "a bool",
        serialize_i8(i8) => "an integer",
        serialize_i16(i16) => "an integer",
        serialize_i32(i32) => "an integer",
        serialize_i64(i64) => "an integer",
        serialize_u8(u8) => "an integer",
        serialize_u16(u16) => "an integer",
        serialize_u32(u32) => "an integer",
        serialize_u64(u64) => "an integer",
        serialize_f32(f32) => "a float",
        serialize_f64(f64) => "a float",
        serialize_char(char) => "a char",
        serialize_unit_struct(&'static str) => "a unit struct",
    }

    fn serialize_none(self) -> Result<(), NotRaw> {
        Err(refuse("null"))
    }

    fn serialize_unit(self) -> Result<(), NotRaw> {
        Err(refuse("null"))
    }

    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
    ) -> Result<(), NotRaw> {
        Err(refuse("an enum"))
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), NotRaw> {
        Err(refuse("an enum"))
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, NotRaw> {
        Err(refuse("an array (use serde_bytes for byte vectors)"))
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, NotRaw> {
        Err(refuse("a tuple"))
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, NotRaw> {
        Err(refuse("a tuple struct"))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, NotRaw> {
        Err(refuse("an enum"))
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, NotRaw> {
        Err(refuse("a map"))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Self::SerializeStruct, NotRaw> {
        Err(refuse("a struct"))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, NotRaw> {
        Err(refuse("an enum"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Value;

    fn raw<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, NotRaw> {
        let mut out = Vec::new();
        encode(v, &mut out).map(|()| out)
    }

    #[test]
    fn bytes_and_text_pass_through_and_the_rest_is_refused() {
        assert_eq!(raw("hi").unwrap(), b"hi");
        assert_eq!(
            raw(&serde_bytes::Bytes::new(b"\x00\xff")).unwrap(),
            b"\x00\xff"
        );
        assert_eq!(raw(&Value::Bytes(vec![1, 2])).unwrap(), [1, 2]);
        assert_eq!(raw(&Value::Text("t".into())).unwrap(), b"t");
        assert_eq!(raw(&Some("x")).unwrap(), b"x");
        assert!(raw(&42).unwrap_err().to_string().contains("an integer"));
        assert!(raw(&vec![1u8]).is_err());
        assert!(raw(&Value::Map(vec![])).is_err());
    }

    #[test]
    fn cbor_strings_match_ciborium_and_the_rest_is_left_to_it() {
        let via_ciborium = |v: &dyn erased::Erased| v.ciborium();
        let fast = |v: &dyn erased::Erased| v.fast();
        let long = "x".repeat(300);
        let values: [&dyn erased::Erased; 5] = [
            &"hi",
            &serde_bytes::Bytes::new(b"\x00\xff"),
            &Some(long.as_str()),
            &Value::Bytes(vec![7; 40]),
            &Value::Text(String::new()),
        ];
        for v in values {
            assert_eq!(fast(v), Some(via_ciborium(v)));
        }
        let others: [&dyn erased::Erased; 4] = [&42, &vec![1u8], &Value::Map(vec![]), &()];
        for v in others {
            assert_eq!(fast(v), None);
        }
    }

    /// Lets the test list values of different types.
    mod erased {
        pub trait Erased {
            fn ciborium(&self) -> Vec<u8>;
            fn fast(&self) -> Option<Vec<u8>>;
        }

        impl<T: serde::Serialize> Erased for T {
            fn ciborium(&self) -> Vec<u8> {
                let mut out = Vec::new();
                ciborium::into_writer(self, &mut out).unwrap();
                out
            }

            fn fast(&self) -> Option<Vec<u8>> {
                // Something already in the buffer stays, and a refusal leaves it as it was.
                let mut out = vec![9];
                let written = super::super::encode_cbor_string(self, &mut out);
                assert_eq!(out[0], 9);
                written.then(|| out[1..].to_vec()).or_else(|| {
                    assert_eq!(out, [9]);
                    None
                })
            }
        }
    }
}
