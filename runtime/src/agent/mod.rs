//! What agent authors touch: the [`Agent`] trait, its named [`Handlers`],
//! [`Ctx`] (what a handler can do besides changing its agent's state), the
//! [`Message`] a handler receives, attributes, and [`BasicAgent`], the plain
//! kind whose logic is free functions.
//!
//! - `handlers`: named handlers and how a handler fails.
//! - `ctx`: sending, binding, timers, requests from inside a handler.
//! - `message`: a received message, decoded on demand.
//! - [`attrs`]: exposing an agent's serde fields as attributes.
//! - `basic`: the plain kind `"agent"`.

pub mod attrs;
mod basic;
mod ctx;
mod handlers;
mod message;

pub use basic::BasicAgent;
pub use ctx::Ctx;
pub(crate) use ctx::{CodeFn, Hosting};
pub(crate) use handlers::HandlerFn;
pub use handlers::{HandlerError, HandlerErrorKind, HandlerResult, Handlers};
pub use message::Message;

use crate::codec::Value;
use crate::launch::AgentSpec;

/// An agent's logic, hosted by one actix actor in its own process.
///
/// ```ignore
/// #[derive(Default)]
/// struct Greeter { greeted: u64 }
///
/// impl Agent for Greeter {
///     const KIND: &'static str = "greeter";
///     fn create(_: &AgentSpec) -> HandlerResult<Self> { Ok(Self::default()) }
///     fn handlers(h: &mut Handlers<Self>) {
///         h.on("greet", |me: &mut Self, _ctx: &mut Ctx<Self>, msg: Message| {
///             me.greeted += 1;
///             Ok(format!("hello, {}", msg.decode::<String>()?))
///         });
///     }
/// }
/// ```
pub trait Agent: Sized + Unpin + 'static {
    /// The kind's name, used to spawn it by name.
    const KIND: &'static str;

    /// Builds the agent when its process starts.
    fn create(spec: &AgentSpec) -> HandlerResult<Self>;

    /// Registers the kind's named handlers.
    fn handlers(_set: &mut Handlers<Self>) {}

    /// Runs once, before the agent registers with the name server (osBrain's `on_init`).
    fn on_init(&mut self, _ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        Ok(())
    }

    /// Runs once, after registration, right before the agent starts serving.
    fn before_loop(&mut self, _ctx: &mut Ctx<'_, Self>) -> HandlerResult {
        Ok(())
    }

    /// Runs once when the agent is asked to stop, before its sockets close.
    fn on_stop(&mut self, _ctx: &mut Ctx<'_, Self>) {}

    /// The attribute `name`, as read by the `get_attr` control method.
    fn get_attr(&self, _name: &str) -> Option<Value> {
        None
    }

    /// Sets the attribute `name` (the `set_attr` control method).
    fn set_attr(&mut self, name: &str, _value: Value) -> HandlerResult {
        Err(HandlerError::msg(format_args!(
            "{} agents have no attribute {name:?}",
            Self::KIND
        )))
    }
}
