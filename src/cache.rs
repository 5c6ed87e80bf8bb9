//! The analysis cache: results per file and model, in SQLite (`cache.sqlite` in the user's data
//! folder, or in `MELOTAG_DATA_DIR`), so that reopening a library shows its tags without
//! re-analysing it and `melotag tag` skips files it has already scored.
//!
//! A result is keyed by path, model id and analysis mode, and is valid while the file's size
//! and modification time are the ones recorded: a changed file is a miss (and is re-analysed).
//! The stored row holds the track scores, the per-window scores (full mode), the duration, or
//! the file's error message. A schema change bumps [`SCHEMA_VERSION`], which drops old rows.
//!
//! One [`Cache`] is one connection: open one per thread (the GUI's writer and reader threads,
//! the CLI's main thread). Cache failures never fail an analysis: callers log and go on.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};

use crate::analysis::{Analysis, Event, Job, JobConfig, Mode, StageTimes, TrackResult};
use crate::model::ModelError;

/// Version of the table layout below; a different version in the file drops the table.
pub const SCHEMA_VERSION: i64 = 1;

/// File name of the cache database in the data folder.
pub const FILE_NAME: &str = "cache.sqlite";

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
        let mtime = meta.modified().ok()?;
        let mtime_ns = match mtime.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_nanos() as i64,
            Err(e) => -(e.duration().as_nanos() as i64),
        };
        Some(FileStamp { size: meta.len(), mtime_ns })
    }
}

/// The cache file melotag uses: `$MELOTAG_DATA_DIR/cache.sqlite`, else the platform data
/// folder for "melotag" (shared with the undo journal, which uses another file).
pub fn default_path() -> Result<PathBuf> {
    Ok(crate::tags::undo::data_dir()?.join(FILE_NAME))
}

/// Whether an outcome is kept: scores and decoding errors are, but not "cannot read the file"
/// (permissions or a file being copied can change without touching size or mtime).
pub fn worth_caching(outcome: &Result<Analysis, String>) -> bool {
    !matches!(outcome, Err(e) if e.starts_with("cannot read the file"))
}

/// One connection to the cache.
pub struct Cache {
    conn: Connection,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").finish_non_exhaustive()
    }
}

impl Cache {
    /// The cache at [`default_path`] when `wanted`; a cache that cannot be opened is logged and
    /// skipped (analysis goes on without it).
    pub fn open_if(wanted: bool) -> Option<Cache> {
        wanted.then(|| Cache::open().map_err(|e| tracing::warn!("analysis cache unavailable: {e:#}")).ok()).flatten()
    }

    /// Opens (creating if needed) the cache at [`default_path`].
    pub fn open() -> Result<Cache> {
        Cache::open_at(&default_path()?)
    }

    /// Opens (creating if needed) the cache at `path`.
    pub fn open_at(path: &Path) -> Result<Cache> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // WAL lets the GUI's reader and writer threads (and a CLI run) work at the same time.
        let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version != SCHEMA_VERSION {
            conn.execute_batch(&format!(
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
                     PRIMARY KEY (path, model, mode)
                 );
                 PRAGMA user_version = {SCHEMA_VERSION};
                 COMMIT;"
            ))?;
        }
        Ok(Cache { conn })
    }

    /// The stored result of `path` for this model and mode, if the file still has `stamp`.
    pub fn get(&self, path: &Path, stamp: FileStamp, model_id: &str, mode: Mode) -> Result<Option<Result<Analysis, String>>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT size, mtime_ns, duration_s, scores, windows, window_starts, error
                 FROM results WHERE path = ?1 AND model = ?2 AND mode = ?3",
            )?
            .query_row(params![path.as_os_str().as_bytes(), model_id, mode.as_str()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, Option<f64>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .optional()?;
        let Some((size, mtime_ns, duration_s, scores, windows, starts, error)) = row else { return Ok(None) };
        if size as u64 != stamp.size || mtime_ns != stamp.mtime_ns {
            return Ok(None);
        }
        if let Some(error) = error {
            return Ok(Some(Err(error)));
        }
        let Some(scores) = scores else { return Ok(None) };
        let scores: Vec<f32> = serde_json::from_str(&scores)?;
        let windows: Option<Vec<Vec<f32>>> = windows.map(|w| serde_json::from_str(&w)).transpose()?;
        let window_starts_s: Option<Vec<f64>> = starts.map(|w| serde_json::from_str(&w)).transpose()?;
        Ok(Some(Ok(Analysis { duration_s, scores, windows, window_starts_s })))
    }

    /// Stores the result of `path` (as it was at `stamp`) for this model and mode.
    pub fn put(&self, path: &Path, stamp: FileStamp, model_id: &str, mode: Mode, outcome: &Result<Analysis, String>) -> Result<()> {
        let (duration_s, scores, windows, starts, error) = match outcome {
            Ok(a) => (
                a.duration_s,
                Some(serde_json::to_string(&a.scores)?),
                a.windows.as_ref().map(serde_json::to_string).transpose()?,
                a.window_starts_s.as_ref().map(serde_json::to_string).transpose()?,
                None,
            ),
            Err(e) => (None, None, None, None, Some(e.as_str())),
        };
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO results
                 (path, model, mode, size, mtime_ns, duration_s, scores, windows, window_starts, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?
            .execute(params![
                path.as_os_str().as_bytes(),
                model_id,
                mode.as_str(),
                stamp.size as i64,
                stamp.mtime_ns,
                duration_s,
                scores,
                windows,
                starts,
                error
            ])?;
        Ok(())
    }

    /// Number of stored rows (for tests and diagnostics).
    pub fn len(&self) -> Result<usize> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM results", [], |r| r.get::<_, i64>(0))? as usize)
    }

    /// Whether the cache holds no rows.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_and_changed_files_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open_at(&dir.path().join("c.sqlite")).unwrap();
        let file = dir.path().join("a.wav");
        std::fs::write(&file, b"abc").unwrap();
        let stamp = FileStamp::of(&file).unwrap();
        let a = Analysis {
            duration_s: Some(1.5),
            scores: vec![0.1, 0.25, 1.0 / 3.0],
            windows: Some(vec![vec![0.1, 0.2, 0.3]]),
            window_starts_s: Some(vec![0.0]),
        };
        assert!(cache.get(&file, stamp, "m", Mode::Full).unwrap().is_none());
        cache.put(&file, stamp, "m", Mode::Full, &Ok(a.clone())).unwrap();
        let got = cache.get(&file, stamp, "m", Mode::Full).unwrap().unwrap().unwrap();
        assert_eq!(got.scores, a.scores, "scores round-trip exactly");
        assert_eq!(got.windows, a.windows);
        assert!(cache.get(&file, stamp, "m", Mode::Center).unwrap().is_none(), "mode is part of the key");
        assert!(cache.get(&file, stamp, "other", Mode::Full).unwrap().is_none(), "model is part of the key");
        let changed = FileStamp { size: stamp.size + 1, ..stamp };
        assert!(cache.get(&file, changed, "m", Mode::Full).unwrap().is_none(), "a changed file misses");
        cache.put(&file, stamp, "m", Mode::Center, &Err("bad file".into())).unwrap();
        assert_eq!(cache.get(&file, stamp, "m", Mode::Center).unwrap().unwrap().unwrap_err(), "bad file");
        drop(cache);
        let reopened = Cache::open_at(&dir.path().join("c.sqlite")).unwrap();
        assert_eq!(reopened.len().unwrap(), 2);
    }
}

/// Runs an analysis job over `files`, answering from the cache where it can (files unchanged
/// since) and storing fresh results: cached results are reported first, then fresh ones as
/// workers finish. `on_event` sees indices into `files` and ends with [`Event::Done`].
/// Returns the time spent opening the runtime and sessions (zero when everything was cached).
pub fn analyze_files(
    config: JobConfig,
    files: &[PathBuf],
    cache: Option<&Cache>,
    mut on_event: impl FnMut(Event),
) -> std::result::Result<Duration, ModelError> {
    let stamps: Vec<Option<FileStamp>> =
        files.iter().map(|f| cache.as_ref().and_then(|_| FileStamp::of(f))).collect();
    let (model_id, mode) = (config.manifest.id.clone(), config.mode);
    let mut to_run: Vec<usize> = Vec::new();
    let mut cached = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let hit = match (cache, stamps[index]) {
            (Some(c), Some(stamp)) => c
                .get(path, stamp, &model_id, mode)
                .map_err(|e| tracing::warn!("reading the analysis cache: {e:#}"))
                .ok()
                .flatten(),
            _ => None,
        };
        match hit {
            Some(outcome) => cached.push((index, outcome)),
            None => to_run.push(index),
        }
    }
    if to_run.is_empty() {
        for (index, outcome) in cached {
            let result = TrackResult { path: files[index].clone(), outcome, times: StageTimes::default() };
            on_event(Event::Finished { index, result: Box::new(result) });
        }
        on_event(Event::Done { cancelled: false });
        return Ok(Duration::ZERO);
    }
    let startup = std::time::Instant::now();
    let run_files = to_run.iter().map(|&i| files[i].clone()).collect();
    let (job, events) = Job::start(config, run_files)?;
    let startup = startup.elapsed();
    for (index, outcome) in cached {
        let result = TrackResult { path: files[index].clone(), outcome, times: StageTimes::default() };
        on_event(Event::Finished { index, result: Box::new(result) });
    }
    for event in events {
        match event {
            Event::Started { index } => on_event(Event::Started { index: to_run[index] }),
            Event::Finished { index, result } => {
                let index = to_run[index];
                if let (Some(c), Some(stamp)) = (cache, stamps[index])
                    && worth_caching(&result.outcome)
                    && let Err(e) = c.put(&result.path, stamp, &model_id, mode, &result.outcome)
                {
                    tracing::warn!("writing the analysis cache: {e:#}");
                }
                on_event(Event::Finished { index, result });
            }
            Event::Done { cancelled } => {
                on_event(Event::Done { cancelled });
                break;
            }
        }
    }
    job.join();
    Ok(startup)
}
