//! Events on the terminal: the process's stderr, one line per event in the
//! one human form ([`LogRecord::line`]).

use std::io::Write as _;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::LogRecord;

/// The tracing layer printing events to stderr; which ones is its filter's business.
pub struct TerminalLayer {
    process: String,
}

impl TerminalLayer {
    /// Prints events as logged by `process` (an agent's name, `nameserver`, `up`).
    pub fn new(process: &str) -> TerminalLayer {
        TerminalLayer {
            process: process.to_owned(),
        }
    }
}

impl<S: Subscriber> Layer<S> for TerminalLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = LogRecord::of(&self.process, event).line();
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}
