//! The agent list's columns: title, width, which go first when the terminal
//! is narrow, how each cell reads, and how rows sort by it.

use std::cmp::Ordering;

use ratatui::style::{Color, Style};

use super::model::Row;

/// One column of the agent list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The agent's name.
    Name,
    /// Its kind.
    Kind,
    /// Its node.
    Node,
    /// Its process id.
    Pid,
    /// Its state.
    State,
    /// Its restarts.
    Restarts,
    /// Time since its process started.
    Uptime,
    /// CPU use, percent of one core.
    Cpu,
    /// Resident memory.
    Rss,
    /// Messages received per second.
    In,
    /// Messages sent per second.
    Out,
    /// Errors per second.
    Errors,
    /// Messages waiting in send backlogs.
    Backlog,
}

/// Every column, left to right; `<` and `>` move the sort along this order.
pub const ALL: [Column; 13] = [
    Column::Name,
    Column::Kind,
    Column::Node,
    Column::Pid,
    Column::State,
    Column::Restarts,
    Column::Uptime,
    Column::Cpu,
    Column::Rss,
    Column::In,
    Column::Out,
    Column::Errors,
    Column::Backlog,
];

/// The name column is never narrower than this.
const NAME_MIN: u16 = 12;

impl Column {
    /// Its header.
    pub fn title(self) -> &'static str {
        match self {
            Column::Name => "NAME",
            Column::Kind => "KIND",
            Column::Node => "NODE",
            Column::Pid => "PID",
            Column::State => "STATE",
            Column::Restarts => "RST",
            Column::Uptime => "UPTIME",
            Column::Cpu => "CPU%",
            Column::Rss => "RSS",
            Column::In => "IN/s",
            Column::Out => "OUT/s",
            Column::Errors => "ERR/s",
            Column::Backlog => "BACKLOG",
        }
    }

    /// Its width in cells (the name's is its least, it takes what is left).
    fn width(self) -> u16 {
        match self {
            Column::Name => NAME_MIN,
            Column::Kind | Column::Node | Column::State => 10,
            Column::Restarts => 4,
            Column::Cpu => 5,
            Column::Errors => 6,
            Column::Pid | Column::Uptime | Column::Rss | Column::In | Column::Out => 7,
            Column::Backlog => 7,
        }
    }

    /// Which columns stay when the terminal is narrow: the lowest go first.
    fn keep(self) -> u8 {
        match self {
            Column::Node => 0,
            Column::Backlog => 1,
            Column::Errors => 2,
            Column::Uptime => 3,
            Column::Kind => 4,
            Column::Rss => 5,
            Column::Cpu => 6,
            Column::Out => 7,
            Column::In => 8,
            Column::Restarts => 9,
            Column::State => 10,
            Column::Pid => 11,
            Column::Name => 12,
        }
    }

    /// Whether its cells are numbers (right-aligned).
    pub fn numeric(self) -> bool {
        !matches!(
            self,
            Column::Name | Column::Kind | Column::Node | Column::State
        )
    }

    /// The cell of `row` in this column; `-` for what is not known.
    pub fn cell(self, row: &Row) -> String {
        let dash = || "-".to_owned();
        let rate = |r: Option<f64>| r.map_or_else(dash, |v| format!("{v:.0}"));
        match self {
            Column::Name => row.name.clone(),
            Column::Kind => row.kind.clone(),
            Column::Node => row.node.clone(),
            Column::Pid => row.pid.map_or_else(dash, |p| p.to_string()),
            Column::State => row.state.clone(),
            Column::Restarts => row.restarts.to_string(),
            Column::Uptime => row.uptime_ms.map_or_else(dash, crate::commands::uptime),
            Column::Cpu => row.cpu.map_or_else(dash, |c| format!("{c:.1}")),
            Column::Rss => row.rss.map_or_else(dash, bytes),
            Column::In => rate(row.msgs_in),
            Column::Out => rate(row.msgs_out),
            Column::Errors => rate(row.errors),
            Column::Backlog => row.backlog.map_or_else(dash, |b| b.to_string()),
        }
    }

    /// How `a` and `b` compare in this column (unknown values first), the name breaking ties.
    pub fn compare(self, a: &Row, b: &Row) -> Ordering {
        let f = |x: Option<f64>, y: Option<f64>| match (x, y) {
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => x.is_some().cmp(&y.is_some()),
        };
        let by = match self {
            Column::Name => Ordering::Equal,
            Column::Kind => a.kind.cmp(&b.kind),
            Column::Node => a.node.cmp(&b.node),
            Column::Pid => a.pid.cmp(&b.pid),
            Column::State => a.state.cmp(&b.state),
            Column::Restarts => a.restarts.cmp(&b.restarts),
            Column::Uptime => a.uptime_ms.cmp(&b.uptime_ms),
            Column::Cpu => f(a.cpu.map(f64::from), b.cpu.map(f64::from)),
            Column::Rss => a.rss.cmp(&b.rss),
            Column::In => f(a.msgs_in, b.msgs_in),
            Column::Out => f(a.msgs_out, b.msgs_out),
            Column::Errors => f(a.errors, b.errors),
            Column::Backlog => a.backlog.cmp(&b.backlog),
        };
        by.then_with(|| a.name.cmp(&b.name))
    }

    /// The column `step` places along [`ALL`] from this one, wrapping around.
    pub fn moved(self, step: isize) -> Column {
        let at = ALL.iter().position(|c| *c == self).unwrap_or(0) as isize;
        ALL[(at + step).rem_euclid(ALL.len() as isize) as usize]
    }
}

/// The columns that fit in `width` cells (one space between), left to right,
/// each with its width: the least kept go first, and the name takes the rest.
pub fn fit(width: u16) -> Vec<(Column, u16)> {
    let mut shown: Vec<Column> = ALL.to_vec();
    let needed = |cols: &[Column]| -> u16 {
        cols.iter().map(|c| c.width()).sum::<u16>() + cols.len().saturating_sub(1) as u16
    };
    while needed(&shown) > width && shown.len() > 1 {
        if let Some(least) = shown.iter().copied().min_by_key(|c| c.keep()) {
            shown.retain(|c| *c != least);
        }
    }
    let spare = width.saturating_sub(needed(&shown));
    shown
        .into_iter()
        .map(|c| match c {
            Column::Name => (c, NAME_MIN + spare.min(20)),
            _ => (c, c.width()),
        })
        .collect()
}

/// Bytes as a short figure: `512K`, `12.3M`, `1.2G`.
pub fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.1}G", n / 1073741824.0),
        n if n >= 1e6 => format!("{:.1}M", n / 1048576.0),
        n => format!("{:.0}K", n / 1024.0),
    }
}

/// A state in a colour that says whether all is well.
pub fn state_style(state: &str) -> Style {
    match state {
        "running" | "registered" => Style::new().fg(Color::Green),
        "starting" | "restarting" | "stopping" => Style::new().fg(Color::Yellow),
        "failed" | "exited" => Style::new().fg(Color::Red),
        _ => Style::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_narrow_terminal_drops_the_least_kept_columns_first() {
        let wide: Vec<Column> = fit(200).into_iter().map(|(c, _)| c).collect();
        assert_eq!(wide, ALL);
        let narrow: Vec<Column> = fit(80).into_iter().map(|(c, _)| c).collect();
        assert!(!narrow.contains(&Column::Node) && !narrow.contains(&Column::Backlog));
        for kept in [
            Column::Name,
            Column::Pid,
            Column::State,
            Column::Restarts,
            Column::In,
        ] {
            assert!(narrow.contains(&kept), "{kept:?} in {narrow:?}");
        }
        let used: u16 = fit(80).iter().map(|(_, w)| w + 1).sum::<u16>() - 1;
        assert!(used <= 80, "{used}");
        assert_eq!(fit(10).len(), 1, "the name at least");
    }

    #[test]
    fn sorting_moves_along_the_columns_and_wraps() {
        assert_eq!(Column::Name.moved(1), Column::Kind);
        assert_eq!(Column::Name.moved(-1), Column::Backlog);
        assert_eq!(Column::Backlog.moved(1), Column::Name);
        assert_eq!(bytes(3 << 20), "3.0M");
        assert_eq!(bytes(512 << 10), "512K");
    }
}
