//! A throw-away single-member etcd for tests, on the loopback or on one
//! host of a [`Net`](super::netns::Net).
//!
//! ```no_run
//! use axon::testing::{netns::Net, Etcd};
//!
//! let local = Etcd::start(None).unwrap(); // on 127.0.0.1
//! println!("{}", local.endpoint());       // http://127.0.0.1:PORT
//! let net = Net::new(&["a", "b"]).unwrap();
//! let on_a = Etcd::start(Some(net.host("a").unwrap())).unwrap(); // reachable from b
//! // Dropping an Etcd kills it and removes its data directory.
//! ```

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axon_runtime::launch::{die_with_parent, Signal};
use axon_runtime::{Error, Result};

use super::netns::Host;

/// The etcd binary, looked up on `PATH`.
const ETCD: &str = "etcd";

/// How long etcd may take to answer healthy (fsyncs on a busy machine are slow).
const HEALTHY_TIMEOUT: Duration = Duration::from_secs(60);

/// How long one health probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A single-member etcd in a child process, with its own data directory.
///
/// Dropping it SIGKILLs the process and removes the directory. The process
/// is also killed when the thread that started it ends (as every process
/// that `axon::testing` starts), so start it from the test's own thread.
pub struct Etcd {
    child: Child,
    dir: PathBuf,
    client: SocketAddr,
}

impl std::fmt::Debug for Etcd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Etcd")
            .field("endpoint", &self.endpoint())
            .field("pid", &self.pid())
            .finish()
    }
}

/// How one attempt to start etcd ended.
enum Attempt {
    Up(Etcd),
    /// A port picked was taken before etcd bound it: worth one more try.
    PortTaken(Error),
}

impl Etcd {
    /// Starts etcd on free ports, on `host`'s address inside its namespace
    /// when given (else on 127.0.0.1), and returns once it answers healthy.
    ///
    /// Fails, saying to install the Debian package `etcd-server`, when no
    /// `etcd` binary is on `PATH`.
    pub fn start(host: Option<&Host>) -> Result<Etcd> {
        match Self::attempt(host)? {
            Attempt::Up(etcd) => Ok(etcd),
            Attempt::PortTaken(e) => {
                tracing::info!(error = %e, "etcd lost a port it was given; trying other ports");
                match Self::attempt(host)? {
                    Attempt::Up(etcd) => Ok(etcd),
                    Attempt::PortTaken(e) => Err(e),
                }
            }
        }
    }

    /// The client URL, `http://ip:port`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.client)
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        self.client
    }

    /// The etcd process's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn attempt(host: Option<&Host>) -> Result<Attempt> {
        let ip = host.map_or(Ipv4Addr::LOCALHOST, Host::addr);
        let [client, peer] = match host {
            Some(h) => h.enter(|| free_ports(ip))??,
            None => free_ports(ip)?,
        };
        let dir = scratch_dir()?;
        let mut cmd = match host {
            Some(h) => h.command(ETCD),
            None => Command::new(ETCD),
        };
        let log = match std::fs::File::create(dir.join("etcd.log")) {
            Ok(log) => log,
            Err(e) => return Err(cleanup(&dir, e.into())),
        };
        let err = match log.try_clone() {
            Ok(err) => err,
            Err(e) => return Err(cleanup(&dir, e.into())),
        };
        args(&mut cmd, ip, client, peer, &dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        // Should the test's thread die first, etcd goes with it.
        die_with_parent(&mut cmd, Signal::Kill);
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(cleanup(&dir, not_installed()));
            }
            Err(e) => {
                let e = Error::Config(format!("cannot start etcd: {e}"));
                return Err(cleanup(&dir, e));
            }
        };
        let mut etcd = Etcd {
            child,
            dir,
            client: SocketAddr::new(IpAddr::V4(ip), client),
        };
        match etcd.wait_healthy(host) {
            Ok(()) => Ok(Attempt::Up(etcd)),
            Err(e) if etcd.log().contains("address already in use") => Ok(Attempt::PortTaken(e)),
            // `etcd` drops here: killed, its directory removed.
            Err(e) => Err(e),
        }
    }

    /// Polls `/health` (inside `host`'s namespace) until etcd says it is healthy.
    fn wait_healthy(&mut self, host: Option<&Host>) -> Result<()> {
        let addr = self.client;
        let child = &mut self.child;
        let mut exited = None;
        let mut poll = || {
            super::wait_until(HEALTHY_TIMEOUT, || {
                exited = child.try_wait().ok().flatten();
                exited.is_some() || healthy(addr)
            })
        };
        let done = match host {
            Some(h) => h.enter(poll)?,
            None => poll(),
        };
        match (exited, done) {
            (Some(status), _) => Err(Error::Config(format!(
                "etcd exited ({status}) before it was healthy; its log ends with:\n{}",
                tail(&self.log())
            ))),
            (None, true) => Ok(()),
            (None, false) => Err(Error::Timeout(
                HEALTHY_TIMEOUT,
                format!(
                    "etcd at {addr} to be healthy; its log ends with:\n{}",
                    tail(&self.log())
                ),
            )),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("etcd.log")).unwrap_or_default()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        // It may be gone already (e.g. `Net::kill_all`); wait reaps it either way.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether etcd at `addr` answers `GET /health` with 200 and `"health":"true"`.
fn healthy(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) else {
        return false;
    };
    let request = format!("GET /health HTTP/1.0\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut response = String::new();
    let answered = s.set_read_timeout(Some(PROBE_TIMEOUT)).is_ok()
        && s.write_all(request.as_bytes()).is_ok()
        && s.read_to_string(&mut response).is_ok();
    answered && response.starts_with("HTTP/1.") && {
        let status = response.split_whitespace().nth(1);
        status == Some("200") && response.contains(r#""health":"true""#)
    }
}

/// Two distinct free ports on `ip`, in the calling thread's namespace.
fn free_ports(ip: Ipv4Addr) -> Result<[u16; 2]> {
    // Both bound at once, so that they differ; released for etcd to take.
    let a = TcpListener::bind((ip, 0))?;
    let b = TcpListener::bind((ip, 0))?;
    Ok([a.local_addr()?.port(), b.local_addr()?.port()])
}

fn args<'c>(
    cmd: &'c mut Command,
    ip: Ipv4Addr,
    client: u16,
    peer: u16,
    dir: &std::path::Path,
) -> &'c mut Command {
    let client_url = format!("http://{ip}:{client}");
    let peer_url = format!("http://{ip}:{peer}");
    cmd.arg("--name")
        .arg("axon-test")
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--listen-client-urls")
        .arg(&client_url)
        .arg("--advertise-client-urls")
        .arg(&client_url)
        .arg("--listen-peer-urls")
        .arg(&peer_url)
        .arg("--initial-advertise-peer-urls")
        .arg(&peer_url)
        .arg("--initial-cluster")
        .arg(format!("axon-test={peer_url}"))
        .arg("--initial-cluster-state")
        .arg("new")
        .arg("--logger")
        .arg("zap")
        .arg("--log-outputs")
        .arg("stderr")
}

fn not_installed() -> Error {
    Error::Config(format!(
        "no `{ETCD}` binary on PATH: install it (Debian: apt-get install etcd-server; .ci/run does)"
    ))
}

/// Removes `dir`, then hands `e` back.
fn cleanup(dir: &std::path::Path, e: Error) -> Error {
    let _ = std::fs::remove_dir_all(dir);
    e
}

/// The last lines of a log, for an error message.
fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// A private (0700) directory for one etcd.
fn scratch_dir() -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "axon-etcd-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    // Only a dead process with our pid can have left one of this name.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}
