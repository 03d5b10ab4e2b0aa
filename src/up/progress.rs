//! Progress bars for `axon up`'s long operations: starting and stopping many
//! agents. Only on a terminal, and only for more than a handful; otherwise a
//! hidden bar that draws nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// More agents than this get a bar.
pub const MANY: usize = 5;

/// A bar over `len` agents doing `what` (e.g. `started`), shown when `tty` and there are many.
pub fn agents(len: usize, what: &str, tty: bool) -> ProgressBar {
    if !tty || len <= MANY {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stdout());
    let template = format!("{{bar:30}} {{pos}}/{{len}} agents {what} {{wide_msg}}");
    let style =
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}
