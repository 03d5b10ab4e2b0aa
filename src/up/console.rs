//! What `axon up` writes on stdout, and how loud it is.
//!
//! On a terminal the status line rewrites itself in place; other lines
//! (lifecycle events, summaries) are printed above it. When stdout is not a
//! terminal, the status line is a plain line every [`PLAIN_PERIOD`]. Errors
//! go to stderr.

use std::io::Write;
use std::time::{Duration, Instant};

/// How often a status line is printed when stdout is not a terminal.
pub const PLAIN_PERIOD: Duration = Duration::from_secs(5);

/// How much `axon up` says (`-q`, default, `-v`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// Errors, the lifecycle events that matter, the final summary.
    Quiet,
    /// Also the start summary and the status line.
    Normal,
    /// Also every lifecycle event (spawns, stops), each agent's binds, and the log stream's INFO events.
    Verbose,
}

impl Verbosity {
    /// From the `-q` and `-v` flags (clap keeps them apart).
    pub fn from_flags(quiet: bool, verbose: bool) -> Verbosity {
        match (quiet, verbose) {
            (true, _) => Verbosity::Quiet,
            (false, true) => Verbosity::Verbose,
            (false, false) => Verbosity::Normal,
        }
    }
}

/// `axon up`'s stdout.
pub struct Console {
    term: console::Term,
    verbosity: Verbosity,
    /// The status line last drawn on the terminal, to draw again under a new line.
    drawn: Option<String>,
    /// When the last plain status line was printed (not a terminal).
    plain_at: Option<Instant>,
}

impl Console {
    /// The console on stdout at `verbosity`.
    pub fn new(verbosity: Verbosity) -> Console {
        Console {
            term: console::Term::stdout(),
            verbosity,
            drawn: None,
            plain_at: None,
        }
    }

    /// Whether stdout is a terminal (status line in place, progress bars).
    pub fn is_tty(&self) -> bool {
        self.term.is_term()
    }

    /// Whether lines of `level` are shown.
    pub fn shows(&self, level: Verbosity) -> bool {
        level <= self.verbosity
    }

    /// Prints `text` (one or more lines) if `level` is shown, above the status line.
    pub fn say(&mut self, level: Verbosity, text: &str) {
        if !self.shows(level) {
            return;
        }
        self.clear();
        let mut out = std::io::stdout().lock();
        // A closed stdout (the reader went away) must not stop the deployment.
        let _ = writeln!(out, "{text}").and_then(|()| out.flush());
        drop(out);
        if let Some(line) = self.drawn.take() {
            self.draw(&line);
        }
    }

    /// Prints an error on stderr, above the status line.
    pub fn error(&mut self, text: &str) {
        self.clear();
        eprintln!("axon: {text}");
        if let Some(line) = self.drawn.take() {
            self.draw(&line);
        }
    }

    /// Shows the status line: in place on a terminal; else a plain line every [`PLAIN_PERIOD`].
    pub fn status(&mut self, line: &str, now: Instant) {
        if !self.shows(Verbosity::Normal) {
            return;
        }
        if self.is_tty() {
            return self.draw(line);
        }
        if self.plain_at.is_some_and(|t| now < t + PLAIN_PERIOD) {
            return;
        }
        self.plain_at = Some(now);
        let mut out = std::io::stdout().lock();
        // See `say`: a closed stdout stops nothing.
        let _ = writeln!(out, "{line}").and_then(|()| out.flush());
    }

    /// Removes the status line from the terminal (before a progress bar, or at the end).
    pub fn clear(&mut self) {
        if self.drawn.is_some() {
            // A terminal that went away has nothing left to clear.
            let _ = self.term.clear_line();
        }
    }

    /// Forgets the status line for good (it was cleared, and is not drawn again).
    pub fn retire(&mut self) {
        self.clear();
        self.drawn = None;
    }

    fn draw(&mut self, line: &str) {
        let width = self.term.size_checked().map_or(80, |(_, w)| w as usize);
        // Room for the cursor and a `^C` the terminal echoes, so that the line never wraps.
        let fitted = console::truncate_str(line, width.saturating_sub(3), "…");
        let mut out = std::io::stdout().lock();
        // See `say`: a closed stdout stops nothing.
        let _ = write!(out, "\r\x1b[2K{fitted}").and_then(|()| out.flush());
        self.drawn = Some(line.to_owned());
    }
}
