//! Where the benches write their figures: `<target>/axon-bench/<name>.json`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

/// Writes `rows` as pretty JSON to `<target>/axon-bench/<name>.json`; returns the path.
pub fn write_json<T: Serialize + ?Sized>(name: &str, rows: &T) -> Result<PathBuf> {
    let dir = target_dir()?.join("axon-bench");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{name}.json"));
    let json = serde_json::to_string_pretty(rows).context("encoding the figures")?;
    std::fs::write(&path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
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
