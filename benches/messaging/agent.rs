//! `BenchAgent`: the agent kind on both ends of every axon measurement.
//!
//! One control call starts the work and the agent does the rest itself: a
//! sender pumps its planned messages, a receiver meters them, a client
//! drives sequential round trips against an echoing server, a subscriber
//! tallies what a publisher fans out to it. Results are read back through
//! `get_attr`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axon::prelude::*;
use serde::{Deserialize, Serialize};
use serde_bytes::{ByteBuf, Bytes};

/// Sender plan: `total` messages of `size` bytes on the socket `alias`,
/// published under `topic` when it is a PUB socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pump {
    pub alias: String,
    pub total: u64,
    pub size: usize,
    #[serde(default)]
    pub topic: Option<String>,
}

/// Receiver plan: `warm` messages pass untimed, the `count` after them are timed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Expect {
    pub warm: u64,
    pub count: u64,
    pub size: usize,
}

/// A finished throughput measurement: `count` messages from first to last receipt.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Metered {
    pub count: u64,
    pub elapsed_ns: u64,
    /// Messages whose payload was not `size` bytes (a broken run when non-zero).
    pub wrong_size: u64,
}

impl Metered {
    /// Messages per second.
    pub fn rate(&self) -> f64 {
        self.count as f64 / (self.elapsed_ns.max(1) as f64 / 1e9)
    }
}

/// What one subscriber got in a fan-out run.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Received {
    /// Data messages received.
    pub count: u64,
    /// Wall-clock time of the first and the last receipt, ns since the Unix
    /// epoch (0 when none came): comparable between processes of one machine.
    pub first_ns: u64,
    pub last_ns: u64,
    /// Messages whose payload was not the planned size (a broken run when non-zero).
    pub wrong_size: u64,
}

/// `at` as wall-clock nanoseconds since the Unix epoch.
pub fn unix_ns(at: Instant) -> u64 {
    let wall = SystemTime::now() - at.elapsed();
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Client plan: `warm` untimed then `count` timed round trips of `size` bytes on REQ `alias`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trips {
    pub alias: String,
    pub warm: u64,
    pub count: u64,
    pub size: usize,
}

/// Round-trip latency percentiles, in nanoseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Latency {
    pub p50_ns: u64,
    pub p99_ns: u64,
}

impl Latency {
    /// Nearest-rank percentiles of `samples` (sorted in place); `None` when empty.
    pub fn of(samples: &mut [u64]) -> Option<Latency> {
        samples.sort_unstable();
        let rank = |q: f64| {
            let i = (q * samples.len() as f64).ceil() as usize;
            samples[i.clamp(1, samples.len()) - 1]
        };
        (!samples.is_empty()).then(|| Latency {
            p50_ns: rank(0.50),
            p99_ns: rank(0.99),
        })
    }
}

/// The bench kind: sender, receiver, client or server, depending on what it is asked.
#[derive(Default)]
pub struct BenchAgent {
    pumping: Option<Pumping>,
    /// The last pump's first and last send, unix ns.
    pump_window: (u64, u64),
    meter: Meter,
    trips: Option<Tripping>,
    latency: Option<Latency>,
    tally: Tally,
    error: Option<String>,
}

struct Pumping {
    /// Resolved once: the loop sends without an alias lookup per message.
    socket: SocketRef,
    topic: Option<String>,
    left: u64,
    payload: Vec<u8>,
}

/// A subscriber's count of one fan-out run: probes, then data, then the end marker.
#[derive(Default)]
struct Tally {
    size: usize,
    probed: bool,
    count: u64,
    wrong_size: u64,
    first: Option<Instant>,
    last: Option<Instant>,
    done: Option<Received>,
}

#[derive(Default)]
struct Meter {
    expect: Option<Expect>,
    seen: u64,
    wrong_size: u64,
    first: Option<Instant>,
    done: Option<Metered>,
}

struct Tripping {
    alias: String,
    payload: Vec<u8>,
    warm_left: u64,
    count: usize,
    samples: Vec<u64>,
    sent_at: Instant,
}

impl Agent for BenchAgent {
    const KIND: &'static str = "bench";

    fn create(_: &AgentSpec) -> HandlerResult<Self> {
        Ok(BenchAgent::default())
    }

    fn handlers(h: &mut Handlers<Self>) {
        h.on("pump", Self::start_pump)
            .on("expect", Self::expect)
            .on("sink", Self::sink)
            .on("echo", Self::echo)
            .on("trips", Self::start_trips)
            .on("pong", Self::pong)
            .on("listen", Self::listen)
            .on("heard", Self::heard)
            .on("tally", Self::tally)
            .on("tallied", Self::tallied);
    }

    fn get_attr(&self, name: &str) -> Option<Value> {
        let value = match name {
            "metered" => Value::serialized(&self.meter.done),
            "latency" => Value::serialized(&self.latency),
            "pump_left" => Value::serialized(&self.pumping.as_ref().map_or(0, |p| p.left)),
            "pump_window" => Value::serialized(&self.pump_window),
            "probed" => Value::serialized(&self.tally.probed),
            "received" => Value::serialized(&self.tally.done),
            "error" => Value::serialized(&self.error),
            _ => return None,
        };
        value.ok()
    }
}

/// The payload a consumer sees: raw frames as they are, anything else decoded as bytes
/// (borrowed from the frame where the serializer allows, as a consumer of bytes would).
fn payload_len(msg: &Message<'_>) -> HandlerResult<usize> {
    Ok(msg.decode_bytes()?.len())
}

impl BenchAgent {
    /// Keeps the first failure where the bench can read it (`get_attr("error")`).
    fn note<T>(&mut self, result: HandlerResult<T>) -> HandlerResult<T> {
        if let Err(e) = &result {
            self.error.get_or_insert_with(|| e.to_string());
        }
        result
    }

    /// `execute("pump", Pump)`: starts sending; returns once the first burst is out.
    fn start_pump(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let plan: Pump = msg.decode()?;
        self.pump_window = (unix_ns(Instant::now()), 0);
        self.pumping = Some(Pumping {
            socket: ctx.socket(&plan.alias)?,
            topic: plan.topic,
            left: plan.total,
            payload: vec![0xA5; plan.size],
        });
        let sent = self.pump(ctx);
        self.note(sent)
    }

    /// Sends while libzmq takes messages at once; at the high-water mark, comes back later.
    fn pump(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        let Some(p) = self.pumping.as_mut() else {
            return Ok(());
        };
        while p.left > 0 {
            if ctx.backlog(&p.socket)? > 0 {
                // Stop at the high-water mark; resume the moment libzmq took the backlog.
                ctx.when_drained(&p.socket, |me: &mut Self, ctx| {
                    let sent = me.pump(ctx);
                    let _ = me.note(sent);
                })?;
                return Ok(());
            }
            let payload = Bytes::new(&p.payload);
            match &p.topic {
                Some(topic) => ctx.publish(&p.socket, topic, payload)?,
                None => ctx.send(&p.socket, payload)?,
            }
            p.left -= 1;
        }
        self.pumping = None;
        self.pump_window.1 = unix_ns(Instant::now());
        Ok(())
    }

    /// `execute("expect", Expect)`: resets the meter for the next run.
    fn expect(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        self.meter = Meter {
            expect: Some(msg.decode()?),
            ..Meter::default()
        };
        Ok(())
    }

    /// PULL handler: decodes like a consumer would and meters the timed messages.
    fn sink(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        match payload_len(&msg) {
            Ok(len) => {
                self.meter.record(len);
                Ok(())
            }
            Err(e) => self.note(Err(e)),
        }
    }

    /// REP handler: answers with the request's payload.
    fn echo(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult<ByteBuf> {
        Ok(ByteBuf::from(msg.decode_bytes()?.into_owned()))
    }

    /// `execute("trips", Trips)`: sends the first request; `pong` sends the rest.
    fn start_trips(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let plan: Trips = msg.decode()?;
        self.latency = None;
        self.trips = Some(Tripping {
            alias: plan.alias,
            payload: vec![0x5A; plan.size],
            warm_left: plan.warm,
            count: plan.count as usize,
            samples: Vec::with_capacity(plan.count as usize),
            sent_at: Instant::now(),
        });
        let sent = self.request_next(ctx);
        self.note(sent)
    }

    fn request_next(&mut self, ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        let Some(t) = self.trips.as_mut() else {
            return Ok(());
        };
        t.sent_at = Instant::now();
        ctx.send(&t.alias, Bytes::new(&t.payload))?;
        Ok(())
    }

    /// REQ reply handler: records the round trip and starts the next one.
    fn pong(&mut self, ctx: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        let len = payload_len(&msg);
        let len = self.note(len)?;
        let Some(t) = self.trips.as_mut() else {
            return Ok(());
        };
        if len != t.payload.len() {
            let wrong = Err(HandlerError::msg(format_args!("echo of {len} bytes")));
            return self.note(wrong);
        }
        if !t.record(t.sent_at.elapsed()) {
            let sent = self.request_next(ctx);
            return self.note(sent);
        }
        self.latency = Latency::of(&mut t.samples);
        self.trips = None;
        Ok(())
    }

    /// `execute("listen", size)`: resets the tally for the next fan-out run.
    fn listen(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        self.tally = Tally {
            size: msg.decode()?,
            ..Tally::default()
        };
        Ok(())
    }

    /// SUB handler of the probe topic: the subscription has reached the publisher.
    fn heard(&mut self, _: &mut Ctx<'_, Self>, _: Message<'_>) -> HandlerResult {
        self.tally.probed = true;
        Ok(())
    }

    /// SUB handler of the data topic: decodes like a consumer would and counts.
    fn tally(&mut self, _: &mut Ctx<'_, Self>, msg: Message<'_>) -> HandlerResult {
        match payload_len(&msg) {
            Ok(len) => {
                self.tally.record(len);
                Ok(())
            }
            Err(e) => self.note(Err(e)),
        }
    }

    /// SUB handler of the end marker: everything sent before it is in (or lost).
    fn tallied(&mut self, _: &mut Ctx<'_, Self>, _: Message<'_>) -> HandlerResult {
        let t = &mut self.tally;
        if t.done.is_none() {
            t.done = Some(Received {
                count: t.count,
                first_ns: t.first.map_or(0, unix_ns),
                last_ns: t.last.map_or(0, unix_ns),
                wrong_size: t.wrong_size,
            });
        }
        Ok(())
    }
}

impl Tally {
    fn record(&mut self, len: usize) {
        // Data after the end marker belongs to no run (none is sent).
        if self.done.is_some() {
            return;
        }
        let now = Instant::now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        self.count += 1;
        self.wrong_size += u64::from(len != self.size);
    }
}

impl Meter {
    fn record(&mut self, len: usize) {
        // Messages outside a planned run (none are sent) would not be timed.
        let Some(e) = self.expect else {
            return;
        };
        self.seen += 1;
        self.wrong_size += u64::from(len != e.size);
        if self.seen == e.warm + 1 {
            self.first = Some(Instant::now());
        }
        if self.seen == e.warm + e.count {
            let elapsed = self.first.map_or(Duration::ZERO, |f| f.elapsed());
            self.done = Some(Metered {
                count: e.count,
                elapsed_ns: elapsed.as_nanos() as u64,
                wrong_size: self.wrong_size,
            });
        }
    }
}

impl Tripping {
    /// Records one round trip; `true` once every timed one is in.
    fn record(&mut self, rtt: Duration) -> bool {
        if self.warm_left > 0 {
            self.warm_left -= 1;
        } else {
            self.samples.push(rtt.as_nanos() as u64);
        }
        self.samples.len() >= self.count
    }
}
