//! Typed control operations on [`Proxy`]: the agent methods of the control plane.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_bytes::Bytes;

use crate::address::{Address, Kind, Transport};
use crate::core::{BindOptions, ConnectOptions, RequestOptions};
use crate::error::{Error, Result};
use crate::proxy::Proxy;
use crate::serializer::to_value as value;
use crate::serializer::{Serializer, Value};
use crate::socket::OnFull;
use crate::stats::Stats;

#[derive(Serialize)]
struct BindArgs<'a> {
    kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    alias: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<Transport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    addr: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serializer: Option<Serializer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hwm: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_full: Option<OnFull>,
}

#[derive(Serialize)]
struct ConnectArgs<'a, H: Serialize> {
    address: &'a Address,
    alias: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<H>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hwm: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_full: Option<OnFull>,
}

#[derive(Serialize)]
struct SendArgs<'a> {
    alias: &'a str,
    message: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    topic: Option<&'a Bytes>,
}

#[derive(Serialize)]
struct TopicArgs<'a> {
    alias: &'a str,
    topic: &'a Bytes,
    #[serde(skip_serializing_if = "Option::is_none")]
    handler: Option<&'a str>,
}

fn alias(alias: &str) -> BTreeMap<&'static str, &str> {
    BTreeMap::from([("alias", alias)])
}

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
    pub fn bind(&mut self, kind: Kind, alias: &str) -> Result<Address> {
        self.bind_with(
            kind,
            BindOptions {
                alias: Some(alias.to_owned()),
                ..BindOptions::default()
            },
        )
    }

    /// Binds a receiving socket of `kind` whose messages go to `handler`.
    pub fn bind_handler(&mut self, kind: Kind, alias: &str, handler: &str) -> Result<Address> {
        self.bind_with(
            kind,
            BindOptions {
                alias: Some(alias.to_owned()),
                handler: Some(handler.to_owned()),
                ..BindOptions::default()
            },
        )
    }

    /// Binds a socket of `kind` with every option spelled out.
    pub fn bind_with(&mut self, kind: Kind, opts: BindOptions) -> Result<Address> {
        let args = BindArgs {
            kind,
            alias: opts.alias.as_deref(),
            transport: opts.transport,
            addr: opts.addr.as_deref(),
            serializer: opts.serializer,
            handler: opts.handler.as_deref(),
            hwm: opts.hwm,
            on_full: opts.on_full,
        };
        self.call("bind", args)
    }

    /// Connects a socket under `alias` to the bound side `to`; received messages go to `handler`.
    pub fn connect<'h>(
        &mut self,
        to: &Address,
        alias: &str,
        handler: impl Into<Option<&'h str>>,
    ) -> Result<Address> {
        let args = ConnectArgs {
            address: to,
            alias,
            handler: handler.into(),
            hwm: None,
            on_full: None,
        };
        self.call("connect", args)
    }

    /// Connects with every option: one `handler` for all, or (SUB) one per topic
    /// prefix in `topics`, plus the socket's high-water mark and what to do at it.
    pub fn connect_with<T: AsRef<[u8]>>(
        &mut self,
        to: &Address,
        alias: &str,
        handler: Option<&str>,
        topics: &[(T, &str)],
        opts: ConnectOptions,
    ) -> Result<Address> {
        #[derive(Serialize)]
        #[serde(untagged)]
        enum Handler<'a> {
            One(&'a str),
            Topics(BTreeMap<&'a Bytes, &'a str>),
        }
        let handler = match (handler, topics.is_empty()) {
            (h, true) => h.map(Handler::One),
            (_, false) => Some(Handler::Topics(
                topics
                    .iter()
                    .map(|(t, h)| (Bytes::new(t.as_ref()), *h))
                    .collect(),
            )),
        };
        let args = ConnectArgs {
            address: to,
            alias,
            handler,
            hwm: opts.hwm,
            on_full: opts.on_full,
        };
        self.call("connect", args)
    }

    /// Connects a SUB socket to `to` with one handler per topic prefix.
    pub fn connect_topics<T: AsRef<[u8]>>(
        &mut self,
        to: &Address,
        alias: &str,
        topics: &[(T, &str)],
    ) -> Result<Address> {
        let map: BTreeMap<&Bytes, &str> = topics
            .iter()
            .map(|(t, h)| (Bytes::new(t.as_ref()), *h))
            .collect();
        let args = ConnectArgs {
            address: to,
            alias,
            handler: Some(map),
            hwm: None,
            on_full: None,
        };
        self.call("connect", args)
    }

    /// Sends `message` on the agent's socket `alias` (PUSH, PUB without topic, REQ).
    pub fn send<T: Serialize + ?Sized>(&mut self, alias: &str, message: &T) -> Result<()> {
        let args = SendArgs {
            alias,
            message: value(message)?,
            topic: None,
        };
        self.call("send", args)
    }

    /// Sends a request on the agent's ASYNC_REQ, SYNC_SUB or REQ socket `alias`
    /// without waiting: the reply goes to `opts.handler` in the agent. Returns the request id.
    pub fn send_request<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        message: &T,
        opts: &RequestOptions,
    ) -> Result<u64> {
        #[derive(Serialize)]
        struct Args<'a> {
            alias: &'a str,
            message: Value,
            #[serde(skip_serializing_if = "Option::is_none")]
            handler: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            on_error: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            wait_ms: Option<u64>,
        }
        let args = Args {
            alias,
            message: value(message)?,
            handler: opts.handler.as_deref(),
            on_error: opts.on_error.as_deref(),
            wait_ms: opts
                .wait
                .map(|w| w.as_millis().min(u64::MAX as u128) as u64),
        };
        self.call("send", args)
    }

    /// Publishes `message` under `topic` on the agent's PUB socket `alias`.
    pub fn publish<T: Serialize + ?Sized>(
        &mut self,
        alias: &str,
        topic: impl AsRef<[u8]>,
        message: &T,
    ) -> Result<()> {
        let args = SendArgs {
            alias,
            message: value(message)?,
            topic: Some(Bytes::new(topic.as_ref())),
        };
        self.call("send", args)
    }

    /// Sends a request on the agent's REQ socket `alias` and returns the reply.
    pub fn request<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        alias: &str,
        message: &T,
        timeout: Duration,
    ) -> Result<R> {
        #[derive(Serialize)]
        struct Args<'a> {
            alias: &'a str,
            message: Value,
            timeout_ms: u64,
        }
        let args = Args {
            alias,
            message: value(message)?,
            timeout_ms: timeout.as_millis().min(u64::MAX as u128) as u64,
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
        let args = TopicArgs {
            alias,
            topic: Bytes::new(topic.as_ref()),
            handler,
        };
        self.call("subscribe", args)
    }

    /// Removes the subscription of the SUB socket `alias` to `topic`.
    pub fn unsubscribe(&mut self, alias: &str, topic: impl AsRef<[u8]>) -> Result<()> {
        let args = TopicArgs {
            alias,
            topic: Bytes::new(topic.as_ref()),
            handler: None,
        };
        self.call("unsubscribe", args)
    }

    /// Closes the socket `alias`.
    pub fn close(&mut self, alias_name: &str) -> Result<()> {
        self.call("close", alias(alias_name))
    }

    /// Closes every data socket of the agent.
    pub fn close_all(&mut self) -> Result<()> {
        self.call("close_all", ())
    }

    /// The address of the socket `alias`.
    pub fn addr(&mut self, alias_name: &str) -> Result<Address> {
        self.call("addr", alias(alias_name))
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
    pub fn set_handler(&mut self, alias_name: &str, handler: &str) -> Result<()> {
        self.call(
            "set_handler",
            BTreeMap::from([("alias", alias_name), ("handler", handler)]),
        )
    }

    /// Reads the agent's attribute `name`.
    pub fn get_attr<R: DeserializeOwned>(&mut self, name: &str) -> Result<R> {
        self.call("get_attr", BTreeMap::from([("name", name)]))
    }

    /// Sets the agent's attribute `name` to `value`.
    pub fn set_attr<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<()> {
        let args = BTreeMap::from([
            ("name", Value::Text(name.to_owned())),
            ("value", crate::ops::value(value)?),
        ]);
        self.call("set_attr", args)
    }

    /// Runs the agent's handler `handler` with `args` as its message and returns its value.
    pub fn execute<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        handler: &str,
        args: &T,
    ) -> Result<R> {
        #[derive(Serialize)]
        struct Args<'a> {
            handler: &'a str,
            args: Value,
        }
        let args = Args {
            handler,
            args: value(args)?,
        };
        self.call("execute", args)
    }

    /// Calls the agent's handler `handler` with `args` every `period`; returns the timer alias.
    pub fn each<T: Serialize + ?Sized>(
        &mut self,
        alias: Option<&str>,
        period: Duration,
        handler: &str,
        args: &T,
    ) -> Result<String> {
        self.timer("each", alias, period, handler, args)
    }

    /// Calls the agent's handler `handler` with `args` once after `delay`; returns the timer alias.
    pub fn after<T: Serialize + ?Sized>(
        &mut self,
        alias: Option<&str>,
        delay: Duration,
        handler: &str,
        args: &T,
    ) -> Result<String> {
        self.timer("after", alias, delay, handler, args)
    }

    fn timer<T: Serialize + ?Sized>(
        &mut self,
        method: &str,
        alias: Option<&str>,
        interval: Duration,
        handler: &str,
        args: &T,
    ) -> Result<String> {
        #[derive(Serialize)]
        struct Args<'a> {
            ms: u64,
            handler: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            alias: Option<&'a str>,
            args: Value,
        }
        let args = Args {
            ms: interval.as_millis().min(u64::MAX as u128) as u64,
            handler,
            alias,
            args: value(args)?,
        };
        self.call(method, args)
    }

    /// Stops the agent's timer `alias`.
    pub fn stop_timer(&mut self, alias_name: &str) -> Result<()> {
        self.call("stop_timer", alias(alias_name))
    }

    /// Stops every timer of the agent.
    pub fn stop_all_timers(&mut self) -> Result<()> {
        self.call("stop_all_timers", ())
    }

    /// The aliases of the agent's running timers, sorted.
    pub fn list_timers(&mut self) -> Result<Vec<String>> {
        self.call("list_timers", ())
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
