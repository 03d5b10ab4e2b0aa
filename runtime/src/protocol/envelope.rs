//! The envelope: what crosses a control socket, and the data-plane markers.
//!
//! Control frames (DEALER -> ROUTER): `[PROTOCOL, signature, body]`, where
//! `body` is a CBOR [`Request`]; the answer is `[PROTOCOL, signature, body]`
//! with a CBOR [`Reply`]. The signature is HMAC-SHA256 of the body under the
//! deployment key (see [`super::auth`]). This module is the one parser of
//! these frames: [`open_request`] for receivers, [`open_reply`] for clients.
//!
//! Data frames: PUSH/PULL carry `[payload]`; PUB/SUB carry `[topic, payload]`
//! (a single frame is a payload whose prefix is matched as the topic); REQ/REP
//! carry `[payload]` after ZeroMQ's envelope, and a failed request is answered
//! with `[ERROR_MARKER, cbor(RemoteError)]` so that the requester sees an
//! error, never a hang.

use serde::{Deserialize, Serialize};

use super::auth::{Guard, Rejection};
use crate::codec::Value;
use crate::error::{ErrorKind, RemoteError};

/// First frame of every control message: names the protocol and its version.
pub const PROTOCOL: &[u8] = b"AXON/1";

/// The destination name of requests meant for the name server.
pub const NAMESERVER: &str = "nameserver";

/// First frame of a REP error answer on the data plane.
pub const ERROR_MARKER: &[u8] = b"\x00axon-error";

/// A control request.
///
/// Everything that makes a request unique and bound to one receiver is in
/// the signed body: the destination (`to`), the time it was made (`ts`) and
/// the sender's session and sequence number. A request captured on its way
/// to one agent is therefore refused by every other agent and by the name
/// server, and a request seen once is refused the second time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the caller; the reply carries it back.
    pub id: u64,
    /// The destination: an agent's name, or [`NAMESERVER`].
    pub to: String,
    /// The operation, e.g. `ping`, `bind`, `send`.
    pub method: String,
    /// The operation's arguments, as a map (or null).
    #[serde(default = "null")]
    pub args: Value,
    /// When set, no reply is sent.
    #[serde(default)]
    pub oneway: bool,
    /// When the request was made (ms since the Unix epoch); stale requests are refused.
    pub ts: u64,
    /// The sending process's session: random, drawn once per process.
    pub session: u64,
    /// Sequence number of the request within its session (from 1).
    pub seq: u64,
}

impl Request {
    /// A request to `to`, stamped with the current time and the next sequence number of this process.
    pub fn new(id: u64, to: &str, method: &str, args: Value, oneway: bool) -> Self {
        let (session, seq) = super::auth::next_stamp();
        Request {
            id,
            to: to.to_owned(),
            method: method.to_owned(),
            args,
            oneway,
            ts: crate::clock::now_ms(),
            session,
            seq,
        }
    }
}

fn null() -> Value {
    Value::Null
}

impl Request {
    /// Decodes the arguments; null counts as "no arguments" (an empty map).
    pub fn decode_args<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        let args = match &self.args {
            Value::Null => Value::Map(Vec::new()),
            v => v.clone(),
        };
        args.deserialized().map_err(|e| {
            let ciborium::value::Error::Custom(reason) = e;
            reason
        })
    }
}

impl Outcome {
    /// The value, or the remote side's error.
    pub fn into_result(self) -> Result<Value, RemoteError> {
        match self {
            Outcome::Ok(v) => Ok(v),
            Outcome::Err(e) => Err(e),
        }
    }
}

/// Opens a reply `[PROTOCOL, signature, body]`: `None` for anything else.
///
/// A reply whose signature does not verify under `key` is ignored (logged),
/// with one exception: a `refused` answer. A receiver that could not verify
/// our request signs its refusal with *its* key, which we cannot verify
/// either; taking it is what lets a caller with the wrong key hear "refused"
/// at once instead of timing out. The worst a forged refusal can do is fail
/// one call, which anyone on the path could do by dropping it.
pub fn open_reply(frames: &[&[u8]], key: Option<&super::auth::Key>, peer: &str) -> Option<Reply> {
    let [proto, sig, body] = frames else {
        return None;
    };
    if *proto != PROTOCOL {
        return None;
    }
    let reply: Reply = decode_body(body).ok()?;
    if key.is_none_or(|k| k.verify(body, sig)) {
        return Some(reply);
    }
    match reply.result {
        Outcome::Err(e) if e.kind == ErrorKind::Refused => Some(Reply {
            id: reply.id,
            result: Outcome::Err(RemoteError {
                message: super::auth::KEY_MISMATCH.into(),
                ..e
            }),
        }),
        _ => {
            tracing::warn!(peer, "control reply with a wrong signature ignored");
            None
        }
    }
}

/// A control reply: the request id and either a value or a structured error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The id of the request this answers.
    pub id: u64,
    /// The outcome.
    pub result: Outcome,
}

/// The outcome of a control request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The request succeeded with this value.
    Ok(Value),
    /// The request was refused or failed.
    Err(RemoteError),
}

/// Why a message on a control socket was not taken.
#[derive(Debug)]
pub enum Unparsed {
    /// Not a control request; `id` is set when the body still names one, so it can be answered.
    Malformed {
        /// The request id, when the last frame still decodes to a map with one.
        id: Option<u64>,
        /// What is wrong with it.
        why: String,
    },
    /// A well-formed request that failed authentication; it is answered `refused`.
    Refused {
        /// Its id.
        id: u64,
        /// Its method.
        method: String,
        /// Why it was refused.
        why: Rejection,
    },
}

/// Reads and authenticates `[route, PROTOCOL, signature, body]`, as a ROUTER receives a request.
pub fn open_request(frames: &[&[u8]], guard: &mut Guard) -> Result<Request, Unparsed> {
    let [_route, proto, sig, body] = frames else {
        let why = format!(
            "{} frames instead of [route, AXON/1, signature, body]",
            frames.len()
        );
        return Err(malformed(frames, why));
    };
    if *proto != PROTOCOL {
        return Err(malformed(frames, "unknown protocol frame".into()));
    }
    let request = decode_body::<Request>(body)
        .map_err(|e| malformed(frames, format!("undecodable request: {e}")))?;
    match guard.admit(body, sig, &request) {
        Ok(()) => Ok(request),
        Err(why) => Err(Unparsed::Refused {
            id: request.id,
            method: request.method,
            why,
        }),
    }
}

/// Just the request id of a body that is not a valid request.
#[derive(Deserialize)]
struct IdOnly {
    id: u64,
}

/// A malformed message; answerable when it has a route and its last frame still carries an id.
fn malformed(frames: &[&[u8]], why: String) -> Unparsed {
    let id = match frames {
        [_route, .., body] => decode_body::<IdOnly>(body).ok().map(|i| i.id),
        _ => None,
    };
    Unparsed::Malformed { id, why }
}

/// The signed frames answering request `id` from `route`: `[route, PROTOCOL, signature, body]`.
pub fn reply_frames(
    route: &[u8],
    id: u64,
    outcome: Result<Value, RemoteError>,
) -> crate::error::Result<Vec<Vec<u8>>> {
    let result = match outcome {
        Ok(v) => Outcome::Ok(v),
        Err(e) => Outcome::Err(e),
    };
    let body = encode_body(&Reply { id, result })?;
    let signature = super::auth::signature(&body);
    Ok(vec![route.to_vec(), PROTOCOL.to_vec(), signature, body])
}

/// Encodes a control message body as CBOR.
pub fn encode_body<T: Serialize>(body: &T) -> crate::error::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    ciborium::into_writer(body, &mut out).map_err(|e| crate::error::Error::Encode {
        serializer: "cbor",
        reason: e.to_string(),
    })?;
    Ok(out)
}

/// Decodes a control message body from CBOR.
pub fn decode_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    ciborium::from_reader(bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let req = Request {
            id: 7,
            to: "alice".into(),
            method: "bind".into(),
            args: Value::Map(vec![(
                Value::Text("kind".into()),
                Value::Text("PUB".into()),
            )]),
            oneway: false,
            ts: 1,
            session: 2,
            seq: 3,
        };
        assert_eq!(
            decode_body::<Request>(&encode_body(&req).unwrap()).unwrap(),
            req
        );
        let rep = Reply {
            id: 7,
            result: Outcome::Err(RemoteError {
                kind: ErrorKind::UnknownMethod,
                message: "no method frob".into(),
                agent: "alice".into(),
                method: "frob".into(),
            }),
        };
        assert_eq!(
            decode_body::<Reply>(&encode_body(&rep).unwrap()).unwrap(),
            rep
        );
    }

    #[test]
    fn garbage_bodies_are_errors() {
        assert!(decode_body::<Request>(b"\xff\xff").is_err());
        assert!(decode_body::<Request>(b"").is_err());
    }
}
