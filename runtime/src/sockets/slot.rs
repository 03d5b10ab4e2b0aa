//! One open socket in the table, with what the host needs to serve it.

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::net::{Address, Framing, Role, Socket};
use crate::protocol::Dispatch;
use crate::stats::Counts;

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

/// Requests remembered per socket at most: past it, the oldest is forgotten.
pub(crate) const MAX_WAITING: usize = 1 << 16;

/// How long a request is remembered when it was sent without a wait of its own.
pub(crate) const REQUEST_MEMORY: Duration = Duration::from_secs(600);

/// The requests of one socket awaiting replies, oldest first (ids only grow).
///
/// Bounded: a request with no wait of its own is forgotten after
/// [`REQUEST_MEMORY`], and past [`MAX_WAITING`] the oldest goes; a reply
/// that comes after is dropped as unknown (counted in `stats.unhandled`).
#[derive(Default)]
pub(crate) struct Waiting {
    by_id: BTreeMap<u64, (Instant, Waiter)>,
}

impl Waiting {
    /// Remembers `waiter` for request `id`; returns how many old requests were forgotten to make room.
    pub(crate) fn insert(&mut self, id: u64, waiter: Waiter, now: Instant) -> u64 {
        let mut forgotten = 0;
        while let Some((_, (since, _))) = self.by_id.first_key_value() {
            let stale = now.saturating_duration_since(*since) > REQUEST_MEMORY;
            if !stale && self.by_id.len() < MAX_WAITING {
                break;
            }
            self.by_id.pop_first();
            forgotten += 1;
        }
        self.by_id.insert(id, (now, waiter));
        forgotten
    }

    /// Takes the waiter of request `id`.
    pub(crate) fn remove(&mut self, id: &u64) -> Option<Waiter> {
        self.by_id.remove(id).map(|(_, w)| w)
    }

    /// Requests awaiting replies.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
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
    pub(crate) waiting: Waiting,
    pub(crate) next_request: u64,
    pub(crate) generation: u64,
    /// SYNC_PUB / SYNC_SUB: the other socket of the pair (requests side, or stream side).
    pub(crate) partner: Option<usize>,
    /// Whether this is the hidden requests side of a SYNC_PUB / SYNC_SUB pair.
    pub(crate) companion: bool,
    /// SYNC_SUB: the topic under which the publisher sends this subscriber its replies.
    pub(crate) reply_topic: Vec<u8>,
    /// SUB: which matching subscriptions' handlers a message goes to.
    pub(crate) dispatch: Dispatch,
    /// PUB: how a message is laid out in frames.
    pub(crate) framing: Framing,
    /// What its messages came to (`Sockets::count`).
    pub(crate) counts: Counts,
    /// PUSH / PULL with `reliable`: the outbox or the dedupe state (its companion carries acks).
    pub(crate) reliable: Option<Box<super::reliable::Reliable>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.address.role == Role::Server {
            crate::net::remove_ipc_file(&self.address.endpoint);
        }
    }
}

impl Slot {
    /// Messages sent on it that wait for room: its backlog, and a reliable sender's messages
    /// beyond its window.
    pub(crate) fn backlog(&self) -> usize {
        self.socket.backlog_len() + self.reliable.as_ref().map_or(0, |r| r.waiting())
    }

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

    /// Every handler for a message on `topic` ([`Dispatch::All`]): one per matching
    /// subscription, shortest prefix first (subscription order among equals), each
    /// its own or else the socket's; the socket's alone when none matches.
    pub(crate) fn handlers_for(&self, topic: &[u8]) -> Vec<Option<Rc<str>>> {
        let mut matching: Vec<&(Vec<u8>, Option<Rc<str>>)> = self
            .topics
            .iter()
            .filter(|(t, _)| topic.starts_with(t))
            .collect();
        if matching.is_empty() {
            return vec![self.handler.clone()];
        }
        // Stable: equal lengths keep the order they were subscribed in.
        matching.sort_by_key(|(t, _)| t.len());
        matching
            .into_iter()
            .map(|(_, h)| h.clone().or_else(|| self.handler.clone()))
            .collect()
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
            crate::net::Identity::default(),
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
                secure: false,
            },
            socket: Socket::new(io),
            handler: Some("default".into()),
            topics: topics
                .iter()
                .map(|(t, h)| (t.as_bytes().to_vec(), h.map(Rc::from)))
                .collect(),
            waiting: Waiting::default(),
            next_request: 1,
            generation: 1,
            partner: None,
            companion: false,
            reply_topic: Vec::new(),
            dispatch: Dispatch::All,
            framing: Framing::Multipart,
            counts: Counts::default(),
            reliable: None,
        }
    }

    #[test]
    fn waiting_requests_are_bounded_by_count_and_by_age() {
        let t0 = Instant::now();
        let mut w = Waiting::default();
        for id in 0..MAX_WAITING as u64 {
            assert_eq!(w.insert(id, Waiter::socket_handler(), t0), 0);
        }
        // Full: the oldest request makes room for the newest.
        assert_eq!(
            w.insert(MAX_WAITING as u64, Waiter::socket_handler(), t0),
            1
        );
        assert!(w.remove(&0).is_none());
        assert!(w.remove(&1).is_some());
        assert_eq!(w.len(), MAX_WAITING - 1);
        // Later than the memory: every old request goes.
        let later = t0 + REQUEST_MEMORY + Duration::from_secs(1);
        assert_eq!(
            w.insert(u64::MAX, Waiter::socket_handler(), later),
            MAX_WAITING as u64 - 1
        );
        assert_eq!(w.len(), 1);
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

    #[test]
    fn with_dispatch_all_every_matching_topic_picks_a_handler_shortest_first() {
        actix_rt::System::new().block_on(async {
            // Subscribed longest first: the order of the calls still goes by length.
            let s = slot(&[("foo", Some("long")), ("", None), ("fo", Some("short"))]);
            let names = |topic: &[u8]| -> Vec<Option<String>> {
                s.handlers_for(topic)
                    .into_iter()
                    .map(|h| h.as_deref().map(str::to_owned))
                    .collect()
            };
            let some = |h: &str| Some(h.to_owned());
            assert_eq!(
                names(b"foobar"),
                [some("default"), some("short"), some("long")]
            );
            assert_eq!(names(b"fox"), [some("default"), some("short")]);
            assert_eq!(names(b"bar"), [some("default")]);
            let bare = slot(&[("a", Some("h"))]);
            // Nothing matches (a late message after an unsubscribe): the socket's handler.
            assert_eq!(bare.handlers_for(b"b").len(), 1);
            assert_eq!(bare.handlers_for(b"b")[0].as_deref(), Some("default"));
        });
    }
}
