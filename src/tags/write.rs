//! Planning a change (merge modes) and writing it atomically.
//!
//! Every write copies the file to a temporary file in the same folder, writes the tags into the
//! copy with lofty, reads them back to check them, fsyncs the copy, checks that the original did
//! not change meanwhile, renames the copy over the original (atomic on POSIX file systems) and
//! fsyncs the folder. A crash leaves either the old file or the new one, plus at worst a stray
//! `.NAME.*.melotag-tmp` file. Permissions (and, when allowed, owner and group) are kept; a
//! symlink is followed and its target replaced. Hard links to the file are not kept (the rename
//! gives the path a new inode), nor are extended attributes or ACLs.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::fields::{FieldId, Raw, Role, TagError, TagFile};
use super::policy::Selection;

/// How new values combine with what a field already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// The field gets exactly the new values.
    Replace,
    /// Keep the existing values, add the new ones that are not there yet (case-insensitive).
    #[default]
    Merge,
    /// Write only fields that are empty or absent.
    Fill,
}

/// One field to change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The field.
    pub field: FieldId,
    /// What it holds for melotag.
    pub role: Role,
    /// Its value before (`None`: absent).
    pub old: Raw,
    /// Its value after.
    pub new: Raw,
    /// Values as a person reads them, before and after (for the preview).
    #[serde(skip)]
    pub old_values: Vec<String>,
    /// See `old_values`.
    #[serde(skip)]
    pub new_values: Vec<String>,
}

/// Merges `new` into `old` by `mode`; `None` when the field is left alone.
pub fn merge_values(old: &[String], new: &[String], mode: MergeMode) -> Option<Vec<String>> {
    if new.is_empty() {
        return None;
    }
    let mut out: Vec<String> = match mode {
        MergeMode::Replace => Vec::new(),
        MergeMode::Merge => old.to_vec(),
        MergeMode::Fill if old.is_empty() => Vec::new(),
        MergeMode::Fill => return None,
    };
    for v in new {
        if !out.iter().any(|o| o.to_lowercase() == v.to_lowercase()) {
            out.push(v.clone());
        }
    }
    Some(out)
}

/// The changes that bring `file` to the selection (and the scores, when given).
pub fn plan(file: &TagFile, selection: &Selection, scores_json: Option<&str>, mode: MergeMode) -> Vec<Change> {
    let mut changes = Vec::new();
    let wanted: [(Role, Vec<String>); 2] = [
        (Role::Genre, selection.genres.iter().map(|s| s.name.to_string()).collect()),
        (Role::Mood, selection.moods.iter().map(|s| s.name.to_string()).collect()),
    ];
    for (role, new) in wanted {
        for field in file.fields(role) {
            let old = file.get(&field);
            let old_values = file.values(&field, role, &old);
            let Some(merged) = merge_values(&old_values, &new, mode) else { continue };
            let raw = file.encode(&field, role, &merged);
            if raw != old {
                changes.push(Change { field, role, old, new: raw, old_values, new_values: merged });
            }
        }
    }
    if let Some(json) = scores_json {
        for field in file.fields(Role::Scores) {
            let old = file.get(&field);
            let new = Some(vec![json.to_string()]);
            if new != old {
                let old_values = old.clone().unwrap_or_default();
                changes.push(Change { field, role: Role::Scores, old, new, old_values, new_values: vec![json.to_string()] });
            }
        }
    }
    changes
}

/// Size and modification time of a file, to notice that it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// Bytes.
    pub size: u64,
    /// Modification time.
    pub mtime: SystemTime,
}

impl Snapshot {
    /// Takes a snapshot of `path` (following symlinks).
    pub fn of(path: &Path) -> io::Result<Snapshot> {
        let m = fs::metadata(path)?;
        Ok(Snapshot { size: m.len(), mtime: m.modified()? })
    }
}

/// Why a file was not written; the original is untouched in every case.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Size or mtime differ from when the file was analysed or read.
    #[error("the file changed on disk since it was analysed; not written (run again)")]
    Changed,
    /// The file has no write permission bits.
    #[error("the file is read-only; not written")]
    ReadOnly,
    /// Tags could not be read or written.
    #[error(transparent)]
    Tag(#[from] TagError),
    /// The written copy did not read back as intended.
    #[error("the written tags did not read back as intended ({0}); not written")]
    Verify(String),
    /// I/O, with what we were doing.
    #[error("{what}: {reason}")]
    Io { what: &'static str, reason: String },
}

fn io_err(what: &'static str) -> impl Fn(io::Error) -> WriteError {
    move |e| WriteError::Io { what, reason: io_reason(&e) }
}

/// A short reason for an I/O error, naming full disks and read-only places.
pub fn io_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::StorageFull => "no space left on the device".into(),
        io::ErrorKind::ReadOnlyFilesystem => "read-only file system".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::QuotaExceeded => "disk quota exceeded".into(),
        _ => crate::library::io_reason(e),
    }
}

/// Applies `changes` to the file at `path` atomically, provided it still matches `expected`
/// and still holds the `old` values. Returns the snapshot of the new file.
pub fn write_changes(path: &Path, expected: &Snapshot, changes: &[Change]) -> Result<Snapshot, WriteError> {
    let real = fs::canonicalize(path).map_err(io_err("resolving the path"))?;
    let meta = fs::metadata(&real).map_err(io_err("reading the file's metadata"))?;
    if (Snapshot { size: meta.len(), mtime: meta.modified().map_err(io_err("reading the mtime"))? }) != *expected {
        return Err(WriteError::Changed);
    }
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly);
    }
    let mut tags = TagFile::read(&real)?;
    for c in changes {
        if tags.get(&c.field) != c.old {
            return Err(WriteError::Changed);
        }
    }
    for c in changes {
        tags.set(&c.field, &c.new)?;
    }
    let file_type = tags.file_type();

    let dir = real.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let name = real.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".melotag-tmp")
        .tempfile_in(&dir)
        .map_err(io_err("creating a temporary file beside it"))?;
    {
        let mut src = File::open(&real).map_err(io_err("opening the file"))?;
        io::copy(&mut src, tmp.as_file_mut()).map_err(io_err("copying the file"))?;
    }
    // Owner and group first (changing them may clear set-id bits), then the mode. Only root (or
    // the owner, to a group they belong to) may chown: not being allowed is not an error.
    {
        use std::os::unix::fs::MetadataExt;
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    }
    tmp.as_file().set_permissions(meta.permissions()).map_err(io_err("setting permissions"))?;

    tags.save_to(tmp.as_file_mut())?;
    tmp.as_file().sync_all().map_err(io_err("flushing the file"))?;

    // Read the copy back: every changed field must hold its new value.
    let check = TagFile::read_from(tmp.as_file_mut(), file_type).map_err(|e| WriteError::Verify(e.to_string()))?;
    for c in changes {
        let got = check.values(&c.field, c.role, &check.get(&c.field));
        let want = check.values(&c.field, c.role, &c.new);
        if got != want {
            return Err(WriteError::Verify(format!("{} holds {:?}, expected {:?}", c.field, got, want)));
        }
    }

    if Snapshot::of(&real).map_err(io_err("reading the file's metadata"))? != *expected {
        return Err(WriteError::Changed);
    }
    tmp.persist(&real).map_err(|e| io_err("replacing the file")(e.error))?;
    File::open(&dir).and_then(|d| d.sync_all()).map_err(io_err("flushing the folder"))?;
    Snapshot::of(&real).map_err(io_err("reading the file's metadata"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merge_modes() {
        let old = v(&["Rock", "jazz"]);
        let new = v(&["Jazz", "Blues"]);
        assert_eq!(merge_values(&old, &new, MergeMode::Replace), Some(v(&["Jazz", "Blues"])));
        assert_eq!(merge_values(&old, &new, MergeMode::Merge), Some(v(&["Rock", "jazz", "Blues"])));
        assert_eq!(merge_values(&old, &new, MergeMode::Fill), None);
        assert_eq!(merge_values(&[], &new, MergeMode::Fill), Some(new.clone()));
        // Nothing selected: the field is left alone, whatever the mode.
        assert_eq!(merge_values(&old, &[], MergeMode::Replace), None);
        // No duplicates inside the new values either.
        assert_eq!(merge_values(&[], &v(&["Pop", "POP"]), MergeMode::Replace), Some(v(&["Pop"])));
    }
}
