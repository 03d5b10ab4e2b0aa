//! The node's log file, `<runtime dir>/axon.log`: every process of the
//! node (name server, agents, `axon up`) appends its events to it itself,
//! one JSON line per event (docs/logging.md).
//!
//! Each process opens the file with `O_APPEND` and writes each line with
//! one `write(2)`, which the kernel appends whole: lines of concurrent
//! writers never interleave. At [`ROTATE_AT`] bytes the file is rotated
//! to `axon.log.1` (replacing the one before): the writer that sees the
//! file over the size takes an `flock` on it, renames it if no one did
//! yet, and opens a fresh `axon.log`; every other writer notices (its file
//! is over the size and no longer at the path) on its next line and opens
//! the new one. So `axon.log.1` may end with one line per process past the
//! size, and the two files hold at most about 2 × 64 MiB.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::LogRecord;

/// The log file's name in the runtime directory.
pub const LOG_FILE: &str = "axon.log";

/// The size at which the log file is rotated to `axon.log.1`: 64 MiB.
pub const ROTATE_AT: u64 = 64 << 20;

/// The file what processes write to their stderr goes to when they log
/// only to the file (`axon up`): panic messages, aborts, foreign output.
pub const STDERR_FILE: &str = "stderr.log";

/// Environment variable set (to `1`) for a name server, and so for its
/// agents, that log only to the file: nothing of their log stream goes to
/// the terminal, and their stderr goes to [`STDERR_FILE`].
pub const DETACHED_ENV: &str = "AXON_LOG_DETACHED";

/// Whether this process logs only to the file ([`DETACHED_ENV`]).
pub fn detached() -> bool {
    std::env::var(DETACHED_ENV).is_ok_and(|v| v == "1")
}

/// An open log file that rotates at a size.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: File,
    limit: u64,
}

impl LogFile {
    /// Opens (or creates, mode 0600) the log file at `path` for appending; rotates at `limit` bytes.
    pub fn open(path: &Path, limit: u64) -> std::io::Result<LogFile> {
        Ok(LogFile {
            path: path.to_path_buf(),
            file: append_to(path)?,
            limit,
        })
    }

    /// Appends `line` (which holds no newline) and a newline in one write, then rotates if due.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        self.file.write_all(&bytes)?;
        self.rotate_if_due()
    }

    /// Past the size (or unlinked): rotate, or follow a rotation another process made.
    fn rotate_if_due(&mut self) -> std::io::Result<()> {
        let meta = self.file.metadata()?;
        if meta.len() < self.limit && meta.nlink() > 0 {
            return Ok(());
        }
        if meta.nlink() > 0 {
            self.rotate(meta.ino())?;
        }
        match append_to(&self.path) {
            Ok(file) => self.file = file,
            // The directory is gone (its node ended): the open file is all there is.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Renames the file (inode `ino`) to `.1`, unless another writer did already.
    fn rotate(&self, ino: u64) -> std::io::Result<()> {
        // Exclusive while renaming: two writers over the size rename once.
        // SAFETY: flock on an open descriptor we own; it is released below.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX) };
        let still_here = std::fs::metadata(&self.path).is_ok_and(|m| m.ino() == ino);
        let renamed = match still_here {
            true => std::fs::rename(&self.path, rotated(&self.path)),
            false => Ok(()),
        };
        // SAFETY: as above.
        unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_UN) };
        renamed
    }
}

/// `axon.log` -> `axon.log.1`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn append_to(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

static SINK: Mutex<Option<LogFile>> = Mutex::new(None);

/// Set once [`to_file`] opened the file.
static OPEN: AtomicBool = AtomicBool::new(false);

/// From now on, this process's events (those [`FileLayer`] is given) go to
/// `<dir>/axon.log`. Until then they go nowhere but the terminal.
pub fn to_file(dir: &Path) -> std::io::Result<()> {
    let file = LogFile::open(&dir.join(LOG_FILE), ROTATE_AT)?;
    if let Ok(mut sink) = SINK.lock() {
        *sink = Some(file);
        OPEN.store(true, Ordering::Relaxed);
    }
    Ok(())
}

/// Whether this process writes its events to a log file.
pub fn writes_file() -> bool {
    OPEN.load(Ordering::Relaxed)
}

/// Sends what this process writes to its stderr (file descriptor 2, so its
/// children's too) to `<dir>/stderr.log`, rotated to `stderr.log.1` here if
/// it is over [`ROTATE_AT`]; the file is made mode 0600.
pub fn redirect_stderr(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(STDERR_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= ROTATE_AT) {
        std::fs::rename(&path, rotated(&path))?;
    }
    let file = append_to(&path)?;
    // SAFETY: dup2 onto descriptor 2 of two descriptors that are open; `file` closes its own after.
    match unsafe { libc::dup2(file.as_raw_fd(), 2) } {
        -1 => Err(std::io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// The tracing layer writing events to the log file once [`to_file`] opened it.
pub struct FileLayer {
    process: String,
}

impl FileLayer {
    /// Records events as logged by `process` (an agent's name, `nameserver`, `up`).
    pub fn new(process: &str) -> FileLayer {
        FileLayer {
            process: process.to_owned(),
        }
    }
}

impl<S: Subscriber> Layer<S> for FileLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !writes_file() {
            return;
        }
        let line = LogRecord::of(&self.process, event).json();
        let Ok(mut sink) = SINK.lock() else { return };
        if let Some(file) = sink.as_mut() {
            if let Err(e) = file.append(&line) {
                // The file is the log; with it gone, stderr is all that is left.
                let _ = writeln!(std::io::stderr().lock(), "{line} (log file: {e})");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("axon-logfile-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn lines(path: &Path) -> Vec<String> {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn two_writers_rotate_once_into_one_dot_1_and_lose_no_line() {
        let dir = scratch("rotate");
        let path = dir.join(LOG_FILE);
        let (mut a, mut b) = (
            LogFile::open(&path, 100).unwrap(),
            LogFile::open(&path, 100).unwrap(),
        );
        let line = "x".repeat(39);
        a.append(&format!("a1{line}")).unwrap();
        b.append(&format!("b1{line}")).unwrap();
        // 123 bytes: a rotates the file after this line.
        a.append(&format!("a2{line}")).unwrap();
        // b's file moved away: b's next line lands in .1, then b follows to the new file.
        b.append(&format!("b2{line}")).unwrap();
        b.append(&format!("b3{line}")).unwrap();
        a.append(&format!("a3{line}")).unwrap();
        let old: Vec<String> = lines(&rotated(&path))
            .iter()
            .map(|l| l[..2].to_owned())
            .collect();
        let new: Vec<String> = lines(&path).iter().map(|l| l[..2].to_owned()).collect();
        assert_eq!(old, ["a1", "b1", "a2", "b2"]);
        assert_eq!(new, ["b3", "a3"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_log_file_is_private() {
        let dir = scratch("mode");
        let path = dir.join(LOG_FILE);
        LogFile::open(&path, 100).unwrap().append("l").unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
