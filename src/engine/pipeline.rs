//! The one analysis path every caller uses (`tag`, `write`, `eval`, `similar`, the app's table,
//! comparison and evaluation): cache look-up → analysis of the misses on a worker pool →
//! results stored → per-file events.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::analysis::{Control, ErrorKind, Event, Job, JobConfig, TrackError, TrackResult};
use crate::engine::cache::{Cache, FileStamp, worth_caching};
use crate::engine::model::ModelError;

/// What a run did besides its events.
#[derive(Debug, Clone, Default)]
pub struct RunInfo {
    /// Time spent opening the runtime and sessions (zero when everything was cached).
    pub startup: Duration,
    /// Files answered from the cache.
    pub cached: usize,
    /// Cache reads or writes that failed (the analysis went on without them).
    pub cache_errors: usize,
    /// Files analysed although the cache held results of other models only (for them).
    pub only_other_models: usize,
    /// Those other models (ids, sorted), each with how many of these files it holds.
    pub other_models: Vec<(String, usize)>,
}

/// What the cache must hold for a row to count as a hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Need {
    /// Scores (or a lasting error) are enough.
    #[default]
    Scores,
    /// Also the embedding (similarity): rows without one are analysed again.
    Embedding,
}

/// Analyses `files` with `config`, answering from `cache` where it can (files unchanged since,
/// same model fingerprint) and storing fresh results there. Cached results are reported first,
/// then fresh ones as workers finish; `stamps[i]` (when known) is `files[i]`'s stamp as the
/// caller saw it, else it is read here. `on_event` sees indices into `files` and ends with
/// [`Event::Done`]. Fails only when the runtime or the model cannot be opened.
pub fn run(
    config: JobConfig,
    files: &[PathBuf],
    stamps: Option<&[Option<FileStamp>]>,
    cache: Option<&Cache>,
    need: Need,
    control: &Arc<Control>,
    mut on_event: impl FnMut(Event),
) -> Result<RunInfo, ModelError> {
    let mut info = RunInfo::default();
    let manifest = config.manifest.clone();
    let mode = config.mode;
    let stamps: Vec<Option<FileStamp>> = match (cache, stamps) {
        (None, _) => vec![None; files.len()],
        (Some(_), Some(s)) => files.iter().zip(s).map(|(f, s)| s.or_else(|| FileStamp::of(f))).collect(),
        (Some(_), None) => files.iter().map(|f| FileStamp::of(f)).collect(),
    };
    // Results are stored under the canonical path, so `melotag tag music/` and the app's
    // `/home/me/music` share them.
    let keys: Vec<PathBuf> = match cache {
        Some(_) => files.iter().map(|f| std::fs::canonicalize(f).unwrap_or_else(|_| f.clone())).collect(),
        None => Vec::new(),
    };
    let mut to_run: Vec<usize> = Vec::new();
    let mut hits = Vec::new();
    for index in 0..files.len() {
        let hit = match (cache, stamps[index]) {
            (Some(c), Some(stamp)) => match c.get(&keys[index], stamp, &manifest, mode) {
                Ok(hit) => hit,
                Err(e) => {
                    tracing::warn!("reading the analysis cache: {e}");
                    info.cache_errors += 1;
                    None
                }
            },
            _ => None,
        };
        let usable = match &hit {
            Some(Ok(a)) => need == Need::Scores || a.embedding.is_some() || manifest.embedding_output.is_none(),
            Some(Err(_)) => true,
            None => false,
        };
        match hit {
            Some(outcome) if usable => hits.push((index, outcome)),
            _ => {
                if let (Some(c), Some(stamp)) = (cache, stamps[index])
                    && let Ok(models) = c.models_for(&keys[index], stamp)
                    && !models.is_empty()
                    && !models.contains(&manifest.id)
                {
                    info.only_other_models += 1;
                    for m in models {
                        match info.other_models.iter_mut().find(|(id, _)| *id == m) {
                            Some((_, n)) => *n += 1,
                            None => info.other_models.push((m, 1)),
                        }
                    }
                }
                to_run.push(index);
            }
        }
    }
    info.other_models.sort();
    info.cached = hits.len();
    let report_hits = |hits: Vec<(usize, crate::engine::cache::Hit)>, on_event: &mut dyn FnMut(Event)| {
        for (index, outcome) in hits {
            let result = TrackResult { path: files[index].clone(), outcome, times: Default::default(), cached: true };
            on_event(Event::Finished { index, result: Box::new(result) });
        }
    };
    if to_run.is_empty() || control.is_cancelled() {
        report_hits(hits, &mut on_event);
        on_event(Event::Done { cancelled: control.is_cancelled() && !to_run.is_empty() });
        return Ok(info);
    }
    let started = Instant::now();
    let run_files = to_run.iter().map(|&i| files[i].clone()).collect();
    let (job, events) = Job::start(config, run_files, control.clone())?;
    info.startup = started.elapsed();
    report_hits(hits, &mut on_event);
    // If a worker dies without reporting (a panic outside its per-file guard), the files it
    // took, and when the job ends without its Done every file not cancelled, still get a
    // result, and the job still ends.
    let (mut taken, mut finished) = (vec![false; to_run.len()], vec![false; to_run.len()]);
    let mut done = None;
    for event in events {
        match event {
            Event::Started { index } => {
                taken[index] = true;
                on_event(Event::Started { index: to_run[index] });
            }
            Event::Finished { index, result } => {
                finished[index] = true;
                let index = to_run[index];
                if let (Some(c), Some(stamp)) = (cache, stamps[index])
                    && worth_caching(&result.outcome)
                    && let Err(e) = c.put(&keys[index], stamp, &manifest, mode, &result.outcome)
                {
                    tracing::warn!("writing the analysis cache: {e}");
                    info.cache_errors += 1;
                }
                on_event(Event::Finished { index, result });
            }
            Event::Done { cancelled } => {
                done = Some(cancelled);
                break;
            }
        }
    }
    let cancelled = done.unwrap_or_else(|| control.is_cancelled());
    for index in lost_files(&taken, &finished, done.is_some() || cancelled) {
        let outcome = Err(TrackError::new(ErrorKind::Internal, "internal error: the analysis worker stopped before finishing this file"));
        let result = TrackResult { path: files[to_run[index]].clone(), outcome, times: Default::default(), cached: false };
        on_event(Event::Finished { index: to_run[index], result: Box::new(result) });
    }
    on_event(Event::Done { cancelled });
    job.join();
    Ok(info)
}

/// The files that got no result: those a worker took and did not finish, and, unless the job
/// ended properly (its Done, or a cancel), those never taken.
fn lost_files(taken: &[bool], finished: &[bool], ended: bool) -> Vec<usize> {
    (0..finished.len()).filter(|&i| !finished[i] && (taken[i] || !ended)).collect()
}

#[cfg(test)]
mod tests {
    use super::lost_files;

    #[test]
    fn files_a_dead_worker_held_get_a_result() {
        let taken = [true, true, true, false, false];
        let finished = [true, false, true, false, false];
        // Ended properly (Done, or cancelled): only the file taken and never finished.
        assert_eq!(lost_files(&taken, &finished, true), [1]);
        // The workers vanished without Done: every file without a result.
        assert_eq!(lost_files(&taken, &finished, false), [1, 3, 4]);
        assert!(lost_files(&[true; 3], &[true; 3], false).is_empty());
    }
}
