//! At-least-once PUSH/PULL on the actor: a reliable PULL's messages to
//! their handler and back as acknowledgements, acknowledgements into a
//! PUSH's outbox, and the timer that sends again what timed out.

use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use actix::prelude::*;

use super::inbound::Handled;
use super::{drain, Host};
use crate::agent::{Agent, Message};
use crate::codec::Serializer;
use crate::sockets::{Incoming, Verdict};

impl<A: Agent> Host<A> {
    /// A message on the reliable PULL at `index`: handled once, acknowledged either way.
    pub(super) fn on_reliable_pull(
        &mut self,
        index: usize,
        alias: &Rc<str>,
        serializer: Serializer,
        frames: &[&[u8]],
        ctx: &mut Context<Self>,
    ) {
        let Incoming::Fresh {
            incarnation,
            seq,
            payload,
        } = self.sockets.incoming(index, frames)
        else {
            return;
        };
        let handler = self.sockets.slots[index]
            .as_ref()
            .and_then(|s| s.handler.clone());
        let msg = Message::new(alias, None, payload, serializer);
        let verdict = match self.run_slot_handler(handler, msg, ctx) {
            Handled::Ok(_) => Verdict::Ack,
            Handled::Failed(_) | Handled::Missing(_) => Verdict::Nack,
        };
        self.sockets.verdict(index, incarnation, seq, verdict);
    }

    /// Acknowledgements (or garbage) on the companion at `index` of a reliable socket.
    pub(super) fn on_acks(&mut self, index: usize, frames: &[&[u8]], ctx: &mut Context<Self>) {
        for flush in self.sockets.on_acks(index, frames) {
            drain::start_flush(&self.sockets, ctx, flush);
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
        _: &mut Context<Host<A>>,
        task: &mut TaskContext<'_>,
    ) -> Poll<()> {
        while self.interval.poll_tick(task).is_ready() {
            if act.sockets.live_slot(self.index, self.generation).is_none() {
                return Poll::Ready(());
            }
            act.sockets.reliable_tick(self.index);
        }
        Poll::Pending
    }
}
