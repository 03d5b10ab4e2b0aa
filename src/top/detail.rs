//! The detail screen of one agent: its `ps` line, its sockets with their own
//! counters (the `sockets` part of its `stats`), its timers, its attributes,
//! and its last log lines from the deployment's logger.

use axon::SocketStats;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Table, Wrap};
use ratatui::Frame;

use super::app::App;
use super::columns::Column;
use super::model::Row;
use super::poll::Logs;

/// The socket table's columns: title and width (the endpoint takes the rest).
const SOCKET_COLUMNS: [(&str, u16); 8] = [
    ("ALIAS", 12),
    ("KIND", 10),
    ("SIDE", 7),
    ("RECV", 8),
    ("SENT", 8),
    ("DROP", 6),
    ("ERR", 6),
    ("BACKLOG", 7),
];

/// Draws the detail of the selected agent in `area`.
pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let Some(name) = app.selected.as_deref() else {
        return;
    };
    let row = app.model.row_of(name);
    let sockets: Vec<(&String, &SocketStats)> = app
        .model
        .stats_of(name)
        .map(|s| s.sockets.iter().collect())
        .unwrap_or_default();
    let socket_lines = 1 + sockets.len().max(1) as u16;
    let [title, table, extras, logs] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(socket_lines.min(area.height / 3).max(2)),
        Constraint::Length(4),
        Constraint::Min(1),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(title_lines(name, row)), title);
    draw_sockets(frame, &sockets, table);
    frame.render_widget(
        Paragraph::new(extra_lines(app)).wrap(Wrap { trim: true }),
        extras,
    );
    frame.render_widget(Paragraph::new(log_lines(app, logs.height)), logs);
}

/// The agent's `ps` line, and how its last process ended.
fn title_lines(name: &str, row: Option<&Row>) -> Vec<Line<'static>> {
    let Some(r) = row else {
        return vec![Line::from(format!("{name}: no longer listed"))];
    };
    let cell = |c: Column| c.cell(r);
    let first = Line::from(vec![
        Span::from(r.name.clone()).bold(),
        Span::from(format!(
            "  {} on {}  pid {}  ",
            r.kind,
            r.node,
            cell(Column::Pid)
        )),
        Span::from(r.state.clone()).style(super::columns::state_style(&r.state)),
        Span::from(format!("  restarts {}", r.restarts)),
    ]);
    let second = format!(
        "up {}  CPU {}%  RSS {}  last exit: {}",
        cell(Column::Uptime),
        cell(Column::Cpu),
        cell(Column::Rss),
        r.last_exit.as_deref().unwrap_or("-")
    );
    vec![first, Line::from(second)]
}

/// One row per socket with its counters; drops and errors grouped as the metrics group them.
fn draw_sockets(frame: &mut Frame, sockets: &[(&String, &SocketStats)], area: Rect) {
    let fixed: u16 = SOCKET_COLUMNS.iter().map(|(_, w)| w + 1).sum();
    let endpoint = area.width.saturating_sub(fixed).max(1);
    let titles = SOCKET_COLUMNS
        .iter()
        .map(|(t, _)| *t)
        .chain(["ENDPOINT"])
        .enumerate()
        .map(|(i, t)| right_if((3..8).contains(&i), t.to_owned()));
    let header = TableRow::new(titles).style(Style::new().add_modifier(Modifier::BOLD));
    let rows: Vec<TableRow> = match sockets.is_empty() {
        true => vec![TableRow::new([Cell::from(
            "no open sockets (or no answer)",
        )])],
        false => sockets
            .iter()
            .map(|(alias, s)| socket_row(alias, s))
            .collect(),
    };
    let widths = SOCKET_COLUMNS
        .iter()
        .map(|(_, w)| Constraint::Length(*w))
        .chain([Constraint::Length(endpoint)]);
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
}

fn socket_row(alias: &str, s: &SocketStats) -> TableRow<'static> {
    let dropped = s.dropped_full + s.dropped_hwm + s.oversized + s.unhandled;
    let errors = s.handler_errors + s.decode_errors + s.malformed;
    let side = if s.bound { "bound" } else { "connect" };
    let cells = [
        Line::from(alias.to_owned()),
        Line::from(s.kind.clone()),
        Line::from(side),
        right_if(true, s.received.to_string()),
        right_if(true, s.sent.to_string()),
        right_if(true, dropped.to_string()),
        right_if(true, errors.to_string()),
        right_if(true, s.backlog.to_string()),
        Line::from(s.endpoint.clone()),
    ];
    TableRow::new(cells)
}

fn right_if(right: bool, text: String) -> Line<'static> {
    match right {
        true => Line::from(text).right_aligned(),
        false => Line::from(text),
    }
}

/// Timers and attributes.
fn extra_lines(app: &App) -> Vec<Line<'static>> {
    let Some(d) = &app.detail else {
        return vec![Line::from("timers and attributes: asking ...")];
    };
    let timers = match &d.timers {
        Ok(t) if t.is_empty() => "none".to_owned(),
        Ok(t) => t.join(", "),
        Err(e) => format!("- ({e})"),
    };
    let attrs = match &d.attrs {
        Ok(a) if a.is_empty() => "none".to_owned(),
        Ok(a) => a
            .iter()
            .map(|(k, v)| format!("{k}={}", serde_json::to_string(v).unwrap_or_default()))
            .collect::<Vec<_>>()
            .join("  "),
        Err(e) => format!("- ({e})"),
    };
    vec![
        Line::from(vec![Span::from("timers ").bold(), Span::from(timers)]),
        Line::from(vec![Span::from("attributes ").bold(), Span::from(attrs)]),
    ]
}

/// The last log lines that fit in `height` lines, under a title.
fn log_lines(app: &App, height: u16) -> Vec<Line<'static>> {
    let title = Line::from("log").bold();
    let body: Vec<Line<'static>> = match app.detail.as_ref().map(|d| &d.logs) {
        None => vec![Line::from("asking ...")],
        Some(Logs::NoLogger) => vec![Line::from(
            "no logger: this deployment runs no logger agent (kind = \"logger\")",
        )],
        Some(Logs::Failed(e)) => vec![Line::from(format!("the logger did not answer: {e}"))],
        Some(Logs::Lines(lines)) if lines.is_empty() => vec![Line::from("no events yet")],
        Some(Logs::Lines(lines)) => {
            let room = (height as usize).saturating_sub(1);
            let from = lines.len().saturating_sub(room);
            lines[from..]
                .iter()
                .map(|l| Line::from(l.clone()))
                .collect()
        }
    };
    std::iter::once(title).chain(body).collect()
}
