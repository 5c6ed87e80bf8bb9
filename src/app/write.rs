//! The app's write workflow, on the engine's plan → apply → undo service (the one `melotag
//! write` and `melotag undo` use):
//!
//! - "Write tags…" opens a review of the selected tracks: their tags are read once and their
//!   scores taken from the table (tracks not analysed yet are analysed first); plans are
//!   computed off the UI thread and again whenever a policy control moves, without
//!   re-analysing anything.
//! - "Write" applies the checked files in the background with progress and cancel; per-file
//!   errors show in the review and the table; the table then shows the new tags.
//! - Undo: the last batch, any batch of the history, or the selected files.
//! - The settings (policy, rename map, never-write and leave-alone lists) are the user's config
//!   file, read at start and saved a moment after each change.
//!
//! Every disk and database access runs on a background thread that posts a [`BgMsg`].

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Bg, BgMsg, MelotagApp, Meta, Status};
use crate::engine::analysis::Control;
use crate::engine::cache::Cache;
use crate::engine::config::UserConfig;
use crate::engine::tags::apply::{self, ApplyEvent, BatchOutcome, UndoEvent, WriteJob};
use crate::engine::tags::undo::{BatchSummary, plan_undo};
use crate::engine::tags::{FilePlan, FileTags, Journal, PlanInput, UndoTarget, WriteSettings, plan_batch};

/// How long after the last settings change the config file is saved.
const SAVE_DELAY: Duration = Duration::from_millis(800);

/// The write workflow's state.
#[derive(Default)]
pub struct WriteUi {
    /// The settings every review plans with (the config file's, as edited in the app).
    pub settings: WriteSettings,
    /// The config file as loaded (saved back with the settings).
    config: UserConfig,
    /// Whether the config file has been read (settings are not saved before).
    config_loaded: bool,
    /// A problem with the config file, to show.
    pub config_error: Option<String>,
    save_due: Option<Instant>,
    /// The open review, if any.
    pub review: Option<Review>,
    /// Whether the history window is open.
    pub history_open: bool,
    /// The write batches, newest first (loading while `None`).
    pub history: Option<Result<Vec<BatchSummary>, String>>,
    /// Whether the settings window is open.
    pub settings_open: bool,
    /// An undo is running.
    pub undo_running: bool,
    /// The last write or undo summary, for the status line.
    pub last_summary: Option<String>,
    /// The settings window's new spelling being typed (tag, written as).
    pub rename_draft: (String, String),
    /// The settings window's list fields as typed (never write, leave alone).
    pub lists_draft: Option<(String, String)>,
}

/// What the review is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum ReviewState {
    /// Reading tags, waiting for analyses, or planning.
    Preparing,
    /// Plans shown; nothing written yet.
    Ready,
    /// Writing the checked files.
    Writing,
    /// Written (the summary line).
    Done(String),
}

/// The review of a selection.
pub struct Review {
    /// Id in the review's messages.
    pub id: u64,
    /// The files (track indices), in table order.
    pub tracks: Vec<usize>,
    /// Their paths.
    pub paths: Vec<PathBuf>,
    /// Their tags, as they arrive.
    pub tags: Vec<Option<Result<FileTags, String>>>,
    /// The latest plans (one per file), once computed.
    pub plans: Vec<FilePlan>,
    /// Which files the user wants written (all on by default).
    pub checked: Vec<bool>,
    /// Per-file write results.
    pub results: Vec<Option<Result<(), String>>>,
    /// Where the review is.
    pub state: ReviewState,
    /// Bumped whenever the inputs or the settings change.
    generation: u64,
    planned_generation: u64,
    planning: bool,
    /// Tracks analysed when the inputs were last gathered (a change triggers a re-plan).
    analysed_seen: usize,
    control: Option<Arc<Control>>,
    /// Files written / failed so far in this review's write.
    pub written: usize,
    /// See `written`.
    pub failed: usize,
    /// Files the write started with.
    pub to_write: usize,
    /// The journal's batch of this review's write, once it ended.
    pub batch: Option<i64>,
}

impl Review {
    /// Tags read so far.
    pub fn tags_read(&self) -> usize {
        self.tags.iter().filter(|t| t.is_some()).count()
    }

    /// Whether the shown plans are those of the current settings and inputs.
    pub fn planned(&self) -> bool {
        !self.plans.is_empty() && self.planned_generation == self.generation && !self.planning
    }

    /// The files that will change (checked or not), by index.
    pub fn changing(&self) -> Vec<usize> {
        (0..self.plans.len()).filter(|&i| !self.plans[i].changes().is_empty()).collect()
    }

    /// How many checked files will change.
    pub fn checked_changes(&self) -> usize {
        self.changing().into_iter().filter(|&i| self.checked.get(i).copied().unwrap_or(false)).count()
    }

    /// Whether a write is running.
    pub fn writing(&self) -> bool {
        self.state == ReviewState::Writing
    }

    /// Stops the running write after the file under way.
    pub fn cancel(&self) {
        if let Some(c) = &self.control {
            c.cancel();
        }
    }
}

impl MelotagApp {
    /// Whether writing is possible at all (an undo journal to record in).
    pub fn can_write(&self) -> bool {
        self.options.journal_path.is_some()
    }

    /// Reads the config file on a background thread (first frame).
    pub(crate) fn load_config(&mut self) {
        let Some(path) = self.options.config_path.clone() else {
            self.write.config_loaded = true;
            return;
        };
        let bg = self.bg();
        spawn("melotag-config", move || {
            bg.send(BgMsg::ConfigLoaded(UserConfig::load(&path).map_err(|e| e.to_string())));
        });
    }

    /// The settings changed (a control moved): re-plan the review, save the file soon.
    pub fn settings_changed(&mut self) {
        if let Some(r) = &mut self.write.review {
            r.generation += 1;
        }
        self.write.save_due = Some(Instant::now() + SAVE_DELAY);
    }

    /// Saves the settings once they stopped changing (called every frame).
    fn save_settings_when_due(&mut self) {
        let Some(due) = self.write.save_due else { return };
        if !self.write.config_loaded && self.write.config_error.is_some() {
            return; // held back for good: the user's file could not be read, nothing to wait for
        }
        if Instant::now() < due || !self.write.config_loaded {
            self.request_repaint_after(Duration::from_millis(200));
            return;
        }
        self.write.save_due = None;
        let Some(path) = self.options.config_path.clone() else { return };
        self.write.config.set_write_settings(&self.write.settings);
        let config = self.write.config.clone();
        let bg = self.bg();
        spawn("melotag-config-save", move || {
            bg.send(BgMsg::ConfigSaved(config.save(&path).map_err(|e| e.to_string())));
        });
    }

    /// "Write tags…": opens the review of the selected tracks (the focused one when nothing is
    /// selected), reads their tags and analyses those without a result.
    pub fn open_review(&mut self) {
        if self.write.review.as_ref().is_some_and(Review::writing) {
            return;
        }
        let mut tracks: Vec<usize> = self.view.iter().copied().filter(|i| self.selection.contains(i)).collect();
        if tracks.is_empty() {
            tracks.extend(self.selected);
        }
        if tracks.is_empty() {
            self.message = Some("Select the tracks to write first (click, Shift/Ctrl-click, Ctrl+A).".into());
            return;
        }
        let id = self.next_id();
        let paths: Vec<PathBuf> = tracks.iter().map(|&i| self.tracks[i].path.clone()).collect();
        let n = tracks.len();
        self.write.review = Some(Review {
            id,
            tracks: tracks.clone(),
            paths: paths.clone(),
            tags: vec![None; n],
            plans: Vec::new(),
            checked: vec![true; n],
            results: vec![None; n],
            state: ReviewState::Preparing,
            generation: 1,
            planned_generation: 0,
            planning: false,
            analysed_seen: 0,
            control: None,
            written: 0,
            failed: 0,
            to_write: 0,
            batch: None,
        });
        let bg = self.bg();
        spawn("melotag-review-tags", move || {
            for (chunk_index, chunk) in paths.chunks(64).enumerate() {
                let items =
                    chunk.iter().enumerate().map(|(k, p)| (chunk_index * 64 + k, FileTags::read(p).map_err(|e| e.to_string()))).collect();
                if !bg.send(BgMsg::ReviewTags { id, items }) {
                    return;
                }
            }
        });
        self.analyse_review_tracks();
    }

    /// Analyses the review's tracks that have no result for this model and mode yet, once no
    /// other batch runs (also each frame: a batch running when the review opened may have
    /// been cancelled since, leaving its tracks unanalysed).
    fn analyse_review_tracks(&mut self) {
        let Some(review) = &self.write.review else { return };
        if !matches!(review.state, ReviewState::Preparing) || self.batch_running() {
            return;
        }
        let missing: Vec<_> = review
            .tracks
            .iter()
            .filter(|&&i| matches!(self.tracks[i].status, Status::NotAnalysed))
            .map(|&i| (self.tracks[i].path.clone(), self.tracks[i].stamp))
            .collect();
        if !missing.is_empty() {
            self.start_job(super::JobKind::Batch, missing);
        }
    }

    /// Closes the review (a running write goes on and still reports to the table).
    pub fn close_review(&mut self) {
        if self.write.review.as_ref().is_some_and(Review::writing) {
            return;
        }
        self.write.review = None;
    }

    /// Every frame: plans the review when its inputs or settings changed, saves settings.
    pub(crate) fn write_tick(&mut self) {
        self.save_settings_when_due();
        self.analyse_review_tracks();
        let Some(manifest) = self.manifest() else { return };
        let mode = self.persisted.mode;
        let Some(review) = &mut self.write.review else { return };
        if !matches!(review.state, ReviewState::Preparing | ReviewState::Ready) || review.planning {
            return;
        }
        let analysed = review.tracks.iter().filter(|&&i| matches!(self.tracks[i].status, Status::Done | Status::Error(_))).count();
        if analysed != review.analysed_seen {
            review.analysed_seen = analysed;
            review.generation += 1;
        }
        if review.tags_read() < review.tracks.len() || analysed < review.tracks.len() || review.planned_generation == review.generation {
            return;
        }
        let inputs: Vec<PlanInput> = review
            .tracks
            .iter()
            .zip(&review.tags)
            .map(|(&i, tags)| {
                let t = &self.tracks[i];
                PlanInput {
                    path: t.path.clone(),
                    tags: tags.clone().unwrap_or_else(|| Err("tags not read".into())),
                    scores: match (&t.status, &t.analysis) {
                        (Status::Done, Some(a)) => Ok(a.scores.clone()),
                        (Status::Error(e), _) => Err(format!("not analysed: {e}")),
                        _ => Err("not analysed".into()),
                    },
                }
            })
            .collect();
        review.planning = true;
        let (id, generation) = (review.id, review.generation);
        let settings = self.write.settings.clone();
        let bg = self.bg();
        spawn("melotag-plan", move || {
            let plans = plan_batch(&inputs, &manifest, mode, &settings);
            bg.send(BgMsg::ReviewPlans { id, generation, plans });
        });
    }

    /// "Write N files": applies the checked plans in the background.
    pub fn start_write(&mut self) {
        let (Some(journal_path), Some(review)) = (self.options.journal_path.clone(), &mut self.write.review) else { return };
        if review.writing() || !review.planned() {
            return;
        }
        let indices: Vec<usize> = review.changing().into_iter().filter(|&i| review.checked[i]).collect();
        let jobs: Vec<WriteJob> = indices
            .iter()
            .filter_map(|&i| {
                let plan = review.plans[i].outcome.as_ref().ok()?;
                Some(WriteJob { path: review.plans[i].path.clone(), snapshot: plan.snapshot, changes: plan.changes.clone() })
            })
            .collect();
        if jobs.is_empty() {
            return;
        }
        let control = Control::new();
        review.control = Some(control.clone());
        review.state = ReviewState::Writing;
        review.written = 0;
        review.failed = 0;
        review.to_write = jobs.len();
        for &i in &indices {
            review.results[i] = None;
        }
        let id = review.id;
        let (bg, cache_path) = (self.bg(), self.options.cache_path.clone());
        spawn("melotag-write", move || {
            let outcome = (|| -> Result<BatchOutcome, String> {
                let mut journal = Journal::open_at(&journal_path).map_err(|e| e.to_string())?;
                let cache = cache_path.and_then(|p| Cache::open_at(&p).ok()).map(|o| o.cache);
                apply::apply(&mut journal, "melotag app", &jobs, cache.as_ref(), &control, |event| {
                    let (k, result) = match event {
                        ApplyEvent::Written { index, .. } => (index, Ok(())),
                        ApplyEvent::Failed { index, error } => (index, Err(error.to_string())),
                    };
                    bg.send(BgMsg::Written { id, index: indices[k], result });
                })
                .map_err(|e| e.to_string())
            })();
            bg.send(BgMsg::WriteDone { id, outcome });
            refresh_meta(jobs.into_iter().map(|j| j.path).collect(), &bg);
        });
    }

    /// Undoes `target` in the background (the last batch, one batch, or files).
    pub fn start_undo(&mut self, target: UndoTarget) {
        let Some(journal_path) = self.options.journal_path.clone() else { return };
        if self.write.undo_running {
            return;
        }
        self.write.undo_running = true;
        let (bg, cache_path) = (self.bg(), self.options.cache_path.clone());
        // The journal records canonical paths; they are matched to the table's off this thread.
        let listed: Vec<PathBuf> = self.tracks.iter().map(|t| t.path.clone()).collect();
        spawn("melotag-undo", move || {
            let mut paths = Vec::new();
            let summary = (|| -> Result<String, String> {
                let journal = Journal::open_at(&journal_path).map_err(|e| e.to_string())?;
                let (items, unknown) = plan_undo(&journal, &target).map_err(|e| e.to_string())?;
                if items.is_empty() {
                    return Ok(if unknown.is_empty() {
                        "Nothing to undo.".into()
                    } else {
                        "No melotag write to undo for these files.".into()
                    });
                }
                let cache = cache_path.and_then(|p| Cache::open_at(&p).ok()).map(|o| o.cache);
                let (mut exact, mut fields, mut failed) = (0, 0, Vec::new());
                apply::undo(&journal, &items, cache.as_ref(), &Control::new(), |event| match event {
                    UndoEvent::RestoredExactly { .. } => exact += 1,
                    UndoEvent::RestoredFields { .. } => fields += 1,
                    UndoEvent::AlreadyRestored { .. } => {}
                    UndoEvent::Failed { index, error } => failed.push(format!("{}: {error}", items[index].record.path.display())),
                })
                .map_err(|e| e.to_string())?;
                paths = as_listed(items.iter().map(|i| i.record.path.clone()).collect(), listed);
                let mut s = format!("Undone: {} file(s) restored exactly", exact);
                if fields > 0 {
                    s.push_str(&format!(", {fields} by field (they had changed since)"));
                }
                if !failed.is_empty() {
                    s.push_str(&format!("; {} not restored: {}", failed.len(), failed.join("; ")));
                }
                Ok(s)
            })();
            let touched = paths.clone();
            bg.send(BgMsg::UndoDone { summary, paths });
            refresh_meta(touched, &bg);
            send_history(&journal_path, &bg);
        });
    }

    /// Opens the history window and loads the batches.
    pub fn open_history(&mut self) {
        self.write.history_open = true;
        self.write.history = None;
        if let Some(path) = self.options.journal_path.clone() {
            let bg = self.bg();
            spawn("melotag-history", move || send_history(&path, &bg));
        } else {
            self.write.history = Some(Err("No undo journal: writing is disabled.".into()));
        }
    }

    /// Applies a write-workflow message.
    pub(crate) fn handle_write(&mut self, msg: BgMsg) {
        match msg {
            BgMsg::ConfigLoaded(Ok(config)) => {
                self.write.settings = config.write_settings();
                self.write.config = config;
                self.write.config_loaded = true;
                if let Some(r) = &mut self.write.review {
                    r.generation += 1;
                }
            }
            BgMsg::ConfigLoaded(Err(e)) | BgMsg::ConfigSaved(Err(e)) => {
                // Defaults are used; saving is held back so the user's file is not overwritten.
                self.write.config_error = Some(e);
            }
            BgMsg::ConfigSaved(Ok(())) => self.write.config_error = None,
            BgMsg::ReviewTags { id, items } => {
                if let Some(r) = self.write.review.as_mut().filter(|r| r.id == id) {
                    for (i, tags) in items {
                        if let Some(slot) = r.tags.get_mut(i) {
                            *slot = Some(tags);
                        }
                    }
                    r.generation += 1;
                }
            }
            BgMsg::ReviewPlans { id, generation, plans } => {
                if let Some(r) = self.write.review.as_mut().filter(|r| r.id == id) {
                    r.planning = false;
                    if generation == r.generation {
                        r.plans = plans;
                        r.planned_generation = generation;
                        if r.state == ReviewState::Preparing {
                            r.state = ReviewState::Ready;
                        }
                    }
                }
            }
            BgMsg::Written { id, index, result } => {
                if let Some(r) = self.write.review.as_mut().filter(|r| r.id == id) {
                    match &result {
                        Ok(()) => r.written += 1,
                        Err(_) => r.failed += 1,
                    }
                    if let Some(&t) = r.tracks.get(index) {
                        self.tracks[t].write_note = Some(result.clone());
                    }
                    if let Some(slot) = r.results.get_mut(index) {
                        *slot = Some(result);
                    }
                }
            }
            BgMsg::WriteDone { id, outcome } => {
                let summary = match &outcome {
                    Ok(o) if o.cancelled => {
                        format!("Cancelled: {} file(s) written, {} failed (undo: batch {})", o.written, o.failed, o.batch)
                    }
                    Ok(o) => format!("Wrote {} file(s), {} failed (undo: batch {})", o.written, o.failed, o.batch),
                    Err(e) => format!("Nothing written: {e}"),
                };
                if let Some(r) = self.write.review.as_mut().filter(|r| r.id == id) {
                    r.state = ReviewState::Done(summary.clone());
                    r.control = None;
                    r.batch = outcome.as_ref().ok().map(|o| o.batch);
                }
                self.write.last_summary = Some(summary);
                if self.write.history_open {
                    self.open_history();
                }
            }
            BgMsg::UndoDone { summary, paths } => {
                self.write.undo_running = false;
                let text = summary.unwrap_or_else(|e| format!("Undo failed: {e}"));
                for p in &paths {
                    if let Some(&i) = self.by_path.get(p) {
                        self.tracks[i].write_note = None;
                    }
                }
                self.write.last_summary = Some(text);
            }
            BgMsg::History(h) => self.write.history = Some(h),
            BgMsg::Refreshed(items) => {
                for (p, meta) in items {
                    if let Some(&i) = self.by_path.get(&p) {
                        self.tracks[i].apply_meta(meta);
                    }
                }
                self.invalidate_view();
            }
            _ => {}
        }
    }

    pub(super) fn request_repaint_after(&self, d: Duration) {
        if let Some(bg) = &self.bg {
            bg.ctx.request_repaint_after(d);
        }
    }

    /// Paths of the selected tracks.
    pub fn selected_paths(&self) -> Vec<PathBuf> {
        let set: &BTreeSet<usize> = &self.selection;
        let mut v: Vec<PathBuf> = set.iter().map(|&i| self.tracks[i].path.clone()).collect();
        if v.is_empty()
            && let Some(i) = self.selected
        {
            v.push(self.tracks[i].path.clone());
        }
        v
    }
}

/// `paths` (canonical, as the journal has them) as the table lists them: a listed path as it
/// is, else the listed path with the same canonical form (a folder opened through a symlink),
/// else unchanged.
fn as_listed(paths: Vec<PathBuf>, listed: Vec<PathBuf>) -> Vec<PathBuf> {
    let listed_set: std::collections::HashSet<&PathBuf> = listed.iter().collect();
    if paths.iter().all(|p| listed_set.contains(p)) {
        return paths;
    }
    let by_canonical: std::collections::HashMap<PathBuf, &PathBuf> =
        listed.iter().filter_map(|l| std::fs::canonicalize(l).ok().map(|c| (c, l))).collect();
    paths.into_iter().map(|p| if listed_set.contains(&p) { p } else { by_canonical.get(&p).map_or(p, |l| (*l).clone()) }).collect()
}

/// Re-reads the tags (for the table) of files just written or restored.
fn refresh_meta(paths: Vec<PathBuf>, bg: &Bg) {
    if paths.is_empty() {
        return;
    }
    let items: Vec<(PathBuf, Meta)> = paths.into_iter().map(|p| (p.clone(), super::read_meta(&p))).collect();
    bg.send(BgMsg::Refreshed(items));
}

fn send_history(journal_path: &std::path::Path, bg: &Bg) {
    let history = Journal::open_at(journal_path).and_then(|j| j.history(200)).map_err(|e| e.to_string());
    bg.send(BgMsg::History(history));
}

/// Starts a named background thread (a failure to start is logged: the UI shows no result).
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        tracing::error!("cannot start a {name} thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_paths_map_to_the_listed_paths_through_a_symlinked_folder() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::fs::write(real.join("a.flac"), b"x").unwrap();
        std::fs::write(real.join("b.flac"), b"y").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let canonical = |n: &str| std::fs::canonicalize(real.join(n)).unwrap();
        let gone = dir.path().join("gone.flac");
        let listed = vec![link.join("a.flac"), link.join("b.flac")];
        assert_eq!(
            as_listed(vec![canonical("b.flac"), gone.clone(), canonical("a.flac")], listed.clone()),
            [link.join("b.flac"), gone, link.join("a.flac")]
        );
        // Listed as they are: returned unchanged.
        assert_eq!(as_listed(listed.clone(), listed.clone()), listed);
    }
}
