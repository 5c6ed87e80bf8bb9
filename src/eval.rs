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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::analysis::{self, Event, Job, JobConfig, Mode, TrackResult};
use crate::features::Windowing;
use crate::library;
use crate::model::{self, Manifest, ModelError, Tagger};

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
            if labels[order[j]] { p += 1 } else { n += 1 }
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
            if labels[order[j]] { tp += 1 } else { fp += 1 }
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
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// Maps label spellings onto a model vocabulary: case-insensitive, ignoring everything but
/// letters and digits (spaces, '-', '&', '_', ...), plus the canonical spellings `melotag
/// write` uses ("R&B" → "rnb", see [`crate::tags::policy::TAG_TABLE`]) and a few common
/// aliases. "female vocalist" and "female vocalists" stay two tags (the model has both).
#[derive(Debug, Clone)]
pub struct Vocabulary {
    tags: Vec<String>,
    index: HashMap<String, usize>,
}

impl Vocabulary {
    /// The vocabulary of a model's tag list.
    pub fn new(tags: &[String]) -> Vocabulary {
        let mut index = HashMap::new();
        for (i, t) in tags.iter().enumerate() {
            index.insert(normalize_tag(t), i);
        }
        let mut alias = |from: &str, to: &str| {
            if let Some(&i) = index.get(&normalize_tag(to)) {
                index.entry(normalize_tag(from)).or_insert(i);
            }
        };
        for &(model_tag, _, canonical) in crate::tags::policy::TAG_TABLE {
            alias(canonical, model_tag);
        }
        for (from, to) in [
            ("rhythm and blues", "rnb"),
            ("r and b", "rnb"),
            ("rap", "Hip-Hop"),
            ("hip hop rap", "Hip-Hop"),
            ("prog rock", "Progressive rock"),
            ("electronic dance", "dance"),
        ] {
            alias(from, to);
        }
        Vocabulary { tags: tags.to_vec(), index }
    }

    /// The tag index a label means, if any.
    pub fn lookup(&self, label: &str) -> Option<usize> {
        self.index.get(&normalize_tag(label)).copied()
    }

    /// The tag names.
    pub fn tags(&self) -> &[String] {
        &self.tags
    }
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
pub fn read_labels_csv(csv_path: &Path, vocab: &Vocabulary) -> Result<Labels> {
    let base = csv_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let mut labels = Labels::default();
    for (row, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("reading {}", csv_path.display()))?;
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
/// comments, MP4, APE), through [`crate::tags::fields::TagFile`]. `Ok(empty)` when it has none.
pub fn read_file_labels(path: &Path) -> Result<Vec<String>> {
    use crate::tags::fields::{Role, TagFile};
    let file = TagFile::read(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut values = Vec::new();
    for role in [Role::Genre, Role::Mood] {
        for field in file.fields(role) {
            let raw = file.get(&field);
            for v in file.values(&field, role, &raw) {
                values.extend(split_values(&v).map(str::to_string));
            }
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

fn input_description(m: &Manifest) -> String {
    let f = &m.frontend;
    let khz = f.sample_rate_hz as f64 / 1000.0;
    match f.windowing {
        Windowing::Samples => format!("{} mels x {} frames @ {} kHz", f.n_mels, f.frames_per_window, khz),
        Windowing::Frames => format!("{} mels x {}-frame patches @ {} kHz", f.n_mels, f.frames_per_window, khz),
    }
}

// ---------------------------------------------------------------------------------------------
// `melotag models`.

/// Arguments of `melotag models`.
#[derive(Debug, Default, clap::Args)]
pub struct ModelsArgs {
    /// Do not measure the inference time per 29 s clip.
    #[arg(long)]
    pub no_timing: bool,
}

/// `melotag models`: id, name, parameters, input, inference time per 29 s clip, status.
pub fn run_models(args: &ModelsArgs) -> Result<i32> {
    let manifests = model::available_manifests();
    if manifests.is_empty() {
        bail!("no model manifests found; run `make setup` in the melotag folder");
    }
    println!(
        "{:<14} {:<15} {:>9}  {:<36} {:>11}  {}",
        "ID", "NAME", "PARAMS", "INPUT", "MS/29S CLIP", "STATUS"
    );
    let mut errors = 0;
    for manifest in manifests {
        let m = match manifest {
            Ok(m) => Arc::new(m),
            Err(e) => {
                errors += 1;
                eprintln!("error: {e}");
                continue;
            }
        };
        let (time, status) = if !m.onnx_path().is_file() {
            ("-".to_string(), "not converted (make setup)".to_string())
        } else if args.no_timing {
            ("-".to_string(), "ready".to_string())
        } else {
            match time_per_clip_ms(&m, TIMING_RUNS) {
                Ok(ms) => (format!("{ms:.1}"), "ready".to_string()),
                Err(e) => ("-".to_string(), format!("error: {e}")),
            }
        };
        println!(
            "{:<14} {:<15} {:>9}  {:<36} {:>11}  {}",
            m.id,
            m.name,
            m.parameters,
            input_description(&m),
            time,
            status
        );
    }
    if !args.no_timing {
        println!(
            "(inference only, one session with 1 intra-op thread, median of {TIMING_RUNS} runs after a warm-up, on this machine)"
        );
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

// ---------------------------------------------------------------------------------------------
// `melotag eval`.

/// Arguments of `melotag eval`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("truth").required(true).args(["labels", "from_tags"]))]
pub struct EvalArgs {
    /// Audio files or folders (walked recursively); only labelled files are evaluated.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Ground truth: CSV rows `path,tags` (tags separated by ';', paths relative to the CSV).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Ground truth: the GENRE and MOOD values already in the files.
    #[arg(long)]
    pub from_tags: bool,
    /// Model to evaluate (repeatable): crnn, cnn, musicnn, a model id, a manifest .toml, or
    /// `all` (every converted model; the default).
    #[arg(long = "model", value_name = "MODEL", default_value = "all")]
    pub models: Vec<String>,
    /// Analyse the 29 s centre of each track or the whole track.
    #[arg(long, value_enum, default_value_t = Mode::Center)]
    pub mode: Mode,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Write everything (labels, scores, per-tag metrics) as JSON to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG chart of macro ROC-AUC against time per clip to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    /// Do not measure the inference time per 29 s clip.
    #[arg(long)]
    pub no_timing: bool,
}

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
    /// One entry per model.
    pub models: Vec<ModelReport>,
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
    /// Track scores, one row per entry of the report's `tracks`, one column per tag.
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
            (Some(roc_auc), Some(pr_auc)) => {
                per_tag.push(TagMetrics { tag: tag.clone(), positives, negatives, roc_auc, pr_auc })
            }
            _ => skipped.push(TagCount { tag: tag.clone(), positives, negatives }),
        }
    }
    (per_tag, skipped)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The manifests `--model` names (`all`: every manifest with a converted ONNX file).
fn resolve_models(specs: &[String]) -> Result<Vec<Arc<Manifest>>> {
    let mut out: Vec<Arc<Manifest>> = Vec::new();
    for spec in specs {
        let found: Vec<Manifest> = if spec == "all" {
            let mut ready = Vec::new();
            for m in model::available_manifests() {
                match m {
                    Ok(m) if m.onnx_path().is_file() => ready.push(m),
                    Ok(m) => eprintln!("warning: {} is not converted (make setup); left out", m.id),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
            ready
        } else {
            vec![model::resolve_model(spec)?]
        };
        for m in found {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(Arc::new(m));
            }
        }
    }
    if out.is_empty() {
        bail!("no converted model to evaluate; run `make setup` in the melotag folder");
    }
    let first = &out[0];
    if let Some(other) = out.iter().find(|m| m.tags != first.tags) {
        bail!("{} and {} have different tag lists; evaluate them separately", first.id, other.id);
    }
    Ok(out)
}

/// Runs one model over `files` (a job of `workers` workers), results in file order.
fn analyse(manifest: &Arc<Manifest>, mode: Mode, workers: usize, files: &[PathBuf]) -> Result<Vec<TrackResult>> {
    let (job, events) = Job::start(JobConfig { manifest: manifest.clone(), mode, workers }, files.to_vec())?;
    let mut results: Vec<Option<TrackResult>> = vec![None; files.len()];
    for event in events.iter() {
        match event {
            Event::Started { .. } => {}
            Event::Finished { index, result } => results[index] = Some(*result),
            Event::Done { .. } => break,
        }
    }
    job.join();
    Ok(results
        .into_iter()
        .zip(files)
        .map(|(r, path)| {
            r.unwrap_or_else(|| TrackResult {
                path: path.clone(),
                outcome: Err("not analysed".into()),
                times: Default::default(),
            })
        })
        .collect())
}

/// The error of [`build_report`] when no file has a label (a GENRE/MOOD tag, or a CSV row).
pub const NO_LABELS: &str = "no labelled audio file among the given paths";

/// Everything `melotag eval` computes (analysis, metrics, timing), without printing or writing:
/// the report and the number of files that failed. Also what the desktop app's evaluation
/// window runs (on a background thread).
pub fn build_report(args: &EvalArgs) -> Result<(EvalReport, usize)> {
    let manifests = resolve_models(&args.models)?;
    let tags = manifests[0].tags.clone();
    let vocab = Vocabulary::new(&tags);

    let scan = library::scan(&args.paths);
    let mut failed = scan.errors.len();
    for (path, reason) in &scan.errors {
        eprintln!("error: {}: {reason}", path.display());
    }
    let mut excluded: Vec<Excluded> = Vec::new();
    let mut unknown: BTreeMap<String, usize> = BTreeMap::new();
    // (file, labels) of every labelled file.
    let mut labelled: Vec<(PathBuf, BTreeSet<usize>)> = Vec::new();
    if let Some(csv) = &args.labels {
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
                }),
            }
        }
        let missing = labels.by_path.keys().filter(|k| !used.contains(*k)).count();
        if missing > 0 {
            eprintln!("note: {missing} file(s) of {} are not among the given paths", csv.display());
        }
    } else {
        for file in scan.files {
            match read_file_labels(&file) {
                Ok(values) if values.is_empty() => excluded.push(Excluded {
                    path: file.to_string_lossy().into_owned(),
                    reason: "no genre or mood tag".into(),
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
                }),
            }
        }
    }
    if !unknown.is_empty() {
        let names: Vec<String> = unknown.iter().map(|(k, n)| format!("{k} ({n})")).collect();
        eprintln!("note: labels outside the {} tags, ignored: {}", tags.len(), names.join(", "));
    }
    if labelled.is_empty() {
        bail!(NO_LABELS);
    }

    let files: Vec<PathBuf> = labelled.iter().map(|(f, _)| f.clone()).collect();
    let workers = args.threads.map(usize::from).unwrap_or_else(analysis::default_workers);
    let mut per_model: Vec<Vec<TrackResult>> = Vec::new();
    for m in &manifests {
        eprintln!("analysing {} file(s) with {} ...", files.len(), m.id);
        per_model.push(analyse(m, args.mode, workers, &files)?);
    }
    // Only tracks every model scored are compared.
    let mut keep = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let errors: Vec<String> = manifests
            .iter()
            .zip(&per_model)
            .filter_map(|(m, r)| r[i].outcome.as_ref().err().map(|e| format!("{}: {e}", m.id)))
            .collect();
        if errors.is_empty() {
            keep.push(i);
        } else {
            failed += 1;
            eprintln!("error: {}: {}", file.display(), errors.join("; "));
            excluded.push(Excluded { path: file.to_string_lossy().into_owned(), reason: errors.join("; ") });
        }
    }
    if keep.is_empty() {
        bail!("no file could be analysed");
    }
    let truth: Vec<BTreeSet<usize>> = keep.iter().map(|&i| labelled[i].1.clone()).collect();

    let mut models = Vec::new();
    let mut skipped_tags = Vec::new();
    for (m, results) in manifests.iter().zip(&per_model) {
        let scores: Vec<Vec<f32>> = keep
            .iter()
            .map(|&i| results[i].outcome.as_ref().map(|a| a.scores.clone()).unwrap_or_default())
            .collect();
        let (per_tag, skipped) = evaluate(&tags, &truth, &scores);
        skipped_tags = skipped;
        let time_per_clip_ms = if args.no_timing {
            None
        } else {
            Some(time_per_clip_ms(m, TIMING_RUNS)?)
        };
        models.push(ModelReport {
            id: m.id.clone(),
            name: m.name.clone(),
            parameters: m.parameters,
            input: input_description(m),
            time_per_clip_ms,
            tracks: keep.len(),
            macro_roc_auc: mean(per_tag.iter().map(|t| t.roc_auc)),
            macro_pr_auc: mean(per_tag.iter().map(|t| t.pr_auc)),
            per_tag,
            scores,
        });
    }
    let report = EvalReport {
        mode: args.mode.as_str().to_string(),
        label_source: if args.labels.is_some() { "csv" } else { "tags" }.to_string(),
        labels_csv: args.labels.as_ref().map(|p| p.to_string_lossy().into_owned()),
        tracks: keep
            .iter()
            .map(|&i| EvalTrack {
                path: labelled[i].0.to_string_lossy().into_owned(),
                labels: labelled[i].1.iter().map(|&k| tags[k].clone()).collect(),
            })
            .collect(),
        tags,
        excluded,
        unknown_labels: unknown,
        skipped_tags,
        models,
    };
    Ok((report, failed))
}

/// `melotag eval`.
pub fn run_eval(args: &EvalArgs) -> Result<i32> {
    let (report, failed) = build_report(args)?;
    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if !to_stdout {
        print_table(&report);
    }
    if let Some(path) = &args.json {
        crate::cli::write_output(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)?;
            Ok(())
        })
        .context("writing JSON")?;
    }
    if let Some(path) = &args.chart {
        crate::cli::write_output(path, |w| Ok(w.write_all(chart_svg(&report).as_bytes())?)).context("writing the chart")?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// The stdout table: one line per model, then one row per evaluated tag.
pub fn print_table(r: &EvalReport) {
    let tracks = r.models.first().map_or(0, |m| m.tracks);
    println!(
        "{tracks} track(s), {} of {} tags evaluated, mode {}",
        r.models.first().map_or(0, |m| m.per_tag.len()),
        r.tags.len(),
        r.mode
    );
    println!();
    println!("{:<16} {:>7} {:>7} {:>6} {:>9} {:>11}", "MODEL", "ROC-AUC", "PR-AUC", "TRACKS", "PARAMS", "MS/29S CLIP");
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    for m in &r.models {
        println!(
            "{:<16} {:>7} {:>7} {:>6} {:>9} {:>11}",
            m.id,
            opt(m.macro_roc_auc, 4),
            opt(m.macro_pr_auc, 4),
            m.tracks,
            m.parameters,
            opt(m.time_per_clip_ms, 1)
        );
    }
    if let Some(first) = r.models.first()
        && !first.per_tag.is_empty()
    {
        println!();
        print!("{:<18} {:>4} {:>4}", "TAG", "POS", "NEG");
        for m in &r.models {
            print!("  {:>19}", format!("{} ROC/PR", short_id(&m.id)));
        }
        println!();
        for (k, t) in first.per_tag.iter().enumerate() {
            print!("{:<18} {:>4} {:>4}", t.tag, t.positives, t.negatives);
            for m in &r.models {
                let mt = &m.per_tag[k];
                print!("  {:>19}", format!("{:.3}/{:.3}", mt.roc_auc, mt.pr_auc));
            }
            println!();
        }
    }
    let no_pos: Vec<&str> = r.skipped_tags.iter().filter(|t| t.positives == 0).map(|t| t.tag.as_str()).collect();
    let no_neg: Vec<&str> = r.skipped_tags.iter().filter(|t| t.negatives == 0).map(|t| t.tag.as_str()).collect();
    if !no_pos.is_empty() {
        println!();
        println!("skipped, no positives ({}): {}", no_pos.len(), no_pos.join(", "));
    }
    if !no_neg.is_empty() {
        println!("skipped, no negatives ({}): {}", no_neg.len(), no_neg.join(", "));
    }
}

fn short_id(id: &str) -> &str {
    id.strip_prefix("choi2016_").unwrap_or(id)
}

// ---------------------------------------------------------------------------------------------
// Chart (hand-written SVG: no plotting dependency).

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`.
fn tick_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    mag * if r < 1.5 { 1.0 } else if r < 3.5 { 2.0 } else if r < 7.5 { 5.0 } else { 10.0 }
}

/// An SVG scatter plot: macro ROC-AUC (y) against inference ms per 29 s clip (x), one labelled
/// point per model, point area proportional to the parameter count. Models without a time or
/// without a macro ROC-AUC are listed under the plot instead.
pub fn chart_svg(r: &EvalReport) -> String {
    let (w, h) = (720.0, 460.0);
    let (left, right, top, bottom) = (70.0, 40.0, 50.0, 90.0);
    let points: Vec<(&ModelReport, f64, f64)> = r
        .models
        .iter()
        .filter_map(|m| Some((m, m.time_per_clip_ms?, m.macro_roc_auc?)))
        .collect();
    let x_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.15;
    let (mut y_lo, mut y_hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    if !y_lo.is_finite() {
        (y_lo, y_hi) = (0.5, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.25).max(0.02);
    let (y_lo, y_hi) = ((y_lo - pad).max(0.0), (y_hi + pad).min(1.0));
    let step_y = tick_step(y_hi - y_lo, 5.0);
    let y_lo = (y_lo / step_y).floor() * step_y;
    let y_hi = (y_hi / step_y).ceil() * step_y;
    let step_x = tick_step(x_max, 6.0);
    let x_max = (x_max / step_x).ceil() * step_x;
    let pw = w - left - right;
    let ph = h - top - bottom;
    let sx = |x: f64| left + x / x_max * pw;
    let sy = |y: f64| top + (y_hi - y) / (y_hi - y_lo) * ph;
    let max_params = r.models.iter().map(|m| m.parameters).max().unwrap_or(1).max(1) as f64;

    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!("<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"));
    let tracks = r.models.first().map_or(0, |m| m.tracks);
    let n_tags = r.models.first().map_or(0, |m| m.per_tag.len());
    s.push_str(&format!(
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">Macro ROC-AUC vs inference time ({tracks} tracks, {n_tags} tags, {} mode)</text>\n",
        w / 2.0,
        xml_escape(&r.mode)
    ));
    // Grid and ticks.
    let mut y = y_lo;
    while y <= y_hi + step_y * 1e-6 {
        let py = sy(y);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e0e0e0\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.2}</text>\n",
            left + pw,
            left - 6.0,
            py + 4.0,
            y
        ));
        y += step_y;
    }
    let mut x = 0.0;
    while x <= x_max + step_x * 1e-6 {
        let px = sx(x);
        s.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#e0e0e0\"/>\n<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            top + ph,
            top + ph + 16.0,
            x
        ));
        x += step_x;
    }
    s.push_str(&format!(
        "<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n"
    ));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">inference ms per 29 s clip (1 thread, this machine)</text>\n",
        left + pw / 2.0,
        top + ph + 36.0
    ));
    s.push_str(&format!(
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">macro ROC-AUC</text>\n",
        top + ph / 2.0
    ));
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
    // Circles first, then two-line labels beside them: right or left of the point, moved up or
    // down in 30 px steps until the label covers no circle and no other label.
    let circles: Vec<(f64, f64, f64)> = points
        .iter()
        .map(|(m, t, auc)| (sx(*t), sy(*auc), 6.0 + 18.0 * (m.parameters as f64 / max_params).sqrt()))
        .collect();
    for (i, ((m, _, _), &(px, py, radius))) in points.iter().zip(&circles).enumerate() {
        let c = colors[i % colors.len()];
        s.push_str(&format!(
            "<g><title>{}</title><circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"{radius:.1}\" fill=\"{c}\" fill-opacity=\"0.45\" stroke=\"{c}\"/></g>\n",
            xml_escape(&m.id)
        ));
    }
    let mut placed: Vec<[f64; 4]> = Vec::new(); // x0, y0, x1, y1
    let overlaps = |a: &[f64; 4], b: &[f64; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
    for ((m, t, auc), &(px, py, radius)) in points.iter().zip(&circles) {
        let line1 = m.name.clone();
        let line2 = format!("ROC-AUC {auc:.3}, {t:.0} ms, {:.0}k params", m.parameters as f64 / 1000.0);
        let width = 6.5 * line1.chars().count().max(line2.chars().count()) as f64;
        let mut candidates = Vec::new();
        for step in [0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0] {
            for right in [true, false] {
                let ly = py - 2.0 + 30.0 * step;
                let (x0, x1) =
                    if right { (px + radius + 4.0, px + radius + 4.0 + width) } else { (px - radius - 4.0 - width, px - radius - 4.0) };
                candidates.push((right, ly, [x0, ly - 12.0, x1, ly + 18.0]));
            }
        }
        let fits = |b: &[f64; 4]| {
            b[0] >= left
                && b[2] <= w - 4.0
                && b[1] >= top
                && b[3] <= top + ph + 40.0
                && !placed.iter().any(|p| overlaps(p, b))
                && !circles.iter().any(|&(cx, cy, r)| {
                    (cx, cy) != (px, py) && overlaps(&[cx - r, cy - r, cx + r, cy + r], b)
                })
        };
        let (right, ly, bbox) = candidates.iter().copied().find(|(_, _, b)| fits(b)).unwrap_or(candidates[0]);
        placed.push(bbox);
        let (anchor, lx) = if right { ("start", bbox[0]) } else { ("end", bbox[2]) };
        s.push_str(&format!(
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\" font-weight=\"bold\">{}</text>\n<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
            xml_escape(&line1),
            ly + 14.0,
            xml_escape(&line2)
        ));
    }
    let missing: Vec<&str> = r
        .models
        .iter()
        .filter(|m| m.time_per_clip_ms.is_none() || m.macro_roc_auc.is_none())
        .map(|m| m.id.as_str())
        .collect();
    let mut note = "point area proportional to parameter count".to_string();
    if !missing.is_empty() {
        note.push_str(&format!("; not plotted (no time or no AUC): {}", missing.join(", ")));
    }
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"{:.1}\" fill=\"#555\">{}</text>\n",
        h - 18.0,
        xml_escape(&note)
    ));
    s.push_str("</svg>\n");
    s
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
        let skipped: Vec<(&str, usize, usize)> =
            skipped.iter().map(|t| (t.tag.as_str(), t.positives, t.negatives)).collect();
        assert_eq!(skipped, vec![("b", 3, 0), ("c", 0, 3)]);
    }

    #[test]
    fn vocabulary_ignores_case_and_separators() {
        let tags: Vec<String> =
            ["Hip-Hop", "rnb", "female vocalists", "female vocalist", "Progressive rock", "jazz", "00s"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let v = Vocabulary::new(&tags);
        for (label, want) in [
            ("hip hop", Some(0)),
            ("HIPHOP", Some(0)),
            ("Hip_Hop", Some(0)),
            ("Rap", Some(0)),
            ("R&B", Some(1)),
            ("rhythm and blues", Some(1)),
            ("Female Vocalists", Some(2)),
            ("female vocalist", Some(3)),
            ("progressive-rock", Some(4)),
            (" Jazz ", Some(5)),
            ("00s", Some(6)),
            ("classical", None),
        ] {
            assert_eq!(v.lookup(label), want, "{label}");
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
        let tags: Vec<String> =
            ["rock", "jazz", "Hip-Hop", "female vocalists", "sad"].iter().map(|s| s.to_string()).collect();
        let labels = read_labels_csv(&csv, &Vocabulary::new(&tags)).unwrap();
        let a = labels.by_path.get(&key_of(&d.join("sub/a.mp3"))).unwrap();
        assert_eq!(a, &BTreeSet::from([1, 2, 4]));
        let b = labels.by_path.get(&key_of(&d.join("b.mp3"))).unwrap();
        assert_eq!(b, &BTreeSet::from([0, 3]));
        assert_eq!(labels.by_path.len(), 2);
        assert_eq!(labels.unknown, BTreeMap::from([("polka".to_string(), 1)]));
        // Without a header the first row is data.
        std::fs::write(&csv, "b.mp3,rock\n").unwrap();
        let labels = read_labels_csv(&csv, &Vocabulary::new(&tags)).unwrap();
        assert_eq!(labels.by_path.get(&key_of(&d.join("b.mp3"))), Some(&BTreeSet::from([0])));
    }

    #[test]
    fn inputs_per_clip_of_the_models() {
        for (id, want) in [("choi2016_crnn", 1), ("choi2016_cnn", 1), ("musicnn_msd", 10)] {
            let m = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models").join(format!("{id}.toml")))
                .unwrap();
            assert_eq!(inputs_per_clip(&m), want, "{id}");
        }
    }

    #[test]
    fn chart_is_svg_with_one_point_per_model() {
        let model = |id: &str, params: u64, t: Option<f64>, auc: Option<f64>| ModelReport {
            id: id.into(),
            name: format!("{id} <name>"),
            parameters: params,
            input: String::new(),
            time_per_clip_ms: t,
            tracks: 4,
            macro_roc_auc: auc,
            macro_pr_auc: auc,
            per_tag: Vec::new(),
            scores: Vec::new(),
        };
        let r = EvalReport {
            mode: "center".into(),
            label_source: "csv".into(),
            labels_csv: None,
            tags: Vec::new(),
            tracks: Vec::new(),
            excluded: Vec::new(),
            unknown_labels: BTreeMap::new(),
            skipped_tags: Vec::new(),
            models: vec![
                model("a", 400_000, Some(300.0), Some(0.8)),
                model("b", 800_000, Some(120.0), Some(0.7)),
                model("c", 10, None, Some(0.9)),
            ],
        };
        let svg = chart_svg(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">a &lt;name&gt;<") && !svg.contains("<name>"));
        assert!(svg.contains("not plotted (no time or no AUC): c"));
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
        let input: Vec<serde_json::Value> = cases
            .iter()
            .map(|(l, s)| serde_json::json!({"labels": l.iter().map(|&b| b as u8).collect::<Vec<_>>(), "scores": s}))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.json");
        std::fs::write(&path, serde_json::to_vec(&input).unwrap()).unwrap();
        let script = "import json, sys\n\
from sklearn.metrics import roc_auc_score, average_precision_score\n\
cases = json.load(open(sys.argv[1]))\n\
print(json.dumps([[roc_auc_score(c['labels'], c['scores']), average_precision_score(c['labels'], c['scores'])] for c in cases]))\n";
        let out = std::process::Command::new(&python).arg("-c").arg(script).arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "scikit-learn failed (is it in .venv? `make setup`): {}",
            String::from_utf8_lossy(&out.stderr)
        );
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
