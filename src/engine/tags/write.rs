//! Merge modes, and one file written atomically and verified.
//!
//! Every write builds the new file as a temporary file in the same folder (a short hashed name,
//! so a 255-byte file name still fits), verifies it against the original with an independent
//! raw reading (only the intended fields differ; the audio payload is byte-identical; the new
//! values read back), records what rebuilds the original exactly, fsyncs the copy, checks that
//! the original did not change meanwhile, renames the copy over the original (atomic on POSIX
//! file systems) and fsyncs the folder. A crash leaves either the old file or the new one, plus
//! at worst a stray `.melotag-*.tmp` file. Permissions (and, when allowed, owner and group) are
//! kept; a symlink is followed and its target replaced. Hard links to the file are not kept
//! (the rename gives the path a new inode), nor are extended attributes or ACLs.

use std::fs::{self, File};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::fields::{FieldId, FileTags, Raw, Role, TagError, TagFile, TagKind};
use super::undo::ExactUndo;

/// How new values combine with what a field already holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeMode {
    /// The field gets exactly the new values.
    Replace,
    /// Keep the existing values, add the new ones that are not there yet (case-insensitive).
    Merge,
    /// Write only fields that are empty or absent: a file's own genre or mood is left alone
    /// (what careful taggers do by default).
    #[default]
    Fill,
}

impl MergeMode {
    /// Every mode.
    pub const ALL: [MergeMode; 3] = [MergeMode::Fill, MergeMode::Merge, MergeMode::Replace];

    /// Lower-case name, as on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            MergeMode::Replace => "replace",
            MergeMode::Merge => "merge",
            MergeMode::Fill => "fill",
        }
    }
}

impl std::str::FromStr for MergeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<MergeMode, String> {
        MergeMode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| format!("unknown merge mode '{s}' (fill, merge or replace)"))
    }
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

/// Size and mtime of a file, to notice that it changed.
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
        Snapshot::from_metadata(&fs::metadata(path)?)
    }

    /// The snapshot of metadata already read.
    pub fn from_metadata(m: &fs::Metadata) -> io::Result<Snapshot> {
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
    /// The written copy did not read back as intended, or changed more than it should have.
    #[error("not written: {0}")]
    Verify(String),
    /// The undo journal could not record the write, so it was not made.
    #[error("not written: {0}")]
    Journal(String),
    /// The file belongs to another user, who would lose it to us if it were replaced.
    #[error("the file belongs to another user; not written")]
    NotOwner,
    /// I/O, with what we were doing.
    #[error("{what}: {reason}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// What the OS said.
        reason: String,
    },
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
        _ => crate::engine::library::io_reason(e),
    }
}

/// A temporary file beside `real`, with a short name whatever the length of the original's
/// (a 250-byte name plus a suffix would pass the 255-byte limit): `.melotag-HASH-RANDOM.tmp`.
fn temp_beside(real: &Path) -> Result<(PathBuf, tempfile::NamedTempFile), WriteError> {
    use sha2::{Digest, Sha256};
    let dir = real.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    let name_hash: String = Sha256::digest(real.as_os_str().as_encoded_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".melotag-{name_hash}-"))
        .suffix(".tmp")
        .rand_bytes(6)
        .tempfile_in(&dir)
        .map_err(io_err("creating a temporary file beside it"))?;
    Ok((dir, tmp))
}

/// Gives `tmp` the original's owner, group and permission bits.
fn copy_ownership(tmp: &File, meta: &fs::Metadata) -> Result<(), WriteError> {
    use std::os::unix::fs::MetadataExt;
    // Owner and group first (changing them may clear set-id bits), then the mode. Only root (or
    // the owner, to a group they belong to) may chown. A file that would change hands is not
    // replaced: in a folder anyone may write to, another user's file would become ours. A group
    // we are not in (files chown'ed to us but left in root's group) becomes ours, as any editor
    // that saves by renaming does.
    if std::os::unix::fs::fchown(tmp, Some(meta.uid()), Some(meta.gid())).is_err() {
        let ours = tmp.metadata().map_err(io_err("reading the temporary file's metadata"))?;
        if ours.uid() != meta.uid() {
            return Err(WriteError::NotOwner);
        }
        if ours.gid() != meta.gid() {
            tracing::debug!("the file's group ({}) could not be kept", meta.gid());
        }
    }
    tmp.set_permissions(meta.permissions()).map_err(io_err("setting permissions"))
}

/// Which file a path holds and when it last changed in any way: device, inode and ctime.
/// Unlike the mtime, the ctime cannot be set back, so an edit made while the new file is being
/// built is noticed even when its editor restores the mtime.
#[derive(Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    ctime_s: i64,
    ctime_ns: i64,
}

impl Identity {
    fn of(meta: &fs::Metadata) -> Identity {
        use std::os::unix::fs::MetadataExt;
        Identity { dev: meta.dev(), ino: meta.ino(), ctime_s: meta.ctime(), ctime_ns: meta.ctime_nsec() }
    }
}

/// Renames `tmp` over `real` once `real` is still the file `identity` describes and matches
/// `expected`, then flushes the folder.
fn commit(tmp: tempfile::NamedTempFile, real: &Path, dir: &Path, expected: &Snapshot, identity: &Identity) -> Result<Snapshot, WriteError> {
    tmp.as_file().sync_all().map_err(io_err("flushing the file"))?;
    let now = fs::metadata(real).map_err(io_err("reading the file's metadata"))?;
    if Snapshot::from_metadata(&now).map_err(io_err("reading the mtime"))? != *expected || Identity::of(&now) != *identity {
        return Err(WriteError::Changed);
    }
    tmp.persist(real).map_err(|e| io_err("replacing the file")(e.error))?;
    // The file is replaced now, whatever happens next: a failure to flush the folder is only
    // logged, so that the write is reported (and its undo kept) as it is.
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(folder = %dir.display(), "flushing the folder after replacing a file: {}", io_reason(&e));
    }
    Snapshot::of(real).map_err(io_err("reading the file's metadata"))
}

/// Applies `changes` to the file at `path` atomically, provided it still matches `expected`
/// and still holds the `old` values. The new file is built beside it: ID3v2, RIFF INFO, FLAC
/// comments and MP4 ilst atoms spliced byte-for-byte by [`super::raw`], Ogg and APE tags
/// written by lofty;
/// then it is verified against the original with an independent raw reading (every other item
/// byte-identical, the audio payload identical, the new values read back). `before_commit` runs
/// once the new file is complete and verified, with what rebuilds the original exactly (the
/// journal records it there), and can still stop the write. Returns the new file's snapshot.
pub fn write_changes(
    path: &Path,
    expected: &Snapshot,
    changes: &[Change],
    before_commit: impl FnOnce(&ExactUndo) -> Result<(), WriteError>,
) -> Result<Snapshot, WriteError> {
    use super::raw::{self, Container, FieldEdit, RawError};
    let real = fs::canonicalize(path).map_err(io_err("resolving the path"))?;
    let meta = fs::metadata(&real).map_err(io_err("reading the file's metadata"))?;
    let identity = Identity::of(&meta);
    if Snapshot::from_metadata(&meta).map_err(io_err("reading the mtime"))? != *expected {
        return Err(WriteError::Changed);
    }
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly);
    }
    let raw_err = |e: RawError| match e {
        RawError::Damaged { what, offset } => WriteError::Tag(TagError::Damaged(format!("damaged {what} at byte {offset}"))),
        RawError::Unsupported(m) => WriteError::Tag(TagError::Unsupported(format!(": {m}"))),
        RawError::Unknown => WriteError::Tag(TagError::Unsupported(" (not a format melotag writes)".into())),
        // A full disk can only be met writing the new copy.
        RawError::Io(e) if matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded) => {
            io_err("writing the new file")(e)
        }
        RawError::Io(e) => io_err("reading the file")(e),
    };
    let mut orig = File::open(&real).map_err(io_err("opening the file"))?;
    let old_layout = raw::read_layout(&mut orig).map_err(raw_err)?;
    let current = FileTags::read(&real)?;
    for c in changes {
        if current.field(&c.field).map(|f| &f.raw) != Some(&c.old) {
            return Err(WriteError::Changed);
        }
    }

    let (dir, mut tmp) = temp_beside(&real)?;
    let edits = |kind: TagKind| -> Vec<FieldEdit> {
        changes.iter().filter(|c| c.field.tag == kind).map(|c| FieldEdit { key: c.field.key.clone(), values: c.new.clone() }).collect()
    };
    let by_lofty: Vec<&Change> = match old_layout.container {
        Container::Mpeg | Container::Wav | Container::Aiff => {
            let id3 = edits(TagKind::Id3v2);
            let pieces = match old_layout.container {
                Container::Mpeg => raw::mpeg::splice(&mut orig, &id3, 4),
                Container::Aiff => raw::riff::splice_aiff(&mut orig, &id3, 4),
                _ => {
                    let genre =
                        changes.iter().find(|c| c.field.tag == TagKind::RiffInfo).and_then(|c| c.new.as_ref()).map(|v| v.join("; "));
                    raw::riff::splice_wav(&mut orig, &id3, genre.as_deref(), 4)
                }
            }
            .map_err(raw_err)?;
            raw::util::write_pieces(&mut orig, &pieces, &mut io::BufWriter::new(tmp.as_file_mut())).map_err(raw_err)?;
            changes.iter().filter(|c| c.field.tag == TagKind::Ape).collect()
        }
        Container::Flac | Container::Mp4 => {
            let pieces = match old_layout.container {
                Container::Flac => raw::flac::splice(&mut orig, &edits(TagKind::Vorbis)),
                _ => raw::mp4::splice(&mut orig, &edits(TagKind::Mp4)),
            }
            .map_err(raw_err)?;
            raw::util::write_pieces(&mut orig, &pieces, &mut io::BufWriter::new(tmp.as_file_mut())).map_err(raw_err)?;
            Vec::new()
        }
        Container::Ogg | Container::ApeTagged => {
            orig.seek(io::SeekFrom::Start(0)).map_err(io_err("reading the file"))?;
            io::copy(&mut orig, tmp.as_file_mut()).map_err(io_err("copying the file"))?;
            changes.iter().collect()
        }
    };
    if !by_lofty.is_empty() {
        let mut tags = TagFile::read(tmp.path())?;
        for c in &by_lofty {
            tags.set(&c.field, &c.new)?;
        }
        tags.save_to(tmp.as_file_mut())?;
    }
    tmp.as_file_mut().flush().map_err(io_err("writing the file"))?;
    copy_ownership(tmp.as_file(), &meta)?;

    // Verify with an independent raw reading: only the changed fields differ.
    let mut written = File::open(tmp.path()).map_err(io_err("reading the written copy"))?;
    let new_layout =
        raw::read_layout(&mut written).map_err(|e| WriteError::Verify(format!("the written file does not read back ({e})")))?;
    let changed: Vec<(&str, &str)> = changes.iter().map(|c| (c.field.tag.as_str(), c.field.key.as_str())).collect();
    raw::verify(&old_layout, &new_layout, &changed).map_err(WriteError::Verify)?;
    let check = FileTags::read(tmp.path()).map_err(|e| WriteError::Verify(format!("the written tags do not read back ({e})")))?;
    for c in changes {
        let field = check.field(&c.field).ok_or_else(|| WriteError::Verify(format!("{} is missing after the write", c.field)))?;
        if field.values != field.decode(&c.new) {
            return Err(WriteError::Verify(format!("{} holds {:?}, expected {:?}", c.field, field.values, field.decode(&c.new))));
        }
    }
    let exact = exact_undo(&real, tmp.path())?;
    before_commit(&exact)?;
    commit(tmp, &real, &dir, expected, &identity)
}

/// Middles larger than this are not kept for exact undo (undo then restores the fields).
const MAX_UNDO_MIDDLE: u64 = 256 << 20;
/// Chunk for streaming comparisons and hashes.
const CHUNK: usize = 1 << 20;

/// Length of the common prefix of two files, read in chunks.
fn common_prefix(a: &mut File, b: &mut File, limit: u64) -> io::Result<u64> {
    a.seek(io::SeekFrom::Start(0))?;
    b.seek(io::SeekFrom::Start(0))?;
    let (mut x, mut y) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut done = 0u64;
    while done < limit {
        let n = usize::try_from((limit - done).min(CHUNK as u64)).unwrap_or(CHUNK);
        a.read_exact(&mut x[..n])?;
        b.read_exact(&mut y[..n])?;
        let same = x[..n].iter().zip(&y[..n]).take_while(|(p, q)| p == q).count();
        done += same as u64;
        if same < n {
            break;
        }
    }
    Ok(done)
}

/// Length of the common suffix of two files (at most `limit`), read in chunks from the end.
fn common_suffix(a: &mut File, a_len: u64, b: &mut File, b_len: u64, limit: u64) -> io::Result<u64> {
    let (mut x, mut y) = (vec![0u8; CHUNK], vec![0u8; CHUNK]);
    let mut done = 0u64;
    while done < limit {
        let n = usize::try_from((limit - done).min(CHUNK as u64)).unwrap_or(CHUNK);
        a.seek(io::SeekFrom::Start(a_len - done - n as u64))?;
        b.seek(io::SeekFrom::Start(b_len - done - n as u64))?;
        a.read_exact(&mut x[..n])?;
        b.read_exact(&mut y[..n])?;
        let same = x[..n].iter().rev().zip(y[..n].iter().rev()).take_while(|(p, q)| p == q).count();
        done += same as u64;
        if same < n {
            break;
        }
    }
    Ok(done)
}

fn read_range(f: &mut File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    f.seek(io::SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; usize::try_from(len).map_err(|_| io::Error::other("range too large"))?];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

fn sha256_of(f: &mut File) -> io::Result<[u8; 32]> {
    use sha2::{Digest, Sha256};
    f.seek(io::SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(h.finalize().into());
        }
        h.update(&buf[..n]);
    }
}

/// The exact-undo record's bytes: `MTX1`, prefix and suffix lengths, then the delta of the
/// middles ([`super::delta`]): writes change a region near the start (tags) or the end, so
/// only that region is compared and stored, however large the file.
const UNDO_MAGIC: &[u8; 4] = b"MTX1";

/// What rebuilds `original` from `written`: both hashes and a compact delta.
fn exact_undo(original: &Path, written: &Path) -> Result<ExactUndo, WriteError> {
    let mut old = File::open(original).map_err(io_err("reading the file"))?;
    let mut new = File::open(written).map_err(io_err("reading the written copy"))?;
    let old_len = old.metadata().map_err(io_err("reading the file"))?.len();
    let new_len = new.metadata().map_err(io_err("reading the written copy"))?.len();
    let prefix = common_prefix(&mut old, &mut new, old_len.min(new_len)).map_err(io_err("comparing the files"))?;
    let suffix =
        common_suffix(&mut old, old_len, &mut new, new_len, old_len.min(new_len) - prefix).map_err(io_err("comparing the files"))?;
    let (old_mid, new_mid) = (old_len - prefix - suffix, new_len - prefix - suffix);
    let mut record = UNDO_MAGIC.to_vec();
    if old_mid.max(new_mid) <= MAX_UNDO_MIDDLE {
        let a = read_range(&mut old, prefix, old_mid).map_err(io_err("reading the file"))?;
        let b = read_range(&mut new, prefix, new_mid).map_err(io_err("reading the written copy"))?;
        for v in [prefix, suffix] {
            record.extend_from_slice(&v.to_le_bytes());
        }
        record.extend_from_slice(&super::delta::diff(&a, &b).to_bytes());
    } else {
        // Too large to keep: undo will restore the fields instead.
        record.clear();
    }
    Ok(ExactUndo {
        old_sha256: sha256_of(&mut old).map_err(io_err("reading the file"))?,
        new_sha256: sha256_of(&mut new).map_err(io_err("reading the written copy"))?,
        delta: record,
    })
}

/// Puts the original bytes of a file melotag wrote back, atomically: the file must still be
/// exactly what melotag wrote, and the rebuilt bytes must hash to the original's.
pub fn restore_exact(path: &Path, exact: &ExactUndo) -> Result<(), WriteError> {
    let unusable = |why: &str| WriteError::Verify(format!("the recorded undo data is unusable ({why})"));
    if exact.delta.len() < 20 || &exact.delta[..4] != UNDO_MAGIC {
        return Err(unusable("none was kept for this file"));
    }
    let num = |i: usize| u64::from_le_bytes(exact.delta[4 + 8 * i..12 + 8 * i].try_into().unwrap_or_default());
    let (prefix, suffix) = (num(0), num(1));
    let delta = super::delta::Delta::from_bytes(&exact.delta[20..]).map_err(|e| unusable(&e.to_string()))?;

    let real = fs::canonicalize(path).map_err(io_err("resolving the path"))?;
    let meta = fs::metadata(&real).map_err(io_err("reading the file's metadata"))?;
    let identity = Identity::of(&meta);
    let expected = Snapshot::from_metadata(&meta).map_err(io_err("reading the mtime"))?;
    if meta.permissions().readonly() {
        return Err(WriteError::ReadOnly);
    }
    let mut current = File::open(&real).map_err(io_err("opening the file"))?;
    if sha256_of(&mut current).map_err(io_err("reading the file"))? != exact.new_sha256 {
        return Err(WriteError::Changed);
    }
    let len = meta.len();
    if prefix + suffix > len {
        return Err(unusable("it does not fit the file"));
    }
    let middle = read_range(&mut current, prefix, len - prefix - suffix).map_err(io_err("reading the file"))?;
    let original_middle = super::delta::apply(&middle, &delta).map_err(|e| unusable(&e.to_string()))?;

    let (dir, mut tmp) = temp_beside(&real)?;
    {
        let pieces = [
            super::raw::Piece::Copy { offset: 0, len: prefix },
            super::raw::Piece::Bytes(original_middle),
            super::raw::Piece::Copy { offset: len - suffix, len: suffix },
        ];
        let mut out = io::BufWriter::new(tmp.as_file_mut());
        super::raw::util::write_pieces(&mut current, &pieces, &mut out).map_err(|e| WriteError::Verify(e.to_string()))?;
        out.flush().map_err(io_err("writing the file"))?;
    }
    let mut rebuilt = File::open(tmp.path()).map_err(io_err("reading the rebuilt file"))?;
    if sha256_of(&mut rebuilt).map_err(io_err("reading the rebuilt file"))? != exact.old_sha256 {
        return Err(WriteError::Verify("the rebuilt file does not match the original's hash".into()));
    }
    copy_ownership(tmp.as_file(), &meta)?;
    commit(tmp, &real, &dir, &expected, &identity).map(|_| ())
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
