//! The journal: what was configured on an agent through its control plane,
//! kept by its supervisor so that a restarted agent gets it back.
//!
//! A supervised agent reports every successful configuring call (bind,
//! connect, subscribe, set_handler, each, set_attr, and the calls that undo
//! them) to the name server before it answers the caller. Each entry has a
//! key; a later entry with the same key replaces the earlier one, and undoing
//! calls forget keys, so the journal stays as small as the configuration it
//! describes. Replaying the entries in order rebuilds that configuration.
//! One undoing call stays itself: an `unsubscribe` from a topic that the
//! socket's `connect` subscribed (its topic map), since replaying the connect
//! subscribes it again.
//!
//! Scripts (`load_script`, `set_method`) are keyed by the functions they
//! define (`script/double/1,on_msg/2`) and kept ahead of every other entry,
//! so that a replay loads them before the binds, handlers and timers that
//! name them; a load that defines every function of an earlier one replaces it.
//!
//! What the agent's own code sets up (in `on_init`, `before_loop`, handlers)
//! is not journaled: the new incarnation runs that code again.

use serde::{Deserialize, Serialize};

use crate::codec::Value;
use crate::net::{Address, SocketKind};

/// One configuring call, as it will be replayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// What the call configured, e.g. `socket/main`, `attr/greeting`, `timer/t1`.
    pub key: String,
    /// The control method to replay.
    pub method: String,
    /// Its arguments.
    pub args: Value,
}

/// A change to a journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Change {
    /// Add an entry, replacing one with the same key.
    Put(Entry),
    /// Forget entries: a key ending in `/` forgets every key it starts, any other key only itself.
    Forget {
        /// Keys and key prefixes.
        keys: Vec<String>,
    },
}

/// An agent's journal, oldest entry first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Journal {
    entries: Vec<Entry>,
}

impl Journal {
    /// Applies a change.
    pub fn apply(&mut self, change: Change) {
        match change {
            Change::Put(entry) if entry.method == "unsubscribe" => self.unsubscribe(entry),
            Change::Put(entry) if entry.key.starts_with(SCRIPT) => self.script(entry),
            Change::Put(entry) => {
                self.entries.retain(|e| e.key != entry.key);
                self.entries.push(entry);
            }
            Change::Forget { keys } => self
                .entries
                .retain(|e| !keys.iter().any(|k| forgets(k, &e.key))),
        }
    }

    /// Puts a script after the other scripts and before everything else,
    /// forgetting earlier scripts whose functions it all defines again.
    fn script(&mut self, entry: Entry) {
        let defines: Vec<&str> = script_functions(&entry.key).collect();
        self.entries.retain(|e| {
            e.key != entry.key
                && !(e.key.starts_with(SCRIPT)
                    && script_functions(&e.key).all(|f| defines.contains(&f)))
        });
        let at = self
            .entries
            .iter()
            .position(|e| !e.key.starts_with(SCRIPT))
            .unwrap_or(self.entries.len());
        self.entries.insert(at, entry);
    }

    /// Forgets the topic's `subscribe` and `set_handler` entries; keeps the
    /// unsubscribe, to be replayed after the connect, when that connect subscribed the topic.
    fn unsubscribe(&mut self, entry: Entry) {
        let handler = entry.key.replacen("topic/", "handler/", 1);
        self.entries
            .retain(|e| e.key != entry.key && e.key != handler);
        if self.connect_subscribes(&entry.args) {
            self.entries.push(entry);
        }
    }

    /// Whether the journaled connect of the socket that `args` name lists their topic in its topic map.
    fn connect_subscribes(&self, args: &Value) -> bool {
        let alias = field(args, "alias").and_then(Value::as_text);
        let topic = field(args, "topic").and_then(topic_bytes);
        let (Some(alias), Some(topic)) = (alias, topic) else {
            return false;
        };
        let socket = format!("socket/{alias}");
        self.entries
            .iter()
            .filter(|e| e.key == socket && e.method == "connect")
            .filter_map(|e| field(&e.args, "handler")?.as_map())
            .any(|topics| topics.iter().any(|(t, _)| topic_bytes(t) == Some(topic)))
    }

    /// The entries, in the order to replay them.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether nothing was configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// The key prefix of scripts.
const SCRIPT: &str = "script/";

/// The functions (`name/arity`) a script entry's key names.
fn script_functions(key: &str) -> impl Iterator<Item = &str> {
    key.strip_prefix(SCRIPT).unwrap_or_default().split(',')
}

fn forgets(key: &str, entry: &str) -> bool {
    match key.strip_suffix('/') {
        Some(_) => entry.starts_with(key),
        None => entry == key,
    }
}

/// Whether `method` changes configuration that a restart should restore.
pub fn configures(method: &str) -> bool {
    matches!(
        method,
        "bind"
            | "connect"
            | "close"
            | "close_all"
            | "subscribe"
            | "unsubscribe"
            | "set_handler"
            | "each"
            | "stop_timer"
            | "stop_all_timers"
            | "set_attr"
            | "load_script"
            | "set_method"
    )
}

/// The journal change a successful call makes; `None` when it configures nothing.
///
/// `args` must name the alias of a bind or connect (see [`with_field`]);
/// `result` is what the call answered (the timer alias, for `each`).
pub fn change(method: &str, args: &Value, result: &Value) -> Option<Change> {
    let text = |name: &str| {
        field(args, name)
            .and_then(Value::as_text)
            .map(str::to_owned)
    };
    // A topic is bytes on the wire; text is accepted too and keys the same journal entry.
    let topic = || {
        field(args, "topic")
            .and_then(topic_bytes)
            .map(crate::codec::hex::encode)
    };
    let put = |key: String, args: Value| {
        Some(Change::Put(Entry {
            key,
            method: method.to_owned(),
            args,
        }))
    };
    let forget = |keys: Vec<String>| Some(Change::Forget { keys });
    match method {
        "bind" | "connect" => put(format!("socket/{}", text("alias")?), args.clone()),
        "close" => {
            let a = text("alias")?;
            forget(vec![
                format!("socket/{a}"),
                format!("topic/{a}/"),
                format!("handler/{a}"),
                format!("handler/{a}/"),
            ])
        }
        "close_all" => forget(vec!["socket/".into(), "topic/".into(), "handler/".into()]),
        "subscribe" => put(
            format!("topic/{}/{}", text("alias")?, topic()?),
            args.clone(),
        ),
        // Kept or dropped by `Journal::apply`, which knows whether the connect brought the topic.
        "unsubscribe" => put(
            format!("topic/{}/{}", text("alias")?, topic()?),
            args.clone(),
        ),
        "set_handler" => {
            let a = text("alias")?;
            let key = match topic() {
                Some(t) => format!("handler/{a}/{t}"),
                None => format!("handler/{a}"),
            };
            put(key, args.clone())
        }
        "each" => {
            let alias = result.as_text()?;
            put(
                format!("timer/{alias}"),
                with_field(args, "alias", alias.into()),
            )
        }
        "stop_timer" => forget(vec![format!("timer/{}", text("alias")?)]),
        "stop_all_timers" => forget(vec!["timer/".into()]),
        "set_attr" => put(format!("attr/{}", text("name")?), args.clone()),
        // The answer lists the functions defined: `["double/1", ...]`.
        "load_script" | "set_method" => {
            let defined: Vec<&str> = result
                .as_array()?
                .iter()
                .filter_map(Value::as_text)
                .collect();
            put(format!("{SCRIPT}{}", defined.join(",")), args.clone())
        }
        _ => None,
    }
}

/// A topic's bytes: a byte string, or text.
fn topic_bytes(topic: &Value) -> Option<&[u8]> {
    match topic {
        Value::Bytes(t) => Some(t),
        Value::Text(t) => Some(t.as_bytes()),
        _ => None,
    }
}

/// The kind of socket a bind or connect with these arguments creates, to name it before it exists.
pub fn socket_kind(method: &str, args: &Value) -> Option<SocketKind> {
    match method {
        "bind" => field(args, "kind")?.as_text()?.parse().ok(),
        "connect" => {
            let address: Address = field(args, "address")?.deserialized().ok()?;
            Some(address.kind.twin())
        }
        _ => None,
    }
}

/// The field `name` of a map value.
pub fn field<'a>(map: &'a Value, name: &str) -> Option<&'a Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| k.as_text() == Some(name))
        .map(|(_, v)| v)
}

/// `map` with field `name` set to `value` (a non-map becomes a map of that one field).
pub fn with_field(map: &Value, name: &str, value: Value) -> Value {
    let mut fields = map.as_map().cloned().unwrap_or_default();
    fields.retain(|(k, _)| k.as_text() != Some(name));
    fields.push((Value::Text(name.to_owned()), value));
    Value::Map(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(fields: &[(&str, Value)]) -> Value {
        Value::Map(
            fields
                .iter()
                .map(|(k, v)| (Value::Text((*k).into()), v.clone()))
                .collect(),
        )
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn apply(j: &mut Journal, method: &str, args: Value, result: Value) {
        if let Some(c) = change(method, &args, &result) {
            j.apply(c);
        }
    }

    fn keys(j: &Journal) -> Vec<&str> {
        j.entries().iter().map(|e| e.key.as_str()).collect()
    }

    #[test]
    fn later_calls_replace_earlier_ones_and_undoing_calls_forget() {
        let mut j = Journal::default();
        let bind = map(&[("alias", text("main")), ("kind", text("PULL"))]);
        apply(&mut j, "bind", bind.clone(), Value::Null);
        apply(
            &mut j,
            "set_attr",
            map(&[("name", text("x")), ("value", Value::Integer(1.into()))]),
            Value::Null,
        );
        apply(
            &mut j,
            "set_attr",
            map(&[("name", text("x")), ("value", Value::Integer(2.into()))]),
            Value::Null,
        );
        apply(
            &mut j,
            "each",
            map(&[("ms", Value::Integer(10.into()))]),
            text("t1"),
        );
        assert_eq!(keys(&j), ["socket/main", "attr/x", "timer/t1"]);
        assert_eq!(
            field(&j.entries()[1].args, "value"),
            Some(&Value::Integer(2.into()))
        );
        assert_eq!(field(&j.entries()[2].args, "alias"), Some(&text("t1")));
        apply(
            &mut j,
            "set_handler",
            map(&[("alias", text("main")), ("handler", text("h"))]),
            Value::Null,
        );
        apply(
            &mut j,
            "close",
            map(&[("alias", text("main"))]),
            Value::Null,
        );
        assert_eq!(keys(&j), ["attr/x", "timer/t1"]);
        apply(&mut j, "stop_all_timers", Value::Null, Value::Null);
        assert_eq!(keys(&j), ["attr/x"]);
    }

    #[test]
    fn topics_are_keyed_by_their_bytes_and_prefixes_do_not_overreach() {
        let mut j = Journal::default();
        let sub = |alias: &str, topic: &[u8]| {
            map(&[
                ("alias", text(alias)),
                ("topic", Value::Bytes(topic.to_vec())),
            ])
        };
        apply(&mut j, "subscribe", sub("s", b"a/b"), Value::Null);
        apply(&mut j, "subscribe", sub("s2", b"x"), Value::Null);
        apply(
            &mut j,
            "bind",
            map(&[("alias", text("s2")), ("kind", text("SUB"))]),
            Value::Null,
        );
        apply(&mut j, "unsubscribe", sub("s", b"a/b"), Value::Null);
        assert_eq!(keys(&j), ["topic/s2/78", "socket/s2"]);
        apply(&mut j, "close", map(&[("alias", text("s"))]), Value::Null);
        assert_eq!(keys(&j), ["topic/s2/78", "socket/s2"]);
    }

    #[test]
    fn an_unsubscribe_from_a_topic_of_the_connect_is_replayed_after_it() {
        let mut j = Journal::default();
        let topics = Value::Map(vec![
            (Value::Bytes(b"odd".to_vec()), text("collect")),
            (Value::Bytes(b"even".to_vec()), text("collect")),
        ]);
        let connect = map(&[("alias", text("s")), ("handler", topics)]);
        apply(&mut j, "connect", connect, Value::Null);
        let topic = |t: &str| map(&[("alias", text("s")), ("topic", text(t))]);
        let with_handler = |t: &str| {
            map(&[
                ("alias", text("s")),
                ("topic", text(t)),
                ("handler", text("h")),
            ])
        };
        apply(&mut j, "set_handler", with_handler("odd"), Value::Null);
        apply(&mut j, "subscribe", topic("extra"), Value::Null);

        // From the connect's map: the unsubscribe stays, after the connect; its handler entry goes.
        apply(&mut j, "unsubscribe", topic("odd"), Value::Null);
        assert_eq!(
            keys(&j),
            ["socket/s", "topic/s/6578747261", "topic/s/6f6464"]
        );
        assert_eq!(j.entries()[2].method, "unsubscribe");
        // Subscribed on its own: forgetting the subscribe is enough.
        apply(&mut j, "unsubscribe", topic("extra"), Value::Null);
        assert_eq!(keys(&j), ["socket/s", "topic/s/6f6464"]);
        // Subscribing again replaces the unsubscribe.
        apply(&mut j, "subscribe", with_handler("odd"), Value::Null);
        assert_eq!(keys(&j), ["socket/s", "topic/s/6f6464"]);
        assert_eq!(j.entries()[1].method, "subscribe");
        // Closing the socket forgets all of it.
        apply(&mut j, "unsubscribe", topic("odd"), Value::Null);
        apply(&mut j, "close", map(&[("alias", text("s"))]), Value::Null);
        assert!(j.is_empty(), "{:?}", keys(&j));
    }

    #[test]
    fn scripts_are_replayed_first_and_a_reload_replaces_what_it_redefines() {
        let mut j = Journal::default();
        let defined = |fns: &[&str]| Value::Array(fns.iter().map(|f| text(f)).collect());
        let source = |s: &str| map(&[("source", text(s))]);
        apply(
            &mut j,
            "bind",
            map(&[("alias", text("in")), ("kind", text("PULL"))]),
            Value::Null,
        );
        apply(
            &mut j,
            "load_script",
            source("v1"),
            defined(&["a/1", "b/0"]),
        );
        apply(&mut j, "set_method", source("c"), defined(&["c/1"]));
        assert_eq!(keys(&j), ["script/a/1,b/0", "script/c/1", "socket/in"]);
        // Redefines only a/1: the first load stays (for b/0), the new one goes after it.
        apply(&mut j, "set_method", source("a2"), defined(&["a/1"]));
        assert_eq!(
            keys(&j),
            ["script/a/1,b/0", "script/c/1", "script/a/1", "socket/in"]
        );
        // Redefines everything of the first load: it is forgotten.
        apply(
            &mut j,
            "load_script",
            source("v2"),
            defined(&["a/1", "b/0", "d/2"]),
        );
        assert_eq!(keys(&j), ["script/c/1", "script/a/1,b/0,d/2", "socket/in"]);
        assert_eq!(field(&j.entries()[1].args, "source"), Some(&text("v2")));
        // A replay journals the same entries in the same order: nothing moves.
        let before = j.clone();
        for e in before.entries().to_vec() {
            j.apply(Change::Put(e));
        }
        assert_eq!(j, before);
    }

    #[test]
    fn calls_that_configure_nothing_leave_no_entry() {
        for method in ["send", "ping", "get_attr", "execute", "after", "exec"] {
            assert!(!configures(method));
            assert_eq!(
                change(method, &map(&[("alias", text("a"))]), &Value::Null),
                None
            );
        }
    }

    #[test]
    fn a_socket_is_named_before_it_exists() {
        let bind = map(&[("kind", text("PUB"))]);
        assert_eq!(socket_kind("bind", &bind), Some(SocketKind::Pub));
        assert_eq!(socket_kind("bind", &map(&[("kind", text("NOPE"))])), None);
        let with = with_field(&bind, "alias", text("pub-0"));
        assert_eq!(field(&with, "alias"), Some(&text("pub-0")));
        assert_eq!(field(&with, "kind"), Some(&text("PUB")));
    }
}
