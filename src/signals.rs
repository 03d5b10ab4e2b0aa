//! SIGINT and SIGTERM as a request to stop: the foreground commands that run
//! a loop (`axon up`, `axon top`) catch them into a flag their loop reads.

use std::sync::atomic::{AtomicI32, Ordering};

/// The signal that asked the process to stop (0: none yet).
static STOP: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(signal: libc::c_int) {
    STOP.store(signal, Ordering::SeqCst);
}

/// From now on, SIGINT and SIGTERM only ask the loop to stop ([`stop_signal`]).
pub fn catch_stop_signals() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        for sig in [libc::SIGINT, libc::SIGTERM] {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// The signal received, by name, once there is one.
pub fn stop_signal() -> Option<&'static str> {
    match STOP.load(Ordering::SeqCst) {
        0 => None,
        libc::SIGINT => Some("SIGINT"),
        _ => Some("SIGTERM"),
    }
}
