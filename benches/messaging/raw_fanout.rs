//! The raw-libzmq baseline of the fan-out case: one plain PUB process, four
//! plain SUB processes, default options (so the PUB drops silently at its
//! high-water mark, as libzmq does).
//!
//! Frames are axon's PUB/SUB layout: topic frame, then payload frame. The
//! publisher probes until the bench writes `GO` to its stdin (every
//! subscriber printed `SUBSCRIBED`), publishes its messages, then repeats the
//! end marker until its stdin closes: a marker can be dropped at the mark
//! too, a later one gets through. A subscriber prints its `RECEIVED` line at
//! the first end marker and exits.

use std::io::BufRead;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::agent::{unix_ns, Received};
use crate::fanout::{Delivery, DATA, END, PROBE, SUBSCRIBERS};
use crate::raw::{self, Job, Peer, Run};

/// How often the publisher repeats a probe or an end marker.
const REPEAT: Duration = Duration::from_millis(2);

/// Runs raw PUB -> 4 SUB; what the subscribers got.
pub fn run(run: &Run) -> Result<Delivery> {
    let mut publisher = Peer::start("raw-pub", &run.endpoint, run)?;
    let ready = publisher.line("READY", run.deadline)?;
    let endpoint = ready.trim_start_matches("READY").trim();
    let subscribers = (0..SUBSCRIBERS)
        .map(|_| Peer::start("raw-sub", endpoint, run))
        .collect::<Result<Vec<_>>>()?;
    for s in &subscribers {
        s.line("SUBSCRIBED", run.deadline)?;
    }
    publisher.tell("GO")?;
    let [first_sent, last_sent] = raw::numbers(&publisher.line("SENT", run.deadline)?)?;
    let mut received = Vec::with_capacity(SUBSCRIBERS);
    for s in &subscribers {
        let [count, first_ns, last_ns, wrong_size] =
            raw::numbers(&s.line("RECEIVED", run.deadline)?)?;
        received.push(Received {
            count,
            first_ns,
            last_ns,
            wrong_size,
        });
    }
    for s in subscribers {
        s.finish(run.deadline)?;
    }
    publisher.finish(run.deadline)?;
    // libzmq's PUB took every message (it never refuses); it counts none it dropped.
    Delivery::of(run.count, run.count, 0, &received, (first_sent, last_sent))
}

/// The `raw-pub` role: probe until told `GO`, publish, repeat the end marker until released.
pub fn publish(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = raw::bind(ctx, zmq::PUB, &job.endpoint)?;
    let (tx, told) = mpsc::channel();
    std::thread::spawn(move || {
        // Ends at EOF (the bench released us) or when the publisher stopped listening.
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    loop {
        socket.send_multipart([PROBE.as_bytes(), b""], 0)?;
        match told.try_recv() {
            Ok(line) if line == "GO" => break,
            Ok(_) | Err(TryRecvError::Empty) => std::thread::sleep(REPEAT),
            Err(TryRecvError::Disconnected) => bail!("released before GO"),
        }
    }
    let payload = vec![0xA5u8; job.size];
    let first = Instant::now();
    for _ in 0..job.count {
        socket.send(DATA.as_bytes(), zmq::SNDMORE)?;
        socket.send(&payload[..], 0)?;
    }
    let (first, last) = (unix_ns(first), unix_ns(Instant::now()));
    println!("SENT {first} LAST_NS {last}");
    loop {
        socket.send_multipart([END.as_bytes(), b""], 0)?;
        match told.recv_timeout(REPEAT) {
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
            Ok(_) | Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// The `raw-sub` role: announce the first probe, tally data, report at the end marker.
pub fn subscribe(ctx: &zmq::Context, job: &Job) -> Result<()> {
    let socket = ctx.socket(zmq::SUB)?;
    socket.connect(&job.endpoint)?;
    for topic in [PROBE, DATA, END] {
        socket.set_subscribe(topic.as_bytes())?;
    }
    let (mut topic, mut payload) = (zmq::Message::new(), zmq::Message::new());
    let (mut probed, mut count, mut wrong) = (false, 0u64, 0u64);
    let (mut first, mut last) = (None, None);
    loop {
        socket.recv(&mut topic, 0)?;
        socket.recv(&mut payload, 0)?;
        match &topic[..] {
            t if t == DATA.as_bytes() => {
                let now = Instant::now();
                first.get_or_insert(now);
                last = Some(now);
                count += 1;
                wrong += u64::from(payload.len() != job.size);
            }
            t if t == PROBE.as_bytes() && !probed => {
                probed = true;
                raw::say("SUBSCRIBED")?;
            }
            t if t == END.as_bytes() => break,
            _ => {}
        }
    }
    let (first_ns, last_ns) = (first.map_or(0, unix_ns), last.map_or(0, unix_ns));
    raw::say(&format!(
        "RECEIVED {count} FIRST_NS {first_ns} LAST_NS {last_ns} WRONG {wrong}"
    ))
}
