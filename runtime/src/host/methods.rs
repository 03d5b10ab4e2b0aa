//! The agent's control methods, one function each. Their arguments are the
//! types of `protocol::methods`, the same ones clients encode.

use std::time::Duration;

use actix::prelude::*;
use serde::de::DeserializeOwned;

use super::control::{Answer, Caller};
use super::inbound::Handled;
use super::timers::Action;
use super::{drain, requests, Host};
use crate::agent::{attrs, Agent, Message};
use crate::codec::{to_value, Serializer, Value};
use crate::error::{Error, ErrorKind, RemoteError, Result};
use crate::net::{look_up, needs_lookup, Transport};
use crate::protocol::methods::{
    Alias, Attr, Bind, Connect, Execute, RequestWait, Send, SetHandler, SetLogger, Shutdown,
    Subscription, Timer,
};
use crate::protocol::{Request, RequestOptions};
use crate::sockets::Waiter;

/// How long a control `request` waits for its reply when the caller names no timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

impl<A: Agent> Host<A> {
    /// Runs the control method `req` names.
    pub(super) fn dispatch(
        &mut self,
        req: &Request,
        caller: &Caller,
        actor: &mut Context<Self>,
    ) -> Answer {
        let method = req.method.as_str();
        let result = match method {
            "ping" => Ok(Value::Text("pong".into())),
            "adopt" => args(req).and_then(|a| self.adopt(a)),
            "is_running" => Ok(Value::Bool(true)),
            "shutdown" => args::<Shutdown>(req).map(|a| {
                self.unregister = a.unregister;
                Value::Null
            }),
            "kill" => Ok(Value::Null),
            "bind" => match args::<Bind>(req) {
                Ok(a) if self.looks_up(&a) => {
                    self.bind_after_lookup(a, req.clone(), caller.clone(), actor);
                    return Answer::Later;
                }
                parsed => parsed.and_then(|a| self.bind_method(a, actor)),
            },
            "connect" => args(req).and_then(|a| self.connect_method(a, actor)),
            "send" => args(req).and_then(|a| self.send_method(a, actor)),
            "request" => match args(req).and_then(|a| self.request_method(a, caller, actor)) {
                Ok(()) => return Answer::Later,
                Err(e) => Err(e),
            },
            "subscribe" => args(req).and_then(|a| self.subscribe_method(a)),
            "unsubscribe" => args::<Subscription>(req).and_then(|a| {
                self.sockets.unsubscribe(&a.alias, &a.topic.0)?;
                Ok(Value::Null)
            }),
            "close" => args::<Alias>(req).and_then(|a| {
                self.sockets.close(&a.alias)?;
                Ok(Value::Null)
            }),
            "close_all" => {
                self.sockets.close_all();
                Ok(Value::Null)
            }
            "addr" => {
                args::<Alias>(req).and_then(|a| to_value(&self.sockets.slot(&a.alias)?.address))
            }
            "aliases" => to_value(&self.aliases()),
            "handlers" => to_value(&self.handler_names()),
            "load_script" => args(req).and_then(|a| self.load_script_method(a)),
            "set_method" => args(req).and_then(|a| self.set_method_method(a)),
            "exec" => args(req).and_then(|a| self.exec_method(a, actor)),
            "execute" => match args(req).and_then(|a| self.execute_method(a, actor)) {
                Ok(outcome) => return Answer::Now(outcome),
                Err(e) => Err(e),
            },
            "set_logger" => args::<SetLogger>(req)
                .and_then(|a| crate::logging::connect(&a.endpoint))
                .map(|()| Value::Null),
            "set_handler" => args(req).and_then(|a| self.set_handler_method(a)),
            "each" => args(req).and_then(|a| self.timer_method(a, true, actor)),
            "after" => args(req).and_then(|a| self.timer_method(a, false, actor)),
            "stop_timer" => {
                args::<Alias>(req).and_then(|a| match self.state.timers.stop(actor, &a.alias) {
                    true => Ok(Value::Null),
                    false => Err(Error::invalid("timer", a.alias, "no such timer")),
                })
            }
            "stop_all_timers" => {
                self.state.timers.stop_all(actor);
                Ok(Value::Null)
            }
            "list_timers" => to_value(&self.state.timers.aliases()),
            "get_attr" => args::<Attr>(req).and_then(|a| self.get_attr(&a.name)),
            "attrs" => to_value(&self.named_attrs()),
            "set_attr" => args(req).and_then(|a| self.set_attr_method(a)),
            "stats" => to_value(&self.stats()),
            _ if self.is_script(method) => self.call_script_method(method, req.args.clone(), actor),
            _ => {
                self.sockets.stats.control_errors += 1;
                let message = format!("unknown method {method:?}");
                let e = self
                    .sockets
                    .remote_error(ErrorKind::UnknownMethod, method, message);
                return Answer::Now(Err(e));
            }
        };
        Answer::Now(result.map_err(|e| self.method_failed(method, e)))
    }

    /// Counts a method's failure; the error its caller gets.
    fn method_failed(&mut self, method: &str, e: Error) -> RemoteError {
        self.sockets.stats.control_errors += 1;
        match e {
            // Already says who refused what, and why.
            Error::Remote(r) => r,
            e => self.sockets.remote_error(error_kind(&e), method, e),
        }
    }

    fn bind_method(&mut self, a: Bind, actor: &mut Context<Self>) -> Result<Value> {
        self.check_handler(a.handler.as_deref())?;
        let (kind, opts) = a.options();
        let (index, generation) = self.sockets.bind(kind, opts)?;
        self.opened(index, generation, actor)
    }

    /// Whether binding with `a` needs a DNS lookup first (a tcp bind at a host name).
    fn looks_up(&self, a: &Bind) -> bool {
        let transport = a.transport.unwrap_or(self.sockets.spec.defaults.transport);
        transport == Transport::Tcp && a.addr.as_deref().is_some_and(needs_lookup)
    }

    /// Looks the host name up off the event loop, then binds and answers; the
    /// journal keeps the name, so a restart looks it up again.
    fn bind_after_lookup(
        &mut self,
        a: Bind,
        req: Request,
        caller: Caller,
        actor: &mut Context<Self>,
    ) {
        let location = a.addr.clone().unwrap_or_default();
        let lookup = async move { look_up(&location).await };
        let bound = lookup.into_actor(self).map(move |resolved, host, actor| {
            let bound = resolved.and_then(|addr| {
                let a = Bind {
                    addr: Some(addr),
                    ..a
                };
                host.bind_method(a, actor)
            });
            match bound {
                Ok(value) => {
                    let reported = host.report_addrs();
                    host.settle(&req, value, caller, reported, actor);
                }
                Err(e) => {
                    let e = host.method_failed("bind", e);
                    host.answer(&caller, Err(e));
                }
            }
        });
        actor.spawn(bound);
    }

    fn connect_method(&mut self, a: Connect, actor: &mut Context<Self>) -> Result<Value> {
        for name in a.handlers() {
            self.check_handler(Some(name))?;
        }
        let (to, opts) = a.options();
        let (index, generation) = self.sockets.connect(&to, opts)?;
        self.opened(index, generation, actor)
    }

    /// A socket just opened: serve it (now, or once the agent serves) and answer its address.
    fn opened(
        &mut self,
        index: usize,
        generation: u64,
        actor: &mut Context<Self>,
    ) -> Result<Value> {
        self.state
            .serve_socket(&self.sockets, actor, index, generation);
        let slot = self.sockets.live_slot(index, generation);
        let slot = slot.ok_or_else(|| Error::UnknownAlias(String::new()))?;
        to_value(&slot.address)
    }

    fn send_method(&mut self, a: Send, actor: &mut Context<Self>) -> Result<Value> {
        let kind = self.sockets.slot(&a.alias)?.address.kind;
        if kind.requests() {
            self.check_handler(a.handler.as_deref())?;
            self.check_handler(a.on_error.as_deref())?;
            let opts = RequestOptions {
                handler: a.handler,
                on_error: a.on_error,
                wait: a.wait_ms.map(Duration::from_millis),
            };
            let wait = opts.wait;
            let (id, flush) = self.sockets.request(&a.alias, &a.message, opts.into())?;
            if let Some(index) = flush {
                drain::start_flush(&self.sockets, actor, index);
            }
            if let Some(wait) = wait {
                requests::expire_after(&self.sockets, actor, &a.alias, id, wait);
            }
            return Ok(Value::Integer(id.into()));
        }
        if a.handler.is_some() || a.on_error.is_some() || a.wait_ms.is_some() {
            let why = "handler, on_error and wait_ms are for requests";
            return Err(Error::invalid("send", a.alias, why));
        }
        let topic = a.topic.as_ref().map(|t| t.0.as_slice());
        if let Some(index) = self.sockets.send((&*a.alias).into(), topic, &a.message)? {
            drain::start_flush(&self.sockets, actor, index);
        }
        Ok(Value::Null)
    }

    /// Sends a request whose reply (or timeout) answers `caller`.
    fn request_method(
        &mut self,
        a: RequestWait,
        caller: &Caller,
        actor: &mut Context<Self>,
    ) -> Result<()> {
        let waiter = Waiter::Control {
            route: caller.route.clone(),
            id: caller.id,
        };
        let (request, flush) = self.sockets.request(&a.alias, &a.message, waiter)?;
        if let Some(index) = flush {
            drain::start_flush(&self.sockets, actor, index);
        }
        let timeout = a.timeout_ms.map_or(REQUEST_TIMEOUT, Duration::from_millis);
        requests::expire_after(&self.sockets, actor, &a.alias, request, timeout);
        Ok(())
    }

    fn subscribe_method(&mut self, a: Subscription) -> Result<Value> {
        self.check_handler(a.handler.as_deref())?;
        self.sockets
            .subscribe(&a.alias, a.topic.0, a.handler.as_deref())?;
        Ok(Value::Null)
    }

    /// Runs a named handler with `args` as its message and answers with its value.
    fn execute_method(
        &mut self,
        a: Execute,
        actor: &mut Context<Self>,
    ) -> Result<std::result::Result<Value, RemoteError>> {
        self.check_handler(Some(&a.handler))?;
        let payload = Serializer::Cbor.encode(&a.args.unwrap_or(Value::Null))?;
        let msg = Message::new("execute", None, &payload, Serializer::Cbor).expecting_reply();
        Ok(match self.run_handler(Some(&a.handler), msg, actor) {
            Handled::Ok(reply) => Serializer::Cbor
                .decode::<Value>(&reply.unwrap_or_default())
                .map_err(|e| {
                    self.sockets
                        .remote_error(ErrorKind::Internal, &a.handler, e)
                }),
            Handled::Failed(e) | Handled::Missing(e) => Err(e),
        })
    }

    /// Points a socket (or one SUB topic) at another handler from the next message on.
    fn set_handler_method(&mut self, a: SetHandler) -> Result<Value> {
        self.check_handler(Some(&a.handler))?;
        match a.topic {
            None => self.sockets.slot_mut(&a.alias)?.handler = Some(a.handler.into()),
            Some(topic) => {
                let slot = self.sockets.sub_slot(&a.alias)?;
                let entry = slot.topics.iter_mut().find(|(t, _)| *t == topic.0);
                let entry = entry.ok_or_else(|| {
                    Error::invalid("topic", String::from_utf8_lossy(&topic.0), "not subscribed")
                })?;
                entry.1 = Some(a.handler.into());
            }
        }
        Ok(Value::Null)
    }

    fn timer_method(
        &mut self,
        a: Timer,
        periodic: bool,
        actor: &mut Context<Self>,
    ) -> Result<Value> {
        self.check_handler(Some(&a.handler))?;
        let interval = Duration::from_millis(a.ms);
        if periodic && interval.is_zero() {
            return Err(Error::invalid(
                "timer",
                "0",
                "a period must be at least 1 ms",
            ));
        }
        let payload = Serializer::Cbor.encode(&a.args.unwrap_or(Value::Null))?;
        let action = Action::Handler {
            name: a.handler,
            payload: payload.into(),
        };
        let period = periodic.then_some(interval);
        let alias = self
            .state
            .timers
            .start(actor, a.alias, interval, period, action);
        Ok(Value::Text(alias))
    }

    fn get_attr(&self, name: &str) -> Result<Value> {
        if let Some(value) = self.reserved_attr(name)? {
            return Ok(value);
        }
        attrs::read(&self.agent, &self.state.attrs, name).ok_or_else(|| {
            let why = format!("{} agents have no attribute {name:?}", A::KIND);
            Error::Remote(
                self.sockets
                    .remote_error(ErrorKind::NotFound, "get_attr", why),
            )
        })
    }

    /// The attributes that have names here, with their values now: those
    /// given at spawn or by `set_attr` (typed fields of the kind included),
    /// and the free-form ones.
    fn named_attrs(&self) -> std::collections::BTreeMap<&str, Value> {
        let given = self.sockets.spec.attributes.keys();
        given
            .chain(&self.state.set_names)
            .chain(self.state.attrs.keys())
            .filter_map(|name| {
                let value = attrs::read(&self.agent, &self.state.attrs, name)?;
                Some((name.as_str(), value))
            })
            .collect()
    }

    /// The attributes the runtime answers itself.
    fn reserved_attr(&self, name: &str) -> Result<Option<Value>> {
        Ok(Some(match name {
            "name" => Value::Text(self.sockets.name().to_owned()),
            "kind" => Value::Text(A::KIND.to_owned()),
            "pid" => Value::Integer(std::process::id().into()),
            "control" => Value::Text(
                self.control
                    .as_ref()
                    .map_or_else(String::new, |c| c.endpoint.clone()),
            ),
            "aliases" => to_value(&self.aliases())?,
            "handlers" => to_value(&self.handler_names())?,
            "timers" => to_value(&self.state.timers.aliases())?,
            "stats" => to_value(&self.stats())?,
            _ => return Ok(None),
        }))
    }

    fn set_attr_method(&mut self, a: Attr) -> Result<Value> {
        let value = a
            .value
            .ok_or_else(|| Error::invalid("arguments", "set_attr", "missing field `value`"))?;
        attrs::write(&mut self.agent, &mut self.state.attrs, &a.name, value)
            .map_err(|e| Error::invalid("attribute", &a.name, e.to_string()))?;
        // Unbounded only in names a signed caller chose to set.
        self.state.set_names.insert(a.name);
        Ok(Value::Null)
    }

    /// The agent's counters, with those kept outside its socket table.
    pub(super) fn stats(&self) -> crate::stats::Stats {
        crate::stats::Stats {
            logs_not_forwarded: crate::logging::not_forwarded(),
            sockets: self.sockets.socket_stats(),
            reliable: self.sockets.reliable_stats(),
            ..self.sockets.stats.clone()
        }
    }

    /// The aliases of the agent's sockets, sorted.
    fn aliases(&self) -> Vec<String> {
        // The table is ordered by alias already.
        self.sockets.aliases.keys().map(|a| a.to_string()).collect()
    }

    fn check_handler(&self, name: Option<&str>) -> Result<()> {
        match name {
            Some(h) if !self.has_handler(h) => Err(Error::invalid(
                "handler",
                h,
                format!("this agent offers {:?}", self.handler_names()),
            )),
            _ => Ok(()),
        }
    }
}

/// Decodes a request's arguments; null means "no arguments".
fn args<T: DeserializeOwned>(req: &Request) -> Result<T> {
    req.decode_args()
        .map_err(|reason| Error::invalid("arguments", &req.method, reason))
}

/// The kind a runtime error is reported as on the wire.
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
