//! The undo journal and the undo service.
//!
//! Before a write replaces a file, the journal (`undo.sqlite3` in the data folder) records, in
//! one transaction: the batch, the path, the previous and new value of every field it changes
//! (absent included), the SHA-256 of the original and of the new file, and a compact delta that
//! rebuilds the original's exact bytes from the new file ([`super::delta`]). The write is
//! `pending` until the file is replaced, then `done`.
//!
//! Undo decides per file from what the file holds now:
//! - its bytes are still the ones melotag wrote → the original bytes are rebuilt from the delta,
//!   checked against the original's hash, and put back atomically (exact undo);
//! - else its fields are compared: the recorded new value → the old one is restored (the other
//!   changes made since are kept, and the report says the undo was by field); already the old
//!   value → nothing to do; anything else → the file was edited since, and is left alone.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use serde::Serialize;

use super::fields::{FieldId, FileTags, Raw, Role, TagKind};
use super::write::{Change, Snapshot};

/// Errors of the journal itself (each names the database file).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Another program holds the journal locked for longer than we wait.
    #[error("the undo journal {0} is locked by another program (another melotag running?)")]
    Locked(PathBuf),
    /// SQLite or the file system failed.
    #[error("the undo journal {path}: {message}")]
    Db {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A value in the journal could not be read back.
    #[error("the undo journal {path} holds a value it cannot read: {message}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// No data folder.
    #[error(transparent)]
    NoFolder(#[from] crate::engine::paths::PathError),
}

/// File name of the journal in the data folder.
pub const FILE_NAME: &str = "undo.sqlite3";

/// One recorded field change.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRecord {
    /// The field.
    pub field: FieldId,
    /// What the field holds.
    pub role: Role,
    /// Value before the write.
    pub old: Raw,
    /// Value the write set.
    pub new: Raw,
}

/// How to rebuild the original file exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactUndo {
    /// SHA-256 of the original file.
    pub old_sha256: [u8; 32],
    /// SHA-256 of the file melotag wrote.
    pub new_sha256: [u8; 32],
    /// The delta from the written file back to the original ([`super::delta::Delta`] bytes).
    pub delta: Vec<u8>,
}

/// One recorded write of one file.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    /// Row id.
    pub id: i64,
    /// Batch (one `melotag write` run, one "Write" in the app).
    pub batch: i64,
    /// The file (canonical path).
    pub path: PathBuf,
    /// Seconds since the epoch.
    pub time: i64,
    /// The fields.
    pub fields: Vec<FieldRecord>,
    /// What rebuilds the original bytes (writes recorded by melotag 0.1 have none).
    pub exact: Option<ExactUndo>,
}

/// One write batch, for the history list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchSummary {
    /// Batch id.
    pub id: i64,
    /// Seconds since the epoch.
    pub started_at: i64,
    /// Who wrote it: the command line, or "melotag app".
    pub label: String,
    /// Files written (not undone).
    pub written: usize,
    /// Files of the batch undone since.
    pub undone: usize,
}

/// The open journal.
pub struct Journal {
    conn: Connection,
    path: PathBuf,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn encode(raw: &Raw) -> Option<String> {
    // A list of strings always serialises.
    raw.as_ref().map(|v| serde_json::to_string(v).unwrap_or_default())
}

impl Journal {
    /// Opens (creating if needed) the journal in the data folder.
    pub fn open() -> Result<Journal, JournalError> {
        let dir = crate::engine::paths::data_dir()?;
        std::fs::create_dir_all(&dir).map_err(|e| JournalError::Db { path: dir.clone(), message: format!("creating the folder: {e}") })?;
        Self::open_at(&dir.join(FILE_NAME))
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
        db_error(&self.path)
    }

    /// Opens (creating if needed) the journal file at `path`.
    pub fn open_at(path: &Path) -> Result<Journal, JournalError> {
        let err = db_error(path);
        let conn = Connection::open(path).map_err(&err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(&err)?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS batches (
                 id INTEGER PRIMARY KEY,
                 started_at INTEGER NOT NULL,
                 command TEXT NOT NULL
             );
             CREATE TABLE IF NOT EXISTS writes (
                 id INTEGER PRIMARY KEY,
                 batch_id INTEGER NOT NULL REFERENCES batches(id),
                 path BLOB NOT NULL,
                 written_at INTEGER NOT NULL,
                 state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'undone'))
             );
             CREATE INDEX IF NOT EXISTS writes_by_path ON writes(path, id);
             CREATE TABLE IF NOT EXISTS fields (
                 write_id INTEGER NOT NULL REFERENCES writes(id),
                 tag TEXT NOT NULL,
                 key TEXT NOT NULL,
                 role TEXT NOT NULL,
                 old_value TEXT,
                 new_value TEXT
             );
             CREATE INDEX IF NOT EXISTS fields_by_write ON fields(write_id);",
        )
        .map_err(&err)?;
        // Journals of melotag 0.1 lack the exact-undo columns: add them (old rows undo by field).
        let has_delta: bool = conn
            .prepare("SELECT COUNT(*) FROM pragma_table_info('writes') WHERE name = 'delta'")
            .and_then(|mut s| s.query_row([], |r| r.get::<_, i64>(0)))
            .map_err(&err)?
            > 0;
        if !has_delta {
            conn.execute_batch(
                "ALTER TABLE writes ADD COLUMN old_sha256 BLOB;
                 ALTER TABLE writes ADD COLUMN new_sha256 BLOB;
                 ALTER TABLE writes ADD COLUMN delta BLOB;",
            )
            .map_err(&err)?;
        }
        Ok(Journal { conn, path: path.to_path_buf() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Starts a batch (one run) and returns its id.
    pub fn begin_batch(&self, label: &str) -> Result<i64, JournalError> {
        self.conn.execute("INSERT INTO batches (started_at, command) VALUES (?1, ?2)", params![now(), label]).map_err(self.err())?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Forgets `batch` when no write was recorded in it, so history and batch numbers list
    /// only runs that wrote something.
    pub fn end_batch(&self, batch: i64) -> Result<(), JournalError> {
        self.conn
            .execute("DELETE FROM batches WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM writes WHERE batch_id = ?1)", [batch])
            .map_err(self.err())?;
        Ok(())
    }

    /// Records a write about to happen (state `pending`) and returns its id.
    pub fn record(&mut self, batch: i64, path: &Path, fields: &[FieldRecord], exact: Option<&ExactUndo>) -> Result<i64, JournalError> {
        let err = db_error(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute(
            "INSERT INTO writes (batch_id, path, written_at, state, old_sha256, new_sha256, delta)
             VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6)",
            params![
                batch,
                path.as_os_str().as_bytes(),
                now(),
                exact.map(|e| e.old_sha256.to_vec()),
                exact.map(|e| e.new_sha256.to_vec()),
                exact.map(|e| e.delta.as_slice())
            ],
        )
        .map_err(&err)?;
        let id = tx.last_insert_rowid();
        for f in fields {
            tx.execute(
                "INSERT INTO fields (write_id, tag, key, role, old_value, new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, f.field.tag.as_str(), f.field.key, f.role.as_str(), encode(&f.old), encode(&f.new)],
            )
            .map_err(&err)?;
        }
        tx.commit().map_err(&err)?;
        Ok(id)
    }

    /// Marks a write `done` (the file was replaced).
    pub fn mark_done(&self, write: i64) -> Result<(), JournalError> {
        self.conn.execute("UPDATE writes SET state = 'done' WHERE id = ?1", [write]).map_err(self.err())?;
        Ok(())
    }

    /// Forgets a write that failed (the file was not replaced).
    pub fn forget(&mut self, write: i64) -> Result<(), JournalError> {
        let err = db_error(&self.path);
        let tx = self.conn.transaction().map_err(&err)?;
        tx.execute("DELETE FROM fields WHERE write_id = ?1", [write]).map_err(&err)?;
        tx.execute("DELETE FROM writes WHERE id = ?1", [write]).map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(())
    }

    /// Marks a write undone.
    pub fn mark_undone(&self, write: i64) -> Result<(), JournalError> {
        self.conn.execute("UPDATE writes SET state = 'undone' WHERE id = ?1", [write]).map_err(self.err())?;
        Ok(())
    }

    fn load(&self, id: i64) -> Result<WriteRecord, JournalError> {
        let err = self.err();
        let corrupt = |message: String| JournalError::Corrupt { path: self.path.clone(), message };
        type Head = (i64, Vec<u8>, i64, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
        let (batch, path, time, old_sha, new_sha, delta): Head = self
            .conn
            .query_row("SELECT batch_id, path, written_at, old_sha256, new_sha256, delta FROM writes WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
            })
            .map_err(&err)?;
        let mut stmt = self
            .conn
            .prepare("SELECT tag, key, role, old_value, new_value FROM fields WHERE write_id = ?1 ORDER BY rowid")
            .map_err(&err)?;
        let rows = stmt
            .query_map([id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                ))
            })
            .map_err(&err)?;
        let decode = |text: Option<String>| -> Result<Raw, JournalError> {
            text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(format!("a field value: {e}")))).transpose()
        };
        let mut fields = Vec::new();
        for row in rows {
            let (tag, key, role, old, new) = row.map_err(&err)?;
            let tag = TagKind::parse(&tag).ok_or_else(|| corrupt(format!("unknown tag kind '{tag}'")))?;
            let role = Role::parse(&role).ok_or_else(|| corrupt(format!("unknown role '{role}'")))?;
            fields.push(FieldRecord { field: FieldId { tag, key }, role, old: decode(old)?, new: decode(new)? });
        }
        let exact = match (old_sha, new_sha, delta) {
            // An empty delta: the changed region was too large to keep (undo restores fields).
            (Some(o), Some(n), Some(delta)) if !delta.is_empty() => Some(ExactUndo {
                old_sha256: o.try_into().map_err(|_| corrupt("a hash of the wrong length".into()))?,
                new_sha256: n.try_into().map_err(|_| corrupt("a hash of the wrong length".into()))?,
                delta,
            }),
            _ => None,
        };
        Ok(WriteRecord { id, batch, path: PathBuf::from(std::ffi::OsString::from_vec(path)), time, fields, exact })
    }

    /// The last write of `path` (canonical) that is not undone.
    pub fn last_for_path(&self, path: &Path) -> Result<Option<WriteRecord>, JournalError> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM writes WHERE path = ?1 AND state != 'undone' ORDER BY id DESC LIMIT 1",
                [path.as_os_str().as_bytes()],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.err())?;
        id.map(|id| self.load(id)).transpose()
    }

    /// Every write (not undone) of batch `batch`.
    pub fn batch(&self, batch: i64) -> Result<Vec<WriteRecord>, JournalError> {
        let mut stmt =
            self.conn.prepare("SELECT id FROM writes WHERE batch_id = ?1 AND state != 'undone' ORDER BY id").map_err(self.err())?;
        let ids: Vec<i64> = stmt.query_map([batch], |r| r.get(0)).map_err(self.err())?.collect::<Result<_, _>>().map_err(self.err())?;
        ids.into_iter().map(|id| self.load(id)).collect()
    }

    /// Every write (not undone) of the last batch that has any.
    pub fn last_batch(&self) -> Result<Vec<WriteRecord>, JournalError> {
        let batch: Option<i64> = self
            .conn
            .query_row("SELECT batch_id FROM writes WHERE state != 'undone' ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .optional()
            .map_err(self.err())?;
        match batch {
            Some(b) => self.batch(b),
            None => Ok(Vec::new()),
        }
    }

    /// The batches that wrote at least one file, newest first (at most `limit`).
    pub fn history(&self, limit: usize) -> Result<Vec<BatchSummary>, JournalError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT b.id, b.started_at, b.command,
                        SUM(CASE WHEN w.state != 'undone' THEN 1 ELSE 0 END),
                        SUM(CASE WHEN w.state = 'undone' THEN 1 ELSE 0 END)
                 FROM batches b JOIN writes w ON w.batch_id = b.id
                 GROUP BY b.id ORDER BY b.id DESC LIMIT ?1",
            )
            .map_err(self.err())?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(BatchSummary {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    label: r.get(2)?,
                    written: r.get::<_, i64>(3)? as usize,
                    undone: r.get::<_, i64>(4)? as usize,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }
}

fn db_error(path: &Path) -> impl Fn(rusqlite::Error) -> JournalError + '_ {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::Locked(path.to_path_buf()),
        _ => JournalError::Db { path: path.to_path_buf(), message: e.to_string() },
    }
}

/// `YYYY-MM-DD HH:MM:SS` (UTC) of seconds since the epoch.
pub fn utc(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rem / 3600, rem / 60 % 60, rem % 60)
}

// ---------------------------------------------------------------------------------------------
// The undo service.

/// Which writes to undo.
#[derive(Debug, Clone, PartialEq)]
pub enum UndoTarget {
    /// Every file of the last batch.
    LastBatch,
    /// Every file of one batch (from [`Journal::history`]).
    Batch(i64),
    /// The last write of each of these files.
    Files(Vec<PathBuf>),
}

/// What undo will do to one file.
#[derive(Debug, Clone)]
pub enum UndoAction {
    /// The file is exactly as melotag wrote it: put the original bytes back.
    Exact {
        /// The fields that go back (for the preview).
        changes: Vec<Change>,
    },
    /// The file changed since melotag wrote it (other edits), but melotag's fields still hold
    /// what it wrote: restore those fields only, keeping the other edits.
    Fields {
        /// The file as read now.
        snapshot: Snapshot,
        /// The fields to restore.
        changes: Vec<Change>,
    },
    /// The file already holds the values from before the write.
    AlreadyRestored,
}

/// One file to undo.
#[derive(Debug, Clone)]
pub struct UndoItem {
    /// The recorded write.
    pub record: WriteRecord,
    /// What undo will do, or why it cannot.
    pub action: Result<UndoAction, String>,
}

/// Finds the writes `target` names and decides what undo does to each file. Files named in
/// `UndoTarget::Files` without a recorded write come back in the second list.
pub fn plan_undo(journal: &Journal, target: &UndoTarget) -> Result<(Vec<UndoItem>, Vec<PathBuf>), JournalError> {
    let mut records = Vec::new();
    let mut unknown = Vec::new();
    match target {
        UndoTarget::LastBatch => records = journal.last_batch()?,
        UndoTarget::Batch(b) => records = journal.batch(*b)?,
        UndoTarget::Files(paths) => {
            for path in paths {
                let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
                match journal.last_for_path(&canonical)? {
                    Some(r) => records.push(r),
                    None => unknown.push(path.clone()),
                }
            }
        }
    }
    let items = records.into_iter().map(|record| UndoItem { action: decide(&record), record }).collect();
    Ok((items, unknown))
}

fn decide(record: &WriteRecord) -> Result<UndoAction, String> {
    let tags = FileTags::read(&record.path).map_err(|e| e.to_string())?;
    let mut changes = Vec::new();
    let mut edited = Vec::new();
    for f in &record.fields {
        let Some(now) = tags.field(&f.field) else {
            edited.push(f.field.to_string());
            continue;
        };
        let decode = |raw: &Raw| now.decode(raw);
        let same = |a: &Raw, b: &Raw| a == b || decode(a) == decode(b);
        if same(&now.raw, &f.new) && now.raw != f.old {
            changes.push(Change {
                field: f.field.clone(),
                role: f.role,
                old: now.raw.clone(),
                new: f.old.clone(),
                old_values: now.values.clone(),
                new_values: decode(&f.old),
            });
        } else if !same(&now.raw, &f.old) {
            edited.push(f.field.to_string());
        }
    }
    if let Some(exact) = &record.exact
        && super::apply::sha256_file(&record.path).ok() == Some(exact.new_sha256)
    {
        return Ok(UndoAction::Exact { changes });
    }
    if !edited.is_empty() {
        return Err(format!("changed since melotag wrote it ({}); not restored", edited.join(", ")));
    }
    Ok(if changes.is_empty() { UndoAction::AlreadyRestored } else { UndoAction::Fields { snapshot: tags.snapshot, changes } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_that_wrote_nothing_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open_at(&dir.path().join("u.sqlite3")).unwrap();
        let empty = j.begin_batch("write nothing").unwrap();
        j.end_batch(empty).unwrap();
        let b = j.begin_batch("write a").unwrap();
        assert_eq!(b, empty, "the number is free again");
        let field = FieldRecord {
            field: FieldId { tag: TagKind::Id3v2, key: "TCON".into() },
            role: Role::Genre,
            old: None,
            new: Some(vec!["Jazz".into()]),
        };
        let w = j.record(b, Path::new("/m/a.mp3"), &[field], None).unwrap();
        j.mark_done(w).unwrap();
        j.end_batch(b).unwrap();
        assert_eq!(j.history(10).unwrap().iter().map(|h| (h.id, h.written)).collect::<Vec<_>>(), [(b, 1)]);
        assert_eq!(j.begin_batch("write b").unwrap(), b + 1);
    }

    #[test]
    fn records_round_trip_and_undone_writes_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open_at(&dir.path().join("u.sqlite3")).unwrap();
        let b1 = j.begin_batch("write a").unwrap();
        let genre = FieldId { tag: TagKind::Id3v2, key: "TCON".into() };
        let mood = FieldId { tag: TagKind::Id3v2, key: "TMOO".into() };
        let fields = vec![
            FieldRecord {
                field: genre.clone(),
                role: Role::Genre,
                old: Some(vec!["Rock".into()]),
                new: Some(vec!["Rock".into(), "Jazz".into()]),
            },
            FieldRecord { field: mood.clone(), role: Role::Mood, old: None, new: Some(vec!["Sad".into()]) },
        ];
        let exact = ExactUndo { old_sha256: [1; 32], new_sha256: [2; 32], delta: vec![9, 8, 7] };
        let w1 = j.record(b1, Path::new("/m/a.mp3"), &fields, Some(&exact)).unwrap();
        j.mark_done(w1).unwrap();
        let b2 = j.begin_batch("write b").unwrap();
        let w2 = j.record(b2, Path::new("/m/a.mp3"), &fields[1..], None).unwrap();
        let w3 = j.record(b2, Path::new("/m/b.mp3"), &fields[..1], None).unwrap();
        j.forget(w3).unwrap();

        let last = j.last_for_path(Path::new("/m/a.mp3")).unwrap().unwrap();
        assert_eq!((last.id, last.batch, last.fields.clone(), last.exact.clone()), (w2, b2, fields[1..].to_vec(), None));
        assert!(j.last_for_path(Path::new("/m/b.mp3")).unwrap().is_none());
        let batch = j.last_batch().unwrap();
        assert_eq!(batch.iter().map(|w| w.id).collect::<Vec<_>>(), [w2]);
        let history = j.history(10).unwrap();
        assert_eq!(history.iter().map(|b| (b.id, b.written, b.undone)).collect::<Vec<_>>(), [(b2, 1, 0), (b1, 1, 0)]);
        j.mark_undone(w2).unwrap();
        let batch = j.last_batch().unwrap();
        assert_eq!(batch.iter().map(|w| w.id).collect::<Vec<_>>(), [w1]);
        assert_eq!(batch[0].fields, fields);
        assert_eq!(batch[0].exact, Some(exact));
        assert_eq!(batch[0].path, Path::new("/m/a.mp3"));
        assert_eq!(j.history(10).unwrap()[0].undone, 1);

        // A write whose changed region was too large to keep records no delta: it reads back
        // as "no exact undo", so undo restores the fields instead of failing.
        let b3 = j.begin_batch("write c").unwrap();
        let huge = ExactUndo { old_sha256: [3; 32], new_sha256: [4; 32], delta: Vec::new() };
        let w4 = j.record(b3, Path::new("/m/c.ogg"), &fields[..1], Some(&huge)).unwrap();
        let c = j.last_for_path(Path::new("/m/c.ogg")).unwrap().unwrap();
        assert_eq!((c.id, c.exact), (w4, None));
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00");
        assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00");
    }

    #[test]
    fn a_locked_journal_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("u.sqlite3");
        let j = Journal::open_at(&path).unwrap();
        let holder = Connection::open(&path).unwrap();
        holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
        j.conn.busy_timeout(std::time::Duration::from_millis(50)).unwrap();
        let e = j.begin_batch("x").unwrap_err();
        assert!(matches!(e, JournalError::Locked(_)), "{e}");
        assert!(e.to_string().contains(&path.display().to_string()), "{e}");
    }
}
