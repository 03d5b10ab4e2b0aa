//! Property tests: a manifest of any text, or a real one with its bytes,
//! lines or values mutated, parses into a manifest or an error naming a
//! line of it; never a panic. What parses also survives the trip to the
//! name server (its supervisor spec as JSON) and the arithmetic done there.
//!
//! The seed binds ipc and names no tcp address: a mutated host name would
//! be looked up in DNS, which a test must not wait on. tcp addresses are
//! covered by the unit tests next to the parser.

use axon_supervisor::manifest::{parse_bytes, parse_duration, Manifest};
use axon_supervisor::policy::HEARTBEAT_MISSES;
use axon_supervisor::SupervisorSpec;
use proptest::prelude::*;

const SEED: &str = r#"[supervisor]
strategy = "rest_for_one"
intensity = 5
period = "10s"
heartbeat = "500ms"
backoff = "100ms"
max_backoff = "5s"
escalate = false
[chaos]
every = "3s"
targets = ["echo"]
signal = "KILL"
[[agent]]
name = "echo"
kind = "echo"
restart = "transient"
memory_limit = "256MiB"
attributes = { greeting = "hi", n = 3 }
  [[agent.bind]]
  alias = "main"
  socket = "REP"
  transport = "ipc"
  addr = "echo.ipc"
  serializer = "raw"
  handler = "echo"
  hwm = 1000
  on_full = "block"
  [[agent.bind]]
  alias = "news"
  kind = "PUB"
  on_full = "drop"
[[agent]]
name = "client"
kind = "mine"
bin = "target/debug/mine"
args = ["-v"]
  [[agent.connect]]
  to = "echo.main"
  alias = "out"
  topics = ["foo"]
  hwm = 10
[[group]]
name = "pair"
strategy = "one_for_all"
intensity = 2
period = "30s"
  [[group.agent]]
  name = "left"
  kind = "counter"
  [[group.group]]
  name = "inner"
    [[group.group.agent]]
    name = "right"
    kind = "counter"
    restart = "temporary"
"#;

fn kinds() -> Vec<String> {
    ["agent", "echo", "counter"].map(String::from).to_vec()
}

/// Values a mutation puts after a `=`: edge cases of every field's type.
const VALUES: &[&str] = &[
    "\"0ms\"",
    "\"0\"",
    "\"1e30s\"",
    "\"18446744073709551615ms\"",
    "\"99999999999999999999999s\"",
    "\"10000000000000000000s\"",
    "\"1.5.5s\"",
    "\"..s\"",
    "\"18446744073709551615GiB\"",
    "\"99999999999999999999B\"",
    "\"KiB\"",
    "-1",
    "0",
    "9223372036854775807",
    "-9223372036854775808",
    "1e308",
    "nan",
    "inf",
    "true",
    "[]",
    "{}",
    "[\"echo\", \"echo\"]",
    "\"\"",
    "\"é\"",
    "\"a.b.c\"",
    "\".\"",
    "\"REP\"",
    "\"PUB\"",
    "\"block\"",
    "\"drop\"",
    "\"tcp\"",
    "\"inproc\"",
    "\"../../x\"",
    "\"ipc://\\u0000\"",
    "\"one_for_all\"",
    "\"permanent\"",
    "\"STOP\"",
    "\"nameserver\"",
];

/// One edit of a manifest.
#[derive(Debug, Clone)]
enum Edit {
    /// Replace the value of a `key = value` line.
    Value {
        line: usize,
        value: usize,
    },
    DropLine {
        line: usize,
    },
    DuplicateLine {
        line: usize,
    },
    SwapLines {
        a: usize,
        b: usize,
    },
    /// Byte edits (the text is read back lossily as UTF-8).
    Byte {
        at: usize,
        to: u8,
    },
    Insert {
        at: usize,
        text: String,
    },
    Delete {
        at: usize,
        len: usize,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let n = any::<usize>;
    prop_oneof![
        6 => (n(), n()).prop_map(|(line, value)| Edit::Value { line, value }),
        1 => n().prop_map(|line| Edit::DropLine { line }),
        1 => n().prop_map(|line| Edit::DuplicateLine { line }),
        1 => (n(), n()).prop_map(|(a, b)| Edit::SwapLines { a, b }),
        2 => (n(), any::<u8>()).prop_map(|(at, to)| Edit::Byte { at, to }),
        1 => (n(), "[\\[\\]=\"{}\n.,a-z0-9]{0,6}").prop_map(|(at, text)| Edit::Insert { at, text }),
        1 => (n(), 1usize..12).prop_map(|(at, len)| Edit::Delete { at, len }),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut text = text.to_owned();
    for e in edits {
        text = apply_one(&text, e);
    }
    text
}

fn apply_one(text: &str, e: &Edit) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines.len().max(1);
    match e {
        Edit::Value { line, value } => {
            if let Some(l) = lines.get_mut(line % n) {
                if let Some((key, _)) = l.split_once('=') {
                    *l = format!("{key}= {}", VALUES[value % VALUES.len()]);
                }
            }
        }
        Edit::DropLine { line } if !lines.is_empty() => {
            lines.remove(line % n);
        }
        Edit::DuplicateLine { line } if !lines.is_empty() => {
            let copy = lines[line % n].clone();
            lines.insert(line % n, copy);
        }
        Edit::SwapLines { a, b } if !lines.is_empty() => lines.swap(a % n, b % n),
        Edit::Byte { at, to } => {
            let mut bytes = text.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes[at] = *to;
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Edit::Insert { at, text: insert } => {
            let mut bytes = text.as_bytes().to_vec();
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, insert.bytes());
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        Edit::Delete { at, len } => {
            let mut bytes = text.as_bytes().to_vec();
            if !bytes.is_empty() {
                let at = at % bytes.len();
                bytes.drain(at..(at + len).min(bytes.len()));
            }
            return String::from_utf8_lossy(&bytes).into_owned();
        }
        _ => {}
    }
    lines.join("\n")
}

/// Parses `text`; what parses goes to the name server as JSON and through its arithmetic.
fn parse_and_use(text: &str) -> Result<(), TestCaseError> {
    let lines = text.lines().count().max(1);
    match Manifest::parse(text, &kinds()) {
        Ok(m) => {
            let json = serde_json::to_string(&m.supervisor).expect("a spec encodes");
            let spec: SupervisorSpec = serde_json::from_str(&json).expect("and decodes");
            let _ = spec.heartbeat.checked_mul(HEARTBEAT_MISSES);
            for recent in 0..40 {
                let _ = spec.delay(recent);
            }
        }
        Err(e) => {
            // Line numbers point into the text (one past its end for an error at the end).
            prop_assert!(e.line >= 1 && e.line <= lines + 1, "{e} of {lines} lines");
        }
    }
    Ok(())
}

/// Mutations start from a manifest that holds up.
#[test]
fn the_seed_is_a_good_manifest() {
    let m = Manifest::parse(SEED, &kinds()).unwrap();
    assert_eq!((m.agents.len(), m.warnings.len()), (4, 1), "{m:?}");
    assert_eq!(m.supervisor.groups.len(), 2, "{m:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn manifests_of_any_text_parse_or_fail(text in any::<String>()) {
        parse_and_use(&text)?;
    }

    #[test]
    fn mutated_manifests_parse_or_fail_at_a_line(edits in prop::collection::vec(edit(), 1..5)) {
        parse_and_use(&apply(SEED, &edits))?;
    }

    #[test]
    fn durations_and_sizes_of_any_text_parse_or_fail(text in any::<String>(), digits in "[0-9.]{0,30}(ms|s|m|B|KiB|GiB)?") {
        for t in [&text, &digits] {
            let _ = parse_duration(t);
            let _ = parse_bytes(t);
        }
    }
}
