//! The node's runtime directory: one per name server, holding every ipc file of its agents.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory `user_runtime_dir()/<node-id>`, mode 0700.
pub(crate) fn create() -> std::io::Result<PathBuf> {
    let base = axon_runtime::config::user_runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)?;
    let dir = base.join(node_id());
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// `<pid>-<nanos>-<n>`: distinct across processes (pid), pid reuse (time) and calls in one process (counter).
fn node_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{}-{nanos:09}-{n}", std::process::id())
}

/// Removes the directory and everything in it; a missing directory is fine.
pub(crate) fn remove(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove runtime directory")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn directories_are_private_and_removed_whole() {
        let dir = create().unwrap();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        std::fs::write(dir.join("a.ipc"), b"").unwrap();
        remove(&dir);
        assert!(!dir.exists());
        remove(&dir);
    }

    #[test]
    fn node_ids_are_distinct_within_a_process() {
        let (a, b) = (create().unwrap(), create().unwrap());
        assert_ne!(a, b);
        remove(&a);
        remove(&b);
    }
}
