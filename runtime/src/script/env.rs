//! What a script reaches of its agent: the [`ScriptEnv`] the host lends for
//! the length of one call, and the native functions that use it.
//!
//! rhai's native functions must be `'static` closures, while the agent, its
//! sockets and timers are borrowed by the call. The closures therefore share
//! one [`Slot`] that holds a pointer to the call's environment while (and
//! only while) [`lend`] runs the call.

use std::cell::Cell;
use std::ptr::NonNull;
use std::rc::Rc;

use rhai::{Blob, Dynamic, Engine, EvalAltResult, ImmutableString, INT};

use super::convert::{to_dynamic, to_value};
use crate::codec::Value;

/// What a native function may ask of the agent it runs in. Every effect is
/// carried out at once, in the order the script asks for it.
pub(crate) trait ScriptEnv {
    /// The attribute `name`: a typed field, a free-form one, or `None`.
    fn get_attr(&self, name: &str) -> Option<Value>;
    /// Sets the attribute `name` (typed fields keep their types).
    fn set_attr(&mut self, name: &str, value: Value) -> Result<(), String>;
    /// Sends `value` on socket `alias`, under `topic` on a PUB socket.
    fn send(&mut self, alias: &str, topic: Option<&[u8]>, value: &Value) -> Result<(), String>;
    /// Sends a request whose reply runs the handler (script function) `handler`; its id.
    fn request(&mut self, alias: &str, value: &Value, handler: &str) -> Result<u64, String>;
    /// Starts a timer running `handler` after `ms`, every `ms` when `periodic`; its alias.
    fn timer(&mut self, ms: u64, handler: &str, periodic: bool) -> Result<String, String>;
    /// Stops the timer `alias`; false when there was none.
    fn stop_timer(&mut self, alias: &str) -> bool;
    /// The agent's name, for log lines.
    fn name(&self) -> &str;
}

/// What a native function returns.
type Native<T> = Result<T, Box<EvalAltResult>>;

/// Where the native functions find the environment of the call that runs.
pub(super) type Slot = Rc<Cell<Option<NonNull<dyn ScriptEnv>>>>;

/// Runs `f` with `env` reachable through `slot`; the slot is empty again when `f` returns or unwinds.
pub(super) fn lend<R>(slot: &Slot, env: &mut dyn ScriptEnv, f: impl FnOnce() -> R) -> R {
    struct Restore<'s>(&'s Slot, Option<NonNull<dyn ScriptEnv>>);
    impl Drop for Restore<'_> {
        fn drop(&mut self) {
            self.0.set(self.1);
        }
    }
    let env: NonNull<dyn ScriptEnv + '_> = NonNull::from(env);
    // SAFETY: only the lifetime is erased. The pointer is readable through
    // the slot only until `Restore` puts the previous value back, which
    // happens before `env`'s borrow ends (also on unwind).
    let env: NonNull<dyn ScriptEnv + 'static> = unsafe { std::mem::transmute(env) };
    let _restore = Restore(slot, slot.replace(Some(env)));
    f()
}

/// Runs `f` on the environment of the call in progress.
fn with_env<R>(slot: &Slot, f: impl FnOnce(&mut dyn ScriptEnv) -> R) -> Native<R> {
    let Some(mut env) = slot.get() else {
        return Err("this function works only inside an agent".into());
    };
    // SAFETY: the slot holds a pointer only while `lend` borrows the
    // environment mutably for the call, and native functions run one at a
    // time on this thread and never call back into a script, so this is
    // the only reference to it while `f` runs.
    Ok(f(unsafe { env.as_mut() }))
}

/// Registers the functions a script sees (docs/scripting.md).
pub(super) fn register(engine: &mut Engine, slot: &Slot) {
    let s = slot.clone();
    engine.register_fn("get_attr", move |name: &str| -> Native<Dynamic> {
        with_env(&s, |env| {
            env.get_attr(name).map_or(Dynamic::UNIT, to_dynamic)
        })
    });
    let s = slot.clone();
    engine.register_fn(
        "set_attr",
        move |name: &str, value: Dynamic| -> Native<()> {
            let value = to_value(value)?;
            with_env(&s, |env| env.set_attr(name, value))?.map_err(Into::into)
        },
    );
    let s = slot.clone();
    engine.register_fn("send", move |alias: &str, value: Dynamic| -> Native<()> {
        let value = to_value(value)?;
        with_env(&s, |env| env.send(alias, None, &value))?.map_err(Into::into)
    });
    register_publish(engine, slot);
    let s = slot.clone();
    engine.register_fn(
        "request",
        move |alias: &str, value: Dynamic, handler: &str| -> Native<INT> {
            let value = to_value(value)?;
            let id = with_env(&s, |env| env.request(alias, &value, handler))??;
            Ok(id as INT)
        },
    );
    for (name, periodic) in [("each", true), ("after", false)] {
        let s = slot.clone();
        engine.register_fn(
            name,
            move |ms: INT, handler: &str| -> Native<ImmutableString> {
                let ms = u64::try_from(ms).map_err(|_| format!("{ms} ms is not a delay"))?;
                let alias = with_env(&s, |env| env.timer(ms, handler, periodic))??;
                Ok(ImmutableString::from(alias))
            },
        );
    }
    let s = slot.clone();
    engine.register_fn("stop_timer", move |alias: &str| -> Native<bool> {
        with_env(&s, |env| env.stop_timer(alias))
    });
    let s = slot.clone();
    engine.register_fn("log", move |level: &str, text: &str| -> Native<()> {
        with_env(&s, |env| log(env.name(), level, text))?
    });
}

/// `publish(alias, topic, value)`, the topic as text or as a blob.
fn register_publish(engine: &mut Engine, slot: &Slot) {
    let s = slot.clone();
    engine.register_fn(
        "publish",
        move |alias: &str, topic: &str, value: Dynamic| -> Native<()> {
            let value = to_value(value)?;
            with_env(&s, |env| env.send(alias, Some(topic.as_bytes()), &value))?.map_err(Into::into)
        },
    );
    let s = slot.clone();
    engine.register_fn(
        "publish",
        move |alias: &str, topic: Blob, value: Dynamic| -> Native<()> {
            let value = to_value(value)?;
            with_env(&s, |env| env.send(alias, Some(&topic), &value))?.map_err(Into::into)
        },
    );
}

/// A script's log line, at `level`, as a structured event of its agent.
fn log(agent: &str, level: &str, text: &str) -> Native<()> {
    match level {
        "error" => tracing::error!(agent, script = true, "{text}"),
        "warn" | "warning" => tracing::warn!(agent, script = true, "{text}"),
        "info" => tracing::info!(agent, script = true, "{text}"),
        "debug" => tracing::debug!(agent, script = true, "{text}"),
        "trace" => tracing::trace!(agent, script = true, "{text}"),
        other => {
            let why = format!("log level {other:?} is none of error, warn, info, debug, trace");
            return Err(why.into());
        }
    }
    Ok(())
}
