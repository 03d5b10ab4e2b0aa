//! Starting and ending axon processes: the spec a new agent process reads
//! to learn who it is, the command that re-runs a program in a role,
//! signals, watching processes that are not our children, and the orderly
//! end of the process's ZeroMQ context.

mod process;
mod spec;
mod watch;

pub use process::{alive, die_with_parent, signal, stat_field, HostCommand, Signal, HOST_ENV};
pub use spec::{AgentSpec, AGENT_ENV, DEFAULT_ORPHAN_GRACE, ROLE_ENV};
pub use watch::{become_subreaper, exited, is_same_process, reap_orphans, start_ticks};

/// Terminates the process-wide ZeroMQ context at exit, waiting at most
/// `limit` for messages still queued in closed sockets to leave.
///
/// Call it once every socket is closed, right before the process exits.
pub fn terminate_zmq(limit: std::time::Duration) {
    // The log forwarding socket lives in a static; it must close too, or termination waits for it.
    crate::logging::disconnect();
    let (done, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut ctx = crate::net::zmq_context().clone();
        // zmq_ctx_term blocks until every socket is closed and flushed (or its linger is over).
        let _ = ctx.destroy();
        let _ = done.send(());
    });
    // Past the limit the process exits anyway; what is still queued is lost, as documented.
    let _ = wait.recv_timeout(limit);
}
