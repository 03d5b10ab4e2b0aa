//! The process limits a name server with thousands of agents needs: every
//! agent costs it a pidfd, and a few more descriptors while it starts.

/// Raises the soft limit of open files to the hard limit, and says so; a limit that cannot be
/// read or raised is logged and left as it is.
pub(super) fn raise_open_files() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        return tracing::warn!(error = %e, "cannot read the open-files limit");
    }
    let (soft, hard) = (limit.rlim_cur, limit.rlim_max);
    if soft >= hard {
        return tracing::info!(
            open_files = soft,
            "open-files limit already at its hard limit"
        );
    }
    limit.rlim_cur = hard;
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        let e = std::io::Error::last_os_error();
        return tracing::warn!(error = %e, soft, hard, "cannot raise the open-files limit");
    }
    tracing::info!(
        from = soft,
        to = hard,
        "open-files limit raised to the hard limit (each agent holds a pidfd here)"
    );
}
