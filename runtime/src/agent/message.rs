//! `Message`: what a handler receives, decoded on demand.

use std::borrow::Cow;

use serde::de::DeserializeOwned;

use crate::codec::{Serializer, Value};
use crate::error::Result;

/// A received message, borrowed from the socket's frames.
///
/// Nothing is decoded until the handler asks, so a handler that only
/// forwards bytes pays for no decoding.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    alias: &'a str,
    topic: Option<&'a [u8]>,
    payload: &'a [u8],
    serializer: Serializer,
    wants_reply: bool,
}

impl<'a> Message<'a> {
    pub(crate) fn new(
        alias: &'a str,
        topic: Option<&'a [u8]>,
        payload: &'a [u8],
        serializer: Serializer,
    ) -> Self {
        Message {
            alias,
            topic,
            payload,
            serializer,
            wants_reply: false,
        }
    }

    pub(crate) fn expecting_reply(mut self) -> Self {
        self.wants_reply = true;
        self
    }

    /// Decodes the payload with the socket's serializer.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T> {
        self.serializer.decode(self.payload)
    }

    /// The payload as bytes, borrowed from the frame where the serializer
    /// allows (`raw`, and a `cbor` byte or text string), else decoded.
    ///
    /// The allocation-free way to read a byte payload on a hot path; fails
    /// like `decode::<ByteBuf>()` when the payload is not bytes.
    pub fn decode_bytes(&self) -> Result<Cow<'a, [u8]>> {
        self.serializer.decode_bytes(self.payload)
    }

    /// The payload as text, borrowed from the frame where the serializer
    /// allows (`raw`, a `cbor` text string, a `json` string without
    /// escapes), else decoded; fails like `decode::<String>()`.
    pub fn decode_str(&self) -> Result<Cow<'a, str>> {
        self.serializer.decode_str(self.payload)
    }

    /// Decodes the payload into a dynamic value.
    pub fn value(&self) -> Result<Value> {
        self.decode()
    }

    /// The payload's bytes as received.
    pub fn bytes(&self) -> &'a [u8] {
        self.payload
    }

    /// The topic (PUB/SUB only).
    pub fn topic(&self) -> Option<&'a [u8]> {
        self.topic
    }

    /// The alias of the socket that received it.
    pub fn alias(&self) -> &'a str {
        self.alias
    }

    /// The socket's serializer.
    pub fn serializer(&self) -> Serializer {
        self.serializer
    }

    /// Whether the handler's value is sent back (REP sockets).
    pub fn wants_reply(&self) -> bool {
        self.wants_reply
    }
}
