//! While the deployment runs: the supervisor's lifecycle events printed as
//! they come, and the status line once a second.

use std::time::{Duration, Instant};

use axon::lifecycle::{EventsPage, Lifecycle};
use axon::NameServer;

use super::console::Console;
use super::events::{self, Feed};
use super::status::{self, Fleet};

/// How often `up` asks for new lifecycle events.
const EVENTS_PERIOD: Duration = Duration::from_millis(250);

/// How often the status line is refreshed.
const STATUS_PERIOD: Duration = Duration::from_secs(1);

/// What `up` shows while the deployment runs.
pub struct Watch {
    pub console: Console,
    feed: Feed,
    pub fleet: Fleet,
    /// When the deployment started.
    pub since: Instant,
    events_at: Option<Instant>,
    status_at: Option<Instant>,
}

impl Watch {
    /// Watches from now on, showing on `console`; the status text from `fleet`'s source.
    pub fn new(console: Console, fleet: Fleet, since: Instant) -> Watch {
        Watch {
            console,
            feed: Feed::default(),
            fleet,
            since,
            events_at: None,
            status_at: None,
        }
    }

    /// Prints new events, and the status line when it is due.
    pub fn tick(&mut self, ns: &NameServer, now: Instant) {
        if self.events_at.is_none_or(|t| now >= t + EVENTS_PERIOD) {
            self.events_at = Some(now);
            if !self.show_events(ns) {
                // No answer: the supervisor may be dead; the heart looks first.
                return;
            }
        }
        if self.status_at.is_none_or(|t| now >= t + STATUS_PERIOD) {
            self.status_at = Some(now);
            if let Some(snapshot) = self.fleet.sample(ns, now) {
                let line = status::line(snapshot, now.saturating_duration_since(self.since));
                self.console.status(&line, now);
            }
        }
    }

    /// Prints the events the supervisor recorded since the last call; false if it did not answer.
    pub fn show_events(&mut self, ns: &NameServer) -> bool {
        let Some(events) = self.feed.poll(ns) else {
            return false;
        };
        self.show(events);
        true
    }

    /// Prints the events of the supervisor's last word that were not printed yet.
    pub fn show_last(&mut self, last: EventsPage) {
        let events = self.feed.rest(last);
        self.show(events);
    }

    fn show(&mut self, events: Vec<Lifecycle>) {
        for event in events {
            self.note(&event);
            let line = events::line(&event);
            self.console.say(line.level, &line.text);
        }
    }

    /// Keeps the restart count current between samples.
    fn note(&mut self, event: &Lifecycle) {
        if let Lifecycle::Restarted {
            agent, restarts, ..
        } = event
        {
            self.fleet.restarted(agent, *restarts);
        }
    }
}
