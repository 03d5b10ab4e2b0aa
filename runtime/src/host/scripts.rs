//! Scripts in the host: the control methods that load and run them
//! (`load_script`, `set_method`, `exec`, and a loaded function called by
//! name), scripted handlers, and `Env`, what a running script reaches.
//!
//! A compiled handler wins over a script function of the same name: a
//! kind's handlers are what its binary promises. Every effect a script asks
//! for (attributes, sends, requests, timers) happens at once, in order.

use std::time::Duration;

use actix::prelude::*;

use super::inbound::Handled;
use super::timers::{Action, Timers};
use super::{drain, Host};
use crate::agent::{attrs, Agent, HandlerError, Handlers, Message};
use crate::codec::{Serializer, Value};
use crate::error::{Error, ErrorKind, Result};
use crate::protocol::methods::{Script, SetMethod};
use crate::protocol::RequestOptions;
use crate::script::{self, Runner, ScriptEnv, ScriptError, Scripts, Signature};
use crate::sockets::Sockets;

/// What a script call reaches of its agent.
struct Env<'a, A: Agent> {
    agent: &'a mut A,
    sockets: &'a mut Sockets,
    actor: &'a mut Context<Host<A>>,
    timers: &'a mut Timers<A>,
    attrs: &'a mut attrs::Free,
    handlers: &'a Handlers<A>,
    scripts: &'a Scripts,
}

impl<A: Agent> Env<'_, A> {
    fn check_handler(&self, name: &str) -> std::result::Result<(), String> {
        match self.handlers.contains(name) || !self.scripts.arities(name).is_empty() {
            true => Ok(()),
            false => Err(format!("no handler or script function named {name:?}")),
        }
    }
}

impl<A: Agent> ScriptEnv for Env<'_, A> {
    fn get_attr(&self, name: &str) -> Option<Value> {
        attrs::read(self.agent, self.attrs, name)
    }

    fn set_attr(&mut self, name: &str, value: Value) -> std::result::Result<(), String> {
        attrs::write(self.agent, self.attrs, name, value)
            .map_err(|e| format!("attribute {name:?}: {e}"))
    }

    fn send(
        &mut self,
        alias: &str,
        topic: Option<&[u8]>,
        value: &Value,
    ) -> std::result::Result<(), String> {
        match self.sockets.send(alias.into(), topic, value) {
            Ok(Some(index)) => drain::start_flush(self.sockets, self.actor, index),
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        Ok(())
    }

    fn request(
        &mut self,
        alias: &str,
        value: &Value,
        handler: &str,
    ) -> std::result::Result<u64, String> {
        self.check_handler(handler)?;
        let opts = RequestOptions {
            handler: Some(handler.to_owned()),
            on_error: None,
            wait: None,
        };
        let (id, flush) = self
            .sockets
            .request(alias, value, opts.into())
            .map_err(|e| e.to_string())?;
        if let Some(index) = flush {
            drain::start_flush(self.sockets, self.actor, index);
        }
        Ok(id)
    }

    fn timer(
        &mut self,
        ms: u64,
        handler: &str,
        periodic: bool,
    ) -> std::result::Result<String, String> {
        self.check_handler(handler)?;
        if periodic && ms == 0 {
            return Err("a period must be at least 1 ms".into());
        }
        let payload = Serializer::Cbor
            .encode(&Value::Null)
            .map_err(|e| e.to_string())?;
        let action = Action::Handler {
            name: handler.to_owned(),
            payload: payload.into(),
        };
        let delay = Duration::from_millis(ms);
        let period = periodic.then_some(delay);
        Ok(self.timers.start(self.actor, None, delay, period, action))
    }

    fn stop_timer(&mut self, alias: &str) -> bool {
        self.timers.stop(self.actor, alias)
    }

    fn name(&self) -> &str {
        self.sockets.name()
    }
}

impl<A: Agent> Host<A> {
    /// Runs `f` with the scripts' runner and the environment of this agent.
    fn with_script_env<R>(
        &mut self,
        actor: &mut Context<Self>,
        f: impl FnOnce(&Runner, &mut dyn ScriptEnv) -> R,
    ) -> R {
        let runner = self.state.scripts.runner();
        let mut env = Env {
            agent: &mut self.agent,
            sockets: &mut self.sockets,
            actor,
            timers: &mut self.state.timers,
            attrs: &mut self.state.attrs,
            handlers: &self.handlers,
            scripts: &self.state.scripts,
        };
        f(&runner, &mut env)
    }

    /// `load_script`: defines every function of the source; answers their signatures.
    pub(super) fn load_script_method(&mut self, a: Script) -> Result<Value> {
        let loaded = self.state.scripts.load(&a.source);
        self.loaded("load_script", loaded)
    }

    /// `set_method`: defines one function; answers its signatures.
    pub(super) fn set_method_method(&mut self, a: SetMethod) -> Result<Value> {
        let loaded = self.state.scripts.define(&a.name, &a.source);
        self.loaded("set_method", loaded)
    }

    fn loaded(
        &mut self,
        method: &str,
        loaded: std::result::Result<Vec<Signature>, ScriptError>,
    ) -> Result<Value> {
        let defined = loaded.map_err(|e| self.script_failed(method, e))?;
        tracing::info!(agent = %self.sockets.name(), method, functions = ?defined.iter().map(ToString::to_string).collect::<Vec<_>>(), "script loaded");
        Ok(signatures_value(&defined))
    }

    /// `exec`: runs code once; answers its value.
    pub(super) fn exec_method(&mut self, a: Script, actor: &mut Context<Self>) -> Result<Value> {
        let ran = self.with_script_env(actor, |runner, env| runner.exec(env, &a.source));
        ran.map_err(|e| self.script_failed("exec", e))
    }

    /// Whether `method` names a loaded script function.
    pub(super) fn is_script(&self, name: &str) -> bool {
        !self.state.scripts.arities(name).is_empty()
    }

    /// The arity to run the script function `name` with as a handler, when there is one.
    pub(super) fn script_arity(&self, name: &str, has_topic: bool) -> Option<usize> {
        let arities = self.state.scripts.arities(name);
        (!arities.is_empty()).then(|| handler_arity(arities, has_topic))
    }

    /// A loaded function called as a method: an array is positional, null none, else one argument.
    pub(super) fn call_script_method(
        &mut self,
        method: &str,
        args: Value,
        actor: &mut Context<Self>,
    ) -> Result<Value> {
        let args = script::arguments(args);
        let arities = self.state.scripts.arities(method);
        if !arities.contains(&args.len()) {
            let why = format!("{method} takes {arities:?} arguments, got {}", args.len());
            return Err(Error::invalid("arguments", method, why));
        }
        let ran = self.with_script_env(actor, |runner, env| runner.call(env, method, args));
        ran.map_err(|e| self.script_failed(method, e))
    }

    /// Counts and logs a script's failure; the error its caller gets.
    fn script_failed(&mut self, method: &str, e: ScriptError) -> Error {
        self.sockets.stats.script_errors += 1;
        tracing::warn!(agent = %self.sockets.name(), method, error = %e, "script failed");
        let kind = match e.parse {
            true => ErrorKind::BadArguments,
            false => ErrorKind::Handler,
        };
        Error::Remote(self.sockets.remote_error(kind, method, e))
    }

    /// Runs the script function `name` as a handler of `msg`; its value is the reply.
    pub(super) fn run_script_handler(
        &mut self,
        name: &str,
        arity: usize,
        msg: Message<'_>,
        actor: &mut Context<Self>,
    ) -> Handled {
        self.sockets.count(crate::stats::Count::Received);
        let value = match msg.decode::<Value>() {
            Ok(v) => v,
            Err(e) => return Handled::Failed(self.handler_failed(name, &msg, e.into())),
        };
        let args = script::message_arguments(value, msg.topic(), arity);
        let ran = self.with_script_env(actor, |runner, env| runner.call(env, name, args));
        let reply = ran.and_then(|v| match msg.wants_reply() {
            true => msg.serializer().encode(&v).map(Some).map_err(|e| {
                let message = format!("the reply does not encode: {e}");
                ScriptError {
                    message,
                    line: None,
                    column: None,
                    parse: false,
                }
            }),
            false => Ok(None),
        });
        match reply {
            Ok(reply) => Handled::Ok(reply),
            Err(e) => {
                self.sockets.stats.script_errors += 1;
                Handled::Failed(self.handler_failed(name, &msg, HandlerError::msg(e)))
            }
        }
    }

    /// Whether `name` is a compiled handler or a loaded script function.
    pub(super) fn has_handler(&self, name: &str) -> bool {
        self.handlers.contains(name) || self.is_script(name)
    }

    /// The compiled handlers' and the script functions' names, sorted, once each.
    pub(super) fn handler_names(&self) -> Vec<String> {
        let mut names = self.handlers.names();
        names.extend(self.state.scripts.names().map(str::to_owned));
        names.sort();
        names.dedup();
        names
    }
}

/// The arity to call a scripted handler with: (msg, topic) for a topic when
/// defined, else (msg), else (), else what there is.
fn handler_arity(arities: &[usize], has_topic: bool) -> usize {
    let order: &[usize] = match has_topic {
        true => &[2, 1, 0],
        false => &[1, 0, 2],
    };
    order
        .iter()
        .copied()
        .find(|a| arities.contains(a))
        .unwrap_or_else(|| arities.first().copied().unwrap_or(0))
}

/// Signatures as the answer of a load: `["double/1", ...]`.
fn signatures_value(defined: &[Signature]) -> Value {
    Value::Array(defined.iter().map(|s| Value::Text(s.to_string())).collect())
}

#[cfg(test)]
mod tests {
    use super::handler_arity;

    #[test]
    fn handlers_take_the_topic_when_they_can() {
        assert_eq!(handler_arity(&[1, 2], true), 2);
        assert_eq!(handler_arity(&[1, 2], false), 1);
        assert_eq!(handler_arity(&[0], true), 0);
        assert_eq!(handler_arity(&[2], false), 2);
        assert_eq!(handler_arity(&[3], false), 3);
    }
}
