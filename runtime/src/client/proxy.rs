//! `Proxy`: a blocking handle on one control endpoint (an agent's or the
//! name server's), for scripts and tests. It is a thin wrapper: a
//! [`Client`] whose calls block on libzmq ([`Client::call_blocking`]) and
//! whose oneway sends a small runtime of its own drives.
//!
//! Calls carry an id and a timeout; a reply for an id that already timed
//! out is dropped. A proxy is not shared between threads; clone the address
//! and open another one instead (it is cheap: one DEALER socket).
//! Never use one inside an agent: handlers use `Ctx`, which never blocks.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::call::Client;
use crate::codec::Value;
use crate::config::DEFAULT_CALL_TIMEOUT;
use crate::error::{Error, Result};
use crate::protocol::auth::Key;

/// A blocking control-plane client.
pub struct Proxy {
    client: Client,
    runtime: tokio::runtime::Runtime,
    timeout: Duration,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.client.name())
            .field("endpoint", &self.client.endpoint())
            .finish()
    }
}

impl Proxy {
    /// Opens a proxy to the control endpoint of `name` (the destination its requests are signed for).
    pub fn open(name: impl Into<String>, endpoint: impl Into<String>) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // tmq registers the socket with the reactor of the runtime it is opened in.
        let client = {
            let _inside = runtime.enter();
            Client::open(name, endpoint)?
        };
        Ok(Proxy {
            client,
            runtime,
            timeout: DEFAULT_CALL_TIMEOUT,
        })
    }

    /// The name this proxy talks to.
    pub fn name(&self) -> &str {
        self.client.name()
    }

    /// The control endpoint this proxy talks to.
    pub fn endpoint(&self) -> &str {
        self.client.endpoint()
    }

    /// Sets the timeout used by [`Proxy::call`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Signs requests with `key` instead of the process key (`None`: unsigned).
    pub fn set_key(&mut self, key: Option<Key>) {
        self.client.set_key(key);
    }

    /// The timeout used by [`Proxy::call`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls `method` with `args` and decodes the result, waiting at most the proxy's timeout.
    pub fn call<A: Serialize, R: DeserializeOwned>(&mut self, method: &str, args: A) -> Result<R> {
        let timeout = self.timeout;
        self.call_timeout(method, args, timeout)
    }

    /// Calls `method` and waits at most `timeout` for its answer.
    pub fn call_timeout<A: Serialize, R: DeserializeOwned>(
        &mut self,
        method: &str,
        args: A,
        timeout: Duration,
    ) -> Result<R> {
        // The runtime is entered for tmq's socket, but the call blocks on libzmq itself.
        let _inside = self.runtime.enter();
        let value: Value = self.client.call_blocking(method, &args, timeout)?;
        value.deserialized().map_err(|e| Error::Decode {
            serializer: "cbor",
            reason: format!("result of {method}: {e}"),
        })
    }

    /// Sends `method` without waiting for (or getting) an answer.
    pub fn oneway<A: Serialize>(&mut self, method: &str, args: A) -> Result<()> {
        let timeout = self.timeout;
        self.runtime
            .block_on(self.client.oneway(method, &args, timeout))
    }
}
