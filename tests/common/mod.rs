//! Shared by the black-box tests: the handlers test agents offer, and a
//! `Report` socket through which agents tell the test what they received.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use axon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

pub mod prometheus;

/// Time any single condition in a test may take on a busy machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A per-test directory for ipc files, removed when the test ends, also when it fails.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("axon-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Spawns agent `name` restarted whatever its exit (permanent), with a proxy patient
/// enough for a loaded machine.
pub fn permanent(ns: &NameServer, name: &str) -> Proxy {
    let mut p = ns
        .spawn(
            SpawnOptions::default()
                .name(name)
                .restart(axon::Restart::Permanent),
        )
        .unwrap();
    p.set_timeout(PATIENCE);
    p
}

/// The kinds and handlers of the test agents.
pub fn registry() -> Registry {
    axon::registry()
        .handler("collect", collect)
        .handler(
            "collect_tagged",
            |a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message| {
                report(a, ctx, msg, "tagged")
            },
        )
        .handler(
            "upper",
            |_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message| {
                Ok(msg.decode::<String>()?.to_uppercase())
            },
        )
        .handler(
            "fail",
            |_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, _: Message| -> HandlerResult<()> {
                Err(HandlerError::msg("refused on purpose"))
            },
        )
        .handler(
            "stuck",
            |a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message| -> HandlerResult<()> {
                // Tell the test we are in, then hang.
                report(a, ctx, msg, "stuck")?;
                std::thread::sleep(Duration::from_secs(3600));
                Ok(())
            },
        )
        .handler(
            "borrowed",
            |_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message| {
                // The payload read in place, as text and as bytes: "text:byte count".
                Ok(format!(
                    "{}:{}",
                    msg.decode_str()?,
                    msg.decode_bytes()?.len()
                ))
            },
        )
        .handler("add10", add10)
        .handler("blast", blast)
        .handler("tally", tally)
        .handler("flood", flood)
        .handler("slow_upper", slow_upper)
        .handler("log_levels", log_levels)
        .handler("slow", slow)
        .handler("stamp", stamp)
        .handler("add", add)
        .handler(
            "panic",
            |_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, _: Message| -> HandlerResult<()> {
                panic!("panicking on purpose")
            },
        )
}

/// Emits one event per level, each carrying its message as `marker`.
fn log_levels(_: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let marker: String = msg.decode()?;
    tracing::debug!(marker = %marker, "debug event");
    tracing::info!(marker = %marker, "info event");
    tracing::warn!(marker = %marker, "warn event");
    tracing::error!(marker = %marker, "error event");
    Ok(())
}

/// Upper-cases its message after `delay_ms` (attribute, default 300 ms).
fn slow_upper(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult<Value> {
    let delay = a
        .attributes
        .get("delay_ms")
        .and_then(|v| v.as_integer())
        .map_or(300, |d| i128::from(d) as u64);
    std::thread::sleep(Duration::from_millis(delay));
    Ok(match msg.value()? {
        Value::Text(t) => Value::Text(t.to_uppercase()),
        Value::Bytes(b) => Value::Bytes(b.to_ascii_uppercase()),
        other => other,
    })
}

/// Sends the numbers 1..=n on `out` (n = its message), pausing whenever the socket is full.
fn blast(a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let n: i64 = msg.decode()?;
    a.attributes.insert("next".into(), Value::Integer(1.into()));
    a.attributes.insert("last".into(), Value::Integer(n.into()));
    pump(a, ctx);
    Ok(())
}

fn pump(a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>) {
    let get = |a: &BasicAgent, k: &str| {
        a.attributes
            .get(k)
            .and_then(|v| v.as_integer())
            .map_or(0, |v| i128::from(v) as i64)
    };
    let (mut next, last) = (get(a, "next"), get(a, "last"));
    // Resolved once per burst, as a hot sending loop would.
    let Ok(out) = ctx.socket("out") else {
        return;
    };
    while next <= last {
        if ctx.backlog(&out).unwrap_or(0) > 0 {
            a.attributes
                .insert("next".into(), Value::Integer(next.into()));
            let _ = ctx.when_drained(&out, |a: &mut BasicAgent, ctx| pump(a, ctx));
            return;
        }
        if ctx.send(&out, &next).is_err() {
            return;
        }
        next += 1;
    }
    a.attributes
        .insert("next".into(), Value::Integer(next.into()));
}

/// Sends 1..=n on `out` (n = its message) without waiting for room; counts the sends
/// refused because the backlog was full (`full`) and whether each of those handed its
/// own message back (`handed_back`).
fn flood(a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let n: i64 = msg.decode()?;
    let out = ctx.socket("out")?;
    let (mut full, mut handed_back) = (0i64, true);
    for i in 1..=n {
        match ctx.send(&out, &i) {
            Ok(()) => {}
            Err(axon::Error::Full { message, .. }) => {
                full += 1;
                let back = match &message[..] {
                    [frame] => Serializer::Cbor.decode::<i64>(frame).ok(),
                    _ => None,
                };
                handed_back &= back == Some(i);
            }
            Err(e) => return Err(e.into()),
        }
    }
    a.attributes
        .insert("full".into(), Value::Integer(full.into()));
    a.attributes
        .insert("handed_back".into(), Value::Bool(handed_back));
    Ok(())
}

/// Counts integers into `count`, checks they come in order (`in_order`), keeps the `last`.
fn tally(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let n: i64 = msg.decode()?;
    a.attributes.insert("last".into(), Value::Integer(n.into()));
    let count = a
        .attributes
        .get("count")
        .and_then(|v| v.as_integer())
        .map_or(0, |v| i128::from(v) as i64);
    if n != count + 1 {
        a.attributes.insert("in_order".into(), Value::Bool(false));
    }
    a.attributes
        .insert("count".into(), Value::Integer((count + 1).into()));
    Ok(())
}

/// Adds 10 to every integer attribute.
fn add10(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, _: Message) -> HandlerResult {
    for value in a.attributes.values_mut() {
        if let Some(n) = value.as_integer() {
            *value = Value::Integer((i128::from(n) + 10).try_into()?);
        }
    }
    Ok(())
}

/// Reports "slow-start", works for the number of milliseconds it is given, reports "slow-done".
fn slow(_: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let ms: u64 = msg.decode()?;
    ctx.send("report", &Record::note(ctx.name(), "slow-start"))?;
    std::thread::sleep(Duration::from_millis(ms));
    ctx.send("report", &Record::note(ctx.name(), "slow-done"))?;
    Ok(())
}

/// Appends the wall-clock time (ms) to the `stamps` attribute; sleeps as long as its message says.
fn stamp(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let pause: u64 = msg.decode::<Option<u64>>()?.unwrap_or(0);
    let stamps = a
        .attributes
        .entry("stamps".into())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = stamps {
        list.push(Value::Integer(axon::clock::now_ms().into()));
        // Only the third tick is slow.
        if list.len() == 3 {
            std::thread::sleep(Duration::from_millis(pause));
        }
    }
    Ok(())
}

/// Adds its message (an integer) to attribute `x` and records `[time ms, x]` in `history`.
fn add(a: &mut BasicAgent, _: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    let n: i64 = msg.decode()?;
    let x = a
        .attributes
        .get("x")
        .and_then(|v| v.as_integer())
        .map(i128::from)
        .unwrap_or(0) as i64
        + n;
    a.attributes.insert("x".into(), Value::Integer(x.into()));
    let history = a
        .attributes
        .entry("history".into())
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = history {
        let entry = vec![
            Value::Integer(axon::clock::now_ms().into()),
            Value::Integer(x.into()),
        ];
        list.push(Value::Array(entry));
    }
    Ok(())
}

/// What a `collect` handler saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub agent: String,
    pub alias: String,
    pub topic: Option<ByteBuf>,
    pub value: Value,
}

impl Record {
    /// A record carrying only a note.
    pub fn note(agent: &str, text: &str) -> Record {
        Record {
            agent: agent.to_owned(),
            alias: "note".into(),
            topic: None,
            value: Value::Text(text.to_owned()),
        }
    }

    /// The value as text (raw bytes are read as UTF-8).
    pub fn text(&self) -> String {
        match &self.value {
            Value::Text(s) => s.clone(),
            Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            other => format!("{other:?}"),
        }
    }
}

/// Forwards what it receives to the agent's `report` socket.
fn collect(a: &mut BasicAgent, ctx: &mut Ctx<BasicAgent>, msg: Message) -> HandlerResult {
    report(a, ctx, msg, msg.alias())
}

fn report(
    _: &mut BasicAgent,
    ctx: &mut Ctx<BasicAgent>,
    msg: Message,
    alias: &str,
) -> HandlerResult {
    let record = Record {
        agent: ctx.name().to_owned(),
        alias: alias.to_owned(),
        topic: msg.topic().map(|t| ByteBuf::from(t.to_vec())),
        value: msg.value()?,
    };
    ctx.send("report", &record)?;
    Ok(())
}

/// A PULL socket in the test process that `collect` handlers report to.
pub struct Report {
    socket: zmq::Socket,
    address: Address,
}

impl Report {
    /// Binds on a free loopback port.
    pub fn new() -> Report {
        let socket = zmq::Context::new().socket(zmq::PULL).unwrap();
        socket.set_linger(0).unwrap();
        socket.bind("tcp://127.0.0.1:*").unwrap();
        let endpoint = socket.get_last_endpoint().unwrap().unwrap();
        let address = Address {
            endpoint,
            kind: SocketKind::Pull,
            role: Role::Server,
            serializer: Serializer::Cbor,
            requests: None,
            secure: false,
        };
        Report { socket, address }
    }

    /// Gives `agent` a `report` socket connected here.
    pub fn attach(&self, agent: &mut Proxy) {
        agent.connect(&self.address, "report", None).unwrap();
    }

    /// The next record, or `None` after `timeout`.
    pub fn next(&self, timeout: Duration) -> Option<Record> {
        let ms = timeout.as_millis() as i64;
        if self.socket.poll(zmq::POLLIN, ms).unwrap() == 0 {
            return None;
        }
        let bytes = self.socket.recv_bytes(0).unwrap();
        Some(Serializer::Cbor.decode(&bytes).unwrap())
    }

    /// Exactly `n` records; panics naming what arrived if they do not come in time.
    pub fn take(&self, n: usize) -> Vec<Record> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::with_capacity(n);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(r) => got.push(r),
                None => panic!("expected {n} records, got {}: {got:?}", got.len()),
            }
        }
        got
    }

    /// Records until one whose text is `sentinel` arrives (the sentinel excluded).
    pub fn until(&self, sentinel: &str) -> Vec<Record> {
        let deadline = Instant::now() + PATIENCE;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(r) if r.text() == sentinel => return got,
                Some(r) => got.push(r),
                None => panic!("sentinel {sentinel:?} never came; got {got:?}"),
            }
        }
    }

    /// Whether nothing arrives within `quiet`.
    pub fn is_quiet(&self, quiet: Duration) -> bool {
        self.next(quiet).is_none()
    }
}

/// Texts of `records`, in order.
pub fn texts(records: &[Record]) -> Vec<String> {
    records.iter().map(Record::text).collect()
}

/// Publishes `probe` on `topic` until the `collect`ing subscriber reports it:
/// ZeroMQ subscriptions travel asynchronously, so early messages would be lost.
pub fn await_subscription(publisher: &mut Proxy, alias: &str, topic: &str, report: &Report) {
    await_subscribers(publisher, alias, topic, report, 1);
}

/// Like [`await_subscription`], for `count` subscribers that all hear `topic`.
pub fn await_subscribers(
    publisher: &mut Proxy,
    alias: &str,
    topic: &str,
    report: &Report,
    count: usize,
) {
    let deadline = Instant::now() + PATIENCE;
    let mut heard = std::collections::BTreeSet::new();
    while heard.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {heard:?} subscribed to {topic:?}"
        );
        publisher.publish(alias, topic, &"probe").unwrap();
        while let Some(r) = report.next(Duration::from_millis(20)) {
            assert_eq!(r.text(), "probe", "unexpected record while probing: {r:?}");
            heard.insert(r.agent);
        }
    }
    // Delivery is in order: once every end marker is in, no probe is left in flight.
    publisher.publish(alias, topic, &"probe-end").unwrap();
    let mut ended = 0;
    while ended < count {
        let r = report.take(1).remove(0);
        match r.text().as_str() {
            "probe" => {}
            "probe-end" => ended += 1,
            _ => panic!("unexpected record after probing: {r:?}"),
        }
    }
}

/// The kind of a remote error; panics, naming the error, for any other error.
pub fn remote_kind(err: &axon::Error) -> ErrorKind {
    err.remote()
        .unwrap_or_else(|| panic!("not a remote error: {err}"))
        .kind
}

/// A process frozen with SIGSTOP; it is thawed (SIGCONT) when this drops, also when a test fails.
pub struct Frozen(u32);

impl Frozen {
    /// Stops `pid` and waits until every thread of it has stopped: the signal is acted on
    /// by one thread when it next runs, and on a loaded machine the others run on meanwhile.
    pub fn new(pid: u32) -> Frozen {
        axon::launch::signal(pid, axon::launch::Signal::Stop).unwrap();
        let frozen = Frozen(pid);
        let stopped = axon::testing::wait_until(PATIENCE, || all_threads_stopped(pid));
        assert!(stopped, "process {pid} never stopped");
        frozen
    }
}

/// Whether every thread of `pid` is in state T (stopped).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    threads.flatten().all(|thread| {
        let stat = std::fs::read_to_string(thread.path().join("stat")).unwrap_or_default();
        // The state letter follows the parenthesised command name.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next());
        state == Some("T")
    })
}

impl Drop for Frozen {
    fn drop(&mut self) {
        // Gone already is fine: there is nothing left to thaw.
        let _ = axon::launch::signal(self.0, axon::launch::Signal::Cont);
    }
}

/// Repeats `attempt` (which should wait a little itself) until it yields a value;
/// panics naming `what` if none comes within [`PATIENCE`].
pub fn eventually<T>(what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {PATIENCE:?}");
        // Between attempts, as testing::wait_until does: no busy loop on a loaded machine.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// A process the test started itself: killed and reaped when this drops, also when a test fails.
pub struct Reaped(pub std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        // Already gone is fine: waiting reaps it either way.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts agent `name` of this test binary outside the node, with `defaults`, registering
/// with `ns` under the node's key; returns once it is registered.
pub fn outsider(ns: &NameServer, name: &str, defaults: axon::Defaults, dir: &TempDir) -> Reaped {
    let spec = AgentSpec {
        nameserver: Some(ns.address().to_owned()),
        defaults,
        ..AgentSpec::new(name, "agent", &dir.0)
    };
    let key = axon::protocol::auth::process_key().expect("the node installed a key");
    let child = axon::testing::host_command()
        .unwrap()
        .command("agent")
        .env(axon::launch::AGENT_ENV, spec.to_env().unwrap())
        .env(axon::protocol::auth::KEY_ENV, key.to_hex())
        .spawn()
        .unwrap();
    let agent = Reaped(child);
    let registered = axon::testing::wait_until(PATIENCE, || {
        ns.agents().unwrap().contains(&name.to_string())
    });
    assert!(registered, "{name} never registered");
    agent
}
