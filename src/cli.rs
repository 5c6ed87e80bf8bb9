//! The command-line interface: `melotag tag` and `melotag models`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::analysis::{self, Event, Job, JobConfig, Mode, StageTimes, TrackResult};
use crate::library;
use crate::model::{self, Manifest};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(name = "melotag", version, about = "Listen to a music library and tag it (genre, mood, instrument, era)")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every audio file under the given paths with a tagging model.
    Tag(TagArgs),
    /// List the installed models.
    Models,
}

/// Arguments of `melotag tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Audio files or folders (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model: crnn, cnn, a model id, or a path to a manifest .toml.
    #[arg(long, default_value = "crnn")]
    pub model: String,
    /// Analyse the 29 s centre of each track (upstream recipe) or the whole track.
    #[arg(long, value_enum, default_value_t = Mode::Center)]
    pub mode: Mode,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
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
}

/// Runs the CLI and returns the process exit code (0 all good, 1 some files failed).
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Some(Command::Tag(args)) => tag(args),
        Some(Command::Models) => models(),
        None => {
            use clap::CommandFactory;
            Cli::command().print_help()?;
            println!();
            Ok(0)
        }
    }
}

fn models() -> Result<i32> {
    let manifests = model::available_manifests();
    if manifests.is_empty() {
        anyhow::bail!("no model manifests found; run `make setup` in the melotag folder");
    }
    println!("{:<16} {:<18} {:>10}  {:<22} {}", "ID", "NAME", "PARAMS", "INPUT", "STATUS");
    for manifest in manifests {
        match manifest {
            Ok(m) => {
                let f = &m.frontend;
                let input = format!("{} mels x {} @ {} Hz", f.n_mels, f.frames_per_window, f.sample_rate_hz);
                let status = if m.onnx_path().is_file() { "ready" } else { "not converted (make setup)" };
                println!("{:<16} {:<18} {:>10}  {:<22} {}", m.id, m.name, m.parameters, input, status);
            }
            Err(e) => eprintln!("error: {e}"),
        }
    }
    Ok(0)
}

/// The JSON document `--json` writes.
#[derive(Serialize)]
struct JsonReport<'a> {
    model: &'a str,
    mode: &'a str,
    tags: &'a [String],
    tracks: Vec<JsonTrack>,
}

#[derive(Serialize)]
struct JsonTrack {
    path: String,
    duration_s: Option<f64>,
    scores: Option<Vec<f32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    windows: Option<Option<Vec<Vec<f32>>>>,
    error: Option<String>,
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

fn tag(args: TagArgs) -> Result<i32> {
    let process_start = crate::process_start();
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    let scan = library::scan(&args.paths);
    let mut failed = scan.errors.len();
    for (path, reason) in &scan.errors {
        eprintln!("error: {}: {reason}", path.display());
    }
    let files = scan.files;
    let workers = args.threads.map(usize::from).unwrap_or_else(analysis::default_workers);

    let startup = Instant::now();
    let (job, events) = Job::start(JobConfig { manifest: manifest.clone(), mode: args.mode, workers }, files.clone())?;
    let startup_s = startup.elapsed().as_secs_f64();

    let progress = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(files.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{bar:30} {pos}/{len} tracks  {per_sec}  ETA {eta}  {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    } else {
        ProgressBar::hidden()
    };
    // Top-K lines go to stdout unless a machine-readable report goes there.
    let print_top = args.json.is_none() && args.csv.is_none();

    let analysis_start = Instant::now();
    let mut results: Vec<Option<TrackResult>> = vec![None; files.len()];
    let mut totals = StageTimes::default();
    for event in events {
        match event {
            Event::Started { index } => {
                if let Some(name) = files[index].file_name() {
                    progress.set_message(name.to_string_lossy().into_owned());
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
                        progress.suspend(|| eprintln!("error: {}: {e}", result.path.display()));
                    }
                }
                progress.inc(1);
                results[index] = Some(*result);
            }
            Event::Done { .. } => break,
        }
    }
    progress.finish_and_clear();
    job.join();
    let analysis_wall_s = analysis_start.elapsed().as_secs_f64();
    let results: Vec<TrackResult> = results.into_iter().flatten().collect();

    if let Some(path) = &args.json {
        write_output(path, |w| write_json(w, &manifest, args.mode, &results)).context("writing JSON")?;
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
        };
        std::fs::write(path, serde_json::to_vec_pretty(&stats)?).context("writing stats")?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

fn print_top_tags(path: &Path, scores: &[f32], manifest: &Manifest, k: u16) {
    let mut ranked: Vec<(usize, f32)> = scores.iter().copied().enumerate().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    let tags: Vec<String> = ranked
        .iter()
        .take(k as usize)
        .map(|&(i, s)| format!("{} {:.3}", manifest.tags[i], s))
        .collect();
    println!("{}\t{}", path.display(), tags.join(", "));
}

/// Writes to a file (atomically: temp file then rename) or to stdout for `-`.
fn write_output(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        body(&mut lock)?;
        lock.flush()?;
        return Ok(());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", dir.display()))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        body(&mut w)?;
        w.flush()?;
    }
    tmp.persist(path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn write_json(w: &mut dyn Write, manifest: &Manifest, mode: Mode, results: &[TrackResult]) -> Result<()> {
    let tracks = results
        .iter()
        .map(|r| {
            let (duration_s, scores, windows, error) = match &r.outcome {
                Ok(a) => (a.duration_s, Some(a.scores.clone()), a.windows.clone(), None),
                Err(e) => (None, None, None, Some(e.clone())),
            };
            JsonTrack {
                path: r.path.to_string_lossy().into_owned(),
                duration_s,
                scores,
                // `windows` is present (possibly null) in full mode only.
                windows: (mode == Mode::Full).then_some(windows),
                error,
            }
        })
        .collect();
    let report = JsonReport { model: &manifest.id, mode: mode.as_str(), tags: &manifest.tags, tracks };
    serde_json::to_writer_pretty(&mut *w, &report)?;
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
            let mut row = vec![r.path.to_string_lossy().into_owned()];
            row.extend(a.scores.iter().map(|s| format!("{s:.6}")));
            csv.write_record(&row)?;
        }
    }
    csv.flush()?;
    Ok(())
}
