//! The command-line interface: `melotag tag`, `melotag models`, `melotag write`, `melotag undo`, `melotag eval`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::analysis::{self, Event, JobConfig, Mode, StageTimes, TrackResult};
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
    /// List the installed models, with their inference time per 29 s clip on this machine.
    Models(crate::eval::ModelsArgs),
    /// Evaluate models against labels: per-tag ROC-AUC and PR-AUC, side by side.
    Eval(crate::eval::EvalArgs),
    /// Analyse files and write the chosen genre/mood tags into them (preview, confirm, undoable).
    Write(WriteArgs),
    /// Restore the tags melotag last wrote to files (or the whole last write batch).
    Undo(UndoArgs),
    /// Open the desktop app (the default when no command is given).
    Gui(GuiArgs),
}

/// Arguments of `melotag gui`.
#[derive(Debug, Default, clap::Args)]
pub struct GuiArgs {
    /// Music folder to open (default: the last one, else the user's music folder).
    pub folder: Option<PathBuf>,
    /// Model to start with (crnn, cnn, musicnn or a model id; default: the last one used).
    #[arg(long)]
    pub model: Option<String>,
    /// Analysis mode to start with (default: the last one used).
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// Print frame-time percentiles (p50/p99) when the window closes.
    #[arg(long)]
    pub frame_stats: bool,
    /// Select the track with this file name once it is listed (screenshots, measurements).
    #[arg(long, value_name = "FILE_NAME", hide = true)]
    pub select: Option<String>,
    /// Measurement run: tag the library once it is listed, then close the window.
    #[arg(long, hide = true)]
    pub bench: bool,
    /// Close the window after this many seconds (measurements).
    #[arg(long, value_name = "SECONDS", hide = true)]
    pub quit_after: Option<f64>,
}

/// Arguments of `melotag tag`.
#[derive(Debug, clap::Args)]
pub struct TagArgs {
    /// Audio files or folders (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model: crnn, cnn, musicnn, a model id, or a path to a manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
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
    /// Analyse every file again instead of reusing results cached by earlier runs (and the app).
    #[arg(long)]
    pub no_cache: bool,
}

/// Arguments of `melotag write`.
#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    /// Audio files or folders (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model: crnn, cnn, musicnn, a model id, or a path to a manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    /// How new values combine with existing ones: replace, merge (keep existing, add new), or
    /// fill (only empty fields).
    #[arg(long, value_enum, default_value_t = crate::tags::MergeMode::Merge)]
    pub merge: crate::tags::MergeMode,
    /// Analyse the 29 s centre of each track or the whole track.
    #[arg(long, value_enum, default_value_t = Mode::Center)]
    pub mode: Mode,
    /// Show each field's old → new value and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write without asking (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Keep tags scoring at least RATIO × the track's best score.
    #[arg(long, default_value_t = crate::tags::policy::DEFAULT_RATIO, value_parser = parse_fraction)]
    pub ratio: f32,
    /// ... and at least FLOOR.
    #[arg(long, default_value_t = crate::tags::policy::DEFAULT_FLOOR, value_parser = parse_fraction)]
    pub floor: f32,
    /// Most genres per track.
    #[arg(long, default_value_t = crate::tags::policy::DEFAULT_MAX_GENRES)]
    pub max_genres: usize,
    /// Most moods per track.
    #[arg(long, default_value_t = crate::tags::policy::DEFAULT_MAX_MOODS)]
    pub max_moods: usize,
    /// Most instrument/voice tags, and most era tags, per track (when requested).
    #[arg(long, default_value_t = crate::tags::policy::DEFAULT_MAX_OTHER)]
    pub max_other: usize,
    /// Categories to write (comma-separated): genre and mood by default; instrument and era go
    /// to the genre field.
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [crate::tags::Category::Genre, crate::tags::Category::Mood])]
    pub categories: Vec<crate::tags::Category>,
    /// Also store the raw scores and the model id as compact JSON in one custom field
    /// (TXXX:MELOTAG_SCORES, MELOTAG_SCORES, ----:com.melotag:scores).
    #[arg(long)]
    pub write_scores: bool,
    /// Analyse every file again instead of using cached results.
    #[arg(long)]
    pub no_cache: bool,
}

fn parse_fraction(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is not between 0 and 1"))
    }
}

/// Arguments of `melotag undo`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["paths", "last"]))]
pub struct UndoArgs {
    /// Files (or folders) whose last melotag write to restore.
    pub paths: Vec<PathBuf>,
    /// Restore every file of the last write batch.
    #[arg(long)]
    pub last: bool,
    /// Show what would be restored and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs the CLI and returns the process exit code (0 all good, 1 some files failed).
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Some(Command::Tag(args)) => tag(args),
        Some(Command::Models(args)) => crate::eval::run_models(&args),
        Some(Command::Eval(args)) => crate::eval::run_eval(&args),
        Some(Command::Write(args)) => crate::tags::run_write(&args),
        Some(Command::Undo(args)) => crate::tags::run_undo(&args),
        Some(Command::Gui(args)) => crate::app::run_gui(args),
        None => crate::app::run_gui(GuiArgs::default()),
    }
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

    let progress = progress_bar(files.len());
    // Top-K lines go to stdout unless a machine-readable report goes there.
    let print_top = args.json.is_none() && args.csv.is_none();

    let analysis_start = Instant::now();
    let mut results: Vec<Option<TrackResult>> = vec![None; files.len()];
    let mut totals = StageTimes::default();
    let config = JobConfig { manifest: manifest.clone(), mode: args.mode, workers };
    let startup = crate::cache::analyze_files(config, &files, crate::cache::Cache::open_if(!args.no_cache).as_ref(), |event| match event {
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
        Event::Done { .. } => {}
    })?;
    let startup_s = startup.as_secs_f64();
    progress.finish_and_clear();
    // Steady state: from the workers' start (sessions open) to the last result.
    let analysis_wall_s = analysis_start.elapsed().as_secs_f64() - startup_s;
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

/// A progress bar with count, rate and ETA on stderr, hidden when stderr is not a terminal.
pub(crate) fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} tracks  {per_sec}  ETA {eta}  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Writes to a file (atomically: temp file then rename) or to stdout for `-`.
pub(crate) fn write_output(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        body(&mut lock)?;
        lock.flush()?;
        return Ok(());
    }
    // A device or a pipe (`--json /dev/null`, a FIFO) is written in place: renaming a temp file
    // over it would replace /dev/null with a regular file.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).with_context(|| format!("opening {}", path.display()))?;
        body(&mut file)?;
        file.flush()?;
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
            let mut row = vec![r.path.to_string_lossy().into_owned()];
            row.extend(a.scores.iter().map(|s| format!("{s:.6}")));
            csv.write_record(&row)?;
        }
    }
    csv.flush()?;
    Ok(())
}
