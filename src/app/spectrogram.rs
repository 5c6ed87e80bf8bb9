//! The selected track's mel-spectrogram, computed off the UI thread and filled in while the
//! track decodes: decoded blocks (`audio::decode_progressive`) are resampled to the model rate
//! every couple of seconds of audio, the model's mel front end runs over the new frames, and
//! each chunk of columns is sent as soon as it is done. The decoded audio (at the file's own
//! rate) then goes to playback.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eframe::egui;

use crate::app::{Bg, BgMsg};
use crate::engine::audio;
use crate::engine::features::{FrontendParams, LogScale, MelFrontend};

/// Widest spectrogram image, in columns (frames are averaged into columns beyond this).
pub const MAX_COLUMNS: usize = 2048;

/// Columns per message.
const CHUNK_COLUMNS: usize = 128;

/// Dynamic range shown, in dB below the loudest bin so far.
pub const RANGE_DB: f32 = 80.0;

/// What the spectrogram thread sends.
#[derive(Debug)]
pub enum SpecMsg {
    /// The image's size is known (the track is decoded).
    Start {
        /// Image width.
        columns: usize,
        /// Image height.
        n_mels: usize,
        /// Track duration.
        duration_s: f64,
    },
    /// Columns `first..first + data.len() / n_mels`, column-major, dB.
    Columns {
        /// First column.
        first: usize,
        /// dB values, `n_mels` per column, low band first.
        data: Vec<f32>,
    },
    /// Every column was sent; the track's exact duration.
    Done {
        /// Duration of the decoded audio.
        duration_s: f64,
    },
    /// Decoding failed.
    Error(String),
    /// The decoded track, for playback.
    Playback(crate::app::player::PlayableAudio),
}

/// The display front end: the model's STFT and mel bands, plain power in dB without clipping
/// (the model's own exponent and top_db are for the network, not for eyes).
pub fn display_params(model: &FrontendParams) -> FrontendParams {
    FrontendParams {
        mel_exponent: 1.0,
        scale: LogScale::Db,
        amin: 1e-10,
        top_db: None,
        power_f16: false,
        resampler_rolloff_hz: None,
        ..model.clone()
    }
}

/// Source audio resampled per step (seconds), and the context kept on each side of a step so
/// that the steps join without clicks.
const STEP_S: f64 = 2.0;
const CONTEXT_S: f64 = 0.1;

/// Where the columns are in the frames: `columns` columns over `frames` STFT frames.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Layout {
    frames: usize,
    columns: usize,
}

impl Layout {
    fn new(frames: usize) -> Layout {
        Layout { frames: frames.max(1), columns: frames.clamp(1, MAX_COLUMNS) }
    }

    /// First frame of column `c` (`c == columns` gives the end).
    fn frame_of(&self, c: usize) -> usize {
        ((c as f64 * self.frames as f64 / self.columns as f64).floor() as usize).min(self.frames)
    }
}

/// The thread's state: source audio as decoded, model-rate audio as resampled, columns sent.
struct Progress {
    id: u64,
    bg: Bg,
    frontend: MelFrontend,
    rate: u32,
    hop: usize,
    half: usize,
    n_mels: usize,
    source: Vec<f32>,
    source_rate: u32,
    /// Source samples already resampled into `model`.
    resampled_upto: usize,
    model: Vec<f32>,
    layout: Option<Layout>,
    next_column: usize,
    alive: bool,
    /// The spectrogram the window wants now: another id means this one is abandoned.
    current: Arc<AtomicU64>,
}

impl Progress {
    /// Whether the window still wants this spectrogram (arrowing through the table starts one
    /// per row: the abandoned ones stop decoding at once instead of holding whole tracks).
    fn wanted(&mut self) -> bool {
        self.alive = self.alive && self.current.load(Ordering::Relaxed) == self.id;
        self.alive
    }

    fn send(&mut self, msg: SpecMsg) {
        if self.wanted() {
            self.alive = self.bg.send(BgMsg::Spec { id: self.id, msg });
        }
    }

    fn start(&mut self, layout: Layout, duration_s: f64) {
        self.layout = Some(layout);
        self.next_column = 0;
        self.send(SpecMsg::Start { columns: layout.columns, n_mels: self.n_mels, duration_s });
    }

    /// Resamples the source from `resampled_upto` to `end` (keeping context on both sides).
    fn resample_to(&mut self, end: usize) {
        let (s, r) = (self.source_rate as u64, self.rate as u64);
        let a = self.resampled_upto;
        if end <= a {
            return;
        }
        let ctx = (CONTEXT_S * self.source_rate as f64) as usize;
        let seg0 = a.saturating_sub(ctx);
        let seg1 = (end + ctx).min(self.source.len());
        let Ok(out) = audio::resample(&self.source[seg0..seg1], self.source_rate, self.rate) else {
            self.resampled_upto = end;
            return;
        };
        // Model sample m is source position m * s / r: keep the outputs of [a, end).
        let base = (seg0 as u64 * r / s) as usize;
        let want_end = if end == self.source.len() { usize::MAX } else { (end as u64 * r / s) as usize };
        let from = self.model.len().saturating_sub(base).min(out.len());
        let to = want_end.saturating_sub(base).min(out.len()).max(from);
        self.model.extend_from_slice(&out[from..to]);
        self.resampled_upto = end;
    }

    /// Sends every column whose frames are computable from the audio so far (all at `last`).
    fn emit(&mut self, last: bool) {
        let Some(layout) = self.layout else { return };
        let d = self.half.div_ceil(self.hop);
        loop {
            let c0 = self.next_column;
            if c0 >= layout.columns {
                return;
            }
            // Columns whose last frame has its whole window in `model`.
            let ready = if last {
                layout.columns
            } else {
                let frames_ready = (self.model.len().saturating_sub(self.half + 1) / self.hop).min(layout.frames);
                (0..=layout.columns).rev().find(|&c| layout.frame_of(c) <= frames_ready).unwrap_or(0)
            };
            let c1 = ready.min(c0 + CHUNK_COLUMNS);
            if c1 <= c0 || (!last && c1 - c0 < 8 && c1 < layout.columns) {
                return;
            }
            let f0 = layout.frame_of(c0);
            let f1 = layout.frame_of(c1).max(f0 + 1);
            let first_frame = f0.saturating_sub(d);
            let s0 = (first_frame * self.hop).min(self.model.len());
            let s1 = ((f1 - 1) * self.hop + self.half + 1).clamp(s0, self.model.len());
            let mel = self.frontend.log_mel(&self.model[s0..s1]);
            let have = mel.ncols();
            let mut data = Vec::with_capacity((c1 - c0) * self.n_mels);
            for c in c0..c1 {
                let a = layout.frame_of(c);
                let b = layout.frame_of(c + 1).max(a + 1);
                let (a, b) = ((a - first_frame).min(have - 1), (b - first_frame).min(have));
                let b = b.max(a + 1);
                for m in 0..self.n_mels {
                    let mut acc = 0.0f32;
                    for f in a..b {
                        acc += mel[[m, f]];
                    }
                    data.push(acc / (b - a) as f32);
                }
            }
            self.next_column = c1;
            self.send(SpecMsg::Columns { first: c0, data });
            if !self.alive {
                return;
            }
        }
    }
}

/// Computes the spectrogram of `path` on a thread while it decodes; `playback` also sends
/// the decoded audio for playback. `duration_hint` (from the tags) sizes the image when the
/// container does not say how long the track is.
/// `current` holds the id of the spectrogram the window wants: once it changes, this one stops.
pub fn spawn(id: u64, path: PathBuf, params: FrontendParams, playback: bool, duration_hint: Option<f64>, current: Arc<AtomicU64>, bg: Bg) {
    let bg_on_failure = bg.clone();
    let spawned = std::thread::Builder::new().name("melotag-spectrogram".into()).spawn(move || {
        let mut p = Progress {
            id,
            bg,
            frontend: MelFrontend::new(&display_params(&params)),
            rate: params.sample_rate_hz,
            hop: params.hop_samples,
            half: params.n_fft / 2,
            n_mels: params.n_mels,
            source: Vec::new(),
            source_rate: 0,
            resampled_upto: 0,
            model: Vec::new(),
            layout: None,
            next_column: 0,
            alive: true,
            current,
        };
        let decoded = audio::decode_progressive(&path, |info, block| {
            p.source.extend_from_slice(block);
            let Some(source_rate) = info.rate_hz else { return p.wanted() };
            p.source_rate = source_rate;
            if p.layout.is_none() {
                let estimate = info.frames.map(|f| f as f64 / source_rate as f64).or(duration_hint);
                if let Some(seconds) = estimate.filter(|s| *s > 0.0) {
                    let frames = 1 + (seconds * p.rate as f64) as usize / p.hop;
                    p.start(Layout::new(frames), seconds);
                }
            }
            let step = (STEP_S * source_rate as f64) as usize;
            let ctx = (CONTEXT_S * source_rate as f64) as usize;
            if p.source.len() >= p.resampled_upto + step + ctx {
                let end = p.source.len() - ctx;
                p.resample_to(end);
                p.emit(false);
            }
            p.wanted()
        });
        let (source_rate, _) = match decoded {
            Ok(x) => x,
            Err(e) => {
                p.send(SpecMsg::Error(e.to_string()));
                return;
            }
        };
        if !p.wanted() {
            return;
        }
        p.source_rate = source_rate;
        let end = p.source.len();
        p.resample_to(end);
        // The real length: keep the layout if the estimate was close, else start over.
        let duration_s = p.model.len() as f64 / p.rate as f64;
        let actual = Layout::new(p.frontend.frames_for(p.model.len()));
        match p.layout {
            Some(l) if (l.frames as f64 - actual.frames as f64).abs() <= 0.01 * actual.frames as f64 => {}
            _ => p.start(actual, duration_s),
        }
        p.emit(true);
        p.send(SpecMsg::Done { duration_s });
        if playback && p.wanted() {
            // The file's own rate, one channel.
            let samples = std::mem::take(&mut p.source);
            if let Some(audio) = crate::app::player::PlayableAudio::new(samples, source_rate) {
                p.send(SpecMsg::Playback(audio));
            }
        }
    });
    if let Err(e) = spawned {
        bg_on_failure.send(BgMsg::Spec { id, msg: SpecMsg::Error(format!("cannot start the decoding thread: {e}")) });
    }
}

/// The spectrogram as received so far, and its texture.
#[derive(Default)]
pub struct Spectrogram {
    /// Image width (0 until the track is decoded).
    pub columns: usize,
    /// Image height.
    pub n_mels: usize,
    /// Track duration.
    pub duration_s: f64,
    /// Columns received.
    pub received: usize,
    /// Every column is in.
    pub done: bool,
    /// Decoding failed.
    pub error: Option<String>,
    /// When the computation was requested.
    pub requested: Option<Instant>,
    /// Time to the first columns.
    pub first_draw: Option<Duration>,
    /// Time to the last column.
    pub complete: Option<Duration>,
    db: Vec<f32>,
    max_db: f32,
    texture: Option<egui::TextureHandle>,
    pending: Vec<(usize, usize)>,
    recolour_all: bool,
}

impl Spectrogram {
    /// A spectrogram requested now.
    pub fn requested_now() -> Spectrogram {
        Spectrogram { requested: Some(Instant::now()), max_db: f32::NEG_INFINITY, ..Default::default() }
    }

    /// Takes a message from the computing thread.
    pub fn apply(&mut self, msg: SpecMsg) {
        match msg {
            SpecMsg::Start { columns, n_mels, duration_s } => {
                self.columns = columns;
                self.n_mels = n_mels;
                self.duration_s = duration_s;
                self.db = vec![f32::NAN; columns * n_mels];
                self.max_db = f32::NEG_INFINITY;
                self.received = 0;
                self.pending.clear();
                if self.texture.as_ref().is_some_and(|t| t.size() != [columns, n_mels]) {
                    self.texture = None;
                }
                self.recolour_all = true;
            }
            SpecMsg::Columns { first, data } => {
                let n = data.len() / self.n_mels.max(1);
                let start = first * self.n_mels;
                if start + data.len() > self.db.len() {
                    return;
                }
                let chunk_max = data.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                if chunk_max > self.max_db + 1.0 {
                    // A louder passage: the colour scale moves, recolour what is there.
                    self.recolour_all |= self.received > 0;
                    self.max_db = chunk_max;
                }
                self.db[start..start + data.len()].copy_from_slice(&data);
                self.pending.push((first, n));
                self.received += n;
                if self.first_draw.is_none() {
                    self.first_draw = self.requested.map(|t| t.elapsed());
                }
            }
            SpecMsg::Done { duration_s } => {
                self.duration_s = duration_s;
                self.done = true;
                self.complete = self.requested.map(|t| t.elapsed());
                if let (Some(first), Some(done)) = (self.first_draw, self.complete) {
                    tracing::info!(
                        "spectrogram: first columns after {:.0} ms, complete after {:.0} ms ({} columns)",
                        first.as_secs_f64() * 1e3,
                        done.as_secs_f64() * 1e3,
                        self.columns
                    );
                }
            }
            SpecMsg::Error(e) => self.error = Some(e),
            SpecMsg::Playback(_) => {}
        }
    }

    fn column_pixels(&self, c0: usize, n: usize) -> egui::ColorImage {
        let lut = crate::app::ui::magma();
        let lo = self.max_db - RANGE_DB;
        let h = self.n_mels;
        let mut pixels = vec![egui::Color32::BLACK; n * h];
        for c in 0..n {
            for m in 0..h {
                let v = self.db[(c0 + c) * h + m];
                let color = if v.is_nan() {
                    egui::Color32::from_gray(20)
                } else {
                    let t = ((v - lo) / RANGE_DB).clamp(0.0, 1.0);
                    lut[(t * 255.0) as usize]
                };
                // Row 0 is the top of the image: the highest band.
                pixels[(h - 1 - m) * n + c] = color;
            }
        }
        egui::ColorImage::new([n, h], pixels)
    }

    /// The texture with every received column, updated in place.
    pub fn texture(&mut self, ctx: &egui::Context) -> Option<&egui::TextureHandle> {
        if self.columns == 0 || self.n_mels == 0 {
            return None;
        }
        let options = egui::TextureOptions::LINEAR;
        if self.texture.is_none() || self.recolour_all {
            let image = self.column_pixels(0, self.columns);
            match &mut self.texture {
                Some(t) => t.set(image, options),
                None => self.texture = Some(ctx.load_texture("spectrogram", image, options)),
            }
            self.recolour_all = false;
            self.pending.clear();
        }
        let pending = std::mem::take(&mut self.pending);
        for (c0, n) in pending {
            let image = self.column_pixels(c0, n);
            if let Some(t) = &mut self.texture {
                t.set_partial([c0, 0], image, options);
            }
        }
        self.texture.as_ref()
    }
}
