//! Garbage from outside never crashes, stalls or restarts a process: more
//! than 10,000 random and mutated frames on every socket a live agent and
//! its name server read, and afterwards both answer as the same processes,
//! with every bad frame counted exactly once.
//!
//! The frames come from a seeded generator, so a failure replays. Mutated
//! requests are signed with the deployment key first, so they are refused
//! for their signature, not for being unsigned; untouched ones (random
//! arguments to methods that cannot stop anything) are admitted and answered.
//! What each receiver will make of a control message is worked out here with
//! the same parser (`open_request`), so the counts can be exact.

mod common;

use std::collections::BTreeMap;

use axon::prelude::*;
use axon::protocol::auth::{self, Guard};
use axon::protocol::{encode_body, open_request, Request, Unparsed, ERROR_MARKER, PROTOCOL};
use axon::testing::{self, wait_until};
use common::PATIENCE;

axon::test_host!(common::registry());

const SEED: u64 = 0x00a1_0e5e_ed11;
const AGENT: &str = "target";

/// Messages per socket.
const AGENT_CONTROL: usize = 3000;
const PULL: usize = 1500;
const REP: usize = 1500;
const SUB: usize = 1000;
const NAMESERVER_CONTROL: usize = 3000;

/// How many messages go out before waiting for the answers to them (bounds what is in flight).
const CHUNK: usize = 250;

/// splitmix64: small, seeded, good enough to pick bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let len = self.below(max + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[self.below(from.len())]
    }

    /// 1 to `max` frames of random bytes; empty frames are common, as they mean something.
    fn frames(&mut self, max: usize) -> Vec<Vec<u8>> {
        let n = 1 + self.below(max);
        (0..n)
            .map(|_| match self.chance(20) {
                true => Vec::new(),
                false => self.bytes(48),
            })
            .collect()
    }

    /// A value of any shape; map keys and text mostly from `words`.
    fn value(&mut self, words: &[&str], depth: usize) -> Value {
        let shapes = if depth == 0 { 7 } else { 9 };
        match self.below(shapes) {
            0 => Value::Null,
            1 => Value::Bool(self.chance(50)),
            2 => {
                let edge = [0, 1, u64::MAX, i64::MAX as u64, u32::MAX as u64];
                Value::Integer(self.pick(&edge).to_owned().into())
            }
            3 => Value::Integer((self.next() as i64).into()),
            4 => Value::Float(f64::from_bits(self.next())),
            5 | 6 if self.chance(80) => Value::Text((*self.pick(words)).to_owned()),
            5 => Value::Text(String::from_utf8_lossy(&self.bytes(12)).into_owned()),
            6 => Value::Bytes(self.bytes(12)),
            7 => Value::Array(
                (0..self.below(4))
                    .map(|_| self.value(words, depth - 1))
                    .collect(),
            ),
            _ => {
                let fields = (0..self.below(6)).map(|_| {
                    let key = Value::Text((*self.pick(words)).to_owned());
                    (key, self.value(words, depth - 1))
                });
                Value::Map(fields.collect())
            }
        }
    }

    /// `frames` with one to three random edits.
    fn mutate(&mut self, mut frames: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        for _ in 0..1 + self.below(3) {
            if frames.is_empty() {
                frames.push(self.bytes(8));
            }
            let i = self.below(frames.len());
            let len = frames[i].len();
            match self.below(9) {
                0 | 1 if len > 0 => {
                    let at = self.below(len);
                    frames[i][at] ^= 1 << self.below(8);
                }
                2 if len > 0 => {
                    let at = self.below(len);
                    frames[i][at] = self.next() as u8;
                }
                3 => {
                    let at = self.below(len + 1);
                    let insert = self.bytes(6);
                    frames[i].splice(at..at, insert);
                }
                4 if len > 0 => {
                    let at = self.below(len);
                    let end = (at + 1 + self.below(8)).min(len);
                    frames[i].drain(at..end);
                }
                5 => {
                    let keep = self.below(len + 1);
                    frames[i].truncate(keep);
                }
                6 if frames.len() > 1 => {
                    frames.remove(i);
                }
                7 => {
                    let copy = frames[i].clone();
                    frames.insert(i, copy);
                }
                _ => {
                    let j = self.below(frames.len());
                    frames.swap(i, j);
                }
            }
        }
        frames
    }
}

/// Arguments' words for the agent: no alias or handler of its own (so nothing it serves is
/// touched and no handler of the test registry runs), no host name (nothing is looked up).
const AGENT_WORDS: &[&str] = &[
    "kind",
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
    "message",
    "topic",
    "on_error",
    "wait_ms",
    "name",
    "value",
    "args",
    "ms",
    "PUSH",
    "PUB",
    "REQ",
    "ASYNC_REQ",
    "SUB",
    "PULL",
    "REP",
    "SYNC_PUB",
    "server",
    "client",
    "cbor",
    "json",
    "raw",
    "ipc",
    "inproc",
    "block",
    "drop",
    "x",
    "",
    "/",
    "a/b",
    "..",
    "ipc://\0",
    "inproc://a\0b",
    "\0",
    "nope",
    "pid",
    "stats",
    "greeting",
    "ipc:///nonexistent/axon-garbage.ipc",
];

/// Agent methods whose arguments are fuzzed: none stops the agent, closes or re-routes a
/// socket it serves, or answers later than at once.
const AGENT_METHODS: &[&str] = &[
    "ping",
    "is_running",
    "stats",
    "aliases",
    "handlers",
    "list_timers",
    "attrs",
    "get_attr",
    "set_attr",
    "addr",
    "send",
    "subscribe",
    "execute",
    "each",
    "after",
    "stop_timer",
    "bind",
    "connect",
    "set_logger",
    "frobnicate",
    "",
];

/// Arguments' words for the name server: no agent of the node, and no logger kind.
const NS_WORDS: &[&str] = &[
    "name",
    "kind",
    "pid",
    "control",
    "lease_ms",
    "alias",
    "address",
    "endpoint",
    "role",
    "serializer",
    "requests",
    "timeout_ms",
    "change",
    "op",
    "put",
    "forget",
    "keys",
    "key",
    "method",
    "args",
    "reason",
    "signal",
    "Kill",
    "Term",
    "Cont",
    "Stop",
    "ghost",
    "x",
    "",
    "nameserver",
    "PUSH",
    "PUB",
    "server",
    "client",
    "cbor",
    "ipc://\0",
    "inproc://a\0b",
    "ipc:///nonexistent/axon-garbage.ctl",
];

/// Name-server methods whose arguments are fuzzed: none spawns or stops anything, and each
/// answers at once.
const NS_METHODS: &[&str] = &[
    "ping",
    "list",
    "info",
    "addr",
    "del_addr",
    "renew",
    "register",
    "set_addr",
    "unregister",
    "journal",
    "start_failed",
    "ps",
    "signal",
    "frobnicate",
    "",
];

/// What a receiver will make of one control message, worked out with its own parser.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Verdicts {
    malformed: u64,
    refused: u64,
    admitted: u64,
    /// Messages the receiver answers: admitted and not oneway, refused, malformed with an id.
    answered: u64,
}

impl Verdicts {
    fn judge(&mut self, frames: &[Vec<u8>], mirror: &mut Guard) {
        let mut parts: Vec<&[u8]> = vec![b"route"];
        parts.extend(frames.iter().map(Vec::as_slice));
        match open_request(&parts, mirror) {
            Ok(request) => {
                self.admitted += 1;
                self.answered += u64::from(!request.oneway);
            }
            Err(Unparsed::Refused { .. }) => {
                self.refused += 1;
                self.answered += 1;
            }
            Err(Unparsed::Malformed { id, .. }) => {
                self.malformed += 1;
                self.answered += u64::from(id.is_some());
            }
        }
    }
}

/// One control message: random frames, a router-style envelope, a signed request with random
/// arguments, or a mutated one.
fn control_message(rng: &mut Rng, to: &str, methods: &[&str], words: &[&str]) -> Vec<Vec<u8>> {
    let signed = |rng: &mut Rng| {
        let method = *rng.pick(methods);
        let args = match rng.chance(85) {
            true => {
                let fields = (0..1 + rng.below(5)).map(|_| {
                    let key = Value::Text((*rng.pick(words)).to_owned());
                    (key, rng.value(words, 2))
                });
                Value::Map(fields.collect())
            }
            false => rng.value(words, 2),
        };
        let request = Request::new(rng.next(), to, method, args, rng.chance(10));
        let body = encode_body(&request).expect("a request encodes");
        let signature = auth::signature(&body);
        vec![PROTOCOL.to_vec(), signature, body]
    };
    match rng.below(10) {
        0..=2 => rng.frames(6),
        3 => {
            let mut envelope = vec![rng.bytes(6), Vec::new()];
            envelope.extend(signed(rng));
            envelope
        }
        4..=7 => {
            let frames = signed(rng);
            rng.mutate(frames)
        }
        _ => signed(rng),
    }
}

fn socket(ctx: &zmq::Context, kind: zmq::SocketType, endpoint: &str) -> zmq::Socket {
    let s = ctx.socket(kind).unwrap();
    s.set_linger(0).unwrap();
    // Unbounded on our side: answers are counted, none may be dropped at a mark here.
    s.set_rcvhwm(0).unwrap();
    s.set_sndhwm(0).unwrap();
    s.set_sndtimeo(PATIENCE.as_millis() as i32).unwrap();
    s.connect(endpoint).unwrap();
    s
}

/// Reads every answer waiting on `s`; returns how many there were.
fn drain(s: &zmq::Socket) -> u64 {
    let mut n = 0;
    while s.recv_multipart(zmq::DONTWAIT).is_ok() {
        n += 1;
    }
    n
}

/// Sends `count` messages made by `next` (with the answers each expects) on `s`, in chunks,
/// waiting after each chunk for its answers. Messages are made just before they are sent, so
/// that signed ones are fresh whatever the machine's load.
fn send_answered(
    s: &zmq::Socket,
    count: usize,
    mut next: impl FnMut() -> (Vec<Vec<u8>>, u64),
    what: &str,
) {
    let (mut expected, mut answered) = (0, 0);
    for start in (0..count).step_by(CHUNK) {
        for _ in start..(start + CHUNK).min(count) {
            let (frames, answers) = next();
            s.send_multipart(&frames, 0).unwrap();
            expected += answers;
        }
        let all = wait_until(PATIENCE, || {
            answered += drain(s);
            answered >= expected
        });
        assert!(all, "{what}: {answered} answers of {expected}");
    }
    // A message answered twice would show here as more answers than expected.
    assert_eq!(answered, expected, "{what}");
}

/// What the agent's data sockets will count.
#[derive(Debug, Default)]
struct Data {
    malformed: u64,
    received: u64,
    decode_errors: u64,
}

impl Data {
    /// A payload handed to the `upper` handler, which decodes a CBOR string.
    fn handled(&mut self, payload: &[u8]) {
        self.received += 1;
        self.decode_errors += u64::from(Serializer::Cbor.decode::<String>(payload).is_err());
    }
}

/// The counters of an agent's `Stats` that bad input moves.
#[derive(Debug, PartialEq)]
struct Counts {
    received: u64,
    decode_errors: u64,
    malformed: u64,
    refused: u64,
    oversized: u64,
}

impl Counts {
    fn of(s: &Stats) -> Counts {
        Counts {
            received: s.received,
            decode_errors: s.decode_errors,
            malformed: s.malformed,
            refused: s.refused,
            oversized: s.oversized,
        }
    }
}

/// A data message: random frames, or a (mutated) CBOR string.
fn data_message(rng: &mut Rng) -> Vec<Vec<u8>> {
    match rng.below(3) {
        0 => rng.frames(4),
        _ => {
            let text = String::from_utf8_lossy(&rng.bytes(20)).into_owned();
            let good = Serializer::Cbor.encode(&text).unwrap();
            match rng.chance(50) {
                true => rng.mutate(vec![good]),
                false => vec![good],
            }
        }
    }
}

#[test]
fn ten_thousand_bad_frames_crash_stall_and_restart_nothing() {
    let ns = testing::node().unwrap();
    let ns_pid = ns.pid().unwrap();
    let dir = ns.runtime_dir().unwrap().to_owned();
    let quiet = SpawnOptions::default().name(AGENT).log("error");
    let mut agent = ns.spawn(quiet).unwrap();
    agent.set_timeout(PATIENCE);
    let upper = |alias: &str| BindOptions::alias(alias).handler("upper");
    let pull = agent.bind_with(SocketKind::Pull, upper("pull")).unwrap();
    let rep = agent.bind_with(SocketKind::Rep, upper("rep")).unwrap();
    let sub = agent.bind_with(SocketKind::Sub, upper("sub")).unwrap();
    agent.subscribe("sub", b"", None).unwrap();
    let info = ns.info(AGENT).unwrap();
    let agent_pid = info.pid;

    let ctx = zmq::Context::new();
    let control = socket(&ctx, zmq::DEALER, &info.control);
    let ns_control = socket(&ctx, zmq::DEALER, ns.address());
    let push = socket(&ctx, zmq::PUSH, &pull.endpoint);
    let dealer = socket(&ctx, zmq::DEALER, &rep.endpoint);
    let publisher = socket(&ctx, zmq::XPUB, &sub.endpoint);
    // The subscription has reached our publisher: from now on nothing it sends is dropped.
    publisher.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    assert_eq!(publisher.recv_bytes(0).unwrap(), b"\x01");

    let before = agent.stats().unwrap();
    let mut rng = Rng(SEED);
    let mut data = Data::default();

    // The agent's control socket, and the name server's.
    let mut agent_verdicts = Verdicts::default();
    let mut mirror = Guard::new(AGENT);
    let next = || {
        let m = control_message(&mut rng, AGENT, AGENT_METHODS, AGENT_WORDS);
        let answered = agent_verdicts.answered;
        agent_verdicts.judge(&m, &mut mirror);
        (m, agent_verdicts.answered - answered)
    };
    send_answered(&control, AGENT_CONTROL, next, "agent control");

    let mut ns_verdicts = Verdicts::default();
    let mut mirror = Guard::new(axon::protocol::NAMESERVER);
    let next = || {
        let m = control_message(&mut rng, axon::protocol::NAMESERVER, NS_METHODS, NS_WORDS);
        let answered = ns_verdicts.answered;
        ns_verdicts.judge(&m, &mut mirror);
        (m, ns_verdicts.answered - answered)
    };
    send_answered(&ns_control, NAMESERVER_CONTROL, next, "name server control");

    // PULL: one frame is a payload, anything else is malformed.
    for _ in 0..PULL {
        let m = data_message(&mut rng);
        match m.as_slice() {
            [payload] => data.handled(payload),
            _ => data.malformed += 1,
        }
        push.send_multipart(&m, 0).unwrap();
    }

    // REP: [envelope.., "", payload]; without the empty frame it is dropped, with more or
    // fewer payloads it is answered with an error; a handled request is answered too.
    let next = || {
        let mut m = data_message(&mut rng);
        if rng.chance(60) {
            m.insert(0, Vec::new());
        }
        let answers = match m.iter().position(Vec::is_empty) {
            None => {
                data.malformed += 1;
                0
            }
            Some(delim) if m.len() - delim - 1 != 1 => {
                data.malformed += 1;
                1
            }
            Some(delim) => {
                data.handled(&m[delim + 1]);
                1
            }
        };
        (m, answers)
    };
    send_answered(&dealer, REP, next, "REP");

    // SUB: [topic, payload] or a lone frame, split at its first 0x80 as osBrain lays
    // it out (docs/osbrain.md); anything else is malformed.
    for _ in 0..SUB {
        let m = data_message(&mut rng);
        match m.as_slice() {
            [frame] => data.handled(axon::net::split_single_frame(frame, Serializer::Cbor).1),
            [_, payload] => data.handled(payload),
            _ => data.malformed += 1,
        }
        publisher.send_multipart(&m, 0).unwrap();
    }

    let sent = AGENT_CONTROL + NAMESERVER_CONTROL + PULL + REP + SUB;
    assert!(sent >= 10_000);
    // Refusals and malformed messages really were among them, and admitted requests too.
    for v in [agent_verdicts, ns_verdicts] {
        assert!(
            v.malformed > 500 && v.refused > 100 && v.admitted > 200,
            "{v:?}"
        );
    }
    assert!(data.malformed > 300 && data.decode_errors > 300, "{data:?}");

    // Every bad frame is counted once, and only bad frames are.
    let expected = Counts {
        received: before.received + data.received,
        decode_errors: before.decode_errors + data.decode_errors,
        malformed: before.malformed + data.malformed + agent_verdicts.malformed,
        refused: before.refused + agent_verdicts.refused,
        oversized: before.oversized,
    };
    let counted = wait_until(PATIENCE, || Counts::of(&agent.stats().unwrap()) == expected);
    assert!(
        counted,
        "{:?}\nexpected {expected:?}",
        agent.stats().unwrap()
    );

    // Both serve on, as the same processes: nothing restarted.
    agent.ping().unwrap();
    assert_eq!(agent.get_attr::<u32>("pid").unwrap(), agent_pid);
    let status = ns.ps().unwrap();
    let target = status.iter().find(|s| s.name == AGENT).unwrap();
    assert_eq!((target.pid, target.restarts), (Some(agent_pid), 0));
    assert_eq!(ns.info(AGENT).unwrap().pid, agent_pid);
    assert!(testing::process_alive(ns_pid) && testing::process_alive(agent_pid));

    // And good messages still get through, on every socket.
    let good = Serializer::Cbor.encode("still here").unwrap();
    dealer.send_multipart([&b""[..], &good], 0).unwrap();
    dealer.set_rcvtimeo(PATIENCE.as_millis() as i32).unwrap();
    let answer = dealer.recv_multipart(0).unwrap();
    assert_eq!(answer.len(), 2, "{answer:?}");
    assert_ne!(answer[1], ERROR_MARKER);
    let text: String = Serializer::Cbor.decode(&answer[1]).unwrap();
    assert_eq!(text, "STILL HERE");
    push.send(&good[..], 0).unwrap();
    publisher.send_multipart([&b"news"[..], &good], 0).unwrap();
    let received = expected.received + 3;
    assert!(wait_until(PATIENCE, || agent.stats().unwrap().received == received));

    ns.shutdown().unwrap();
    assert!(!dir.exists(), "runtime dir {} left behind", dir.display());
    assert!(!testing::process_alive(agent_pid));
}

/// An endpoint holding a NUL byte used to panic inside the zmq crate (it makes a C string of
/// it): in an agent's bind, connect or set_logger, in the name server's records, and in its
/// calls to agents. Each is now refused with a clear error, and nobody goes down.
#[test]
fn endpoints_with_a_nul_byte_are_refused_everywhere() {
    let ns = testing::node().unwrap();
    let mut agent = ns.run_agent("a").unwrap();
    let pid = ns.info("a").unwrap().pid;
    let bad_arguments = |e: axon::Error| {
        let remote = e.remote().cloned().unwrap_or_else(|| panic!("{e}"));
        assert_eq!(remote.kind, ErrorKind::BadArguments, "{remote}");
        assert!(remote.message.contains("NUL"), "{remote}");
    };
    let inproc = BindOptions {
        transport: Some(Transport::Inproc),
        addr: Some("a\0b".into()),
        ..BindOptions::alias("x")
    };
    bad_arguments(agent.bind_with(SocketKind::Push, inproc).unwrap_err());
    let ipc = BindOptions {
        transport: Some(Transport::Ipc),
        addr: Some("a\0b".into()),
        ..BindOptions::alias("x")
    };
    bad_arguments(agent.bind_with(SocketKind::Push, ipc).unwrap_err());
    let nowhere = Address {
        endpoint: "ipc://\0".into(),
        kind: SocketKind::Pull,
        role: Role::Server,
        serializer: Serializer::Cbor,
        requests: None,
        secure: false,
    };
    bad_arguments(agent.connect(&nowhere, "y", None).unwrap_err());
    let logger = BTreeMap::from([("endpoint", "tcp://127.0.0.1:1\0")]);
    bad_arguments(agent.call::<_, Value>("set_logger", logger).unwrap_err());
    agent.ping().unwrap();
    assert_eq!(agent.get_attr::<u32>("pid").unwrap(), pid);

    // The name server keeps no endpoint it could not call or hand out.
    let mut p = Proxy::open(axon::protocol::NAMESERVER, ns.address()).unwrap();
    p.set_timeout(PATIENCE);
    let ghost = Value::serialized(&serde_json::json!({
        "name": "ghost", "kind": "logger", "pid": 4242, "control": "ipc://\u{0}",
    }))
    .unwrap();
    let refused = p.call::<_, Value>("register", ghost).unwrap_err();
    assert_eq!(refused.remote().unwrap().kind, ErrorKind::BadArguments);
    let logs = Value::serialized(&serde_json::json!({
        "name": "a", "alias": "logs",
        "address": {"endpoint": "tcp://127.0.0.1:1\u{0}", "kind": "PUB", "role": "server", "serializer": "cbor"},
    }))
    .unwrap();
    let refused = p.call::<_, Value>("set_addr", logs).unwrap_err();
    assert_eq!(refused.remote().unwrap().kind, ErrorKind::BadArguments);
    assert_eq!(ns.agents().unwrap(), ["a"]);
    ns.shutdown().unwrap();
}
