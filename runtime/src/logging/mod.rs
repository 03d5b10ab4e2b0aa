//! Logging: where a process's tracing events go, and reading them back.
//! docs/logging.md tells the whole story.
//!
//! - `record`: [`LogRecord`], one event: its JSON line in the log file and its one human form.
//! - `file`: the node's log file (`<runtime dir>/axon.log`) every process appends to
//!   itself ([`FileLayer`], [`to_file`]), with its rotation; [`redirect_stderr`].
//! - `tail`: reading the file back and following it across rotations ([`Tail`]).
//! - `terminal`: events printed on stderr ([`TerminalLayer`]).
//! - `forward`: forwarding events to a logger agent ([`ForwardLayer`], [`connect`]).
//! - `filter`: `AXON_LOG` per process ([`filter_for`]), and [`Select`], what `axon logs` picks.
//!
//! The layers are installed by the program (the `axon` facade's
//! `logging` does it for agents, name servers and the CLI): this crate
//! never installs a subscriber.

mod file;
mod filter;
mod forward;
mod record;
mod tail;
mod terminal;

pub use file::{
    detached, redirect_stderr, rotated, to_file, writes_file, FileLayer, LogFile, DETACHED_ENV,
    LOG_FILE, ROTATE_AT, STDERR_FILE,
};
pub use filter::{filter_for, parse_level, parse_since, severity, Select};
pub use forward::{connect, disconnect, is_connected, layer, not_forwarded, ForwardLayer};
pub use record::LogRecord;
pub use tail::{read_all, Tail};
pub use terminal::TerminalLayer;
