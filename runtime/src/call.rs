//! Async one-shot control calls, for code that runs inside an event loop
//! (the name server pinging agents, agents calling each other).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tmq::AsZmqSocket;

use crate::error::{Error, Result};
use crate::serializer::Value;
use crate::wire::{self, Request};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// How long a oneway request may take to leave once its socket is dropped.
const ONEWAY_LINGER_MS: i32 = 500;

/// Calls `method` on the control endpoint of `name` and waits at most `timeout` for the answer.
pub async fn call<A: Serialize>(
    endpoint: &str,
    name: &str,
    method: &str,
    args: A,
    timeout: Duration,
) -> Result<Value> {
    let (mut socket, id) = send(endpoint, name, method, args, false).await?;
    let answer = async {
        while let Some(frames) = socket.next().await {
            let frames = frames?;
            let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            match wire::open_reply(&parts, crate::auth::process_key().as_ref(), name) {
                Some(reply) if reply.id == id => return Ok(reply.result),
                // A reply to someone else's request, or noise: not ours.
                _ => continue,
            }
        }
        Err(Error::Config("control socket closed".into()))
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(outcome)) => outcome.into_result().map_err(Error::Remote),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout(timeout, format!("{method} on {name}"))),
    }
}

/// Sends `method` to the control endpoint of `name` without waiting for an answer.
pub async fn oneway<A: Serialize>(endpoint: &str, name: &str, method: &str, args: A) -> Result<()> {
    let (socket, _) = send(endpoint, name, method, args, true).await?;
    // Linger briefly so the request leaves before the socket closes.
    socket.get_socket().set_linger(ONEWAY_LINGER_MS)?;
    Ok(())
}

async fn send<A: Serialize>(
    endpoint: &str,
    to: &str,
    method: &str,
    args: A,
    oneway: bool,
) -> Result<(tmq::dealer::Dealer, u64)> {
    let mut socket = tmq::dealer(crate::zmq_context())
        .set_linger(0)
        .connect(endpoint)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let args = crate::serializer::to_value(&args)?;
    let body = wire::encode_body(&Request::new(id, to, method, args, oneway));
    let signature = crate::auth::signature(&body);
    socket
        .send(vec![wire::PROTOCOL.to_vec(), signature, body])
        .await?;
    Ok((socket, id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Outcome, Reply};

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
        let router = crate::zmq_context().socket(zmq::ROUTER).unwrap();
        router.set_linger(1000).unwrap();
        router.bind(endpoint).unwrap();
        std::thread::spawn(move || {
            let frames = router.recv_multipart(0).unwrap();
            let request: Request = wire::decode_body(&frames[3]).unwrap();
            for id in [request.id + 1000, request.id] {
                let body = wire::encode_body(&Reply {
                    id,
                    result: Outcome::Ok(answer.clone()),
                });
                let signature = crate::auth::signature(&body);
                let reply = [&frames[0][..], wire::PROTOCOL, &signature, &body];
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
        let answer = block_on(call(&endpoint, "peer", "ping", (), timeout)).unwrap();
        assert_eq!(answer, Value::Text("pong".into()));
        let request = server.join().unwrap();
        assert_eq!((request.method.as_str(), request.oneway), ("ping", false));
        let _ = std::fs::remove_file(endpoint.trim_start_matches("ipc://"));
    }

    #[test]
    fn a_call_nobody_answers_is_a_timeout() {
        let timeout = Duration::from_millis(200);
        let err = block_on(call(&endpoint("nobody"), "peer", "ping", (), timeout)).unwrap_err();
        assert!(matches!(err, Error::Timeout(t, _) if t == timeout), "{err}");
    }
}
