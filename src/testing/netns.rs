//! Several "hosts" on one machine, for tests of multi-host behaviour: one
//! Linux network namespace per host, all plugged into a bridge, with faults
//! to inject (cut a host off, bring it back, kill everything it runs).
//!
//! Needs root (or `CAP_SYS_ADMIN` and `CAP_NET_ADMIN`) and the `ip` command
//! (Debian: `iproute2`).
//!
//! ```no_run
//! use std::net::{TcpListener, TcpStream};
//! use axon::testing::netns::Net;
//!
//! let net = Net::new(&["a", "b"]).unwrap();
//! let (a, b) = (net.host("a").unwrap(), net.host("b").unwrap());
//! // A socket opened inside `enter` lives on that host, whichever thread uses it later.
//! let listener = a.enter(|| TcpListener::bind((a.addr(), 0))).unwrap().unwrap();
//! let to = listener.local_addr().unwrap();
//! assert!(b.enter(|| TcpStream::connect(to)).unwrap().is_ok());
//! net.cut("a").unwrap(); // a's cable is pulled at the switch: b's connects time out
//! net.heal("a").unwrap();
//! let mut server = a.command("sleep"); // any program, run inside a's namespace
//! server.arg("600").spawn().unwrap();
//! net.kill_all("a").unwrap(); // as if a crashed
//! // Dropping `net` kills what still runs in it and removes every namespace and link.
//! ```
//!
//! # Names
//!
//! Everything a [`Net`] creates is named after its *prefix*,
//! `axt<pid>-<n>` (pid and a per-process counter in base 36, so that a link
//! name stays within the kernel's 15 characters): the switch namespace is
//! the prefix itself, host `a`'s namespace is `<prefix>-a`, and the links are
//! `<prefix>.br` (bridge), `<prefix>.h<i>` (host end of host `i`'s veth pair)
//! and `<prefix>.s<i>` (its switch end). Every link lives inside the Net's
//! namespaces, none in the caller's. [`Net::new`] first removes what a test
//! process that died without dropping its Net left behind: names under a
//! prefix whose pid is no longer alive.
//!
//! # Addresses
//!
//! Host `i` (in the order given) is `10.X.Y.(i+1)/24`, with `X.Y` derived
//! from the pid and the counter, so that Nets differ in practice. They
//! need not: a Net's addresses exist only inside its own namespaces, and
//! no two Nets share a link, so equal subnets could not meet.

use std::collections::HashSet;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axon_runtime::launch::{alive, signal, Signal};
use axon_runtime::{Error, Result};

/// Every name a [`Net`] creates starts with this.
pub const PREFIX: &str = "axt";

/// Where `ip netns` keeps the namespaces it names.
const NETNS_DIR: &str = "/run/netns";

/// How long killed processes may take to be gone.
const KILL_TIMEOUT: Duration = Duration::from_secs(20);

/// Most hosts one Net can have (the last octet of their addresses).
const MAX_HOSTS: usize = 250;

/// The Nets of this process that exist (by prefix), so that cleaning up
/// after dead processes never touches them.
static LIVE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Numbers the Nets of this process.
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A set of hosts (network namespaces) plugged into one switch (a bridge in
/// a namespace of its own).
///
/// Dropping it, also when a test panics, kills every process in its
/// namespaces and removes its links and namespaces.
pub struct Net {
    prefix: String,
    /// Its number among this process's Nets.
    n: u32,
    hosts: Vec<Host>,
    /// Namespaces created so far (switch first), to remove on drop.
    namespaces: Vec<String>,
}

/// One host of a [`Net`]: a network namespace with one address.
#[derive(Debug)]
pub struct Host {
    name: String,
    netns: String,
    addr: Ipv4Addr,
    /// Its end of the veth pair, in its namespace.
    link: String,
    /// The other end, in the switch's namespace, a port of the bridge.
    port: String,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net")
            .field("prefix", &self.prefix)
            .field("hosts", &self.hosts)
            .finish()
    }
}

impl Net {
    /// Creates one namespace per host name, each with one address on a
    /// shared switch, `lo` up everywhere.
    ///
    /// Names are letters, digits and `_`, at most 32 characters, all different.
    pub fn new(hosts: &[&str]) -> Result<Net> {
        check_names(hosts)?;
        let (prefix, n) = register();
        let mut net = Net {
            prefix,
            n,
            hosts: Vec::new(),
            namespaces: Vec::new(),
        };
        remove_leftovers();
        // On an error `net` drops, which removes whatever was created.
        net.create(hosts)?;
        Ok(net)
    }

    /// The prefix of every name this Net created (see the module's doc).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hosts, in the order given to [`Net::new`].
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host named `name`.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts
            .iter()
            .find(|h| h.name == name)
            .ok_or_else(|| Error::invalid("host", name, format!("not in net {}", self.prefix)))
    }

    /// The switch's namespace, which holds the bridge.
    pub fn switch_netns(&self) -> &str {
        &self.prefix
    }

    /// Cuts `host` off: its port on the switch goes down, so no traffic
    /// passes between it and any other host until [`Net::heal`]. The host
    /// itself notices nothing but silence (its own link stays up, without
    /// carrier): connects to and from it time out.
    pub fn cut(&self, host: &str) -> Result<()> {
        let h = self.host(host)?;
        ip_in(&self.prefix, &["link", "set", &h.port, "down"])?;
        Ok(())
    }

    /// Plugs `host` back in after [`Net::cut`].
    pub fn heal(&self, host: &str) -> Result<()> {
        let h = self.host(host)?;
        ip_in(&self.prefix, &["link", "set", &h.port, "up"])?;
        Ok(())
    }

    /// SIGKILLs every process in `host`'s namespace, as if the host
    /// crashed, and waits until none is left and each has finished exiting
    /// (a zombie counts as finished); returns the pids killed.
    ///
    /// A killed child of this process stays a zombie until its `Child` is
    /// waited for: this does not reap it, so that its owner still can
    /// (dropping an [`Etcd`](crate::testing::Etcd) does).
    pub fn kill_all(&self, host: &str) -> Result<Vec<u32>> {
        kill_netns(&self.host(host)?.netns)
    }

    fn create(&mut self, hosts: &[&str]) -> Result<()> {
        let sw = self.prefix.clone();
        let bridge = format!("{sw}.br");
        self.add_netns(&sw)?;
        // No spanning tree, no forward delay: a port forwards as soon as it is up.
        ip_in(
            &sw,
            &[
                "link",
                "add",
                &bridge,
                "type",
                "bridge",
                "forward_delay",
                "0",
            ],
        )?;
        ip_in(&sw, &["link", "set", &bridge, "up"])?;
        let subnet = subnet(std::process::id(), self.n);
        for (i, name) in hosts.iter().enumerate() {
            let host = Host {
                name: name.to_string(),
                netns: format!("{sw}-{name}"),
                addr: Ipv4Addr::new(subnet[0], subnet[1], subnet[2], i as u8 + 1),
                link: format!("{sw}.h{}", base36(i as u32)),
                port: format!("{sw}.s{}", base36(i as u32)),
            };
            self.add_host(host, &bridge)?;
        }
        Ok(())
    }

    fn add_netns(&mut self, netns: &str) -> Result<()> {
        ip(&["netns", "add", netns])?;
        self.namespaces.push(netns.to_owned());
        ip_in(netns, &["link", "set", "lo", "up"])?;
        Ok(())
    }

    fn add_host(&mut self, host: Host, bridge: &str) -> Result<()> {
        let (sw, ns) = (self.prefix.clone(), host.netns.clone());
        self.add_netns(&ns)?;
        let cidr = format!("{}/24", host.addr);
        let (link, port) = (host.link.clone(), host.port.clone());
        self.hosts.push(host);
        ip(&[
            "link", "add", &link, "netns", &ns, "type", "veth", "peer", "name", &port, "netns", &sw,
        ])?;
        ip_in(&ns, &["addr", "add", &cidr, "dev", &link])?;
        ip_in(&ns, &["link", "set", &link, "up"])?;
        ip_in(&sw, &["link", "set", &port, "master", bridge])?;
        ip_in(&sw, &["link", "set", &port, "up"])?;
        Ok(())
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Processes first, so that nothing holds on to a link or sends meanwhile.
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = kill_netns(ns) {
                tracing::warn!(netns = %ns, error = %e, "could not kill the processes of a test namespace");
            }
        }
        // Deleting one end of a veth pair deletes both; the namespaces would take them anyway.
        for h in &self.hosts {
            let _ = ip_in(&self.prefix, &["link", "del", &h.port]);
        }
        let bridge = format!("{}.br", self.prefix);
        let _ = ip_in(&self.prefix, &["link", "del", &bridge]);
        for ns in self.namespaces.iter().rev() {
            if let Err(e) = ip(&["netns", "del", ns]) {
                tracing::warn!(netns = %ns, error = %e, "could not delete a test namespace");
            }
        }
        live().retain(|p| *p != self.prefix);
    }
}

impl Host {
    /// Its name, as given to [`Net::new`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its address on the switch.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Its network namespace's name (for `ip netns exec`, `ip -n`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// A command that runs `program` on this host: the child enters the
    /// namespace between fork and exec.
    ///
    /// Spawning it fails if the namespace is gone (its [`Net`] dropped).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        // Opened now, so that the child needs no path; closed with the command.
        let netns = self.open().ok().map(OwnedFd::from);
        // SAFETY: the closure runs between fork and exec in the child; it
        // calls only setns (a system call), allocates nothing and takes no lock.
        unsafe {
            cmd.pre_exec(move || match &netns {
                Some(fd) => {
                    if libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                }
                // The namespace was gone when the command was made: spawn fails with ENOENT.
                None => Err(std::io::Error::from_raw_os_error(libc::ENOENT)),
            });
        }
        cmd
    }

    /// Runs `f` on a new thread that has entered this host's namespace, and
    /// returns what it returns (a panic in `f` is resumed here).
    ///
    /// Sockets that `f` opens belong to this host for their whole life,
    /// whichever thread uses them afterwards.
    pub fn enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        let netns = self.open()?;
        let joined = std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns has no memory-safety preconditions; the fd is open.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    let e = std::io::Error::last_os_error();
                    return Err(Error::Config(format!(
                        "cannot enter network namespace {}: {e}",
                        self.netns
                    )));
                }
                Ok(f())
            })
            .join()
        });
        match joined {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    fn open(&self) -> Result<File> {
        let path = netns_path(&self.netns);
        File::open(&path).map_err(|e| {
            Error::Config(format!(
                "cannot open network namespace {}: {e}",
                path.display()
            ))
        })
    }
}

/// Runs `ip -n netns` with `args` (in namespace `netns`).
fn ip_in(netns: &str, args: &[&str]) -> Result<String> {
    ip(&[&["-n", netns][..], args].concat())
}

/// Runs `ip` with `args`; its stdout, or an error naming the command and its stderr.
fn ip(args: &[&str]) -> Result<String> {
    let shown = || format!("ip {}", args.join(" "));
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::Config(
                "the `ip` command is not installed (Debian: apt-get install iproute2)".into(),
            ),
            _ => Error::Config(format!("cannot run `{}`: {e}", shown())),
        })?;
    if !out.status.success() {
        return Err(Error::Config(format!(
            "`{}` failed ({}): {}",
            shown(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn check_names(hosts: &[&str]) -> Result<()> {
    if hosts.len() > MAX_HOSTS {
        return Err(Error::invalid(
            "host list",
            hosts.len().to_string(),
            format!("at most {MAX_HOSTS} hosts"),
        ));
    }
    let mut seen = HashSet::new();
    for name in hosts {
        let ok = !name.is_empty()
            && name.len() <= 32
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::invalid(
                "host name",
                *name,
                "letters, digits and _, 1 to 32 of them",
            ));
        }
        if !seen.insert(*name) {
            return Err(Error::invalid("host name", *name, "given twice"));
        }
    }
    Ok(())
}

fn live() -> MutexGuard<'static, Vec<String>> {
    // A panic while the lock was held left the list itself intact.
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A new prefix and its number, recorded as live before anything is created under it.
fn register() -> (String, u32) {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let prefix = format!("{PREFIX}{}-{}", base36(std::process::id()), base36(n));
    live().push(prefix.clone());
    (prefix, n)
}

/// The pid and counter of a name under [`PREFIX`].
fn parse_prefix(name: &str) -> Option<(u32, u32)> {
    let rest = name.strip_prefix(PREFIX)?;
    let (pid, rest) = rest.split_once('-')?;
    let n: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        .collect();
    Some((
        u32::from_str_radix(pid, 36).ok()?,
        u32::from_str_radix(&n, 36).ok()?,
    ))
}

/// Whether a namespace named `name` belongs to a Net whose process is gone
/// (or to one of this process that no longer exists).
fn is_leftover(name: &str) -> bool {
    let Some((pid, _)) = parse_prefix(name) else {
        return false;
    };
    if pid == std::process::id() {
        return !live()
            .iter()
            .any(|p| name == p || name.starts_with(&format!("{p}-")));
    }
    !alive(pid)
}

/// Removes the namespaces (with their processes and links) of Nets whose
/// process died without dropping them. Best effort: another process may
/// be removing the same ones.
fn remove_leftovers() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return;
    };
    let stale: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| is_leftover(name))
        .collect();
    for ns in &stale {
        let _ = kill_netns(ns);
    }
    for ns in &stale {
        tracing::info!(netns = %ns, "removing a namespace left by a dead test process");
        let _ = ip(&["netns", "del", ns]);
    }
}

fn netns_path(netns: &str) -> PathBuf {
    PathBuf::from(NETNS_DIR).join(netns)
}

/// The processes whose network namespace is `netns` (as `ip netns pids`),
/// never this process.
fn pids_in(netns: &str) -> Result<Vec<u32>> {
    let meta = std::fs::metadata(netns_path(netns))
        .map_err(|e| Error::Config(format!("cannot stat network namespace {netns}: {e}")))?;
    let wanted = format!("net:[{}]", meta.ino());
    let me = std::process::id();
    let pids = std::fs::read_dir("/proc")?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read_link(format!("/proc/{pid}/ns/net"))
                .is_ok_and(|link| link.as_os_str() == wanted.as_str())
        })
        .collect();
    Ok(pids)
}

/// SIGKILLs every process in `netns` until none is alive (zombies count as
/// gone); returns the pids killed.
fn kill_netns(netns: &str) -> Result<Vec<u32>> {
    let mut killed = Vec::new();
    let mut failed = None;
    let done = super::wait_until(KILL_TIMEOUT, || match pids_in(netns) {
        Ok(pids) => {
            let pids: Vec<u32> = pids.into_iter().filter(|&p| alive(p)).collect();
            for &pid in &pids {
                // A process that ended meanwhile is what we want anyway.
                let _ = signal(pid, Signal::Kill);
                if !killed.contains(&pid) {
                    killed.push(pid);
                }
            }
            // Leaving the namespace comes before the end of exiting: wait for both.
            pids.is_empty() && killed.iter().all(|&p| !alive(p))
        }
        Err(e) => {
            failed = Some(e);
            true
        }
    });
    match (failed, done) {
        (Some(e), _) => Err(e),
        (None, true) => Ok(killed),
        (None, false) => Err(Error::Timeout(
            KILL_TIMEOUT,
            format!("the processes of network namespace {netns} to die"),
        )),
    }
}

/// The first three octets of a Net's subnet, from its pid and counter.
fn subnet(pid: u32, n: u32) -> [u8; 3] {
    [10, 128 + (pid % 128) as u8, (n % 256) as u8]
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_round_trip_and_link_names_fit_the_kernel_limit() {
        let pid = 4_194_304; // the largest pid_max
        let prefix = format!("{PREFIX}{}-{}", base36(pid), base36(1295));
        assert_eq!(parse_prefix(&prefix), Some((pid, 1295)));
        assert_eq!(parse_prefix(&format!("{prefix}-host_1")), Some((pid, 1295)));
        let link = format!("{prefix}.h{}", base36(MAX_HOSTS as u32));
        assert!(link.len() <= 15, "{link} is {} long", link.len());
        assert_eq!(parse_prefix("axtzz"), None);
        assert_eq!(parse_prefix("eth0"), None);
    }

    #[test]
    fn host_names_are_checked() {
        assert!(check_names(&["a", "b_2"]).is_ok());
        assert!(check_names(&["a", "a"]).is_err());
        assert!(check_names(&[""]).is_err());
        assert!(check_names(&["a-b"]).is_err());
        assert!(check_names(&["a/b"]).is_err());
    }

    #[test]
    fn subnets_of_one_process_differ() {
        let a = subnet(1234, 0);
        assert_ne!(a, subnet(1234, 1));
        assert_eq!(a[0], 10);
    }
}
