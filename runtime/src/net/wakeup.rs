//! Waking one socket's drain, not every drain of the agent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Wake, Waker};

/// Whether a socket's drain has something to look at.
///
/// actix polls every future of an actor whenever any of them is woken, so
/// without this every socket of an agent would try a receive (and libzmq a
/// `poll` system call or two) for every message any socket gets. The drain
/// registers this waker with the socket's readiness instead of the actor's,
/// and skips its socket until it is woken: by the reactor (the socket's fd
/// is ready) or by any other operation on the socket, since libzmq may then
/// have taken the readiness in (see [`Socket::touched`]).
pub(super) struct Wakeup {
    pub(super) due: AtomicBool,
    /// The actor's task waker.
    pub(super) task: Mutex<Option<Waker>>,
}

impl Wakeup {
    /// Keeps the actor's waker current.
    pub(super) fn follow(&self, waker: &Waker) {
        if let Ok(mut task) = self.task.lock() {
            if !task.as_ref().is_some_and(|t| t.will_wake(waker)) {
                *task = Some(waker.clone());
            }
        }
    }
}

impl Wake for Wakeup {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.due.store(true, Ordering::Release);
        if let Ok(task) = self.task.lock() {
            if let Some(t) = task.as_ref() {
                t.wake_by_ref();
            }
        }
    }
}
