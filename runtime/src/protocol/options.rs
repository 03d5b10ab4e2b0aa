//! What a bind, a connect and a request can be asked for.

use crate::codec::Serializer;
use crate::net::{OnFull, Transport};

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

    /// Subscribes to each topic prefix with its own handler.
    pub fn topics<T: AsRef<[u8]>>(mut self, topics: &[(T, &str)]) -> Self {
        self.topics = topics
            .iter()
            .map(|(t, h)| (t.as_ref().to_vec(), Some((*h).to_owned())))
            .collect();
        self
    }
}
