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

use crate::features::FrontendParams;

/// File name of the ONNX Runtime shared library on this platform.
const ORT_LIB_NAME: &str = "libonnxruntime.so";

/// Errors from loading manifests, the runtime, or running a model.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModelError {
    /// The ONNX Runtime shared library was not found anywhere we look.
    #[error(
        "ONNX Runtime library not found (looked in {searched}); run `make setup` in the melotag folder, or set ORT_DYLIB_PATH to libonnxruntime.so"
    )]
    RuntimeNotFound { searched: String },
    /// The library exists but could not be loaded.
    #[error("could not load ONNX Runtime from {path}: {message}; run `make setup` to reinstall it")]
    RuntimeLoad { path: PathBuf, message: String },
    /// A manifest could not be read or parsed.
    #[error("model manifest {path}: {message}")]
    Manifest { path: PathBuf, message: String },
    /// `--model` named something we do not know.
    #[error("unknown model '{0}' (expected crnn, cnn, musicnn, a model id, or a path to a manifest .toml)")]
    UnknownModel(String),
    /// The manifest exists but its ONNX file has not been generated.
    #[error("model file {0} is missing; run `make setup` to convert the models")]
    OnnxMissing(PathBuf),
    /// ONNX Runtime reported an error.
    #[error("ONNX Runtime: {0}")]
    Ort(String),
    /// The model returned something the manifest does not describe.
    #[error("model output has shape {got:?}, expected [{windows}, {tags}]")]
    OutputShape { got: Vec<usize>, windows: usize, tags: usize },
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
    /// Folder the manifest was read from (not part of the file).
    #[serde(skip)]
    pub dir: PathBuf,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ModelError> {
        let err = |message: String| ModelError::Manifest { path: path.to_path_buf(), message };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let mut manifest: Manifest = toml::from_str(&text).map_err(|e| err(e.to_string()))?;
        manifest.dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let f = &manifest.frontend;
        if manifest.tags.is_empty() {
            return Err(err("no tags listed".into()));
        }
        if f.sample_rate_hz == 0
            || f.n_fft == 0
            || f.n_fft % 2 != 0
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

    /// Absolute path of the ONNX file.
    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(&self.onnx)
    }
}

/// Folders that may hold model manifests, in search order.
fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("MELOTAG_MODELS_DIR") {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(exe_dir) = exe_dir() {
        dirs.push(exe_dir.join("models"));
    }
    // A binary built from the source tree finds the tree's models (also after `cargo install`
    // from a checkout, which is how the README installs it).
    dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models"));
    dirs
}

/// Every manifest in the first models folder that has any.
pub fn available_manifests() -> Vec<Result<Manifest, ModelError>> {
    for dir in model_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        if paths.is_empty() {
            continue;
        }
        paths.sort();
        return paths.iter().map(|p| Manifest::load(p)).collect();
    }
    Vec::new()
}

/// The model used when none is named: musicnn, the most accurate in our measurements
/// (README, "Models"); `--model crnn` selects the upstream CRNN.
pub const DEFAULT_MODEL: &str = "musicnn";

/// Resolves `--model`: a short alias (`crnn`, `cnn`, `musicnn`), a model id, or a manifest path.
pub fn resolve_model(spec: &str) -> Result<Manifest, ModelError> {
    let as_path = Path::new(spec);
    if spec.ends_with(".toml") || as_path.is_file() {
        return Manifest::load(as_path);
    }
    let id = match spec {
        "crnn" => "choi2016_crnn",
        "cnn" | "conv2d" => "choi2016_cnn",
        "musicnn" => "musicnn_msd",
        other => other,
    };
    for dir in model_dirs() {
        let path = dir.join(format!("{id}.toml"));
        if path.is_file() {
            return Manifest::load(&path);
        }
    }
    Err(ModelError::UnknownModel(spec.to_string()))
}

fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe().ok()?.parent().map(Path::to_path_buf)
}

/// The project's cache folder for the runtime, as `make setup` fills it.
pub fn project_runtime_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".cache").join("onnxruntime")
}

/// Candidate locations of the ONNX Runtime library, in search order.
fn runtime_candidates() -> Vec<PathBuf> {
    // An explicit ORT_DYLIB_PATH is the user's choice: use it alone.
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(path)];
    }
    let mut candidates = Vec::new();
    if let Some(dir) = exe_dir() {
        candidates.push(dir.join(ORT_LIB_NAME));
        candidates.push(dir.join("lib").join(ORT_LIB_NAME));
    }
    candidates.push(project_runtime_dir().join(ORT_LIB_NAME));
    if let Some(dirs) = directories::ProjectDirs::from("", "", "melotag") {
        candidates.push(dirs.cache_dir().join("onnxruntime").join(ORT_LIB_NAME));
    }
    candidates
}

static RUNTIME: OnceLock<Result<Environment, ModelError>> = OnceLock::new();

/// Loads ONNX Runtime once per process and returns its environment.
pub fn runtime() -> Result<&'static Environment, ModelError> {
    let result = RUNTIME.get_or_init(|| {
        let candidates = runtime_candidates();
        let Some(path) = candidates.iter().find(|p| p.is_file()) else {
            let searched = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
            return Err(ModelError::RuntimeNotFound { searched: searched.join(", ") });
        };
        let load = |message: String| ModelError::RuntimeLoad { path: path.clone(), message };
        let builder = ort::init_from(path).map_err(|e| load(e.to_string()))?;
        builder.with_name("melotag").with_telemetry(false).build().map_err(|e| load(e.to_string()))
    });
    result.as_ref().map_err(Clone::clone)
}

/// One inference session for one model; each worker owns one (`Session::run` takes `&mut`).
pub struct Tagger {
    session: Session,
    manifest: Arc<Manifest>,
}

impl Tagger {
    /// Opens a session on the manifest's ONNX file with `intra_threads` intra-op threads.
    pub fn new(manifest: Arc<Manifest>, intra_threads: usize) -> Result<Tagger, ModelError> {
        let onnx = manifest.onnx_path();
        if !onnx.is_file() {
            return Err(ModelError::OnnxMissing(onnx));
        }
        let environment = runtime()?;
        let session = Session::builder(environment)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?
            .with_intra_threads(intra_threads.max(1))?
            .with_inter_threads(1)?
            .commit_from_file(&onnx)?;
        Ok(Tagger { session, manifest })
    }

    /// The model this session runs.
    pub fn manifest(&self) -> &Arc<Manifest> {
        &self.manifest
    }

    /// Scores a batch of log-mel windows (each `[n_mels, frames]`), one row of tag scores each.
    pub fn predict(&mut self, windows: &[ArrayView2<'_, f32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let (n_mels, frames) = windows[0].dim();
        let batch = windows.len();
        let n_tags = self.manifest.tags.len();
        let outputs = match self.manifest.input_layout {
            InputLayout::Nchw => {
                let mut input = Array4::<f32>::zeros((batch, 1, n_mels, frames));
                for (i, w) in windows.iter().enumerate() {
                    input.slice_mut(ndarray::s![i, 0, .., ..]).assign(w);
                }
                self.session.run(ort::inputs![TensorRef::from_array_view(&input)?])?
            }
            InputLayout::Ntf => {
                let mut input = Array3::<f32>::zeros((batch, frames, n_mels));
                for (i, w) in windows.iter().enumerate() {
                    input.slice_mut(ndarray::s![i, .., ..]).assign(&w.t());
                }
                self.session.run(ort::inputs![TensorRef::from_array_view(&input)?])?
            }
        };
        let scores = outputs[0].try_extract_array::<f32>()?;
        let shape = scores.shape().to_vec();
        if shape != [batch, n_tags] {
            return Err(ModelError::OutputShape { got: shape, windows: batch, tags: n_tags });
        }
        let scores: Array2<f32> = scores
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|e| ModelError::Ort(e.to_string()))?
            .to_owned();
        Ok(scores.outer_iter().map(|row| row.to_vec()).collect())
    }
}
