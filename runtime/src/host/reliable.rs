//! At-least-once PUSH/PULL on the actor: a reliable PULL's messages to
//! their handler and back as acknowledgements, acknowledgements into a
//! PUSH's outbox (the timer that sends again what timed out is `drain::Ticker`).

use std::rc::Rc;

use actix::prelude::*;

use super::inbound::Handled;
use super::{drain, Host};
use crate::agent::Agent;
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
        let verdict = match self.run_pull_handler(index, alias, serializer, payload, ctx) {
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
        if let Some(main) = self.sockets.slots[index].as_ref().and_then(|s| s.partner) {
            self.when_sent(main, ctx);
        }
    }

    /// Runs what waits for the reliable sender at `index` to have sent its backlog
    /// ([`crate::agent::Ctx::when_drained`]), once it has.
    pub(super) fn when_sent(&mut self, index: usize, ctx: &mut Context<Self>) {
        let Some(slot) = self.sockets.slots[index].as_ref() else {
            return;
        };
        if slot.backlog() > 0 {
            return;
        }
        for f in self.state.timers.drained(index, slot.generation) {
            self.run_code(&*f, ctx);
        }
    }
}
