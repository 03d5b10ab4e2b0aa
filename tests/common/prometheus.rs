//! Reading a Prometheus endpoint in tests: one scrape, one series' value,
//! and `promtool check metrics` (Debian package `prometheus`) on a body.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use super::PATIENCE;

/// `GET /metrics` at `addr`: the body.
pub fn scrape(addr: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).expect("metrics port answers");
    conn.set_read_timeout(Some(PATIENCE)).unwrap();
    conn.write_all(b"GET /metrics HTTP/1.0\r\nHost: axon\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("an HTTP reply");
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    assert!(head.contains("text/plain; version=0.0.4"), "{head}");
    body.to_owned()
}

/// The value of the series `name` whose labels include `labels`, if it is there.
pub fn value(body: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, v)| v.parse().ok())
}

/// Fails the test unless `promtool check metrics` takes `body` without a word.
pub fn promtool(body: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool not runnable ({e}): install it (Debian: apt-get install prometheus; .ci/run does)"
        ),
    };
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(body.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string()
        + String::from_utf8_lossy(&out.stderr).as_ref();
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool: {said}\n{body}"
    );
}
