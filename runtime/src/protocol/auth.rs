//! Authentication of the control plane: every control message is signed
//! with HMAC-SHA256 under the deployment key, the way Jupyter signs its
//! ZeroMQ messages. The signed body names its destination, its time, and
//! the sender's session and sequence number; requests that are unsigned,
//! wrongly signed, meant for another receiver, stale or replayed are refused.
//! A process with no key refuses everything unless its operator started it
//! in insecure mode.
//!
//! The key reaches a process through `AXON_KEY` (hex) or `AXON_KEY_FILE` (a
//! file holding the hex key). A script that starts a name server without a
//! key makes one; the name server passes it to its agents in their
//! environment and writes it to `<runtime dir>/key` (mode 0600) for the CLI.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

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
fn insecure() -> bool {
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

/// The session of this process (random, drawn once) and the next sequence number in it.
pub fn next_stamp() -> (u64, u64) {
    static SESSION: OnceLock<u64> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(1);
    let session = *SESSION.get_or_init(|| {
        let mut bytes = [0u8; 8];
        let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
        match random {
            Ok(()) => u64::from_le_bytes(bytes),
            // No urandom: distinct enough across processes (pid) and restarts (time).
            Err(_) => (u64::from(std::process::id()) << 32) ^ crate::clock::now_ms(),
        }
    });
    (session, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Why a control request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// This process has no deployment key, so it cannot check any request.
    NoKey,
    /// No signature, or one that does not match.
    BadSignature,
    /// Signed for another receiver.
    WrongDestination(String),
    /// The timestamp is too far from now.
    Stale,
    /// The same request (session and sequence number) was seen before, or is too old to tell.
    Replayed,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NoKey => f.write_str("this process has no deployment key"),
            Rejection::BadSignature => f.write_str("signature does not verify"),
            Rejection::WrongDestination(to) => write!(f, "request was signed for {to:?}"),
            Rejection::Stale => f.write_str("timestamp outside the freshness window"),
            Rejection::Replayed => f.write_str("replayed request"),
        }
    }
}

/// Sequence numbers remembered per session, behind the highest one seen.
const WINDOW: u64 = 1024;

/// A session unheard of for this long is forgotten: a replay of any of its
/// requests is then stale (their timestamps are more than [`FRESHNESS`] old).
const SESSION_TTL: Duration = Duration::from_secs(2 * FRESHNESS.as_secs() + 1);

/// Most sessions remembered at once; past it the least recently heard is forgotten.
const MAX_SESSIONS: usize = 1 << 16;

/// What one sender's session has used: the highest sequence number and the
/// [`WINDOW`] below it, as a ring of bits (the anti-replay window of IPsec,
/// RFC 6479). Memory is per sender, not per request.
#[derive(Debug)]
struct Window {
    top: u64,
    bits: [u64; (WINDOW / 64) as usize],
    heard: Instant,
    /// The latest timestamp seen in this session.
    max_ts: u64,
}

impl Window {
    fn new() -> Self {
        Window {
            top: 0,
            bits: [0; (WINDOW / 64) as usize],
            heard: Instant::now(),
            max_ts: 0,
        }
    }

    /// Marks `seq` as used; false when it was used before or is too old to tell.
    fn mark(&mut self, seq: u64) -> bool {
        if seq == 0 || seq.saturating_add(WINDOW) <= self.top {
            return false;
        }
        if seq > self.top {
            if seq - self.top >= WINDOW {
                self.bits = [0; (WINDOW / 64) as usize];
            } else {
                for s in self.top + 1..=seq {
                    self.set(s, false);
                }
            }
            self.top = seq;
        }
        if self.get(seq) {
            return false;
        }
        self.set(seq, true);
        true
    }

    fn get(&self, seq: u64) -> bool {
        let i = seq % WINDOW;
        self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, seq: u64, on: bool) {
        let i = seq % WINDOW;
        let word = &mut self.bits[(i / 64) as usize];
        if on {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }
}

/// Checks incoming control requests: signature, destination, freshness, replays.
#[derive(Debug)]
pub struct Guard {
    /// The name requests must be addressed to.
    identity: String,
    sessions: HashMap<u64, Window>,
    /// Requests of a session this guard no longer remembers must be newer than this (ms).
    floor_ts: u64,
    swept: Instant,
}

impl Guard {
    /// A guard for the receiver called `identity` (an agent's name, or the name server).
    pub fn new(identity: impl Into<String>) -> Self {
        Guard {
            identity: identity.into(),
            sessions: HashMap::new(),
            floor_ts: 0,
            swept: Instant::now(),
        }
    }

    /// Admits `request`, whose signed `body` arrived with `signature`.
    ///
    /// Without a process key every request is refused, unless the operator
    /// allowed insecure mode ([`INSECURE_ENV`], [`allow_insecure`]).
    pub fn admit(
        &mut self,
        body: &[u8],
        signature: &[u8],
        request: &super::Request,
    ) -> Result<(), Rejection> {
        let Some(key) = process_key() else {
            return if insecure() {
                Ok(())
            } else {
                Err(Rejection::NoKey)
            };
        };
        if !key.verify(body, signature) {
            return Err(Rejection::BadSignature);
        }
        if request.to != self.identity {
            return Err(Rejection::WrongDestination(request.to.clone()));
        }
        if crate::clock::now_ms().abs_diff(request.ts) > FRESHNESS.as_millis() as u64 {
            return Err(Rejection::Stale);
        }
        self.sweep();
        self.check_replay(request.session, request.seq, request.ts)
    }

    /// How many senders this guard remembers.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    fn check_replay(&mut self, session: u64, seq: u64, ts: u64) -> Result<(), Rejection> {
        if !self.sessions.contains_key(&session) {
            if ts <= self.floor_ts {
                return Err(Rejection::Replayed);
            }
            if self.sessions.len() >= MAX_SESSIONS {
                self.forget_least_recent();
            }
        }
        let window = self.sessions.entry(session).or_insert_with(Window::new);
        if !window.mark(seq) {
            return Err(Rejection::Replayed);
        }
        window.heard = Instant::now();
        window.max_ts = window.max_ts.max(ts);
        Ok(())
    }

    /// Forgets sessions unheard of for [`SESSION_TTL`]; at most once a second.
    fn sweep(&mut self) {
        if self.swept.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.swept = Instant::now();
        self.sessions.retain(|_, w| w.heard.elapsed() < SESSION_TTL);
    }

    fn forget_least_recent(&mut self) {
        let oldest = self
            .sessions
            .iter()
            .min_by_key(|(_, w)| w.heard)
            .map(|(s, w)| (*s, w.max_ts));
        if let Some((session, max_ts)) = oldest {
            self.sessions.remove(&session);
            // Anything of that session that comes again is no newer than this.
            self.floor_ts = self.floor_ts.max(max_ts);
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

    fn signed(
        to: &str,
        ts: u64,
        session: u64,
        seq: u64,
    ) -> (Vec<u8>, Vec<u8>, crate::protocol::Request) {
        let key = ensure_key().unwrap();
        let request = crate::protocol::Request {
            id: 1,
            to: to.into(),
            method: "ping".into(),
            args: crate::codec::Value::Null,
            oneway: false,
            ts,
            session,
            seq,
        };
        let body = crate::protocol::encode_body(&request).unwrap();
        (key.sign(&body), body, request)
    }

    fn admit(
        guard: &mut Guard,
        to: &str,
        ts: u64,
        session: u64,
        seq: u64,
    ) -> Result<(), Rejection> {
        let (sig, body, request) = signed(to, ts, session, seq);
        guard.admit(&body, &sig, &request)
    }

    #[test]
    fn a_request_is_admitted_once_and_only_by_its_destination() {
        let mut alice = Guard::new("alice");
        let mut bob = Guard::new("bob");
        let now = crate::clock::now_ms();
        assert_eq!(admit(&mut alice, "alice", now, 7, 1), Ok(()));
        assert_eq!(
            admit(&mut alice, "alice", now, 7, 1),
            Err(Rejection::Replayed)
        );
        assert_eq!(
            admit(&mut bob, "alice", now, 7, 2),
            Err(Rejection::WrongDestination("alice".into()))
        );
        let (sig, body, mut request) = signed("alice", now, 7, 3);
        request.to = "bob".into();
        // The destination is read from the signed body: a body edited in flight does not verify.
        let edited = crate::protocol::encode_body(&request).unwrap();
        assert_eq!(
            bob.admit(&edited, &sig, &request),
            Err(Rejection::BadSignature)
        );
        assert_eq!(
            alice.admit(&body, b"", &request),
            Err(Rejection::BadSignature)
        );
    }

    #[test]
    fn stale_requests_are_refused_both_ways() {
        let mut g = Guard::new("a");
        let window = FRESHNESS.as_millis() as u64;
        let now = crate::clock::now_ms();
        assert_eq!(
            admit(&mut g, "a", now - window - 5_000, 1, 1),
            Err(Rejection::Stale)
        );
        assert_eq!(
            admit(&mut g, "a", now + window + 5_000, 1, 2),
            Err(Rejection::Stale)
        );
    }

    #[test]
    fn sequence_numbers_may_arrive_out_of_order_within_the_window() {
        let mut w = Window::new();
        assert!(w.mark(5));
        assert!(w.mark(3));
        assert!(!w.mark(3));
        assert!(w.mark(5 + WINDOW - 1));
        // 5 is still inside the window and was used; 4 fell out of it.
        assert!(!w.mark(5));
        assert!(!w.mark(4));
        assert!(w.mark(6));
        assert!(w.mark(3 * WINDOW));
        // Far behind the top: too old to tell, so refused.
        assert!(!w.mark(6));
        assert!(!w.mark(0));
        assert!(w.mark(3 * WINDOW - 1));
    }

    #[test]
    fn memory_is_per_sender_and_a_forgotten_sender_cannot_replay() {
        let mut g = Guard::new("a");
        let now = crate::clock::now_ms();
        for seq in 1..=5000 {
            assert_eq!(admit(&mut g, "a", now, 42, seq), Ok(()));
        }
        assert_eq!(g.sessions(), 1);
        g.sessions.clear();
        g.forget_least_recent();
        // Forgetting a session raises the floor to its newest timestamp.
        g.sessions.insert(
            42,
            Window {
                max_ts: now,
                ..Window::new()
            },
        );
        g.forget_least_recent();
        assert_eq!(admit(&mut g, "a", now, 42, 5000), Err(Rejection::Replayed));
        assert_eq!(admit(&mut g, "a", now + 1, 43, 1), Ok(()));
    }
}
