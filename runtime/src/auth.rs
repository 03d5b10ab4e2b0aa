//! Authentication of the control plane: every control message is signed
//! with HMAC-SHA256 under the deployment key, the way Jupyter signs its
//! ZeroMQ messages; requests that are unsigned, wrongly signed, stale or
//! replayed are refused.
//!
//! The key reaches a process through `AXON_KEY` (hex) or `AXON_KEY_FILE` (a
//! file holding the hex key). A script that starts a name server without a
//! key makes one; the name server passes it to its agents in their
//! environment and writes it to `<runtime dir>/key` (mode 0600) for the CLI.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
        let bytes = decode_hex(text).ok_or_else(|| Error::invalid("key", "<hidden>", "not hex"))?;
        if bytes.len() < 16 {
            return Err(Error::invalid("key", "<hidden>", "shorter than 16 bytes"));
        }
        Ok(Key(bytes.into()))
    }

    /// The key, hex-encoded.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
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

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
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

/// Milliseconds since the Unix epoch, for request timestamps.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a control request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// No signature, or one that does not match.
    BadSignature,
    /// The timestamp is too far from now.
    Stale,
    /// The same signed request was seen before.
    Replayed,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::BadSignature => "missing or wrong signature",
            Rejection::Stale => "timestamp outside the freshness window",
            Rejection::Replayed => "replayed request",
        })
    }
}

/// Checks signatures, freshness and replays of incoming control requests.
#[derive(Debug, Default)]
pub struct Guard {
    seen: HashMap<Vec<u8>, Instant>,
    order: VecDeque<(Instant, Vec<u8>)>,
}

impl Guard {
    /// Admits a request whose `body` carries timestamp `ts` (ms) and arrived with `signature`.
    ///
    /// Without a process key every request is admitted (an unsigned deployment).
    pub fn admit(&mut self, body: &[u8], signature: &[u8], ts: u64) -> Result<(), Rejection> {
        let Some(key) = process_key() else {
            return Ok(());
        };
        if !key.verify(body, signature) {
            return Err(Rejection::BadSignature);
        }
        let age = now_ms().abs_diff(ts);
        if age > FRESHNESS.as_millis() as u64 {
            return Err(Rejection::Stale);
        }
        self.forget_old();
        if self.seen.contains_key(signature) {
            return Err(Rejection::Replayed);
        }
        let now = Instant::now();
        self.seen.insert(signature.to_vec(), now);
        self.order.push_back((now, signature.to_vec()));
        Ok(())
    }

    /// Signatures older than twice the freshness window can no longer be replayed: stale wins.
    fn forget_old(&mut self) {
        let horizon = FRESHNESS * 2;
        while let Some((at, _)) = self.order.front() {
            if at.elapsed() < horizon {
                break;
            }
            if let Some((_, sig)) = self.order.pop_front() {
                self.seen.remove(&sig);
            }
        }
    }
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

    #[test]
    fn keys_round_trip_through_hex_and_short_keys_are_refused() {
        let k = Key::generate().unwrap();
        assert_eq!(Key::from_hex(&k.to_hex()).unwrap(), k);
        assert!(Key::from_hex("abcd").is_err());
        assert!(Key::from_hex("zz").is_err());
        assert_eq!(format!("{k:?}"), "Key(..)");
    }
}
