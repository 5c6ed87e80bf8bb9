//! The analysis cache: results per file and model, in SQLite (`cache.sqlite` in the data
//! folder), so that reopening a library shows its tags without re-analysing it and `melotag tag`
//! skips files it has already scored.
//!
//! A result is keyed by path, model id and analysis mode, and is valid while the file's size
//! and modification time are the ones recorded *and* the model's fingerprint (a hash of its
//! manifest and ONNX file) is the one recorded: a changed file or a reconverted model is a miss.
//! Rows hold the track scores, the per-window scores (full mode), the embedding (models with
//! one), the duration, or the file's lasting error (decoding errors: yes; "cannot read the file":
//! no, see [`ErrorKind::is_lasting`]).
//!
//! Upgrades keep results: schema 1 (before fingerprints and embeddings) gains the new columns;
//! its rows, with no fingerprint, are taken as made by the current model version and have no
//! embedding (similarity analyses them again). A cache file that is not a database (truncated,
//! garbage, a folder) is moved aside and rebuilt, and [`Opened::repaired`] says so once.
//!
//! One [`Cache`] is one connection: open one per thread.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};

use crate::engine::analysis::{Analysis, ErrorKind, Mode, TrackError};
use crate::engine::model::Manifest;

/// Version of the table layout below.
pub const SCHEMA_VERSION: i64 = 2;

/// File name of the cache database in the data folder.
pub const FILE_NAME: &str = "cache.sqlite";

/// Errors of the cache (analysis goes on without it; front ends say so once).
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Another process holds the database locked for longer than we wait.
    #[error("the analysis cache {0} is locked by another program")]
    Locked(PathBuf),
    /// SQLite or the file system failed.
    #[error("the analysis cache {path}: {message}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// No data folder.
    #[error(transparent)]
    NoFolder(#[from] crate::engine::paths::PathError),
}

/// What identifies one version of a file's content (cheaply): size and modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStamp {
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of the file as it is now (`None` when it cannot be read).
    pub fn of(path: &Path) -> Option<FileStamp> {
        let meta = std::fs::metadata(path).ok()?;
        Some(FileStamp::new(meta.len(), meta.modified().ok()?))
    }

    /// The stamp of a file of `size` bytes modified at `mtime`.
    pub fn new(size: u64, mtime: std::time::SystemTime) -> FileStamp {
        let mtime_ns = match mtime.duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_nanos()).unwrap_or(i64::MAX),
        };
        FileStamp { size, mtime_ns }
    }
}

/// The cache file melotag uses: `cache.sqlite` in [`crate::engine::paths::data_dir`].
pub fn default_path() -> Result<PathBuf, CacheError> {
    Ok(crate::engine::paths::data_dir()?.join(FILE_NAME))
}

/// Whether an outcome is kept: scores and lasting errors are; errors that may go away
/// (unreadable files, model failures, bugs) are not.
pub fn worth_caching(outcome: &Result<Analysis, TrackError>) -> bool {
    match outcome {
        Ok(_) => true,
        Err(e) => e.kind.is_lasting(),
    }
}

/// A looked-up row.
pub type Hit = Result<Analysis, TrackError>;

/// One connection to the cache.
pub struct Cache {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("path", &self.path).finish_non_exhaustive()
    }
}

/// An opened cache, and where a broken cache file was moved, if it was.
#[derive(Debug)]
pub struct Opened {
    /// The connection.
    pub cache: Cache,
    /// The broken file moved aside before a new cache was made (say so once).
    pub repaired: Option<PathBuf>,
}

fn sql_error(path: &Path) -> impl Fn(rusqlite::Error) -> CacheError + '_ {
    move |e| match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => CacheError::Locked(path.to_path_buf()),
        _ => CacheError::Sqlite { path: path.to_path_buf(), message: e.to_string() },
    }
}

/// Whether an error means the file is not a usable database (as opposed to busy or I/O).
fn is_broken(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt | ErrorCode::CannotOpen))
}

impl Cache {
    /// Opens (creating if needed) the cache at [`default_path`].
    pub fn open() -> Result<Opened, CacheError> {
        Cache::open_at(&default_path()?)
    }

    /// Opens (creating if needed) the cache at `path`; a file that is not a database is moved
    /// aside (to `NAME.broken-UNIXTIME`) and a new cache made.
    pub fn open_at(path: &Path) -> Result<Opened, CacheError> {
        let io = |e: std::io::Error| CacheError::Sqlite { path: path.to_path_buf(), message: e.to_string() };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        if path.is_dir() {
            let moved = move_aside(path).map_err(io)?;
            let cache = Cache::connect(path).map_err(sql_error(path))?;
            return Ok(Opened { cache, repaired: Some(moved) });
        }
        match Cache::connect(path) {
            Ok(cache) => Ok(Opened { cache, repaired: None }),
            Err(e) if is_broken(&e) => {
                let moved = move_aside(path).map_err(io)?;
                let cache = Cache::connect(path).map_err(sql_error(path))?;
                Ok(Opened { cache, repaired: Some(moved) })
            }
            Err(e) => Err(sql_error(path)(e)),
        }
    }

    fn connect(path: &Path) -> rusqlite::Result<Cache> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // A truncated or overwritten file often opens fine and fails on first use: check now.
        let ok: String = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some(format!("integrity check: {ok}")),
            ));
        }
        // WAL lets the app's reader and writer threads (and a CLI run) work at the same time.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        match version {
            SCHEMA_VERSION => {}
            // A newer melotag's cache: left as it is (it would go on using it), not used here.
            newer if newer > SCHEMA_VERSION => {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_MISMATCH),
                    Some(format!(
                        "written by a newer melotag (format {newer}; this one reads {SCHEMA_VERSION}); left as it is and not used"
                    )),
                ));
            }
            1 => conn.execute_batch(&format!(
                "BEGIN;
                 ALTER TABLE results ADD COLUMN fingerprint TEXT;
                 ALTER TABLE results ADD COLUMN embedding BLOB;
                 ALTER TABLE results ADD COLUMN error_kind TEXT;
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))?,
            _ => conn.execute_batch(&format!(
                "BEGIN;
                 DROP TABLE IF EXISTS results;
                 CREATE TABLE results (
                     path BLOB NOT NULL,
                     model TEXT NOT NULL,
                     mode TEXT NOT NULL,
                     size INTEGER NOT NULL,
                     mtime_ns INTEGER NOT NULL,
                     duration_s REAL,
                     scores TEXT,
                     windows TEXT,
                     window_starts TEXT,
                     error TEXT,
                     fingerprint TEXT,
                     embedding BLOB,
                     error_kind TEXT,
                     PRIMARY KEY (path, model, mode)
                 );
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))?,
        }
        Ok(Cache { conn, path: path.to_path_buf() })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored result of `path` for this model (and its fingerprint) and mode, if the file
    /// still has `stamp`.
    pub fn get(&self, path: &Path, stamp: FileStamp, manifest: &Manifest, mode: Mode) -> Result<Option<Hit>, CacheError> {
        let err = sql_error(&self.path);
        let row = self
            .conn
            .prepare_cached(
                "SELECT size, mtime_ns, fingerprint, duration_s, scores, windows, window_starts, embedding, error, error_kind
                 FROM results WHERE path = ?1 AND model = ?2 AND mode = ?3",
            )
            .map_err(&err)?
            .query_row(params![path.as_os_str().as_bytes(), manifest.id, mode.as_str()], |r| {
                Ok(Row {
                    size: r.get(0)?,
                    mtime_ns: r.get(1)?,
                    fingerprint: r.get(2)?,
                    duration_s: r.get(3)?,
                    scores: r.get(4)?,
                    windows: r.get(5)?,
                    starts: r.get(6)?,
                    embedding: r.get(7)?,
                    error: r.get(8)?,
                    error_kind: r.get(9)?,
                })
            })
            .optional()
            .map_err(&err)?;
        let Some(row) = row else { return Ok(None) };
        if row.size as u64 != stamp.size || row.mtime_ns != stamp.mtime_ns {
            return Ok(None);
        }
        // No fingerprint: a row from before fingerprints (schema 1), kept on upgrade.
        if row.fingerprint.as_deref().is_some_and(|f| f != manifest.fingerprint()) {
            return Ok(None);
        }
        Ok(row.into_hit())
    }

    /// The models (ids, sorted) holding a result for `path` as it is at `stamp`, in any mode.
    pub fn models_for(&self, path: &Path, stamp: FileStamp) -> Result<Vec<String>, CacheError> {
        let err = sql_error(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT DISTINCT model FROM results WHERE path = ?1 AND size = ?2 AND mtime_ns = ?3 AND scores IS NOT NULL
                 ORDER BY model",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![path.as_os_str().as_bytes(), stamp.size as i64, stamp.mtime_ns], |r| r.get::<_, String>(0))
            .map_err(&err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(&err)
    }

    /// Stores the result of `path` (as it was at `stamp`) for this model and mode.
    pub fn put(&self, path: &Path, stamp: FileStamp, manifest: &Manifest, mode: Mode, outcome: &Hit) -> Result<(), CacheError> {
        let err = sql_error(&self.path);
        let json = |e: serde_json::Error| CacheError::Sqlite { path: self.path.clone(), message: e.to_string() };
        let (duration_s, scores, windows, starts, embedding, error, kind) = match outcome {
            Ok(a) => (
                a.duration_s,
                Some(serde_json::to_string(&a.scores).map_err(json)?),
                a.windows.as_ref().map(serde_json::to_string).transpose().map_err(json)?,
                a.window_starts_s.as_ref().map(serde_json::to_string).transpose().map_err(json)?,
                a.embedding.as_deref().map(f32s_to_blob),
                None,
                None,
            ),
            Err(e) => (None, None, None, None, None, Some(e.message.as_str()), Some(kind_name(e.kind))),
        };
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO results
                 (path, model, mode, size, mtime_ns, fingerprint, duration_s, scores, windows, window_starts, embedding, error, error_kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )
            .map_err(&err)?
            .execute(params![
                path.as_os_str().as_bytes(),
                manifest.id,
                mode.as_str(),
                stamp.size as i64,
                stamp.mtime_ns,
                manifest.fingerprint(),
                duration_s,
                scores,
                windows,
                starts,
                embedding,
                error,
                kind
            ])
            .map_err(&err)?;
        Ok(())
    }

    /// Every stored embedding of this model and mode whose file still has the stamp `stamp_of`
    /// returns (files gone or changed are left out), with the path.
    pub fn embeddings(
        &self,
        manifest: &Manifest,
        mode: Mode,
        mut stamp_of: impl FnMut(&Path) -> Option<FileStamp>,
    ) -> Result<Vec<(PathBuf, Vec<f32>)>, CacheError> {
        use std::os::unix::ffi::OsStringExt;
        let err = sql_error(&self.path);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT path, size, mtime_ns, fingerprint, embedding FROM results
                 WHERE model = ?1 AND mode = ?2 AND embedding IS NOT NULL",
            )
            .map_err(&err)?;
        let rows = stmt
            .query_map(params![manifest.id, mode.as_str()], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Vec<u8>>(4)?,
                ))
            })
            .map_err(&err)?;
        let mut out = Vec::new();
        for row in rows {
            let (path, size, mtime_ns, fingerprint, blob) = row.map_err(&err)?;
            if fingerprint.as_deref().is_some_and(|f| f != manifest.fingerprint()) {
                continue;
            }
            let path = PathBuf::from(std::ffi::OsString::from_vec(path));
            if stamp_of(&path) == Some(FileStamp { size: size as u64, mtime_ns }) {
                out.push((path, blob_to_f32s(&blob)));
            }
        }
        Ok(out)
    }

    /// Moves every result of `path` stored for the file as it was (`from`) to the file as it is
    /// now (`to`): after a verified tag write, whose audio is byte-identical, the scores still
    /// hold, and a library need not be analysed again because its tags were written. Returns
    /// the rows moved.
    pub fn restamp(&self, path: &Path, from: FileStamp, to: FileStamp) -> Result<usize, CacheError> {
        self.conn
            .prepare_cached("UPDATE results SET size = ?1, mtime_ns = ?2 WHERE path = ?3 AND size = ?4 AND mtime_ns = ?5")
            .map_err(sql_error(&self.path))?
            .execute(params![to.size as i64, to.mtime_ns, path.as_os_str().as_bytes(), from.size as i64, from.mtime_ns])
            .map_err(sql_error(&self.path))
    }

    /// Number of stored rows (for tests and diagnostics).
    pub fn len(&self) -> Result<usize, CacheError> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM results", [], |r| r.get(0)).map_err(sql_error(&self.path))?;
        Ok(n as usize)
    }

    /// Whether the cache holds no rows.
    pub fn is_empty(&self) -> Result<bool, CacheError> {
        Ok(self.len()? == 0)
    }
}

/// A row as stored.
struct Row {
    size: i64,
    mtime_ns: i64,
    fingerprint: Option<String>,
    duration_s: Option<f64>,
    scores: Option<String>,
    windows: Option<String>,
    starts: Option<String>,
    embedding: Option<Vec<u8>>,
    error: Option<String>,
    error_kind: Option<String>,
}

impl Row {
    /// The stored outcome; a row that does not parse is a miss (it will be overwritten).
    fn into_hit(self) -> Option<Hit> {
        if let Some(error) = self.error {
            let kind = self.error_kind.as_deref().and_then(kind_parse).unwrap_or(ErrorKind::BadAudio);
            return Some(Err(TrackError::new(kind, error)));
        }
        let scores: Vec<f32> = serde_json::from_str(self.scores.as_deref()?).ok()?;
        let windows = match self.windows {
            Some(w) => Some(serde_json::from_str(&w).ok()?),
            None => None,
        };
        let window_starts_s = match self.starts {
            Some(w) => Some(serde_json::from_str(&w).ok()?),
            None => None,
        };
        let embedding = self.embedding.map(|b| blob_to_f32s(&b));
        Some(Ok(Analysis { duration_s: self.duration_s, scores, windows, window_starts_s, embedding }))
    }
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unreadable => "unreadable",
        ErrorKind::NotAFile => "not_a_file",
        ErrorKind::BadAudio => "bad_audio",
        ErrorKind::Model => "model",
        ErrorKind::Internal => "internal",
    }
}

fn kind_parse(s: &str) -> Option<ErrorKind> {
    [ErrorKind::Unreadable, ErrorKind::NotAFile, ErrorKind::BadAudio, ErrorKind::Model, ErrorKind::Internal]
        .into_iter()
        .find(|&k| kind_name(k) == s)
}

/// Little-endian f32s: compact and fast to load for a 100,000-track similarity query.
fn f32s_to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn blob_to_f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Renames a broken cache (and its WAL files) out of the way; returns the new name.
fn move_aside(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".broken-{secs}"));
    let moved = PathBuf::from(name);
    std::fs::rename(path, &moved)?;
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::model::Manifest;

    fn manifest(dir: &Path, id: &str) -> Manifest {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/choi2016_crnn.toml")).unwrap();
        let path = dir.join(format!("{id}.toml"));
        std::fs::write(&path, text.replace("id = \"choi2016_crnn\"", &format!("id = \"{id}\""))).unwrap();
        Manifest::load(&path).unwrap()
    }

    fn analysis() -> Analysis {
        Analysis {
            duration_s: Some(1.5),
            scores: vec![0.1, 0.25, 1.0 / 3.0],
            windows: Some(vec![vec![0.1, 0.2, 0.3]]),
            window_starts_s: Some(vec![0.0]),
            embedding: Some(vec![0.5, -1.25, 3.0e-7]),
        }
    }

    #[test]
    fn results_round_trip_and_changed_files_or_models_miss() {
        let dir = tempfile::tempdir().unwrap();
        let (m, other) = (manifest(dir.path(), "m"), manifest(dir.path(), "other"));
        let cache = Cache::open_at(&dir.path().join("c.sqlite")).unwrap().cache;
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"abc").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let a = analysis();
        assert!(cache.get(&file, stamp, &m, Mode::Full).unwrap().is_none());
        cache.put(&file, stamp, &m, Mode::Full, &Ok(a.clone())).unwrap();
        let got = cache.get(&file, stamp, &m, Mode::Full).unwrap().unwrap().unwrap();
        assert_eq!(got.scores, a.scores, "scores round-trip exactly");
        assert_eq!(got.windows, a.windows);
        assert_eq!(got.embedding, a.embedding, "embeddings round-trip exactly");
        assert!(cache.get(&file, stamp, &m, Mode::Center).unwrap().is_none(), "mode is part of the key");
        assert!(cache.get(&file, stamp, &other, Mode::Full).unwrap().is_none(), "model is part of the key");
        let changed = FileStamp { size: stamp.size + 1, ..stamp };
        assert!(cache.get(&file, changed, &m, Mode::Full).unwrap().is_none(), "a changed file misses");
        let bad = TrackError::new(ErrorKind::BadAudio, "bad file");
        cache.put(&file, stamp, &m, Mode::Center, &Err(bad.clone())).unwrap();
        assert_eq!(cache.get(&file, stamp, &m, Mode::Center).unwrap().unwrap().unwrap_err(), bad);
        // A reconverted model (its manifest changed here) never gets the old scores.
        std::fs::write(&m.path, std::fs::read_to_string(&m.path).unwrap() + "\n# reconverted\n").unwrap();
        let m2 = Manifest::load(&m.path).unwrap();
        assert_ne!(m2.fingerprint(), m.fingerprint());
        assert!(cache.get(&file, stamp, &m2, Mode::Full).unwrap().is_none(), "another fingerprint misses");
        // A verified tag write moves the rows to the new stamp.
        let later = FileStamp { size: stamp.size + 10, mtime_ns: stamp.mtime_ns + 1 };
        assert_eq!(cache.restamp(&file, stamp, later).unwrap(), 2);
        assert!(cache.get(&file, later, &m, Mode::Center).unwrap().is_some());
        assert!(cache.get(&file, stamp, &m, Mode::Center).unwrap().is_none());
        drop(cache);
        let reopened = Cache::open_at(&dir.path().join("c.sqlite")).unwrap();
        assert!(reopened.repaired.is_none());
        assert_eq!(reopened.cache.len().unwrap(), 2);
    }

    #[test]
    fn only_lasting_errors_are_cached() {
        assert!(worth_caching(&Err(TrackError::new(ErrorKind::BadAudio, "x"))));
        assert!(worth_caching(&Err(TrackError::new(ErrorKind::NotAFile, "x"))));
        assert!(!worth_caching(&Err(TrackError::new(ErrorKind::Unreadable, "cannot read the file"))));
        assert!(!worth_caching(&Err(TrackError::new(ErrorKind::Model, "x"))));
        assert!(!worth_caching(&Err(TrackError::new(ErrorKind::Internal, "x"))));
        assert!(worth_caching(&Ok(analysis())));
    }

    #[test]
    fn a_schema_1_cache_keeps_its_scores() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path(), "m");
        let path = dir.path().join("c.sqlite");
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"abc").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE results (path BLOB NOT NULL, model TEXT NOT NULL, mode TEXT NOT NULL, size INTEGER NOT NULL,
             mtime_ns INTEGER NOT NULL, duration_s REAL, scores TEXT, windows TEXT, window_starts TEXT, error TEXT,
             PRIMARY KEY (path, model, mode)); PRAGMA user_version = 1;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO results VALUES (?1, 'm', 'center', ?2, ?3, 2.0, '[0.5,0.25]', NULL, NULL, NULL)",
            params![file.as_os_str().as_bytes(), stamp.size as i64, stamp.mtime_ns],
        )
        .unwrap();
        drop(conn);
        let cache = Cache::open_at(&path).unwrap().cache;
        let got = cache.get(&file, stamp, &m, Mode::Center).unwrap().unwrap().unwrap();
        assert_eq!((got.scores, got.embedding), (vec![0.5, 0.25], None));
    }

    #[test]
    fn a_newer_cache_is_left_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.sqlite");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE results (x INTEGER); INSERT INTO results VALUES (7); PRAGMA user_version = 99;").unwrap();
        drop(conn);
        let Err(e) = Cache::open_at(&path) else { panic!("a newer cache opened") };
        assert!(e.to_string().contains("newer melotag (format 99"), "{e}");
        let conn = Connection::open(&path).unwrap();
        assert_eq!(conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)).unwrap(), 99);
        assert_eq!(conn.query_row("SELECT x FROM results", [], |r| r.get::<_, i64>(0)).unwrap(), 7);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().contains("broken")).count(),
            0
        );
    }

    #[test]
    fn garbage_truncated_or_folder_caches_are_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let m = manifest(dir.path(), "m");
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"abc").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        // A good cache with one row, truncated to half its size.
        let good = dir.path().join("good.sqlite");
        {
            let c = Cache::open_at(&good).unwrap().cache;
            for i in 0..200 {
                c.put(&dir.path().join(format!("{i}.wav")), stamp, &m, Mode::Center, &Ok(analysis())).unwrap();
            }
            c.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
        }
        let bytes = std::fs::read(&good).unwrap();
        let truncated = dir.path().join("truncated.sqlite");
        std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
        let garbage = dir.path().join("garbage.sqlite");
        std::fs::write(&garbage, vec![0x5a; 10_000]).unwrap();
        let folder = dir.path().join("folder.sqlite");
        std::fs::create_dir(&folder).unwrap();
        for broken in [&truncated, &garbage, &folder] {
            let opened = Cache::open_at(broken).unwrap_or_else(|e| panic!("{}: {e}", broken.display()));
            let moved = opened.repaired.unwrap_or_else(|| panic!("{} was not repaired", broken.display()));
            assert!(moved.exists(), "the broken file is kept aside");
            assert!(moved.to_string_lossy().contains(".broken-"));
            opened.cache.put(&file, stamp, &m, Mode::Center, &Ok(analysis())).unwrap();
            assert!(opened.cache.get(&file, stamp, &m, Mode::Center).unwrap().is_some(), "the new cache works");
            let again = Cache::open_at(broken).unwrap();
            assert!(again.repaired.is_none(), "repaired once");
        }
    }
}
