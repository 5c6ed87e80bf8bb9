//! Analysis jobs: decode → log-mel → model for each file, on a pool of worker threads that send
//! typed per-file events over a channel (the CLI and the GUI consume the same events).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::engine::audio::{self, AudioError, LoadedAudio};
use crate::engine::features::{MelFrontend, Windowing};
use crate::engine::model::{Manifest, ModelError, SessionSettings, Tagger};

/// Which part of a track is analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The upstream recipe: one window from the centre of the track (zero-padded when shorter).
    #[default]
    Center,
    /// Consecutive windows over the whole track; the track score is their mean.
    Full,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 2] = [Mode::Center, Mode::Full];

    /// Lower-case name, as in the CLI and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Center => "center",
            Mode::Full => "full",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| format!("unknown mode '{s}' (center or full)"))
    }
}

/// What kind of failure a file's analysis met: callers decide on this, never on the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The file could not be opened or read (permissions, vanished, I/O): may work later.
    Unreadable,
    /// Not a regular file (a FIFO, a device, a socket).
    NotAFile,
    /// The content is not audio melotag can decode (empty, garbage, damaged, unsupported).
    BadAudio,
    /// The model or the runtime failed.
    Model,
    /// A bug in a decoder or in melotag, caught so the batch goes on.
    Internal,
}

impl ErrorKind {
    /// Whether the failure belongs to the file's content, so that it holds until the file
    /// changes (and can be cached); unreadable files, model and internal errors can go away.
    pub fn is_lasting(self) -> bool {
        matches!(self, ErrorKind::BadAudio | ErrorKind::NotAFile)
    }
}

/// Why one file has no scores: a kind to decide on and a one-line message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct TrackError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// One line for people.
    pub message: String,
}

impl TrackError {
    /// A failure of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> TrackError {
        TrackError { kind, message: message.into() }
    }
}

impl From<&AnalysisError> for TrackError {
    fn from(e: &AnalysisError) -> TrackError {
        let kind = match e {
            AnalysisError::Audio(AudioError::Io { .. }) => ErrorKind::Unreadable,
            AnalysisError::Audio(AudioError::NotAFile(_)) => ErrorKind::NotAFile,
            AnalysisError::Audio(_) => ErrorKind::BadAudio,
            AnalysisError::Model(_) => ErrorKind::Model,
            AnalysisError::Panic(_) => ErrorKind::Internal,
        };
        TrackError { kind, message: e.to_string() }
    }
}

/// Errors analysing one file.
#[derive(Debug, thiserror::Error)]
pub enum AnalysisError {
    /// Decoding or resampling failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// The model failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A bug in a decoder or in melotag; caught so the batch goes on.
    #[error("internal error while analysing this file: {0}")]
    Panic(String),
}

/// Time spent in each stage for one file (or summed over many).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct StageTimes {
    /// Reading and decoding the container/codec.
    pub decode: Duration,
    /// Resampling to the model rate.
    pub resample: Duration,
    /// Log-mel front end.
    pub mel: Duration,
    /// ONNX Runtime.
    pub inference: Duration,
    /// Log-mel frames computed (once per input, however many models a combined tagger runs).
    pub mel_frames: u64,
    /// Model inputs (windows or patches) run through the model.
    pub model_inputs: u64,
}

impl std::ops::AddAssign for StageTimes {
    fn add_assign(&mut self, o: StageTimes) {
        self.decode += o.decode;
        self.resample += o.resample;
        self.mel += o.mel;
        self.inference += o.inference;
        self.mel_frames += o.mel_frames;
        self.model_inputs += o.model_inputs;
    }
}

/// A successful analysis of one track.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// Whole-track duration, when known.
    pub duration_s: Option<f64>,
    /// Track-level scores, one per tag (mean over windows in full mode).
    pub scores: Vec<f32>,
    /// Per-window scores (full mode only): the taggram.
    pub windows: Option<Vec<Vec<f32>>>,
    /// Start of each window in seconds (full mode only).
    pub window_starts_s: Option<Vec<f64>>,
    /// Mean of the model's penultimate layer over the windows (models that have one).
    pub embedding: Option<Vec<f32>>,
}

/// The result for one file of a job.
#[derive(Debug, Clone)]
pub struct TrackResult {
    /// The file.
    pub path: PathBuf,
    /// Scores, or why there are none.
    pub outcome: Result<Analysis, TrackError>,
    /// Per-stage time.
    pub times: StageTimes,
    /// Whether the result came from the analysis cache.
    pub cached: bool,
}

/// Events a running job sends, in the order they happen.
#[derive(Debug)]
pub enum Event {
    /// A worker started on file `index`.
    Started { index: usize },
    /// File `index` is finished (scored or failed).
    Finished { index: usize, result: Box<TrackResult> },
    /// Every file is finished, or the job was cancelled.
    Done { cancelled: bool },
}

/// Splits samples at the model rate into windows of `window` samples, as `full` mode analyses
/// them: consecutive windows; a tail of at least a quarter window gets one more window aligned
/// to the end of the track (overlapping the previous one) instead of being zero-padded; a track
/// shorter than one window is one zero-padded window.
pub fn window_starts(n_samples: usize, window: usize) -> Vec<usize> {
    if n_samples <= window {
        return vec![0];
    }
    let mut starts: Vec<usize> = (0..n_samples / window).map(|k| k * window).collect();
    let tail = n_samples % window;
    if tail >= window / 4 {
        starts.push(n_samples - window);
    }
    starts
}

/// First frames of the patches `windowing = "frames"` cuts from a log-mel of `n_frames`
/// frames: non-overlapping patches of `patch` frames from frame 0; a last partial patch is
/// dropped (musicnn's extractor). Empty when `n_frames < patch` (see [`pad_to_one_patch`]).
pub fn patch_starts(n_frames: usize, patch: usize) -> Vec<usize> {
    (0..n_frames / patch.max(1)).map(|k| k * patch).collect()
}

/// Zero-pads `samples` at the end to the shortest length whose centred STFT has `patch`
/// frames (`(patch - 1) * hop` samples), so that a short track still makes one patch.
pub fn pad_to_one_patch(samples: &mut Vec<f32>, patch: usize, hop: usize) {
    let min_len = patch.saturating_sub(1) * hop;
    if samples.len() < min_len {
        samples.resize(min_len, 0.0);
    }
}

/// Copies `window` samples from `start`, zero-padding past the end.
fn window_at(samples: &[f32], start: usize, window: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; window];
    let end = (start + window).min(samples.len());
    if start < end {
        out[..end - start].copy_from_slice(&samples[start..end]);
    }
    out
}

/// Analyses one file with a worker's session and front end.
pub fn analyze_file(
    tagger: &mut Tagger,
    frontend: &MelFrontend,
    path: &Path,
    mode: Mode,
    times: &mut StageTimes,
) -> Result<Analysis, AnalysisError> {
    analyze_file_with(tagger, frontend, path, mode, times, true)
}

/// [`analyze_file`]; `streaming = false` decodes a whole track into memory before cutting it
/// (what whole-track analysis did before it streamed; kept to check that both agree).
pub fn analyze_file_with(
    tagger: &mut Tagger,
    frontend: &MelFrontend,
    path: &Path,
    mode: Mode,
    times: &mut StageTimes,
    streaming: bool,
) -> Result<Analysis, AnalysisError> {
    if mode == Mode::Full && streaming && (frontend.params().windowing == Windowing::Samples || frontend.streams()) {
        return analyze_full_streaming(tagger, frontend, path, times);
    }
    let params = tagger.manifest().frontend.clone();
    let rate = params.sample_rate_hz;
    let window = params.window_samples;
    let audio: LoadedAudio = match mode {
        // Both windowings analyse the centre `window` samples in centre mode.
        Mode::Center => audio::load_center(path, rate, window)?,
        Mode::Full => audio::load_full(path, rate)?,
    };
    times.decode += audio.decode_time;
    times.resample += audio.resample_time;

    // Model inputs are `[n_mels, frames_per_window]` spans of the mels: (mel, first frame).
    // `starts` are the inputs' starts in samples at the model rate (the taggram's time axis).
    // Audio already at the model rate was not resampled (nor is it by the reference pipelines).
    let resampled = audio.source_rate_hz != rate;
    let t = Instant::now();
    let (mels, spans, starts): (Vec<_>, Vec<(usize, usize)>, Vec<usize>) = match params.windowing {
        Windowing::Samples => {
            let starts = match mode {
                Mode::Center => vec![0],
                Mode::Full => window_starts(audio.samples.len(), window),
            };
            let mels: Vec<_> = starts.iter().map(|&s| frontend.log_mel_with(&window_at(&audio.samples, s, window), resampled)).collect();
            let spans = (0..mels.len()).map(|i| (i, 0)).collect();
            (mels, spans, starts)
        }
        Windowing::Frames => {
            // Centre mode: the centre `window` samples (zero-padded when shorter), full mode:
            // the whole track; one mel over it, cut into patches.
            let mut samples = audio.samples;
            pad_to_one_patch(&mut samples, params.frames_per_window, params.hop_samples);
            let mel = frontend.log_mel_with(&samples, resampled);
            let firsts = patch_starts(mel.ncols(), params.frames_per_window);
            let spans = firsts.iter().map(|&f| (0, f)).collect();
            let starts = firsts.iter().map(|&f| f * params.hop_samples).collect();
            (vec![mel], spans, starts)
        }
    };
    times.mel += t.elapsed();
    times.mel_frames += mels.iter().map(|m| m.ncols() as u64).sum::<u64>();

    let t = Instant::now();
    let views: Vec<_> = match params.windowing {
        // The whole mel of each window, exactly as before (its width is frames_per_window).
        Windowing::Samples => mels.iter().map(|m| m.view()).collect(),
        Windowing::Frames => spans.iter().map(|&(i, f)| mels[i].slice(ndarray::s![.., f..f + params.frames_per_window])).collect(),
    };
    let mut per_window = Vec::with_capacity(views.len());
    let mut embeddings: Option<Vec<Vec<f32>>> = None;
    times.model_inputs += views.len() as u64;
    for chunk in views.chunks(tagger.batch()) {
        let p = tagger.predict(chunk)?;
        per_window.extend(p.tags);
        if let Some(e) = p.embeddings {
            embeddings.get_or_insert_with(Vec::new).extend(e);
        }
    }
    times.inference += t.elapsed();

    let scores = mean_rows(&per_window, tagger.manifest().tags.len());
    let embedding = embeddings.map(|e| mean_rows(&e, tagger.manifest().embedding_size.unwrap_or(0)));
    let (windows, window_starts_s) = match mode {
        Mode::Center => (None, None),
        Mode::Full => (Some(per_window), Some(starts.iter().map(|&s| s as f64 / rate as f64).collect())),
    };
    Ok(Analysis { duration_s: audio.duration_s, scores, windows, window_starts_s, embedding })
}

/// Model inputs waiting for the next batch, and everything the batches gave so far.
struct Batcher<'t> {
    tagger: &'t mut Tagger,
    size: usize,
    inputs: Vec<ndarray::Array2<f32>>,
    starts: Vec<usize>,
    rows: Vec<Vec<f32>>,
    embeddings: Option<Vec<Vec<f32>>>,
    window_starts: Vec<usize>,
    inference: Duration,
    error: Option<ModelError>,
}

impl Batcher<'_> {
    /// Queues one input (its first sample at the model rate: `start`); a full batch runs.
    fn add(&mut self, input: ndarray::Array2<f32>, start: usize) {
        self.inputs.push(input);
        self.starts.push(start);
        if self.inputs.len() == self.size {
            self.run();
        }
    }

    /// Runs the queued inputs as one batch (the same batches, in the same order, as a whole
    /// track cut into inputs first and run [`batch_size`] at a time).
    fn run(&mut self) {
        if self.inputs.is_empty() || self.error.is_some() {
            return;
        }
        let t = Instant::now();
        let views: Vec<_> = self.inputs.iter().map(|m| m.view()).collect();
        match self.tagger.predict(&views) {
            Ok(p) => {
                self.rows.extend(p.tags);
                if let Some(e) = p.embeddings {
                    self.embeddings.get_or_insert_with(Vec::new).extend(e);
                }
                self.window_starts.append(&mut self.starts);
            }
            Err(e) => self.error = Some(e),
        }
        self.inputs.clear();
        self.starts.clear();
        self.inference += t.elapsed();
    }
}

/// Whole-track analysis with bounded memory: decode, resample, log-mel and inference run a
/// block at a time (a 2-hour file needs no more memory than a 3-minute one), with the same
/// windows, batches and arithmetic as cutting the whole decoded track at once, so the scores
/// are identical.
fn analyze_full_streaming(
    tagger: &mut Tagger,
    frontend: &MelFrontend,
    path: &Path,
    times: &mut StageTimes,
) -> Result<Analysis, AnalysisError> {
    let params = tagger.manifest().frontend.clone();
    let (rate, window, hop, patch) = (params.sample_rate_hz, params.window_samples, params.hop_samples, params.frames_per_window);
    let n_tags = tagger.manifest().tags.len();
    let width = tagger.manifest().embedding_size.unwrap_or(0);
    let mut batch = Batcher {
        size: tagger.batch(),
        tagger,
        inputs: Vec::new(),
        starts: Vec::new(),
        rows: Vec::new(),
        embeddings: None,
        window_starts: Vec::new(),
        inference: Duration::ZERO,
        error: None,
    };
    let mut mel_time = Duration::ZERO;
    let mut mel_frames = 0u64;
    // Samples windowing: the last samples (from absolute index `base`), enough for the current
    // window and an end-aligned last one. Frames windowing: the mel stream and the patch being
    // filled, frame by frame.
    let mut recent: Vec<f32> = Vec::new();
    let mut base = 0usize;
    let mut total = 0usize;
    let mut next_window = 0usize;
    let mut stream: Option<crate::engine::features::MelStream<'_>> = None;
    let mut resampled = true;
    let mut patch_frames: Vec<f32> = Vec::new();
    let mut frames_seen = 0usize;
    let n_mels = params.n_mels;
    let on_frame = |frame: &[f32], batch: &mut Batcher<'_>, patch_frames: &mut Vec<f32>, frames_seen: &mut usize| {
        patch_frames.extend_from_slice(frame);
        *frames_seen += 1;
        if patch_frames.len() == patch * n_mels {
            // Frames are rows here; the model input is [n_mels, frames].
            let input = ndarray::Array2::from_shape_vec((patch, n_mels), std::mem::take(patch_frames))
                .map(|a| a.reversed_axes().as_standard_layout().into_owned())
                .unwrap_or_else(|_| ndarray::Array2::zeros((n_mels, patch)));
            batch.add(input, (*frames_seen - patch) * hop);
        }
    };
    let stats = audio::stream_full(path, rate, |samples, source_rate| {
        let t = Instant::now();
        resampled = source_rate != rate;
        total += samples.len();
        match params.windowing {
            Windowing::Samples => {
                recent.extend_from_slice(samples);
                while (next_window + 1) * window <= total {
                    let start = next_window * window - base;
                    let mel = frontend.log_mel_with(&recent[start..start + window], resampled);
                    mel_frames += mel.ncols() as u64;
                    batch.add(mel, next_window * window);
                    next_window += 1;
                }
                // Keep one window back: the end-aligned last window overlaps the previous one.
                let keep_from = (next_window * window).saturating_sub(window);
                if keep_from > base {
                    recent.drain(..keep_from - base);
                    base = keep_from;
                }
            }
            Windowing::Frames => {
                let s = stream.get_or_insert_with(|| frontend.stream(resampled).expect("checked by streams()"));
                s.push(samples, &mut |f: &[f32]| on_frame(f, &mut batch, &mut patch_frames, &mut frames_seen));
            }
        }
        mel_time += t.elapsed();
    })?;
    let t = Instant::now();
    match params.windowing {
        Windowing::Samples => {
            let last = if total <= window {
                // One window, zero-padded at the end.
                Some((frontend.log_mel_with(&window_at(&recent, 0, window), resampled), 0))
            } else if total % window >= window / 4 {
                // A long tail gets one more window, aligned to the end of the track.
                let start = total - window;
                Some((frontend.log_mel_with(&recent[start - base..], resampled), start))
            } else {
                None
            };
            if let Some((mel, start)) = last {
                mel_frames += mel.ncols() as u64;
                batch.add(mel, start);
            }
        }
        Windowing::Frames => {
            let mut s = stream.take().or_else(|| frontend.stream(resampled)).expect("checked by streams()");
            // A track shorter than one patch is zero-padded to one (as the whole-track path).
            let min_len = patch.saturating_sub(1) * hop;
            if total < min_len {
                s.push(&vec![0.0; min_len - total], &mut |f: &[f32]| on_frame(f, &mut batch, &mut patch_frames, &mut frames_seen));
            }
            s.finish(&mut |f: &[f32]| on_frame(f, &mut batch, &mut patch_frames, &mut frames_seen));
        }
    }
    mel_time += t.elapsed();
    batch.run();
    if let Some(e) = batch.error {
        return Err(e.into());
    }
    times.decode += stats.decode_time;
    times.resample += stats.resample_time;
    times.mel += mel_time.saturating_sub(batch.inference);
    times.model_inputs += batch.rows.len() as u64;
    times.inference += batch.inference;
    times.mel_frames += match params.windowing {
        Windowing::Samples => mel_frames,
        Windowing::Frames => frames_seen as u64,
    };
    let scores = mean_rows(&batch.rows, n_tags);
    let embedding = batch.embeddings.map(|e| mean_rows(&e, width));
    let window_starts_s = Some(batch.window_starts.iter().map(|&s| s as f64 / rate as f64).collect());
    Ok(Analysis { duration_s: Some(stats.duration_s), scores, windows: Some(batch.rows), window_starts_s, embedding })
}

/// Column means of `rows` (each `width` wide); the track score is the mean over its windows.
fn mean_rows(rows: &[Vec<f32>], width: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; width];
    for row in rows {
        for (acc, v) in out.iter_mut().zip(row) {
            *acc += v / rows.len() as f32;
        }
    }
    out
}

/// Settings of an analysis job.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Model to run.
    pub manifest: Arc<Manifest>,
    /// Center or full.
    pub mode: Mode,
    /// Worker threads (each with its own session).
    pub workers: usize,
    /// How each worker runs its model.
    pub tuning: Tuning,
}

/// How a worker runs its model: neither changes the scores (`tests/tuning.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tuning {
    /// Model inputs per ONNX Runtime call (default: the manifest's `batch`, else
    /// [`crate::engine::model::default_batch`]).
    pub batch: Option<usize>,
    /// How each worker's sessions run (default: one intra-op thread, spinning, arena on).
    pub session: SessionSettings,
}

impl Tuning {
    /// Model inputs per ONNX Runtime call for `manifest` with these settings.
    pub fn batch_for(&self, manifest: &Manifest) -> usize {
        self.batch.unwrap_or_else(|| manifest.batch_size()).max(1)
    }

    /// Opens a worker's sessions with these settings.
    pub fn tagger(&self, manifest: Arc<Manifest>) -> Result<Tagger, ModelError> {
        let batch = self.batch_for(&manifest);
        let mut tagger = Tagger::with_settings(manifest, self.session)?;
        tagger.set_batch(batch);
        Ok(tagger)
    }
}

/// Number of workers used when the user does not say: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Pause and cancel switches shared between a front end and the work it started.
#[derive(Debug, Default)]
pub struct Control {
    cancel: AtomicBool,
    paused: AtomicBool,
}

impl Control {
    /// A fresh control, neither paused nor cancelled.
    pub fn new() -> Arc<Control> {
        Arc::new(Control::default())
    }

    /// Stops handing out work; what is under way finishes.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Whether cancel was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// Pauses or resumes handing out work.
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Whether the work is paused.
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    /// Blocks while paused (and not cancelled); returns false once cancelled.
    pub fn wait_while_paused(&self) -> bool {
        while self.is_paused() && !self.is_cancelled() {
            std::thread::sleep(Duration::from_millis(20));
        }
        !self.is_cancelled()
    }
}

thread_local! {
    /// Set while a worker analyses one file inside its panic guard.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a panic on this thread now is caught and becomes a file's error (so a front end
/// may keep the default panic message quiet).
pub fn panic_is_caught_here() -> bool {
    GUARDED.with(std::cell::Cell::get)
}

/// A running job: its workers report on the receiver [`Job::start`] returns.
pub struct Job {
    threads: Vec<JoinHandle<()>>,
}

impl Job {
    /// Opens one session per worker (so a missing runtime or model fails here, once), then
    /// starts the workers on `files`, paused and cancelled through `control`. Events arrive on
    /// the returned receiver.
    pub fn start(config: JobConfig, files: Vec<PathBuf>, control: Arc<Control>) -> Result<(Job, Receiver<Event>), ModelError> {
        let workers = config.workers.clamp(1, files.len().max(1));
        let taggers = (0..workers).map(|_| config.tuning.tagger(config.manifest.clone())).collect::<Result<Vec<_>, _>>()?;
        let (tx, rx) = channel();
        let files = Arc::new(files);
        let next = Arc::new(AtomicUsize::new(0));
        let live = Arc::new(Mutex::new(workers));
        let threads = taggers
            .into_iter()
            .enumerate()
            .map(|(i, tagger)| {
                let ctx = WorkerCtx {
                    files: files.clone(),
                    next: next.clone(),
                    control: control.clone(),
                    live: live.clone(),
                    tx: tx.clone(),
                    mode: config.mode,
                };
                std::thread::Builder::new()
                    .name(format!("melotag-worker-{i}"))
                    .spawn(move || ctx.run(tagger))
                    .map_err(|e| ModelError::Ort(format!("cannot start a worker thread: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((Job { threads }, rx))
    }

    /// Waits for every worker to exit.
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

struct WorkerCtx {
    files: Arc<Vec<PathBuf>>,
    next: Arc<AtomicUsize>,
    control: Arc<Control>,
    live: Arc<Mutex<usize>>,
    tx: Sender<Event>,
    mode: Mode,
}

impl WorkerCtx {
    fn run(self, mut tagger: Tagger) {
        let frontend = MelFrontend::new(&tagger.manifest().frontend);
        loop {
            if !self.control.wait_while_paused() {
                break;
            }
            let index = self.next.fetch_add(1, Ordering::SeqCst);
            let Some(path) = self.files.get(index) else { break };
            let _ = self.tx.send(Event::Started { index });
            let mut times = StageTimes::default();
            GUARDED.with(|g| g.set(true));
            let outcome = catch_unwind(AssertUnwindSafe(|| analyze_file(&mut tagger, &frontend, path, self.mode, &mut times)));
            GUARDED.with(|g| g.set(false));
            let outcome = outcome
                .unwrap_or_else(|panic| Err(AnalysisError::Panic(audio::panic_text(panic.as_ref()))))
                .map_err(|e| TrackError::from(&e));
            let result = Box::new(TrackResult { path: path.clone(), outcome, times, cached: false });
            if self.tx.send(Event::Finished { index, result }).is_err() {
                break; // nobody is listening any more
            }
        }
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        *live -= 1;
        if *live == 0 {
            let _ = self.tx.send(Event::Done { cancelled: self.control.is_cancelled() });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_cover_the_track() {
        let w = 100;
        assert_eq!(window_starts(50, w), vec![0]);
        assert_eq!(window_starts(100, w), vec![0]);
        // A short tail (< a quarter window) is dropped ...
        assert_eq!(window_starts(220, w), vec![0, 100]);
        // ... a longer one gets an end-aligned window.
        assert_eq!(window_starts(260, w), vec![0, 100, 160]);
        assert_eq!(window_starts(300, w), vec![0, 100, 200]);
    }

    #[test]
    fn frame_patches_drop_the_partial_tail() {
        let p = 187;
        assert_eq!(patch_starts(186, p), Vec::<usize>::new());
        assert_eq!(patch_starts(187, p), vec![0]);
        assert_eq!(patch_starts(373, p), vec![0]);
        assert_eq!(patch_starts(374, p), vec![0, 187]);
        // A 32.05 s track at 16 kHz (bensound-thejazzpiano): 2004 frames -> 10 patches, like
        // musicnn's extractor.
        assert_eq!(patch_starts(1 + 512836 / 256, p).len(), 10);
        // The centre span of models/musicnn_msd.toml: 10 patches exactly.
        assert_eq!(patch_starts(1 + 478720 / 256, p), (0..10).map(|k| k * p).collect::<Vec<_>>());
    }

    #[test]
    fn short_audio_is_padded_to_one_patch() {
        let (p, hop) = (187, 256);
        let mut short = vec![0.5f32; 1000];
        pad_to_one_patch(&mut short, p, hop);
        assert_eq!(short.len(), 186 * 256);
        assert_eq!(1 + short.len() / hop, p, "exactly one patch of frames");
        assert!(short[..1000].iter().all(|&v| v == 0.5) && short[1000..].iter().all(|&v| v == 0.0));
        let mut long = vec![0.5f32; 60000];
        pad_to_one_patch(&mut long, p, hop);
        assert_eq!(long.len(), 60000, "long enough audio is left alone");
    }

    #[test]
    fn window_at_zero_pads() {
        let s = [1.0f32, 2.0, 3.0];
        assert_eq!(window_at(&s, 1, 4), vec![2.0, 3.0, 0.0, 0.0]);
        assert_eq!(window_at(&s, 5, 2), vec![0.0, 0.0]);
    }
}
