//! Reading the log file back: what `axon logs` prints, and following it
//! (`-f`) across rotations.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{rotated, LogRecord};

/// Reads a log file from its start and then follows it: each [`Tail::poll`]
/// returns the lines completed since the last.
///
/// When the file is rotated (another file now has its name), what is left
/// in the old one is read first, and once more on the next poll (a writer
/// may add its last line there just after the rotation); then the new file
/// is read from its start.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: Option<(File, u64)>,
    /// The file rotated away, drained once more on the next poll.
    old: Option<File>,
    /// The start of a line whose end is not written yet.
    partial: Vec<u8>,
}

impl Tail {
    /// A tail of the log file at `path`, from its start (it need not exist yet).
    pub fn new(path: &Path) -> Tail {
        Tail {
            path: path.to_path_buf(),
            file: None,
            old: None,
            partial: Vec::new(),
        }
    }

    /// The complete lines written since the last poll, oldest first.
    pub fn poll(&mut self) -> std::io::Result<Vec<String>> {
        let mut bytes = std::mem::take(&mut self.partial);
        if let Some(mut old) = self.old.take() {
            old.read_to_end(&mut bytes)?;
        }
        if let Some((file, _)) = self.file.as_mut() {
            file.read_to_end(&mut bytes)?;
        }
        let now = std::fs::metadata(&self.path).ok().map(|m| m.ino());
        let ours = self.file.as_ref().map(|(_, ino)| *ino);
        if now.is_some() && now != ours {
            if let Some((old, _)) = self.file.take() {
                self.old = Some(old);
            }
            if let Ok(mut file) = File::open(&self.path) {
                let ino = file.metadata()?.ino();
                file.read_to_end(&mut bytes)?;
                self.file = Some((file, ino));
            }
        }
        Ok(self.split(bytes))
    }

    /// Whether the file is gone (no file at the path: its node ended and removed its directory).
    pub fn gone(&self) -> bool {
        !self.path.exists()
    }

    /// Complete lines of `bytes`; an incomplete last one waits for the next poll.
    fn split(&mut self, mut bytes: Vec<u8>) -> Vec<String> {
        let complete = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        self.partial = bytes.split_off(complete);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Every record of the log file at `path`: its rotated `.1` first, then
/// the file itself; the [`Tail`] returned follows on from there.
pub fn read_all(path: &Path) -> std::io::Result<(Vec<LogRecord>, Tail)> {
    let mut lines = match std::fs::read(rotated(path)) {
        Ok(bytes) => String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut tail = Tail::new(path);
    lines.extend(tail.poll()?);
    let records = lines
        .iter()
        .filter_map(|l| LogRecord::from_json(l))
        .collect();
    Ok((records, tail))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::LogFile;

    #[test]
    fn a_tail_follows_the_file_across_a_rotation_and_waits_for_whole_lines() {
        let dir = std::env::temp_dir().join(format!("axon-tail-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("axon.log");
        let mut tail = Tail::new(&path);
        assert!(tail.poll().unwrap().is_empty() && tail.gone());
        let mut writer = LogFile::open(&path, 10).unwrap();
        let mut late = LogFile::open(&path, 10).unwrap();
        writer.append("one").unwrap();
        assert_eq!(tail.poll().unwrap(), ["one"]);
        writer.append("two").unwrap();
        // "three" takes the file over 10 bytes: it is rotated.
        writer.append("three").unwrap();
        assert_eq!(tail.poll().unwrap(), ["two", "three"]);
        // A writer still holding the old file adds its last line there, then follows.
        late.append("four").unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"fi"))
            .unwrap();
        assert_eq!(tail.poll().unwrap(), ["four"]);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"ve\n"))
            .unwrap();
        assert_eq!(tail.poll().unwrap(), ["five"]);
        let (records, _) = read_all(&path).unwrap();
        assert!(records.is_empty(), "none of these lines is a record");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
