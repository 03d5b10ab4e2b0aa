//! Futures the server waits on without holding them in its actix context.
//!
//! actix polls every future spawned into an actor's context (`ctx.spawn`,
//! `run_later`) each time the actor wakes, ready or not. The server used to
//! hold one such future per child (its exit) and one per start (its
//! deadline), so every message it handled cost O(children) polls: with 1000
//! agents starting, polling them was the largest part of its CPU, and a
//! deployment's start grew faster than linearly (docs/performance.md).
//! Instead each runs as a task of its own on the server's thread, which
//! costs nothing until it wakes, and its outcome comes back as a message.

use std::future::Future;
use std::time::Duration;

use actix::prelude::*;

use super::Server;

/// What to do with the server, and the context it runs in.
type Continuation = dyn FnOnce(&mut Server, &mut Context<Server>) + Send;

/// What to do with the server when a detached future ends.
pub(super) struct Then(Box<Continuation>);

impl Message for Then {
    type Result = ();
}

impl Handler<Then> for Server {
    type Result = ();

    fn handle(&mut self, then: Then, ctx: &mut Context<Self>) {
        (then.0)(self, ctx);
    }
}

/// Runs `fut` as a task of its own; once it ends, `then` gets the server and the outcome (if
/// the server still runs: a stopped server's outcomes are dropped, as its context's were).
pub(super) fn detach<T: Send + 'static>(
    ctx: &Context<Server>,
    fut: impl Future<Output = T> + 'static,
    then: impl FnOnce(&mut Server, T, &mut Context<Server>) + Send + 'static,
) {
    let server = ctx.address();
    actix_rt::spawn(async move {
        let outcome = fut.await;
        server.do_send(Then(Box::new(move |act, ctx| then(act, outcome, ctx))));
    });
}

/// `then` once `delay` is over, on a timer of its own.
pub(super) fn after(
    ctx: &Context<Server>,
    delay: Duration,
    then: impl FnOnce(&mut Server, &mut Context<Server>) + Send + 'static,
) {
    detach(ctx, tokio::time::sleep(delay), move |act, (), ctx| {
        then(act, ctx)
    });
}
