//! The agent's control plane: requests from proxies, dispatched by method name.
//!
//! Requests are handled one at a time between handler calls (osBrain's
//! "safe" calls). Unknown methods and bad arguments are answered with a
//! structured error; the agent keeps serving.

use std::collections::BTreeMap;
use std::time::Duration;

use actix::Context;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_bytes::ByteBuf;

use crate::address::{Address, Kind, Transport};
use crate::agent::Agent;
use crate::auth::Guard;
use crate::core::{BindOptions, ConnectOptions, RequestOptions, Waiter};
use crate::dispatch::Handled;
use crate::error::Error;
use crate::host::Host;
use crate::journal;
use crate::serializer::{to_value, Serializer, Value};
use crate::socket::OnFull;
use crate::timers::Action;
use crate::wire::{self, ErrorKind, Outcome, Reply, Request};

/// What a control method came to.
enum Answer {
    /// Reply now with this outcome.
    Now(Result<Value, wire::RemoteError>),
    /// The reply is sent later (e.g. when a REQ reply arrives).
    Later,
}

/// A handler given as one name, or (SUB) as a map from topic to name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HandlerSpec {
    Name(String),
    Topics(BTreeMap<ByteBuf, String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindArgs {
    kind: Kind,
    alias: Option<String>,
    transport: Option<Transport>,
    addr: Option<String>,
    serializer: Option<Serializer>,
    handler: Option<String>,
    hwm: Option<i32>,
    on_full: Option<OnFull>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectArgs {
    address: Address,
    alias: Option<String>,
    handler: Option<HandlerSpec>,
    hwm: Option<i32>,
    on_full: Option<OnFull>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendArgs {
    alias: String,
    message: Value,
    topic: Option<ByteBuf>,
    /// Requests only: the reply's handler, the error handler, and the wait.
    handler: Option<String>,
    on_error: Option<String>,
    wait_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestArgs {
    alias: String,
    message: Value,
    timeout_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TopicArgs {
    alias: String,
    topic: ByteBuf,
    handler: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttrArgs {
    name: String,
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecuteArgs {
    handler: String,
    args: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimerArgs {
    /// Period (`each`) or delay (`after`) in milliseconds.
    ms: u64,
    handler: String,
    alias: Option<String>,
    /// Passed to the handler as the message (CBOR); null when absent.
    args: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoggerArgs {
    endpoint: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetHandlerArgs {
    alias: String,
    handler: String,
    /// SUB only: the topic whose handler changes (it must be subscribed).
    topic: Option<ByteBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AliasArgs {
    alias: String,
}

impl<A: Agent> Host<A> {
    /// Handles one control message: `[route, PROTOCOL, signature, body]`.
    pub(crate) fn on_control(&mut self, frames: &[&[u8]], ctx: &mut Context<Self>) {
        self.core.stats.control_requests += 1;
        let request = match parse_request(frames, &mut self.guard) {
            Ok(r) => r,
            Err(Unparsed::Refused { id, method, why }) => {
                self.core.stats.refused += 1;
                tracing::warn!(agent = %self.core.name(), method = %method, why = %why, "control request refused");
                let message = format!("request refused: {why}");
                let e = self.core.remote_error(ErrorKind::Refused, &method, message);
                self.answer(frames[0], id, Err(e));
                return;
            }
            Err(Unparsed::Malformed { id, why }) => {
                self.core.stats.malformed += 1;
                tracing::warn!(agent = %self.core.name(), why, "malformed control request");
                if let Some(id) = id {
                    let e = self.core.remote_error(ErrorKind::BadRequest, "?", why);
                    self.answer(frames[0], id, Err(e));
                }
                return;
            }
        };
        let mut request = request;
        self.name_new_socket(&mut request);
        let answer = self.dispatch(&request, frames[0], ctx);
        if let Answer::Now(Ok(result)) = &answer {
            self.journal(&request, result);
        }
        if let Answer::Now(outcome) = answer {
            if !request.oneway {
                self.answer(frames[0], request.id, outcome);
            } else if let Err(e) = outcome {
                tracing::warn!(agent = %self.core.name(), method = %request.method, error = %e, "oneway request failed");
            }
        }
        match request.method.as_str() {
            "shutdown" => self.leave(ctx),
            "kill" => self.kill(ctx),
            _ => {}
        }
    }

    /// Gives an unnamed bind or connect its alias now, so that the journal can name the socket.
    fn name_new_socket(&mut self, req: &mut Request) {
        if !self.core.spec.supervised || journal::field(&req.args, "alias").is_some() {
            return;
        }
        if let Some(kind) = journal::socket_kind(&req.method, &req.args) {
            let alias = Value::Text(self.core.fresh_alias(kind));
            req.args = journal::with_field(&req.args, "alias", alias);
        }
    }

    /// Reports a configuring call to the supervisor before the caller hears of it, so that a
    /// restart restores it even when the agent dies right after answering.
    fn journal(&mut self, req: &Request, result: &Value) {
        if !self.core.spec.supervised || !journal::configures(&req.method) {
            return;
        }
        let Some(change) = journal::change(&req.method, &req.args, result) else {
            return;
        };
        #[derive(serde::Serialize)]
        struct Journaled<'a> {
            name: &'a str,
            pid: u32,
            change: journal::Change,
        }
        let name = self.core.name().to_owned();
        let Some(ns) = self.core.nameserver.as_mut() else {
            return;
        };
        let args = Journaled {
            name: &name,
            pid: std::process::id(),
            change,
        };
        if let Err(e) = ns.call::<_, Value>("journal", args) {
            tracing::warn!(agent = %name, method = %req.method, error = %e, "configuration not recorded by the supervisor; a restart will not restore it");
        }
    }

    fn dispatch(&mut self, req: &Request, route: &[u8], ctx: &mut Context<Self>) -> Answer {
        let method = req.method.as_str();
        let result =
            match method {
                "ping" => Ok(Value::Text("pong".into())),
                "is_running" => Ok(Value::Bool(true)),
                "shutdown" | "kill" => Ok(Value::Null),
                "bind" => args(req).and_then(|a| self.control_bind(a, ctx)),
                "connect" => args(req).and_then(|a| self.control_connect(a, ctx)),
                "send" => args(req).and_then(|a| self.control_send(a, ctx)),
                "request" => {
                    match args(req).and_then(|a| self.control_request(a, route, req.id, ctx)) {
                        Ok(()) => return Answer::Later,
                        Err(e) => Err(e),
                    }
                }
                "subscribe" => args(req).and_then(|a| self.control_subscribe(a)),
                "unsubscribe" => args(req).and_then(|a| self.control_unsubscribe(a)),
                "close" => args::<AliasArgs>(req)
                    .and_then(|a| self.core.close(&a.alias).map(|()| Value::Null)),
                "close_all" => {
                    self.core.close_all();
                    Ok(Value::Null)
                }
                "addr" => args::<AliasArgs>(req)
                    .and_then(|a| to_value(&self.core.slot(&a.alias)?.address)),
                "aliases" => {
                    let mut names: Vec<String> =
                        self.core.aliases.keys().map(|a| a.to_string()).collect();
                    names.sort();
                    to_value(&names)
                }
                "handlers" => to_value(&self.handlers.names()),
                "execute" => match args(req).and_then(|a| self.control_execute(a, ctx)) {
                    Ok(outcome) => return Answer::Now(outcome),
                    Err(e) => Err(e),
                },
                "set_logger" => args::<LoggerArgs>(req)
                    .and_then(|a| crate::logging::connect(&a.endpoint))
                    .map(|()| Value::Null),
                "set_handler" => args(req).and_then(|a| self.control_set_handler(a)),
                "each" => args(req).and_then(|a| self.control_timer(a, true, ctx)),
                "after" => args(req).and_then(|a| self.control_timer(a, false, ctx)),
                "stop_timer" => {
                    args::<AliasArgs>(req).and_then(|a| match self.timers.stop(ctx, &a.alias) {
                        true => Ok(Value::Null),
                        false => Err(Error::invalid("timer", a.alias, "no such timer")),
                    })
                }
                "stop_all_timers" => {
                    self.timers.stop_all(ctx);
                    Ok(Value::Null)
                }
                "list_timers" => to_value(&self.timers.aliases()),
                "get_attr" => args::<AttrArgs>(req).and_then(|a| self.control_get_attr(&a.name)),
                "set_attr" => args::<AttrArgs>(req).and_then(|a| self.control_set_attr(a)),
                "stats" => to_value(&self.core.stats),
                _ => {
                    let e = self.core.remote_error(
                        ErrorKind::UnknownMethod,
                        method,
                        format!("unknown method {method:?}"),
                    );
                    self.core.stats.control_errors += 1;
                    return Answer::Now(Err(e));
                }
            };
        Answer::Now(result.map_err(|e| {
            self.core.stats.control_errors += 1;
            self.core.remote_error(error_kind(&e), method, e)
        }))
    }

    fn control_bind(&mut self, a: BindArgs, ctx: &mut Context<Self>) -> Result<Value, Error> {
        self.check_handler(a.handler.as_deref())?;
        if matches!(
            a.kind,
            Kind::Rep | Kind::Pull | Kind::Sub | Kind::AsyncRep | Kind::SyncPub
        ) && a.handler.is_none()
        {
            return Err(Error::invalid(
                "bind",
                a.kind.as_str(),
                "a socket that receives needs a handler",
            ));
        }
        let opts = BindOptions {
            alias: a.alias,
            transport: a.transport,
            addr: a.addr,
            serializer: a.serializer,
            handler: a.handler,
            hwm: a.hwm,
            on_full: a.on_full,
        };
        let address = Self::bind(&mut self.core, ctx, a.kind, opts)?;
        to_value(&address)
    }

    fn control_connect(&mut self, a: ConnectArgs, ctx: &mut Context<Self>) -> Result<Value, Error> {
        let own = a.address.kind.twin();
        let (handler, topics) = match a.handler {
            None => (None, Vec::new()),
            Some(HandlerSpec::Name(h)) => (Some(h), vec![]),
            Some(HandlerSpec::Topics(map)) => (
                None,
                map.into_iter()
                    .map(|(t, h)| (t.into_vec(), Some(h)))
                    .collect(),
            ),
        };
        for name in handler
            .iter()
            .chain(topics.iter().filter_map(|(_, h)| h.as_ref()))
        {
            self.check_handler(Some(name))?;
        }
        if matches!(own, Kind::Pull | Kind::Sub | Kind::SyncSub)
            && handler.is_none()
            && topics.is_empty()
        {
            return Err(Error::invalid(
                "connect",
                own.as_str(),
                "a socket that receives needs a handler",
            ));
        }
        // A SUB with one handler and no topics hears everything, as in osBrain.
        let topics = match (own, topics.is_empty()) {
            (Kind::Sub | Kind::SyncSub, true) => vec![(Vec::new(), None)],
            (_, _) => topics,
        };
        let opts = ConnectOptions {
            hwm: a.hwm,
            on_full: a.on_full,
        };
        let address = Self::connect(
            &mut self.core,
            ctx,
            &a.address,
            a.alias,
            handler,
            topics,
            opts,
        )?;
        to_value(&address)
    }

    fn control_send(&mut self, a: SendArgs, ctx: &mut Context<Self>) -> Result<Value, Error> {
        let kind = self.core.slot(&a.alias)?.address.kind;
        if kind.requests() {
            self.check_handler(a.handler.as_deref())?;
            self.check_handler(a.on_error.as_deref())?;
            let opts = RequestOptions {
                handler: a.handler,
                on_error: a.on_error,
                wait: a.wait_ms.map(Duration::from_millis),
            };
            let id = Self::issue_request(&mut self.core, ctx, &a.alias, &a.message, opts)?;
            return Ok(Value::Integer(id.into()));
        }
        if a.handler.is_some() || a.on_error.is_some() || a.wait_ms.is_some() {
            return Err(Error::invalid(
                "send",
                a.alias,
                "handler, on_error and wait_ms are for requests",
            ));
        }
        if let Some(index) = self.core.send(
            (&a.alias).into(),
            a.topic.as_deref().map(|t| &t[..]),
            &a.message,
        )? {
            Self::start_flush(&mut self.core, index, ctx);
        }
        Ok(Value::Null)
    }

    fn control_request(
        &mut self,
        a: RequestArgs,
        route: &[u8],
        id: u64,
        ctx: &mut Context<Self>,
    ) -> Result<(), Error> {
        let waiter = Waiter::Control {
            route: route.to_vec(),
            id,
        };
        let (request, flush) = self.core.request(&a.alias, &a.message, waiter)?;
        if let Some(index) = flush {
            Self::start_flush(&mut self.core, index, ctx);
        }
        let timeout = Duration::from_millis(a.timeout_ms.unwrap_or(10_000));
        Self::expire_after(&self.core, ctx, &a.alias, request, timeout)
    }

    fn control_subscribe(&mut self, a: TopicArgs) -> Result<Value, Error> {
        self.check_handler(a.handler.as_deref())?;
        self.core
            .subscribe(&a.alias, a.topic.into_vec(), a.handler.as_deref())?;
        Ok(Value::Null)
    }

    fn control_unsubscribe(&mut self, a: TopicArgs) -> Result<Value, Error> {
        self.core.unsubscribe(&a.alias, &a.topic)?;
        Ok(Value::Null)
    }

    /// Runs a named handler with `args` as its message and answers with its value.
    fn control_execute(
        &mut self,
        a: ExecuteArgs,
        ctx: &mut Context<Self>,
    ) -> Result<Result<Value, wire::RemoteError>, Error> {
        self.check_handler(Some(&a.handler))?;
        let payload = crate::Serializer::Cbor.encode(&a.args.unwrap_or(Value::Null))?;
        let msg = crate::message::Message::new("execute", None, &payload, crate::Serializer::Cbor);
        Ok(
            match self.call(Some(&a.handler), msg.expecting_reply(), ctx) {
                Handled::Ok(reply) => {
                    let bytes = reply.unwrap_or_default();
                    crate::Serializer::Cbor
                        .decode::<Value>(&bytes)
                        .map_err(|e| self.core.remote_error(ErrorKind::Internal, &a.handler, e))
                }
                Handled::Failed(e) | Handled::Missing(e) => Err(e),
            },
        )
    }

    /// Points a socket (or one SUB topic) at another handler from the next message on.
    fn control_set_handler(&mut self, a: SetHandlerArgs) -> Result<Value, Error> {
        self.check_handler(Some(&a.handler))?;
        match a.topic {
            None => self.core.slot_mut(&a.alias)?.handler = Some(a.handler.into()),
            Some(topic) => {
                let slot = self.core.sub_slot(&a.alias)?;
                let entry = slot.topics.iter_mut().find(|(t, _)| t[..] == topic[..]);
                let entry = entry.ok_or_else(|| {
                    Error::invalid("topic", String::from_utf8_lossy(&topic), "not subscribed")
                })?;
                entry.1 = Some(a.handler.into());
            }
        }
        Ok(Value::Null)
    }

    fn control_timer(
        &mut self,
        a: TimerArgs,
        periodic: bool,
        ctx: &mut Context<Self>,
    ) -> Result<Value, Error> {
        self.check_handler(Some(&a.handler))?;
        let interval = Duration::from_millis(a.ms);
        if periodic && interval.is_zero() {
            return Err(Error::invalid(
                "timer",
                "0",
                "a period must be at least 1 ms",
            ));
        }
        let payload = crate::Serializer::Cbor.encode(&a.args.unwrap_or(Value::Null))?;
        let action = Action::Handler {
            name: a.handler,
            payload: payload.into(),
        };
        let period = periodic.then_some(interval);
        let alias = self.timers.start(ctx, a.alias, interval, period, action);
        Ok(Value::Text(alias))
    }

    fn control_get_attr(&self, name: &str) -> Result<Value, Error> {
        if let Some(value) = self.reserved_attr(name)? {
            return Ok(value);
        }
        self.agent
            .get_attr(name)
            .ok_or_else(|| Error::invalid("attribute", name, "no such attribute"))
    }

    /// The attributes the runtime answers itself.
    fn reserved_attr(&self, name: &str) -> Result<Option<Value>, Error> {
        let mut aliases: Vec<String> = self.core.aliases.keys().map(|a| a.to_string()).collect();
        aliases.sort();
        Ok(Some(match name {
            "name" => Value::Text(self.core.name().to_owned()),
            "kind" => Value::Text(A::KIND.to_owned()),
            "pid" => Value::Integer(std::process::id().into()),
            "control" => Value::Text(self.control_endpoint.clone()),
            "aliases" => to_value(&aliases)?,
            "handlers" => to_value(&self.handlers.names())?,
            "timers" => to_value(&self.timers.aliases())?,
            "stats" => to_value(&self.core.stats)?,
            _ => return Ok(None),
        }))
    }

    fn control_set_attr(&mut self, a: AttrArgs) -> Result<Value, Error> {
        let value = a
            .value
            .ok_or_else(|| Error::invalid("arguments", "set_attr", "missing field `value`"))?;
        if crate::attrs::is_reserved(&a.name) {
            return Err(Error::invalid(
                "attribute",
                a.name,
                "reserved by the runtime",
            ));
        }
        self.agent
            .set_attr(&a.name, value)
            .map(|()| Value::Null)
            .map_err(|e| Error::invalid("attribute", a.name, e.to_string()))
    }

    fn check_handler(&self, name: Option<&str>) -> Result<(), Error> {
        match name {
            Some(h) if !self.handlers.contains(h) => Err(Error::invalid(
                "handler",
                h,
                format!("this agent's kind offers {:?}", self.handlers.names()),
            )),
            _ => Ok(()),
        }
    }

    /// Sends a control reply to `route`.
    pub(crate) fn answer(
        &mut self,
        route: &[u8],
        id: u64,
        outcome: Result<Value, wire::RemoteError>,
    ) {
        let result = match outcome {
            Ok(v) => Outcome::Ok(v),
            Err(e) => Outcome::Err(e),
        };
        let body = wire::encode_body(&Reply { id, result });
        let signature = crate::auth::signature(&body);
        let Some(control) = self.control.as_mut() else {
            return;
        };
        match control.try_send_now(&[route, wire::PROTOCOL, &signature, &body]) {
            Ok(true) => {}
            // The caller stopped reading its replies; it will time out on its side.
            Ok(false) => {
                tracing::warn!(agent = %self.core.name(), id, "control reply dropped: caller not reading")
            }
            Err(e) => {
                tracing::warn!(agent = %self.core.name(), id, error = %e, "control reply failed")
            }
        }
    }
}

/// Why a control message was not taken.
enum Unparsed {
    /// Not a control request; `id` is set when the body still names one.
    Malformed { id: Option<u64>, why: &'static str },
    /// A well-formed request that failed authentication.
    Refused {
        id: u64,
        method: String,
        why: crate::auth::Rejection,
    },
}

/// Parses and authenticates `[route, PROTOCOL, signature, body]`.
fn parse_request(frames: &[&[u8]], guard: &mut Guard) -> Result<Request, Unparsed> {
    if frames.len() != 4 || frames[1] != wire::PROTOCOL {
        let why = "expected [route, AXON/1, signature, body]";
        return Err(Unparsed::Malformed { id: None, why });
    }
    let request = wire::decode_body::<Request>(frames[3]).map_err(|_| Unparsed::Malformed {
        id: None,
        why: "body is not a CBOR request",
    })?;
    if let Err(why) = guard.admit(frames[3], frames[2], &request) {
        return Err(Unparsed::Refused {
            id: request.id,
            method: request.method,
            why,
        });
    }
    Ok(request)
}

/// Decodes a request's arguments; null means "no arguments".
fn args<T: DeserializeOwned>(req: &Request) -> Result<T, Error> {
    req.decode_args()
        .map_err(|reason| Error::invalid("arguments", &req.method, reason))
}

/// Maps a runtime error to the kind reported on the wire.
fn error_kind(e: &Error) -> ErrorKind {
    match e {
        Error::Invalid { .. }
        | Error::WrongKind { .. }
        | Error::AliasInUse(_)
        | Error::Encode { .. } => ErrorKind::BadArguments,
        Error::UnknownAlias(_) => ErrorKind::NotFound,
        Error::Transport(_) | Error::Socket(_) | Error::Full { .. } | Error::Io(_) => {
            ErrorKind::Transport
        }
        Error::Timeout(..) => ErrorKind::Timeout,
        Error::Remote(r) => r.kind,
        Error::Decode { .. } | Error::TooLarge { .. } => ErrorKind::BadRequest,
        Error::Config(_) => ErrorKind::Internal,
    }
}
