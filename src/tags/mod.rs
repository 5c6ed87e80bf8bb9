//! Writing tags back into the files: `melotag write` (analyse, choose, preview, confirm, write
//! atomically, journal for undo) and `melotag undo`.
//!
//! - [`policy`]: which scores become tags, and the one table of categories and canonical names.
//! - [`fields`]: the field mapping per format, on lofty's concrete tag types.
//! - [`write`]: merge modes and the atomic write.
//! - [`undo`]: the SQLite journal of previous values.

pub mod fields;
pub mod policy;
pub mod undo;
pub mod write;

use std::io::{BufRead, IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Result;

pub use fields::{FieldId, Raw, Role, TagFile, TagKind};
pub use policy::{Category, Policy, Selection};
pub use write::{Change, MergeMode, Snapshot};

use crate::analysis::{self, Event, JobConfig};
use crate::cli::{UndoArgs, WriteArgs};
use crate::library;
use crate::model::{self, Manifest};
use undo::{FieldRecord, Journal, WriteRecord};

/// The compact JSON stored with `--write-scores`: model id, analysis mode and every score
/// (3 decimals), keys sorted.
pub fn scores_json(manifest: &Manifest, mode: analysis::Mode, scores: &[f32]) -> String {
    let scores: serde_json::Map<String, serde_json::Value> = manifest
        .tags
        .iter()
        .zip(scores)
        .map(|(t, &s)| (t.clone(), serde_json::json!(((s as f64) * 1000.0).round() / 1000.0)))
        .collect();
    serde_json::json!({ "model": manifest.id, "mode": mode.as_str(), "scores": scores }).to_string()
}

fn show(values: &[String], role: Role) -> String {
    if values.is_empty() {
        return "(none)".into();
    }
    if role == Role::Scores {
        let text = values.join("; ");
        return if text.len() > 60 { format!("{}… ({} bytes)", &text[..text.floor_char_boundary(57)], text.len()) } else { text };
    }
    values.join("; ")
}

/// Prints one file's changes: `  FIELD (role): old → new`.
fn print_changes(path: &Path, changes: &[Change]) {
    if changes.is_empty() {
        println!("{}: no change", path.display());
        return;
    }
    println!("{}", path.display());
    for c in changes {
        println!("  {} ({}): {} → {}", c.field, c.role.as_str(), show(&c.old_values, c.role), show(&c.new_values, c.role));
    }
}

const NO_TERMINAL: &str =
    "not writing without confirmation: standard input is not a terminal; pass --yes to write (or --dry-run to preview)";

struct Planned {
    path: PathBuf,
    snapshot: Snapshot,
    changes: Vec<Change>,
}

fn policy_of(args: &WriteArgs) -> Policy {
    Policy {
        ratio: args.ratio,
        floor: args.floor,
        max_genres: args.max_genres,
        max_moods: args.max_moods,
        max_instruments: args.max_other,
        max_eras: args.max_other,
        categories: args.categories.clone(),
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

/// `melotag write`: returns the exit code (0 all good, 1 some files failed, 2 refused).
pub fn run_write(args: &WriteArgs) -> Result<i32> {
    // Refuse before the (slow) analysis when there will be nobody to ask.
    if !args.yes && !args.dry_run && !std::io::stdin().is_terminal() {
        eprintln!("error: {NO_TERMINAL}");
        return Ok(2);
    }
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    let policy = policy_of(args);
    let scan = library::scan(&args.paths);
    let mut failed = 0usize;
    for (path, reason) in &scan.errors {
        eprintln!("error: {}: {reason}", path.display());
        failed += 1;
    }
    // Unsupported formats fail before the (slow) analysis; the snapshot is what "changed since
    // it was analysed" compares with.
    let mut files = Vec::new();
    let mut snapshots = Vec::new();
    for path in scan.files {
        match fields::detect(&path).map_err(|e| e.to_string()).and_then(|_| Snapshot::of(&path).map_err(|e| write::io_reason(&e))) {
            Ok(snapshot) => {
                files.push(path);
                snapshots.push(snapshot);
            }
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                failed += 1;
            }
        }
    }

    let mut planned: Vec<Option<Planned>> = Vec::new();
    if !files.is_empty() {
        let workers = args.threads.map(usize::from).unwrap_or_else(analysis::default_workers);
        let progress = crate::cli::progress_bar(files.len());
        planned = (0..files.len()).map(|_| None).collect();
        let config = JobConfig { manifest: manifest.clone(), mode: args.mode, workers };
        // Cached results are only used for files unchanged since they were analysed.
        crate::cache::analyze_files(config, &files, crate::cache::Cache::open_if(!args.no_cache).as_ref(), |event| {
            if let Event::Finished { index, result } = event {
                progress.inc(1);
                let path = &files[index];
                let outcome = result.outcome.and_then(|a| {
                    let tags = TagFile::read(path).map_err(|e| e.to_string())?;
                    let selection = policy.select(&manifest.tags, &a.scores);
                    let json = args.write_scores.then(|| scores_json(&manifest, args.mode, &a.scores));
                    Ok(write::plan(&tags, &selection, json.as_deref(), args.merge))
                });
                match outcome {
                    Ok(changes) => planned[index] = Some(Planned { path: path.clone(), snapshot: snapshots[index], changes }),
                    Err(e) => {
                        failed += 1;
                        progress.suspend(|| eprintln!("error: {}: {e}", path.display()));
                    }
                }
            }
        })?;
        progress.finish_and_clear();
    }

    let planned: Vec<Planned> = planned.into_iter().flatten().collect();
    for p in &planned {
        print_changes(&p.path, &p.changes);
    }
    let to_write: Vec<&Planned> = planned.iter().filter(|p| !p.changes.is_empty()).collect();
    let code = |failed: usize| if failed > 0 { 1 } else { 0 };
    if args.dry_run {
        println!("dry run: {} file(s) would change; nothing written", to_write.len());
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
    let command: Vec<String> = std::env::args().collect();
    let batch = journal.begin_batch(&command.join(" "))?;
    let mut written = 0usize;
    for p in to_write {
        let canonical = match std::fs::canonicalize(&p.path) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {}: {}", p.path.display(), write::io_reason(&e));
                failed += 1;
                continue;
            }
        };
        let records: Vec<FieldRecord> = p
            .changes
            .iter()
            .map(|c| FieldRecord { field: c.field.clone(), role: c.role, old: c.old.clone(), new: c.new.clone() })
            .collect();
        let id = journal.record(batch, &canonical, &records)?;
        match write::write_changes(&p.path, &p.snapshot, &p.changes) {
            Ok(_) => {
                journal.mark_done(id)?;
                written += 1;
                println!("wrote {}", p.path.display());
            }
            Err(e) => {
                journal.forget(id)?;
                failed += 1;
                eprintln!("error: {}: {e}", p.path.display());
            }
        }
    }
    println!("{written} file(s) written; undo with `melotag undo --last`");
    Ok(code(failed))
}

/// What undo does to one recorded write.
enum UndoPlan {
    /// Restore these fields.
    Restore(Snapshot, Vec<Change>),
    /// The file already holds the old values (the write never happened, or was undone by hand).
    AlreadyRestored,
}

fn same(tags: &TagFile, field: &FieldId, role: Role, a: &Raw, b: &Raw) -> bool {
    a == b || tags.values(field, role, a) == tags.values(field, role, b)
}

fn plan_undo(record: &WriteRecord) -> Result<UndoPlan, String> {
    let snapshot = Snapshot::of(&record.path).map_err(|e| write::io_reason(&e))?;
    let tags = TagFile::read(&record.path).map_err(|e| e.to_string())?;
    let mut changes = Vec::new();
    let mut edited = Vec::new();
    for f in &record.fields {
        let current = tags.get(&f.field);
        if same(&tags, &f.field, f.role, &current, &f.new) && current != f.old {
            changes.push(Change {
                field: f.field.clone(),
                role: f.role,
                old: current.clone(),
                new: f.old.clone(),
                old_values: tags.values(&f.field, f.role, &current),
                new_values: tags.values(&f.field, f.role, &f.old),
            });
        } else if !same(&tags, &f.field, f.role, &current, &f.old) {
            edited.push(f.field.to_string());
        }
    }
    if !edited.is_empty() {
        return Err(format!("changed since melotag wrote it ({}); not restored", edited.join(", ")));
    }
    Ok(if changes.is_empty() { UndoPlan::AlreadyRestored } else { UndoPlan::Restore(snapshot, changes) })
}

/// `melotag undo`: returns the exit code (0 all good, 1 some files failed).
pub fn run_undo(args: &UndoArgs) -> Result<i32> {
    let journal = Journal::open()?;
    let mut failed = 0usize;
    let mut records = Vec::new();
    if args.last {
        records = journal.last_batch()?;
        if records.is_empty() {
            println!("nothing to undo");
            return Ok(0);
        }
    } else {
        let scan = library::scan(&args.paths);
        for (path, reason) in &scan.errors {
            eprintln!("error: {}: {reason}", path.display());
            failed += 1;
        }
        for path in scan.files {
            let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
            match journal.last_for_path(&canonical)? {
                Some(r) => records.push(r),
                None => {
                    eprintln!("error: {}: no melotag write to undo for this file", path.display());
                    failed += 1;
                }
            }
        }
    }
    for record in records {
        let path = &record.path;
        match plan_undo(&record) {
            Ok(UndoPlan::AlreadyRestored) => {
                println!("{}: already holds the values from before the write", path.display());
                if !args.dry_run {
                    journal.mark_undone(record.id)?;
                }
            }
            Ok(UndoPlan::Restore(snapshot, changes)) => {
                print_changes(path, &changes);
                if args.dry_run {
                    continue;
                }
                match write::write_changes(path, &snapshot, &changes) {
                    Ok(_) => {
                        journal.mark_undone(record.id)?;
                        println!("restored {}", path.display());
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}: {e}", path.display());
                    }
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("error: {}: {e}", path.display());
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}
