//! The agent's line to the name server: registration, lease renewals,
//! where its sockets are bound, the journal of configuring calls, and what
//! agent code asks. None of it blocks the actor.
//!
//! One task owns the connection and makes the calls one after another, in
//! the order the actor queued them (so `set_addr` of a bind reaches the
//! name server before the journal entry of that bind). The actor gets each
//! answer as a future it awaits. The queue is bounded: a renewal that finds
//! it full is dropped (the next one follows a period later), anything else
//! fails at once with a clear error.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use crate::client::call::Client;
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::protocol::NAMESERVER;

/// Calls waiting for the name server, at most.
const QUEUE_LIMIT: usize = 4096;

/// How long one call to the name server may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer the actor can await.
pub(crate) type Pending = LocalBoxFuture<'static, Result<Value>>;

struct Call {
    method: String,
    args: Value,
    /// `None`: oneway, nobody waits.
    answer: Option<oneshot::Sender<Result<Value>>>,
}

/// The queue to the task that talks to the name server.
pub(crate) struct NameServerLink {
    queue: mpsc::Sender<Call>,
}

impl NameServerLink {
    /// Starts the task talking to the name server at `endpoint`; call it inside the agent's System.
    pub(super) fn start(endpoint: String) -> Self {
        let (queue, calls) = mpsc::channel(QUEUE_LIMIT);
        actix_rt::spawn(serve(endpoint, calls));
        NameServerLink { queue }
    }

    /// Queues `method`; the answer comes through the returned future.
    pub(super) fn call(&self, method: &str, args: Value) -> Pending {
        let (answer, answered) = oneshot::channel();
        let call = Call {
            method: method.to_owned(),
            args,
            answer: Some(answer),
        };
        if let Err(e) = self.queue.try_send(call) {
            let why = refusal(method, &e);
            return async move { Err(why) }.boxed_local();
        }
        let method = method.to_owned();
        async move {
            answered.await.unwrap_or_else(|_| {
                Err(Error::Config(format!(
                    "the name-server task ended before answering {method}"
                )))
            })
        }
        .boxed_local()
    }

    /// Queues `method` as a oneway request; false when the queue is full (nothing was queued).
    pub(super) fn tell(&self, method: &str, args: Value) -> bool {
        let call = Call {
            method: method.to_owned(),
            args,
            answer: None,
        };
        self.queue.try_send(call).is_ok()
    }
}

fn refusal<T>(method: &str, e: &mpsc::error::TrySendError<T>) -> Error {
    match e {
        mpsc::error::TrySendError::Full(_) => Error::Config(format!(
            "{QUEUE_LIMIT} calls already wait for the name server; {method} not sent"
        )),
        mpsc::error::TrySendError::Closed(_) => {
            Error::Config(format!("the name-server task has ended; {method} not sent"))
        }
    }
}

/// The task: one call at a time, in order, each bounded by [`CALL_TIMEOUT`].
async fn serve(endpoint: String, mut calls: mpsc::Receiver<Call>) {
    let mut client = Client::open(NAMESERVER, endpoint);
    while let Some(call) = calls.recv().await {
        let client = match client.as_mut() {
            Ok(c) => c,
            Err(e) => {
                let why = Error::Config(format!("no connection to the name server: {e}"));
                answer(call, Err(why));
                continue;
            }
        };
        let outcome = match call.answer {
            Some(_) => client.call(&call.method, &call.args, CALL_TIMEOUT).await,
            None => client
                .oneway(&call.method, &call.args, CALL_TIMEOUT)
                .await
                .map(|()| Value::Null),
        };
        answer(call, outcome);
    }
    // The actor is gone and dropped its end: nothing more will be asked.
    if let Ok(c) = client.as_ref() {
        c.forget_pending();
    }
}

fn answer(call: Call, outcome: Result<Value>) {
    match call.answer {
        // The actor may have stopped waiting (it is leaving): the answer has no one to go to.
        Some(to) => {
            let _ = to.send(outcome);
        }
        None => {
            if let Err(e) = outcome {
                tracing::debug!(method = %call.method, error = %e, "oneway request to the name server not sent");
            }
        }
    }
}
