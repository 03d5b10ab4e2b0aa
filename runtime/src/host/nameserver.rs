//! The agent's line to the name server: registration, lease renewals,
//! where its sockets are bound, the journal of configuring calls, and what
//! agent code asks. None of it blocks the actor.
//!
//! One task owns the connection (open only while calls come, see `serve`)
//! and makes the calls one after another, in
//! the order the actor queued them (so `set_addr` of a bind reaches the
//! name server before the journal entry of that bind). The actor gets each
//! answer as a future it awaits. The queue is bounded: a renewal that finds
//! it full is dropped (the next one follows a period later), anything else
//! fails at once with a clear error.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::Host;
use crate::agent::Agent;
use crate::client::call::Client;
use crate::codec::to_value;
use crate::codec::Value;
use crate::error::{Error, Result};
use crate::protocol::NAMESERVER;
use crate::sockets::AddrChange;

/// Calls waiting for the name server, at most.
const QUEUE_LIMIT: usize = 4096;

/// How long the connection to the name server stays open with no call on it.
const IDLE: Duration = Duration::from_secs(2);

/// How long one call to the name server may take.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// An answer the actor can await.
pub(crate) type Pending = LocalBoxFuture<'static, Result<Value>>;

struct Call {
    method: String,
    args: Value,
    timeout: Duration,
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
        self.call_within(method, args, CALL_TIMEOUT)
    }

    /// Queues `method`, answered within `timeout` once sent.
    pub(super) fn call_within(&self, method: &str, args: Value, timeout: Duration) -> Pending {
        let (answer, answered) = oneshot::channel();
        let call = Call {
            method: method.to_owned(),
            args,
            timeout,
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

/// The task: one call at a time, in order, each bounded by its timeout. The connection is
/// opened for a call and closed once no call came for [`IDLE`]: a name server with thousands
/// of agents holds a connection only for those that are talking to it.
async fn serve(endpoint: String, mut calls: mpsc::Receiver<Call>) {
    let mut client: Option<Client> = None;
    loop {
        let next = match client {
            Some(_) => tokio::time::timeout(IDLE, calls.recv()).await,
            None => Ok(calls.recv().await),
        };
        let call = match next {
            Ok(Some(call)) => call,
            // The actor is gone and dropped its end: nothing more will be asked.
            Ok(None) => break,
            Err(_idle) => {
                // Dropped: libzmq lets what is still queued leave within the client's linger.
                client = None;
                continue;
            }
        };
        if client.is_none() {
            match Client::open(NAMESERVER, endpoint.as_str()) {
                Ok(c) => client = Some(c),
                Err(e) => {
                    let why = Error::Config(format!("no connection to the name server: {e}"));
                    answer(call, Err(why));
                    continue;
                }
            }
        }
        let Some(c) = client.as_mut() else { continue };
        let outcome = match call.answer {
            Some(_) => c.call(&call.method, &call.args, call.timeout).await,
            None => c
                .oneway(&call.method, &call.args, call.timeout)
                .await
                .map(|()| Value::Null),
        };
        answer(call, outcome);
    }
    if let Some(c) = client.as_ref() {
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

impl<A: Agent> Host<A> {
    /// Queues the binds and closes since the last report for the name server (once registered);
    /// returns the answer to the last one.
    pub(super) fn report_addrs(&mut self) -> Option<Pending> {
        if !self.state.serving || !self.sockets.has_addr_changes() {
            return None;
        }
        let ns = self.state.nameserver.as_ref()?;
        let name = self.sockets.spec.name.clone();
        let mut last = None;
        for change in self.sockets.take_addr_changes() {
            let (method, args) = match &change {
                AddrChange::Bound(alias, address) => (
                    "set_addr",
                    to_value(&SetAddr {
                        name: &name,
                        alias,
                        address,
                    }),
                ),
                AddrChange::Closed(alias) => {
                    ("del_addr", to_value(&AliasOf { name: &name, alias }))
                }
            };
            match args {
                Ok(args) => last = Some(ns.call(method, args)),
                Err(e) => {
                    tracing::warn!(agent = %name, method, error = %e, "address change not reported")
                }
            }
        }
        last
    }
}

#[derive(serde::Serialize)]
pub(super) struct Registration<'a> {
    pub(super) name: &'a str,
    pub(super) kind: &'a str,
    pub(super) pid: u32,
    pub(super) control: &'a str,
    pub(super) lease_ms: u64,
}

#[derive(serde::Serialize)]
struct SetAddr<'a> {
    name: &'a str,
    alias: &'a str,
    address: &'a crate::net::Address,
}

#[derive(serde::Serialize)]
struct AliasOf<'a> {
    name: &'a str,
    alias: &'a str,
}

#[derive(serde::Serialize)]
pub(super) struct StartFailed<'a> {
    pub(super) name: &'a str,
    pub(super) pid: u32,
    pub(super) reason: &'a str,
    /// The spawn's own arguments are at fault (the kind's `create` or an attribute refused them).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) bad_arguments: bool,
}

/// Tells the name server why this agent could not be created from its spawn's arguments (the
/// kind's `create`, or an attribute), so that the spawn's caller hears the reason.
pub(super) async fn report_start_failure(name: &str, nameserver: &str, reason: &str) {
    let args = StartFailed {
        name,
        pid: std::process::id(),
        reason,
        bad_arguments: true,
    };
    let told = crate::client::call::call(
        nameserver,
        crate::protocol::NAMESERVER,
        "start_failed",
        &args,
        Duration::from_secs(1),
    )
    .await;
    if let Err(e) = told {
        tracing::debug!(agent = name, error = %e, "could not tell the name server why the start failed");
    }
}
