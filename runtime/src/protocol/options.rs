//! What a bind, a connect and a request can be asked for.

use super::Reliability;
use crate::codec::Serializer;
use crate::net::{Framing, OnFull, Transport};

/// How a request's reply is handled (ASYNC_REQ, SYNC_SUB, REQ).
#[derive(Debug, Clone, Default)]
pub struct RequestOptions {
    /// Handler for this request's reply; the socket's handler when `None`.
    pub handler: Option<String>,
    /// Handler run (with the request as its message) when no reply comes within `wait`.
    pub on_error: Option<String>,
    /// How long to wait for the reply; forever when `None`. A late reply is logged and dropped.
    pub wait: Option<std::time::Duration>,
}

/// Where a bind should land.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// Alias; a fresh one when `None`.
    pub alias: Option<String>,
    /// Transport; the agent's default when `None`.
    pub transport: Option<Transport>,
    /// Location (tcp `host` or `host:port`, ipc file, inproc name); fresh when `None`.
    pub addr: Option<String>,
    /// Serializer; the agent's default when `None`.
    pub serializer: Option<Serializer>,
    /// Handler name for received messages.
    pub handler: Option<String>,
    /// High-water mark in messages; the agent's default (`Defaults::hwm`) when `None`.
    pub hwm: Option<i32>,
    /// What a send does at the mark; by kind when `None` (PUB drops, others block).
    pub on_full: Option<OnFull>,
    /// ZeroMQ CURVE: encrypted, and closed to whoever lacks the deployment key.
    pub secure: bool,
    /// PUB only: frames as axon lays them out (two) or as osBrain does (one); multipart when `None`.
    pub framing: Option<Framing>,
    /// PUSH and PULL only: at-least-once delivery (docs/guarantees.md); both ends must ask.
    pub reliable: Option<Reliability>,
}

impl BindOptions {
    /// Options that name the socket `alias` and leave the rest to the defaults.
    pub fn alias(alias: &str) -> Self {
        BindOptions {
            alias: Some(alias.to_owned()),
            ..BindOptions::default()
        }
    }

    /// Sends what the socket receives to `handler`.
    pub fn handler(mut self, handler: &str) -> Self {
        self.handler = Some(handler.to_owned());
        self
    }

    /// Makes the channel at-least-once (PUSH, PULL).
    pub fn reliable(mut self, reliability: Reliability) -> Self {
        self.reliable = Some(reliability);
        self
    }
}

/// What a connect should make.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// Alias; a fresh one when `None`.
    pub alias: Option<String>,
    /// Handler name for received messages (REQ: for replies).
    pub handler: Option<String>,
    /// SUB only: topic prefixes to subscribe to, each with its own handler
    /// (`None`: the socket's). A SUB connected with none hears every topic.
    pub topics: Vec<(Vec<u8>, Option<String>)>,
    /// High-water mark in messages; the agent's default when `None`.
    pub hwm: Option<i32>,
    /// What a send does at the mark; by kind when `None`.
    pub on_full: Option<OnFull>,
    /// SUB only: which handlers a message whose topic matches several subscriptions goes to;
    /// [`Dispatch::Longest`] when `None`.
    pub dispatch: Option<Dispatch>,
    /// PUSH and PULL only: at-least-once delivery (docs/guarantees.md); both ends must ask.
    pub reliable: Option<Reliability>,
}

/// Which handlers of a SUB socket a message goes to when its topic matches several subscriptions.
///
/// Subscriptions are topic prefixes, each with a handler (its own, else the
/// socket's). `Longest` runs one handler per message; `All` runs every
/// matching one, shortest prefix first, as osBrain does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// Only the handler of the longest matching prefix (the default: one handler per message).
    #[default]
    Longest,
    /// Every matching prefix's handler, shortest prefix first; a failing one does not stop the rest.
    All,
}

impl Dispatch {
    /// The name used in manifests and control calls.
    pub fn as_str(self) -> &'static str {
        match self {
            Dispatch::Longest => "longest",
            Dispatch::All => "all",
        }
    }
}

impl std::str::FromStr for Dispatch {
    type Err = crate::error::Error;

    fn from_str(s: &str) -> crate::error::Result<Self> {
        match s {
            "longest" => Ok(Dispatch::Longest),
            "all" => Ok(Dispatch::All),
            _ => Err(crate::error::Error::invalid(
                "dispatch",
                s,
                "expected longest or all",
            )),
        }
    }
}

impl ConnectOptions {
    /// Options that name the socket `alias` and leave the rest to the defaults.
    pub fn alias(alias: &str) -> Self {
        ConnectOptions {
            alias: Some(alias.to_owned()),
            ..ConnectOptions::default()
        }
    }

    /// Sends what the socket receives to `handler` (`None`: no socket-wide handler).
    pub fn handler<'h>(mut self, handler: impl Into<Option<&'h str>>) -> Self {
        self.handler = handler.into().map(str::to_owned);
        self
    }

    /// Makes the channel at-least-once (PUSH, PULL).
    pub fn reliable(mut self, reliability: Reliability) -> Self {
        self.reliable = Some(reliability);
        self
    }

    /// Subscribes to each topic prefix with its own handler.
    pub fn topics<T: AsRef<[u8]>>(mut self, topics: &[(T, &str)]) -> Self {
        self.topics = topics
            .iter()
            .map(|(t, h)| (t.as_ref().to_vec(), Some((*h).to_owned())))
            .collect();
        self
    }
}
