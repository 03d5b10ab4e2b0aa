//! Naming a socket: by alias, or by a [`SocketRef`] resolved once.

use std::rc::Rc;

use crate::error::Error;

/// One socket of an agent, resolved once from its alias (`Ctx::socket`)
/// so that a hot loop sends without looking the alias up for every message.
///
/// It names that socket only: once the socket is closed, operations on it
/// fail with [`Error::UnknownAlias`], also when a new socket has taken the alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRef {
    pub(crate) index: usize,
    pub(crate) generation: u64,
    pub(crate) alias: Rc<str>,
}

impl SocketRef {
    /// The alias the socket had when it was resolved.
    pub fn alias(&self) -> &str {
        &self.alias
    }
}

/// Which socket an operation is on: an alias (`"out"`, `&String`) or a [`SocketRef`].
#[derive(Debug, Clone, Copy)]
pub enum SocketKey<'a> {
    /// Looked up by alias on every call.
    Alias(&'a str),
    /// Resolved before.
    Ref(&'a SocketRef),
}

impl<'a> From<&'a str> for SocketKey<'a> {
    fn from(alias: &'a str) -> Self {
        SocketKey::Alias(alias)
    }
}

impl<'a> From<&'a String> for SocketKey<'a> {
    fn from(alias: &'a String) -> Self {
        SocketKey::Alias(alias)
    }
}

impl<'a> From<&'a SocketRef> for SocketKey<'a> {
    fn from(socket: &'a SocketRef) -> Self {
        SocketKey::Ref(socket)
    }
}

/// The error for a socket key that names no open socket.
#[cold]
pub(crate) fn unknown_socket(key: SocketKey<'_>) -> Error {
    Error::UnknownAlias(match key {
        SocketKey::Alias(alias) => alias.to_owned(),
        SocketKey::Ref(r) => r.alias.to_string(),
    })
}
