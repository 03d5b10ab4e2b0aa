//! What a supervisor keeps in its runtime directory so that, if it crashes,
//! the next one (started by `axon up`, or by systemd) takes over: one file
//! per child (options, restart count, pid and identity, journal, addresses),
//! one for the node (how many supervisors it has had) and one for the
//! supervision groups (restart windows and counts).
//!
//! Writes are crash-safe for the case that matters here, a crash of the
//! supervisor process: a record is written whole to a temporary file and
//! renamed over the old one, so a reader sees the old record or the new
//! one, never half of one. There is no fsync: the page cache outlives the
//! process, and a crash of the machine ends the agents as well.
//!
//! Records are CBOR. A file that does not decode is reported and skipped; it
//! never stops a supervisor from starting.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
        Ok(Store { dir })
    }

    /// Whether `rundir` holds a node's saved state (a supervisor ran there).
    pub(crate) fn exists(rundir: &Path) -> bool {
        rundir.join("state").join(NODE_FILE).exists()
    }

    /// Saves (replaces) the record of one child.
    pub(crate) fn save_child(&self, record: &ChildRecord) -> std::io::Result<()> {
        self.write(&child_file(&record.name), record)
    }

    /// Deletes the record of a child the supervisor forgot; a missing one is fine.
    pub(crate) fn remove_child(&self, name: &str) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join(child_file(name))) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Every child record, and a note for each file that could not be read.
    pub(crate) fn children(&self) -> (Vec<ChildRecord>, Vec<String>) {
        let (mut records, mut unreadable) = (Vec::new(), Vec::new());
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) => return (records, vec![format!("{}: {e}", self.dir.display())]),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let is_child = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(CHILD_SUFFIX));
            if !is_child {
                continue;
            }
            match read::<ChildRecord>(&path) {
                Ok(r) => records.push(r),
                Err(e) => unreadable.push(format!("{}: {e}", path.display())),
            }
        }
        records.sort_by_key(|r| r.order);
        (records, unreadable)
    }

    /// The node's record, if one was saved.
    pub(crate) fn node(&self) -> std::io::Result<Option<NodeRecord>> {
        let path = self.dir.join(NODE_FILE);
        match read(&path) {
            Ok(r) => Ok(Some(r)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The supervision groups' restart windows and counts, if saved; an unreadable file is an error.
    pub(crate) fn groups(&self) -> std::io::Result<Vec<GroupRecord>> {
        match read(&self.dir.join(GROUPS_FILE)) {
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

    fn write<T: Serialize>(&self, file: &str, value: &T) -> std::io::Result<()> {
        let mut bytes = Vec::new();
        ciborium::into_writer(value, &mut bytes).map_err(std::io::Error::other)?;
        let path = self.dir.join(file);
        let tmp = self.dir.join(format!(".{file}.tmp"));
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        out.write_all(&bytes)?;
        drop(out);
        std::fs::rename(&tmp, &path)
    }
}

fn child_file(name: &str) -> String {
    format!("{}{CHILD_SUFFIX}", axon_runtime::safe_name(name))
}

fn read<T: DeserializeOwned>(path: &Path) -> std::io::Result<T> {
    let bytes = std::fs::read(path)?;
    ciborium::from_reader(&bytes[..])
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))
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
        std::fs::write(dir.join("state").join("junk.child.cbor"), b"\xff\x00").unwrap();
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
        store.save_node(&node).unwrap();
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
}
