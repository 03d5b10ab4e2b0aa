//! ZeroMQ CURVE for sockets bound with `secure`: encrypted, and closed to
//! anyone who does not hold the deployment key.
//!
//! A secure bind is a CURVE server with the deployment's server secret; a
//! connect to it is a CURVE client that must know the server's public key,
//! which only the deployment key's holders can compute (the keys are derived
//! from it: `protocol::auth::curve`). A peer without it completes no
//! handshake: it can neither receive nor inject anything.
//!
//! CURVE needs a libzmq built with libsodium: the vendored one is not (see
//! docs/curve.md). On such a build a secure bind or connect fails with a
//! clear error; nothing falls back to plain text.

use crate::error::{Error, Result};

/// The CURVE role of one socket, with its keys (raw, 32 bytes each).
#[derive(Clone, Copy)]
pub(crate) enum Curve<'a> {
    /// A secure bind.
    Server { secret: &'a [u8] },
    /// A connect to a secure bind.
    Client {
        server_public: &'a [u8],
        public: &'a [u8],
        secret: &'a [u8],
    },
}

/// Whether this build's libzmq has CURVE.
pub(crate) fn available() -> bool {
    zmq::has("curve") == Some(true)
}

/// The CURVE (X25519) public key of `secret`, both raw 32 bytes.
#[cfg(feature = "curve")]
pub(crate) fn public_of(secret: &[u8]) -> Result<Vec<u8>> {
    let bytes: [u8; 32] = secret
        .try_into()
        .map_err(|_| Error::Config("a CURVE secret is 32 bytes".into()))?;
    let secret = x25519_dalek::StaticSecret::from(bytes);
    Ok(x25519_dalek::PublicKey::from(&secret).as_bytes().to_vec())
}

/// Without the `curve` feature there is no CURVE to derive keys for.
#[cfg(not(feature = "curve"))]
pub(crate) fn public_of(_: &[u8]) -> Result<Vec<u8>> {
    Err(Error::Config(
        "secure sockets need a build with CURVE: --config .cargo/curve.toml --features curve (docs/curve.md)"
            .into(),
    ))
}
