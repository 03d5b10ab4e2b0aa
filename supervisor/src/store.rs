//! What a supervisor keeps in its runtime directory so that, if it crashes,
//! the next one (started by `axon up`, or by systemd) takes over: one file
//! per child (options, restart count, pid and identity, journal, addresses),
//! one for the node (how many supervisors it has had) and one for the
//! supervision groups (restart windows and counts).
//!
//! Writes are crash-safe for the case that matters here, a crash of the
//! supervisor process: each record has two slot files (`<record>.0` and
//! `<record>.1`), and a save overwrites, in place, the slot that does not
//! hold the newest version. A slot is a header (magic `AXS1`, a sequence
//! number, the body's length and CRC-32) and the CBOR body, so a reader
//! takes the valid slot with the higher sequence: the old record or the new
//! one, never half of one. Writing in place, rather than to a new file
//! renamed over the old one, allocates no inode per save: with thousands of
//! agents starting, ext4's inode allocation was a fifth of the name
//! server's CPU (docs/performance.md). There is no fsync: the page cache
//! outlives the process, and a crash of the machine ends the agents as well.
//!
//! A record whose slots are both unreadable is reported and skipped; it
//! never stops a supervisor from starting.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use axon_runtime::saved;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::supervision::{ChildRecord, GroupRecord};

/// The node's own record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    /// Supervisors this node has had, the running one included.
    pub(crate) incarnation: u32,
    /// When the first one started, in ms since the Unix epoch.
    pub(crate) first_started_unix_ms: u64,
}

/// The records under `<runtime dir>/state`.
#[derive(Debug)]
pub(crate) struct Store {
    dir: PathBuf,
    /// The newest sequence written (or found) of each record file, by file name.
    written: Mutex<HashMap<String, u64>>,
}

const NODE_FILE: &str = "node.cbor";
const GROUPS_FILE: &str = "groups.cbor";
const CHILD_SUFFIX: &str = ".child.cbor";

impl Store {
    /// The store of the runtime directory `rundir` (created, mode 0700).
    pub(crate) fn open(rundir: &Path) -> std::io::Result<Store> {
        let dir = rundir.join("state");
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        Ok(Store {
            dir,
            written: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `rundir` holds a node's saved state (a supervisor ran there).
    pub(crate) fn exists(rundir: &Path) -> bool {
        let state = rundir.join("state");
        slots(NODE_FILE)
            .iter()
            .any(|slot| state.join(slot).exists())
    }

    /// Saves (replaces) the record of one child.
    pub(crate) fn save_child(&self, record: &ChildRecord) -> std::io::Result<()> {
        self.write(&child_file(&record.name), record)
    }

    /// Deletes the record of a child the supervisor forgot; a missing one is fine.
    pub(crate) fn remove_child(&self, name: &str) -> std::io::Result<()> {
        let file = child_file(name);
        self.lock().remove(&file);
        for slot in slots(&file) {
            match std::fs::remove_file(self.dir.join(slot)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// Every child record, and a note for each record that could not be read.
    pub(crate) fn children(&self) -> (Vec<ChildRecord>, Vec<String>) {
        let (mut records, mut unreadable) = (Vec::new(), Vec::new());
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => return (records, vec![format!("{}: {e}", self.dir.display())]),
        };
        let mut files: Vec<String> = entries
            .flatten()
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter_map(|n| Some(n.strip_suffix(".0").or(n.strip_suffix(".1"))?.to_owned()))
            .filter(|n| n.ends_with(CHILD_SUFFIX))
            .collect();
        files.sort();
        files.dedup();
        for file in files {
            match self.read(&file) {
                Ok(r) => records.push(r),
                Err(e) => unreadable.push(format!("{}: {e}", self.dir.join(file).display())),
            }
        }
        records.sort_by_key(|r| r.order);
        (records, unreadable)
    }

    /// The node's record, if one was saved.
    pub(crate) fn node(&self) -> std::io::Result<Option<NodeRecord>> {
        match self.read(NODE_FILE) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The supervision groups' restart windows and counts, if saved; an unreadable file is an error.
    pub(crate) fn groups(&self) -> std::io::Result<Vec<GroupRecord>> {
        match self.read(GROUPS_FILE) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            other => other,
        }
    }

    /// Saves (replaces) the supervision groups' windows and counts.
    pub(crate) fn save_groups(&self, records: &[GroupRecord]) -> std::io::Result<()> {
        self.write(GROUPS_FILE, &records)
    }

    /// Saves the node's record.
    pub(crate) fn save_node(&self, record: &NodeRecord) -> std::io::Result<()> {
        self.write(NODE_FILE, record)
    }

    /// Writes `value` over the older slot of `file`.
    fn write<T: Serialize>(&self, file: &str, value: &T) -> std::io::Result<()> {
        let mut bytes = saved::unsealed();
        ciborium::into_writer(value, &mut bytes).map_err(std::io::Error::other)?;
        let mut written = self.lock();
        let seq = match written.get(file) {
            Some(seq) => seq + 1,
            // The first save of this process: a predecessor's slots may be there.
            None => newest(&self.dir, file).map_or(0, |(seq, _)| seq + 1),
        };
        saved::seal(&mut bytes, seq);
        let slot = &slots(file)[(seq % 2) as usize];
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(self.dir.join(slot))?;
        out.write_all(&bytes)?;
        out.set_len(bytes.len() as u64)?;
        written.insert(file.to_owned(), seq);
        Ok(())
    }

    /// The newest valid version of `file`; `NotFound` when it has no slot, `InvalidData` when
    /// none of its slots is whole.
    fn read<T: DeserializeOwned>(&self, file: &str) -> std::io::Result<T> {
        let Some((seq, body)) = newest(&self.dir, file) else {
            let any = slots(file).iter().any(|s| self.dir.join(s).exists());
            return Err(match any {
                true => std::io::Error::new(std::io::ErrorKind::InvalidData, "no whole copy"),
                false => std::io::ErrorKind::NotFound.into(),
            });
        };
        let value = ciborium::from_reader(&body[..])
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        self.lock().entry(file.to_owned()).or_insert(seq);
        Ok(value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        self.written.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The two slot files of a record file.
fn slots(file: &str) -> [String; 2] {
    [format!("{file}.0"), format!("{file}.1")]
}

/// The valid slot of `file` with the higher sequence: (sequence, body).
fn newest(dir: &Path, file: &str) -> Option<(u64, Vec<u8>)> {
    slots(file)
        .iter()
        .filter_map(|slot| std::fs::read(dir.join(slot)).ok())
        .filter_map(|bytes| saved::whole(&bytes).map(|(seq, body)| (seq, body.to_vec())))
        .max_by_key(|(seq, _)| *seq)
}

fn child_file(name: &str) -> String {
    format!("{}{CHILD_SUFFIX}", axon_runtime::safe_name(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::SpawnOptions;
    use crate::supervision::{Identity, State};

    fn record(name: &str, order: u64) -> ChildRecord {
        ChildRecord {
            name: name.into(),
            options: SpawnOptions::default().name(name),
            state: State::Running,
            pid: Some(42),
            identity: Some(Identity {
                start_ticks: 7,
                token: "ab".repeat(16),
            }),
            control: Some("ipc:///x.ctl".into()),
            restarts: 2,
            since_unix_ms: 1,
            journal: Default::default(),
            addrs: Default::default(),
            last_exit: None,
            order,
        }
    }

    #[test]
    fn records_round_trip_and_garbage_is_reported_not_fatal() {
        let dir = std::env::temp_dir().join(format!("axon-store-{}", std::process::id()));
        let store = Store::open(&dir).unwrap();
        let (a, b) = (record("a b", 2), record("a_b", 1));
        store.save_child(&a).unwrap();
        store.save_child(&b).unwrap();
        store.save_child(&a).unwrap();
        std::fs::write(dir.join("state").join("junk.child.cbor.1"), b"\xff\x00").unwrap();
        let (records, unreadable) = store.children();
        assert_eq!(records, vec![b.clone(), a]);
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        store.remove_child("a b").unwrap();
        store.remove_child("a b").unwrap();
        assert_eq!(store.children().0, vec![b]);
        assert_eq!(store.node().unwrap(), None);
        let node = NodeRecord {
            incarnation: 3,
            first_started_unix_ms: 9,
        };
        assert!(!Store::exists(&dir));
        store.save_node(&node).unwrap();
        assert!(Store::exists(&dir));
        assert_eq!(store.node().unwrap(), Some(node));
        assert_eq!(store.groups().unwrap(), vec![]);
        let groups = vec![GroupRecord {
            name: "inner".into(),
            restarts: 2,
            recent_unix_ms: vec![5, 6],
        }];
        store.save_groups(&groups).unwrap();
        assert_eq!(store.groups().unwrap(), groups);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_torn_save_leaves_the_previous_version_and_a_successor_writes_on() {
        let dir = std::env::temp_dir().join(format!("axon-store-torn-{}", std::process::id()));
        let store = Store::open(&dir).unwrap();
        let (mut a, state) = (record("a", 1), dir.join("state"));
        store.save_child(&a).unwrap();
        a.restarts = 3;
        store.save_child(&a).unwrap();
        // Two saves, two slots, no other file.
        let mut files: Vec<String> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files, ["a.child.cbor.0", "a.child.cbor.1"]);
        // The newest slot (sequence 1) is torn half-way: the first version is read.
        let newest = state.join("a.child.cbor.1");
        let len = std::fs::metadata(&newest).unwrap().len();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&newest)
            .unwrap()
            .set_len(len / 2)
            .unwrap();
        let successor = Store::open(&dir).unwrap();
        assert_eq!(successor.children().0[0].restarts, 2);
        // The successor's next save goes past the torn one and wins.
        a.restarts = 4;
        successor.save_child(&a).unwrap();
        assert_eq!(Store::open(&dir).unwrap().children(), (vec![a], vec![]));
        // Both slots torn: reported, not fatal.
        for slot in ["a.child.cbor.0", "a.child.cbor.1"] {
            std::fs::write(state.join(slot), b"AXS1").unwrap();
        }
        let (records, unreadable) = Store::open(&dir).unwrap().children();
        assert!(records.is_empty());
        assert_eq!(unreadable.len(), 1, "{unreadable:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
