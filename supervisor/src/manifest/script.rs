//! `[[agent.script]]`: rhai scripts loaded into an agent when it starts,
//! before its binds and connects (which may name their functions), and
//! `[agent.script_limits]`. A script that does not compile refuses the
//! manifest with its line, and the script's own line and column.

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{raw, Lines, Manifest, ManifestError};

/// One `[[agent.script]]`: inline `source`, or a `file` relative to the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptEntry {
    /// The manifest line of the table, for errors.
    pub line: usize,
    /// The file it comes from, when it is not inline.
    pub file: Option<PathBuf>,
    /// The rhai source; read by [`Manifest::read_scripts`] for a file.
    pub source: String,
}

pub(super) fn script_entry(
    lines: &Lines<'_>,
    s: &Spanned<raw::Script>,
) -> Result<ScriptEntry, ManifestError> {
    let entry = match (&s.get_ref().file, &s.get_ref().source) {
        (Some(file), None) => ScriptEntry {
            line: lines.of(s.span()),
            file: Some(file.clone()),
            source: String::new(),
        },
        (None, Some(source)) => ScriptEntry {
            line: lines.of(s.span()),
            file: None,
            source: source.clone(),
        },
        _ => {
            let why = "a script has either `file` or `source`";
            return Err(lines.error(s.span(), why));
        }
    };
    if entry.file.is_none() {
        check(&entry)?;
    }
    Ok(entry)
}

/// Whether the script compiles; the error names the manifest line and the script's.
fn check(entry: &ScriptEntry) -> Result<(), ManifestError> {
    axon_runtime::check_script(&entry.source)
        .map(drop)
        .map_err(|e| ManifestError {
            line: entry.line,
            message: match &entry.file {
                Some(f) => format!("script {}: {e}", f.display()),
                None => format!("script: {e}"),
            },
        })
}

impl Manifest {
    /// Reads the scripts given as files (relative to `dir`, the manifest's directory) and checks them.
    pub fn read_scripts(&mut self, dir: &Path) -> Result<(), ManifestError> {
        for entry in self.agents.iter_mut().flat_map(|a| a.scripts.iter_mut()) {
            let Some(file) = &entry.file else {
                continue;
            };
            let path = dir.join(file);
            entry.source = std::fs::read_to_string(&path).map_err(|e| ManifestError {
                line: entry.line,
                message: format!("script {}: {e}", path.display()),
            })?;
            check(entry)?;
        }
        Ok(())
    }
}
