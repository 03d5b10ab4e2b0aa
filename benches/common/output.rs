//! Where the benches write their figures: `<target>/axon-bench/<name>.json`,
//! one JSON object per row, read by `scripts/bench-table.py` to make the
//! README's tables.
//!
//! Every row carries [`REQUIRED`]: what was measured (`bench`), on which
//! `pattern`, `transport` and `serializer` at which payload `size` (`null`
//! where it does not apply, as for a spawn), axon's figure, the peer's
//! figure measured in the same run (`raw`, `null` where there is none) and
//! the `unit`. Rows of reliable channels add `lost` and `duplicates`. Each
//! row is stamped with `at_ms` (when it was written, ms since the epoch).
//!
//! A run replaces the rows it measured and keeps the others, so
//! `cargo bench --bench lifecycle -- restart` updates the restart rows of
//! `lifecycle.json` without dropping the spawn rows of an earlier run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

/// The fields every row has.
pub const REQUIRED: [&str; 8] = [
    "bench",
    "pattern",
    "transport",
    "serializer",
    "size",
    "axon",
    "raw",
    "unit",
];

/// The fields that tell one row from another in a file: a new row replaces an old one with the
/// same values of these.
const KEY: [&str; 6] = [
    "scenario",
    "bench",
    "pattern",
    "transport",
    "serializer",
    "size",
];

/// Merges `rows` into `<target>/axon-bench/<name>.json` (see the module doc); returns the path.
///
/// A row without one of [`REQUIRED`] is a bug in the bench: an error, nothing written.
pub fn write_json<T: Serialize>(name: &str, rows: &[T]) -> Result<PathBuf> {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut new = Vec::with_capacity(rows.len());
    for row in rows {
        let Value::Object(mut row) = serde_json::to_value(row).context("encoding a row")? else {
            bail!("{name}: a row is not a JSON object");
        };
        if let Some(missing) = REQUIRED.iter().find(|f| !row.contains_key(**f)) {
            bail!("{name}: a row has no `{missing}`: {row:?}");
        }
        row.insert("at_ms".into(), at_ms.into());
        new.push(row);
    }
    let path = dir()?.join(format!("{name}.json"));
    let mut kept: Vec<Map<String, Value>> = match std::fs::read(&path) {
        // A file this code did not write (or an older layout) is replaced whole.
        Ok(old) => serde_json::from_slice(&old).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    kept.retain(|old| !new.iter().any(|n| key(n) == key(old)));
    kept.extend(new);
    write_value(&path, &kept)?;
    Ok(path)
}

/// Writes `value` as pretty JSON to `<target>/axon-bench/<name>.json` as it is (a series, say,
/// that is not rows); returns the path.
// Every bench compiles this module; only some write more than rows.
#[allow(dead_code)]
pub fn write_other<T: Serialize + ?Sized>(name: &str, value: &T) -> Result<PathBuf> {
    let path = dir()?.join(format!("{name}.json"));
    write_value(&path, value)?;
    Ok(path)
}

fn key(row: &Map<String, Value>) -> Vec<Option<&Value>> {
    KEY.iter().map(|k| row.get(*k)).collect()
}

fn write_value<T: Serialize + ?Sized>(path: &Path, value: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(value).context("encoding the figures")?;
    std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}

/// `<target>/axon-bench`, made if missing.
fn dir() -> Result<PathBuf> {
    let dir = target_dir()?.join("axon-bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, else the `target` above this executable.
fn target_dir() -> Result<PathBuf> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        return Ok(manifest.join(dir));
    }
    let exe = std::env::current_exe().context("locating the bench executable")?;
    let found = exe
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "target"));
    Ok(found.map_or_else(|| manifest.join("target"), Path::to_path_buf))
}
