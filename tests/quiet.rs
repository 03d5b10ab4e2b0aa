//! A program using axon as a library is quiet by default: its own output and
//! warnings, not the name server's and agents' INFO events; `AXON_LOG` asks
//! for them, in every process the program starts (docs/logging.md).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The `push_pull` example (the README's tour with a wait for delivery),
/// which `cargo test` builds beside the test binaries.
fn push_pull() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    debug.join("examples").join("push_pull")
}

fn run(axon_log: Option<&str>) -> Output {
    let mut cmd = Command::new(push_pull());
    cmd.env_remove("AXON_LOG").stdin(Stdio::null());
    if let Some(spec) = axon_log {
        cmd.env("AXON_LOG", spec);
    }
    let out = cmd
        .output()
        .expect("the push_pull example runs (cargo test builds it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn by_default_a_program_prints_its_own_output_and_nothing_of_axon_s_info() {
    let out = run(None);
    assert_eq!(lines(&out.stdout), ["bob received: Hello, Bob!"; 3]);
    assert_eq!(lines(&out.stderr), Vec::<String>::new());
}

#[test]
fn axon_log_info_shows_every_process_s_info_events_in_the_one_format() {
    let out = run(Some("info"));
    assert_eq!(lines(&out.stdout), ["bob received: Hello, Bob!"; 3]);
    let stderr = lines(&out.stderr);
    let mut said = Vec::new();
    for line in &stderr {
        // `2026-12-07T22:41:03.127Z  INFO alice[4242]: agent serving k=v ...`
        let (time, rest) = line.split_once(' ').unwrap();
        assert_eq!(
            axon::logging::parse_since(time, 0).map(axon::clock::rfc3339),
            Ok(time.to_owned()),
            "{line}"
        );
        let rest = rest.trim_start();
        let (level, rest) = rest.split_once(' ').unwrap();
        assert_eq!(level, "INFO", "{line}");
        let (who, message) = rest.split_once("]: ").unwrap();
        let process = who.split('[').next().unwrap();
        said.push(format!("{process}: {message}"));
    }
    // Messages, then their fields: `agent spawned agent=alice kind=agent pid=4243`.
    let count = |what: &str| {
        let with_fields = format!("{what} ");
        let said = said.iter();
        said.filter(|s| *s == what || s.starts_with(&with_fields))
            .count()
    };
    assert_eq!(count("nameserver: agent spawned"), 2, "{said:#?}");
    assert_eq!(count("nameserver: agent exited"), 2, "{said:#?}");
    assert_eq!(count("alice: agent serving"), 1, "{said:#?}");
    assert_eq!(count("bob: agent serving"), 1, "{said:#?}");
    assert_eq!(count("nameserver: name server stopped"), 1, "{said:#?}");

    // Per-agent levels reach the agent's process only.
    let out = run(Some("warn,@bob=info"));
    let stderr = lines(&out.stderr);
    assert_eq!(
        stderr.len(),
        2,
        "bob's serving and stopped events only: {stderr:#?}"
    );
    assert!(
        stderr.iter().all(|l| l.contains(" INFO bob[")),
        "{stderr:#?}"
    );
}
