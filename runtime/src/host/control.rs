//! The agent's control plane: a request's cycle from the control socket to
//! its answer. The methods themselves are in `methods`.
//!
//! Requests are handled one at a time between handler calls (osBrain's
//! "safe" calls). Unknown methods and bad arguments are answered with a
//! structured error; the agent keeps serving. A configuring call on a
//! supervised agent is answered only once the supervisor has journaled it
//! (and a failed journal write fails the call), so that a restart restores
//! everything a caller was told succeeded. A bind is answered once the name
//! server knows its address.

use actix::prelude::*;

use super::nameserver::Pending;
use super::Host;
use crate::agent::Agent;
use crate::codec::{to_value, Value};
use crate::error::{ErrorKind, RemoteError};
use crate::protocol::{journal, open_request, reply_frames, Request, Unparsed};

/// What a control method came to.
pub(super) enum Answer {
    /// Reply now with this outcome.
    Now(Result<Value, RemoteError>),
    /// The reply is sent later (e.g. when a REQ reply arrives).
    Later,
}

/// Who asked, so that a later answer finds its way back.
#[derive(Clone)]
pub(super) struct Caller {
    pub(super) route: Vec<u8>,
    pub(super) id: u64,
    pub(super) oneway: bool,
}

impl Caller {
    /// A caller waiting for its answer.
    pub(super) fn new(route: Vec<u8>, id: u64) -> Self {
        Caller {
            route,
            id,
            oneway: false,
        }
    }
}

impl<A: Agent> Host<A> {
    /// Handles one control message: `[route, PROTOCOL, signature, body]`.
    pub(super) fn on_control(&mut self, frames: &[&[u8]], actor: &mut Context<Self>) {
        self.sockets.stats.control_requests += 1;
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let mut request = match open_request(frames, &mut control.guard) {
            Ok(r) => r,
            Err(unparsed) => return self.unparsed(frames, unparsed),
        };
        let caller = Caller {
            route: frames[0].to_vec(),
            id: request.id,
            oneway: request.oneway,
        };
        self.name_new_socket(&mut request);
        let answer = self.dispatch(&request, &caller, actor);
        let accepted = matches!(answer, Answer::Now(Ok(_)));
        let reported = self.report_addrs();
        if let Answer::Now(outcome) = answer {
            match outcome {
                Ok(value) => self.settle(&request, value, caller, reported, actor),
                Err(e) => self.answer(&caller, Err(e)),
            }
        }
        match request.method.as_str() {
            "shutdown" if accepted => self.leave(actor),
            "kill" => self.kill(actor),
            _ => {}
        }
    }

    /// Answers a message that is not an admissible request, when it names one; counts it.
    fn unparsed(&mut self, frames: &[&[u8]], unparsed: Unparsed) {
        let route = frames.first().map(|r| r.to_vec()).unwrap_or_default();
        let (id, error) = match unparsed {
            Unparsed::Refused { id, method, why } => {
                self.sockets.stats.refused += 1;
                tracing::warn!(agent = %self.sockets.name(), method = %method, why = %why, "control request refused");
                let message = format!("request refused: {why}");
                let e = self
                    .sockets
                    .remote_error(ErrorKind::Refused, &method, message);
                (Some(id), e)
            }
            Unparsed::Malformed { id, why } => {
                self.sockets.stats.malformed += 1;
                tracing::warn!(agent = %self.sockets.name(), why, "malformed control request");
                (
                    id,
                    self.sockets.remote_error(ErrorKind::BadRequest, "?", why),
                )
            }
        };
        if let Some(id) = id {
            self.answer(&Caller::new(route, id), Err(error));
        }
    }

    /// A method succeeded: answer once the name server has what it must know of it.
    pub(super) fn settle(
        &mut self,
        req: &Request,
        value: Value,
        caller: Caller,
        reported: Option<Pending>,
        actor: &mut Context<Self>,
    ) {
        let recorded = self.journal(req, &value);
        let wait = match (recorded, reported) {
            (Some(journaled), _) => journaled,
            (None, Some(reported)) => {
                // The address is there for whoever asks after the answer; a report that
                // failed is logged, the bind itself stands.
                let name = self.sockets.name().to_owned();
                Box::pin(async move {
                    if let Err(e) = reported.await {
                        tracing::warn!(agent = %name, error = %e, "the name server did not take a socket address");
                    }
                    Ok(Value::Null)
                })
            }
            (None, None) => return self.answer(&caller, Ok(value)),
        };
        let method = req.method.clone();
        let done = wait.into_actor(self).map(move |recorded, host, _| {
            let outcome = match recorded {
                Ok(_) => Ok(value),
                Err(e) => {
                    let message = format!(
                        "{method} was applied but the supervisor did not record it ({e}); a restart will not restore it"
                    );
                    tracing::warn!(agent = %host.sockets.name(), method = %method, error = %e, "configuration not journaled");
                    Err(host.sockets.remote_error(ErrorKind::Internal, &method, message))
                }
            };
            host.answer(&caller, outcome);
        });
        actor.spawn(done);
    }

    /// Gives an unnamed bind or connect its alias now, so that the journal can name the socket.
    fn name_new_socket(&mut self, req: &mut Request) {
        if !self.sockets.spec.supervised || journal::field(&req.args, "alias").is_some() {
            return;
        }
        if let Some(kind) = journal::socket_kind(&req.method, &req.args) {
            let alias = Value::Text(self.sockets.fresh_alias(kind));
            req.args = journal::with_field(&req.args, "alias", alias);
        }
    }

    /// Sends a configuring call to the supervisor's journal; `None` when nothing is to be recorded.
    fn journal(&mut self, req: &Request, result: &Value) -> Option<Pending> {
        if !self.sockets.spec.supervised || !journal::configures(&req.method) {
            return None;
        }
        let change = journal::change(&req.method, &req.args, result)?;
        let ns = self.state.nameserver.as_ref()?;
        #[derive(serde::Serialize)]
        struct Journaled<'a> {
            name: &'a str,
            pid: u32,
            change: journal::Change,
        }
        let args = Journaled {
            name: self.sockets.name(),
            pid: std::process::id(),
            change,
        };
        Some(match to_value(&args) {
            Ok(args) => ns.call("journal", args),
            Err(e) => Box::pin(async move { Err(e) }),
        })
    }

    /// Sends a control reply to `caller` (nothing for a oneway request, whose failure is logged).
    pub(super) fn answer(&mut self, caller: &Caller, outcome: Result<Value, RemoteError>) {
        if caller.oneway {
            if let Err(e) = outcome {
                tracing::warn!(agent = %self.sockets.name(), method = %e.method, error = %e, "oneway request failed");
            }
            return;
        }
        let frames = match reply_frames(&caller.route, caller.id, outcome) {
            Ok(f) => f,
            Err(e) => {
                return tracing::warn!(agent = %self.sockets.name(), id = caller.id, error = %e, "control reply does not encode")
            }
        };
        let Some(control) = self.control.as_mut() else {
            return;
        };
        let parts: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
        match control.socket.try_send_now(&parts) {
            Ok(true) => {}
            // The caller stopped reading its replies; it will time out on its side.
            Ok(false) => {
                tracing::warn!(agent = %self.sockets.name(), id = caller.id, "control reply dropped: caller not reading")
            }
            Err(e) => {
                tracing::warn!(agent = %self.sockets.name(), id = caller.id, error = %e, "control reply failed")
            }
        }
    }
}
