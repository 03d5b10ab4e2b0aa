//! Drawing `axon top`: the header with the deployment's totals and its
//! message-rate sparkline, the agent list, and the status bar (keys, the
//! question being asked, or the last notice). The detail screen is
//! [`super::detail`]'s.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row as TableRow, Sparkline, Table, TableState};
use ratatui::Frame;

use super::app::{App, Prompt, Screen};
use super::columns::{self, state_style, Column};

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &App) {
    let [header, body, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(Paragraph::new(header_lines(app)), header);
    match app.screen {
        Screen::List => draw_list(frame, app, body),
        Screen::Detail => super::detail::draw(frame, app, body),
    }
    frame.render_widget(Paragraph::new(status_line(app)), status);
}

/// Two lines: what is watched, then the totals, the sort and the filter.
fn header_lines(app: &App) -> Vec<Line<'static>> {
    let t = app.model.totals();
    let every = format!("every {:?}", app.interval);
    let first = Line::from(vec![
        Span::from("axon top").bold(),
        Span::from(format!("  {every}  {}", app.source)),
    ]);
    let arrow = if app.reverse { "▼" } else { "▲" };
    let mut second = vec![
        Span::from(format!("agents {}/{} running", t.running, t.total)).bold(),
        Span::from(format!("  msgs/s {:.0}", t.msgs_per_s)),
        Span::from(format!("  restarts/min {}", t.restarts_last_minute)),
        Span::from(format!("  sort {}{arrow}", app.sort.title())),
    ];
    if !app.filter.is_empty() {
        second.push(Span::from(format!("  filter \"{}\"", app.filter)).fg(Color::Yellow));
    }
    vec![first, Line::from(second)]
}

/// The message-rate sparkline, then one row per agent.
fn draw_list(frame: &mut Frame, app: &App, area: Rect) {
    let [spark, table] = Layout::vertical([Constraint::Length(2), Constraint::Min(1)]).areas(area);
    let history: Vec<u64> = app.model.history().collect();
    let shown = &history[history.len().saturating_sub(spark.width as usize)..];
    frame.render_widget(
        Sparkline::default()
            .data(shown)
            .style(Style::new().fg(Color::Cyan)),
        spark,
    );
    if !app.model.started() {
        let waiting = format!("asking {} ...", app.source);
        return frame.render_widget(Paragraph::new(waiting), table);
    }
    let fitted = columns::fit(table.width);
    let header = TableRow::new(fitted.iter().map(|(c, _)| header_cell(app, *c)))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED));
    let rows = app.rows();
    let lines = rows.iter().map(|row| {
        let cells = fitted.iter().map(|(c, _)| {
            let cell = Cell::from(aligned(*c, c.cell(row)));
            match c {
                Column::State => cell.style(state_style(&row.state)),
                _ => cell,
            }
        });
        TableRow::new(cells)
    });
    let widths = fitted.iter().map(|(_, w)| Constraint::Length(*w));
    let widget = Table::new(lines, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::new().with_selected(app.selected_index());
    frame.render_stateful_widget(widget, table, &mut state);
}

/// A column's header: its title, with the sort's arrow on the sorted one.
fn header_cell(app: &App, c: Column) -> Cell<'static> {
    let arrow = match (c == app.sort, app.reverse) {
        (false, _) => "",
        (true, false) => "▲",
        (true, true) => "▼",
    };
    Cell::from(aligned(c, format!("{}{arrow}", c.title())))
}

/// Numbers right-aligned, text left.
fn aligned(c: Column, text: String) -> Line<'static> {
    match c.numeric() {
        true => Line::from(text).right_aligned(),
        false => Line::from(text),
    }
}

/// The status bar: the question asked, else a notice, else nodes not answering, else the keys.
fn status_line(app: &App) -> Line<'static> {
    let bar = Style::new().add_modifier(Modifier::REVERSED);
    let text = match &app.prompt {
        Prompt::Filter => format!("filter: {}_   Enter keep  Esc clear", app.filter),
        Prompt::Kill(name, pid) => {
            let pid = pid.map_or_else(|| "no process".into(), |p| format!("pid {p}"));
            return Line::from(format!(" kill {name} ({pid}) with SIGKILL? y/n "))
                .style(bar.fg(Color::Red));
        }
        Prompt::None => match (app.notice(), app.model.unreachable().first()) {
            (Some(notice), _) => notice.to_owned(),
            (None, Some(node)) => format!("not answering: {node}"),
            (None, None) => match app.screen {
                Screen::List => {
                    "Up/Down select  Enter detail  </> sort  r reverse  / filter  k kill  q quit"
                        .into()
                }
                Screen::Detail => "Esc back  k kill  q quit".into(),
            },
        },
    };
    Line::from(format!(" {text}")).style(bar)
}
