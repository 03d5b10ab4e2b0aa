//! The lease channel: lease renewals of supervised agents as signed
//! datagrams on one unix socket in the node's runtime directory
//! ([`LEASE_SOCKET`]), so that the name server holds no connection per agent.
//!
//! A datagram is `PROTOCOL | n | signature (n bytes) | body`: the AXON/1
//! protocol name, one byte with the signature's length (32 for HMAC-SHA256,
//! 0 in insecure mode), the signature of the body, and the CBOR body. The
//! body of a renewal is a [`Request`] addressed to [`LEASES`] with method
//! `renew` and a [`Renewal`] as its arguments; it is checked like any
//! control request (signature, destination, freshness, replay window per
//! session), and its own destination keeps it from being replayed onto the
//! control socket or the other way round. The answer goes back to the
//! sender's address as a datagram of the same layout whose body is a
//! [`Reply`] with the renewal's id.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::auth::{Guard, Key};
use super::envelope::{self, Reply, Request, Unparsed, PROTOCOL};
use crate::codec::Value;
use crate::error::{Error, RemoteError, Result};
use crate::stats::Stats;

/// The name-server socket renewals go to, in the node's runtime directory.
pub const LEASE_SOCKET: &str = "leases.sock";

/// The destination renewal datagrams are signed for.
pub const LEASES: &str = "nameserver/leases";

/// The longest time between two renewals of an agent, whatever its lease: its counters in
/// `ps` are at most this old, and an agent that stops renewing (hung) is seen within a few.
pub const REPORT_PERIOD: Duration = Duration::from_secs(1);

/// How often an agent with `lease` renews: every lease period, and at least every [`REPORT_PERIOD`].
pub fn renewal_period(lease: Duration) -> Duration {
    lease.min(REPORT_PERIOD)
}

/// The largest datagram either side sends or reads.
pub const MAX_DATAGRAM: usize = 64 * 1024;

/// The arguments of `renew`: who renews, and (when they changed since the
/// name server last took them) its counters, which `ps` and `axon top` show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// The agent's name.
    pub name: String,
    /// Its process: a renewal of another process of that name is refused.
    pub pid: u32,
    /// Its counters, when they changed since the last renewal the name server answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
}

/// A renewal request, signed and laid out as one datagram.
pub fn seal_request(request: &Request) -> Result<Vec<u8>> {
    let body = envelope::encode_body(request)?;
    seal(&super::auth::signature(&body), &body)
}

/// The answer to request `id`, signed and laid out as one datagram.
pub fn seal_reply(id: u64, outcome: std::result::Result<Value, RemoteError>) -> Result<Vec<u8>> {
    let frames = envelope::reply_frames(&[], id, outcome)?;
    let [_, _, signature, body] = &frames[..] else {
        unreachable!("reply_frames gives [route, PROTOCOL, signature, body]")
    };
    seal(signature, body)
}

fn seal(signature: &[u8], body: &[u8]) -> Result<Vec<u8>> {
    let n = u8::try_from(signature.len())
        .map_err(|_| Error::Config("a signature longer than 255 bytes".into()))?;
    let mut out = Vec::with_capacity(PROTOCOL.len() + 1 + signature.len() + body.len());
    out.extend_from_slice(PROTOCOL);
    out.push(n);
    out.extend_from_slice(signature);
    out.extend_from_slice(body);
    if out.len() > MAX_DATAGRAM {
        return Err(Error::Config(format!(
            "a lease datagram of {} bytes, over {MAX_DATAGRAM}",
            out.len()
        )));
    }
    Ok(out)
}

/// The signature and body of a datagram; `None` when it is not laid out as one.
fn split(datagram: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = datagram.strip_prefix(PROTOCOL)?;
    let (&n, rest) = rest.split_first()?;
    let n = usize::from(n);
    (rest.len() >= n).then(|| rest.split_at(n))
}

/// Reads and authenticates a renewal datagram (the same checks as a control request).
pub fn open_request(datagram: &[u8], guard: &mut Guard) -> std::result::Result<Request, Unparsed> {
    let Some((signature, body)) = split(datagram) else {
        return Err(Unparsed::Malformed {
            id: None,
            why: "not a lease datagram (AXON/1, signature length, signature, body)".into(),
        });
    };
    envelope::open_request(&[b"", PROTOCOL, signature, body], guard)
}

/// Reads an answer datagram; `None` for anything that is not one, or whose signature does not verify under `key`.
pub fn open_reply(datagram: &[u8], key: Option<&Key>) -> Option<Reply> {
    let (signature, body) = split(datagram)?;
    let reply: Reply = envelope::decode_body(body).ok()?;
    key.is_none_or(|k| k.verify(body, signature))
        .then_some(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::auth::{ensure_key, Rejection};
    use crate::protocol::Outcome;

    fn renewal() -> Request {
        let args = Renewal {
            name: "a".into(),
            pid: 7,
            stats: None,
        };
        let args = crate::codec::to_value(&args).unwrap();
        Request::new(5, LEASES, "renew", args, false)
    }

    #[test]
    fn a_renewal_is_taken_once_and_only_by_the_lease_channel() {
        ensure_key().unwrap();
        let datagram = seal_request(&renewal()).unwrap();
        let mut guard = Guard::new(LEASES);
        let request = open_request(&datagram, &mut guard).unwrap();
        let args: Renewal = request.decode_args().unwrap();
        assert_eq!(
            (request.method.as_str(), args.name.as_str(), args.pid),
            ("renew", "a", 7)
        );
        match open_request(&datagram, &mut guard) {
            Err(Unparsed::Refused { why, .. }) => assert_eq!(why, Rejection::Replayed),
            other => panic!("a replay was not refused: {other:?}"),
        }
        let mut control = Guard::new(crate::protocol::NAMESERVER);
        match open_request(&datagram, &mut control) {
            Err(Unparsed::Refused { why, .. }) => {
                assert_eq!(why, Rejection::WrongDestination(LEASES.into()))
            }
            other => panic!("a renewal was taken as a control request: {other:?}"),
        }
    }

    #[test]
    fn garbage_and_forged_datagrams_are_refused() {
        let key = ensure_key().unwrap();
        let mut guard = Guard::new(LEASES);
        for garbage in [
            &b""[..],
            b"AXON/1",
            b"AXON/1\x20short",
            b"HTTP/1.1 200",
            b"AXON/1\x00\xff",
        ] {
            assert!(
                matches!(
                    open_request(garbage, &mut guard),
                    Err(Unparsed::Malformed { .. })
                ),
                "{garbage:?}"
            );
        }
        let mut forged = seal_request(&renewal()).unwrap();
        forged[PROTOCOL.len() + 1] ^= 1;
        match open_request(&forged, &mut guard) {
            Err(Unparsed::Refused { why, .. }) => assert_eq!(why, Rejection::BadSignature),
            other => panic!("a forged renewal was not refused: {other:?}"),
        }
        let reply = seal_reply(5, Ok(Value::Null)).unwrap();
        assert_eq!(
            open_reply(&reply, Some(&key)).map(|r| (r.id, r.result)),
            Some((5, Outcome::Ok(Value::Null)))
        );
        assert!(open_reply(&reply, Some(&Key::generate().unwrap())).is_none());
        assert!(open_reply(b"AXON/1", Some(&key)).is_none());
    }
}
