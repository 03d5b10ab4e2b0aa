//! Values <-> bytes: the serializers payloads travel in, and hex text for
//! bytes that travel in environment variables and files.
//!
//! The first folder on a message's path that knows what a payload is; it
//! knows nothing of sockets.

mod cbor_head;
pub mod hex;
mod raw;
mod serializer;

pub use serializer::{to_value, value_type, Serializer, Value};
