//! Clients of a control endpoint (an agent's or the name server's): the
//! async call used inside event loops, and [`Proxy`], the blocking handle
//! scripts and tests hold, with one typed method per control method.

pub mod call;
mod ops;
mod proxy;

pub use proxy::Proxy;
