//! `axon up` on a terminal, black-box: the real binary under tmux (a real
//! pseudo-terminal, its own tmux server). The status line rewrites itself in
//! place (one line on the screen however long it runs), the events print
//! above it, and Ctrl-C leaves the final summary where the status line was.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use axon::testing::wait_until;

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(30);

const AXON: &str = env!("CARGO_BIN_EXE_axon");

const MANIFEST: &str = r#"
[status]
agent = "echo"
attribute = "greeting"

[[agent]]
name = "echo"
kind = "echo"
restart = "permanent"
attributes = { greeting = "all is well" }
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  handler = "echo"
"#;

/// A tmux server of its own running `axon up`; Ctrl-C, then the server and the manifest go on drop.
struct Screen {
    socket: String,
    dir: PathBuf,
}

impl Screen {
    fn start(manifest: &str) -> Screen {
        let socket = format!("axon-up-test-{}", std::process::id());
        let dir = std::env::temp_dir().join(&socket);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("deploy.toml");
        std::fs::write(&file, manifest).unwrap();
        let screen = Screen { socket, dir };
        let command = format!("{AXON} up {}; sleep 60", file.display());
        let out = screen.tmux(&["new-session", "-d", "-x", "100", "-y", "30", &command]);
        assert!(
            out.status.success(),
            "tmux is needed for this test: {out:?}"
        );
        screen
    }

    fn tmux(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output();
        out.unwrap_or_else(|e| panic!("tmux is needed for this test: {e}"))
    }

    /// The screen's lines, blank ones left out.
    fn lines(&self) -> Vec<String> {
        let out = self.tmux(&["capture-pane", "-p"]);
        let text = String::from_utf8_lossy(&out.stdout);
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect()
    }

    /// Waits until a line on the screen passes `check`.
    fn wait(&self, what: &str, check: impl Fn(&str) -> bool) -> Vec<String> {
        let mut seen = Vec::new();
        let shown = wait_until(PATIENCE, || {
            seen = self.lines();
            seen.iter().any(|l| check(l))
        });
        assert!(shown, "{what} not on the screen: {seen:#?}");
        seen
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        // Ctrl-C stops the deployment gracefully (if the test did not); then the server goes.
        let stopped = || {
            self.lines()
                .iter()
                .any(|l| l.starts_with("axon: stopped after "))
        };
        if !stopped() {
            self.tmux(&["send-keys", "C-c"]);
            let _ = wait_until(PATIENCE, stopped);
        }
        self.tmux(&["kill-server"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The seconds of a status line's uptime (`up 3.2s | ...`).
fn uptime(line: &str) -> Option<f64> {
    line.strip_prefix("up ")?.split_once("s | ")?.0.parse().ok()
}

#[test]
fn the_status_line_rewrites_itself_in_place_and_ctrl_c_leaves_the_final_summary() {
    let screen = Screen::start(MANIFEST);
    let seen = screen.wait("a status line 3 s on", |l| {
        uptime(l).is_some_and(|s| s >= 3.0)
    });
    let status: Vec<&String> = seen.iter().filter(|l| l.starts_with("up ")).collect();
    assert_eq!(status.len(), 1, "one status line, rewritten: {seen:#?}");
    assert!(status[0].ends_with(" | all is well"), "{seen:#?}");
    assert!(
        seen.iter()
            .any(|l| l.starts_with("axon: 1 agent started in ")),
        "{seen:#?}"
    );
    assert!(
        !seen.iter().any(|l| l.starts_with("AXON-UP-READY")),
        "no ready line on a terminal: {seen:#?}"
    );

    screen.tmux(&["send-keys", "C-c"]);
    let seen = screen.wait("the final summary", |l| {
        l.starts_with("axon: stopped after ")
    });
    assert!(
        !seen.iter().any(|l| l.starts_with("up ")),
        "the status line is gone: {seen:#?}"
    );
    let last = seen.last().unwrap();
    assert!(
        last.ends_with("(SIGINT): 1 agent stopped gracefully, 0 killed, 0 restarts"),
        "{seen:#?}"
    );
}
