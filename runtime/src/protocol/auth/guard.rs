//! Admitting a signed request: its signature, destination, freshness and
//! place in its sender's sequence (a replay window per session).

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::key::{insecure, process_key, FRESHNESS};

/// The session of this process (random, drawn once) and the next sequence number in it.
pub fn next_stamp() -> (u64, u64) {
    static SESSION: OnceLock<u64> = OnceLock::new();
    static SEQ: AtomicU64 = AtomicU64::new(1);
    let session = *SESSION.get_or_init(random_u64);
    (session, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// 64 random bits from the kernel (a session, a reliable sender's incarnation).
pub fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    match random {
        Ok(()) => u64::from_le_bytes(bytes),
        // No urandom: distinct enough across processes (pid) and restarts (time).
        Err(_) => (u64::from(std::process::id()) << 32) ^ crate::clock::now_ms(),
    }
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
    /// allowed insecure mode ([`INSECURE_ENV`](super::INSECURE_ENV), [`allow_insecure`](super::allow_insecure)).
    pub fn admit(
        &mut self,
        body: &[u8],
        signature: &[u8],
        request: &crate::protocol::Request,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::auth::{ensure_key, Key};

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
