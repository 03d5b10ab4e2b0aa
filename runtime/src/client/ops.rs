//! Typed control operations on [`Proxy`]: one method per agent control
//! method, with the arguments of [`crate::protocol::methods`] and the same
//! shapes as `Ctx`'s.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::Proxy;
use crate::codec::to_value;
use crate::error::{Error, Result};
use crate::net::{Address, SocketKind};
use crate::protocol::methods::{
    millis, Alias, Attr, Bind, Connect, Execute, RequestWait, Script, Send, SetHandler, SetMethod,
    Subscription, Timer, Topic,
};
use crate::protocol::{BindOptions, ConnectOptions, RequestOptions};
use crate::stats::Stats;

impl Proxy {
    /// Checks that the agent answers.
    pub fn ping(&mut self) -> Result<()> {
        let pong: String = self.call("ping", ())?;
        match pong.as_str() {
            "pong" => Ok(()),
            other => Err(Error::invalid("ping answer", other, "expected pong")),
        }
    }

    /// Binds a socket of `kind` under `alias` with the agent's defaults; returns its address.
    pub fn bind(&mut self, kind: SocketKind, alias: &str) -> Result<Address> {
        self.bind_with(kind, BindOptions::alias(alias))
    }

    /// Binds a receiving socket of `kind` whose messages go to `handler`.
    pub fn bind_handler(
        &mut self,
        kind: SocketKind,
        alias: &str,
        handler: &str,
    ) -> Result<Address> {
        self.bind_with(kind, BindOptions::alias(alias).handler(handler))
    }

    /// Binds a socket of `kind` with every option spelled out.
    pub fn bind_with(&mut self, kind: SocketKind, opts: BindOptions) -> Result<Address> {
        self.call("bind", Bind::new(kind, opts))
    }

    /// Connects a socket under `alias` to the bound side `to`; received messages go to `handler`.
    pub fn connect<'h>(
        &mut self,
        to: &Address,
        alias: &str,
        handler: impl Into<Option<&'h str>>,
    ) -> Result<Address> {
        self.connect_with(to, ConnectOptions::alias(alias).handler(handler))
    }

    /// Connects a SUB socket to `to` with one handler per topic prefix.
    pub fn connect_topics<T: AsRef<[u8]>>(
        &mut self,
        to: &Address,
        alias: &str,
        topics: &[(T, &str)],
    ) -> Result<Address> {
        self.connect_with(to, ConnectOptions::alias(alias).topics(topics))
    }

    /// Connects with every option spelled out.
    pub fn connect_with(&mut self, to: &Address, opts: ConnectOptions) -> Result<Address> {
        self.call("connect", Connect::new(to, opts))
    }

    /// Sends `message` on the agent's socket `alias` (PUSH, PUB without topic).
    pub fn send<T: Serialize + ?Sized>(&mut self, alias: &str, message: &T) -> Result<()> {
        self.call("send", send_args(alias, message, None)?)
    }

    /// Publishes `message` under `topic` on the agent's PUB socket `alias`.
    pub fn publish<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        topic: impl AsRef<[u8]>,
        message: &T,
    ) -> Result<()> {
        let topic = Some(Topic::from(topic.as_ref()));
        self.call("send", send_args(alias, message, topic)?)
    }

    /// Sends a request on the agent's REQ, ASYNC_REQ or SYNC_SUB socket `alias`
    /// without waiting: in the agent, the reply goes to `opts.handler` (else
    /// the socket's). Returns the request id. See [`Proxy::request_wait`] to
    /// get the reply here instead.
    pub fn request<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        message: &T,
        opts: RequestOptions,
    ) -> Result<u64> {
        let mut args = send_args(alias, message, None)?;
        args.handler = opts.handler;
        args.on_error = opts.on_error;
        args.wait_ms = opts.wait.map(millis);
        self.call("send", args)
    }

    /// Sends a request on the agent's REQ socket `alias` and blocks until its reply comes back here.
    pub fn request_wait<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        alias: &str,
        message: &T,
        timeout: Duration,
    ) -> Result<R> {
        let args = RequestWait {
            alias: alias.to_owned(),
            message: to_value(message)?,
            timeout_ms: Some(millis(timeout)),
        };
        // The agent bounds the wait itself; give its answer a little more time to come back.
        self.call_timeout("request", args, timeout + Duration::from_secs(1))
    }

    /// Subscribes the SUB socket `alias` to `topic`, optionally with its own handler.
    pub fn subscribe(
        &mut self,
        alias: &str,
        topic: impl AsRef<[u8]>,
        handler: Option<&str>,
    ) -> Result<()> {
        let args = Subscription {
            alias: alias.to_owned(),
            topic: Topic::from(topic.as_ref()),
            handler: handler.map(str::to_owned),
        };
        self.call("subscribe", args)
    }

    /// Removes the subscription of the SUB socket `alias` to `topic`.
    pub fn unsubscribe(&mut self, alias: &str, topic: impl AsRef<[u8]>) -> Result<()> {
        let args = Subscription {
            alias: alias.to_owned(),
            topic: Topic::from(topic.as_ref()),
            handler: None,
        };
        self.call("unsubscribe", args)
    }

    /// Closes the socket `alias`.
    pub fn close(&mut self, alias: &str) -> Result<()> {
        self.call("close", alias_args(alias))
    }

    /// Closes every data socket of the agent.
    pub fn close_all(&mut self) -> Result<()> {
        self.call("close_all", ())
    }

    /// The address of the socket `alias`.
    pub fn addr(&mut self, alias: &str) -> Result<Address> {
        self.call("addr", alias_args(alias))
    }

    /// The agent's socket aliases, sorted.
    pub fn aliases(&mut self) -> Result<Vec<String>> {
        self.call("aliases", ())
    }

    /// The handler names the agent's kind offers.
    pub fn handlers(&mut self) -> Result<Vec<String>> {
        self.call("handlers", ())
    }

    /// Sends what the socket `alias` receives to `handler` from now on.
    pub fn set_handler(&mut self, alias: &str, handler: &str) -> Result<()> {
        let args = SetHandler {
            alias: alias.to_owned(),
            handler: handler.to_owned(),
            topic: None,
        };
        self.call("set_handler", args)
    }

    /// Reads the agent's attribute `name`.
    pub fn get_attr<R: DeserializeOwned>(&mut self, name: &str) -> Result<R> {
        let args = Attr {
            name: name.to_owned(),
            value: None,
        };
        self.call("get_attr", args)
    }

    /// Sets the agent's attribute `name` to `value`.
    pub fn set_attr<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<()> {
        let args = Attr {
            name: name.to_owned(),
            value: Some(to_value(value)?),
        };
        self.call("set_attr", args)
    }

    /// Runs the agent's handler `handler` with `args` as its message and returns its value.
    pub fn execute<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        handler: &str,
        args: &T,
    ) -> Result<R> {
        let args = Execute {
            handler: handler.to_owned(),
            args: Some(to_value(args)?),
        };
        self.call("execute", args)
    }

    /// Loads rhai `source` into the agent: every function in it becomes a
    /// method and a handler (docs/scripting.md). Returns what it defined, as
    /// `name/arity`; a script that does not compile is `bad_arguments` with
    /// its line and column.
    pub fn load_script(&mut self, source: &str) -> Result<Vec<String>> {
        let args = Script {
            source: source.to_owned(),
        };
        self.call("load_script", args)
    }

    /// Defines the script function `name` from `source` (`fn name(..) { .. }`, osBrain's `set_method`).
    pub fn set_method(&mut self, name: &str, source: &str) -> Result<Vec<String>> {
        let args = SetMethod {
            name: name.to_owned(),
            source: source.to_owned(),
        };
        self.call("set_method", args)
    }

    /// Runs rhai `source` once in the agent and returns its value (osBrain's `execute_as_function`).
    pub fn exec<R: DeserializeOwned>(&mut self, source: &str) -> Result<R> {
        let args = Script {
            source: source.to_owned(),
        };
        self.call("exec", args)
    }

    /// Runs the agent's handler `handler` with `args` every `period`; returns the timer's alias.
    pub fn each<T: Serialize + ?Sized>(
        &mut self,
        period: Duration,
        alias: Option<&str>,
        handler: &str,
        args: &T,
    ) -> Result<String> {
        self.call("each", timer_args(period, alias, handler, args)?)
    }

    /// Runs the agent's handler `handler` with `args` once after `delay`; returns the timer's alias.
    pub fn after<T: Serialize + ?Sized>(
        &mut self,
        delay: Duration,
        alias: Option<&str>,
        handler: &str,
        args: &T,
    ) -> Result<String> {
        self.call("after", timer_args(delay, alias, handler, args)?)
    }

    /// Stops the agent's timer `alias`.
    pub fn stop_timer(&mut self, alias: &str) -> Result<()> {
        self.call("stop_timer", alias_args(alias))
    }

    /// Stops every timer of the agent.
    pub fn stop_all_timers(&mut self) -> Result<()> {
        self.call("stop_all_timers", ())
    }

    /// The aliases of the agent's running timers, sorted.
    pub fn list_timers(&mut self) -> Result<Vec<String>> {
        self.call("list_timers", ())
    }

    /// The attributes given at spawn and the free-form ones, with their values now.
    pub fn attrs(&mut self) -> Result<std::collections::BTreeMap<String, crate::codec::Value>> {
        self.call("attrs", ())
    }

    /// Whether the agent is serving.
    pub fn is_running(&mut self) -> Result<bool> {
        self.call("is_running", ())
    }

    /// The agent's counters.
    pub fn stats(&mut self) -> Result<Stats> {
        self.call("stats", ())
    }

    /// Asks the agent to stop gracefully (flush, unregister, exit 0); returns once it accepted.
    pub fn shutdown(&mut self) -> Result<()> {
        self.call("shutdown", ())
    }

    /// Makes the agent exit at once, dropping whatever is queued.
    pub fn kill(&mut self) -> Result<()> {
        self.call("kill", ())
    }
}

fn alias_args(alias: &str) -> Alias {
    Alias {
        alias: alias.to_owned(),
    }
}

fn send_args<T: Serialize + ?Sized>(
    alias: &str,
    message: &T,
    topic: Option<Topic>,
) -> Result<Send> {
    Ok(Send {
        alias: alias.to_owned(),
        message: to_value(message)?,
        topic,
        handler: None,
        on_error: None,
        wait_ms: None,
    })
}

fn timer_args<T: Serialize + ?Sized>(
    interval: Duration,
    alias: Option<&str>,
    handler: &str,
    args: &T,
) -> Result<Timer> {
    Ok(Timer {
        ms: millis(interval),
        handler: handler.to_owned(),
        alias: alias.map(str::to_owned),
        args: Some(to_value(args)?),
    })
}
