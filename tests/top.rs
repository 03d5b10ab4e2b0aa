//! `axon top` on a real deployment, driven inside tmux (an 80x24 window on
//! a tmux server of the test's own): the screen is read with `capture-pane`
//! and every step waits on what it shows, within a deadline.
//!
//! Needs tmux (Debian package `tmux`; `.ci/run` installs it when missing).

use std::collections::BTreeMap;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axon::launch::Signal;
use axon::testing::{self, Deployment};

const AXON: &str = env!("CARGO_BIN_EXE_axon");

/// Deadline for anything that involves starting processes on a busy machine.
const PATIENCE: Duration = Duration::from_secs(20);

/// A logger, a ticker feeding `sink`, and `tally`, which gets exactly what the test sends it.
const MANIFEST: &str = r#"
[supervisor]
intensity = 10
period = "10s"
# A SIGSTOPped agent stays hung (not restarted) while the test looks at it.
heartbeat = "30s"

[[agent]]
name = "logger"
kind = "logger"

[[agent]]
name = "sink"
kind = "counter"
restart = "permanent"
  [[agent.bind]]
  alias = "in"
  socket = "PULL"
  handler = "count"

[[agent]]
name = "tally"
kind = "counter"
restart = "permanent"
attributes = { note = "seven" }
  [[agent.bind]]
  alias = "votes"
  socket = "PULL"
  transport = "tcp"
  serializer = "raw"
  handler = "count"

[[agent]]
name = "ticker"
kind = "ticker"
attributes = { period_ms = 20 }
  [[agent.connect]]
  to = "sink.in"
  alias = "out"
"#;

/// A tmux server of this test's own running `axon top` in an 80x24 window;
/// killed (with everything it runs) when dropped, also when the test fails.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    /// Runs `axon top` against `dep` through `sh`, which then tells how it
    /// exited and what the terminal's modes are (`stty -a`), and stays (a
    /// live pane shows its real cursor; the server's end takes it away).
    fn top(dep: &Deployment) -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let name = format!("axon-top-test-{}-{n}.sock", std::process::id());
        let tmux = Tmux {
            socket: std::env::temp_dir().join(name),
        };
        let script = format!(
            "'{AXON}' top --interval 500ms; echo \"top exited: $?\"; stty -a; echo END-OF-STTY; exec sleep 600"
        );
        let ns = format!("AXON_NAMESERVER={}", dep.endpoint());
        let key = format!("AXON_KEY_FILE={}", dep.key_file().display());
        let args = ["new-session", "-d", "-s", "top", "-x", "80", "-y", "24"];
        let env = ["-e", &ns, "-e", &key, "-e", "LANG=C.UTF-8"];
        let started = tmux.run(&[&args[..], &env, &["sh", "-c", &script]].concat());
        assert!(started.status.success(), "tmux: {started:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        let tmux = Command::new("tmux")
            .args(["-u", "-f", "/dev/null", "-S"])
            .arg(&self.socket)
            .args(args)
            .output();
        match tmux {
            Ok(out) => out,
            Err(e) => panic!(
                "tmux not runnable ({e}): install it (Debian: apt-get install tmux; .ci/run does)"
            ),
        }
    }

    /// What the window shows now.
    fn screen(&self) -> String {
        self.capture(&[])
    }

    /// The window, after `extra` arguments to `capture-pane` (e.g. `-S -`: with its history).
    fn capture(&self, extra: &[&str]) -> String {
        let args = [&["capture-pane", "-p", "-t", "top"][..], extra].concat();
        String::from_utf8_lossy(&self.run(&args).stdout).into_owned()
    }

    /// Types `keys` (tmux key names: `Enter`, `Escape`, `Down`, or text).
    fn keys(&self, keys: &[&str]) {
        let sent = self.run(&[&["send-keys", "-t", "top"][..], keys].concat());
        assert!(sent.status.success(), "send-keys {keys:?}: {sent:?}");
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    fn pane(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", "top", format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the screen satisfies `cond`; the screen then, or a panic naming `what`.
    fn wait_for(&self, what: &str, mut cond: impl FnMut(&str) -> bool) -> String {
        let mut last = String::new();
        let seen = testing::wait_until(PATIENCE, || {
            last = self.screen();
            cond(&last)
        });
        assert!(seen, "{what}: not within {PATIENCE:?}; the screen:\n{last}");
        last
    }

    /// The process `axon top` runs as (the child of the pane's `sh`).
    fn top_pid(&self) -> u32 {
        let sh = self.pane("#{pane_pid}");
        let children =
            std::fs::read_to_string(format!("/proc/{sh}/task/{sh}/children")).unwrap_or_default();
        let pid = children
            .split_whitespace()
            .next()
            .and_then(|p| p.parse().ok());
        pid.unwrap_or_else(|| panic!("no axon top under sh {sh}"))
    }

    /// Waits for `axon top` to end; its exit status, and what `sh` printed after.
    fn wait_exit(&self) -> (i32, String) {
        self.wait_for("axon top to exit", |s| s.contains("END-OF-STTY"));
        // With its history, should the lines have scrolled.
        let screen = self.capture(&["-S", "-"]);
        let status = screen
            .lines()
            .find_map(|l| l.strip_prefix("top exited: "))
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| panic!("no exit status:\n{screen}"));
        (status, screen)
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends `axon top` (SIGHUP) if it still runs; the server leaves its socket behind.
        let _ = self.run(&["kill-server"]);
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// The agent table on `screen`: one map column title -> cell per row, top to bottom.
fn table(screen: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = screen.lines().skip_while(|l| !l.starts_with("NAME"));
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let titles: Vec<String> = header
        .split_whitespace()
        .map(|t| t.trim_end_matches(['▲', '▼']).to_owned())
        .collect();
    lines
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            titles
                .iter()
                .cloned()
                .zip(l.split_whitespace().map(str::to_owned))
                .collect()
        })
        .collect()
}

/// The names on `screen`, top to bottom.
fn names(screen: &str) -> Vec<String> {
    table(screen)
        .into_iter()
        .map(|r| r["NAME"].clone())
        .collect()
}

/// The row of `name` on `screen`.
fn row(screen: &str, name: &str) -> Option<BTreeMap<String, String>> {
    table(screen).into_iter().find(|r| r["NAME"] == name)
}

/// Whether `screen` lists `name` with `pid`, `state` and `restarts`.
fn shows(screen: &str, name: &str, pid: u32, state: &str, restarts: u32) -> bool {
    row(screen, name).is_some_and(|r| {
        r["PID"] == pid.to_string() && r["STATE"] == state && r["RST"] == restarts.to_string()
    })
}

/// Checks that the terminal is as `axon top` found it: cooked mode, main screen, cursor shown.
fn assert_given_back(tmux: &Tmux, screen: &str) {
    let stty: Vec<&str> = screen.split_whitespace().collect();
    for mode in ["icanon", "echo", "isig"] {
        assert!(
            stty.contains(&mode),
            "{mode} is off after axon top:\n{screen}"
        );
    }
    assert_eq!(
        tmux.pane("#{alternate_on}"),
        "0",
        "still on the alternate screen"
    );
    assert_eq!(tmux.pane("#{cursor_flag}"), "1", "the cursor is hidden");
}

#[test]
fn top_lists_sorts_filters_details_and_kills_agents_and_quits_with_q() {
    let dep = Deployment::start(AXON, MANIFEST).expect("deployment starts");
    let tmux = Tmux::top(&dep);

    // Every agent, with its pid and state, and the totals.
    let ps = dep.ps().unwrap();
    let screen = tmux.wait_for("every agent running", |s| {
        ps.iter()
            .all(|a| shows(s, &a.name, a.pid.unwrap(), "running", 0))
    });
    assert!(screen.contains("agents 4/4 running"), "{screen}");
    assert!(screen.contains("restarts/min 0"), "{screen}");
    assert!(screen.contains("sort NAME▲"), "{screen}");
    assert_eq!(names(&screen), ["logger", "sink", "tally", "ticker"]);
    // The ticker's 50 messages a second show as rates, in and out.
    tmux.wait_for("the ticker's rates", |s| {
        let rate = |name: &str, col: &str| row(s, name).and_then(|r| r[col].parse::<f64>().ok());
        rate("sink", "IN/s").is_some_and(|r| r > 0.0)
            && rate("ticker", "OUT/s").is_some_and(|r| r > 0.0)
    });

    // A hung agent shows `-` for its counters, and the others still refresh.
    dep.kill("sink", Signal::Stop).unwrap();
    tmux.wait_for("sink unanswered, ticker answered", |s| {
        let cell = |name: &str, col: &str| row(s, name).map(|r| r[col].clone());
        cell("sink", "IN/s").as_deref() == Some("-")
            && cell("ticker", "OUT/s").is_some_and(|v| v != "-")
    });
    dep.kill("sink", Signal::Cont).unwrap();
    tmux.wait_for("sink answering again", |s| {
        row(s, "sink").is_some_and(|r| r["IN/s"] != "-")
    });

    // Sorting by PID (three columns right of NAME), then reversed.
    let mut by_pid: Vec<(u32, String)> = ps
        .iter()
        .map(|a| (a.pid.unwrap(), a.name.clone()))
        .collect();
    by_pid.sort();
    let by_pid: Vec<String> = by_pid.into_iter().map(|(_, n)| n).collect();
    tmux.keys(&[">", ">", ">"]);
    tmux.wait_for("sorted by pid", |s| {
        s.contains("sort PID▲") && names(s) == by_pid
    });
    tmux.keys(&["r"]);
    let reversed: Vec<String> = by_pid.iter().rev().cloned().collect();
    tmux.wait_for("sorted by pid, reversed", |s| {
        s.contains("sort PID▼") && names(s) == reversed
    });
    tmux.keys(&["r", "<", "<", "<"]);
    tmux.wait_for("sorted by name again", |s| {
        names(s) == ["logger", "sink", "tally", "ticker"]
    });

    // The filter hides the rows whose names do not match; Esc brings them back.
    tmux.keys(&["/", "ti", "Enter"]);
    tmux.wait_for("only the ticker", |s| {
        names(s) == ["ticker"] && s.contains("filter \"ti\"")
    });
    tmux.keys(&["Escape"]);
    tmux.wait_for("every agent again", |s| names(s).len() == 4);

    // Exactly 7 messages and one malformed (two frames) to tally's PULL.
    let ctx = zmq::Context::new();
    let push = ctx.socket(zmq::PUSH).unwrap();
    push.set_linger(1000).unwrap();
    push.connect(&dep.nameserver().addr("tally", "votes").unwrap().endpoint)
        .unwrap();
    for i in 0..7 {
        push.send(format!("v{i}").as_bytes(), 0).unwrap();
    }
    push.send_multipart([&b"a"[..], &b"b"[..]], 0).unwrap();

    // The detail of tally: its socket with exact counters, its attribute, its log lines.
    tmux.keys(&["/", "tally", "Enter", "Enter"]);
    let votes = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("votes "))
            .map(str::to_owned)
    };
    let tally = dep.status("tally").unwrap();
    // The detail's log lines come from the node's log file: `name[pid]: message`.
    let serving = format!("tally[{}]: agent serving", tally.pid.unwrap());
    let screen = tmux.wait_for("tally's detail with 7 received, 1 error", |s| {
        votes(s).is_some_and(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            // ALIAS KIND SIDE RECV SENT DROP ERR BACKLOG ENDPOINT
            cells[1..8] == ["PULL", "bound", "7", "0", "0", "1", "0"]
        }) && s.contains("note=\"seven\"")
            && s.contains(&serving)
    });
    assert!(screen.contains("timers none"), "{screen}");
    assert!(
        screen.contains(&format!("pid {}", tally.pid.unwrap())),
        "{screen}"
    );

    // k, then y: tally is SIGKILLed, and comes back with a new pid and 1 restart.
    let old = tally.pid.unwrap();
    tmux.keys(&["Escape"]);
    // Only then k: an Escape followed at once by k reads as Alt-k.
    tmux.wait_for("the list again", |s| names(s) == ["tally"]);
    tmux.keys(&["k"]);
    tmux.wait_for("the question", |s| {
        s.contains(&format!("kill tally (pid {old}) with SIGKILL? y/n"))
    });
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("tally restarted", |s| {
        row(s, "tally").is_some_and(|r| {
            r["RST"] == "1" && r["PID"] != old.to_string() && r["STATE"] == "running"
        })
    });
    let new = dep.status("tally").unwrap();
    assert_eq!(new.restarts, 1);
    assert!(
        shows(&screen, "tally", new.pid.unwrap(), "running", 1),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("SIGKILL sent to tally (pid {old})")),
        "{screen}"
    );
    tmux.wait_for("the restart in the header", |s| {
        s.contains("restarts/min 1")
    });

    // q: exits 0 and gives the terminal back.
    tmux.keys(&["q"]);
    let (status, screen) = tmux.wait_exit();
    assert_eq!(status, 0, "{screen}");
    assert_given_back(&tmux, &screen);
    drop(tmux);
    dep.stop().unwrap();
}

/// A deployment, and `axon top` showing its agents; its pid.
fn top_showing_agents() -> (Deployment, Tmux, u32) {
    let dep = Deployment::start(AXON, MANIFEST).expect("deployment starts");
    let tmux = Tmux::top(&dep);
    tmux.wait_for("the agents", |s| names(s).len() == 4);
    let pid = tmux.top_pid();
    (dep, tmux, pid)
}

#[test]
fn sigint_ends_top_and_gives_the_terminal_back() {
    let (dep, tmux, pid) = top_showing_agents();
    // SAFETY: a plain kill(2) of the child this test started.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGINT) }, 0);
    let (status, screen) = tmux.wait_exit();
    assert_eq!(status, 0, "{screen}");
    assert_given_back(&tmux, &screen);
    drop(tmux);
    dep.stop().unwrap();
}

#[test]
fn a_terminal_that_goes_away_ends_top() {
    let (dep, tmux, pid) = top_showing_agents();
    // The server goes, and the terminal with it: top gets SIGHUP and must not linger.
    drop(tmux);
    let gone = testing::wait_until(PATIENCE, || !testing::process_alive(pid));
    if !gone {
        // Leave nothing behind, then fail.
        // SAFETY: a plain kill(2) of the process this test started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    }
    assert!(
        gone,
        "axon top (pid {pid}) still runs after its terminal went away"
    );
    dep.stop().unwrap();
}
