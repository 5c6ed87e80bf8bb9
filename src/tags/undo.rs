//! The undo journal: before a write changes a file, the previous value of every field it
//! changes (absent included), the new value, the path, the time and the write batch are stored
//! in SQLite (`undo.sqlite3` in the user's data folder, or in `MELOTAG_DATA_DIR`).
//!
//! A write is recorded as `pending` before the file is replaced and marked `done` after; undo
//! treats both alike and decides per field from what the file holds now: the recorded new value
//! → restore the old one; already the old value → nothing to do (a write that never happened);
//! anything else → the file was edited since, and it is left alone.

use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use super::fields::{FieldId, Raw, Role, TagKind};

/// Folder of the journal: `MELOTAG_DATA_DIR`, else the platform data folder for "melotag".
pub fn data_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("MELOTAG_DATA_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "melotag")
        .map(|d| d.data_dir().to_path_buf())
        .context("no home folder to keep the undo journal in; set MELOTAG_DATA_DIR")
}

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

/// One recorded write of one file.
#[derive(Debug, Clone)]
pub struct WriteRecord {
    /// Row id.
    pub id: i64,
    /// Batch (one `melotag write` run).
    pub batch: i64,
    /// The file (canonical path).
    pub path: PathBuf,
    /// Seconds since the epoch.
    pub time: i64,
    /// The fields.
    pub fields: Vec<FieldRecord>,
}

/// The open journal.
pub struct Journal {
    conn: Connection,
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn encode(raw: &Raw) -> Option<String> {
    raw.as_ref().map(|v| serde_json::to_string(v).expect("strings serialise"))
}

fn decode(text: Option<String>) -> Result<Raw> {
    text.map(|t| serde_json::from_str(&t).context("a corrupt value in the undo journal")).transpose()
}

impl Journal {
    /// Opens (creating if needed) the journal in [`data_dir`].
    pub fn open() -> Result<Journal> {
        let dir = data_dir()?;
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Self::open_at(&dir.join("undo.sqlite3"))
    }

    /// Opens (creating if needed) the journal file at `path`.
    pub fn open_at(path: &Path) -> Result<Journal> {
        let conn = Connection::open(path).with_context(|| format!("opening the undo journal {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
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
        .with_context(|| format!("setting up the undo journal {}", path.display()))?;
        Ok(Journal { conn })
    }

    /// Starts a batch (one run) and returns its id.
    pub fn begin_batch(&self, command: &str) -> Result<i64> {
        self.conn.execute("INSERT INTO batches (started_at, command) VALUES (?1, ?2)", params![now(), command])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Records a write about to happen (state `pending`) and returns its id.
    pub fn record(&mut self, batch: i64, path: &Path, fields: &[FieldRecord]) -> Result<i64> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO writes (batch_id, path, written_at, state) VALUES (?1, ?2, ?3, 'pending')",
            params![batch, path.as_os_str().as_bytes(), now()],
        )?;
        let id = tx.last_insert_rowid();
        for f in fields {
            tx.execute(
                "INSERT INTO fields (write_id, tag, key, role, old_value, new_value) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, f.field.tag.as_str(), f.field.key, f.role.as_str(), encode(&f.old), encode(&f.new)],
            )?;
        }
        tx.commit()?;
        Ok(id)
    }

    /// Marks a write `done` (the file was replaced).
    pub fn mark_done(&self, write: i64) -> Result<()> {
        self.conn.execute("UPDATE writes SET state = 'done' WHERE id = ?1", [write])?;
        Ok(())
    }

    /// Forgets a write that failed (the file was not replaced).
    pub fn forget(&mut self, write: i64) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM fields WHERE write_id = ?1", [write])?;
        tx.execute("DELETE FROM writes WHERE id = ?1", [write])?;
        tx.commit()?;
        Ok(())
    }

    /// Marks a write undone.
    pub fn mark_undone(&self, write: i64) -> Result<()> {
        self.conn.execute("UPDATE writes SET state = 'undone' WHERE id = ?1", [write])?;
        Ok(())
    }

    fn load(&self, id: i64) -> Result<WriteRecord> {
        let (batch, path, time): (i64, Vec<u8>, i64) = self.conn.query_row(
            "SELECT batch_id, path, written_at FROM writes WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let mut stmt = self.conn.prepare("SELECT tag, key, role, old_value, new_value FROM fields WHERE write_id = ?1 ORDER BY rowid")?;
        let rows = stmt.query_map([id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut fields = Vec::new();
        for row in rows {
            let (tag, key, role, old, new) = row?;
            let tag = TagKind::parse(&tag).with_context(|| format!("unknown tag kind '{tag}' in the undo journal"))?;
            let role = Role::parse(&role).with_context(|| format!("unknown role '{role}' in the undo journal"))?;
            fields.push(FieldRecord { field: FieldId { tag, key }, role, old: decode(old)?, new: decode(new)? });
        }
        Ok(WriteRecord { id, batch, path: PathBuf::from(std::ffi::OsString::from_vec(path)), time, fields })
    }

    /// The last write of `path` (canonical) that is not undone.
    pub fn last_for_path(&self, path: &Path) -> Result<Option<WriteRecord>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM writes WHERE path = ?1 AND state != 'undone' ORDER BY id DESC LIMIT 1",
                [path.as_os_str().as_bytes()],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| self.load(id)).transpose()
    }

    /// Every write (not undone) of the last batch that has any.
    pub fn last_batch(&self) -> Result<Vec<WriteRecord>> {
        let batch: Option<i64> = self
            .conn
            .query_row("SELECT batch_id FROM writes WHERE state != 'undone' ORDER BY id DESC LIMIT 1", [], |r| r.get(0))
            .optional()?;
        let Some(batch) = batch else { return Ok(Vec::new()) };
        let mut stmt = self.conn.prepare("SELECT id FROM writes WHERE batch_id = ?1 AND state != 'undone' ORDER BY id")?;
        let ids: Vec<i64> = stmt.query_map([batch], |r| r.get(0))?.collect::<Result<_, _>>()?;
        ids.into_iter().map(|id| self.load(id)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_undone_writes_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::open_at(&dir.path().join("u.sqlite3")).unwrap();
        let b1 = j.begin_batch("write a").unwrap();
        let genre = FieldId { tag: TagKind::Id3v2, key: "TCON".into() };
        let mood = FieldId { tag: TagKind::Id3v2, key: "TMOO".into() };
        let fields = vec![
            FieldRecord { field: genre.clone(), role: Role::Genre, old: Some(vec!["Rock".into()]), new: Some(vec!["Rock".into(), "Jazz".into()]) },
            FieldRecord { field: mood.clone(), role: Role::Mood, old: None, new: Some(vec!["Sad".into()]) },
        ];
        let w1 = j.record(b1, Path::new("/m/a.mp3"), &fields).unwrap();
        j.mark_done(w1).unwrap();
        let b2 = j.begin_batch("write b").unwrap();
        let w2 = j.record(b2, Path::new("/m/a.mp3"), &fields[1..]).unwrap();
        let w3 = j.record(b2, Path::new("/m/b.mp3"), &fields[..1]).unwrap();
        j.forget(w3).unwrap();

        let last = j.last_for_path(Path::new("/m/a.mp3")).unwrap().unwrap();
        assert_eq!((last.id, last.batch, last.fields.clone()), (w2, b2, fields[1..].to_vec()));
        assert!(j.last_for_path(Path::new("/m/b.mp3")).unwrap().is_none());
        let batch = j.last_batch().unwrap();
        assert_eq!(batch.iter().map(|w| w.id).collect::<Vec<_>>(), [w2]);
        j.mark_undone(w2).unwrap();
        let batch = j.last_batch().unwrap();
        assert_eq!(batch.iter().map(|w| w.id).collect::<Vec<_>>(), [w1]);
        assert_eq!(batch[0].fields, fields);
        assert_eq!(batch[0].path, Path::new("/m/a.mp3"));
    }
}
