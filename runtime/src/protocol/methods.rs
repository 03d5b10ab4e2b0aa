//! The arguments of every agent control method: declared once, encoded by
//! clients (`Proxy`) and decoded by the host, so the two sides
//! cannot drift apart. Unknown fields are refused.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use super::options::{BindOptions, ConnectOptions, Dispatch};
use super::Reliability;
use crate::codec::{Serializer, Value};
use crate::net::{Address, Framing, OnFull, SocketKind, Transport};

/// A topic: any bytes. On the wire it is a byte string; text is accepted too.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Topic(pub Vec<u8>);

impl Serialize for Topic {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Topic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Topic;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a topic as bytes or text")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Topic, E> {
                Ok(Topic(v.to_vec()))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Topic, E> {
                Ok(Topic(v.as_bytes().to_vec()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl From<&[u8]> for Topic {
    fn from(t: &[u8]) -> Self {
        Topic(t.to_vec())
    }
}

/// `bind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bind {
    /// The socket's kind.
    pub kind: SocketKind,
    /// Its alias; fresh when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Transport; the agent's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// Where to bind (tcp `host[:port]`, an ipc file name, an inproc name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Serializer; the agent's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serializer: Option<Serializer>,
    /// Handler of what it receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// High-water mark, messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<i32>,
    /// What a send does at the mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_full: Option<OnFull>,
    /// ZeroMQ CURVE with the deployment's keys (see `net::curve`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secure: bool,
    /// PUB: `multipart` (two frames, the default) or `osbrain` (one frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framing: Option<Framing>,
    /// PUSH, PULL: at-least-once delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable: Option<Reliability>,
}

impl Bind {
    /// The arguments of binding `kind` with `opts`.
    pub fn new(kind: SocketKind, opts: BindOptions) -> Self {
        Bind {
            kind,
            alias: opts.alias,
            transport: opts.transport,
            addr: opts.addr,
            serializer: opts.serializer,
            handler: opts.handler,
            hwm: opts.hwm,
            on_full: opts.on_full,
            secure: opts.secure,
            framing: opts.framing,
            reliable: opts.reliable,
        }
    }

    /// The options these arguments ask for.
    pub fn options(self) -> (SocketKind, BindOptions) {
        let opts = BindOptions {
            alias: self.alias,
            transport: self.transport,
            addr: self.addr,
            serializer: self.serializer,
            handler: self.handler,
            hwm: self.hwm,
            on_full: self.on_full,
            secure: self.secure,
            framing: self.framing,
            reliable: self.reliable,
        };
        (self.kind, opts)
    }
}

/// A connect's handler: one name, or (SUB) one per topic prefix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HandlerSpec {
    /// Every message goes to this handler.
    Name(String),
    /// Subscribed topic prefixes and their handlers.
    Topics(BTreeMap<Topic, String>),
}

/// `connect`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Connect {
    /// The bound side's address.
    pub address: Address,
    /// The new socket's alias; fresh when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// Where received messages go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<HandlerSpec>,
    /// High-water mark, messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwm: Option<i32>,
    /// What a send does at the mark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_full: Option<OnFull>,
    /// SUB: `longest` (one handler per message, the default) or `all` (every matching topic's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Dispatch>,
    /// PUSH, PULL: at-least-once delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reliable: Option<Reliability>,
}

impl Connect {
    /// The arguments of connecting to `address` with `opts`.
    ///
    /// Topics go on the wire each with its handler: its own, else the socket-wide one.
    pub fn new(address: &Address, opts: ConnectOptions) -> Self {
        let named: BTreeMap<Topic, String> = opts
            .topics
            .iter()
            .filter_map(|(t, h)| Some((Topic(t.clone()), h.clone().or(opts.handler.clone())?)))
            .collect();
        let handler = match (opts.handler, named.is_empty()) {
            (h, true) => h.map(HandlerSpec::Name),
            (_, false) => Some(HandlerSpec::Topics(named)),
        };
        Connect {
            address: address.clone(),
            alias: opts.alias,
            handler,
            hwm: opts.hwm,
            on_full: opts.on_full,
            dispatch: opts.dispatch,
            reliable: opts.reliable,
        }
    }

    /// The address and the options these arguments ask for.
    pub fn options(self) -> (Address, ConnectOptions) {
        let (handler, topics) = match self.handler {
            None => (None, Vec::new()),
            Some(HandlerSpec::Name(h)) => (Some(h), Vec::new()),
            Some(HandlerSpec::Topics(map)) => {
                (None, map.into_iter().map(|(t, h)| (t.0, Some(h))).collect())
            }
        };
        let opts = ConnectOptions {
            alias: self.alias,
            handler,
            topics,
            hwm: self.hwm,
            on_full: self.on_full,
            dispatch: self.dispatch,
            reliable: self.reliable,
        };
        (self.address, opts)
    }

    /// Every handler these arguments name.
    pub fn handlers(&self) -> Vec<&str> {
        match &self.handler {
            None => Vec::new(),
            Some(HandlerSpec::Name(h)) => vec![h.as_str()],
            Some(HandlerSpec::Topics(map)) => map.values().map(String::as_str).collect(),
        }
    }
}

/// `send`: a message on a socket; on request kinds, a request whose reply goes to a handler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Send {
    /// The socket.
    pub alias: String,
    /// The message.
    pub message: Value,
    /// PUB only: the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    /// Requests only: the reply's handler (else the socket's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    /// Requests only: the handler run when no reply comes within `wait_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
    /// Requests only: how long to wait for the reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_ms: Option<u64>,
}

/// `request`: a request on a REQ socket whose reply is the call's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestWait {
    /// The socket.
    pub alias: String,
    /// The request.
    pub message: Value,
    /// How long the agent waits for the reply (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// `subscribe` / `unsubscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    /// The SUB socket.
    pub alias: String,
    /// The topic prefix.
    pub topic: Topic,
    /// `subscribe` only: a handler for this topic (else the socket's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
}

/// `get_attr` / `set_attr`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attr {
    /// The attribute.
    pub name: String,
    /// `set_attr` only: its new value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
}

/// `execute`: runs a named handler with `args` as its message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execute {
    /// The handler.
    pub handler: String,
    /// Its message (CBOR); null when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// `load_script` (defines every function of `source`) and `exec` (runs `source` once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Script {
    /// rhai source.
    pub source: String,
}

/// `set_method`: defines the script function `name` (and only it) from `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetMethod {
    /// The function's name: the method and handler name it becomes.
    pub name: String,
    /// rhai source defining `fn name(..) { .. }`.
    pub source: String,
}

/// `each` / `after`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timer {
    /// Period (`each`) or delay (`after`), in milliseconds.
    pub ms: u64,
    /// The handler to run.
    pub handler: String,
    /// The timer's alias; fresh when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The handler's message (CBOR); null when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Value>,
}

/// `set_logger`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLogger {
    /// The logger's SUB endpoint.
    pub endpoint: String,
}

/// `set_handler`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetHandler {
    /// The socket.
    pub alias: String,
    /// The new handler.
    pub handler: String,
    /// SUB only: the topic whose handler changes (it must be subscribed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
}

/// Methods naming one socket or timer: `close`, `addr`, `stop_timer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alias {
    /// The socket's or timer's alias.
    pub alias: String,
}

/// Milliseconds of `d`, saturating.
pub fn millis(d: std::time::Duration) -> u64 {
    d.as_millis().min(u128::from(u64::MAX)) as u64
}

/// `adopt`: a supervisor that restarted after a crash takes charge of a
/// running agent again. The agent proves it is the incarnation the
/// supervisor started by signing `nonce` with its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Adopt {
    /// Fresh random bytes (hex) from the supervisor.
    pub nonce: String,
}

/// The answer to `adopt`: everything the supervisor needs to register the
/// agent again, and the proof.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Adopted {
    /// The agent's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Its process.
    pub pid: u32,
    /// Its control endpoint.
    pub control: String,
    /// Its lease (heartbeat) period, in ms.
    pub lease_ms: u64,
    /// Where its sockets are bound, by alias.
    pub addrs: BTreeMap<String, Address>,
    /// HMAC-SHA256 of the nonce under the agent's token, hex.
    pub proof: String,
}

/// `shutdown`: leave gracefully (close the sockets, flushing within the
/// linger time, then exit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shutdown {
    /// Unregister from the name server before exiting (default true). A
    /// supervisor asking its own child says false: it sees the exit and
    /// removes the record itself, so thousands of agents stopping at once do
    /// not each open a line to it and wait for an answer.
    #[serde(default = "unregister_by_default")]
    pub unregister: bool,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown { unregister: true }
    }
}

fn unregister_by_default() -> bool {
    true
}

/// Nonces of `adopt` are at least this many bytes (hex-decoded).
pub const ADOPT_NONCE_MIN: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::to_value;

    #[test]
    fn topics_are_bytes_on_the_wire_and_text_is_taken_too() {
        let as_bytes = to_value(&Topic(b"foo".to_vec())).unwrap();
        assert_eq!(as_bytes, Value::Bytes(b"foo".to_vec()));
        let from_text: Subscription = Value::Map(vec![
            (Value::Text("alias".into()), Value::Text("s".into())),
            (Value::Text("topic".into()), Value::Text("À".into())),
        ])
        .deserialized()
        .unwrap();
        assert_eq!(from_text.topic.0, "À".as_bytes());
    }

    #[test]
    fn connect_arguments_round_trip_through_options() {
        let to = Address {
            endpoint: "ipc:///tmp/x".into(),
            kind: SocketKind::Pub,
            role: crate::net::Role::Server,
            serializer: Serializer::Cbor,
            requests: None,
            secure: false,
        };
        let opts = ConnectOptions {
            dispatch: Some(Dispatch::All),
            ..ConnectOptions::alias("s").topics(&[("a", "h1"), ("b", "h2")])
        };
        let args = Connect::new(&to, opts);
        assert_eq!(args.handlers(), ["h1", "h2"]);
        let decoded: Connect = to_value(&args).unwrap().deserialized().unwrap();
        let (address, back) = decoded.options();
        assert_eq!(address, to);
        assert_eq!(back.alias.as_deref(), Some("s"));
        assert_eq!(back.topics.len(), 2);
        assert_eq!(back.dispatch, Some(Dispatch::All));
    }

    #[test]
    fn bind_arguments_carry_the_framing() {
        let opts = BindOptions {
            framing: Some(Framing::Osbrain),
            ..BindOptions::alias("p")
        };
        let args = Bind::new(SocketKind::Pub, opts);
        let value = to_value(&args).unwrap();
        let decoded: Bind = value.deserialized().unwrap();
        assert_eq!(decoded.options().1.framing, Some(Framing::Osbrain));
        // Left out when not asked for: journals written before the key existed read the same.
        let plain = to_value(&Bind::new(SocketKind::Pub, BindOptions::alias("p"))).unwrap();
        assert!(!format!("{plain:?}").contains("framing"));
    }
}
