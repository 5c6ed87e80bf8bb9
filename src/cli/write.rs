//! `melotag write`, `melotag undo` and `melotag history`: the command-line face of the engine's
//! plan → apply → undo service (the app's review window is the other).

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;

use super::output::{self, JsonPath, file_error, progress_bar, shown, write_output};
use super::{CategoryArg, MergeArg, RunArgs};
use crate::engine::analysis::{Control, Event, JobConfig, Mode};
use crate::engine::config::UserConfig;
use crate::engine::library;
use crate::engine::model::{self, Manifest};
use crate::engine::pipeline::{self, Need};
use crate::engine::tags::apply::{self, ApplyEvent, UndoEvent, WriteJob};
use crate::engine::tags::plan::KeptField;
use crate::engine::tags::{Change, FilePlan, FileTags, Journal, PlanInput, Role, UndoAction, UndoTarget, WriteSettings, plan_batch};

/// Arguments of `melotag write`. Policy flags override the config file for this run.
#[derive(Debug, clap::Args)]
pub struct WriteArgs {
    /// Audio files or folders (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model: crnn, cnn, musicnn, a model id, or a path to a manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    /// How new values combine with a field's current ones: fill (only empty fields: a file's
    /// own genre or mood is kept; the default), merge (keep existing, add new), or replace.
    #[arg(long, value_enum)]
    pub merge: Option<MergeArg>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Show each field's old → new value and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// With --dry-run: write the preview as JSON to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE", requires = "dry_run")]
    pub json: Option<PathBuf>,
    /// Write without asking (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Keep tags scoring at least RATIO × the best score of their category (genre, mood, …).
    #[arg(long, value_parser = parse_fraction)]
    pub ratio: Option<f32>,
    /// ... and at least FLOOR.
    #[arg(long, value_parser = parse_fraction)]
    pub floor: Option<f32>,
    /// Most genres per track.
    #[arg(long)]
    pub max_genres: Option<usize>,
    /// Most moods per track.
    #[arg(long)]
    pub max_moods: Option<usize>,
    /// Most tags of each other category (instrument, voice, era, feel) per track, when requested.
    #[arg(long)]
    pub max_other: Option<usize>,
    /// Categories to write (comma-separated; default genre,mood): instrument, voice, era and feel
    /// go to the grouping field (TIT1, GROUPING, ©grp).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub categories: Option<Vec<CategoryArg>>,
    /// Also store the raw scores and the model id as compact JSON in one custom field
    /// (TXXX:MELOTAG_SCORES, MELOTAG_SCORES, ----:com.melotag:scores).
    #[arg(long)]
    pub write_scores: bool,
    /// One genre/mood set per album (album artist + album tag, else folder), from the album's
    /// mean scores.
    #[arg(long)]
    pub per_album: bool,
    /// Analyse every file again instead of using cached results.
    #[arg(long)]
    pub no_cache: bool,
}

fn parse_fraction(s: &str) -> Result<f32, String> {
    let v: f32 = s.parse().map_err(|_| format!("'{s}' is not a number"))?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not between 0 and 1")) }
}

impl WriteArgs {
    /// The config file's settings with this run's flags on top.
    pub fn settings(&self, config: &UserConfig) -> WriteSettings {
        let mut s = config.write_settings();
        let p = &mut s.policy;
        if let Some(v) = self.ratio {
            p.ratio = v;
        }
        if let Some(v) = self.floor {
            p.floor = v;
        }
        if let Some(v) = self.max_genres {
            p.max_genres = v;
        }
        if let Some(v) = self.max_moods {
            p.max_moods = v;
        }
        if let Some(v) = self.max_other {
            p.max_other = v;
        }
        if let Some(c) = &self.categories {
            p.categories = c.iter().map(|&c| c.into()).collect();
        }
        if let Some(m) = self.merge {
            s.merge = m.into();
        }
        s.write_scores |= self.write_scores;
        s.per_album |= self.per_album;
        s
    }
}

/// Arguments of `melotag undo`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["paths", "last", "batch"]))]
pub struct UndoArgs {
    /// Files (or folders) whose last melotag write to restore.
    pub paths: Vec<PathBuf>,
    /// Restore every file of the last write batch.
    #[arg(long)]
    pub last: bool,
    /// Restore every file of batch N (see `melotag history`).
    #[arg(long, value_name = "N")]
    pub batch: Option<i64>,
    /// Show what would be restored and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `melotag history`.
#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// How many batches to list, newest first.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

const NO_TERMINAL: &str =
    "not writing without confirmation: standard input is not a terminal; pass --yes to write (or --dry-run to preview)";

fn show(values: &[String], role: Role) -> String {
    if values.is_empty() {
        return "(none)".into();
    }
    let text = values.join("; ");
    if role == Role::Scores && text.len() > 60 {
        return format!("{}… ({} bytes)", output::printable(&text[..text.floor_char_boundary(57)]), text.len());
    }
    output::printable(&text)
}

/// Prints one file's changes (`  FIELD (role): old → new`) and the fields it keeps.
fn print_changes(path: &Path, changes: &[Change], kept: &[KeptField]) {
    if changes.is_empty() {
        let why: Vec<String> = kept.iter().map(|k| format!("{} {}", k.field, k.why.describe())).collect();
        if why.is_empty() {
            println!("{}: no change", shown(path));
        } else {
            println!("{}: no change ({})", shown(path), why.join("; "));
        }
        return;
    }
    println!("{}", shown(path));
    for c in changes {
        println!("  {} ({}): {} → {}", c.field, c.role.as_str(), show(&c.old_values, c.role), show(&c.new_values, c.role));
    }
    for k in kept.iter().filter(|k| k.why == crate::engine::tags::Kept::HasValue) {
        println!("  {} ({}): {} (kept: {})", k.field, k.role.as_str(), show(&k.values, k.role), k.why.describe());
    }
}

/// Asks on the terminal; `None` when standard input is not a terminal.
fn confirm(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return Some(false);
    }
    Some(matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// The `--dry-run --json` document.
#[derive(Serialize)]
struct JsonPreview<'a> {
    model: &'a str,
    mode: &'a str,
    files: Vec<JsonFile<'a>>,
}

#[derive(Serialize)]
struct JsonFile<'a> {
    path: JsonPath<'a>,
    error: Option<&'a str>,
    changes: Vec<JsonChange<'a>>,
    kept: Vec<JsonKept<'a>>,
}

#[derive(Serialize)]
struct JsonChange<'a> {
    field: String,
    role: &'static str,
    old: &'a [String],
    new: &'a [String],
}

#[derive(Serialize)]
struct JsonKept<'a> {
    field: String,
    role: &'static str,
    values: &'a [String],
    why: crate::engine::tags::Kept,
}

fn write_preview(w: &mut dyn std::io::Write, manifest: &Manifest, mode: Mode, plans: &[FilePlan]) -> Result<()> {
    let files = plans
        .iter()
        .map(|p| match &p.outcome {
            Ok(plan) => JsonFile {
                path: JsonPath(&p.path),
                error: None,
                changes: plan
                    .changes
                    .iter()
                    .map(|c| JsonChange { field: c.field.to_string(), role: c.role.as_str(), old: &c.old_values, new: &c.new_values })
                    .collect(),
                kept: plan
                    .kept
                    .iter()
                    .map(|k| JsonKept { field: k.field.to_string(), role: k.role.as_str(), values: &k.values, why: k.why })
                    .collect(),
            },
            Err(e) => JsonFile { path: JsonPath(&p.path), error: Some(e), changes: Vec::new(), kept: Vec::new() },
        })
        .collect();
    serde_json::to_writer(&mut *w, &JsonPreview { model: &manifest.id, mode: mode.as_str(), files })?;
    writeln!(w)?;
    Ok(())
}

/// Reads every file's tags, analyses the readable ones (cache first) and plans them.
fn plan_files(
    files: &[PathBuf],
    manifest: &Arc<Manifest>,
    mode: Mode,
    settings: &WriteSettings,
    args: &WriteArgs,
) -> Result<Vec<FilePlan>> {
    let mut inputs: Vec<PlanInput> = files
        .iter()
        .map(|path| PlanInput {
            path: path.clone(),
            tags: FileTags::read(path).map_err(|e| e.to_string()),
            scores: Err("not analysed".into()),
        })
        .collect();
    let readable: Vec<usize> = (0..inputs.len()).filter(|&i| inputs[i].tags.is_ok()).collect();
    if !readable.is_empty() {
        let to_analyse: Vec<PathBuf> = readable.iter().map(|&i| files[i].clone()).collect();
        let progress = progress_bar(to_analyse.len());
        let config = JobConfig { manifest: manifest.clone(), mode, workers: args.run.workers(), tuning: args.run.tuning() };
        let cache = super::tag::open_cache(args.no_cache);
        pipeline::run(config, &to_analyse, None, cache.as_ref(), Need::Scores, &Control::new(), |event| {
            if let Event::Finished { index, result } = event {
                progress.inc(1);
                inputs[readable[index]].scores = result.outcome.map(|a| a.scores).map_err(|e| e.message);
            }
        })?;
        progress.finish_and_clear();
    }
    Ok(plan_batch(&inputs, manifest, mode, settings))
}

/// `melotag write`: returns the exit code (0 all good, 1 some files failed, 2 refused).
pub fn run_write(args: &WriteArgs, config: &UserConfig) -> Result<i32> {
    // Refuse before the (slow) analysis when there will be nobody to ask.
    if !args.yes && !args.dry_run && !std::io::stdin().is_terminal() {
        eprintln!("error: {NO_TERMINAL}");
        return Ok(2);
    }
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    let mode = args.run.mode();
    let settings = args.settings(config);
    let scan = library::scan(&args.paths);
    let mut failed = 0usize;
    for (path, reason) in &scan.errors {
        file_error(path, reason);
        failed += 1;
    }
    let plans = plan_files(&scan.files, &manifest, mode, &settings, args)?;

    let json_to_stdout = args.json.as_deref() == Some(Path::new("-"));
    for p in &plans {
        match &p.outcome {
            Ok(plan) if !json_to_stdout => print_changes(&p.path, &plan.changes, &plan.kept),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                file_error(&p.path, e);
            }
        }
    }
    let to_write: Vec<WriteJob> = plans
        .iter()
        .filter_map(|p| p.outcome.as_ref().ok().map(|plan| (p, plan)))
        .filter(|(_, plan)| !plan.changes.is_empty())
        .map(|(p, plan)| WriteJob { path: p.path.clone(), snapshot: plan.snapshot, changes: plan.changes.clone() })
        .collect();
    let code = |failed: usize| if failed > 0 { 1 } else { 0 };
    if args.dry_run {
        if let Some(path) = &args.json {
            write_output(path, |w| write_preview(w, &manifest, mode, &plans)).context("writing JSON")?;
        }
        if !json_to_stdout {
            println!("dry run: {} file(s) would change; nothing written", to_write.len());
        }
        return Ok(code(failed));
    }
    if to_write.is_empty() {
        println!("nothing to write");
        return Ok(code(failed));
    }
    if !args.yes {
        match confirm(&format!("Write these tags to {} file(s)?", to_write.len())) {
            None => {
                eprintln!("error: {NO_TERMINAL}");
                return Ok(2);
            }
            Some(false) => {
                println!("nothing written");
                return Ok(code(failed));
            }
            Some(true) => {}
        }
    }

    let mut journal = Journal::open()?;
    let label: Vec<String> = std::env::args().collect();
    let cache = super::tag::open_cache(args.no_cache);
    let outcome = apply::apply(&mut journal, &label.join(" "), &to_write, cache.as_ref(), &Control::new(), |event| match event {
        ApplyEvent::Written { index, .. } => println!("wrote {}", shown(&to_write[index].path)),
        ApplyEvent::Failed { index, error } => file_error(&to_write[index].path, &error),
    })?;
    failed += outcome.failed;
    if outcome.written > 0 {
        println!("{} file(s) written; undo with `melotag undo --last` (or `--batch {}`)", outcome.written, outcome.batch);
    } else {
        // The empty batch is not kept: `undo --last` would undo an earlier write.
        println!("0 file(s) written");
    }
    Ok(code(failed))
}

/// `melotag undo`: returns the exit code (0 all good, 1 some files failed).
pub fn run_undo(args: &UndoArgs) -> Result<i32> {
    let journal = Journal::open()?;
    let mut failed = 0usize;
    let target = if args.last {
        UndoTarget::LastBatch
    } else if let Some(b) = args.batch {
        UndoTarget::Batch(b)
    } else {
        let scan = library::scan(&args.paths);
        for (path, reason) in &scan.errors {
            file_error(path, reason);
            failed += 1;
        }
        UndoTarget::Files(scan.files)
    };
    let (items, unknown) = crate::engine::tags::undo::plan_undo(&journal, &target)?;
    for path in &unknown {
        file_error(path, &"no melotag write to undo for this file");
        failed += 1;
    }
    if items.is_empty() && unknown.is_empty() {
        println!("nothing to undo");
        return Ok(if failed > 0 { 1 } else { 0 });
    }
    for item in &items {
        let path = &item.record.path;
        match &item.action {
            Ok(UndoAction::AlreadyRestored) => println!("{}: already holds the values from before the write", shown(path)),
            Ok(UndoAction::Exact { changes }) => {
                print_changes(path, changes, &[]);
                println!("  (the file is as melotag wrote it: its original bytes will be restored)");
            }
            Ok(UndoAction::Fields { changes, .. }) => {
                print_changes(path, changes, &[]);
                println!("  (the file changed since melotag wrote it: only these fields will be restored, other changes kept)");
            }
            Err(_) => {}
        }
    }
    if args.dry_run {
        for item in &items {
            if let Err(e) = &item.action {
                failed += 1;
                file_error(&item.record.path, e);
            }
        }
        println!("dry run: nothing restored");
        return Ok(if failed > 0 { 1 } else { 0 });
    }
    let cache = super::tag::open_cache(false);
    apply::undo(&journal, &items, cache.as_ref(), &Control::new(), |event| match event {
        UndoEvent::RestoredExactly { index } => println!("restored {} (original bytes)", shown(&items[index].record.path)),
        UndoEvent::RestoredFields { index } => {
            println!("restored {} (fields only: the file had changed since melotag wrote it)", shown(&items[index].record.path))
        }
        UndoEvent::AlreadyRestored { .. } => {}
        UndoEvent::Failed { index, error } => {
            failed += 1;
            file_error(&items[index].record.path, &error);
        }
    })?;
    Ok(if failed > 0 { 1 } else { 0 })
}

/// `melotag history`.
pub fn run_history(args: &HistoryArgs) -> Result<i32> {
    let journal = Journal::open()?;
    let batches = journal.history(args.limit)?;
    if batches.is_empty() {
        println!("no write batches yet");
        return Ok(0);
    }
    println!("{:>6}  {:<19}  {:>7}  {:>6}  WHAT", "BATCH", "WHEN (UTC)", "WRITTEN", "UNDONE");
    for b in batches {
        println!("{:>6}  {:<19}  {:>7}  {:>6}  {}", b.id, crate::engine::tags::undo::utc(b.started_at), b.written, b.undone, b.label);
    }
    Ok(0)
}
