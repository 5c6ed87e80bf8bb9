//! Model manifests, locating ONNX Runtime, and one inference session per worker.
//!
//! The engine knows a model only through its manifest (`models/*.toml`) and the ONNX file the
//! manifest names: adding a model is adding a manifest.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use ndarray::{Array2, Array3, Array4, ArrayView2};
use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};

use crate::engine::features::FrontendParams;
use crate::engine::paths;

/// Errors from loading manifests, the runtime, or running a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime shared library was not found anywhere we look.
    #[error("ONNX Runtime library not found (looked in {searched}); {}, or set ORT_DYLIB_PATH to libonnxruntime.so", paths::setup_hint())]
    RuntimeNotFound { searched: String },
    /// The library exists but could not be loaded.
    #[error("could not load ONNX Runtime from {path}: {message}; {}", paths::setup_hint())]
    RuntimeLoad { path: PathBuf, message: String },
    /// A manifest could not be read or parsed.
    #[error("model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// `--model` named something we do not know.
    #[error("unknown model '{0}' (expected crnn, cnn, musicnn, a model id, or a path to a manifest .toml)")]
    UnknownModel(String),
    /// No model manifest anywhere we look (a broken or partial install).
    #[error("no models found (looked in {searched}); {}", paths::setup_hint())]
    NoModels { searched: String },
    /// The manifest exists but its ONNX file has not been generated.
    #[error("model file {} is missing; {hint}", .0.display(), hint = paths::setup_hint())]
    OnnxMissing(PathBuf),
    /// ONNX Runtime reported an error.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    /// The model returned something the manifest does not describe.
    #[error("model output has shape {got:?}, expected [{windows}, {tags}]")]
    OutputShape { got: Vec<usize>, windows: usize, tags: usize },
    /// The scores are not numbers (NaN or infinite): never reported as a result.
    #[error("the model's scores for this audio are not numbers (NaN or infinite)")]
    NotFinite,
}

impl<T> From<ort::Error<T>> for ModelError {
    fn from(e: ort::Error<T>) -> Self {
        ModelError::Ort(e.to_string())
    }
}

/// How the model wants its input tensor laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputLayout {
    /// `[N, 1, n_mels, frames]` (the Choi et al. Keras models, channels first).
    Nchw,
    /// `[N, frames, n_mels]` (musicnn: time first).
    Ntf,
}

/// A model manifest: everything the engine needs besides the ONNX file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Stable id, used in caches and output.
    pub id: String,
    /// Short display name.
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// ONNX file, relative to the manifest's folder.
    pub onnx: PathBuf,
    /// Number of trained parameters.
    pub parameters: u64,
    /// Input tensor layout.
    pub input_layout: InputLayout,
    /// Where the original weights come from.
    #[serde(default)]
    pub source_url: String,
    /// sha256 of the original weights.
    #[serde(default)]
    pub source_sha256: String,
    /// Licence of the weights.
    #[serde(default)]
    pub license: String,
    /// Command that generates the ONNX file.
    #[serde(default)]
    pub converter: String,
    /// Tag names in output order.
    pub tags: Vec<String>,
    /// Front-end parameters (sample rate, STFT, mel, windowing).
    pub frontend: FrontendParams,
    /// Name of the ONNX output holding the penultimate layer (for similarity), if any.
    #[serde(default)]
    pub embedding_output: Option<String>,
    /// Width of that output.
    #[serde(default)]
    pub embedding_size: Option<usize>,
    /// The vocabulary of `tags` ("msd": Million Song Dataset top-50 Last.fm tags; "mtt":
    /// MagnaTagATune top-50), which names them in [`crate::engine::tags::taxonomy`].
    #[serde(default = "msd")]
    pub vocabulary: String,
    /// Model inputs per ONNX Runtime call, when measured better than [`default_batch`] (it
    /// changes speed and memory, never the scores).
    #[serde(default)]
    pub batch: Option<usize>,
    /// For a tagger made of several models: the models (their outputs form one result).
    #[serde(skip)]
    pub parts: Vec<Arc<Manifest>>,
    /// Folder the manifest was read from (not part of the file).
    #[serde(skip)]
    pub dir: PathBuf,
    /// The manifest file itself (not part of the file).
    #[serde(skip)]
    pub path: PathBuf,
    #[serde(skip)]
    fingerprint: OnceLock<String>,
}

fn msd() -> String {
    "msd".into()
}

/// A manifest of a tagger made of several models: `parts` are model ids, found beside it.
#[derive(Debug, Deserialize)]
struct CombinedFile {
    id: String,
    name: String,
    #[serde(default)]
    description: String,
    parts: Vec<String>,
}

impl Manifest {
    /// Reads and checks a manifest file (of one model, or of a tagger made of several).
    pub fn load(path: &Path) -> Result<Manifest, ModelError> {
        let err = |message: String| ModelError::Manifest { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let value: toml::Table = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        if value.contains_key("parts") {
            let combined: CombinedFile = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
            return Manifest::combine(path, combined);
        }
        let mut manifest: Manifest = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        manifest.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        manifest.path = path.to_path_buf();
        let f = &manifest.frontend;
        if manifest.tags.is_empty() {
            return Err(err("no tags listed".into()));
        }
        if f.sample_rate_hz == 0
            || f.n_fft == 0
            || !f.n_fft.is_multiple_of(2)
            || f.hop_samples == 0
            || f.n_mels == 0
            || f.frames_per_window == 0
            || f.window_samples == 0
        {
            return Err(err("front-end sizes must be positive (and n_fft even)".into()));
        }
        if let Some([pass, stop]) = f.resampler_rolloff_hz
            && !(pass >= 0.0 && pass < stop)
        {
            return Err(err(format!("resampler_rolloff_hz = [{pass}, {stop}]: need 0 <= pass < stop")));
        }
        Ok(manifest)
    }

    /// Builds the manifest of a tagger made of several models: one front end (the parts must
    /// share it, so audio is decoded and its log-mel computed once), the parts' tags one after
    /// the other, named `vocabulary:tag`, and their embeddings side by side.
    fn combine(path: &Path, file: CombinedFile) -> Result<Manifest, ModelError> {
        let err = |message: String| ModelError::Manifest { path: path.to_path_buf(), message };
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if file.parts.len() < 2 {
            return Err(err("a combined tagger needs at least two parts".into()));
        }
        let mut parts = Vec::new();
        for id in &file.parts {
            let beside = dir.join(format!("{id}.toml"));
            let part = if beside.is_file() { Manifest::load(&beside)? } else { resolve_model(id)? };
            if !part.parts.is_empty() {
                return Err(err(format!("part {id} is itself combined")));
            }
            parts.push(Arc::new(part));
        }
        let first = &parts[0];
        if let Some(other) = parts.iter().find(|p| p.frontend != first.frontend || p.input_layout != first.input_layout) {
            return Err(err(format!("{} and {} have different front ends: combine only models that share one", first.id, other.id)));
        }
        let tags = parts.iter().flat_map(|p| p.tags.iter().map(move |t| format!("{}:{t}", p.vocabulary))).collect();
        let embeddings = parts.iter().all(|p| p.embedding_output.is_some() && p.embedding_size.is_some());
        Ok(Manifest {
            id: file.id,
            name: file.name,
            description: file.description,
            onnx: PathBuf::new(),
            parameters: parts.iter().map(|p| p.parameters).sum(),
            input_layout: first.input_layout,
            source_url: String::new(),
            source_sha256: String::new(),
            license: parts.iter().map(|p| p.license.clone()).collect::<Vec<_>>().join("; "),
            converter: String::new(),
            tags,
            frontend: first.frontend.clone(),
            embedding_output: embeddings.then(|| "embedding".into()),
            embedding_size: embeddings.then(|| parts.iter().filter_map(|p| p.embedding_size).sum()),
            vocabulary: parts.iter().map(|p| p.vocabulary.as_str()).collect::<Vec<_>>().join("+"),
            batch: parts.iter().filter_map(|p| p.batch).min(),
            parts,
            dir,
            path: path.to_path_buf(),
            fingerprint: OnceLock::new(),
        })
    }

    /// Model inputs per ONNX Runtime call: the manifest's `batch`, else [`default_batch`].
    pub fn batch_size(&self) -> usize {
        self.batch.unwrap_or_else(|| default_batch(&self.frontend))
    }

    /// Absolute path of the ONNX file (empty for a combined tagger: see [`Self::is_ready`]).
    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(&self.onnx)
    }

    /// Whether the model can run: its ONNX file (every part's, when combined) is converted.
    pub fn is_ready(&self) -> bool {
        if self.parts.is_empty() { self.onnx_path().is_file() } else { self.parts.iter().all(|p| p.is_ready()) }
    }

    /// The taxonomy entry of each tag, in output order (`None` for a tag outside it).
    pub fn entries(&self) -> Vec<Option<&'static crate::engine::tags::taxonomy::Entry>> {
        self.tags
            .iter()
            .map(|t| match t.split_once(':') {
                Some((vocabulary, tag)) if !self.parts.is_empty() => crate::engine::tags::taxonomy::entry(vocabulary, tag),
                _ => crate::engine::tags::taxonomy::entry(&self.vocabulary, t),
            })
            .collect()
    }

    /// A short hash of the manifest file and the ONNX file (computed once): results cached under
    /// another fingerprint came from another version of the model and are not served.
    pub fn fingerprint(&self) -> &str {
        self.fingerprint.get_or_init(|| {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for part in &self.parts {
                h.update(part.fingerprint().as_bytes());
            }
            for file in [&self.path, &self.onnx_path()] {
                // A missing file hashes as empty: no session can open anyway.
                let bytes = std::fs::read(file).unwrap_or_default();
                h.update((bytes.len() as u64).to_le_bytes());
                h.update(&bytes);
            }
            h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
        })
    }
}

/// Every manifest found in [`paths::model_dirs`], sorted by id; when two folders hold the same
/// model id, the first folder in search order wins.
pub fn available_manifests() -> Vec<Result<Manifest, ModelError>> {
    let mut found: Vec<Result<Manifest, ModelError>> = Vec::new();
    let mut ids = std::collections::HashSet::new();
    for dir in paths::model_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut files: Vec<PathBuf> =
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|x| x == "toml")).collect();
        files.sort();
        for file in files {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            match Manifest::load(&file) {
                Ok(m) if ids.insert(m.id.clone()) => found.push(Ok(m)),
                Ok(_) => {}
                Err(e) if ids.insert(stem) => found.push(Err(e)),
                Err(_) => {}
            }
        }
    }
    found.sort_by(|a, b| match (a, b) {
        (Ok(a), Ok(b)) => a.id.cmp(&b.id),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => std::cmp::Ordering::Equal,
    });
    found
}

/// The model used when none is named: musicnn, the most accurate in our measurements
/// (README, "Models"); `--model crnn` selects the upstream CRNN.
pub const DEFAULT_MODEL: &str = "musicnn";

/// The id a short alias stands for (`crnn`, `cnn`, `musicnn`, `mtt`, `msd+mtt`), or the spec
/// itself.
pub fn alias_id(spec: &str) -> &str {
    match spec {
        "crnn" => "choi2016_crnn",
        "cnn" | "conv2d" => "choi2016_cnn",
        "musicnn" => "musicnn_msd",
        "mtt" => "musicnn_mtt",
        "msd+mtt" | "combined" => "musicnn_msd_mtt",
        other => other,
    }
}

/// Resolves `--model`: a short alias (`crnn`, `cnn`, `musicnn`), a model id, or a manifest path.
pub fn resolve_model(spec: &str) -> Result<Manifest, ModelError> {
    let as_path = Path::new(spec);
    if spec.ends_with(".toml") || as_path.is_file() {
        return Manifest::load(as_path);
    }
    let id = alias_id(spec);
    let dirs = paths::model_dirs();
    for dir in &dirs {
        let path = dir.join(format!("{id}.toml"));
        if path.is_file() {
            return Manifest::load(&path);
        }
    }
    // Naming the model is not the problem when there are none at all: say what to run.
    if available_manifests().is_empty() {
        let searched = dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>();
        return Err(ModelError::NoModels { searched: searched.join(", ") });
    }
    Err(ModelError::UnknownModel(spec.to_string()))
}

static RUNTIME: OnceLock<Result<(Environment, PathBuf), ModelError>> = OnceLock::new();

/// Loads ONNX Runtime once per process (the first of [`paths::runtime_candidates`] that
/// exists) and returns its environment.
pub fn runtime() -> Result<&'static Environment, ModelError> {
    loaded_runtime().map(|(env, _)| env)
}

fn loaded_runtime() -> Result<&'static (Environment, PathBuf), ModelError> {
    let result = RUNTIME.get_or_init(|| {
        let candidates = paths::runtime_candidates();
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
            return Err(ModelError::RuntimeNotFound { searched: searched.join(", ") });
        };
        let load = |message: String| ModelError::RuntimeLoad { path: path.clone(), message };
        let builder = ort::init_from(path).map_err(|e| load(e.to_string()))?;
        let env = builder.with_name("melotag").with_telemetry(false).build().map_err(|e| load(e.to_string()))?;
        Ok((env, path.clone()))
    });
    result.as_ref().map_err(Clone::clone)
}

/// Where the runtime was loaded from, and its version ("1.31.1"), loading it if needed.
pub fn runtime_info() -> Result<(PathBuf, String), ModelError> {
    let (_, path) = loaded_runtime()?;
    // The build info names the version only for release-branch builds ("git-branch=rel-1.31.1");
    // the wheel's library says "git-branch=HEAD", so ask the library itself first.
    let info = ort::info();
    let version = library_version(path)
        .or_else(|| info.split([',', ' ']).find_map(|part| part.strip_prefix("git-branch=rel-")).map(str::to_string))
        .unwrap_or_else(|| info.to_string());
    Ok((path.clone(), version))
}

/// The version string ONNX Runtime reports through its C API (`OrtGetApiBase()->GetVersionString()`).
fn library_version(path: &Path) -> Option<String> {
    // SAFETY: `path` is the library ort has already loaded and initialised, so opening it again
    // only takes another reference to it (no initialisers run twice). `OrtGetApiBase` is the C
    // API's one exported entry point, with this signature in every version; its
    // `GetVersionString` returns a NUL-terminated string owned by the library, copied here
    // before our reference is dropped (ort's keeps the library loaded).
    unsafe {
        let library = libloading::Library::new(path).ok()?;
        let api_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> = library.get(b"OrtGetApiBase").ok()?;
        let base = api_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        std::ffi::CStr::from_ptr(version).to_str().ok().map(str::to_string)
    }
}

/// The inference sessions of one model (one per part for a combined tagger); each worker owns
/// one (`Session::run` takes `&mut`).
pub struct Tagger {
    sessions: Vec<(Session, Arc<Manifest>)>,
    manifest: Arc<Manifest>,
    batch: usize,
}

/// At most this many model inputs per ONNX Runtime call.
const MAX_BATCH: usize = 16;
/// And at most this many input values per call: activations grow with the batch (musicnn's
/// first layer keeps ~9 MB per 3 s patch, the CRNN's ~35 MB per 29 s window), so whole-track
/// analysis stays within a few hundred MB: 4 musicnn patches, 1 Choi window.
const MAX_BATCH_VALUES: usize = 75_000;

/// Model inputs per ONNX Runtime call for a front end, unless a manifest or the caller says.
pub fn default_batch(params: &crate::engine::features::FrontendParams) -> usize {
    (MAX_BATCH_VALUES / (params.n_mels * params.frames_per_window).max(1)).clamp(1, MAX_BATCH)
}

/// How a session runs; none of it changes the scores beyond rounding (within 1e-6,
/// `tests/tuning.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionSettings {
    /// ONNX Runtime intra-op threads (one worker per core uses 1).
    pub intra_threads: usize,
    /// Idle intra-op threads spin (ONNX Runtime's default) instead of sleeping at once.
    pub spin: bool,
    /// ONNX Runtime's memory arena. On by default: a call holds at most the session's batch
    /// (always one input for the shipped models), so the arena hands the same blocks back each
    /// call. Without it, each call maps its large activations afresh from the kernel and faults
    /// their pages in (CRNN 35 MB, musicnn 9 MB): the CRNN's inference took 50 % longer
    /// (README, "Inference speed").
    pub arena: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings { intra_threads: 1, spin: true, arena: true }
    }
}

impl Tagger {
    /// Opens a session on the manifest's ONNX file (each part's, when combined) with
    /// `intra_threads` intra-op threads.
    pub fn new(manifest: Arc<Manifest>, intra_threads: usize) -> Result<Tagger, ModelError> {
        Tagger::with_settings(manifest, SessionSettings { intra_threads, ..SessionSettings::default() })
    }

    /// [`Tagger::new`] with every session setting given.
    pub fn with_settings(manifest: Arc<Manifest>, settings: SessionSettings) -> Result<Tagger, ModelError> {
        let models: Vec<Arc<Manifest>> = if manifest.parts.is_empty() { vec![manifest.clone()] } else { manifest.parts.clone() };
        let mut sessions = Vec::new();
        for m in models {
            let onnx = m.onnx_path();
            if !onnx.is_file() {
                return Err(ModelError::OnnxMissing(onnx));
            }
            let environment = runtime()?;
            let session = Session::builder(environment)?
                .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(settings.arena).build()])?
                .with_optimization_level(GraphOptimizationLevel::Level3)?
                .with_intra_threads(settings.intra_threads.max(1))?
                .with_inter_threads(1)?
                .with_intra_op_spinning(settings.spin)?
                .commit_from_file(&onnx)?;
            sessions.push((session, m));
        }
        let batch = manifest.batch_size();
        Ok(Tagger { sessions, manifest, batch })
    }

    /// Model inputs per ONNX Runtime call (the scores do not depend on it).
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Sets the model inputs per call (at least 1).
    pub fn set_batch(&mut self, batch: usize) {
        self.batch = batch.max(1);
    }

    /// The model these sessions run.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// Scores a batch of log-mel windows (each `[n_mels, frames]`): one row of tag scores each,
    /// and one embedding each when the manifest names an embedding output. A combined tagger
    /// runs every part on the same input tensor and joins their rows.
    pub fn predict(&mut self, windows: &[ArrayView2<'_, f32>]) -> Result<Predictions, ModelError> {
        if windows.is_empty() {
            return Ok(Predictions::default());
        }
        let (n_mels, frames) = windows[0].dim();
        let batch = windows.len();
        let input = match self.manifest.input_layout {
            InputLayout::Nchw => {
                let mut input = Array4::<f32>::zeros((batch, 1, n_mels, frames));
                for (i, w) in windows.iter().enumerate() {
                    input.slice_mut(ndarray::s![i, 0, .., ..]).assign(w);
                }
                input.into_dyn()
            }
            InputLayout::Ntf => {
                let mut input = Array3::<f32>::zeros((batch, frames, n_mels));
                for (i, w) in windows.iter().enumerate() {
                    input.slice_mut(ndarray::s![i, .., ..]).assign(&w.t());
                }
                input.into_dyn()
            }
        };
        let mut joined = Predictions { tags: vec![Vec::new(); batch], embeddings: None };
        for (session, m) in &mut self.sessions {
            let p = run_one(session, m, &input, batch)?;
            for (row, part) in joined.tags.iter_mut().zip(p.tags) {
                row.extend(part);
            }
            match (p.embeddings, &mut joined.embeddings) {
                (Some(e), Some(rows)) => {
                    for (row, part) in rows.iter_mut().zip(e) {
                        row.extend(part);
                    }
                }
                (Some(e), None) => joined.embeddings = Some(e),
                (None, _) => {}
            }
        }
        if self.manifest.embedding_output.is_none() {
            joined.embeddings = None;
        }
        Ok(joined)
    }
}

/// Runs one model's session on an input tensor of `batch` windows.
fn run_one(session: &mut Session, m: &Manifest, input: &ndarray::ArrayD<f32>, batch: usize) -> Result<Predictions, ModelError> {
    let n_tags = m.tags.len();
    let outputs = session.run(ort::inputs![TensorRef::from_array_view(input)?])?;
    let scores = outputs[0].try_extract_array::<f32>()?;
    let shape = scores.shape().to_vec();
    if shape != [batch, n_tags] {
        return Err(ModelError::OutputShape { got: shape, windows: batch, tags: n_tags });
    }
    let scores: Array2<f32> = scores.into_dimensionality::<ndarray::Ix2>().map_err(|e| ModelError::Ort(e.to_string()))?.to_owned();
    if !scores.iter().all(|s| s.is_finite()) {
        return Err(ModelError::NotFinite);
    }
    let tags = scores.outer_iter().map(|row| row.to_vec()).collect();
    let embeddings = match (&m.embedding_output, m.embedding_size) {
        (Some(name), Some(width)) => {
            let value = outputs.get(name.as_str()).ok_or_else(|| ModelError::Ort(format!("the model has no output '{name}'")))?;
            let emb = value.try_extract_array::<f32>()?;
            let shape = emb.shape().to_vec();
            if shape != [batch, width] {
                return Err(ModelError::OutputShape { got: shape, windows: batch, tags: width });
            }
            Some(emb.outer_iter().map(|row| row.iter().copied().collect()).collect())
        }
        _ => None,
    };
    Ok(Predictions { tags, embeddings })
}

/// What one batch of windows gave.
#[derive(Debug, Clone, Default)]
pub struct Predictions {
    /// Tag scores, one row per window.
    pub tags: Vec<Vec<f32>>,
    /// Penultimate-layer activations, one row per window (when the model has them).
    pub embeddings: Option<Vec<Vec<f32>>>,
}
