//! Async one-shot control calls, for code that runs inside an event loop
//! (the name server pinging agents, agents calling each other).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use tmq::AsZmqSocket;

use crate::error::{Error, Result};
use crate::serializer::Value;
use crate::wire::{self, Outcome, Reply, Request};

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
    let (mut socket, id) = send(endpoint, method, args, false).await?;
    let answer = async {
        while let Some(frames) = socket.next().await {
            let frames = frames?;
            let parts: Vec<&[u8]> = frames.iter().map(|f| &f[..]).collect();
            if let [proto, sig, body] = parts[..] {
                if !crate::auth::reply_is_authentic(body, sig) {
                    tracing::warn!(peer = name, "control reply with a wrong signature ignored");
                    continue;
                }
                match wire::decode_body::<Reply>(body) {
                    Ok(reply) if proto == wire::PROTOCOL && reply.id == id => {
                        return Ok(reply.result)
                    }
                    _ => continue,
                }
            }
        }
        Err(Error::Config("control socket closed".into()))
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(Ok(Outcome::Ok(v))) => Ok(v),
        Ok(Ok(Outcome::Err(e))) => Err(Error::Remote(e)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Timeout(timeout, format!("{method} on {name}"))),
    }
}

/// Sends `method` to the control endpoint without waiting for an answer.
pub async fn oneway<A: Serialize>(endpoint: &str, method: &str, args: A) -> Result<()> {
    let (socket, _) = send(endpoint, method, args, true).await?;
    // Linger briefly so the request leaves before the socket closes.
    socket.get_socket().set_linger(ONEWAY_LINGER_MS)?;
    Ok(())
}

async fn send<A: Serialize>(
    endpoint: &str,
    method: &str,
    args: A,
    oneway: bool,
) -> Result<(tmq::dealer::Dealer, u64)> {
    let mut socket = tmq::dealer(crate::zmq_context())
        .set_linger(0)
        .connect(endpoint)?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let args = Value::serialized(&args).map_err(|e| Error::Encode {
        serializer: "cbor",
        reason: e.to_string(),
    })?;
    let body = wire::encode_body(&Request::new(id, method, args, oneway));
    let signature = crate::auth::signature(&body);
    socket
        .send(vec![wire::PROTOCOL.to_vec(), signature, body])
        .await?;
    Ok((socket, id))
}
