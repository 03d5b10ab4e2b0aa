//! Named handlers: what runs when a socket receives, and how a handler fails.
//!
//! Handlers are referred to by name across processes (the way pickle refers
//! to functions by name): a proxy asks an agent to run `log_message` when its
//! socket `main` receives, and the agent looks the name up in its kind's
//! [`Handlers`].

use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use serde::Serialize;

use super::{Agent, Ctx, Message};
use crate::error::Error;

/// What a handler returns: a value (the reply, on REP sockets) or an error.
pub type HandlerResult<T = ()> = Result<T, HandlerError>;

/// Why a handler failed. Any error converts into it with `?`.
pub struct HandlerError {
    kind: HandlerErrorKind,
    message: String,
}

/// The broad cause of a handler failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandlerErrorKind {
    /// The received payload did not decode into what the handler asked for.
    Decode,
    /// The handler's own logic failed.
    Failed,
}

impl HandlerError {
    /// A failure with this message.
    pub fn msg(message: impl fmt::Display) -> Self {
        HandlerError {
            kind: HandlerErrorKind::Failed,
            message: message.to_string(),
        }
    }

    /// The broad cause.
    pub fn kind(&self) -> HandlerErrorKind {
        self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl<E: std::error::Error + 'static> From<E> for HandlerError {
    fn from(e: E) -> Self {
        // A decode error from `Message::decode` means the frame was bad, not the handler.
        let kind = match (&e as &dyn std::error::Error).downcast_ref::<Error>() {
            Some(Error::Decode { .. }) => HandlerErrorKind::Decode,
            _ => HandlerErrorKind::Failed,
        };
        HandlerError {
            kind,
            message: e.to_string(),
        }
    }
}

impl fmt::Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HandlerError({:?}: {})", self.kind, self.message)
    }
}

/// A type-erased handler: runs the user function and encodes its value when a reply is wanted.
pub(crate) type HandlerFn<A> =
    dyn Fn(&mut A, &mut Ctx<'_, A>, Message<'_>) -> HandlerResult<Option<Vec<u8>>>;

/// The named handlers of one agent kind.
pub struct Handlers<A: Agent> {
    by_name: BTreeMap<String, Rc<HandlerFn<A>>>,
}

impl<A: Agent> Default for Handlers<A> {
    fn default() -> Self {
        Handlers {
            by_name: BTreeMap::new(),
        }
    }
}

impl<A: Agent> Handlers<A> {
    /// The handlers the kind registers in [`Agent::handlers`].
    pub fn of_kind() -> Self {
        let mut set = Handlers::default();
        A::handlers(&mut set);
        set
    }

    /// Registers `f` under `name`; its return value is the reply on REP sockets.
    pub fn on<R, F>(&mut self, name: impl Into<String>, f: F) -> &mut Self
    where
        R: Serialize,
        F: Fn(&mut A, &mut Ctx<'_, A>, Message<'_>) -> HandlerResult<R> + 'static,
    {
        let erased = move |agent: &mut A, ctx: &mut Ctx<'_, A>, msg: Message<'_>| {
            let (wants_reply, serializer) = (msg.wants_reply(), msg.serializer());
            let value = f(agent, ctx, msg)?;
            if !wants_reply {
                return Ok(None);
            }
            serializer
                .encode(&value)
                .map(Some)
                .map_err(HandlerError::from)
        };
        self.by_name.insert(name.into(), Rc::new(erased));
        self
    }

    /// Adds every handler of `other`, replacing those with the same name.
    pub fn extend(&mut self, other: Handlers<A>) {
        self.by_name.extend(other.by_name);
    }

    /// The handler registered under `name`.
    pub(crate) fn get(&self, name: &str) -> Option<Rc<HandlerFn<A>>> {
        self.by_name.get(name).cloned()
    }

    /// Whether a handler is registered under `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.by_name.keys().cloned().collect()
    }
}
