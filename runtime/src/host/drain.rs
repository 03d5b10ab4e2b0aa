//! The futures that move messages between libzmq and the host: a drain
//! per receiving socket (messages in, in batches), a flush per backlog
//! (messages out, as room appears), the wait for every backlog on a
//! graceful stop; and the tick of a reliable sender (timed-out messages out again).
//!
//! Sockets are drained by these hand-written futures rather than by a
//! `StreamHandler` per socket: one wake-up reads a batch of up to
//! [`DRAIN_BUDGET`] messages straight from libzmq into one reused buffer
//! (no `Multipart` per message, no mailbox turn per message), and a socket's
//! drain sleeps until its own socket wakes it. See docs/architecture.md.

use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;

use super::Host;
use crate::agent::Agent;
use crate::net::Frames;
use crate::sockets::Sockets;
use crate::stats::Count;

/// Most messages drained from one socket per wake-up before other work gets a turn.
const DRAIN_BUDGET: usize = 256;

/// Starts draining every socket of the pair at `index` that receives (a SYNC_PUB's stream does not).
pub(super) fn serve<A: Agent>(
    sockets: &Sockets,
    actor: &mut Context<Host<A>>,
    index: usize,
    generation: u64,
) {
    let Some(slot) = sockets.slots.get(index).and_then(Option::as_ref) else {
        return;
    };
    if slot.generation != generation {
        return;
    }
    if let Some(period) = slot.reliable.as_ref().and_then(|r| r.tick()) {
        actor.spawn(Ticker::new(index, generation, period));
    }
    for index in std::iter::once(index).chain(slot.partner) {
        if let Some(slot) = sockets.slots.get(index).and_then(Option::as_ref) {
            if slot.socket.receives() {
                actor.spawn(Drain::data(index, slot.generation));
            }
        }
    }
}

/// Starts draining the backlog of the socket at `index`.
pub(super) fn start_flush<A: Agent>(sockets: &Sockets, actor: &mut Context<Host<A>>, index: usize) {
    if let Some(slot) = sockets.slots.get(index).and_then(Option::as_ref) {
        actor.spawn(Flush {
            index,
            generation: slot.generation,
        });
    }
}

/// Which socket a [`Drain`] reads.
#[derive(Clone, Copy)]
enum Source {
    Control,
    Data { index: usize, generation: u64 },
}

/// Reads a socket in batches and hands each message to the host; ends when the socket closes.
pub(super) struct Drain {
    source: Source,
}

impl Drain {
    pub(super) fn control() -> Self {
        Drain {
            source: Source::Control,
        }
    }

    pub(super) fn data(index: usize, generation: u64) -> Self {
        Drain {
            source: Source::Data { index, generation },
        }
    }
}

impl<A: Agent> ActorFuture<Host<A>> for Drain {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        ctx: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let source = self.source;
        // One buffer for the whole batch: taken out of the host while handlers borrow it.
        let mut frames = std::mem::take(&mut act.frames);
        let outcome = drain_batch(source, act, ctx, task, &mut frames);
        act.frames = frames;
        // A reliable PULL acknowledges what this batch handled.
        if let Source::Data { index, .. } = source {
            act.sockets.send_acks(index);
        }
        outcome
    }
}

fn drain_batch<A: Agent>(
    source: Source,
    act: &mut Host<A>,
    ctx: &mut Context<Host<A>>,
    task: &mut TaskContext<'_>,
    frames: &mut Frames,
) -> Poll<()> {
    for _ in 0..DRAIN_BUDGET {
        let chan = match source {
            Source::Control => act.control.as_mut().map(|c| &mut c.socket),
            Source::Data { index, generation } => act
                .sockets
                .live_slot(index, generation)
                .map(|s| &mut s.socket),
        };
        // The socket was closed: this drain ends with it.
        let Some(chan) = chan else {
            return Poll::Ready(());
        };
        match (chan.poll_recv(task, frames), source) {
            (Poll::Ready(Some(Ok(()))), Source::Control) => {
                frames.with_views(|parts| act.on_control(parts, ctx))
            }
            (Poll::Ready(Some(Ok(()))), Source::Data { index, .. }) => {
                // What the message comes to is counted on this socket as well as in total.
                act.sockets.serving = Some(index);
                frames.with_views(|parts| act.on_data(index, parts, ctx));
                act.sockets.serving = None;
            }
            (Poll::Ready(Some(Err(e))), source) => {
                tracing::warn!(agent = %act.sockets.name(), error = %e, "receive failed");
                let index = match source {
                    Source::Data { index, .. } => Some(index),
                    Source::Control => None,
                };
                act.sockets.count_on(index, Count::Malformed);
            }
            (Poll::Ready(None), _) => return Poll::Ready(()),
            (Poll::Pending, _) => return Poll::Pending,
        }
    }
    // Budget spent with messages still waiting: yield, and come back at once.
    task.waker().wake_by_ref();
    Poll::Pending
}

/// Drains one socket's send backlog into libzmq as room appears.
pub(super) struct Flush {
    index: usize,
    generation: u64,
}

impl<A: Agent> ActorFuture<Host<A>> for Flush {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        ctx: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let Some(slot) = act.sockets.live_slot(self.index, self.generation) else {
            return Poll::Ready(());
        };
        match slot.socket.poll_flush(task) {
            Poll::Ready(Ok(())) => {
                for f in act.state.timers.drained(self.index, self.generation) {
                    act.run_code(&*f, ctx);
                }
                Poll::Ready(())
            }
            Poll::Ready(Err(e)) => {
                let alias = slot.alias.clone();
                tracing::warn!(agent = %act.sockets.name(), alias = %alias, error = %e, "send failed");
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Ready once no socket has a backlog and every reliable outbox is acknowledged.
pub(super) struct AllFlushed;

impl<A: Agent> ActorFuture<Host<A>> for AllFlushed {
    type Output = ();

    fn poll(
        self: Pin<&mut Self>,
        act: &mut Host<A>,
        _: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        let mut pending = false;
        for slot in act.sockets.slots.iter_mut().flatten() {
            pending |= matches!(slot.socket.poll_flush(task), Poll::Pending);
        }
        // Reliable outboxes wait for their acknowledgements (whose drains wake the actor,
        // which polls this again).
        pending |= act.sockets.unacked() > 0;
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

/// Looks at a reliable sender every tick: sends again what timed out, syncs its file.
/// Ends when the socket closes.
pub(super) struct Ticker {
    index: usize,
    generation: u64,
    interval: actix_rt::time::Interval,
}

impl Ticker {
    /// A ticker for the reliable socket at `index` (as of `generation`).
    pub(super) fn new(index: usize, generation: u64, period: std::time::Duration) -> Self {
        let mut interval = actix_rt::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticker {
            index,
            generation,
            interval,
        }
    }
}

impl<A: Agent> ActorFuture<Host<A>> for Ticker {
    type Output = ();

    fn poll(
        mut self: Pin<&mut Self>,
        act: &mut Host<A>,
        ctx: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        while self.interval.poll_tick(task).is_ready() {
            if act.sockets.live_slot(self.index, self.generation).is_none() {
                return Poll::Ready(());
            }
            if act.sockets.reliable_tick(self.index) {
                start_flush(&act.sockets, ctx, self.index);
            }
            act.when_sent(self.index, ctx);
        }
        Poll::Pending
    }
}
