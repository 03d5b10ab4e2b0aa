//! The multi-host harness: real network namespaces, real processes, real etcd.
//! Needs root and `ip`; the etcd test needs `etcd` (`.ci/run` installs both).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use axon::testing::netns::{Host, Net};
use axon::testing::{process_alive, wait_until, Etcd};
use common::PATIENCE;

/// How long a connect to a host that was cut off may try.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A listener opened on `host`, answering each connection with `hello`.
fn serve_hello(host: &Host) -> SocketAddr {
    let listener = host
        .enter(|| TcpListener::bind((host.addr(), 0)))
        .unwrap()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    // Ends with the test process; it only ever answers.
    std::thread::spawn(move || {
        for mut s in listener.incoming().map_while(Result::ok) {
            let _ = s.write_all(b"hello");
        }
    });
    addr
}

/// Connects from `from` to `to`, giving up after `timeout`, and reads the greeting.
fn greet(from: &Host, to: SocketAddr, timeout: Duration) -> std::io::Result<String> {
    from.enter(|| {
        let mut s = TcpStream::connect_timeout(&to, timeout)?;
        s.set_read_timeout(Some(PATIENCE))?;
        let mut got = String::new();
        s.read_to_string(&mut got)?;
        Ok(got)
    })
    .unwrap()
}

/// `GET /health` from inside `from`: the status line and body, as one string.
fn health(from: &Host, addr: SocketAddr) -> std::io::Result<String> {
    from.enter(|| {
        let mut s = TcpStream::connect_timeout(&addr, PATIENCE)?;
        s.set_read_timeout(Some(PATIENCE))?;
        s.write_all(b"GET /health HTTP/1.0\r\nConnection: close\r\n\r\n")?;
        let mut got = String::new();
        s.read_to_string(&mut got)?;
        Ok(got)
    })
    .unwrap()
}

/// Lines of `ip args` that name something under `prefix` (and not under
/// a longer prefix that starts the same).
fn ip_lines_with(args: &[&str], prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    let mine = |word: &str| {
        word.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '.']))
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.split([' ', ':', '@']).any(mine))
        .map(str::to_owned)
        .collect()
}

fn assert_gone(prefix: &str) {
    assert_eq!(
        ip_lines_with(&["netns", "list"], prefix),
        Vec::<String>::new()
    );
    assert_eq!(ip_lines_with(&["-o", "link"], prefix), Vec::<String>::new());
}

#[test]
fn hosts_reach_each_other_over_the_switch() {
    let net = Net::new(&["a", "b", "c"]).unwrap();
    let (a, b, c) = (
        net.host("a").unwrap(),
        net.host("b").unwrap(),
        net.host("c").unwrap(),
    );
    let addrs = [a.addr(), b.addr(), c.addr()];
    assert!(addrs[0] != addrs[1] && addrs[1] != addrs[2] && addrs[0] != addrs[2]);
    let on_a = serve_hello(a);
    assert_eq!(greet(b, on_a, PATIENCE).unwrap(), "hello");
    assert_eq!(greet(c, on_a, PATIENCE).unwrap(), "hello");
}

#[test]
fn a_cut_host_is_unreachable_until_healed() {
    let net = Net::new(&["a", "b", "c"]).unwrap();
    let (a, b, c) = (
        net.host("a").unwrap(),
        net.host("b").unwrap(),
        net.host("c").unwrap(),
    );
    let (on_a, on_c) = (serve_hello(a), serve_hello(c));
    assert_eq!(greet(b, on_a, PATIENCE).unwrap(), "hello");

    net.cut("a").unwrap();
    // Silence, not a refusal: the SYN goes nowhere (or a's address no longer resolves).
    let err = greet(b, on_a, CONNECT_TIMEOUT).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::TimedOut | ErrorKind::HostUnreachable),
        "{err:?}"
    );
    // Only a is cut off.
    assert_eq!(greet(b, on_c, PATIENCE).unwrap(), "hello");

    net.heal("a").unwrap();
    assert!(
        wait_until(PATIENCE, || greet(b, on_a, CONNECT_TIMEOUT).is_ok()),
        "a never came back"
    );
}

#[test]
fn etcd_on_one_host_is_healthy_from_another_and_dies_with_its_host() {
    let net = Net::new(&["a", "b", "c"]).unwrap();
    let (a, c) = (net.host("a").unwrap(), net.host("c").unwrap());
    let etcd = Etcd::start(Some(a)).unwrap();
    assert_eq!(etcd.endpoint(), format!("http://{}", etcd.addr()));
    assert_eq!(etcd.addr().ip(), a.addr());

    let answer = health(c, etcd.addr()).unwrap();
    assert!(
        answer.starts_with("HTTP/1.") && answer.contains(" 200 "),
        "{answer}"
    );
    assert!(answer.contains(r#""health":"true""#), "{answer}");

    let pid = etcd.pid();
    let killed = net.kill_all("a").unwrap();
    assert_eq!(killed, vec![pid]);
    assert!(!process_alive(pid));
    assert!(health(c, etcd.addr()).is_err());
}

#[test]
fn etcd_without_a_net_listens_on_the_loopback() {
    let etcd = Etcd::start(None).unwrap();
    assert!(etcd.endpoint().starts_with("http://127.0.0.1:"));
    let mut s = TcpStream::connect_timeout(&etcd.addr(), PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.contains(r#""health":"true""#), "{answer}");
    let pid = etcd.pid();
    drop(etcd);
    assert!(!process_alive(pid));
}

#[test]
fn dropping_the_net_leaves_nothing_behind_also_on_panic() {
    let net = Net::new(&["a", "b"]).unwrap();
    let prefix = net.prefix().to_owned();
    assert_eq!(ip_lines_with(&["netns", "list"], &prefix).len(), 3);
    let mut sleeper = net
        .host("b")
        .unwrap()
        .command("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = sleeper.id();
    drop(net);
    assert!(!process_alive(pid));
    assert!(sleeper.wait().is_ok());
    assert_gone(&prefix);

    // A panicking test drops its Net on the way out.
    let caught = std::panic::catch_unwind(|| {
        let net = Net::new(&["a"]).unwrap();
        let prefix = net.prefix().to_owned();
        std::panic::panic_any(prefix);
    });
    let prefix = *caught.unwrap_err().downcast::<String>().unwrap();
    assert_gone(&prefix);
}

#[test]
fn the_leftovers_of_a_crashed_test_process_are_removed() {
    // A child that creates a Net, prints its prefix and the pid of a process
    // it runs there, and aborts: no Drop runs.
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "crashing_child",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AXON_NETNS_CRASH", "1")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CRASHED "))
        .unwrap_or_else(|| panic!("no CRASHED line in {stdout}"));
    let (prefix, pid) = line.split_once(' ').unwrap();
    let pid: u32 = pid.parse().unwrap();
    // (Any Net made meanwhile by a test running in parallel may have removed them already.)
    let _net = Net::new(&["x"]).unwrap();
    assert_gone(prefix);
    assert!(wait_until(PATIENCE, || !process_alive(pid)));
}

/// Run by the test above, in a child process.
#[test]
#[ignore = "run by the_leftovers_of_a_crashed_test_process_are_removed"]
fn crashing_child() {
    if std::env::var_os("AXON_NETNS_CRASH").is_none() {
        return;
    }
    let net = Net::new(&["a"]).unwrap();
    let sleeper = net
        .host("a")
        .unwrap()
        .command("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(ip_lines_with(&["netns", "list"], net.prefix()).len(), 2);
    // On a line of its own: libtest has printed "test crashing_child ... " before.
    println!("\nCRASHED {} {}", net.prefix(), sleeper.id());
    std::process::abort();
}
