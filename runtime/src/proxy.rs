//! `Proxy`: a blocking client for one control endpoint (an agent's or the name server's).
//!
//! Calls carry an id and a timeout; a reply for an id that already timed out
//! is dropped. A proxy is not shared between threads; clone the address and
//! open another one instead (it is cheap: one DEALER socket).

use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::config::DEFAULT_CALL_TIMEOUT;
use crate::error::{Error, Result};
use crate::serializer::Value;
use crate::wire::{self, Outcome, Reply, Request};

/// A blocking control-plane client.
pub struct Proxy {
    name: String,
    endpoint: String,
    socket: zmq::Socket,
    next_id: u64,
    timeout: Duration,
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
        self.send_request(method, args, true).map(|_| ())
    }

    fn call_value<A: Serialize>(
        &mut self,
        method: &str,
        args: A,
        timeout: Duration,
    ) -> Result<Value> {
        let id = self.send_request(method, args, false)?;
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
            match parse_reply(&frames) {
                Some(reply) if reply.id == id => return outcome(reply.result),
                // A late answer to an earlier call that timed out, or noise: not ours.
                _ => continue,
            }
        }
    }

    fn send_request<A: Serialize>(&mut self, method: &str, args: A, oneway: bool) -> Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let args = Value::serialized(&args).map_err(|e| Error::Encode {
            serializer: "cbor",
            reason: e.to_string(),
        })?;
        let body = wire::encode_body(&Request {
            id,
            method: method.to_owned(),
            args,
            oneway,
        });
        let frames: [&[u8]; 3] = [wire::PROTOCOL, b"", &body];
        self.socket.send_multipart(frames, 0)?;
        Ok(id)
    }
}

fn parse_reply(frames: &[Vec<u8>]) -> Option<Reply> {
    match frames {
        [proto, _sig, body] if proto == wire::PROTOCOL => wire::decode_body(body).ok(),
        _ => None,
    }
}

fn outcome(result: Outcome) -> Result<Value> {
    match result {
        Outcome::Ok(v) => Ok(v),
        Outcome::Err(e) => Err(Error::Remote(e)),
    }
}
