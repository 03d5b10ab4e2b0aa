//! Property tests: every decoder of input from outside the process takes
//! arbitrary and mutated bytes without panicking, and the control plane
//! never admits a signed message that was tampered with.
//!
//! Inputs are arbitrary bytes, arbitrary CBOR values (map keys drawn mostly
//! from the protocol's own field names, so decoding gets past the first
//! field), and mutations (bit flips, inserts, deletes, truncations, frames
//! dropped, duplicated, swapped or replaced) of valid encodings. Case counts
//! keep the whole file to a few seconds in a debug build.

use std::collections::BTreeMap;

use axon_runtime::codec::hex;
use axon_runtime::launch::AgentSpec;
use axon_runtime::protocol::auth::{self, Guard, Key};
use axon_runtime::protocol::journal::{self, Change, Entry};
use axon_runtime::protocol::methods::{
    Alias, Attr, Bind, Connect, Execute, HandlerSpec, RequestWait, Send, SetHandler, SetLogger,
    Subscription, Timer, Topic,
};
use axon_runtime::protocol::{
    decode_body, encode_body, open_reply, open_request, reply_frames, Outcome, Reply, Request,
    Unparsed, PROTOCOL,
};
use axon_runtime::{Address, ErrorKind, Serializer, Value};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The receiver every signed request here is meant for.
const ME: &str = "fuzz-target";

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// One key for the whole test binary, so that tests running at once agree on it.
fn key() -> Key {
    let key = Key::from_hex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
        .expect("a valid test key");
    auth::install_key(key.clone());
    key
}

/// Words of the protocol: field names, kinds, transports, serializers; and a few hostile ones.
const WORDS: &[&str] = &[
    "id",
    "to",
    "method",
    "args",
    "oneway",
    "ts",
    "session",
    "seq",
    "result",
    "ok",
    "err",
    "kind",
    "message",
    "agent",
    "alias",
    "transport",
    "addr",
    "serializer",
    "handler",
    "hwm",
    "on_full",
    "address",
    "endpoint",
    "role",
    "requests",
    "topic",
    "on_error",
    "wait_ms",
    "timeout_ms",
    "name",
    "value",
    "ms",
    "op",
    "put",
    "forget",
    "keys",
    "key",
    "PUSH",
    "PULL",
    "PUB",
    "SUB",
    "REP",
    "REQ",
    "ASYNC_REQ",
    "ASYNC_REP",
    "SYNC_PUB",
    "SYNC_SUB",
    "server",
    "client",
    "cbor",
    "json",
    "raw",
    "tcp",
    "ipc",
    "inproc",
    "block",
    "drop",
    "bad_request",
    "refused",
    "internal",
    "",
    "/",
    "..",
    "ipc://\0",
    "inproc://a\0b",
    "tcp://127.0.0.1:*",
    "\u{0}axon-reply/x/y",
];

fn word() -> impl Strategy<Value = String> {
    prop::sample::select(WORDS).prop_map(str::to_owned)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => word(), 1 => any::<String>()]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| Value::Integer(i.into())),
        any::<u64>().prop_map(|i| Value::Integer(i.into())),
        prop_oneof![Just(0u64), Just(1), Just(u64::MAX), Just(i64::MAX as u64)]
            .prop_map(|i| Value::Integer(i.into())),
        any::<f64>().prop_map(Value::Float),
        text().prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bytes),
    ]
}

/// Arbitrary values, maps keyed mostly by protocol words.
fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 6, |inner| {
        let key = prop_oneof![4 => word().prop_map(Value::Text), 1 => leaf()];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((key, inner.clone()), 0..6).prop_map(Value::Map),
            (any::<u64>(), inner).prop_map(|(t, v)| Value::Tag(t, Box::new(v))),
        ]
    })
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn frames() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(bytes(48), 0..6)
}

/// One edit of a multipart message.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        frame: usize,
        at: usize,
        bit: u8,
    },
    SetByte {
        frame: usize,
        at: usize,
        to: u8,
    },
    Insert {
        frame: usize,
        at: usize,
        bytes: Vec<u8>,
    },
    Delete {
        frame: usize,
        at: usize,
        len: usize,
    },
    Truncate {
        frame: usize,
        len: usize,
    },
    Replace {
        frame: usize,
        bytes: Vec<u8>,
    },
    DropFrame {
        frame: usize,
    },
    DuplicateFrame {
        frame: usize,
    },
    SwapFrames {
        a: usize,
        b: usize,
    },
    AddFrame {
        bytes: Vec<u8>,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = any::<usize>;
    prop_oneof![
        4 => (n(), n(), 0u8..8).prop_map(|(frame, at, bit)| Mutation::FlipBit { frame, at, bit }),
        2 => (n(), n(), any::<u8>()).prop_map(|(frame, at, to)| Mutation::SetByte { frame, at, to }),
        2 => (n(), n(), bytes(8)).prop_map(|(frame, at, bytes)| Mutation::Insert { frame, at, bytes }),
        2 => (n(), n(), 1usize..16).prop_map(|(frame, at, len)| Mutation::Delete { frame, at, len }),
        1 => (n(), n()).prop_map(|(frame, len)| Mutation::Truncate { frame, len }),
        1 => (n(), bytes(32)).prop_map(|(frame, bytes)| Mutation::Replace { frame, bytes }),
        1 => n().prop_map(|frame| Mutation::DropFrame { frame }),
        1 => n().prop_map(|frame| Mutation::DuplicateFrame { frame }),
        1 => (n(), n()).prop_map(|(a, b)| Mutation::SwapFrames { a, b }),
        1 => bytes(16).prop_map(|bytes| Mutation::AddFrame { bytes }),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 1..4)
}

/// `frames` with `edits` applied; indices wrap, edits of a message with no frames do nothing.
fn mutate(frames: &[Vec<u8>], edits: &[Mutation]) -> Vec<Vec<u8>> {
    let mut out = frames.to_vec();
    for edit in edits {
        mutate_one(&mut out, edit);
    }
    out
}

fn mutate_one(out: &mut Vec<Vec<u8>>, edit: &Mutation) {
    if let Mutation::AddFrame { bytes } = edit {
        return out.push(bytes.clone());
    }
    if out.is_empty() {
        return;
    }
    let n = out.len();
    let pick = |i: &usize| i % n;
    match edit {
        Mutation::FlipBit { frame, at, bit } => {
            let f = &mut out[pick(frame)];
            if !f.is_empty() {
                let at = at % f.len();
                f[at] ^= 1 << bit;
            }
        }
        Mutation::SetByte { frame, at, to } => {
            let f = &mut out[pick(frame)];
            if !f.is_empty() {
                let at = at % f.len();
                f[at] = *to;
            }
        }
        Mutation::Insert { frame, at, bytes } => {
            let f = &mut out[pick(frame)];
            let at = at % (f.len() + 1);
            f.splice(at..at, bytes.iter().copied());
        }
        Mutation::Delete { frame, at, len } => {
            let f = &mut out[pick(frame)];
            if !f.is_empty() {
                let at = at % f.len();
                let end = (at + len).min(f.len());
                f.drain(at..end);
            }
        }
        Mutation::Truncate { frame, len } => {
            let f = &mut out[pick(frame)];
            let len = len % (f.len() + 1);
            f.truncate(len);
        }
        Mutation::Replace { frame, bytes } => out[pick(frame)] = bytes.clone(),
        Mutation::DropFrame { frame } => {
            out.remove(pick(frame));
        }
        Mutation::DuplicateFrame { frame } => {
            let i = pick(frame);
            let copy = out[i].clone();
            out.insert(i, copy);
        }
        Mutation::SwapFrames { a, b } => out.swap(pick(a), pick(b)),
        Mutation::AddFrame { .. } => {}
    }
}

fn parts(frames: &[Vec<u8>]) -> Vec<&[u8]> {
    frames.iter().map(Vec::as_slice).collect()
}

/// `[route, PROTOCOL, signature, body]` of a fresh request to [`ME`], signed with the test key.
fn signed_request(method: &str, args: Value) -> Vec<Vec<u8>> {
    key();
    let request = Request::new(7, ME, method, args, false);
    let body = encode_body(&request).expect("a request encodes");
    let signature = auth::signature(&body);
    vec![b"route".to_vec(), PROTOCOL.to_vec(), signature, body]
}

proptest! {
    #![proptest_config(config(600))]

    /// Any frames at all: the envelope parsers answer, never panic.
    #[test]
    fn the_envelope_takes_any_frames(frames in frames()) {
        let key = key();
        let parts = parts(&frames);
        let mut guard = Guard::new(ME);
        let opened = open_request(&parts, &mut guard);
        prop_assert!(opened.is_err(), "random frames admitted: {opened:?}");
        let _ = open_reply(&parts, Some(&key), "peer");
        let _ = open_reply(&parts, None, "peer");
    }

    /// Well-framed messages with arbitrary CBOR bodies: parsed as far as they go, never admitted unsigned.
    #[test]
    fn the_envelope_takes_any_body(body in value(), sig in bytes(40)) {
        let key = key();
        let body = encode_body(&body).expect("a value encodes");
        let frames = [b"r".as_slice(), PROTOCOL, &sig, &body];
        let mut guard = Guard::new(ME);
        let opened = open_request(&frames, &mut guard);
        prop_assert!(opened.is_err(), "unsigned body admitted: {opened:?}");
        let _ = open_reply(&frames[1..], Some(&key), "peer");
    }
}

proptest! {
    #![proptest_config(config(400))]

    /// A signed request that was tampered with (anything but the route) is never admitted;
    /// the untouched original still is, so the refusal left nothing in the replay window.
    #[test]
    fn a_mutated_signed_request_is_never_admitted(
        method in word(),
        args in value(),
        edits in mutations(),
    ) {
        let original = signed_request(&method, args);
        let mutated = mutate(&original, &edits);
        let mut guard = Guard::new(ME);
        let opened = open_request(&parts(&mutated), &mut guard);
        let tampered = mutated.len() != original.len() || mutated[1..] != original[1..];
        if !tampered {
            prop_assert!(opened.is_ok(), "untouched request refused: {opened:?}");
            return Ok(());
        }
        prop_assert!(opened.is_err(), "tampered request admitted: {mutated:?}");
        let again = open_request(&parts(&original), &mut guard);
        prop_assert!(again.is_ok(), "original refused after a tampered copy: {again:?}");
    }

    /// A tampered reply is dropped, except as a refusal (which a caller with the wrong key must hear).
    #[test]
    fn a_mutated_signed_reply_is_only_ever_taken_as_a_refusal(
        id in any::<u64>(),
        ok in value(),
        failed in any::<bool>(),
        edits in mutations(),
    ) {
        let key = key();
        let outcome = match failed {
            false => Ok(ok),
            true => Err(axon_runtime::RemoteError {
                kind: ErrorKind::Refused,
                message: "no".into(),
                agent: ME.into(),
                method: "ping".into(),
            }),
        };
        let original = reply_frames(b"route", id, outcome).expect("a reply encodes");
        let original = original[1..].to_vec();
        let mutated = mutate(&original, &edits);
        let opened = open_reply(&parts(&mutated), Some(&key), "peer");
        if mutated == original {
            prop_assert!(opened.is_some());
            return Ok(());
        }
        if let Some(reply) = opened {
            let refused = matches!(&reply.result, Outcome::Err(e) if e.kind == ErrorKind::Refused);
            prop_assert!(refused, "tampered reply taken: {reply:?}");
        }
    }

    /// Mutated encodings of valid requests and replies decode or fail, never panic.
    #[test]
    fn mutated_bodies_decode_or_fail(method in word(), args in value(), edits in mutations()) {
        let frames = signed_request(&method, args);
        let body = mutate(&frames[3..], &edits).concat();
        let _ = decode_body::<Request>(&body);
        let _ = decode_body::<Reply>(&body);
        let _ = decode_body::<Value>(&body);
    }
}

/// Decodes `args` as every argument type a control method takes, and runs the pure
/// functions the host and the journal apply to them.
fn decode_as_every_method(method: &str, args: Value) {
    let request = Request {
        id: 1,
        to: ME.into(),
        method: method.into(),
        args: args.clone(),
        oneway: false,
        ts: 0,
        session: 1,
        seq: 1,
    };
    if let Ok(a) = request.decode_args::<Bind>() {
        let _ = a.options();
    }
    if let Ok(a) = request.decode_args::<Connect>() {
        let _ = a.handlers();
        let _ = a.options();
    }
    let _ = request.decode_args::<Send>();
    let _ = request.decode_args::<RequestWait>();
    let _ = request.decode_args::<Subscription>();
    let _ = request.decode_args::<Attr>();
    let _ = request.decode_args::<Execute>();
    let _ = request.decode_args::<Timer>();
    let _ = request.decode_args::<SetLogger>();
    let _ = request.decode_args::<SetHandler>();
    let _ = request.decode_args::<Alias>();
    let _ = request.decode_args::<HandlerSpec>();
    let _ = request.decode_args::<Topic>();
    let _ = request.decode_args::<Address>();
    let _ = request.decode_args::<Entry>();
    if let Ok(change) = request.decode_args::<Change>() {
        let mut j = journal::Journal::default();
        j.apply(change);
    }
    let _ = journal::socket_kind(method, &args);
    let _ = journal::change(method, &args, &args);
    let _ = journal::with_field(&args, "alias", Value::Null);
}

proptest! {
    #![proptest_config(config(600))]

    /// Arguments of any shape: each method's type decodes them or says why not.
    #[test]
    fn arguments_of_any_shape_decode_or_fail(method in word(), args in value()) {
        decode_as_every_method(&method, args);
    }

    /// The same, for the arguments a mutated body still carries.
    #[test]
    fn arguments_from_mutated_bodies_decode_or_fail(args in value(), edits in mutations()) {
        let body = encode_body(&args).expect("a value encodes");
        let mutated = mutate(&[body], &edits).concat();
        if let Ok(args) = decode_body::<Value>(&mutated) {
            decode_as_every_method("bind", args);
        }
    }
}

/// A payload type with the usual shapes: nested, optional, an enum, a map.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Order {
    symbol: String,
    qty: u64,
    px: f64,
    side: Side,
    note: Option<String>,
    tags: BTreeMap<String, i32>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Side {
    Buy,
    Sell,
}

const SERIALIZERS: [Serializer; 3] = [Serializer::Cbor, Serializer::Json, Serializer::Raw];

/// Decodes `payload` every way a handler may ask for it. `decode_str` must agree with
/// `decode::<String>`, and `decode_bytes` with `decode::<ByteBuf>`, except that `cbor` also lends
/// out the bytes of a payload that is exactly one (UTF-8) text string.
fn decode_every_way(s: Serializer, payload: &[u8]) -> Result<(), TestCaseError> {
    let _ = s.decode::<Value>(payload);
    let _ = s.decode::<Order>(payload);
    let _ = s.decode::<i64>(payload);
    let _ = s.decode::<f64>(payload);
    let _ = s.decode::<Vec<u32>>(payload);
    let _ = s.decode::<BTreeMap<String, Value>>(payload);
    let _ = s.decode::<Option<bool>>(payload);
    let text = s.decode_str(payload).map(|t| t.into_owned());
    let owned_text = s.decode::<String>(payload);
    prop_assert_eq!(text.as_ref().ok(), owned_text.as_ref().ok(), "{} text", s);
    prop_assert_eq!(text.is_err(), owned_text.is_err(), "{} text", s);
    let bytes = s.decode_bytes(payload).map(|b| b.into_owned());
    match s.decode::<ByteBuf>(payload).map(ByteBuf::into_vec) {
        Ok(owned) => prop_assert_eq!(bytes.ok(), Some(owned), "{} bytes", s),
        Err(_) => {
            if let Ok(lent) = bytes {
                let text = owned_text.ok().map(String::into_bytes);
                let whole_text = s == Serializer::Cbor && text.as_ref() == Some(&lent);
                prop_assert!(
                    whole_text,
                    "{} lent {:?} that decode::<ByteBuf> refuses",
                    s,
                    lent
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(600))]

    /// Arbitrary payload bytes, under every serializer.
    #[test]
    fn payloads_of_any_bytes_decode_or_fail(payload in bytes(96)) {
        for s in SERIALIZERS {
            decode_every_way(s, &payload)?;
        }
    }

    /// Mutated encodings of real values, under every serializer that can encode them.
    #[test]
    fn mutated_payloads_decode_or_fail(v in value(), edits in mutations()) {
        for s in SERIALIZERS {
            let Ok(encoded) = s.encode(&v) else { continue };
            let mutated = mutate(&[encoded], &edits).concat();
            decode_every_way(s, &mutated)?;
        }
    }
}

fn a_spec() -> AgentSpec {
    let mut spec = AgentSpec::new("alice", "agent", "/tmp/axon-fuzz");
    spec.nameserver = Some("ipc:///tmp/axon-fuzz/nameserver.ctl".into());
    spec.attributes
        .insert("greeting".into(), Value::Text("hi".into()));
    spec.logger = Some("tcp://127.0.0.1:9".into());
    spec.log = Some("debug".into());
    spec
}

proptest! {
    #![proptest_config(config(400))]

    /// `AXON_AGENT` of any text, any hex, or a mutated real spec: a spec or a clear error.
    #[test]
    fn agent_specs_of_any_text_decode_or_fail(text in any::<String>(), raw in bytes(64)) {
        for candidate in [text, hex::encode(&raw)] {
            if let Ok(spec) = AgentSpec::from_env_value(&candidate) {
                prop_assert!(!spec.defaults.lease.is_zero());
            }
        }
    }

    #[test]
    fn mutated_agent_specs_decode_or_fail(edits in mutations(), attr in value()) {
        let mut spec = a_spec();
        spec.attributes.insert("x".into(), attr);
        let hex_spec = spec.to_env().expect("a spec encodes");
        let cbor = hex::decode(&hex_spec).expect("its own hex");
        let mutated = mutate(&[cbor], &edits).concat();
        match AgentSpec::from_env_value(&hex::encode(&mutated)) {
            Ok(spec) => prop_assert!(!spec.defaults.lease.is_zero()),
            Err(e) => prop_assert!(e.to_string().contains("AXON_AGENT"), "{e}"),
        }
    }
}

/// The unparsed cases a receiver distinguishes are both reachable (the generators are not trivial).
#[test]
fn generators_reach_both_refusals_and_malformed_messages() {
    let original = signed_request("ping", Value::Null);
    let mut guard = Guard::new(ME);
    let mut resigned = original.clone();
    resigned[2][0] ^= 1;
    assert!(matches!(
        open_request(&parts(&resigned), &mut guard),
        Err(Unparsed::Refused { .. })
    ));
    let mut broken = original.clone();
    broken[1] = b"AXON/2".to_vec();
    assert!(matches!(
        open_request(&parts(&broken), &mut guard),
        Err(Unparsed::Malformed { id: Some(7), .. })
    ));
    assert!(open_request(&parts(&original), &mut guard).is_ok());
}
