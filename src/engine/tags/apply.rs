//! Applying plans: each file written atomically and verified ([`super::write`]), journalled
//! before it is replaced, with per-file results and cancellation; and undoing writes. The CLI
//! and the app both call these and present the events.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::undo::{FieldRecord, Journal, JournalError, UndoAction, UndoItem};
use super::write::{self, Change, Snapshot, WriteError};
use crate::engine::analysis::Control;
use crate::engine::cache::{Cache, FileStamp};

/// One file to write: the path, the snapshot it was planned from, and the changes.
#[derive(Debug, Clone)]
pub struct WriteJob {
    /// The file.
    pub path: PathBuf,
    /// Size and mtime when its tags were read (a file changed since is not written).
    pub snapshot: Snapshot,
    /// The fields to change.
    pub changes: Vec<Change>,
}

/// What happened to one file of a batch.
#[derive(Debug)]
pub enum ApplyEvent {
    /// File `index` was written (and journalled).
    Written {
        /// Index into the jobs.
        index: usize,
        /// The file as it is now.
        snapshot: Snapshot,
    },
    /// File `index` was not written; the original is untouched.
    Failed {
        /// Index into the jobs.
        index: usize,
        /// Why.
        error: WriteError,
    },
}

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The journal's batch id (for "undo this batch").
    pub batch: i64,
    /// Files written.
    pub written: usize,
    /// Files that failed.
    pub failed: usize,
    /// Whether the batch was cancelled before its end.
    pub cancelled: bool,
}

/// SHA-256 of a whole file, read in chunks.
pub fn sha256_file(path: &Path) -> std::io::Result<[u8; 32]> {
    let mut file = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().into())
}

/// Writes `jobs` in order, each atomically and verified, journalling every write before the
/// file is replaced (batch labelled `label`). Stops early when `control` is cancelled (the file
/// under way finishes). Journal failures stop the batch: nothing is written that undo could not
/// restore.
/// A written file's cached analyses are moved to its new stamp (`cache`): the audio is verified
/// byte-identical, so the scores still hold.
pub fn apply(
    journal: &mut Journal,
    label: &str,
    jobs: &[WriteJob],
    cache: Option<&Cache>,
    control: &Arc<Control>,
    mut on_event: impl FnMut(ApplyEvent),
) -> Result<BatchOutcome, JournalError> {
    let batch = journal.begin_batch(label)?;
    let mut outcome = BatchOutcome { batch, written: 0, failed: 0, cancelled: false };
    for (index, job) in jobs.iter().enumerate() {
        if !control.wait_while_paused() {
            outcome.cancelled = true;
            break;
        }
        match write_one(journal, batch, job)? {
            Ok(snapshot) => {
                outcome.written += 1;
                restamp(cache, &job.path, &job.snapshot, &snapshot);
                on_event(ApplyEvent::Written { index, snapshot });
            }
            Err(error) => {
                outcome.failed += 1;
                on_event(ApplyEvent::Failed { index, error });
            }
        }
    }
    journal.end_batch(batch)?;
    Ok(outcome)
}

/// Moves a rewritten file's cached results to its new stamp (best effort: a miss only costs
/// an analysis).
fn restamp(cache: Option<&Cache>, path: &Path, before: &Snapshot, after: &Snapshot) {
    if let Some(c) = cache {
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        for p in [path, real.as_path()] {
            if let Err(e) = c.restamp(p, FileStamp::new(before.size, before.mtime), FileStamp::new(after.size, after.mtime)) {
                tracing::warn!("analysis cache: {e}");
            }
        }
    }
}

/// Writes one file; the outer error is the journal's (fatal), the inner one the file's.
fn write_one(journal: &mut Journal, batch: i64, job: &WriteJob) -> Result<Result<Snapshot, WriteError>, JournalError> {
    let canonical = match std::fs::canonicalize(&job.path) {
        Ok(c) => c,
        Err(e) => return Ok(Err(WriteError::Io { what: "resolving the path", reason: write::io_reason(&e) })),
    };
    let records: Vec<FieldRecord> =
        job.changes.iter().map(|c| FieldRecord { field: c.field.clone(), role: c.role, old: c.old.clone(), new: c.new.clone() }).collect();
    let mut recorded: Option<i64> = None;
    let mut journal_error: Option<JournalError> = None;
    let result = write::write_changes(&canonical, &job.snapshot, &job.changes, |exact| {
        match journal.record(batch, &canonical, &records, Some(exact)) {
            Ok(id) => {
                recorded = Some(id);
                Ok(())
            }
            Err(e) => {
                let message = e.to_string();
                journal_error = Some(e);
                Err(WriteError::Journal(message))
            }
        }
    });
    if let Some(e) = journal_error {
        return Err(e);
    }
    match (result, recorded) {
        (Ok(snapshot), Some(id)) => {
            journal.mark_done(id)?;
            Ok(Ok(snapshot))
        }
        (Ok(snapshot), None) => Ok(Ok(snapshot)),
        (Err(e), Some(id)) => {
            journal.forget(id)?;
            Ok(Err(e))
        }
        (Err(e), None) => Ok(Err(e)),
    }
}

/// What undo did to one file.
#[derive(Debug)]
pub enum UndoEvent {
    /// The original bytes are back.
    RestoredExactly {
        /// Index into the items.
        index: usize,
    },
    /// melotag's fields were restored; other edits made since were kept.
    RestoredFields {
        /// Index into the items.
        index: usize,
    },
    /// Nothing to do: the file already held its old values.
    AlreadyRestored {
        /// Index into the items.
        index: usize,
    },
    /// Not restored; the file is untouched.
    Failed {
        /// Index into the items.
        index: usize,
        /// Why.
        error: String,
    },
}

/// Undoes `items` (from [`super::undo::plan_undo`]), marking each restored write undone.
pub fn undo(
    journal: &Journal,
    items: &[UndoItem],
    cache: Option<&Cache>,
    control: &Arc<Control>,
    mut on_event: impl FnMut(UndoEvent),
) -> Result<(), JournalError> {
    for (index, item) in items.iter().enumerate() {
        if !control.wait_while_paused() {
            break;
        }
        let path = &item.record.path;
        let before = Snapshot::of(path).ok();
        let event = match &item.action {
            Err(e) => UndoEvent::Failed { index, error: e.clone() },
            Ok(UndoAction::AlreadyRestored) => {
                journal.mark_undone(item.record.id)?;
                UndoEvent::AlreadyRestored { index }
            }
            Ok(UndoAction::Exact { .. }) => match item.record.exact.as_ref().map(|exact| write::restore_exact(path, exact)) {
                Some(Ok(())) => {
                    journal.mark_undone(item.record.id)?;
                    UndoEvent::RestoredExactly { index }
                }
                Some(Err(e)) => UndoEvent::Failed { index, error: e.to_string() },
                None => UndoEvent::Failed { index, error: "no exact undo recorded".into() },
            },
            Ok(UndoAction::Fields { snapshot, changes }) => match write::write_changes(path, snapshot, changes, |_| Ok(())) {
                Ok(_) => {
                    journal.mark_undone(item.record.id)?;
                    UndoEvent::RestoredFields { index }
                }
                Err(e) => UndoEvent::Failed { index, error: e.to_string() },
            },
        };
        if matches!(event, UndoEvent::RestoredExactly { .. } | UndoEvent::RestoredFields { .. })
            && let (Some(before), Ok(after)) = (before, Snapshot::of(path))
        {
            restamp(cache, path, &before, &after);
        }
        on_event(event);
    }
    Ok(())
}
