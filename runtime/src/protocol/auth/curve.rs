//! The deployment's CURVE keys, derived from its control key (HMAC-SHA256
//! under two fixed labels): every process of the deployment has them, and
//! no key material goes on the wire or into a registry. See `net::curve`.

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::net::curve::public_of;

/// The deployment's CURVE keys (raw 32-byte keys).
#[derive(Clone)]
pub(crate) struct CurveKeys {
    pub(crate) server_secret: Vec<u8>,
    pub(crate) server_public: Vec<u8>,
    pub(crate) client_secret: Vec<u8>,
    pub(crate) client_public: Vec<u8>,
}

impl std::fmt::Debug for CurveKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurveKeys(<hidden>)")
    }
}

/// The process's CURVE keys, derived once from its deployment key.
pub(crate) fn curve_keys() -> Result<&'static CurveKeys> {
    static KEYS: OnceLock<std::result::Result<CurveKeys, String>> = OnceLock::new();
    KEYS.get_or_init(|| derive().map_err(|e| e.to_string()))
        .as_ref()
        .map_err(|why| Error::Config(why.clone()))
}

fn derive() -> Result<CurveKeys> {
    if !crate::net::curve::available() {
        return Err(Error::Config(
            "secure sockets need a libzmq built with CURVE (libsodium); this build has none: \
             build with --config .cargo/curve.toml --features curve (docs/curve.md)"
                .into(),
        ));
    }
    let key = super::process_key().ok_or_else(|| {
        Error::Config("secure sockets need the deployment key (AXON_KEY / AXON_KEY_FILE)".into())
    })?;
    let server_secret = key.sign(b"axon/curve/server/v1");
    let client_secret = key.sign(b"axon/curve/client/v1");
    Ok(CurveKeys {
        server_public: public_of(&server_secret)?,
        server_secret,
        client_public: public_of(&client_secret)?,
        client_secret,
    })
}
