//! `melotag tag`: score files, print the top tags, write JSON/CSV.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::RunArgs;
use super::output::{JsonPath, file_error, progress_bar, shown, write_output};
use crate::engine::analysis::{Control, Event, JobConfig, Mode, StageTimes, TrackResult};
use crate::engine::cache::Cache;
use crate::engine::library;
use crate::engine::model::{self, Manifest};
use crate::engine::pipeline::{self, Need};

/// Arguments of `melotag tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Audio files or folders (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model: crnn, cnn, musicnn, a model id, or a path to a manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub run: RunArgs,
    /// Write all results as JSON to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write scores as CSV to FILE (path, then one column per tag; `-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// How many tags to print per track.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub top: u16,
    /// Write per-stage timing totals as JSON to FILE (used by `make bench`).
    #[arg(long, value_name = "FILE", hide = true)]
    pub stats: Option<PathBuf>,
    /// Analyse every file again instead of reusing results cached by earlier runs (and the app).
    #[arg(long)]
    pub no_cache: bool,
}

/// The JSON document `--json` writes.
#[derive(Serialize)]
struct JsonReport<'a> {
    model: &'a str,
    mode: &'a str,
    tags: &'a [String],
    tracks: Vec<JsonTrack<'a>>,
}

#[derive(Serialize)]
struct JsonTrack<'a> {
    path: JsonPath<'a>,
    duration_s: Option<f64>,
    scores: Option<&'a [f32]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    windows: Option<Option<&'a [Vec<f32>]>>,
    error: Option<&'a str>,
}

/// Timing totals `--stats` writes.
#[derive(Serialize)]
struct Stats {
    files: usize,
    failed: usize,
    workers: usize,
    /// From process start to the end of the analysis.
    process_wall_s: f64,
    /// Opening runtime and sessions.
    startup_s: f64,
    /// From the workers' start to the last result.
    analysis_wall_s: f64,
    /// Summed over workers (CPU-ish seconds per stage).
    stage_s: StageSeconds,
    /// Model inputs (windows or patches) run through the model.
    model_inputs: u64,
    /// Model inputs per ONNX Runtime call and intra-op threads per worker.
    batch: usize,
    intra_threads: usize,
    /// The model's id.
    model: String,
}

#[derive(Serialize)]
struct StageSeconds {
    decode: f64,
    resample: f64,
    mel: f64,
    inference: f64,
}

impl From<StageTimes> for StageSeconds {
    fn from(t: StageTimes) -> Self {
        StageSeconds {
            decode: t.decode.as_secs_f64(),
            resample: t.resample.as_secs_f64(),
            mel: t.mel.as_secs_f64(),
            inference: t.inference.as_secs_f64(),
        }
    }
}

/// Opens the analysis cache unless `no_cache`; a repaired cache is said once, an unusable one
/// is said and skipped.
pub fn open_cache(no_cache: bool) -> Option<Cache> {
    if no_cache {
        return None;
    }
    match Cache::open() {
        Ok(opened) => {
            if let Some(moved) = &opened.repaired {
                eprintln!("warning: the analysis cache was damaged; moved it to {} and started a new one", shown(moved));
            }
            Some(opened.cache)
        }
        Err(e) => {
            eprintln!("warning: {e}; going on without it");
            None
        }
    }
}

/// `melotag tag`.
pub fn run(args: &TagArgs) -> Result<i32> {
    let process_start = crate::process_start();
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    let mode = args.run.mode();
    let scan = library::scan(&args.paths);
    let mut failed = scan.errors.len();
    for (path, reason) in &scan.errors {
        file_error(path, reason);
    }
    let files = scan.files;
    if files.is_empty() && failed == 0 {
        eprintln!("note: no audio files under the given paths");
    }
    let workers = args.run.workers();

    let progress = progress_bar(files.len());
    // Top-K lines go to stdout unless a machine-readable report goes there.
    let print_top = args.json.is_none() && args.csv.is_none();

    let analysis_start = Instant::now();
    let mut results: Vec<Option<TrackResult>> = vec![None; files.len()];
    let mut totals = StageTimes::default();
    let tuning = args.run.tuning();
    let config = JobConfig { manifest: manifest.clone(), mode, workers, tuning };
    let cache = open_cache(args.no_cache);
    let info = pipeline::run(config, &files, None, cache.as_ref(), Need::Scores, &Control::new(), |event| match event {
        Event::Started { index } => {
            if let Some(name) = files[index].file_name() {
                progress.set_message(shown(Path::new(name)));
            }
        }
        Event::Finished { index, result } => {
            totals += result.times;
            match &result.outcome {
                Ok(analysis) if print_top => {
                    progress.suspend(|| print_top_tags(&result.path, &analysis.scores, &manifest, args.top));
                }
                Ok(_) => {}
                Err(e) => {
                    failed += 1;
                    progress.suspend(|| file_error(&result.path, e));
                }
            }
            progress.inc(1);
            results[index] = Some(*result);
        }
        Event::Done { .. } => {}
    })?;
    let startup_s = info.startup.as_secs_f64();
    progress.finish_and_clear();
    // Steady state: from the workers' start (sessions open) to the last result.
    let analysis_wall_s = analysis_start.elapsed().as_secs_f64() - startup_s;
    let results: Vec<TrackResult> = results.into_iter().flatten().collect();

    if let Some(path) = &args.json {
        write_output(path, |w| write_json(w, &manifest, mode, &results)).context("writing JSON")?;
    }
    if let Some(path) = &args.csv {
        write_output(path, |w| write_csv(w, &manifest, &results)).context("writing CSV")?;
    }
    if let Some(path) = &args.stats {
        let stats = Stats {
            files: files.len(),
            failed,
            workers,
            process_wall_s: process_start.elapsed().as_secs_f64(),
            startup_s,
            analysis_wall_s,
            stage_s: totals.into(),
            model_inputs: totals.model_inputs,
            batch: tuning.batch_for(&manifest),
            intra_threads: tuning.session.intra_threads,
            model: manifest.id.clone(),
        };
        std::fs::write(path, serde_json::to_vec_pretty(&stats)?).context("writing stats")?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// The top `k` tags of a track, best first.
pub fn top_tags(tags: &[String], scores: &[f32], k: usize) -> Vec<(String, f32)> {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.iter().take(k).filter_map(|&(i, s)| tags.get(i).map(|t| (t.clone(), s))).collect()
}

fn print_top_tags(path: &Path, scores: &[f32], manifest: &Manifest, k: u16) {
    let tags: Vec<String> = top_tags(&manifest.tags, scores, usize::from(k)).iter().map(|(t, s)| format!("{t} {s:.3}")).collect();
    println!("{}\t{}", shown(path), tags.join(", "));
}

fn write_json(w: &mut dyn Write, manifest: &Manifest, mode: Mode, results: &[TrackResult]) -> Result<()> {
    let tracks = results
        .iter()
        .map(|r| {
            let (duration_s, scores, windows, error) = match &r.outcome {
                Ok(a) => (a.duration_s, Some(a.scores.as_slice()), a.windows.as_deref(), None),
                Err(e) => (None, None, None, Some(e.message.as_str())),
            };
            JsonTrack {
                path: JsonPath(&r.path),
                duration_s,
                scores,
                // `windows` is present (possibly null) in full mode only.
                windows: (mode == Mode::Full).then_some(windows),
                error,
            }
        })
        .collect();
    let report = JsonReport { model: &manifest.id, mode: mode.as_str(), tags: &manifest.tags, tracks };
    serde_json::to_writer(&mut *w, &report)?;
    writeln!(w)?;
    Ok(())
}

fn write_csv(w: &mut dyn Write, manifest: &Manifest, results: &[TrackResult]) -> Result<()> {
    let mut csv = csv::Writer::from_writer(w);
    let mut header = vec!["path".to_string()];
    header.extend(manifest.tags.iter().cloned());
    csv.write_record(&header)?;
    for r in results {
        if let Ok(a) = &r.outcome {
            let mut row = vec![shown(&r.path)];
            row.extend(a.scores.iter().map(|s| format!("{s:.6}")));
            csv.write_record(&row)?;
        }
    }
    csv.flush()?;
    Ok(())
}
