//! What keeps a bug from leaving a half-dead node behind.
//!
//! - [`catch`]: each control request runs under it. A panic inside becomes
//!   an error the server answers with (`internal`), and the server keeps
//!   serving the other agents.
//! - [`Node`]: the node's runtime directory and agent processes. While it
//!   is held, a panic anywhere else in the process (outside a request) is
//!   fatal: the panic hook stops the agents, removes the directory and
//!   exits with [`PANIC_EXIT`]. Without the hook, tokio would swallow the
//!   panic of the actor's task and leave a process that no longer serves.
//!   Dropped (the name server ends, by a shutdown or an error), it stops
//!   what is left of its agents and removes the directory.
//! - Under a heart (`axon up`, or `NodeOptions::heart`), a crash is not the
//!   node's end: the hook exits at once and leaves the agents running and
//!   the directory in place, for the supervisor the heart starts next to
//!   adopt. Only a clean end ([`Node::ended`]) cleans up.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::panic::{self, UnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once, TryLockError};
use std::time::{Duration, Instant};

use axon_runtime::launch::Signal;

/// Exit status of a name server that panicked outside a request (as Rust's own for a panic).
pub const PANIC_EXIT: i32 = 101;

/// How long the fatal path waits for its killed agents to be reaped.
const REAP_BOUND: Duration = Duration::from_secs(1);

thread_local! {
    /// Set while a request runs under [`catch`] on this thread: its panic is caught, not fatal.
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    /// What the panic caught last said, and where.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`; a panic in it comes back as `Err`, saying what panicked and where.
pub(crate) fn catch<R>(f: impl FnOnce() -> R + UnwindSafe) -> Result<R, String> {
    install_hook();
    let outer = CATCHING.with(|c| c.replace(true));
    let outcome = panic::catch_unwind(f);
    CATCHING.with(|c| c.set(outer));
    outcome.map_err(|payload| {
        CAUGHT
            .with(|c| c.borrow_mut().take())
            .unwrap_or_else(|| message(payload.as_ref()))
    })
}

/// What the node would leave behind if the process died now.
#[derive(Debug, Default)]
struct Leftovers {
    dir: Option<PathBuf>,
    children: BTreeSet<u32>,
}

static NODE: Mutex<Leftovers> = Mutex::new(Leftovers {
    dir: None,
    children: BTreeSet::new(),
});

/// Set once the node's leftovers were cleaned up (by the hook or by `Drop`).
static CLEANED: AtomicBool = AtomicBool::new(false);

/// Set when a heart will start another supervisor: a crash then leaves everything for it.
static HEART: AtomicBool = AtomicBool::new(false);

/// The node's runtime directory and agent processes, cleaned up when this
/// is dropped or the process panics outside a request.
#[derive(Debug)]
pub(crate) struct Node(());

impl Node {
    /// Takes charge of `dir` and installs the panic hook (once per process).
    /// With `heart`, a crash leaves agents and `dir` for the next supervisor.
    pub(crate) fn guard(dir: PathBuf, heart: bool) -> Node {
        with_node(|n| {
            n.dir = Some(dir);
            n.children.clear();
        });
        CLEANED.store(false, Ordering::SeqCst);
        HEART.store(heart, Ordering::SeqCst);
        install_hook();
        Node(())
    }

    /// Notes an agent process this node started.
    pub(crate) fn started(pid: u32) {
        with_node(|n| n.children.insert(pid));
    }

    /// Notes that an agent process was reaped.
    pub(crate) fn reaped(pid: u32) {
        with_node(|n| n.children.remove(&pid));
    }
}

impl Node {
    /// The node ended cleanly (a shutdown): whatever is left goes, heart or not.
    pub(crate) fn ended(self) {
        clean_up();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if !HEART.load(Ordering::SeqCst) {
            clean_up();
        }
    }
}

fn with_node<R>(f: impl FnOnce(&mut Leftovers) -> R) -> R {
    // Poisoned only by a panic while holding it, which nothing here does; the data is still right.
    let mut node = NODE.lock().unwrap_or_else(|p| p.into_inner());
    f(&mut node)
}

/// Installs (once per process) the hook under which a panic in [`catch`] only records what it
/// said, and any other is fatal while a [`Node`] is held; otherwise the previous hook runs alone.
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let what = message(info.payload());
            let what = match info.location() {
                Some(at) => format!("{what} (at {at})"),
                None => what,
            };
            if CATCHING.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(what));
                return;
            }
            previous(info);
            if node_held() {
                if HEART.load(Ordering::SeqCst) {
                    tracing::error!(panic = %what, "name server panicked outside a request; exiting, its agents serve on for the next supervisor");
                } else {
                    tracing::error!(panic = %what, "name server panicked outside a request; stopping its agents and exiting");
                    clean_up();
                }
                std::process::exit(PANIC_EXIT);
            }
        }));
    });
}

/// Whether a [`Node`] is held; when another thread holds the lock, assume so.
fn node_held() -> bool {
    match NODE.try_lock() {
        Ok(node) => node.dir.is_some(),
        Err(TryLockError::Poisoned(p)) => p.into_inner().dir.is_some(),
        Err(TryLockError::WouldBlock) => true,
    }
}

/// Kills the agents still running and removes the runtime directory; once.
fn clean_up() {
    if CLEANED.swap(true, Ordering::SeqCst) {
        return;
    }
    // try_lock: the hook may run while another thread holds it; never wait on it there
    // (the agents then leave by themselves once their orphan grace is over).
    let mut node = match NODE.try_lock() {
        Ok(node) => node,
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return,
    };
    let children = std::mem::take(&mut node.children);
    let dir = node.dir.take();
    drop(node);
    for &pid in &children {
        tracing::warn!(pid, "stopping agent of a name server that is ending");
        // Already gone is fine.
        let _ = axon_runtime::launch::signal(pid, Signal::Kill);
    }
    reap(&children);
    if let Some(dir) = dir {
        crate::rundir::remove(&dir);
    }
}

/// Waits (boundedly) for killed children, so that none outlives this process as a zombie.
fn reap(children: &BTreeSet<u32>) {
    let deadline = Instant::now() + REAP_BOUND;
    let mut left: Vec<u32> = children.iter().copied().collect();
    while !left.is_empty() && Instant::now() < deadline {
        left.retain(|&pid| {
            let Ok(pid) = libc::pid_t::try_from(pid) else {
                return false;
            };
            let mut status = 0;
            // SAFETY: waitpid only writes the status int we pass; WNOHANG never blocks.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            // 0: still running; the pid (reaped) or -1 (not our child, or reaped already): done.
            rc == 0
        });
        if !left.is_empty() {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_says_what_and_where() {
        let got = catch(|| -> u32 { panic!("boom {}", 7) });
        let err = got.unwrap_err();
        assert!(err.starts_with("boom 7 (at "), "{err}");
        assert!(err.contains("guard.rs"), "{err}");
        assert_eq!(catch(|| 5), Ok(5));
    }

    #[test]
    fn nested_catches_restore_the_outer_one() {
        let outer = catch(|| {
            let inner = catch(|| -> () { panic!("inner") });
            assert!(inner.unwrap_err().starts_with("inner"));
            // Still under the outer catch: this panic is caught too.
            panic!("outer")
        });
        assert!(outer.unwrap_err().starts_with("outer"));
    }
}
