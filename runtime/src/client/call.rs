//! [`Client`]: the one client core of the control plane. It signs each
//! request for its destination, sends it on a DEALER, and takes the reply
//! with the request's id, within a deadline. Everything else that calls a
//! control endpoint is built on it: `Proxy` blocks on it, the name
//! server and agents await it inside their event loops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tmq::AsZmqSocket;

use crate::codec::{to_value, Value};
use crate::error::{Error, Result};
use crate::protocol::auth::Key;
use crate::protocol::{encode_body, open_reply, Request, PROTOCOL};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a closing client lets its last (oneway) requests leave.
const LINGER_MS: i32 = 500;

/// A client of one control endpoint (an agent's or the name server's).
///
/// It must be opened, and used, inside a tokio runtime (tmq registers the
/// socket with the reactor). Calls on one client are one at a time and in
/// order; a reply to a call that already gave up is dropped.
pub struct Client {
    name: String,
    endpoint: String,
    socket: tmq::dealer::Dealer,
    key: Option<Key>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Client {
    /// Opens a client of the control endpoint of `name` (the destination its requests are signed for).
    pub fn open(name: impl Into<String>, endpoint: impl Into<String>) -> Result<Self> {
        let endpoint = endpoint.into();
        crate::net::check_endpoint(&endpoint)?;
        let socket = tmq::dealer(crate::net::zmq_context())
            .set_linger(LINGER_MS)
            .connect(&endpoint)?;
        Ok(Client {
            name: name.into(),
            endpoint,
            socket,
            key: crate::protocol::auth::process_key(),
        })
    }

    /// The name this client talks to.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The control endpoint this client talks to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Signs requests with `key` instead of the process key (`None`: unsigned).
    pub fn set_key(&mut self, key: Option<Key>) {
        self.key = key;
    }

    /// Calls `method` with `args` and waits at most `timeout` for the answer.
    ///
    /// The deadline covers the send as well: a peer that is gone and whose
    /// queue is full gives a timeout, never a hang.
    pub async fn call<A: Serialize + ?Sized>(
        &mut self,
        method: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<Value> {
        let args = to_value(args)?;
        let exchange = async {
            let id = self.send(method, args, false).await?;
            self.answer(id).await
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Error::Timeout(
                timeout,
                format!("{method} on {}", self.name),
            )),
        }
    }

    /// Sends `method` without waiting for an answer (none comes); waits at most `timeout` to send.
    pub async fn oneway<A: Serialize + ?Sized>(
        &mut self,
        method: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<()> {
        let args = to_value(args)?;
        match tokio::time::timeout(timeout, self.send(method, args, true)).await {
            Ok(sent) => sent.map(|_| ()),
            Err(_) => Err(Error::Timeout(
                timeout,
                format!("sending {method} to {}", self.name),
            )),
        }
    }

    /// Calls `method` with `args` like [`Client::call`], blocking this thread on libzmq
    /// instead of a runtime: what [`super::Proxy`] does. The same request, signature and
    /// answer; no reactor registration, timer or task wake-up on the way (session 9: about
    /// a fifth of a ping's cost over a raw DEALER round trip).
    pub fn call_blocking<A: Serialize + ?Sized>(
        &mut self,
        method: &str,
        args: &A,
        timeout: Duration,
    ) -> Result<Value> {
        let deadline = Instant::now() + timeout;
        let late = || Error::Timeout(timeout, format!("{method} on {}", self.name));
        let (id, frames) = self.request(method, to_value(args)?, false)?;
        let socket = self.socket.get_socket();
        while !ready(socket, zmq::POLLOUT, deadline)? {}
        socket.send_multipart(frames, zmq::DONTWAIT)?;
        loop {
            if Instant::now() >= deadline {
                return Err(late());
            }
            if !ready(socket, zmq::POLLIN, deadline)? {
                continue;
            }
            let frames = match socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                // Readiness without a whole message: look again.
                Err(zmq::Error::EAGAIN) => continue,
                Err(e) => return Err(e.into()),
            };
            let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            if let Some(answer) = self.answer_to(id, &parts) {
                return answer;
            }
        }
    }

    /// A request's id and its frames: protocol, signature, body.
    fn request(&self, method: &str, args: Value, oneway: bool) -> Result<(u64, Vec<Vec<u8>>)> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let body = encode_body(&Request::new(id, &self.name, method, args, oneway))?;
        let signature = self.key.as_ref().map(|k| k.sign(&body)).unwrap_or_default();
        Ok((id, vec![PROTOCOL.to_vec(), signature, body]))
    }

    async fn send(&mut self, method: &str, args: Value, oneway: bool) -> Result<u64> {
        let (id, frames) = self.request(method, args, oneway)?;
        self.socket.send(frames).await?;
        Ok(id)
    }

    async fn answer(&mut self, id: u64) -> Result<Value> {
        while let Some(frames) = self.socket.next().await {
            let frames = frames?;
            let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            if let Some(answer) = self.answer_to(id, &parts) {
                return answer;
            }
        }
        Err(Error::Config(format!(
            "control socket to {} closed",
            self.name
        )))
    }

    /// The outcome `frames` carry when they answer request `id`; `None` for a late answer
    /// to an earlier call that gave up, or noise: not ours.
    fn answer_to(&self, id: u64, parts: &[&[u8]]) -> Option<Result<Value>> {
        match open_reply(parts, self.key.as_ref(), &self.name) {
            Some(reply) if reply.id == id => {
                Some(reply.result.into_result().map_err(Error::Remote))
            }
            _ => None,
        }
    }

    /// Stops waiting for pending oneway requests to leave when the client is dropped.
    pub fn forget_pending(&self) {
        // Best effort: the socket is being dropped anyway.
        let _ = self.socket.get_socket().set_linger(0);
    }
}

/// Whether `socket` has `events` (POLLIN, POLLOUT) before `deadline`; false once it passed.
fn ready(socket: &zmq::Socket, events: zmq::PollEvents, deadline: Instant) -> Result<bool> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Ok(false);
    }
    // Whole milliseconds, rounded up: libzmq's poll takes no finer timeout.
    let ms = i64::try_from(left.as_micros().div_ceil(1000)).unwrap_or(i64::MAX);
    let mut items = [socket.as_poll_item(events)];
    Ok(zmq::poll(&mut items, ms)? > 0 && items[0].get_revents().intersects(events))
}

/// Calls `method` on the control endpoint of `name` once, on a fresh client.
pub async fn call<A: Serialize + ?Sized>(
    endpoint: &str,
    name: &str,
    method: &str,
    args: &A,
    timeout: Duration,
) -> Result<Value> {
    Client::open(name, endpoint)?
        .call(method, args, timeout)
        .await
}

/// Sends `method` to the control endpoint of `name` once, without waiting for an answer.
pub async fn oneway<A: Serialize + ?Sized>(
    endpoint: &str,
    name: &str,
    method: &str,
    args: &A,
) -> Result<()> {
    let mut client = Client::open(name, endpoint)?;
    client
        .oneway(method, args, Duration::from_millis(LINGER_MS as u64))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{decode_body, Outcome, Reply};

    fn endpoint(test: &str) -> String {
        let dir = std::env::temp_dir().join(format!("axon-call-{}-{test}", std::process::id()));
        format!("ipc://{}", dir.display())
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(f)
    }

    /// A ROUTER that answers one request twice: first with a wrong id, then with the right one.
    fn answer_once(endpoint: &str, answer: Value) -> std::thread::JoinHandle<Request> {
        let router = crate::net::zmq_context().socket(zmq::ROUTER).unwrap();
        router.set_linger(1000).unwrap();
        router.bind(endpoint).unwrap();
        std::thread::spawn(move || {
            let frames = router.recv_multipart(0).unwrap();
            let request: Request = decode_body(&frames[3]).unwrap();
            for id in [request.id + 1000, request.id] {
                let body = encode_body(&Reply {
                    id,
                    result: Outcome::Ok(answer.clone()),
                })
                .unwrap();
                let signature = crate::protocol::auth::signature(&body);
                let reply = [&frames[0][..], PROTOCOL, &signature, &body];
                router.send_multipart(reply, 0).unwrap();
            }
            request
        })
    }

    #[test]
    fn a_call_gets_the_answer_with_its_own_id() {
        let endpoint = endpoint("answer");
        let server = answer_once(&endpoint, Value::Text("pong".into()));
        let timeout = Duration::from_secs(20);
        let answer = block_on(call(&endpoint, "peer", "ping", &(), timeout)).unwrap();
        assert_eq!(answer, Value::Text("pong".into()));
        let request = server.join().unwrap();
        assert_eq!(
            (request.method.as_str(), request.to.as_str(), request.oneway),
            ("ping", "peer", false)
        );
        let _ = std::fs::remove_file(endpoint.trim_start_matches("ipc://"));
    }

    #[test]
    fn a_blocking_call_gets_its_own_answer_or_a_timeout() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _inside = rt.enter();
        let endpoint = endpoint("blocking");
        let server = answer_once(&endpoint, Value::Text("pong".into()));
        let mut client = Client::open("peer", &endpoint).unwrap();
        let answer = client
            .call_blocking("ping", &(), Duration::from_secs(20))
            .unwrap();
        assert_eq!(answer, Value::Text("pong".into()));
        assert_eq!(server.join().unwrap().method, "ping");
        // Nobody answers the second call.
        let timeout = Duration::from_millis(200);
        let err = client.call_blocking("ping", &(), timeout).unwrap_err();
        assert!(matches!(err, Error::Timeout(t, _) if t == timeout), "{err}");
        let _ = std::fs::remove_file(endpoint.trim_start_matches("ipc://"));
    }

    #[test]
    fn a_call_nobody_answers_is_a_timeout() {
        let timeout = Duration::from_millis(200);
        let err = block_on(call(&endpoint("nobody"), "peer", "ping", &(), timeout)).unwrap_err();
        assert!(matches!(err, Error::Timeout(t, _) if t == timeout), "{err}");
    }
}
