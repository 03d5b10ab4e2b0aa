//! Real osBrain 0.6.5 for tests/osbrain.rs: a venv cached in the target
//! directory, and [`Driver`], one `driver.py` process (an osBrain name server
//! and one agent) in a process group of its own, killed whole when it drops.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

/// The osBrain release the tests speak to.
const OSBRAIN: &str = "osbrain==0.6.5";

/// How long one driver command may take (osBrain's start-up included).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);

/// The venv's python with osBrain installed, made once per target dir; `None`
/// (after a loud SKIPPED line on stderr) when it cannot be made here.
pub fn python(test: &str) -> Option<PathBuf> {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(venv) {
        Ok(python) => Some(python.clone()),
        Err(why) => {
            // Straight to the process's stderr: the test harness captures `eprintln!`.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {test}: osBrain is not available ({why})"
            );
            None
        }
    }
}

/// `target/osbrain-venv`, beside the build's own directories (the test binary is in `target/debug/deps`).
fn venv_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("the test binary is not in a target directory")?;
    Ok(target.join("osbrain-venv"))
}

fn venv() -> Result<PathBuf, String> {
    let dir = venv_dir()?;
    let python = dir.join("bin/python");
    if has_osbrain(&python) {
        return Ok(python);
    }
    // Made aside and renamed into place, so a half-made venv is never taken for a good one.
    let fresh = dir.with_file_name(format!("osbrain-venv.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&fresh);
    let made = run(Command::new("python3").arg("-m").arg("venv").arg(&fresh)).and_then(|()| {
        run(Command::new(fresh.join("bin/python")).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--timeout",
            "30",
            OSBRAIN,
        ]))
    });
    if let Err(why) = made {
        let _ = std::fs::remove_dir_all(&fresh);
        return Err(why);
    }
    // Another test process may have won the race: its venv is as good as ours.
    if std::fs::rename(&fresh, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&fresh);
    }
    match has_osbrain(&python) {
        true => Ok(python),
        false => Err(format!(
            "{} has no osbrain after pip install",
            dir.display()
        )),
    }
}

fn has_osbrain(python: &Path) -> bool {
    let check = "import osbrain, sys; sys.exit(osbrain.__version__ != '0.6.5')";
    Command::new(python)
        .args(["-c", check])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run(command: &mut Command) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    match out.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{command:?}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )),
    }
}

/// One `driver.py`: an osBrain name server and agent `py`, driven by JSON lines.
pub struct Driver {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<String>,
}

impl Driver {
    /// Starts the driver in a new process group and waits until osBrain is up.
    pub fn start(python: &Path) -> Driver {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/osbrain/driver.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // osBrain's own chatter (name server start, agent logs) shows with the test's output.
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("starting tests/osbrain/driver.py");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, answers) = mpsc::channel();
        // Read on a thread so that every wait for an answer has a deadline.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut driver = Driver {
            stdin: child.stdin.take(),
            child,
            answers,
        };
        assert_eq!(driver.answer()["ready"], true, "osBrain did not start");
        driver
    }

    fn answer(&mut self) -> Value {
        let line = self
            .answers
            .recv_timeout(ANSWER_WITHIN)
            .expect("no answer from the osBrain driver");
        let value: Value = serde_json::from_str(&line).expect("the driver answers JSON");
        assert!(value.get("error").is_none(), "osBrain driver: {value}");
        value
    }

    /// Sends one command and returns its answer; an error answer fails the test.
    pub fn call(&mut self, command: Value) -> Value {
        let stdin = self.stdin.as_mut().expect("driver still running");
        writeln!(stdin, "{command}").expect("writing to the osBrain driver");
        stdin.flush().expect("writing to the osBrain driver");
        self.answer()
    }

    /// Binds a socket of osBrain's agent over tcp; returns its endpoint.
    pub fn bind(
        &mut self,
        kind: &str,
        alias: &str,
        serializer: &str,
        handler: Option<&str>,
    ) -> String {
        let answer = self.call(json!({"op": "bind", "kind": kind, "alias": alias,
            "serializer": serializer, "handler": handler}));
        answer["addr"].as_str().expect("a bound address").to_owned()
    }

    /// Connects osBrain's agent to a socket bound (`kind`) at `addr`; extra fields go along.
    pub fn connect(&mut self, kind: &str, addr: &str, alias: &str, serializer: &str, extra: Value) {
        let mut command = json!({"op": "connect", "kind": kind, "addr": addr, "alias": alias,
            "serializer": serializer});
        if let (Some(c), Value::Object(more)) = (command.as_object_mut(), extra) {
            c.extend(more);
        }
        self.call(command);
    }

    /// What osBrain's handlers recorded so far: `[topic, message]` pairs.
    pub fn received(&mut self) -> Vec<Value> {
        let answer = self.call(json!({"op": "received"}));
        answer["records"].as_array().expect("records").clone()
    }

    /// Ends the driver: osBrain shuts down on end of input; then the whole group is
    /// killed (nothing osBrain forked may outlive the test) and found gone.
    pub fn finish(mut self) {
        self.stop();
        let group = self.child.id() as i32;
        let gone = axon::testing::wait_until(ANSWER_WITHIN, || !group_alive(group));
        assert!(
            gone,
            "osBrain processes outlived their driver (group {group})"
        );
    }

    fn stop(&mut self) {
        // End of input: the driver shuts osBrain down and exits.
        drop(self.stdin.take());
        axon::testing::wait_until(Duration::from_secs(15), || {
            self.child.try_wait().is_ok_and(|s| s.is_some())
        });
        let group = self.child.id() as i32;
        // SAFETY: kill has no memory-safety preconditions; the group is the driver's own.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        // Already gone is fine: waiting reaps it either way.
        let _ = self.child.wait();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if self.stdin.is_some() {
            self.stop();
        }
    }
}

/// Whether any live process (zombies aside) is still in process group `group`.
fn group_alive(group: i32) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        // After the parenthesised command name: state, ppid, pgrp.
        let mut fields = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|g| g.parse::<i32>().ok());
        pgrp == Some(group) && state != Some("Z")
    })
}
