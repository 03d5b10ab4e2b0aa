//! `Proxy`: a blocking client for one control endpoint (an agent's or the name server's).
//!
//! Calls carry an id and a timeout; a reply for an id that already timed out
//! is dropped. A proxy is not shared between threads; clone the address and
//! open another one instead (it is cheap: one DEALER socket).

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::auth::Key;
use crate::config::DEFAULT_CALL_TIMEOUT;
use crate::error::{Error, Result};
use crate::serializer::Value;
use crate::wire::{self, Request};

/// A blocking control-plane client.
pub struct Proxy {
    name: String,
    endpoint: String,
    socket: zmq::Socket,
    next_id: u64,
    timeout: Duration,
    key: Option<Key>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Proxy {
    /// Opens a proxy to the control endpoint of `name` (used in errors and logs).
    pub fn open(name: impl Into<String>, endpoint: impl Into<String>) -> Result<Self> {
        let endpoint = endpoint.into();
        let socket = crate::zmq_context().socket(zmq::DEALER)?;
        socket.set_linger(0)?;
        socket.set_immediate(false)?;
        socket.connect(&endpoint)?;
        Ok(Proxy {
            name: name.into(),
            endpoint,
            socket,
            next_id: 1,
            timeout: DEFAULT_CALL_TIMEOUT,
            key: crate::auth::process_key(),
        })
    }

    /// The name this proxy talks to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The control endpoint this proxy talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Sets the timeout used by [`Proxy::call`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Signs requests with `key` instead of the process key (`None`: unsigned).
    pub fn set_key(&mut self, key: Option<Key>) {
        self.key = key;
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
        let value = self.call_value(method, args, timeout)?;
        value.deserialized().map_err(|e| Error::Decode {
            serializer: "cbor",
            reason: format!("result of {method}: {e}"),
        })
    }

    /// Sends `method` without waiting for (or getting) an answer.
    pub fn oneway<A: Serialize>(&mut self, method: &str, args: A) -> Result<()> {
        self.send_control(method, args, true).map(|_| ())
    }

    fn call_value<A: Serialize>(
        &mut self,
        method: &str,
        args: A,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.send_control(method, args, false)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(
                    timeout,
                    format!("{method} on {}", self.name),
                ));
            }
            let ms = left.as_millis().clamp(1, i64::MAX as u128) as i64;
            if self.socket.poll(zmq::POLLIN, ms)? == 0 {
                continue;
            }
            let frames = self.socket.recv_multipart(0)?;
            let parts: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
            match wire::open_reply(&parts, self.key.as_ref(), &self.name) {
                Some(reply) if reply.id == id => {
                    return reply.result.into_result().map_err(Error::Remote)
                }
                // A late answer to an earlier call that timed out, or noise: not ours.
                _ => continue,
            }
        }
    }

    fn send_control<A: Serialize>(&mut self, method: &str, args: A, oneway: bool) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let args = crate::serializer::to_value(&args)?;
        let body = wire::encode_body(&Request::new(id, &self.name, method, args, oneway));
        let signature = self.key.as_ref().map(|k| k.sign(&body)).unwrap_or_default();
        let frames: [&[u8]; 3] = [wire::PROTOCOL, &signature, &body];
        // Never block: a peer that is gone and whose queue is full is an error, not a hang.
        self.socket.send_multipart(frames, zmq::DONTWAIT)?;
        Ok(id)
    }
}
