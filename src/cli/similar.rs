//! `melotag similar` and `melotag playlist`: the tracks most like a seed, and playlists that
//! walk from seeds to near neighbours or gather tracks by their top tags (the engine's
//! [`crate::engine::similar`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use super::RunArgs;
use super::output::{JsonPath, file_error, progress_bar, shown, write_output};
use super::tag::open_cache;
use crate::engine::analysis::{Analysis, Control, Event, JobConfig};
use crate::engine::cache::Cache;
use crate::engine::library;
use crate::engine::model::{self, Manifest};
use crate::engine::pipeline::{self, Need};
use crate::engine::similar::{self, Index, TagFilter, TrackInfo};

/// Arguments of `melotag similar`.
#[derive(Debug, clap::Args)]
pub struct SimilarArgs {
    /// The track to find others like (it need not be under PATH).
    pub seed: PathBuf,
    /// Audio files or folders to search (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Model whose embeddings are compared: musicnn, mtt, msd+mtt, crnn, cnn, a model id, or a
    /// manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub run: RunArgs,
    /// How many tracks to list.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,
    /// Write the answer as JSON to FILE (`-` for standard output).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Arguments of `melotag playlist`.
#[derive(Debug, clap::Args)]
pub struct PlaylistArgs {
    /// Audio files or folders to draw the tracks from (walked recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Start at this track, then walk to near neighbours (repeatable: seeds play first, in order).
    #[arg(long = "seed", value_name = "FILE")]
    pub seeds: Vec<PathBuf>,
    /// Only tracks whose top tags include NAME (`jazz`, `genre:jazz`, `mood:happy`;
    /// repeatable: every one must be there).
    #[arg(long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// Most tracks in the playlist, seeds included (default: 20 from seeds; every match with
    /// --tag alone).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub length: Option<u32>,
    /// Write the playlist to FILE.m3u8, paths relative to its folder (default: standard
    /// output, paths relative to the current folder).
    #[arg(long, value_name = "FILE.m3u8")]
    pub out: Option<PathBuf>,
    /// Model: musicnn, mtt, msd+mtt, crnn, cnn, a model id, or a manifest .toml.
    #[arg(long, default_value = model::DEFAULT_MODEL)]
    pub model: String,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Default playlist length when walking from seeds.
const DEFAULT_LENGTH: usize = 20;

/// The `--json` document of `similar`.
#[derive(Serialize)]
struct SimilarJson<'a> {
    model: &'a str,
    seed: JsonPath<'a>,
    neighbours: Vec<JsonNeighbour<'a>>,
}

#[derive(Serialize)]
struct JsonNeighbour<'a> {
    path: JsonPath<'a>,
    distance: f32,
}

/// How the tracks are analysed: model, mode, workers, cache.
struct Analyser {
    config: JobConfig,
    need: Need,
    cache: Option<Cache>,
}

impl Analyser {
    /// Analyses with `manifest` as the run options say, through the analysis cache.
    fn new(manifest: Arc<Manifest>, run: &RunArgs, need: Need) -> Analyser {
        let config = JobConfig { manifest, mode: run.mode(), workers: run.workers(), tuning: run.tuning() };
        Analyser { config, need, cache: open_cache(false) }
    }

    /// Analyses `files` (cached results first), printing a progress bar and one error line per
    /// failure; returns each file's analysis (`None`: failed) and the number of failures.
    fn run(&self, files: &[PathBuf]) -> Result<(Vec<Option<Analysis>>, usize)> {
        let mut out: Vec<Option<Analysis>> = vec![None; files.len()];
        let mut failed = 0;
        let progress = progress_bar(files.len());
        let config = self.config.clone();
        let info = pipeline::run(config, files, None, self.cache.as_ref(), self.need, &Control::new(), |event| match event {
            Event::Started { index } => {
                if let Some(name) = files[index].file_name() {
                    progress.set_message(shown(Path::new(name)));
                }
            }
            Event::Finished { index, result } => {
                match result.outcome {
                    Ok(a) => out[index] = Some(a),
                    Err(e) => {
                        failed += 1;
                        progress.suspend(|| file_error(&result.path, &e));
                    }
                }
                progress.inc(1);
            }
            Event::Done { .. } => {}
        })?;
        progress.finish_and_clear();
        // Embeddings of different models are not comparable: said once when that cost an analysis.
        if let Some((most, _)) = info.other_models.iter().max_by_key(|(_, n)| *n) {
            let names = info.other_models.iter().map(|(id, _)| id.as_str()).collect::<Vec<_>>().join(", ");
            eprintln!(
                "note: {} of {} tracks were analysed before only with {names}; analysed them with {} (tracks are compared \
                 within one model; --model {most} uses those results)",
                info.only_other_models,
                files.len(),
                self.config.manifest.id
            );
        }
        Ok((out, failed))
    }

    /// Analyses the seeds; any seed that is missing, not a file or not audio ends the command
    /// (exit status 2: there is nothing to start from).
    fn seeds(&self, seeds: &[PathBuf]) -> Result<Vec<Analysis>> {
        for seed in seeds {
            match std::fs::metadata(seed) {
                Err(e) => bail!("seed {}: {}", shown(seed), library::io_reason(&e)),
                Ok(m) if m.is_dir() => bail!("seed {}: a folder; the seed must be an audio file", shown(seed)),
                Ok(m) => {
                    if let Some(reason) = library::not_a_regular_file(&m) {
                        bail!("seed {}: {reason}", shown(seed));
                    }
                }
            }
        }
        let mut out: Vec<Option<Analysis>> = vec![None; seeds.len()];
        let mut error = None;
        let config = self.config.clone();
        pipeline::run(config, seeds, None, self.cache.as_ref(), self.need, &Control::new(), |event| {
            if let Event::Finished { index, result } = event {
                match result.outcome {
                    Ok(a) => out[index] = Some(a),
                    Err(e) => {
                        error.get_or_insert((index, e));
                    }
                }
            }
        })?;
        if let Some((index, e)) = error {
            bail!("seed {}: {}", shown(&seeds[index]), e);
        }
        Ok(out.into_iter().flatten().collect())
    }
}

/// The canonical path of `path` (the path itself when it cannot be resolved): a seed named
/// `./a.mp3` is the library's `music/a.mp3`.
fn key(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The index rows (`rows[row]` is a file index) whose file is one of `keys` (canonical paths):
/// only files with the same file name are resolved, so a large library costs no extra calls.
fn rows_of(files: &[PathBuf], rows: &[usize], keys: &[PathBuf]) -> Vec<usize> {
    rows.iter()
        .enumerate()
        .filter(|&(_, &f)| keys.iter().any(|k| k.file_name() == files[f].file_name()) && keys.contains(&key(&files[f])))
        .map(|(row, _)| row)
        .collect()
}

/// Walks the library paths: prints what cannot be read, fails (exit 2) when no audio is found.
fn scan_library(paths: &[PathBuf]) -> Result<(Vec<PathBuf>, usize)> {
    let scan = library::scan(paths);
    for (path, reason) in &scan.errors {
        file_error(path, reason);
    }
    if scan.files.is_empty() {
        let list = paths.iter().map(|p| shown(p)).collect::<Vec<_>>().join(", ");
        bail!("no audio files under {list}");
    }
    Ok((scan.files, scan.errors.len()))
}

/// The library's embeddings as an index; `rows[i]` is the file index of row `i`.
fn build_index(files: &[PathBuf], results: &[Option<Analysis>]) -> Result<Option<(Index, Vec<usize>)>> {
    let mut items = Vec::new();
    let mut rows = Vec::new();
    for (i, r) in results.iter().enumerate() {
        if let Some(e) = r.as_ref().and_then(|a| a.embedding.clone()) {
            items.push((files[i].clone(), e));
            rows.push(i);
        }
    }
    if items.is_empty() {
        return Ok(None);
    }
    let index = Index::build(items)?;
    for (path, e) in index.rejected() {
        file_error(path, e);
    }
    // Rejected items are left out of the index: keep `rows` in step with its paths.
    let rows = if index.rejected().is_empty() {
        rows
    } else {
        let by_path: std::collections::HashMap<&Path, usize> = rows.iter().map(|&i| (files[i].as_path(), i)).collect();
        index.paths().iter().filter_map(|p| by_path.get(p.as_path()).copied()).collect()
    };
    Ok(Some((index, rows)))
}

/// `melotag similar`.
pub fn run_similar(args: &SimilarArgs) -> Result<i32> {
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    similar::require_embedding(&manifest)?;
    let (files, mut failed) = scan_library(&args.paths)?;
    let analyser = Analyser::new(manifest.clone(), &args.run, Need::Embedding);
    let seed = analyser.seeds(std::slice::from_ref(&args.seed))?;
    let Some(query) = seed.first().and_then(|a| a.embedding.clone()) else {
        bail!("seed {}: the model gave no embedding", shown(&args.seed));
    };
    let (results, library_failed) = analyser.run(&files)?;
    failed += library_failed;
    let seed_key = key(&args.seed);
    let Some((index, rows)) = build_index(&files, &results)? else {
        eprintln!("error: no track under the given paths could be analysed");
        return Ok(1);
    };
    failed += index.rejected().len();
    // The seed itself (under any spelling of its path) is never its own neighbour.
    let exclude = rows_of(&files, &rows, std::slice::from_ref(&seed_key));
    let neighbours = index.nearest(&query, args.top as usize, &exclude)?;
    match &args.json {
        Some(path) => {
            let doc = SimilarJson {
                model: &manifest.id,
                seed: JsonPath(&args.seed),
                neighbours: neighbours.iter().map(|n| JsonNeighbour { path: JsonPath(&n.path), distance: n.distance }).collect(),
            };
            write_output(path, |w| {
                serde_json::to_writer(&mut *w, &doc)?;
                writeln!(w)?;
                Ok(())
            })
            .context("writing JSON")?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            for n in &neighbours {
                writeln!(out, "{:.4}\t{}", n.distance, shown(&n.path))?;
            }
        }
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// `melotag playlist`.
pub fn run_playlist(args: &PlaylistArgs) -> Result<i32> {
    if args.seeds.is_empty() && args.tags.is_empty() {
        bail!("give --seed FILE (start there and walk to similar tracks) or --tag NAME (gather tracks by tag), or both");
    }
    let manifest = Arc::new(model::resolve_model(&args.model)?);
    let filters = args.tags.iter().map(|t| t.parse::<TagFilter>()).collect::<Result<Vec<_>, _>>()?;
    for f in &filters {
        f.check(&manifest)?;
    }
    // A tag-only playlist needs scores only: any model will do, and cached scores suffice.
    let need = if args.seeds.is_empty() { Need::Scores } else { Need::Embedding };
    if need == Need::Embedding {
        similar::require_embedding(&manifest)?;
    }
    let (files, mut failed) = scan_library(&args.paths)?;
    let analyser = Analyser::new(manifest.clone(), &args.run, need);
    let seeds = analyser.seeds(&args.seeds)?;
    let (results, library_failed) = analyser.run(&files)?;
    failed += library_failed;

    let entries = manifest.entries();
    // Tracks that carry every requested tag, with their summed score.
    let matching: Vec<(usize, f32)> = if filters.is_empty() {
        Vec::new()
    } else {
        results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.as_ref().and_then(|a| similar::tag_match(&entries, &a.scores, &filters)).map(|s| (i, s)))
            .collect()
    };
    let mut chosen: Vec<PathBuf> = Vec::new();
    let mut durations: Vec<Option<f64>> = Vec::new();
    if seeds.is_empty() {
        let mut ranked = matching;
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(args.length.map_or(usize::MAX, |n| n as usize));
        for (i, _) in ranked {
            chosen.push(files[i].clone());
            durations.push(results[i].as_ref().and_then(|a| a.duration_s));
        }
    } else {
        // Seeds first, each once, in the order given.
        let mut seed_keys: Vec<PathBuf> = Vec::new();
        for (seed, a) in args.seeds.iter().zip(&seeds) {
            let k = key(seed);
            if !seed_keys.contains(&k) {
                seed_keys.push(k);
                chosen.push(seed.clone());
                durations.push(a.duration_s);
            }
        }
        let length = args.length.map_or(DEFAULT_LENGTH, |n| n as usize);
        chosen.truncate(length);
        durations.truncate(length);
        if let Some((index, rows)) = build_index(&files, &results)? {
            failed += index.rejected().len();
            let skip = rows_of(&files, &rows, &seed_keys);
            let pool: Option<Vec<usize>> = (!filters.is_empty()).then(|| {
                let wanted: std::collections::HashSet<usize> = matching.iter().map(|m| m.0).collect();
                rows.iter().enumerate().filter(|&(_, f)| wanted.contains(f)).map(|(row, _)| row).collect()
            });
            let queries: Vec<Vec<f32>> = seeds.iter().filter_map(|a| a.embedding.clone()).collect();
            let walk = index.walk(&queries, &skip, pool.as_deref(), length.saturating_sub(chosen.len()))?;
            for row in walk {
                let f = rows[row];
                chosen.push(files[f].clone());
                durations.push(results[f].as_ref().and_then(|a| a.duration_s));
            }
        }
    }
    if chosen.is_empty() {
        let tags = args.tags.join(", ");
        eprintln!("error: no track under the given paths has {tags} among its top tags (model {})", manifest.id);
        return Ok(1);
    }
    let tracks: Vec<(PathBuf, TrackInfo)> = chosen
        .into_iter()
        .zip(durations)
        .map(|(path, analysed)| {
            let mut info = similar::track_info(&path);
            info.duration_s = info.duration_s.or(analysed);
            (path, info)
        })
        .collect();
    let (base, target) = match &args.out {
        Some(out) => (out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(), out.clone()),
        None => (PathBuf::from("."), PathBuf::from("-")),
    };
    let (text, left_out) = similar::m3u8(&tracks, &base);
    for path in &left_out {
        file_error(path, &"a line break in the path: an M3U playlist cannot list it");
    }
    failed += left_out.len();
    write_output(&target, |w| Ok(w.write_all(&text)?)).context("writing the playlist")?;
    Ok(if failed > 0 { 1 } else { 0 })
}
