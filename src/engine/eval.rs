//! Evaluation: per-tag ROC-AUC and PR-AUC (average precision) of one or several models against
//! labels (a CSV, or the GENRE/MOOD values already in the files), their inference time per
//! 29 s clip, and `melotag models`.
//!
//! Definitions (those of scikit-learn's `roc_auc_score` and `average_precision_score`, which the
//! tests compare against at test time):
//! - ROC-AUC is the Mann–Whitney statistic: the fraction of (positive, negative) pairs whose
//!   positive scores higher, a tie counting one half.
//! - PR-AUC is the average precision: over the distinct scores `t`, from high to low,
//!   Σ (R(t) − R(previous t)) · P(t), where P and R are the precision and recall of "score ≥ t".
//! - A tag is evaluated only when the tracks have both positives and negatives for it; the
//!   others are listed as skipped. Macro averages are plain means over the evaluated tags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::engine::analysis::{Control, ErrorKind, Event, JobConfig, Mode, TrackError, TrackResult};
use crate::engine::cache::Cache;
use crate::engine::features::Windowing;
use crate::engine::library;
use crate::engine::model::{Manifest, ModelError, Tagger};
use crate::engine::pipeline::{self, Need};

// ---------------------------------------------------------------------------------------------
// Metrics.

/// ROC-AUC of `scores` against binary `labels` (ties count one half); `None` unless there is at
/// least one positive and one negative.
pub fn roc_auc(labels: &[bool], scores: &[f64]) -> Option<f64> {
    assert_eq!(labels.len(), scores.len(), "one label per score");
    let pos = labels.iter().filter(|&&l| l).count();
    let neg = labels.len() - pos;
    if pos == 0 || neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    // Ascending; for each group of equal scores, each positive beats every negative below the
    // group and ties with the group's negatives. Counts are integers (and halves): exact in f64.
    let mut credit = 0.0f64;
    let mut negatives_below = 0usize;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        let (mut p, mut n) = (0usize, 0usize);
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                p += 1
            } else {
                n += 1
            }
            j += 1;
        }
        credit += p as f64 * negatives_below as f64 + 0.5 * p as f64 * n as f64;
        negatives_below += n;
        i = j;
    }
    Some(credit / (pos as f64 * neg as f64))
}

/// Average precision (PR-AUC) of `scores` against `labels`, scikit-learn's definition (no
/// interpolation; tied scores form one threshold); `None` without positives.
pub fn average_precision(labels: &[bool], scores: &[f64]) -> Option<f64> {
    assert_eq!(labels.len(), scores.len(), "one label per score");
    let pos = labels.iter().filter(|&&l| l).count();
    if pos == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut ap = 0.0f64;
    let mut last_recall = 0.0f64;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j < order.len() && scores[order[j]] == scores[order[i]] {
            if labels[order[j]] {
                tp += 1
            } else {
                fp += 1
            }
            j += 1;
        }
        let recall = tp as f64 / pos as f64;
        let precision = tp as f64 / (tp + fp) as f64;
        ap += (recall - last_recall) * precision;
        last_recall = recall;
        i = j;
    }
    Some(ap)
}

// ---------------------------------------------------------------------------------------------
// Labels.

/// Lower case, letters and digits only: "Hip Hop", "hip-hop" and "HIPHOP" are one name.
pub fn normalize_tag(s: &str) -> String {
    crate::engine::tags::taxonomy::normalize(s)
}

/// Label spellings matched to the taxonomy's canonical names (those `melotag write` writes):
/// case-insensitive, ignoring everything but letters and digits, any model tag of any
/// vocabulary, and a few common aliases ("hip hop", "rap" → Hip-Hop; "female vocalist" →
/// Female Vocals; "classic" → Classical), so models with different vocabularies are evaluated
/// on the same labels.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    tags: Vec<String>,
}

impl Default for Vocabulary {
    fn default() -> Self {
        Vocabulary::new()
    }
}

impl Vocabulary {
    /// Every canonical name of the taxonomy.
    pub fn new() -> Vocabulary {
        Vocabulary { tags: crate::engine::tags::taxonomy::canonical_names().iter().map(|s| s.to_string()).collect() }
    }

    /// The canonical tag (index) a label means, if any.
    pub fn lookup(&self, label: &str) -> Option<usize> {
        let name = crate::engine::tags::taxonomy::canonical(label)?;
        self.tags.iter().position(|t| t == name)
    }

    /// The canonical names.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}

/// A model's scores on the canonical tags it knows: the indices (into [`Vocabulary::tags`]) it
/// covers, and per track the best score of its model tags for each.
pub fn canonical_matrix(manifest: &Manifest, vocab: &Vocabulary, rows: &[Vec<f32>]) -> (Vec<usize>, Vec<Vec<f32>>) {
    let entries = manifest.entries();
    let mut covered: Vec<usize> = entries.iter().flatten().filter_map(|e| vocab.tags.iter().position(|t| t == e.name)).collect();
    covered.sort_unstable();
    covered.dedup();
    let matrix = rows
        .iter()
        .map(|scores| {
            let best = crate::engine::tags::policy::canonical_scores(&entries, scores);
            covered.iter().map(|&k| best.iter().find(|s| s.name == vocab.tags[k]).map_or(f32::NAN, |s| s.score)).collect()
        })
        .collect();
    (covered, matrix)
}

/// Ground truth for some files: tag indices per file, and label names no tag matched.
#[derive(Debug, Default)]
pub struct Labels {
    /// File (as given or found) → tag indices.
    pub by_path: BTreeMap<PathBuf, BTreeSet<usize>>,
    /// Label values that are not in the vocabulary, with how many times they occurred.
    pub unknown: BTreeMap<String, usize>,
}

/// Splits a stored genre/mood value into labels: at ';', ',' and '/' (ID3v2.3 and hand-typed
/// multi-value conventions), trimmed, empties dropped.
fn split_values(v: &str) -> impl Iterator<Item = &str> {
    v.split([';', ',', '/', '\0']).map(str::trim).filter(|s| !s.is_empty())
}

fn key_of(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Reads `labels.csv`: rows `path,tags`, tags separated by ';'. Paths are relative to the CSV's
/// folder unless absolute. A first row whose first field is `path` is a header. Blank lines and
/// lines starting with '#' are ignored; fields may be quoted (CSV rules); a file listed twice
/// gets the union. Tag names go through [`Vocabulary::lookup`]; names it does not know are
/// counted in [`Labels::unknown`].
pub fn read_labels_csv(csv_path: &Path, vocab: &Vocabulary) -> Result<Labels, EvalError> {
    let bad = |e: csv::Error| EvalError::Labels { path: csv_path.to_path_buf(), message: e.to_string() };
    let base = csv_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .map_err(bad)?;
    let mut labels = Labels::default();
    for (row, record) in reader.records().enumerate() {
        let record = record.map_err(bad)?;
        let Some(path) = record.get(0).filter(|p| !p.is_empty()) else { continue };
        if row == 0 && path.eq_ignore_ascii_case("path") {
            continue;
        }
        let path = Path::new(path);
        let path = if path.is_absolute() { path.to_path_buf() } else { base.join(path) };
        let set = labels.by_path.entry(key_of(&path)).or_default();
        for field in record.iter().skip(1) {
            for name in field.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                match vocab.lookup(name) {
                    Some(i) => {
                        set.insert(i);
                    }
                    None => *labels.unknown.entry(name.to_string()).or_default() += 1,
                }
            }
        }
    }
    Ok(labels)
}

/// The genre and mood values stored in a file (every tag melotag reads: ID3v2, Vorbis
/// comments, MP4, APE), through [`crate::engine::tags::FileTags`]. `Ok(empty)` when it has none.
pub fn read_file_labels(path: &Path) -> Result<Vec<String>, crate::engine::tags::fields::TagError> {
    use crate::engine::tags::{FileTags, Role};
    let file = FileTags::read(path)?;
    let mut values = Vec::new();
    for field in file.fields.iter().filter(|f| matches!(f.role, Role::Genre | Role::Mood)) {
        for v in &field.values {
            values.extend(split_values(v).map(str::to_string));
        }
    }
    Ok(values)
}

// ---------------------------------------------------------------------------------------------
// Timing.

/// Seconds of audio the timing covers.
pub const CLIP_S: f64 = 29.0;

/// Model inputs for `CLIP_S` seconds of audio: Choi's 29.12 s windows → 1, musicnn's 3 s
/// patches → 10.
pub fn inputs_per_clip(m: &Manifest) -> usize {
    let f = &m.frontend;
    let input_samples = match f.windowing {
        Windowing::Samples => f.window_samples,
        Windowing::Frames => f.frames_per_window * f.hop_samples,
    };
    let input_s = input_samples as f64 / f.sample_rate_hz as f64;
    (CLIP_S / input_s).ceil().max(1.0) as usize
}

/// Median wall time (ms) of one session with one intra-op thread scoring a clip's worth of
/// random inputs ([`inputs_per_clip`], in batches of at most 16 as the analysis does), over
/// `runs` runs after one warm-up run. Inference only: no decoding, no log-mel.
pub fn time_per_clip_ms(manifest: &Arc<Manifest>, runs: usize) -> Result<f64, ModelError> {
    let mut tagger = Tagger::new(manifest.clone(), 1)?;
    let f = &manifest.frontend;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let inputs: Vec<ndarray::Array2<f32>> = (0..inputs_per_clip(manifest))
        .map(|_| {
            ndarray::Array2::from_shape_fn((f.n_mels, f.frames_per_window), |_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
            })
        })
        .collect();
    let views: Vec<_> = inputs.iter().map(|a| a.view()).collect();
    let mut once = || -> Result<f64, ModelError> {
        let t = Instant::now();
        for chunk in views.chunks(16) {
            tagger.predict(chunk)?;
        }
        Ok(t.elapsed().as_secs_f64() * 1000.0)
    };
    once()?;
    let mut times = (0..runs.max(1)).map(|_| once()).collect::<Result<Vec<_>, _>>()?;
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// How many timed runs (after the warm-up) `models` and `eval` take the median of.
pub const TIMING_RUNS: usize = 5;

/// The model's input, in words ("29.12 s at 12 kHz, 96 mels × 1366 frames").
pub fn input_description(m: &Manifest) -> String {
    let f = &m.frontend;
    let khz = f.sample_rate_hz as f64 / 1000.0;
    match f.windowing {
        Windowing::Samples => format!("{} mels x {} frames @ {} kHz", f.n_mels, f.frames_per_window, khz),
        Windowing::Frames => format!("{} mels x {}-frame patches @ {} kHz", f.n_mels, f.frames_per_window, khz),
    }
}

// ---------------------------------------------------------------------------------------------
// `melotag eval`.

/// The `--json` document of `melotag eval`.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    /// "center" or "full".
    pub mode: String,
    /// "csv" or "tags".
    pub label_source: String,
    /// The labels CSV, when used.
    pub labels_csv: Option<String>,
    /// Tag names, the models' output order.
    pub tags: Vec<String>,
    /// The evaluated tracks (labelled, and scored by every model), in this order everywhere.
    pub tracks: Vec<EvalTrack>,
    /// Files left out, with why.
    pub excluded: Vec<Excluded>,
    /// Label values that matched no tag, with their counts.
    pub unknown_labels: BTreeMap<String, usize>,
    /// Tags with no positive or no negative track: not evaluated.
    pub skipped_tags: Vec<TagCount>,
    /// Things worth telling (labels ignored, CSV rows not found).
    pub notes: Vec<String>,
    /// One entry per model.
    pub models: Vec<ModelReport>,
}

impl EvalReport {
    /// How many tags at least one model was evaluated on (models of other vocabularies
    /// evaluate different tags).
    pub fn evaluated_tags(&self) -> usize {
        self.models.iter().flat_map(|m| m.per_tag.iter().map(|t| t.tag.as_str())).collect::<std::collections::BTreeSet<_>>().len()
    }
}

/// One evaluated track.
#[derive(Debug, Serialize)]
pub struct EvalTrack {
    /// The file.
    pub path: String,
    /// Its positive tags.
    pub labels: Vec<String>,
}

/// A file left out of the evaluation.
#[derive(Debug, Serialize)]
pub struct Excluded {
    /// The file.
    pub path: String,
    /// Why.
    pub reason: String,
    /// Whether it failed (unreadable, not analysable) rather than being merely unlabelled.
    pub failed: bool,
}

/// Positives and negatives of one tag over the evaluated tracks.
#[derive(Debug, Clone, Serialize)]
pub struct TagCount {
    /// Tag name.
    pub tag: String,
    /// Tracks labelled with it.
    pub positives: usize,
    /// Tracks not labelled with it.
    pub negatives: usize,
}

/// The metrics of one tag for one model.
#[derive(Debug, Clone, Serialize)]
pub struct TagMetrics {
    /// Tag name.
    pub tag: String,
    /// Tracks labelled with it.
    pub positives: usize,
    /// Tracks not labelled with it.
    pub negatives: usize,
    /// ROC-AUC.
    pub roc_auc: f64,
    /// Average precision.
    pub pr_auc: f64,
}

/// The evaluation of one model.
#[derive(Debug, Serialize)]
pub struct ModelReport {
    /// Model id.
    pub id: String,
    /// Its vocabulary ("msd", "mtt", "msd+mtt").
    pub vocabulary: String,
    /// The canonical tags it knows (the columns of `scores`), in taxonomy order.
    pub tags: Vec<String>,
    /// Display name.
    pub name: String,
    /// Trained parameters.
    pub parameters: u64,
    /// Input description.
    pub input: String,
    /// Median inference ms per 29 s clip (see [`time_per_clip_ms`]); null with `--no-timing`.
    pub time_per_clip_ms: Option<f64>,
    /// Evaluated tracks.
    pub tracks: usize,
    /// Mean ROC-AUC over the evaluated tags (null when none).
    pub macro_roc_auc: Option<f64>,
    /// Mean average precision over the evaluated tags.
    pub macro_pr_auc: Option<f64>,
    /// Per evaluated tag, in the tag order.
    pub per_tag: Vec<TagMetrics>,
    /// Track scores on the model's `tags`, one row per entry of the report's `tracks`.
    pub scores: Vec<Vec<f32>>,
}

/// Metrics of a score matrix (`scores[track][tag]`) against label sets: per-tag metrics for the
/// tags with positives and negatives, and the skipped tags' counts.
pub fn evaluate(tags: &[String], labels: &[BTreeSet<usize>], scores: &[Vec<f32>]) -> (Vec<TagMetrics>, Vec<TagCount>) {
    assert_eq!(labels.len(), scores.len(), "one label set per scored track");
    let mut per_tag = Vec::new();
    let mut skipped = Vec::new();
    for (k, tag) in tags.iter().enumerate() {
        let truth: Vec<bool> = labels.iter().map(|l| l.contains(&k)).collect();
        let s: Vec<f64> = scores.iter().map(|row| f64::from(row[k])).collect();
        let positives = truth.iter().filter(|&&t| t).count();
        let negatives = truth.len() - positives;
        match (roc_auc(&truth, &s), average_precision(&truth, &s)) {
            (Some(roc_auc), Some(pr_auc)) => per_tag.push(TagMetrics { tag: tag.clone(), positives, negatives, roc_auc, pr_auc }),
            _ => skipped.push(TagCount { tag: tag.clone(), positives, negatives }),
        }
    }
    (per_tag, skipped)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// Where the ground truth comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelSource {
    /// A CSV of `path,tags` rows.
    Csv(PathBuf),
    /// The GENRE and MOOD values already in the files.
    FileTags,
}

/// What to evaluate, and how.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// Audio files or folders (walked recursively); only labelled files are evaluated.
    pub paths: Vec<PathBuf>,
    /// Ground truth.
    pub labels: LabelSource,
    /// The models (of any vocabularies: labels are matched to canonical tags).
    pub models: Vec<Arc<Manifest>>,
    /// Centre or whole track.
    pub mode: Mode,
    /// Worker threads.
    pub workers: usize,
    /// Measure each model's inference time per clip.
    pub timing: bool,
    /// Reuse (and fill) the analysis cache.
    pub use_cache: bool,
}

/// Why there is no evaluation at all (per-file failures are in the report instead).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// No model given.
    #[error("no converted model to evaluate; {}", crate::engine::paths::setup_hint())]
    NoModels,
    /// The labels CSV cannot be read.
    #[error("{path}: {message}")]
    Labels {
        /// The CSV.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// No file among the paths has labels.
    #[error("no labelled audio file among the given paths")]
    NoLabels,
    /// Every labelled file failed to analyse.
    #[error("no file could be analysed")]
    NothingAnalysed,
    /// The runtime or a model could not be opened.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Progress of [`build_report`].
#[derive(Debug, Clone)]
pub enum EvalProgress {
    /// A model starts on `files` files.
    Model {
        /// Model id.
        id: String,
        /// Files to analyse.
        files: usize,
    },
    /// One file of the current model is done.
    File,
    /// Measuring inference times.
    Timing,
}

/// Runs one model over `files` through the cache-aware pipeline, results in file order.
fn analyse(
    manifest: &Arc<Manifest>,
    settings: &EvalSettings,
    files: &[PathBuf],
    cache: Option<&Cache>,
    control: &Arc<Control>,
    on_progress: &mut dyn FnMut(EvalProgress),
) -> Result<Vec<TrackResult>, ModelError> {
    let config = JobConfig { manifest: manifest.clone(), mode: settings.mode, workers: settings.workers, tuning: Default::default() };
    let mut results: Vec<Option<TrackResult>> = vec![None; files.len()];
    pipeline::run(config, files, None, cache, Need::Scores, control, |event| {
        if let Event::Finished { index, result } = event {
            results[index] = Some(*result);
            on_progress(EvalProgress::File);
        }
    })?;
    Ok(results
        .into_iter()
        .zip(files)
        .map(|(r, path)| {
            r.unwrap_or_else(|| TrackResult {
                path: path.clone(),
                outcome: Err(TrackError::new(ErrorKind::Internal, "not analysed (cancelled)")),
                times: Default::default(),
                cached: false,
            })
        })
        .collect())
}

/// Everything `melotag eval` computes (analysis, metrics, timing), without printing or writing:
/// the report and the number of files that failed. Also what the desktop app's evaluation
/// window runs (on a background thread).
pub fn build_report(
    settings: &EvalSettings,
    cache: Option<&Cache>,
    control: &Arc<Control>,
    mut on_progress: impl FnMut(EvalProgress),
) -> Result<(EvalReport, usize), EvalError> {
    let manifests = &settings.models;
    if manifests.is_empty() {
        return Err(EvalError::NoModels);
    }
    let vocab = Vocabulary::new();
    let tags = vocab.tags().to_vec();

    let scan = library::scan(&settings.paths);
    let mut failed = scan.errors.len();
    let mut excluded: Vec<Excluded> = scan
        .errors
        .iter()
        .map(|(p, reason)| Excluded { path: p.to_string_lossy().into_owned(), reason: reason.clone(), failed: true })
        .collect();
    let mut notes = Vec::new();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    // (file, labels) of every labelled file.
    let mut labelled: Vec<(PathBuf, BTreeSet<usize>)> = Vec::new();
    match &settings.labels {
        LabelSource::Csv(csv) => {
            let labels = read_labels_csv(csv, &vocab)?;
            unknown = labels.unknown;
            let mut used = BTreeSet::new();
            for file in scan.files {
                let key = key_of(&file);
                match labels.by_path.get(&key) {
                    Some(set) => {
                        used.insert(key);
                        labelled.push((file, set.clone()));
                    }
                    None => excluded.push(Excluded {
                        path: file.to_string_lossy().into_owned(),
                        reason: "not in the labels CSV".into(),
                        failed: false,
                    }),
                }
            }
            let missing = labels.by_path.keys().filter(|k| !used.contains(*k)).count();
            if missing > 0 {
                notes.push(format!("{missing} file(s) of {} are not among the given paths", csv.display()));
            }
        }
        LabelSource::FileTags => {
            for file in scan.files {
                match read_file_labels(&file) {
                    Ok(values) if values.is_empty() => excluded.push(Excluded {
                        path: file.to_string_lossy().into_owned(),
                        reason: "no genre or mood tag".into(),
                        failed: false,
                    }),
                    Ok(values) => {
                        let mut set = BTreeSet::new();
                        for v in values {
                            match vocab.lookup(&v) {
                                Some(i) => {
                                    set.insert(i);
                                }
                                None => *unknown.entry(v).or_default() += 1,
                            }
                        }
                        labelled.push((file, set));
                    }
                    Err(e) => excluded.push(Excluded {
                        path: file.to_string_lossy().into_owned(),
                        reason: format!("reading its tags: {e}"),
                        failed: false,
                    }),
                }
            }
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        notes.push(format!("labels outside the {} tags, ignored: {}", tags.len(), names.join(", ")));
    }
    if labelled.is_empty() {
        return Err(EvalError::NoLabels);
    }

    let files: Vec<PathBuf> = labelled.iter().map(|(f, _)| f.clone()).collect();
    let mut per_model: Vec<Vec<TrackResult>> = Vec::new();
    for m in manifests {
        on_progress(EvalProgress::Model { id: m.id.clone(), files: files.len() });
        per_model.push(analyse(m, settings, &files, cache, control, &mut on_progress)?);
    }
    // Only tracks every model scored are compared.
    let mut keep = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let errors: Vec<String> =
            manifests.iter().zip(&per_model).filter_map(|(m, r)| r[i].outcome.as_ref().err().map(|e| format!("{}: {e}", m.id))).collect();
        if errors.is_empty() {
            keep.push(i);
        } else {
            failed += 1;
            excluded.push(Excluded { path: file.to_string_lossy().into_owned(), reason: errors.join("; "), failed: true });
        }
    }
    if keep.is_empty() {
        return Err(EvalError::NothingAnalysed);
    }
    let truth: Vec<BTreeSet<usize>> = keep.iter().map(|&i| labelled[i].1.clone()).collect();

    let mut models = Vec::new();
    if settings.timing {
        on_progress(EvalProgress::Timing);
    }
    // Every model is evaluated on the canonical tags it knows; tags no model knows are left out.
    let mut union: BTreeSet<usize> = BTreeSet::new();
    for (m, results) in manifests.iter().zip(&per_model) {
        let raw: Vec<Vec<f32>> = keep.iter().map(|&i| results[i].outcome.as_ref().map(|a| a.scores.clone()).unwrap_or_default()).collect();
        let (covered, scores) = canonical_matrix(m, &vocab, &raw);
        union.extend(covered.iter().copied());
        let model_tags: Vec<String> = covered.iter().map(|&k| tags[k].clone()).collect();
        let model_truth: Vec<BTreeSet<usize>> =
            truth.iter().map(|set| covered.iter().enumerate().filter(|(_, k)| set.contains(k)).map(|(j, _)| j).collect()).collect();
        let (per_tag, _) = evaluate(&model_tags, &model_truth, &scores);
        let time_per_clip_ms = if settings.timing { Some(time_per_clip_ms(m, TIMING_RUNS)?) } else { None };
        models.push(ModelReport {
            id: m.id.clone(),
            name: m.name.clone(),
            parameters: m.parameters,
            input: input_description(m),
            time_per_clip_ms,
            tracks: keep.len(),
            macro_roc_auc: mean(per_tag.iter().map(|t| t.roc_auc)),
            macro_pr_auc: mean(per_tag.iter().map(|t| t.pr_auc)),
            vocabulary: m.vocabulary.clone(),
            tags: model_tags,
            per_tag,
            scores,
        });
    }
    // The tags of every model, with their positives and negatives; those lacking one are skipped.
    let tags: Vec<String> = union.iter().map(|&k| tags[k].clone()).collect();
    let counts: Vec<TagCount> = union
        .iter()
        .map(|&k| {
            let positives = truth.iter().filter(|set| set.contains(&k)).count();
            TagCount { tag: vocab.tags()[k].clone(), positives, negatives: truth.len() - positives }
        })
        .collect();
    let skipped_tags = counts.into_iter().filter(|c| c.positives == 0 || c.negatives == 0).collect();
    let report = EvalReport {
        mode: settings.mode.as_str().to_string(),
        label_source: match settings.labels {
            LabelSource::Csv(_) => "csv",
            LabelSource::FileTags => "tags",
        }
        .to_string(),
        labels_csv: match &settings.labels {
            LabelSource::Csv(p) => Some(p.to_string_lossy().into_owned()),
            LabelSource::FileTags => None,
        },
        tracks: keep
            .iter()
            .map(|&i| EvalTrack {
                path: labelled[i].0.to_string_lossy().into_owned(),
                labels: labelled[i].1.iter().map(|&k| vocab.tags()[k].clone()).collect(),
            })
            .collect(),
        tags,
        excluded,
        unknown_labels: unknown,
        skipped_tags,
        notes,
        models,
    };
    Ok((report, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn roc_auc_hand_checked() {
        // Perfect and reversed rankings.
        assert_eq!(roc_auc(&[false, false, true, true], &[0.1, 0.2, 0.3, 0.4]), Some(1.0));
        assert_eq!(roc_auc(&[true, true, false, false], &[0.1, 0.2, 0.3, 0.4]), Some(0.0));
        // P = {0.35, 0.8}, N = {0.1, 0.4}: pairs won 0.35>0.1, 0.8>0.1, 0.8>0.4 = 3 of 4.
        assert_eq!(roc_auc(&[false, false, true, true], &[0.1, 0.4, 0.35, 0.8]), Some(0.75));
        // Ties: P = {0.5, 0.5}, N = {0.5, 0.2}: 0.5 vs 0.5 tie (½) twice, 0.5 > 0.2 twice → 3/4.
        assert_eq!(roc_auc(&[true, true, false, false], &[0.5, 0.5, 0.5, 0.2]), Some(0.75));
        // All tied: ½.
        assert_eq!(roc_auc(&[true, false, false], &[0.3, 0.3, 0.3]), Some(0.5));
        // P = {0.2, 0.6, 0.6}, N = {0.6, 0.1}: 0.2: beats 0.1 → 1; each 0.6: beats 0.1 (1) + tie (½)
        // → 1.5 each; total 4 of 6.
        let auc = roc_auc(&[true, true, true, false, false], &[0.2, 0.6, 0.6, 0.6, 0.1]).unwrap();
        assert!(close(auc, 4.0 / 6.0), "{auc}");
        // Undefined without positives or negatives.
        assert_eq!(roc_auc(&[false, false], &[0.1, 0.2]), None);
        assert_eq!(roc_auc(&[true], &[0.1]), None);
        assert_eq!(roc_auc(&[], &[]), None);
    }

    #[test]
    fn average_precision_hand_checked() {
        // Perfect ranking → 1.
        assert_eq!(average_precision(&[false, true, true], &[0.1, 0.8, 0.9]), Some(1.0));
        // Ranking: 0.9 (+), 0.8 (−), 0.7 (+), 0.1 (−): recall steps ½ at precision 1 and ½ at
        // precision 2/3 → 0.5 + 1/3.
        let ap = average_precision(&[true, false, true, false], &[0.9, 0.8, 0.7, 0.1]).unwrap();
        assert!(close(ap, 0.5 + 1.0 / 3.0), "{ap}");
        // Ties form one threshold: {0.5: +, −, −}, then 0.2 (+): at 0.5 recall ½, precision ⅓;
        // at 0.2 recall 1, precision ½ → ⅙ + ¼.
        let ap = average_precision(&[true, false, false, true], &[0.5, 0.5, 0.5, 0.2]).unwrap();
        assert!(close(ap, 1.0 / 6.0 + 0.25), "{ap}");
        // All tied: the positive rate.
        let ap = average_precision(&[true, false, false, false], &[0.3; 4]).unwrap();
        assert!(close(ap, 0.25), "{ap}");
        // No negatives: 1; no positives: undefined.
        assert_eq!(average_precision(&[true, true], &[0.1, 0.2]), Some(1.0));
        assert_eq!(average_precision(&[false, false], &[0.1, 0.2]), None);
    }

    #[test]
    fn evaluate_skips_one_class_tags() {
        let tags: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let labels: Vec<BTreeSet<usize>> = vec![[0, 1].into(), [1].into(), [1].into()];
        let scores = vec![vec![0.9, 0.1, 0.5], vec![0.2, 0.3, 0.5], vec![0.4, 0.2, 0.5]];
        let (per_tag, skipped) = evaluate(&tags, &labels, &scores);
        assert_eq!(per_tag.len(), 1);
        assert_eq!(per_tag[0].tag, "a");
        assert_eq!((per_tag[0].positives, per_tag[0].negatives), (1, 2));
        assert_eq!(per_tag[0].roc_auc, 1.0);
        let skipped: Vec<(&str, usize, usize)> = skipped.iter().map(|t| (t.tag.as_str(), t.positives, t.negatives)).collect();
        assert_eq!(skipped, vec![("b", 3, 0), ("c", 0, 3)]);
    }

    #[test]
    fn labels_match_canonical_names_across_vocabularies() {
        let v = Vocabulary::new();
        let name = |label: &str| v.lookup(label).map(|k| v.tags()[k].as_str());
        for (label, want) in [
            ("hip hop", Some("Hip-Hop")),
            ("HIPHOP", Some("Hip-Hop")),
            ("Hip_Hop", Some("Hip-Hop")),
            ("Rap", Some("Hip-Hop")),
            ("R&B", Some("R&B")),
            ("rhythm and blues", Some("R&B")),
            ("Female Vocalists", Some("Female Vocals")),
            ("female vocalist", Some("Female Vocals")),
            ("progressive-rock", Some("Progressive Rock")),
            (" Jazz ", Some("Jazz")),
            ("00s", Some("00s")),
            ("classical", Some("Classical")),
            ("polka", None),
        ] {
            assert_eq!(name(label), want, "{label}");
        }
        let split: Vec<&str> = split_values("Jazz; Blues/Soul ,").collect();
        assert_eq!(split, ["Jazz", "Blues", "Soul"]);
    }

    #[test]
    fn labels_csv_header_relative_paths_and_unknown_names() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::fs::write(d.join("sub/a.mp3"), b"").unwrap();
        std::fs::write(d.join("b.mp3"), b"").unwrap();
        let csv = d.join("labels.csv");
        std::fs::write(
            &csv,
            format!(
                "path,tags\n# a comment\nsub/a.mp3,jazz; Hip Hop ;polka\n\n\"{}\",\"rock;female vocalists\"\nsub/a.mp3,sad\n",
                d.join("b.mp3").display()
            ),
        )
        .unwrap();
        let v = Vocabulary::new();
        let k = |name: &str| v.tags().iter().position(|t| t == name).unwrap();
        let labels = read_labels_csv(&csv, &v).unwrap();
        let a = labels.by_path.get(&key_of(&d.join("sub/a.mp3"))).unwrap();
        assert_eq!(a, &BTreeSet::from([k("Jazz"), k("Hip-Hop"), k("Sad")]));
        let b = labels.by_path.get(&key_of(&d.join("b.mp3"))).unwrap();
        assert_eq!(b, &BTreeSet::from([k("Rock"), k("Female Vocals")]));
        assert_eq!(labels.by_path.len(), 2);
        assert_eq!(labels.unknown, BTreeMap::from([("polka".to_string(), 1)]));
        // Without a header the first row is data.
        std::fs::write(&csv, "b.mp3,rock\n").unwrap();
        let labels = read_labels_csv(&csv, &v).unwrap();
        assert_eq!(labels.by_path.get(&key_of(&d.join("b.mp3"))), Some(&BTreeSet::from([k("Rock")])));
    }

    #[test]
    fn inputs_per_clip_of_the_models() {
        for (id, want) in [("choi2016_crnn", 1), ("choi2016_cnn", 1), ("musicnn_msd", 10)] {
            let m = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(format!("{id}.toml"))).unwrap();
            assert_eq!(inputs_per_clip(&m), want, "{id}");
        }
    }

    /// Seeded xorshift in [0, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Compares against scikit-learn, run at test time in the project venv (`make setup`).
    #[test]
    fn matches_scikit_learn() {
        let python = std::env::var_os("MELOTAG_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
        assert!(python.exists(), "{} not found: run `make setup`", python.display());
        // Cases: sizes, positive rates, and score rounding (coarse rounding makes many ties).
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let mut cases: Vec<(Vec<bool>, Vec<f64>)> = Vec::new();
        for &(n, rate, decimals) in &[
            (10usize, 0.3, None),
            (57, 0.5, Some(1)),
            (200, 0.1, Some(2)),
            (1000, 0.02, None),
            (333, 0.7, Some(1)),
            (64, 0.5, Some(0)),
            (2, 0.5, None),
        ] {
            let mut labels: Vec<bool> = (0..n).map(|_| rng.next() < rate).collect();
            // Every case needs both classes.
            labels[0] = true;
            labels[n - 1] = false;
            let scores: Vec<f64> = labels
                .iter()
                .map(|&l| {
                    let s = rng.next() * 0.8 + if l { 0.2 } else { 0.0 };
                    match decimals {
                        Some(d) => (s * 10f64.powi(d)).round() / 10f64.powi(d),
                        None => s,
                    }
                })
                .collect();
            cases.push((labels, scores));
        }
        let input: Vec<serde_json::Value> =
            cases.iter().map(|(l, s)| serde_json::json!({"labels": l.iter().map(|&b| b as u8).collect::<Vec<_>>(), "scores": s})).collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.json");
        std::fs::write(&path, serde_json::to_vec(&input).unwrap()).unwrap();
        let script = "import json, sys\n\
from sklearn.metrics import roc_auc_score, average_precision_score\n\
cases = json.load(open(sys.argv[1]))\n\
print(json.dumps([[roc_auc_score(c['labels'], c['scores']), average_precision_score(c['labels'], c['scores'])] for c in cases]))\n";
        let out = std::process::Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
        assert!(out.status.success(), "scikit-learn failed (is it in .venv? `make setup`): {}", String::from_utf8_lossy(&out.stderr));
        let reference: Vec<[f64; 2]> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(reference.len(), cases.len());
        for (i, ((labels, scores), [roc, ap])) in cases.iter().zip(&reference).enumerate() {
            let ours_roc = roc_auc(labels, scores).unwrap();
            let ours_ap = average_precision(labels, scores).unwrap();
            assert!((ours_roc - roc).abs() < 1e-9, "case {i}: ROC-AUC {ours_roc} vs sklearn {roc}");
            assert!((ours_ap - ap).abs() < 1e-9, "case {i}: AP {ours_ap} vs sklearn {ap}");
        }
    }
}
