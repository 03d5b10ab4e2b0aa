//! The deployment key: where a process finds it, and signing with it.

use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::env_var;
use crate::error::{Error, Result};

/// Environment variable holding the deployment key, hex-encoded.
pub const KEY_ENV: &str = "AXON_KEY";

/// Environment variable naming a file that holds the hex key.
pub const KEY_FILE_ENV: &str = "AXON_KEY_FILE";

/// How far a request's timestamp may be from the receiver's clock.
pub const FRESHNESS: Duration = Duration::from_secs(60);

type HmacSha256 = Hmac<Sha256>;

/// A deployment key.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(Arc<[u8]>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print key material.
        f.write_str("Key(..)")
    }
}

impl Key {
    /// 32 random bytes from the kernel.
    pub fn generate() -> Result<Key> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Key(Arc::from(&bytes[..])))
    }

    /// Parses a hex key of at least 16 bytes.
    pub fn from_hex(text: &str) -> Result<Key> {
        let text = text.trim();
        let bytes = crate::codec::hex::decode(text)
            .ok_or_else(|| Error::invalid("key", "<hidden>", "not hex"))?;
        if bytes.len() < 16 {
            return Err(Error::invalid("key", "<hidden>", "shorter than 16 bytes"));
        }
        Ok(Key(bytes.into()))
    }

    /// The key, hex-encoded.
    pub fn to_hex(&self) -> String {
        crate::codec::hex::encode(&self.0)
    }

    /// The key from `AXON_KEY` or `AXON_KEY_FILE`, if either is set.
    pub fn from_env() -> Result<Option<Key>> {
        if let Some(hex) = env_var(KEY_ENV)? {
            return Key::from_hex(&hex).map(Some);
        }
        match env_var(KEY_FILE_ENV)? {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| Error::Config(format!("cannot read key file {path}: {e}")))?;
                Key::from_hex(&text).map(Some)
            }
            None => Ok(None),
        }
    }

    /// The signature of `body`.
    pub fn sign(&self, body: &[u8]) -> Vec<u8> {
        let mut mac = self.mac();
        mac.update(body);
        mac.finalize().into_bytes().to_vec()
    }

    /// Whether `signature` is the signature of `body` (compared in constant time).
    pub fn verify(&self, body: &[u8], signature: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length.
        HmacSha256::new_from_slice(&self.0).expect("hmac accepts any key length")
    }
}

static PROCESS_KEY: RwLock<Option<Option<Key>>> = RwLock::new(None);

/// The key this process signs and verifies with: installed, or read from the environment once.
pub fn process_key() -> Option<Key> {
    if let Some(key) = PROCESS_KEY.read().ok().and_then(|k| k.clone()) {
        return key;
    }
    let from_env = Key::from_env().unwrap_or_else(|e| {
        tracing::error!(error = %e, "ignoring unusable deployment key");
        None
    });
    if let Ok(mut slot) = PROCESS_KEY.write() {
        return slot.get_or_insert(from_env).clone();
    }
    None
}

/// The process key; when there is none, a fresh one becomes it (atomically, so
/// that threads starting nodes at once agree on one key).
pub fn ensure_key() -> Result<Key> {
    if let Some(key) = process_key() {
        return Ok(key);
    }
    let mut slot = PROCESS_KEY
        .write()
        .map_err(|_| Error::Config("process key lock poisoned".into()))?;
    if let Some(Some(key)) = slot.as_ref() {
        return Ok(key.clone());
    }
    let key = Key::generate()?;
    *slot = Some(Some(key.clone()));
    Ok(key)
}

/// Makes `key` the key this process signs and verifies with.
pub fn install_key(key: Key) {
    if let Ok(mut slot) = PROCESS_KEY.write() {
        *slot = Some(Some(key));
    }
}

/// Environment variable that lets a process without a key accept unsigned requests (`1`).
pub const INSECURE_ENV: &str = "AXON_INSECURE";

/// What a caller with the wrong key hears when the receiver refuses its request.
pub const KEY_MISMATCH: &str =
    "signature does not verify: the key used here is not the deployment's key";

static INSECURE: AtomicBool = AtomicBool::new(false);

/// Lets this process, when it has no key, accept unsigned requests (the operator's explicit choice).
pub fn allow_insecure() {
    INSECURE.store(true, Ordering::Relaxed);
}

/// Whether unsigned requests are accepted: only without a key, and only when the operator said so.
pub(super) fn insecure() -> bool {
    static FROM_ENV: OnceLock<bool> = OnceLock::new();
    let from_env = *FROM_ENV.get_or_init(|| {
        matches!(
            std::env::var(INSECURE_ENV).as_deref(),
            Ok("1") | Ok("true") | Ok("yes")
        )
    });
    let on = from_env || INSECURE.load(Ordering::Relaxed);
    static WARNED: OnceLock<()> = OnceLock::new();
    if on {
        WARNED.get_or_init(|| {
            tracing::warn!(
                "no deployment key and insecure mode on: unsigned control requests are accepted"
            );
        });
    }
    on
}

/// The signature frame for `body` under the process key (empty when unsigned).
pub fn signature(body: &[u8]) -> Vec<u8> {
    process_key().map(|k| k.sign(body)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_same_key_and_body() {
        let k = Key::generate().unwrap();
        let other = Key::generate().unwrap();
        let sig = k.sign(b"body");
        assert!(k.verify(b"body", &sig));
        assert!(!k.verify(b"bodY", &sig));
        assert!(!other.verify(b"body", &sig));
        assert!(!k.verify(b"body", b""));
    }
}
