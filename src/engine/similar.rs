//! Similar tracks and playlists from the models' embeddings (the mean of a model's penultimate
//! layer over the analysed windows, [`crate::engine::analysis::Analysis::embedding`]).
//!
//! Distance: the cosine distance (1 − cosine, 0 to 2) between embeddings standardised per
//! dimension with the library's own mean and standard deviation ([`Normalisation::ZScore`]).
//! The raw activations have a few units with large means and spreads that dominate a raw
//! cosine; z-scoring weighs every unit alike. Chosen by measurement (README, "Similar tracks
//! and playlists"; `tools/similarity_measure.sh`): retrieving the other clips of the same song
//! among the four shared songs cut into 10 s segments and degraded four ways (60 clips), the
//! mean mAP over the five models was 0.924 z-scored, 0.909 centred, 0.901 raw cosine; z-scoring
//! lifts the CRNN from 0.548 to 0.651 and stays within 0.006 of the best for the others. PCA
//! whitening, with so few tracks to estimate a 200 × 200 covariance, was far worse.
//!
//! An [`Index`] keeps the library as one flat row-major `f32` matrix of standardised,
//! unit-length rows, so a query is one dot product per track and a partial sort: about 4 ms
//! for 100,000 tracks of 200 values on the 2-core development machine (`make bench`). No
//! approximate-neighbour library: an exact scan is already far under a 50 ms budget at that
//! size, and exact answers keep the tests and the playlists deterministic.
//!
//! Playlists ([`Index::walk`]) start at the seeds and walk to near neighbours without repeats;
//! [`TagFilter`] selects tracks by their top canonical tags; [`m3u8`] writes the list.

use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::engine::model::{self, Manifest};
use crate::engine::tags::policy::{Policy, Selected};
use crate::engine::tags::taxonomy::{self, Category, Entry};

/// Errors of similarity queries, tag filters and playlists.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimilarError {
    /// The model has no embedding output to compare tracks with.
    #[error("model {model} has no embedding output; similarity needs one ({with})")]
    NoEmbeddingOutput {
        /// The model asked for.
        model: String,
        /// The models found that have one, comma-separated.
        with: String,
    },
    /// There is nothing to compare with.
    #[error("no track to compare with")]
    Empty,
    /// An embedding of another width than the library's (another model).
    #[error("an embedding of {got} values where the library's have {expected}")]
    Width {
        /// The library's width.
        expected: usize,
        /// This embedding's.
        got: usize,
    },
    /// An embedding holding NaN or infinite values.
    #[error("the embedding holds values that are not finite numbers")]
    NonFinite,
    /// A `--tag` value that names no tag of the taxonomy.
    #[error("unknown tag '{0}' (give a name such as jazz, or category:name such as genre:jazz or mood:happy)")]
    UnknownTag(String),
    /// A `category:` prefix that is not a category.
    #[error("unknown category '{0}' (genre, mood, instrument, voice, era or feel)")]
    UnknownCategory(String),
    /// A tag asked for under another category than its own.
    #[error("{name} is a {actual} tag, not a {asked} one")]
    WrongCategory {
        /// The canonical name.
        name: &'static str,
        /// Its category.
        actual: &'static str,
        /// The category given.
        asked: &'static str,
    },
    /// A tag the model cannot give.
    #[error("model {model} has no tag for {name}{hint}")]
    NotInModel {
        /// The model.
        model: String,
        /// The canonical name.
        name: &'static str,
        /// Which models found have one (" (mtt and msd+mtt have one)"), or nothing.
        hint: String,
    },
}

/// How embeddings are standardised before the cosine distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Normalisation {
    /// The activations as they are.
    Raw,
    /// Minus the library's mean.
    Centred,
    /// Minus the library's mean, divided by its standard deviation, per dimension (the default,
    /// chosen by measurement: see the module documentation).
    #[default]
    ZScore,
}

impl Normalisation {
    /// Every normalisation.
    pub const ALL: [Normalisation; 3] = [Normalisation::Raw, Normalisation::Centred, Normalisation::ZScore];

    /// A short name for reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Normalisation::Raw => "raw",
            Normalisation::Centred => "centred",
            Normalisation::ZScore => "z-score",
        }
    }
}

/// Fails with [`SimilarError::NoEmbeddingOutput`] when the model has no embedding output,
/// naming the models found that have one.
pub fn require_embedding(manifest: &Manifest) -> Result<(), SimilarError> {
    if manifest.embedding_output.is_some() && manifest.embedding_size.is_some() {
        return Ok(());
    }
    let mut with: Vec<String> = model::available_manifests()
        .into_iter()
        .flatten()
        .filter(|m| m.embedding_output.is_some())
        .map(|m| short_name(&m.id).to_string())
        .collect();
    // The default model first: the one to suggest.
    with.sort_by_key(|m| m != model::DEFAULT_MODEL);
    let with = if with.is_empty() { "musicnn, crnn, …".to_string() } else { with.join(", ") };
    Err(SimilarError::NoEmbeddingOutput { model: manifest.id.clone(), with })
}

/// The alias `--model` accepts for a model id, or the id.
fn short_name(id: &str) -> &str {
    ["musicnn", "mtt", "msd+mtt", "crnn", "cnn"].into_iter().find(|a| model::alias_id(a) == id).unwrap_or(id)
}

/// One answer of a query.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Row of the track in the index.
    pub index: usize,
    /// The track.
    pub path: PathBuf,
    /// Cosine distance to the query (0 = same direction, 2 = opposite).
    pub distance: f32,
}

/// The library's embeddings, standardised and ready for queries.
#[derive(Debug, Clone)]
pub struct Index {
    paths: Vec<PathBuf>,
    width: usize,
    /// `paths.len()` rows of `width` values: standardised, then scaled to unit length.
    rows: Vec<f32>,
    mean: Vec<f32>,
    /// 1 / standard deviation per dimension (0 for a dimension that never varies).
    inv_std: Vec<f32>,
    normalisation: Normalisation,
    rejected: Vec<(PathBuf, SimilarError)>,
}

impl Index {
    /// An index of `items` (path, embedding) with the default normalisation.
    pub fn build(items: Vec<(PathBuf, Vec<f32>)>) -> Result<Index, SimilarError> {
        Index::build_with(items, Normalisation::default())
    }

    /// An index of `items` standardised with `normalisation` (statistics over these items).
    /// Items whose embedding is not finite or not as wide as the first one are left out and
    /// listed in [`Index::rejected`]; fails only when no item is left.
    pub fn build_with(items: Vec<(PathBuf, Vec<f32>)>, normalisation: Normalisation) -> Result<Index, SimilarError> {
        let width = items.iter().find(|(_, e)| !e.is_empty()).map(|(_, e)| e.len()).ok_or(SimilarError::Empty)?;
        let mut paths = Vec::with_capacity(items.len());
        let mut raw = Vec::with_capacity(items.len() * width);
        let mut rejected = Vec::new();
        for (path, embedding) in items {
            if embedding.len() != width {
                rejected.push((path, SimilarError::Width { expected: width, got: embedding.len() }));
            } else if !embedding.iter().all(|v| v.is_finite()) {
                rejected.push((path, SimilarError::NonFinite));
            } else {
                paths.push(path);
                raw.extend_from_slice(&embedding);
            }
        }
        let n = paths.len();
        if n == 0 {
            return Err(SimilarError::Empty);
        }
        // Statistics in f64: 100,000 tracks summed in f32 would lose the small dimensions.
        let mut sum = vec![0.0f64; width];
        for row in raw.chunks_exact(width) {
            for (s, &v) in sum.iter_mut().zip(row) {
                *s += f64::from(v);
            }
        }
        let mean64: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let mut var = vec![0.0f64; width];
        for row in raw.chunks_exact(width) {
            for ((acc, &v), m) in var.iter_mut().zip(row).zip(&mean64) {
                *acc += (f64::from(v) - m).powi(2);
            }
        }
        let (mean, inv_std): (Vec<f32>, Vec<f32>) = match normalisation {
            Normalisation::Raw => (vec![0.0; width], vec![1.0; width]),
            Normalisation::Centred => (mean64.iter().map(|&m| m as f32).collect(), vec![1.0; width]),
            Normalisation::ZScore => {
                let inv = var
                    .iter()
                    .zip(&mean64)
                    .map(|(v, m)| {
                        let sd = (v / n as f64).sqrt();
                        // A unit that never varies (or only by rounding) says nothing: weight 0.
                        if sd > 1e-6 * m.abs().max(1e-6) { (1.0 / sd) as f32 } else { 0.0 }
                    })
                    .collect();
                (mean64.iter().map(|&m| m as f32).collect(), inv)
            }
        };
        let mut index = Index { paths, width, rows: raw, mean, inv_std, normalisation, rejected };
        for i in 0..n {
            let row = &mut index.rows[i * width..(i + 1) * width];
            standardise(row, &index.mean, &index.inv_std);
        }
        Ok(index)
    }

    /// Number of tracks.
    pub fn len(&self) -> usize {
        self.paths.len()
    }

    /// Whether the index holds no track (never true for a built index).
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Values per embedding.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The normalisation in use.
    pub fn normalisation(&self) -> Normalisation {
        self.normalisation
    }

    /// The tracks, in row order.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Items left out when building, with why.
    pub fn rejected(&self) -> &[(PathBuf, SimilarError)] {
        &self.rejected
    }

    /// The row of `path` (compared as given: pass the same spelling the index was built with).
    pub fn position(&self, path: &Path) -> Option<usize> {
        self.paths.iter().position(|p| p == path)
    }

    /// An embedding standardised like the rows (library statistics) and scaled to unit length.
    pub fn standardised(&self, embedding: &[f32]) -> Result<Vec<f32>, SimilarError> {
        if embedding.len() != self.width {
            return Err(SimilarError::Width { expected: self.width, got: embedding.len() });
        }
        if !embedding.iter().all(|v| v.is_finite()) {
            return Err(SimilarError::NonFinite);
        }
        let mut q = embedding.to_vec();
        standardise(&mut q, &self.mean, &self.inv_std);
        Ok(q)
    }

    /// The cosine distance of every track to a standardised query ([`Index::standardised`]).
    pub fn distances(&self, standardised: &[f32]) -> Vec<f32> {
        self.rows.chunks_exact(self.width).map(|row| 1.0 - dot(row, standardised)).collect()
    }

    /// The `k` tracks nearest to `embedding` (a raw embedding of the same model), nearest
    /// first, leaving out the rows in `exclude`; ties are broken by row.
    pub fn nearest(&self, embedding: &[f32], k: usize, exclude: &[usize]) -> Result<Vec<Neighbour>, SimilarError> {
        let q = self.standardised(embedding)?;
        let mut d = self.distances(&q);
        for &i in exclude {
            if let Some(v) = d.get_mut(i) {
                *v = f32::INFINITY;
            }
        }
        let order = smallest(&d, k);
        Ok(order
            .into_iter()
            .filter(|&i| d[i].is_finite())
            .map(|i| Neighbour { index: i, path: self.paths[i].clone(), distance: d[i] })
            .collect())
    }

    /// The `k` tracks nearest to the track in row `row`, itself left out.
    pub fn neighbours_of(&self, row: usize, k: usize) -> Vec<Neighbour> {
        let Some(q) = self.rows.chunks_exact(self.width).nth(row) else { return Vec::new() };
        let mut d = self.distances(q);
        d[row] = f32::INFINITY;
        smallest(&d, k)
            .into_iter()
            .filter(|&i| d[i].is_finite())
            .map(|i| Neighbour { index: i, path: self.paths[i].clone(), distance: d[i] })
            .collect()
    }

    /// A playlist walk: up to `count` rows to play after the seeds (raw embeddings, in order),
    /// each once, never a row of `skip` (the seeds' own rows), only rows of `pool` when given.
    ///
    /// Each step goes to the unused track minimising the mean of its distance to the current
    /// track (the last seed, then the last track chosen) and its distance to the nearest seed.
    /// A plain nearest-neighbour chain drifts: each step is small but twenty of them can end
    /// far from what the user asked for; the seed term keeps the whole list near the seeds
    /// while the current-track term keeps consecutive tracks close.
    pub fn walk(&self, seeds: &[Vec<f32>], skip: &[usize], pool: Option<&[usize]>, count: usize) -> Result<Vec<usize>, SimilarError> {
        let seeds = seeds.iter().map(|s| self.standardised(s)).collect::<Result<Vec<_>, _>>()?;
        let Some(last) = seeds.last() else { return Err(SimilarError::Empty) };
        let mut candidate = vec![pool.is_none(); self.len()];
        for &i in pool.unwrap_or(&[]) {
            if let Some(c) = candidate.get_mut(i) {
                *c = true;
            }
        }
        for &i in skip {
            if let Some(c) = candidate.get_mut(i) {
                *c = false;
            }
        }
        let mut to_seeds = vec![f32::INFINITY; self.len()];
        for s in &seeds {
            for (best, d) in to_seeds.iter_mut().zip(self.distances(s)) {
                *best = best.min(d);
            }
        }
        let mut current = self.distances(last);
        let mut out = Vec::new();
        while out.len() < count {
            let next = (0..self.len())
                .filter(|&i| candidate[i])
                .min_by(|&a, &b| (current[a] + to_seeds[a]).total_cmp(&(current[b] + to_seeds[b])).then(a.cmp(&b)));
            let Some(next) = next else { break };
            candidate[next] = false;
            out.push(next);
            current = self.distances(&self.rows[next * self.width..(next + 1) * self.width]);
        }
        Ok(out)
    }
}

/// Standardises `v` in place ((v − mean) × inv_std), then scales it to unit length (a zero
/// vector stays zero: at distance 1 from everything).
fn standardise(v: &mut [f32], mean: &[f32], inv_std: &[f32]) {
    for ((x, m), s) in v.iter_mut().zip(mean).zip(inv_std) {
        *x = (*x - m) * s;
    }
    let norm = dot(v, v).sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x /= norm;
        }
    }
}

/// Dot product with 16 independent sums, so that the compiler vectorises it (a single running
/// sum is a dependency chain it may not reorder).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let (ca, ra) = a.as_chunks::<LANES>();
    let (cb, rb) = b.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + ra.iter().zip(rb).map(|(x, y)| x * y).sum::<f32>()
}

/// Indices of the `k` smallest values, smallest first (ties by index): a linear selection,
/// then a sort of the `k` only.
fn smallest(values: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    let cmp = |a: &usize, b: &usize| values[*a].total_cmp(&values[*b]).then(a.cmp(b));
    if k == 0 {
        return Vec::new();
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, cmp);
        order.truncate(k);
    }
    order.sort_by(cmp);
    order
}

/// A `--tag` value: a canonical tag, optionally restricted to a category (`genre:jazz`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagFilter {
    /// The category given, if any.
    pub category: Option<Category>,
    /// The canonical name ([`taxonomy::canonical`]).
    pub name: &'static str,
}

impl std::str::FromStr for TagFilter {
    type Err = SimilarError;

    /// `name` or `category:name`, matched case-insensitively ("Hip hop", "genre:JAZZ").
    fn from_str(s: &str) -> Result<TagFilter, SimilarError> {
        let (category, label) = match s.split_once(':') {
            Some((c, label)) => {
                let c = c.trim().to_ascii_lowercase();
                let category: Category = c.parse().map_err(|_| SimilarError::UnknownCategory(c.clone()))?;
                (Some(category), label)
            }
            None => (None, s),
        };
        let name = taxonomy::canonical(label).ok_or_else(|| SimilarError::UnknownTag(s.trim().to_string()))?;
        if let (Some(asked), Some(actual)) = (category, taxonomy::category_of(name))
            && asked != actual
        {
            return Err(SimilarError::WrongCategory { name, actual: actual.as_str(), asked: asked.as_str() });
        }
        Ok(TagFilter { category, name })
    }
}

impl TagFilter {
    /// Fails when the model has no tag standing for this one (it could never match), naming
    /// the models found that have one.
    pub fn check(&self, manifest: &Manifest) -> Result<(), SimilarError> {
        let has = |m: &Manifest| m.entries().iter().flatten().any(|e| e.name == self.name);
        if has(manifest) {
            return Ok(());
        }
        let with: Vec<String> =
            model::available_manifests().into_iter().flatten().filter(|m| has(m)).map(|m| short_name(&m.id).to_string()).collect();
        let hint = match with.len() {
            0 => String::new(),
            1 => format!(" ({} has one)", with[0]),
            n => format!(" ({} and {} have one)", with[..n - 1].join(", "), with[n - 1]),
        };
        Err(SimilarError::NotInModel { model: manifest.id.clone(), name: self.name, hint })
    }
}

/// A track's top canonical tags: what the default selection policy keeps in every category
/// (at most 3 genres, 2 moods and 2 of each other category, relative to the category's best).
pub fn top_tags(entries: &[Option<&'static Entry>], scores: &[f32]) -> Vec<Selected> {
    let policy = Policy { categories: Category::ALL.to_vec(), ..Policy::default() };
    policy.select(entries, scores).all().cloned().collect()
}

/// When every filter is among the track's top tags: the sum of their scores (to rank matching
/// tracks); otherwise `None`.
pub fn tag_match(entries: &[Option<&'static Entry>], scores: &[f32], filters: &[TagFilter]) -> Option<f32> {
    let top = top_tags(entries, scores);
    filters.iter().map(|f| top.iter().find(|t| t.name == f.name).map(|t| t.score)).sum()
}

/// What an M3U8 entry shows of a track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackInfo {
    /// Length in seconds, when known.
    pub duration_s: Option<f64>,
    /// Artist tag.
    pub artist: Option<String>,
    /// Title tag.
    pub title: Option<String>,
}

/// Title, artist and duration from a file's tags and stream properties (lofty); whatever cannot
/// be read is `None` (a playlist entry still works without it).
pub fn track_info(path: &Path) -> TrackInfo {
    use lofty::prelude::{Accessor, AudioFile, TaggedFileExt};
    let clean = |s: Option<std::borrow::Cow<'_, str>>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    // lofty has panicked on damaged files before: a bad file must not end the playlist.
    let Ok(Ok(file)) = std::panic::catch_unwind(|| lofty::read_from_path(path)) else { return TrackInfo::default() };
    let duration = file.properties().duration();
    let tag = file.primary_tag().or_else(|| file.first_tag());
    TrackInfo {
        duration_s: (duration > Duration::ZERO).then_some(duration.as_secs_f64()),
        artist: tag.and_then(|t| clean(t.artist())),
        title: tag.and_then(|t| clean(t.title())),
    }
}

/// `path` relative to the folder `base` (both made absolute and resolved first, so `..` steps
/// are right whatever symlinks lie on the way); `path` as it is when neither can be resolved.
pub fn relative_path(path: &Path, base: &Path) -> PathBuf {
    let (Ok(path), Ok(base)) = (std::fs::canonicalize(path), std::fs::canonicalize(base)) else { return path.to_path_buf() };
    let p: Vec<Component<'_>> = path.components().collect();
    let b: Vec<Component<'_>> = base.components().collect();
    let common = p.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &p[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// An extended M3U playlist (UTF-8, `#EXTM3U`, then per track `#EXTINF:<seconds>,<artist> -
/// <title>` and its path relative to the folder `base`). The title is the file name without
/// its extension when the tags have none; an unknown duration is -1. Paths are written as
/// their bytes. A track whose path holds a line break cannot be listed: those are returned
/// apart.
pub fn m3u8(tracks: &[(PathBuf, TrackInfo)], base: &Path) -> (Vec<u8>, Vec<PathBuf>) {
    use std::os::unix::ffi::OsStrExt;
    let one_line = |s: &str| s.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
    let mut out = b"#EXTM3U\n".to_vec();
    let mut left_out = Vec::new();
    for (path, info) in tracks {
        let relative = relative_path(path, base);
        let bytes = relative.as_os_str().as_bytes();
        if bytes.contains(&b'\n') || bytes.contains(&b'\r') {
            left_out.push(path.clone());
            continue;
        }
        let seconds = info.duration_s.map(|d| d.round() as i64).unwrap_or(-1);
        let title = info.title.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
        let shown = match &info.artist {
            Some(artist) => format!("{} - {}", one_line(artist), one_line(&title)),
            None => one_line(&title),
        };
        out.extend_from_slice(format!("#EXTINF:{seconds},{shown}\n").as_bytes());
        out.extend_from_slice(bytes);
        out.push(b'\n');
    }
    (out, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(rows: &[&[f32]]) -> Vec<(PathBuf, Vec<f32>)> {
        rows.iter().enumerate().map(|(i, r)| (PathBuf::from(format!("t{i}")), r.to_vec())).collect()
    }

    #[test]
    fn nearest_is_sorted_excludes_and_matches_a_plain_computation() {
        // Pseudo-random embeddings; distances checked against a direct f64 computation.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 1.0
        };
        let width = 37; // not a multiple of the 16 lanes
        let data: Vec<Vec<f32>> = (0..300).map(|_| (0..width).map(|_| next()).collect()).collect();
        let list: Vec<(PathBuf, Vec<f32>)> = data.iter().enumerate().map(|(i, r)| (PathBuf::from(format!("t{i}")), r.clone())).collect();
        let index = Index::build(list).unwrap();
        let mean: Vec<f64> = (0..width).map(|j| data.iter().map(|r| f64::from(r[j])).sum::<f64>() / 300.0).collect();
        let sd: Vec<f64> =
            (0..width).map(|j| (data.iter().map(|r| (f64::from(r[j]) - mean[j]).powi(2)).sum::<f64>() / 300.0).sqrt()).collect();
        let z = |r: &[f32]| -> Vec<f64> { r.iter().enumerate().map(|(j, &v)| (f64::from(v) - mean[j]) / sd[j]).collect() };
        let cos = |a: &[f64], b: &[f64]| {
            let d: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            d / (a.iter().map(|x| x * x).sum::<f64>().sqrt() * b.iter().map(|x| x * x).sum::<f64>().sqrt())
        };
        let q = z(&data[7]);
        let got = index.nearest(&data[7], 10, &[7, 3]).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|n| n.index != 7 && n.index != 3));
        assert!(got.windows(2).all(|w| w[0].distance <= w[1].distance), "nearest first");
        let mut want: Vec<(usize, f64)> = (0..300).filter(|&i| i != 7 && i != 3).map(|i| (i, 1.0 - cos(&q, &z(&data[i])))).collect();
        want.sort_by(|a, b| a.1.total_cmp(&b.1));
        for (n, (i, d)) in got.iter().zip(&want) {
            assert_eq!(n.index, *i);
            assert!((f64::from(n.distance) - d).abs() < 1e-5, "{} vs {d}", n.distance);
            assert_eq!(n.path, PathBuf::from(format!("t{i}")));
        }
        assert_eq!(index.neighbours_of(7, 3).iter().map(|n| n.index).collect::<Vec<_>>()[..2], [want[0].0, want[1].0]);
    }

    #[test]
    fn zscore_weighs_every_dimension_alike() {
        // Dimension 0 has a huge spread unrelated to the groups; dimensions 1 and 2 separate
        // group A (t0, t1) from group B (t2, t3).
        let rows: Vec<[f32; 3]> = vec![[100.0, 1.0, 1.0], [-100.0, 1.1, 0.9], [95.0, -1.0, -1.0], [-90.0, -1.1, -0.9]];
        let list = items(&rows.iter().map(|r| &r[..]).collect::<Vec<_>>());
        let raw = Index::build_with(list.clone(), Normalisation::Raw).unwrap();
        assert_eq!(raw.nearest(&rows[0], 1, &[0]).unwrap()[0].index, 2, "raw: the loud dimension wins");
        let z = Index::build_with(list, Normalisation::ZScore).unwrap();
        assert_eq!(z.normalisation(), Normalisation::ZScore);
        // Z-scored, every dimension counts alike: two of three agree within the group.
        let near = z.nearest(&rows[0], 3, &[0]).unwrap();
        assert_eq!(near.iter().map(|n| n.index).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(near[0].distance < 1.0 && near[1].distance > 1.0 && near[2].distance > 1.8, "{near:?}");
    }

    #[test]
    fn bad_rows_are_left_out_and_constant_dimensions_ignored() {
        let list = vec![
            (PathBuf::from("a"), vec![1.0, 5.0, 0.0]),
            (PathBuf::from("b"), vec![2.0, 5.0, 1.0]),
            (PathBuf::from("nan"), vec![f32::NAN, 5.0, 1.0]),
            (PathBuf::from("short"), vec![1.0]),
            (PathBuf::from("c"), vec![3.0, 5.0, 0.0]),
        ];
        let index = Index::build(list).unwrap();
        assert_eq!(index.paths(), [PathBuf::from("a"), PathBuf::from("b"), PathBuf::from("c")]);
        assert_eq!(index.rejected().len(), 2);
        assert_eq!(index.rejected()[1].1, SimilarError::Width { expected: 3, got: 1 });
        assert!(index.distances(&index.standardised(&[2.0, 5.0, 0.5]).unwrap()).iter().all(|d| d.is_finite()));
        assert_eq!(index.nearest(&[1.0], 1, &[]), Err(SimilarError::Width { expected: 3, got: 1 }));
        assert_eq!(Index::build(Vec::new()).err(), Some(SimilarError::Empty));
        // One track: nothing varies, every distance is defined.
        let one = Index::build(items(&[&[1.0, 2.0]])).unwrap();
        assert_eq!(one.nearest(&[3.0, 1.0], 5, &[]).unwrap().len(), 1);
    }

    #[test]
    fn walk_starts_at_the_seed_never_repeats_and_stays_in_the_pool() {
        // Points on a line: 0, 1, 2, ... 9 (two dimensions so that cosine means something).
        let rows: Vec<Vec<f32>> = (0..10).map(|i| vec![(i as f32 * 0.15).cos(), (i as f32 * 0.15).sin()]).collect();
        let list: Vec<(PathBuf, Vec<f32>)> = rows.iter().enumerate().map(|(i, r)| (PathBuf::from(format!("t{i}")), r.clone())).collect();
        let index = Index::build_with(list, Normalisation::Raw).unwrap();
        let walk = index.walk(&[rows[0].clone()], &[0], None, 5).unwrap();
        assert_eq!(walk, [1, 2, 3, 4, 5]);
        let all = index.walk(&[rows[4].clone()], &[4], None, 100).unwrap();
        assert_eq!(all.len(), 9, "every other track once");
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 9);
        assert!(!all.contains(&4));
        let pooled = index.walk(&[rows[0].clone()], &[0], Some(&[9, 5, 7]), 10).unwrap();
        assert_eq!(pooled, [5, 7, 9]);
        assert_eq!(index.walk(&[], &[], None, 3), Err(SimilarError::Empty));
    }

    #[test]
    fn tag_filters_parse_check_and_match() {
        let f: TagFilter = "genre:JAZZ".parse().unwrap();
        assert_eq!(f, TagFilter { category: Some(Category::Genre), name: "Jazz" });
        assert_eq!("hip hop".parse::<TagFilter>().unwrap().name, "Hip-Hop");
        assert_eq!("Mood:Happy".parse::<TagFilter>().unwrap().category, Some(Category::Mood));
        assert_eq!("kazoo".parse::<TagFilter>(), Err(SimilarError::UnknownTag("kazoo".into())));
        assert_eq!("colour:red".parse::<TagFilter>(), Err(SimilarError::UnknownCategory("colour".into())));
        assert_eq!("mood:jazz".parse::<TagFilter>(), Err(SimilarError::WrongCategory { name: "Jazz", actual: "genre", asked: "mood" }));
        let tags = ["jazz", "rock", "happy", "sad"];
        let entries: Vec<_> = tags.iter().map(|t| taxonomy::entry("msd", t)).collect();
        let jazz = [0.8, 0.1, 0.5, 0.02];
        let rock = [0.05, 0.7, 0.02, 0.3];
        let filters = [f, "happy".parse().unwrap()];
        assert!((tag_match(&entries, &jazz, &filters).unwrap() - 1.3).abs() < 1e-6);
        assert_eq!(tag_match(&entries, &rock, &filters), None);
        assert_eq!(tag_match(&entries, &rock, &["rock".parse().unwrap()]), Some(0.7));
    }

    #[test]
    fn m3u8_lists_relative_paths_with_titles_and_durations() {
        let dir = tempfile::tempdir().unwrap();
        let music = dir.path().join("music");
        let lists = dir.path().join("lists");
        std::fs::create_dir_all(music.join("a")).unwrap();
        std::fs::create_dir_all(&lists).unwrap();
        let one = music.join("a/one.mp3");
        let two = music.join("two.flac");
        std::fs::write(&one, b"x").unwrap();
        std::fs::write(&two, b"x").unwrap();
        let info = TrackInfo { duration_s: Some(61.6), artist: Some("Ann".into()), title: Some("Song\nOne".into()) };
        let (text, left_out) = m3u8(&[(one.clone(), info), (two.clone(), TrackInfo::default())], &lists);
        assert!(left_out.is_empty());
        let text = String::from_utf8(text).unwrap();
        assert_eq!(text, "#EXTM3U\n#EXTINF:62,Ann - Song One\n../music/a/one.mp3\n#EXTINF:-1,two\n../music/two.flac\n");
        assert_eq!(relative_path(&two, &music), PathBuf::from("two.flac"));
        assert_eq!(relative_path(&lists, &music.join("a")), PathBuf::from("../../lists"));
    }
}
