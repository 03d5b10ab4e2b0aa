//! One open socket in the table, with what the host needs to serve it.

use std::collections::HashMap;
use std::rc::Rc;

use crate::net::{Address, Role, Socket};

/// Who waits for the answer to a request.
pub(crate) enum Waiter {
    /// A reply handler: the request's own, else the socket's.
    Handler {
        handler: Option<String>,
        /// Runs, with the request as its message, if no reply comes within the wait.
        on_error: Option<String>,
        /// The request's payload, kept only when there is an `on_error`.
        request: Vec<u8>,
    },
    /// A control-plane `request` call, answered when the reply arrives.
    Control { route: Vec<u8>, id: u64 },
}

impl From<crate::protocol::RequestOptions> for Waiter {
    /// A reply handler (the request's own, else the socket's) and an error handler, from a request's options.
    fn from(opts: crate::protocol::RequestOptions) -> Self {
        Waiter::Handler {
            handler: opts.handler,
            on_error: opts.on_error,
            request: Vec::new(),
        }
    }
}

impl Waiter {
    /// The socket's reply handler will take the reply.
    pub(crate) fn socket_handler() -> Self {
        Waiter::Handler {
            handler: None,
            on_error: None,
            request: Vec::new(),
        }
    }
}

/// One open socket and what the host needs to serve it.
pub(crate) struct Slot {
    pub(crate) alias: Rc<str>,
    pub(crate) address: Address,
    pub(crate) socket: Socket,
    /// Handler for received messages (REQ: for replies).
    pub(crate) handler: Option<Rc<str>>,
    /// SUB subscriptions: topic prefix and the handler for it (None: the socket's handler).
    pub(crate) topics: Vec<(Vec<u8>, Option<Rc<str>>)>,
    /// REQ: requests awaiting replies, by request id.
    pub(crate) waiting: HashMap<u64, Waiter>,
    pub(crate) next_request: u64,
    pub(crate) generation: u64,
    /// SYNC_PUB / SYNC_SUB: the other socket of the pair (requests side, or stream side).
    pub(crate) partner: Option<usize>,
    /// Whether this is the hidden requests side of a SYNC_PUB / SYNC_SUB pair.
    pub(crate) companion: bool,
    /// SYNC_SUB: the topic under which the publisher sends this subscriber its replies.
    pub(crate) reply_topic: Vec<u8>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.address.role == Role::Server {
            crate::net::remove_ipc_file(&self.address.endpoint);
        }
    }
}

impl Slot {
    /// The handler for a message on `topic`: the longest matching subscription wins.
    pub(crate) fn handler_for(&self, topic: &[u8]) -> Option<Rc<str>> {
        let best = self
            .topics
            .iter()
            .filter(|(t, _)| topic.starts_with(t))
            .max_by_key(|(t, _)| t.len());
        match best {
            Some((_, Some(h))) => Some(h.clone()),
            _ => self.handler.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Serializer;
    use crate::net::{Io, SocketKind};
    use std::time::Duration;

    fn slot(topics: &[(&str, Option<&str>)]) -> Slot {
        let io = Io::open(
            SocketKind::Sub,
            "inproc://handler-for",
            false,
            Duration::ZERO,
            1024,
            crate::net::DEFAULT_HWM,
        )
        .unwrap();
        Slot {
            alias: "s".into(),
            address: Address {
                endpoint: "inproc://handler-for".into(),
                kind: SocketKind::Sub,
                role: Role::Client,
                serializer: Serializer::Cbor,
                requests: None,
            },
            socket: Socket::new(io),
            handler: Some("default".into()),
            topics: topics
                .iter()
                .map(|(t, h)| (t.as_bytes().to_vec(), h.map(Rc::from)))
                .collect(),
            waiting: HashMap::new(),
            next_request: 1,
            generation: 1,
            partner: None,
            companion: false,
            reply_topic: Vec::new(),
        }
    }

    #[test]
    fn the_longest_matching_topic_picks_the_handler() {
        // tmq registers sockets with the reactor, so build them inside a runtime.
        actix_rt::System::new().block_on(async {
            let s = slot(&[("fo", Some("short")), ("foo", Some("long")), ("", None)]);
            assert_eq!(s.handler_for(b"foobar").as_deref(), Some("long"));
            assert_eq!(s.handler_for(b"fox").as_deref(), Some("short"));
            assert_eq!(s.handler_for(b"bar").as_deref(), Some("default"));
        });
    }
}
