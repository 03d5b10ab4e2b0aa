//! The UI's state and what each key does: which screen is open, the sort,
//! the filter, the selection (kept by name while agents come and go), and
//! the questions asked in the status bar. No terminal here: keys come in,
//! [`Effect`]s for the poller go out; unit-tested below.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::columns::Column;
use super::model::{Model, Row};
use super::poll::{Command, Detail, Update};

/// How long a notice stays in the status bar.
const NOTICE_FOR: Duration = Duration::from_secs(5);

/// The screen shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// Every agent, one row each.
    List,
    /// The selected agent in detail.
    Detail,
}

/// What the status bar is asking, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Nothing: it shows the keys.
    None,
    /// Typing a filter.
    Filter,
    /// Whether to SIGKILL this agent (its name and pid).
    Kill(String, Option<u32>),
}

/// The UI's state.
#[derive(Debug)]
pub struct App {
    /// What the poller brought.
    pub model: Model,
    /// The open screen.
    pub screen: Screen,
    /// The question in the status bar.
    pub prompt: Prompt,
    /// The column rows sort by.
    pub sort: Column,
    /// Whether the sort is descending.
    pub reverse: bool,
    /// Only agents whose name contains this are listed.
    pub filter: String,
    /// The selected agent, by name.
    pub selected: Option<String>,
    /// The details of the agent in focus, when the poller brought them.
    pub detail: Option<Detail>,
    /// What the source is, for the header.
    pub source: String,
    /// The poll interval, for the header.
    pub interval: Duration,
    notice: Option<(String, Instant)>,
    quit: bool,
}

impl App {
    /// A new UI watching `source`.
    pub fn new(source: String, interval: Duration) -> App {
        App {
            model: Model::default(),
            screen: Screen::List,
            prompt: Prompt::None,
            sort: Column::Name,
            reverse: false,
            filter: String::new(),
            selected: None,
            detail: None,
            source,
            interval,
            notice: None,
            quit: false,
        }
    }

    /// Whether the user asked to quit.
    pub fn quitting(&self) -> bool {
        self.quit
    }

    /// The notice to show, if one is recent.
    pub fn notice(&self) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| at.elapsed() < NOTICE_FOR)
            .map(|(n, _)| n.as_str())
    }

    /// Takes in what the poller sent.
    pub fn on_update(&mut self, update: Update) {
        match update {
            Update::Round(sample) => {
                self.model.update(sample);
                self.keep_selection();
            }
            Update::Detail(d) if Some(&d.name) == self.selected.as_ref() => self.detail = Some(d),
            Update::Detail(_) => {}
            Update::Notice(n) => self.notice = Some((n, Instant::now())),
        }
    }

    /// The listed rows: filtered by name and sorted.
    pub fn rows(&self) -> Vec<&Row> {
        let mut rows: Vec<&Row> = self
            .model
            .rows()
            .iter()
            .filter(|r| r.name.contains(self.filter.as_str()))
            .collect();
        rows.sort_by(|a, b| match self.reverse {
            false => self.sort.compare(a, b),
            true => self.sort.compare(b, a),
        });
        rows
    }

    /// The position of the selected agent among [`App::rows`].
    pub fn selected_index(&self) -> Option<usize> {
        let name = self.selected.as_deref()?;
        self.rows().iter().position(|r| r.name == name)
    }

    /// Keeps the selection on its agent; when that one is gone (or filtered out), on the first row.
    fn keep_selection(&mut self) {
        if self.screen == Screen::Detail {
            // The detail stays on its agent even while it is gone for a moment.
            return;
        }
        if self.selected_index().is_none() {
            self.selected = self.rows().first().map(|r| r.name.clone());
        }
    }

    /// Handles one key; what the poller must do about it.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Command> {
        if key.kind == KeyEventKind::Release {
            return None;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return None;
        }
        match self.prompt.clone() {
            Prompt::Filter => {
                self.on_filter_key(key.code);
                None
            }
            Prompt::Kill(name, _) => self.on_confirm_key(key.code, name),
            Prompt::None => match self.screen {
                Screen::List => self.on_list_key(key.code),
                Screen::Detail => self.on_detail_key(key.code),
            },
        }
    }

    fn on_list_key(&mut self, code: KeyCode) -> Option<Command> {
        match code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Up => self.step(-1),
            KeyCode::Down => self.step(1),
            KeyCode::PageUp => self.step(-10),
            KeyCode::PageDown => self.step(10),
            KeyCode::Home => self.step(isize::MIN / 2),
            KeyCode::End => self.step(isize::MAX / 2),
            KeyCode::Char('<') => self.sort = self.sort.moved(-1),
            KeyCode::Char('>') => self.sort = self.sort.moved(1),
            KeyCode::Char('r') => self.reverse = !self.reverse,
            KeyCode::Char('/') => self.prompt = Prompt::Filter,
            KeyCode::Esc => {
                self.filter.clear();
                self.keep_selection();
            }
            KeyCode::Char('k') => self.ask_kill(),
            KeyCode::Enter => return self.open_detail(),
            _ => {}
        }
        None
    }

    fn on_detail_key(&mut self, code: KeyCode) -> Option<Command> {
        match code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Esc => {
                self.screen = Screen::List;
                self.detail = None;
                self.keep_selection();
                return Some(Command::Focus(None));
            }
            KeyCode::Char('k') => self.ask_kill(),
            _ => {}
        }
        None
    }

    fn on_filter_key(&mut self, code: KeyCode) {
        match code {
            KeyCode::Char(c) => self.filter.push(c),
            KeyCode::Backspace => {
                self.filter.pop();
            }
            KeyCode::Enter => self.prompt = Prompt::None,
            KeyCode::Esc => {
                self.filter.clear();
                self.prompt = Prompt::None;
            }
            _ => {}
        }
        self.keep_selection();
    }

    fn on_confirm_key(&mut self, code: KeyCode, name: String) -> Option<Command> {
        self.prompt = Prompt::None;
        match code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Some(Command::Kill(name)),
            _ => {
                self.notice = Some((format!("{name} not killed"), Instant::now()));
                None
            }
        }
    }

    /// Moves the selection `by` rows, within the list.
    fn step(&mut self, by: isize) {
        let rows = self.rows();
        if rows.is_empty() {
            return;
        }
        let at = self.selected_index().map_or(0, |i| i as isize);
        let to = at.saturating_add(by).clamp(0, rows.len() as isize - 1) as usize;
        self.selected = Some(rows[to].name.clone());
    }

    fn ask_kill(&mut self) {
        let Some(name) = self.selected.clone() else {
            return;
        };
        let pid = self.model.row_of(&name).and_then(|r| r.pid);
        self.prompt = Prompt::Kill(name, pid);
    }

    fn open_detail(&mut self) -> Option<Command> {
        let name = self.selected.clone()?;
        self.screen = Screen::Detail;
        self.detail = None;
        Some(Command::Focus(Some(name)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::model::{Sample, Seen};
    use axon::AgentStatus;

    fn seen(name: &str, pid: u32) -> Seen {
        Seen {
            node: "n".into(),
            status: AgentStatus {
                name: name.into(),
                kind: "echo".into(),
                pid: Some(pid),
                state: "running".into(),
                restart: "permanent".into(),
                restarts: 0,
                uptime_ms: 1,
                cpu: None,
                rss: None,
                last_exit: None,
                group: Vec::new(),
                stats: None,
            },
            stats: None,
        }
    }

    fn app_with(names: &[(&str, u32)]) -> App {
        let mut app = App::new("test".into(), Duration::from_secs(1));
        app.on_update(round(names));
        app
    }

    fn round(names: &[(&str, u32)]) -> Update {
        Update::Round(Sample {
            at: Instant::now(),
            agents: names.iter().map(|(n, p)| seen(n, *p)).collect(),
            unreachable: Vec::new(),
        })
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn names(app: &App) -> Vec<&str> {
        app.rows().iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn sorting_by_another_column_and_reversing_reorders_the_rows() {
        let mut app = app_with(&[("b", 1), ("a", 3), ("c", 2)]);
        assert_eq!(names(&app), ["a", "b", "c"]);
        for _ in 0..3 {
            app.on_key(key(KeyCode::Char('>')));
        }
        assert_eq!(app.sort, Column::Pid);
        assert_eq!(names(&app), ["b", "c", "a"]);
        app.on_key(key(KeyCode::Char('r')));
        assert_eq!(names(&app), ["a", "c", "b"]);
    }

    #[test]
    fn the_filter_hides_rows_and_escape_clears_it() {
        let mut app = app_with(&[("trader-a", 1), ("trader-b", 2), ("market", 3)]);
        app.on_key(key(KeyCode::Char('/')));
        for c in "trad".chars() {
            app.on_key(key(KeyCode::Char(c)));
        }
        assert_eq!(names(&app), ["trader-a", "trader-b"]);
        app.on_key(key(KeyCode::Enter));
        assert_eq!(app.prompt, Prompt::None);
        assert_eq!(names(&app).len(), 2);
        app.on_key(key(KeyCode::Esc));
        assert_eq!(names(&app).len(), 3);
    }

    #[test]
    fn the_selection_follows_its_agent_by_name_as_agents_come_and_go() {
        let mut app = app_with(&[("a", 1), ("b", 2), ("c", 3)]);
        assert_eq!(app.selected.as_deref(), Some("a"));
        app.on_key(key(KeyCode::Down));
        app.on_key(key(KeyCode::Down));
        assert_eq!(app.selected.as_deref(), Some("c"));
        // A new agent sorts before it: the selection stays on "c".
        app.on_update(round(&[("a", 1), ("aa", 9), ("b", 2), ("c", 3)]));
        assert_eq!(app.selected.as_deref(), Some("c"));
        assert_eq!(app.selected_index(), Some(3));
        // "c" goes: the first row is selected.
        app.on_update(round(&[("a", 1), ("b", 2)]));
        assert_eq!(app.selected.as_deref(), Some("a"));
    }

    #[test]
    fn kill_asks_first_and_only_yes_kills() {
        let mut app = app_with(&[("a", 1)]);
        assert_eq!(app.on_key(key(KeyCode::Char('k'))), None);
        assert_eq!(app.prompt, Prompt::Kill("a".into(), Some(1)));
        assert_eq!(app.on_key(key(KeyCode::Char('n'))), None);
        assert_eq!(app.notice(), Some("a not killed"));
        app.on_key(key(KeyCode::Char('k')));
        assert_eq!(
            app.on_key(key(KeyCode::Char('y'))),
            Some(Command::Kill("a".into()))
        );
        assert_eq!(app.prompt, Prompt::None);
    }

    #[test]
    fn enter_opens_the_detail_escape_closes_it_and_q_or_ctrl_c_quit() {
        let mut app = app_with(&[("a", 1)]);
        let open = app.on_key(key(KeyCode::Enter));
        assert_eq!(open, Some(Command::Focus(Some("a".into()))));
        assert_eq!(app.screen, Screen::Detail);
        assert_eq!(app.on_key(key(KeyCode::Esc)), Some(Command::Focus(None)));
        assert_eq!(app.screen, Screen::List);
        assert!(!app.quitting());
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(app.quitting());
        let mut other = app_with(&[]);
        other.on_key(key(KeyCode::Char('q')));
        assert!(other.quitting());
    }
}
