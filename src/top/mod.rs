//! `axon top`: a live terminal view of a deployment, in the spirit of
//! Erlang's `observer` and `htop`.
//!
//! One row per agent (name, kind, node, pid, state, restarts, uptime, CPU,
//! memory, messages in and out per second, errors per second, backlog), a
//! header with the deployment's totals and a sparkline of its message rate,
//! and a detail screen per agent (its sockets with their own counters, its
//! timers, attributes and last log lines). Keys sort, filter, select, open
//! the detail, and kill an agent (fault injection: `k`, then `y`).
//!
//! # Layout
//! - `source`: what is watched (one node's name server, or a cluster's
//!   nodes) and the one bounded async call everything is asked with.
//! - `poll`: the poller thread: rounds of `ps` and `stats` once per
//!   interval, the detail's calls, kills; never blocks the UI.
//! - `model`: rounds into rows, rates, totals, the rate history.
//! - `columns`: the list's columns: widths, what goes when narrow, cells, sorting.
//! - `app`: the UI's state and keys.
//! - `view`, `detail`: drawing the list and the detail screens.
//! - `term`: taking the terminal and giving it back (exit, panic, signals).

use std::sync::mpsc::TryRecvError;
use std::time::Duration;

use anyhow::Result;
use ratatui::crossterm::event::{self, Event};

mod app;
mod columns;
mod detail;
mod model;
mod poll;
mod source;
mod term;
mod view;

pub use source::Source;

/// How long the UI waits for a key before it looks at the poller's news.
const TICK: Duration = Duration::from_millis(100);

/// Runs `axon top` on `source`, refreshing every `interval`, until `q`, Ctrl-C or a signal.
pub fn run(source: Source, interval: Duration) -> Result<()> {
    let mut app = app::App::new(source.describe(), interval);
    let (commands, updates) = poll::spawn(source, interval)?;
    let mut screen = term::Screen::take()?;
    while !app.quitting() && !term::stop_requested() {
        loop {
            match updates.try_recv() {
                Ok(update) => app.on_update(update),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => anyhow::bail!("the poller stopped"),
            }
        }
        screen.terminal.draw(|frame| view::draw(frame, &app))?;
        match event::poll(TICK) {
            Ok(true) => {}
            Ok(false) => continue,
            // A signal arrived while waiting: the loop's condition looks at it.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        if let Event::Key(key) = event::read()? {
            if let Some(command) = app.on_key(key) {
                // The poller ends only with this loop: a failed send means it died, said below.
                if commands.send(command).is_err() {
                    anyhow::bail!("the poller stopped");
                }
            }
        }
    }
    Ok(())
}
