//! The node's runtime directory: one per name server, holding every ipc file of its agents.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A fresh directory `user_runtime_dir()/<node-id>`, mode 0700.
///
/// The base directory must be this user's own and private: one that another
/// user owns or can write to (made there before us, say in `/tmp`) is
/// refused, since whoever controls it could plant sockets and files.
pub(crate) fn create() -> std::io::Result<PathBuf> {
    let base = axon_runtime::config::user_runtime_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)?;
    check_private(&base)?;
    let dir = base.join(node_id());
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(dir)
}

/// A node directory the operator chose (`NodeOptions::dir`, `axon up
/// --node-dir`), or the one of a supervisor that died: made (mode 0700) if
/// missing; an existing one must be private like a fresh one.
pub(crate) fn open_at(dir: &Path) -> std::io::Result<PathBuf> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
        _ => {}
    }
    check_private(dir)?;
    Ok(dir.to_path_buf())
}

/// Refuses `dir` unless it is a real directory (not a symlink), owned by
/// this user, and writable by no one else.
fn check_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    let why = if !meta.file_type().is_dir() {
        "is not a directory (a symlink?)".to_owned()
    } else if meta.uid() != uid {
        format!(
            "is owned by uid {}, not by this user (uid {uid})",
            meta.uid()
        )
    } else if meta.mode() & 0o022 != 0 {
        format!(
            "is writable by group or others (mode {:o})",
            meta.mode() & 0o777
        )
    } else {
        return Ok(());
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::PermissionDenied,
        format!(
            "runtime directory {} {why}; refusing it (set XDG_RUNTIME_DIR, or fix or remove it)",
            dir.display()
        ),
    ))
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
    fn a_runtime_base_writable_by_others_or_not_a_directory_is_refused() {
        let base = std::env::temp_dir().join(format!("axon-rundir-check-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert!(check_private(&base).is_ok());
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        let e = check_private(&base).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
        assert!(e.to_string().contains("writable by group or others"), "{e}");
        let link = base.with_extension("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&base, &link).unwrap();
        assert!(check_private(&link)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        std::fs::remove_file(&link).unwrap();
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn node_ids_are_distinct_within_a_process() {
        let (a, b) = (create().unwrap(), create().unwrap());
        assert_ne!(a, b);
        remove(&a);
        remove(&b);
    }
}
