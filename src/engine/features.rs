//! Log-mel front end: a bit-for-bit-minded port of librosa's `melspectrogram` + `power_to_db`.
//!
//! The Choi 2016 models were trained on librosa output, so every detail that moves a value by
//! more than a few hundredths of a dB is kept: periodic Hann window, centred frames with
//! *reflect* padding (checked against the upstream .npy files, see below),
//! Slaney mel scale with Slaney area normalisation, the extra squaring of the mel power, and
//! `top_db` clipping relative to the maximum of the whole window.
//!
//! Pad-mode finding (checked once with librosa 0.11 in the project venv, on librosa's own decode
//! of the four upstream mp3s, best-aligned to the upstream .npy): with `pad_mode="reflect"` the
//! first and last frames differ from the upstream .npy by a median 0.12–0.21 dB (interior
//! frames: 0.03 dB, the residue of different mp3 decoders); with librosa 0.11's default
//! `pad_mode="constant"` they differ by 4–5.7 dB. So the upstream pipeline reflected, and so
//! do we (tools/reference_mel.py passes `pad_mode="reflect"` explicitly for the same reason).

use std::sync::Arc;

use ndarray::Array2;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

fn one() -> f32 {
    1.0
}

fn default_amin() -> f32 {
    1e-10
}

fn default_log_multiplier() -> f32 {
    10000.0
}

/// How a track is cut into model inputs (see `analysis::analyze_file`).
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Windowing {
    /// Cut the *audio* into windows of `window_samples` and compute one log-mel per window
    /// (the Choi recipe: one centre window, or consecutive windows over the whole track).
    #[default]
    Samples,
    /// Compute *one* log-mel over the analysed audio (the centre `window_samples` in centre
    /// mode, the whole track in full mode) and cut it into non-overlapping patches of
    /// `frames_per_window` frames; a last partial patch is dropped, audio shorter than one
    /// patch is zero-padded to one (musicnn's extractor).
    Frames,
}

/// How mel power is turned into the network's input scale.
#[derive(Debug, Clone, Copy, serde::Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogScale {
    /// `10 * log10(max(amin, S))`, clipped to `top_db` below the window's maximum (librosa
    /// `power_to_db` with ref 1.0).
    Db,
    /// `log10(1 + log_multiplier * S)` (musicnn: 10000); `amin` and `top_db` are ignored.
    #[serde(rename = "log10_1p")]
    Log10OnePlus,
}

/// Front-end settings, parsed from the `[frontend]` table of a model manifest.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize, PartialEq)]
pub struct FrontendParams {
    /// Rate the audio must be resampled to before the STFT.
    pub sample_rate_hz: u32,
    /// STFT size (and window length).
    pub n_fft: usize,
    /// STFT hop.
    pub hop_samples: usize,
    /// Number of mel bands.
    pub n_mels: usize,
    /// Lowest mel edge.
    #[serde(default)]
    pub fmin_hz: f32,
    /// Highest mel edge.
    pub fmax_hz: f32,
    /// Mel power is raised to this (2.0 for the Choi models, which squared it once more).
    #[serde(default = "one")]
    pub mel_exponent: f32,
    /// Log compression.
    pub scale: LogScale,
    /// Floor before the log (dB scale).
    #[serde(default = "default_amin")]
    pub amin: f32,
    /// Dynamic range kept below the maximum (dB scale); `None` keeps everything.
    pub top_db: Option<f32>,
    /// Multiplier `C` of the `log10_1p` scale, `log10(1 + C * S)`.
    #[serde(default = "default_log_multiplier")]
    pub log_multiplier: f32,
    /// Round the mel power to IEEE half precision (round to nearest, ties to even; overflow to
    /// infinity) before `mel_exponent` and the log, as musicnn's extractor does with
    /// `astype(np.float16)`.
    #[serde(default)]
    pub power_f16: bool,
    /// Samples per analysis window (349 440 = 29.12 s at 12 kHz for the Choi models). With
    /// `windowing = "frames"`, the centre span analysed in centre mode.
    pub window_samples: usize,
    /// Frames per model input: 1 + window_samples / hop_samples for `windowing = "samples"`,
    /// the patch length for `windowing = "frames"`.
    pub frames_per_window: usize,
    /// How a track is cut into model inputs.
    #[serde(default)]
    pub windowing: Windowing,
    /// `[f_pass, f_stop]` in Hz: the anti-aliasing roll-off of the resampler of the pipeline
    /// the model was run with, emulated on the STFT power (folded into the mel filterbank):
    /// gain 1 up to `f_pass`, a raised cosine down to 0 at `f_stop`, 0 above; only for audio
    /// melotag resampled (see [`MelFrontend::log_mel_with`]). `None`: no roll-off (melotag's
    /// own resampler is flat almost up to the new Nyquist).
    #[serde(default)]
    pub resampler_rolloff_hz: Option<[f32; 2]>,
}

/// Power gain at `f` Hz of a raised-cosine roll-off from `pass` (gain 1) to `stop` (gain 0).
fn rolloff_gain(f: f64, pass: f64, stop: f64) -> f64 {
    if f <= pass {
        1.0
    } else if f >= stop {
        0.0
    } else {
        0.5 * (1.0 + (std::f64::consts::PI * (f - pass) / (stop - pass)).cos())
    }
}

/// `x` rounded to the nearest IEEE 754 half-precision value (ties to even), returned as f32:
/// what numpy's `astype(np.float16)` keeps of a float32. Magnitudes from 65520 up become
/// infinite (65504 is the largest half); below 2^-14 the half subnormal spacing 2^-24 applies.
pub fn round_to_f16(x: f32) -> f32 {
    if !x.is_finite() || x == 0.0 {
        return x;
    }
    let a = x.abs();
    if a >= 65520.0 {
        return f32::INFINITY.copysign(x);
    }
    // Unbiased f32 exponent of a (f32 subnormals are far below the half range: exponent < -14).
    let e = ((a.to_bits() >> 23) as i32 - 127).max(-14);
    // Spacing of halves in [2^e, 2^(e+1)): 2^(e-10). Scaling by a power of two is exact, so
    // one round-half-even of the scaled value is the whole conversion.
    let ulp = f32::from_bits(((e - 10 + 127) as u32) << 23);
    ((a / ulp).round_ties_even() * ulp).copysign(x)
}

/// One mel band as a contiguous run of non-zero weights over FFT bins.
#[derive(Debug, Clone)]
struct MelBand {
    first_bin: usize,
    weights: Vec<f32>,
}

/// Precomputed STFT + mel machinery; cheap to clone (the FFT plan is shared), `Send + Sync`.
#[derive(Clone)]
pub struct MelFrontend {
    params: FrontendParams,
    /// Periodic Hann window of length n_fft (scipy `get_window('hann', n, fftbins=True)`).
    window: Vec<f32>,
    /// Twiddles for the real-FFT post-processing: exp(-2πik/n_fft), k = 0..n_fft/2.
    twiddles: Vec<Complex32>,
    /// Half-size complex FFT: a real FFT of size n_fft is done as a complex FFT of n_fft/2.
    fft: Arc<dyn Fft<f32>>,
    /// librosa's mel filterbank.
    bands: Vec<MelBand>,
    /// The filterbank with `resampler_rolloff_hz` folded in, when the manifest sets one.
    bands_rolloff: Option<Vec<MelBand>>,
}

impl std::fmt::Debug for MelFrontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MelFrontend").field("params", &self.params).finish_non_exhaustive()
    }
}

/// Frames processed per batched FFT call: big enough to amortise call overhead, small enough
/// to stay in L1/L2.
const BATCH_FRAMES: usize = 32;

impl MelFrontend {
    /// Precompute window, mel filterbank and FFT plan for these settings.
    ///
    /// Panics only on nonsensical manifests (odd or zero `n_fft`, zero hop), which the
    /// manifest loader should reject first.
    pub fn new(params: &FrontendParams) -> Self {
        let n_fft = params.n_fft;
        assert!(n_fft >= 2 && n_fft.is_multiple_of(2), "n_fft must be even and >= 2, got {n_fft}");
        assert!(params.hop_samples > 0, "hop_samples must be > 0");
        let window = (0..n_fft).map(|n| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / n_fft as f64).cos()) as f32).collect();
        let half = n_fft / 2;
        let twiddles = (0..=half)
            .map(|k| {
                let a = -2.0 * std::f64::consts::PI * k as f64 / n_fft as f64;
                Complex32::new(a.cos() as f32, a.sin() as f32)
            })
            .collect();
        let fft = FftPlanner::<f32>::new().plan_fft_forward(half);
        let bank = |rolloff: Option<(f64, f64)>| -> Vec<MelBand> {
            mel_filterbank(params.sample_rate_hz as f64, n_fft, params.n_mels, params.fmin_hz as f64, params.fmax_hz as f64, rolloff)
                .iter()
                .map(|row| {
                    let first = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                    let last = row.iter().rposition(|&w| w != 0.0).map_or(first, |l| l + 1);
                    MelBand { first_bin: first, weights: row[first..last].to_vec() }
                })
                .collect()
        };
        let bands = bank(None);
        let bands_rolloff = params.resampler_rolloff_hz.map(|[p, s]| bank(Some((p as f64, s as f64))));
        MelFrontend { params: params.clone(), window, twiddles, fft, bands, bands_rolloff }
    }

    /// The settings this front end was built from.
    pub fn params(&self) -> &FrontendParams {
        &self.params
    }

    /// Frames produced for `len` samples: `1 + len / hop` (centred STFT).
    pub fn frames_for(&self, len: usize) -> usize {
        1 + len / self.params.hop_samples
    }

    /// Log-mel of exactly these samples (already at `sample_rate_hz`, resampled by melotag):
    /// `[n_mels, 1 + len/hop]`.
    pub fn log_mel(&self, samples: &[f32]) -> Array2<f32> {
        self.log_mel_with(samples, true)
    }

    /// [`log_mel`](Self::log_mel); `resampled = false` for audio that was already at
    /// `sample_rate_hz` in the file, which the reference pipeline does not resample either, so
    /// `resampler_rolloff_hz` does not apply.
    pub fn log_mel_with(&self, samples: &[f32], resampled: bool) -> Array2<f32> {
        let bands = match (&self.bands_rolloff, resampled) {
            (Some(rolled), true) => rolled,
            _ => &self.bands,
        };
        let mut mel = self.mel_power(samples, bands);
        self.compress(&mut mel);
        mel
    }

    /// Mel power spectrogram `[n_mels, frames]`, before `mel_exponent` and log compression.
    fn mel_power(&self, samples: &[f32], bands: &[MelBand]) -> Array2<f32> {
        let half = self.params.n_fft / 2;
        let hop = self.params.hop_samples;
        let frames = self.frames_for(samples.len());
        let mut out = Array2::<f32>::zeros((bands.len(), frames));
        let out_slice = out.as_slice_mut().expect("fresh array is contiguous");
        let mut tmp = vec![0.0f32; self.params.n_fft];
        self.mel_frames(
            bands,
            0..frames,
            |t, dst| {
                let start = t as isize * hop as isize - half as isize;
                dst.copy_from_slice(frame_samples(samples, start, dst.len(), &mut tmp));
            },
            |t, m, v| out_slice[m * frames + t] = v,
        );
        out
    }

    /// Mel power of frames `range`: `fill(t, buf)` puts frame `t`'s `n_fft` samples (before the
    /// window) into `buf`, `put(t, band, value)` receives each band's power. Batched FFTs; the
    /// same arithmetic for every frame however the frames are grouped.
    fn mel_frames(
        &self,
        bands: &[MelBand],
        range: std::ops::Range<usize>,
        mut fill: impl FnMut(usize, &mut [f32]),
        mut put: impl FnMut(usize, usize, f32),
    ) {
        let n_fft = self.params.n_fft;
        let half = n_fft / 2;
        let mut buf = vec![Complex32::new(0.0, 0.0); half * BATCH_FRAMES.min(range.len().max(1))];
        let mut scratch = vec![Complex32::new(0.0, 0.0); self.fft.get_inplace_scratch_len()];
        let mut power = vec![0.0f32; half + 1];
        let mut frame_buf = vec![0.0f32; n_fft];
        let mut t0 = range.start;
        while t0 < range.end {
            let nb = BATCH_FRAMES.min(range.end - t0);
            let batch = &mut buf[..half * nb];
            for b in 0..nb {
                fill(t0 + b, &mut frame_buf);
                let src = &frame_buf;
                let dst = &mut batch[b * half..(b + 1) * half];
                // Pack even/odd samples as real/imaginary parts: the half-size complex FFT of
                // this sequence gives the full real FFT after one post-processing pass.
                for (j, d) in dst.iter_mut().enumerate() {
                    *d = Complex32::new(src[2 * j] * self.window[2 * j], src[2 * j + 1] * self.window[2 * j + 1]);
                }
            }
            self.fft.process_with_scratch(batch, &mut scratch);
            for b in 0..nb {
                let z = &batch[b * half..(b + 1) * half];
                real_fft_power(z, &self.twiddles, &mut power);
                for (m, band) in bands.iter().enumerate() {
                    let p = &power[band.first_bin..band.first_bin + band.weights.len()];
                    let acc: f32 = p.iter().zip(&band.weights).map(|(a, w)| a * w).sum();
                    put(t0 + b, m, acc);
                }
            }
            t0 += nb;
        }
    }

    /// Whether the log scale works value by value (no maximum over the whole mel), so that a
    /// mel can be computed a few frames at a time ([`MelStream`]).
    pub fn streams(&self) -> bool {
        !(self.params.scale == LogScale::Db && self.params.top_db.is_some())
    }

    /// A log-mel computed as samples arrive ([`MelStream`]); `None` when the scale needs the
    /// whole mel first (see [`Self::streams`]).
    pub fn stream(&self, resampled: bool) -> Option<MelStream<'_>> {
        let bands = match (&self.bands_rolloff, resampled) {
            (Some(rolled), true) => rolled,
            _ => &self.bands,
        };
        self.streams().then(|| MelStream { fe: self, bands, buf: Vec::new(), base: 0, total: 0, next: 0 })
    }

    /// Applies `mel_exponent` and the log scale in place.
    fn compress(&self, mel: &mut Array2<f32>) {
        if self.params.power_f16 {
            mel.mapv_inplace(round_to_f16);
        }
        let e = self.params.mel_exponent;
        match self.params.scale {
            LogScale::Db => {
                let amin = self.params.amin;
                // Work in dB of the un-exponentiated power and multiply: 10*log10(S^e) =
                // e*10*log10(S) avoids f32 underflow/overflow of S^e. The amin floor applies to
                // S^e as in librosa, i.e. to S at amin^(1/e).
                let floor_db = 10.0 * amin.max(f32::MIN_POSITIVE).log10();
                let mut max_db = f32::NEG_INFINITY;
                mel.mapv_inplace(|s| {
                    let db = if s > 0.0 { e * 10.0 * s.log10() } else { floor_db };
                    let db = db.max(floor_db);
                    max_db = max_db.max(db);
                    db
                });
                if let Some(top) = self.params.top_db {
                    let lo = max_db - top;
                    mel.mapv_inplace(|v| v.max(lo));
                }
            }
            LogScale::Log10OnePlus => {
                let c = self.params.log_multiplier;
                mel.mapv_inplace(|s| {
                    let s = if e == 1.0 { s } else { s.max(0.0).powf(e) };
                    (1.0 + c * s).log10()
                });
            }
        }
    }
}

/// A log-mel computed a few frames at a time as samples arrive, equal value for value to
/// [`MelFrontend::log_mel_with`] over all the samples: memory stays bounded however long the
/// track. Frames whose window is complete are computed on [`MelStream::push`]; the last ones
/// (reflect-padded at the end) on [`MelStream::finish`].
pub struct MelStream<'a> {
    fe: &'a MelFrontend,
    bands: &'a [MelBand],
    /// Samples from absolute index `base`.
    buf: Vec<f32>,
    base: usize,
    /// Samples pushed.
    total: usize,
    /// Next frame to compute.
    next: usize,
}

impl MelStream<'_> {
    /// Adds samples; `out(frame)` receives each finished frame's `n_mels` log-mel values.
    pub fn push(&mut self, samples: &[f32], out: &mut impl FnMut(&[f32])) {
        self.buf.extend_from_slice(samples);
        self.total += samples.len();
        let (n_fft, hop) = (self.fe.params.n_fft, self.fe.params.hop_samples);
        let half = n_fft / 2;
        // Frames near the start reflect into the first samples; a very short signal reflects
        // periodically and is computed at the end, when its length is known.
        if self.total < 2 * n_fft {
            return;
        }
        // Frame t is complete once samples up to t*hop + half are in.
        let ready = (self.total - half) / hop + 1;
        self.compute(self.next..ready, self.total, out);
        // Keep what later frames (and the end reflection) can still read.
        let keep_from = (self.next * hop).saturating_sub(n_fft);
        if keep_from > self.base + 4 * n_fft {
            self.buf.drain(..keep_from - self.base);
            self.base = keep_from;
        }
    }

    /// Computes the last frames; returns the total frame count (`1 + total / hop`).
    pub fn finish(mut self, out: &mut impl FnMut(&[f32])) -> usize {
        let frames = self.fe.frames_for(self.total);
        self.compute(self.next..frames, self.total, out);
        frames
    }

    fn compute(&mut self, range: std::ops::Range<usize>, len: usize, out: &mut impl FnMut(&[f32])) {
        if range.is_empty() {
            return;
        }
        let (n_fft, hop) = (self.fe.params.n_fft, self.fe.params.hop_samples);
        let half = n_fft as isize / 2;
        let n_mels = self.bands.len();
        let mut mel = vec![0.0f32; n_mels * range.len()];
        let first = range.start;
        let (buf, base) = (&self.buf, self.base);
        self.fe.mel_frames(
            self.bands,
            range.clone(),
            |t, dst| {
                let start = t as isize * hop as isize - half;
                for (j, d) in dst.iter_mut().enumerate() {
                    // The same reflection as the whole-signal STFT, on absolute indices.
                    *d = reflected(start + j as isize, len).and_then(|i| buf.get(i.checked_sub(base)?)).copied().unwrap_or(0.0);
                }
            },
            |t, m, v| mel[(t - first) * n_mels + m] = v,
        );
        // The scale is value by value here (`streams`), so frames can be compressed in any shape.
        let count = range.len();
        let mut frames = Array2::from_shape_vec((count, n_mels), mel).unwrap_or_else(|_| Array2::zeros((count, n_mels)));
        self.fe.compress(&mut frames);
        for row in frames.outer_iter() {
            if let Some(values) = row.as_slice() {
                out(values);
            }
        }
        self.next = range.end;
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    fn musicnn_params() -> FrontendParams {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/models/musicnn_msd.toml")).unwrap();
        let m: toml::Value = toml::from_str(&text).unwrap();
        m["frontend"].clone().try_into().unwrap()
    }

    #[test]
    fn streamed_log_mel_equals_the_whole_signal_log_mel_bit_for_bit() {
        let fe = MelFrontend::new(&musicnn_params());
        let mut h = 0x2545_f491_4f6c_dd1du64;
        let signal: Vec<f32> = (0..200_000)
            .map(|i| {
                h ^= h << 13;
                h ^= h >> 7;
                h ^= h << 17;
                0.4 * (i as f32 * 0.021).sin() + ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
            })
            .collect();
        for n in [1, 100, 255, 256, 257, 511, 512, 1023, 1024, 1025, 5000, 47_872, 200_000] {
            let x = &signal[..n];
            for resampled in [false, true] {
                let want = fe.log_mel_with(x, resampled);
                for block in [1, 97, 256, 4096, 100_000] {
                    let mut stream = fe.stream(resampled).unwrap();
                    let mut got: Vec<Vec<f32>> = Vec::new();
                    for part in x.chunks(block) {
                        stream.push(part, &mut |f: &[f32]| got.push(f.to_vec()));
                    }
                    let frames = stream.finish(&mut |f: &[f32]| got.push(f.to_vec()));
                    assert_eq!((frames, got.len()), (want.ncols(), want.ncols()), "n={n} block={block}");
                    for (t, frame) in got.iter().enumerate() {
                        for (m, v) in frame.iter().enumerate() {
                            assert_eq!(v.to_bits(), want[[m, t]].to_bits(), "n={n} block={block} frame {t} band {m}");
                        }
                    }
                }
            }
        }
    }
}

/// Where sample `i` of a signal of `n` samples comes from after numpy's reflect padding (see
/// [`reflect_at`]); `None` for an empty signal.
fn reflected(i: isize, n: usize) -> Option<usize> {
    let n = n as isize;
    match n {
        0 => None,
        1 => Some(0),
        _ => {
            let period = 2 * (n - 1);
            let mut k = i.rem_euclid(period);
            if k >= n {
                k = period - k;
            }
            Some(k as usize)
        }
    }
}

/// The `n_fft` samples of frame starting at `start` (may be negative) of the reflect-padded
/// signal; borrows `samples` directly when the frame lies inside it.
fn frame_samples<'a>(samples: &'a [f32], start: isize, n_fft: usize, tmp: &'a mut [f32]) -> &'a [f32] {
    let len = samples.len() as isize;
    if start >= 0 && start + n_fft as isize <= len {
        return &samples[start as usize..start as usize + n_fft];
    }
    for (j, t) in tmp.iter_mut().enumerate() {
        *t = reflect_at(samples, start + j as isize);
    }
    tmp
}

/// numpy `pad(mode="reflect")` semantics (edge sample not repeated), periodic for long pads.
fn reflect_at(samples: &[f32], i: isize) -> f32 {
    let n = samples.len() as isize;
    match n {
        0 => 0.0,
        1 => samples[0],
        _ => {
            let period = 2 * (n - 1);
            let mut k = i.rem_euclid(period);
            if k >= n {
                k = period - k;
            }
            samples[k as usize]
        }
    }
}

/// |X[k]|², k = 0..=N/2, of the real N-point signal whose even/odd samples were packed into
/// `z` (N/2 complex points) and transformed.
fn real_fft_power(z: &[Complex32], tw: &[Complex32], power: &mut [f32]) {
    let half = z.len();
    // k = 0 and k = N/2 come from Z[0] alone.
    let z0 = z[0];
    power[0] = (z0.re + z0.im) * (z0.re + z0.im);
    power[half] = (z0.re - z0.im) * (z0.re - z0.im);
    for k in 1..half {
        let a = z[k];
        let b = z[half - k].conj();
        let even = (a + b) * 0.5; // FFT of even samples
        let odd = (a - b) * Complex32::new(0.0, -0.5); // FFT of odd samples
        let x = even + tw[k] * odd;
        power[k] = x.norm_sqr();
    }
}

fn hz_to_mel_slaney(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ { MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / logstep } else { hz / F_SP }
}

fn mel_to_hz_slaney(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= MIN_LOG_MEL { MIN_LOG_HZ * (logstep * (mel - MIN_LOG_MEL)).exp() } else { F_SP * mel }
}

/// librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney'), computed in
/// f64 and rounded to f32 like librosa's default dtype. Rows are bands, columns FFT bins.
/// With `rolloff = Some((pass, stop))` each bin's weight is also multiplied by
/// [`rolloff_gain`] (before the rounding); `None` leaves the weights exactly librosa's.
fn mel_filterbank(sr: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64, rolloff: Option<(f64, f64)>) -> Vec<Vec<f32>> {
    let n_bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..n_bins).map(|k| k as f64 * (sr / 2.0) / (n_bins - 1).max(1) as f64).collect();
    let (mmin, mmax) = (hz_to_mel_slaney(fmin), hz_to_mel_slaney(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2).map(|i| mel_to_hz_slaney(mmin + (mmax - mmin) * i as f64 / (n_mels + 1) as f64)).collect();
    (0..n_mels)
        .map(|i| {
            let (lo, mid, hi) = (mel_f[i], mel_f[i + 1], mel_f[i + 2]);
            let enorm = 2.0 / (hi - lo);
            fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - lo) / (mid - lo);
                    let upper = (hi - f) / (hi - mid);
                    let w = 0.0f64.max(lower.min(upper)) * enorm;
                    match rolloff {
                        None => w as f32,
                        Some((pass, stop)) => (w * rolloff_gain(f, pass, stop)) as f32,
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    fn choi_params() -> FrontendParams {
        FrontendParams {
            sample_rate_hz: 12000,
            n_fft: 512,
            hop_samples: 256,
            n_mels: 96,
            fmin_hz: 0.0,
            fmax_hz: 6000.0,
            mel_exponent: 2.0,
            scale: LogScale::Db,
            amin: 1e-10,
            top_db: Some(80.0),
            log_multiplier: 10000.0,
            power_f16: false,
            window_samples: 349440,
            frames_per_window: 1366,
            windowing: Windowing::Samples,
            resampler_rolloff_hz: None,
        }
    }

    #[test]
    fn resampler_rolloff_scales_the_top_bins_only() {
        let plain = mel_filterbank(16000.0, 512, 96, 0.0, 8000.0, None);
        let rolled = mel_filterbank(16000.0, 512, 96, 0.0, 8000.0, Some((7430.0, 7780.0)));
        for (a, b) in plain.iter().zip(&rolled) {
            for (k, (&x, &y)) in a.iter().zip(b).enumerate() {
                let f = k as f64 * 31.25;
                if f <= 7430.0 {
                    assert_eq!(x, y, "bin {k} below the pass edge must be unchanged");
                } else if f >= 7780.0 {
                    assert_eq!(y, 0.0, "bin {k} above the stop edge must be zero");
                } else {
                    let g = rolloff_gain(f, 7430.0, 7780.0);
                    assert!(g > 0.0 && g < 1.0);
                    assert!((y as f64 - x as f64 * g).abs() <= 1e-7 * x as f64, "bin {k}");
                }
            }
        }
        assert!((rolloff_gain(7605.0, 7430.0, 7780.0) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn rolloff_applies_to_resampled_audio_only() {
        let mut p = choi_params();
        p.sample_rate_hz = 16000;
        p.fmax_hz = 8000.0;
        let plain = MelFrontend::new(&p);
        p.resampler_rolloff_hz = Some([7430.0, 7780.0]);
        let rolled = MelFrontend::new(&p);
        let y = test_signal(48000, 16000.0);
        assert_eq!(rolled.log_mel_with(&y, false), plain.log_mel(&y));
        let (a, b) = (rolled.log_mel(&y), plain.log_mel(&y));
        // Bands entirely below 7430 Hz are untouched; the top band loses energy.
        for m in 0..90 {
            assert_eq!(a.row(m), b.row(m), "band {m}");
        }
        assert!(a.row(95).sum() < b.row(95).sum());
    }

    /// Decodes IEEE half bits (test oracle, independent of [`round_to_f16`]).
    fn half_to_f32(h: u16) -> f32 {
        let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
        let exp = ((h >> 10) & 0x1f) as i32;
        let man = (h & 0x3ff) as f32;
        sign * match exp {
            0 => man * 2f32.powi(-24),
            31 => f32::INFINITY,
            _ => (1.0 + man / 1024.0) * 2f32.powi(exp - 15),
        }
    }

    #[test]
    fn f16_rounding_matches_numpy() {
        // Provenance: numpy 2.4 (project .venv): np.float32(x).astype(np.float16).astype(np.float32),
        // as f32 bit patterns (input, output).
        let cases: [(u32, u32); 21] = [
            (0x3f800000, 0x3f800000), // 1.0 -> 1.0
            (0x3f801000, 0x3f800000), // 1 + 2^-11 (tie) -> 1.0 (even)
            (0x3f803000, 0x3f804000), // 1 + 3*2^-11 (tie) -> 1 + 2^-9 (even)
            (0x3dcccccd, 0x3dccc000), // 0.1 -> 0.0999755859375
            (0x40490fdb, 0x40490000), // pi -> 3.140625
            (0x477fe000, 0x477fe000), // 65504 (max half) -> 65504
            (0x477feffd, 0x477fe000), // 65519.99 -> 65504
            (0x477ff000, 0x7f800000), // 65520 -> inf
            (0x47c35000, 0x7f800000), // 1e5 -> inf
            (0x3727c5ac, 0x37280000), // 1e-5 -> 1.0013580322265625e-05 (subnormal half)
            (0x387fda40, 0x387fc000), // 6.1e-5 -> 6.097555160522461e-05
            (0x3380d959, 0x33800000), // 6e-8 -> 2^-24 (smallest half)
            (0x33000000, 0x00000000), // 2^-25 (tie) -> 0
            (0x33c00000, 0x34000000), // 3*2^-25 (tie) -> 2^-23
            (0x2edbe6ff, 0x00000000), // 1e-10 -> 0
            (0x42f6e979, 0x42f6e000), // 123.456 -> 123.4375
            (0x40e00000, 0x40e00000), // 7.0 -> 7.0
            (0x3eaaaaab, 0x3eaaa000), // 1/3 -> 0.333251953125
            (0x387ff000, 0x38800000), // 2^-14 - 2^-26 -> 2^-14 (subnormal rounds up to normal)
            (0x449a522b, 0x449a6000), // 1234.5677 -> 1235
            (0x003671f7, 0x00000000), // 5e-39 (f32 subnormal) -> 0
        ];
        for (x, want) in cases {
            let x = f32::from_bits(x);
            let got = round_to_f16(x);
            assert_eq!(got.to_bits(), want, "{x:e}: got {got:e}, numpy {:e}", f32::from_bits(want));
            assert_eq!(round_to_f16(-x).to_bits(), (-f32::from_bits(want)).to_bits(), "-{x:e}");
        }
        assert!(round_to_f16(f32::NAN).is_nan());
        assert_eq!(round_to_f16(f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert_eq!(round_to_f16(-0.0).to_bits(), (-0.0f32).to_bits());
    }

    #[test]
    fn f16_rounding_exhaustive() {
        // Every finite half is a fixed point; every midpoint between neighbours goes to the one
        // with the even mantissa; anything strictly between goes to the nearer one.
        for k in 0u16..0x7bff {
            let (lo, hi) = (half_to_f32(k), half_to_f32(k + 1));
            assert_eq!(round_to_f16(lo), lo, "half {k:#06x}");
            let mid = 0.5 * (lo + hi); // exact in f32
            let even = if k % 2 == 0 { lo } else { hi };
            assert_eq!(round_to_f16(mid), even, "midpoint above {k:#06x}");
            let below = f32::from_bits(mid.to_bits() - 1);
            let above = f32::from_bits(mid.to_bits() + 1);
            assert_eq!(round_to_f16(below), lo, "below midpoint above {k:#06x}");
            assert_eq!(round_to_f16(above), hi, "above midpoint above {k:#06x}");
        }
        assert_eq!(round_to_f16(65504.0), 65504.0);
    }

    #[test]
    fn log10_1p_scale_with_f16_power() {
        // musicnn's extractor: log10(10000 * S.astype(float16) + 1), the log in float32.
        let mut p = choi_params();
        p.scale = LogScale::Log10OnePlus;
        p.mel_exponent = 1.0;
        p.power_f16 = true;
        let fe = MelFrontend::new(&p);
        let mut m = Array2::from_shape_vec((1, 4), vec![0.1f32, 0.0, 7.0, 1e-10]).unwrap();
        fe.compress(&mut m);
        let want = [(1.0f32 + 10000.0 * 0.099_975_586).log10(), 0.0, (1.0f32 + 70000.0).log10(), 0.0];
        for (g, w) in m.iter().zip(want) {
            assert_eq!(g.to_bits(), w.to_bits(), "{g} vs {w}");
        }
        p.power_f16 = false;
        let fe = MelFrontend::new(&p);
        let mut m = Array2::from_shape_vec((1, 1), vec![0.1f32]).unwrap();
        fe.compress(&mut m);
        assert_eq!(m[[0, 0]], (1.0f32 + 10000.0 * 0.1).log10());
    }

    #[test]
    fn old_manifests_get_the_old_defaults() {
        let p: FrontendParams = toml::from_str(
            "sample_rate_hz = 12000\nn_fft = 512\nhop_samples = 256\nn_mels = 96\nfmax_hz = 6000.0\n\
             mel_exponent = 2.0\nscale = \"db\"\ntop_db = 80.0\nwindow_samples = 349440\n\
             frames_per_window = 1366\n",
        )
        .unwrap();
        assert_eq!(p, choi_params());
    }

    #[test]
    fn mel_filterbank_matches_librosa() {
        // Provenance: librosa 0.11.0 (project .venv),
        // librosa.filters.mel(sr=12000, n_fft=512, n_mels=96, fmin=0.0, fmax=6000)[band, bin].
        let expected = [
            (0, 1, 0.02942878007888794),
            (0, 2, 0.012012121267616749),
            (10, 13, 0.02822573110461235),
            (10, 14, 0.013215170241892338),
            (40, 50, 0.025800973176956177),
            (60, 90, 0.015020878985524178),
            (95, 250, 0.004816739819943905),
            (95, 255, 0.0008027899893932045),
        ];
        let fb = mel_filterbank(12000.0, 512, 96, 0.0, 6000.0, None);
        for (m, k, want) in expected {
            let got = fb[m][k] as f64;
            assert!((got - want).abs() <= 1e-7 * want.abs().max(1e-3), "mel[{m}][{k}] = {got}, librosa {want}");
        }
        // Also librosa: M.sum() == 4.0935516357421875, and these are the non-zero ranges.
        let total: f64 = fb.iter().flatten().map(|&w| w as f64).sum();
        assert!((total - 4.0935516357421875).abs() < 1e-5, "sum {total}");
        let fe = MelFrontend::new(&choi_params());
        let range = |m: usize| (fe.bands[m].first_bin, fe.bands[m].first_bin + fe.bands[m].weights.len() - 1);
        assert_eq!(range(0), (1, 2));
        assert_eq!(range(10), (13, 14));
        assert_eq!(range(40), (49, 51));
        assert_eq!(range(95), (242, 255));
    }

    #[test]
    fn params_parse_from_manifest_toml() {
        let p: FrontendParams = toml::from_str(
            "sample_rate_hz = 12000\nn_fft = 512\nhop_samples = 256\nn_mels = 96\n\
             fmax_hz = 6000.0\nmel_exponent = 2.0\nscale = \"db\"\ntop_db = 80.0\n\
             window_samples = 349440\nframes_per_window = 1366\n",
        )
        .expect("parse");
        assert_eq!(p, choi_params());
        let q: FrontendParams = toml::from_str(
            "sample_rate_hz = 16000\nn_fft = 512\nhop_samples = 256\nn_mels = 96\n\
             fmax_hz = 8000.0\nscale = \"log10_1p\"\n\
             window_samples = 48000\nframes_per_window = 188\n",
        )
        .expect("parse");
        assert_eq!((q.scale, q.mel_exponent, q.amin, q.top_db), (LogScale::Log10OnePlus, 1.0, 1e-10, None));
    }

    #[test]
    fn real_fft_matches_complex_fft() {
        let n = 512;
        let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
        let mut full: Vec<Complex32> = x.iter().map(|&v| Complex32::new(v, 0.0)).collect();
        FftPlanner::<f32>::new().plan_fft_forward(n).process(&mut full);
        let fe = MelFrontend::new(&choi_params());
        let mut z: Vec<Complex32> = (0..n / 2).map(|j| Complex32::new(x[2 * j], x[2 * j + 1])).collect();
        fe.fft.process(&mut z);
        let mut p = vec![0.0; n / 2 + 1];
        real_fft_power(&z, &fe.twiddles, &mut p);
        for k in 0..=n / 2 {
            let want = full[k].norm_sqr();
            assert!((p[k] - want).abs() <= 1e-3 * want.max(1.0), "bin {k}: {} vs {want}", p[k]);
        }
    }

    #[test]
    fn reflect_padding_is_numpy_reflect() {
        let s = [1.0, 2.0, 3.0, 4.0];
        let got: Vec<f32> = (-5..9).map(|i| reflect_at(&s, i)).collect();
        // np.pad([1,2,3,4], 5, mode='reflect')[0:14]
        assert_eq!(got, vec![2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn shapes_and_edge_cases() {
        let fe = MelFrontend::new(&choi_params());
        assert_eq!(fe.log_mel(&vec![0.0; 349440]).dim(), (96, 1366));
        assert_eq!(fe.log_mel(&[]).dim(), (96, 1));
        assert_eq!(fe.log_mel(&[0.5; 100]).dim(), (96, 1));
        // Silence: everything at the floor, no NaN.
        let m = fe.log_mel(&vec![0.0; 5000]);
        assert!(m.iter().all(|&v| v == -100.0), "silence gives {:?}", m.iter().next());
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<MelFrontend>();
    }

    /// Deterministic test PCM: chirp + tones + LCG noise, with a quiet passage and a silent gap.
    fn test_signal(n: usize, sr: f32) -> Vec<f32> {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut noise = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let dur = n as f32 / sr;
        (0..n)
            .map(|i| {
                let t = i as f32 / sr;
                // Chirp 50 Hz -> 5900 Hz over the whole signal.
                let f0 = 50.0f32;
                let k = (5900.0 - f0) / dur;
                let phase = 2.0 * std::f32::consts::PI * (f0 * t + 0.5 * k * t * t);
                let mut v = 0.3 * phase.sin() + 0.2 * (2.0 * std::f32::consts::PI * 440.0 * t).sin() + 0.05 * noise();
                if (10.0..12.0).contains(&t) {
                    v *= 0.001; // quiet passage: exercises the top_db clip
                }
                if (20.0..20.5).contains(&t) {
                    v = 0.0;
                }
                v
            })
            .collect()
    }

    fn python() -> PathBuf {
        if let Some(p) = std::env::var_os("MELOTAG_PYTHON") {
            return PathBuf::from(p);
        }
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
    }

    fn librosa_reference(samples: &[f32], dir: &std::path::Path) -> Array2<f32> {
        let py = python();
        assert!(py.exists(), "Python with librosa not found at {} — run `make setup` (or set MELOTAG_PYTHON)", py.display());
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tools/reference_mel.py");
        assert!(script.exists(), "{} is missing", script.display());
        let inp = dir.join("in.f32");
        let outp = dir.join("out.npy");
        let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(&inp, bytes).expect("write temp pcm");
        let out = Command::new(&py).arg(&script).arg(&inp).arg(&outp).args(["--sr", "12000"]).output().expect("run reference_mel.py");
        assert!(out.status.success(), "reference_mel.py failed (run `make setup`?): {}", String::from_utf8_lossy(&out.stderr));
        ndarray_npy::read_npy(&outp).expect("read reference npy")
    }

    /// Median, p99 and max of |ours - librosa| in dB, each checked against its bound.
    fn compare(ours: &Array2<f32>, theirs: &Array2<f32>, what: &str, bounds: [f32; 3]) {
        assert_eq!(ours.dim(), theirs.dim(), "{what}: shape");
        let mut d: Vec<f32> = ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).collect();
        d.sort_by(|a, b| a.total_cmp(b));
        let q = |p: f64| d[((d.len() - 1) as f64 * p).round() as usize];
        let got = [q(0.5), q(0.99), q(1.0)];
        println!("{what}: |ours - librosa| dB median {:.6} p99 {:.6} max {:.6}", got[0], got[1], got[2]);
        for ((name, g), bound) in ["median", "p99", "max"].iter().zip(got).zip(bounds) {
            assert!(g <= bound, "{what}: {name} |diff| {g} dB > {bound}");
        }
    }

    #[test]
    fn matches_real_librosa() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fe = MelFrontend::new(&choi_params());
        let y = test_signal(349440, 12000.0);
        // README: median 0.00000, p99 0.00001, max 0.00013 dB over a 29.12 s window (5 decimals).
        compare(&fe.log_mel(&y), &librosa_reference(&y, dir.path()), "chirp+noise 349440", [5e-6, 2e-5, 2e-4]);
        // Odd length and a short clip exercise the reflect-padded edges.
        let short = test_signal(12345, 12000.0);
        compare(&fe.log_mel(&short), &librosa_reference(&short, dir.path()), "chirp+noise 12345", [5e-6, 3e-5, 1e-4]);
    }
}
