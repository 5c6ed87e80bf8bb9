//! Decoding (symphonia) and resampling (rubato) to the model's mono sample rate.
//!
//! Everything here treats files as untrusted: no panics, no allocation sized by header fields
//! without a cap, and a bounded number of skipped bad packets.
//!
//! Sample placement: decoded samples are concatenated for [`load_full`]. For [`load_center`]
//! they are placed by packet timestamp (`pts + trim_start`, relative to the track start), so
//! that a seek lands on exactly the same sample grid as a full decode; tests check the two agree
//! for wav, flac, mp3, ogg/vorbis and m4a/aac.
//!
//! Gapless MP4: symphonia 0.6.1 neither applies an MP4 edit list nor iTunSMPB, so AAC comes out
//! with the encoder priming in front; the `mp4` module reads them and `Source::decode` drops the
//! samples outside the playable span by timestamp, which works the same after a seek.
//!
//! Opus: symphonia 0.6.1 demuxes Ogg Opus and Matroska/WebM Opus but has no Opus decoder; the
//! `opus` module adds one (libopus). In Ogg, timestamps count the pre-skip (the encoder's
//! 312-odd warm-up samples), so it is dropped by timestamp here like the MP4 priming; in
//! Matroska, whose timestamps are not samples, the decoder drops it itself.

mod mp4;
mod opus;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo, Track, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::packet::Packet;
use symphonia::core::units::{TimeBase, Timestamp};
use tracing::{debug, warn};

/// Longest audio we agree to decode (3 hours): protects memory against absurd or hostile files.
pub const MAX_DURATION_S: u64 = 3 * 3600;

/// The lowest sample rate analysed: below it a file is damaged or not music, and resampling
/// up from it would need buffers thousands of times the file's size.
pub const MIN_SAMPLE_RATE_HZ: u32 = 2_000;

/// Samples are clamped to ±this (+24 dB over full scale, far beyond real audio) and non-finite
/// ones zeroed: one NaN, infinite or huge sample in a damaged float file would otherwise poison
/// the resampler and every score.
const MAX_SAMPLE: f32 = 16.0;
/// Bad packets skipped in a row before a stream is declared undecodable.
const MAX_CONSECUTIVE_ERRORS: usize = 50;
/// Bad packets skipped in total before giving up on a stream.
const MAX_TOTAL_ERRORS: usize = 1000;
/// Preallocation cap (samples) whatever the header claims: 10 minutes at 48 kHz.
const MAX_PREALLOC: usize = 48_000 * 600;

/// Why a file could not be turned into samples; messages are one-liners for users.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file could not be opened or read.
    #[error("cannot read the file: {}", crate::engine::library::io_reason(source))]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// Not an audio container/codec we can decode (or no audio track).
    #[error("not a supported audio file ({0})")]
    Unsupported(String),
    /// The stream is corrupt beyond skipping bad packets.
    #[error("decoding failed at {at_s:.1} s: {msg}")]
    Decode {
        /// Position of the failure in the decoded audio.
        at_s: f64,
        /// Decoder's message.
        msg: String,
    },
    /// The file has zero bytes.
    #[error("file is empty")]
    EmptyFile,
    /// Not a regular file (a FIFO, a device, a socket, a folder): never opened, since
    /// opening a FIFO blocks and a device never ends.
    #[error("{0}")]
    NotAFile(String),
    /// The file parsed but produced no samples.
    #[error("no audio could be decoded")]
    Empty,
    /// Longer than [`MAX_DURATION_S`].
    #[error("audio longer than {} h is not supported", MAX_DURATION_S / 3600)]
    TooLong,
    /// Resampler construction or processing failed (e.g. absurd sample rate).
    #[error("resampling failed: {0}")]
    Resample(String),
    /// The decoder panicked on this file (a bug in it, caught so the caller goes on).
    #[error("the decoder failed on this file (internal error: {0})")]
    DecoderPanic(String),
}

/// Decoded audio, mono, at the requested rate.
#[derive(Debug, Clone)]
pub struct LoadedAudio {
    /// Mono samples (mean of channels, like librosa) at `sample_rate_hz`.
    pub samples: Vec<f32>,
    /// The requested rate.
    pub sample_rate_hz: u32,
    /// Duration of the whole file (container value or decoded length).
    pub duration_s: Option<f64>,
    /// The file's own sample rate.
    pub source_rate_hz: u32,
    /// The file's channel count.
    pub channels: usize,
    /// Time spent demuxing + decoding + mixing to mono.
    pub decode_time: Duration,
    /// Time spent resampling.
    pub resample_time: Duration,
}

/// An opened file with its decoder, ready to produce packets.
struct Source {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    time_base: Option<TimeBase>,
    start_ts: i64,
    rate: Option<u32>,
    channels: usize,
    num_frames: Option<u64>,
    /// Container's frame count may differ from the decoded length (mp3 without LAME tag,
    /// ADTS, Matroska, MP4).
    frames_estimated: bool,
    /// Playable span `[start, end)` in raw timestamps (= samples) when the container says
    /// (MP4 edit list or iTunSMPB); samples outside it are dropped.
    playable: Option<(i64, Option<i64>)>,
}

fn open(path: &Path) -> Result<Source, AudioError> {
    let io_err = |source| AudioError::Io { path: path.to_path_buf(), source };
    // Checked before opening: opening a FIFO would block until a writer appears.
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if let Some(reason) = crate::engine::library::not_a_regular_file(&meta) {
        return Err(AudioError::NotAFile(reason));
    }
    let file = File::open(path).map_err(io_err)?;
    let len = file.metadata().map_err(io_err)?.len();
    if len == 0 {
        return Err(AudioError::EmptyFile);
    }
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let format =
        symphonia::default::get_probe().probe(&hint, mss, FormatOptions::default(), MetadataOptions::default()).map_err(|e| match e {
            SymError::IoError(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => io_err(e),
            SymError::Unsupported(_) | SymError::IoError(_) => AudioError::Unsupported("unknown format".into()),
            other => AudioError::Unsupported(format!("damaged or unknown format: {other}")),
        })?;
    let track = format.default_track(TrackType::Audio).ok_or_else(|| AudioError::Unsupported("no audio track".into()))?;
    let params = track.codec_params.as_ref().and_then(|p| p.audio()).ok_or_else(|| AudioError::Unsupported("no audio track".into()))?;
    let opus_skip = opus_preskip_end(track, params);
    // Gapless trimming by the decoder, except for the Opus pre-skip dropped by timestamp below.
    let gapless = AudioDecoderOptions::default().gapless(opus_skip.is_none());
    let decoder =
        opus::codecs().make_audio_decoder(params, &gapless).map_err(|e| AudioError::Unsupported(format!("unsupported codec: {e}")))?;
    let short = format.format_info().short_name;
    let frames_estimated = match short {
        "mp1" | "mp2" | "mp3" => track.delay.is_none(),
        "aac" | "matroska" | "mkv" => true,
        _ => false,
    };
    let mut src = Source {
        path: path.to_path_buf(),
        track_id: track.id,
        time_base: track.time_base,
        start_ts: track.start_ts.get(),
        rate: params.sample_rate.filter(|&r| r > 0),
        channels: params.channels.as_ref().map_or(0, |c| c.count()),
        num_frames: track.num_frames,
        frames_estimated,
        playable: None,
        decoder,
        format,
    };
    if short == "isomp4" {
        src.playable = mp4_playable(path, len, &src);
    } else if let Some(start) = opus_skip {
        src.playable = Some((start, None));
    }
    if let Some((start, end)) = src.playable {
        src.num_frames = src.num_frames.map(|n| {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            u64::try_from(end.map_or(n, |e| e.min(n)).saturating_sub(start)).unwrap_or(0)
        });
    }
    debug!(
        path = %path.display(), format = short, rate = ?src.rate, channels = src.channels,
        num_frames = ?src.num_frames, estimated = frames_estimated, playable = ?src.playable,
        "opened"
    );
    Ok(src)
}

/// Where the Opus pre-skip ends (raw timestamp) when the track's timestamps are samples counted
/// from 0, as in Ogg: the decoder then trims nothing and `Source::decode` drops the pre-skip by
/// timestamp. `None` for other codecs, and for Opus in Matroska (the decoder trims it there).
fn opus_preskip_end(track: &Track, params: &AudioCodecParameters) -> Option<i64> {
    if params.codec != CODEC_ID_OPUS || track.start_ts.get() != 0 {
        return None;
    }
    let samples = TimeBase::try_from_recip(params.sample_rate?)?;
    (track.time_base? == samples).then(|| i64::from(track.delay.unwrap_or(0)))
}

/// The playable span of an MP4 audio track in raw timestamps, from its edit list or iTunSMPB.
///
/// Only for a 1/rate time base (timestamps are samples) starting at 0, as every audio MP4 we
/// know has; an end is applied only if the stream holds more than the rounding slack beyond it.
fn mp4_playable(path: &Path, len: u64, src: &Source) -> Option<(i64, Option<i64>)> {
    let rate = src.rate?;
    if src.start_ts != 0 || src.time_base.is_some_and(|tb| TimeBase::try_from_recip(rate) != Some(tb)) {
        return None;
    }
    let file = File::open(path).ok()?;
    let g = mp4::read_gapless(std::io::BufReader::new(file), len, src.track_id)?;
    let start = i64::try_from(g.priming).ok()?;
    let total = src.num_frames.and_then(|n| i64::try_from(n).ok());
    // A priming beyond the stream (or beyond a minute) is nonsense: ignore the whole thing.
    if total.is_some_and(|n| start >= n) || start > i64::from(rate) * 60 {
        return None;
    }
    let end = g.length.and_then(|l| start.checked_add(i64::try_from(l).ok()?)).filter(|&e| {
        let slack = i64::try_from(g.slack).unwrap_or(i64::MAX);
        total.is_none_or(|n| n > e.saturating_add(slack))
    });
    if start == 0 && end.is_none() {
        return None;
    }
    debug!(path = %path.display(), ?g, start, ?end, "mp4 gapless");
    Some((start, end))
}

/// What a decoded block of mono samples is, handed to a sink.
struct Block<'a> {
    /// Sample index (at the source rate, relative to the track start) of `mono[0]`, if the
    /// packet had a usable timestamp.
    index: Option<i64>,
    mono: &'a [f32],
    /// Sample rate of `mono`.
    rate: u32,
}

/// Whether to keep decoding.
#[derive(PartialEq)]
enum Flow {
    Continue,
    Stop,
}

/// Counters from a decode run.
#[derive(Default)]
struct DecodeStats {
    frames: u64,
    rate: u32,
    channels: usize,
}

impl Source {
    /// Sample index of the first output frame of `packet` (after gapless trimming).
    fn packet_index(&self, packet: &Packet, rate: u32) -> Option<i64> {
        let ts = packet.pts.get().checked_add(i64::try_from(packet.trim_start.get()).ok()?)?;
        let rel = ts.checked_sub(self.start_ts)?;
        match self.time_base {
            None => Some(rel),
            Some(tb) => {
                let t = tb.calc_time(Timestamp::new(rel))?;
                let ns = t.as_nanos();
                // Round to the nearest sample: exact whenever tb is 1/rate.
                let idx = (ns * i128::from(rate) + 500_000_000 * ns.signum()) / 1_000_000_000;
                i64::try_from(idx).ok()
            }
        }
    }

    /// Which of a packet's `frames` decoded frames are playable, as (skip, keep).
    ///
    /// Some symphonia 0.6.1 decoders (AAC, ...) ignore the packet's gapless trim fields, and
    /// the MP4 reader shortens the last packet's duration instead of trimming; honouring the
    /// container's durations here makes the decoded length equal `num_frames` for every format.
    fn kept_range(exact_tb: bool, packet: &Packet, frames: usize) -> (usize, usize) {
        let dur = usize::try_from(packet.dur.get()).unwrap_or(usize::MAX);
        let trim_start = usize::try_from(packet.trim_start.get()).unwrap_or(usize::MAX);
        let trims = trim_start.saturating_add(usize::try_from(packet.trim_end.get()).unwrap_or(usize::MAX));
        if !exact_tb || dur == 0 || frames == dur {
            (0, frames)
        } else if trims > 0 && frames == dur.saturating_add(trims) {
            (trim_start, dur) // decoder did not trim
        } else if trims == 0 && frames > dur {
            (0, dur) // container says the block is shorter (end padding)
        } else {
            (0, frames)
        }
    }

    /// Decodes packets until the end or until `sink` says stop. Bad packets are skipped (bounded);
    /// a stream that breaks after producing audio ends there (a truncated file is a success).
    fn decode(&mut self, mut sink: impl FnMut(Block<'_>) -> Flow) -> Result<DecodeStats, AudioError> {
        let mut st = DecodeStats { rate: self.rate.unwrap_or(0), channels: self.channels, ..Default::default() };
        let mut interleaved: Vec<f32> = Vec::new();
        let mut mono: Vec<f32> = Vec::new();
        let (mut consecutive, mut total) = (0usize, 0usize);
        let mut rate_known = false;
        // Packet durations are sample counts only when the time base is 1/rate.
        let exact_tb = match (self.time_base, self.rate) {
            (None, _) => true,
            (Some(tb), Some(r)) => TimeBase::try_from_recip(r) == Some(tb),
            _ => false,
        };
        let at = |st: &DecodeStats| {
            if st.rate > 0 { st.frames as f64 / st.rate as f64 } else { 0.0 }
        };
        loop {
            let packet = match self.format.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                // Chained Ogg streams etc.: treat a track-list change as the end.
                Err(SymError::ResetRequired) => break,
                Err(SymError::IoError(e)) => {
                    if st.frames == 0 && e.kind() != std::io::ErrorKind::UnexpectedEof {
                        return Err(AudioError::Io { path: self.path.clone(), source: e });
                    }
                    if e.kind() != std::io::ErrorKind::UnexpectedEof {
                        warn!(path = %self.path.display(), "read error after {:.1} s, keeping what was decoded: {e}", at(&st));
                    }
                    break;
                }
                Err(e) => {
                    total += 1;
                    consecutive += 1;
                    if consecutive > MAX_CONSECUTIVE_ERRORS || total > MAX_TOTAL_ERRORS {
                        if st.frames > 0 {
                            warn!(path = %self.path.display(), "demux failed at {:.1} s, keeping what was decoded: {e}", at(&st));
                            break;
                        }
                        return Err(AudioError::Decode { at_s: at(&st), msg: e.to_string() });
                    }
                    continue;
                }
            };
            if packet.track_id != self.track_id {
                continue;
            }
            let decoded = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                // A feature the decoder lacks appearing mid-stream, after good packets, is
                // damage far more often than a real change of stream (a corrupt AAC frame reads
                // as a coupling channel element): skipped like a corrupt packet (bounded).
                Err(e @ (SymError::DecodeError(_) | SymError::IoError(_) | SymError::Unsupported(_)))
                    if st.frames > 0 || !matches!(e, SymError::Unsupported(_)) =>
                {
                    total += 1;
                    consecutive += 1;
                    if consecutive > MAX_CONSECUTIVE_ERRORS || total > MAX_TOTAL_ERRORS {
                        if st.frames > 0 {
                            warn!(path = %self.path.display(), "too many bad packets after {:.1} s, keeping what was decoded", at(&st));
                            break;
                        }
                        return Err(AudioError::Decode { at_s: at(&st), msg: "too many corrupt packets".into() });
                    }
                    continue;
                }
                Err(e) => {
                    if st.frames > 0 {
                        warn!(path = %self.path.display(), "decoder stopped at {:.1} s: {e}", at(&st));
                        break;
                    }
                    return Err(AudioError::Decode { at_s: at(&st), msg: e.to_string() });
                }
            };
            consecutive = 0;
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let spec_rate = decoded.spec().rate();
            let ch = decoded.spec().channels().count().max(1);
            if !rate_known {
                if spec_rate < MIN_SAMPLE_RATE_HZ {
                    return Err(AudioError::Unsupported(format!("sample rate {spec_rate} Hz")));
                }
                st.rate = spec_rate;
                st.channels = ch;
                rate_known = true;
            } else if spec_rate != st.rate {
                warn!(path = %self.path.display(), "sample rate changes mid-stream at {:.1} s; stopping there", at(&st));
                break;
            }
            let (skip, keep) = Self::kept_range(exact_tb, &packet, frames);
            decoded.copy_to_vec_interleaved::<f32>(&mut interleaved);
            let kept = interleaved.get(skip * ch..(skip + keep) * ch).unwrap_or(&[]);
            mono.clear();
            if ch == 1 {
                mono.extend_from_slice(kept);
            } else {
                let inv = 1.0 / ch as f32;
                mono.extend(kept.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * inv));
            }
            let mut index = self.packet_index(&packet, st.rate);
            if let Some((start, end)) = self.playable {
                // Timestamps are samples here (checked when `playable` was set).
                let Some(t0) = packet.pts.get().checked_add(i64::try_from(packet.trim_start.get()).unwrap_or(i64::MAX)) else {
                    continue;
                };
                let n = mono.len() as i64;
                let z = end.map_or(n, |e| e.saturating_sub(t0).clamp(0, n)) as usize;
                let a = (start.saturating_sub(t0).clamp(0, n) as usize).min(z);
                mono.truncate(z);
                mono.drain(..a);
                index = index.and_then(|i| i.checked_add(a as i64));
            }
            if mono.is_empty() {
                continue;
            }
            for s in &mut mono {
                *s = if s.is_finite() { s.clamp(-MAX_SAMPLE, MAX_SAMPLE) } else { 0.0 };
            }
            st.frames += mono.len() as u64;
            if st.frames > MAX_DURATION_S * u64::from(st.rate) {
                return Err(AudioError::TooLong);
            }
            if sink(Block { index, mono: &mono, rate: st.rate }) == Flow::Stop {
                break;
            }
        }
        Ok(st)
    }
}

/// Decodes the whole file to mono at its own rate.
fn decode_full(path: &Path) -> Result<(Vec<f32>, DecodeStats, Option<u64>), AudioError> {
    let mut src = open(path)?;
    let header_frames = if src.frames_estimated { None } else { src.num_frames };
    let cap = header_frames.map_or(0, |n| n.min(MAX_PREALLOC as u64) as usize);
    let mut out: Vec<f32> = Vec::with_capacity(cap);
    let st = src.decode(|b| {
        out.extend_from_slice(b.mono);
        Flow::Continue
    })?;
    if out.is_empty() || st.rate == 0 {
        return Err(AudioError::Empty);
    }
    Ok((out, st, header_frames))
}

/// Whole track, mono (mean of channels, like librosa), resampled to `target_hz`.
pub fn load_full(path: &Path, target_hz: u32) -> Result<LoadedAudio, AudioError> {
    let t0 = Instant::now();
    let (mono, st, _) = decode_full(path)?;
    let decode_time = t0.elapsed();
    let t1 = Instant::now();
    let samples = resample(&mono, st.rate, target_hz)?;
    Ok(LoadedAudio {
        samples,
        sample_rate_hz: target_hz,
        duration_s: Some(mono.len() as f64 / st.rate as f64),
        source_rate_hz: st.rate,
        channels: st.channels,
        decode_time,
        resample_time: t1.elapsed(),
    })
}

/// What [`stream_full`] measured.
#[derive(Debug, Clone, Copy)]
pub struct StreamStats {
    /// Duration of the decoded audio.
    pub duration_s: f64,
    /// The file's own sample rate.
    pub source_rate_hz: u32,
    /// The file's channel count.
    pub channels: usize,
    /// Samples handed to the consumer (at the target rate).
    pub samples: usize,
    /// Time spent demuxing, decoding and mixing to mono.
    pub decode_time: Duration,
    /// Time spent resampling.
    pub resample_time: Duration,
}

/// Decodes the whole file and resamples it to `target_hz` as it goes, handing the mono samples
/// to `consume` in order, a block at a time: memory stays bounded whatever the length. The
/// samples are exactly those of [`load_full`] (same decoder, same resampler chunking). The
/// time `consume` takes is not counted in the stats.
/// `consume` also gets the file's own rate (the first call tells whether audio was resampled).
pub fn stream_full(path: &Path, target_hz: u32, mut consume: impl FnMut(&[f32], u32)) -> Result<StreamStats, AudioError> {
    let start = Instant::now();
    let mut src = open(path)?;
    let mut resampler: Option<ResampleStream> = None;
    let mut failure: Option<AudioError> = None;
    let mut resample_time = Duration::ZERO;
    let consumer_time = std::cell::Cell::new(Duration::ZERO);
    let source_rate = std::cell::Cell::new(0u32);
    let mut timed = |samples: &[f32]| {
        let t = Instant::now();
        consume(samples, source_rate.get());
        consumer_time.set(consumer_time.get() + t.elapsed());
    };
    let st = src.decode(|b| {
        source_rate.set(b.rate);
        let r = match &mut resampler {
            Some(r) => r,
            None => match ResampleStream::new(b.rate, target_hz) {
                Ok(r) => resampler.insert(r),
                Err(e) => {
                    failure = Some(e);
                    return Flow::Stop;
                }
            },
        };
        let t = Instant::now();
        let before = consumer_time.get();
        if let Err(e) = r.push(b.mono, &mut timed) {
            failure = Some(e);
            return Flow::Stop;
        }
        resample_time += t.elapsed().saturating_sub(consumer_time.get() - before);
        Flow::Continue
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    let Some(r) = resampler.filter(|_| st.frames > 0 && st.rate > 0) else { return Err(AudioError::Empty) };
    let t = Instant::now();
    let before = consumer_time.get();
    let samples = r.finish(&mut timed)?;
    resample_time += t.elapsed().saturating_sub(consumer_time.get() - before);
    let decode_time = start.elapsed().saturating_sub(resample_time + consumer_time.get());
    Ok(StreamStats {
        duration_s: st.frames as f64 / st.rate as f64,
        source_rate_hz: st.rate,
        channels: st.channels,
        samples,
        decode_time,
        resample_time,
    })
}

/// [`resample`] done a block at a time: the same chunks through the same resampler, so the
/// output is identical, with only a chunk of input and a little output held back (the final
/// length, `round(len * to / from)`, is known only at the end).
struct ResampleStream {
    /// `None` when the rates are equal (samples pass through).
    fft: Option<Fft<f32>>,
    from: u32,
    to: u32,
    chunk: usize,
    pending: Vec<f32>,
    out: Vec<f32>,
    /// Output frames still to drop: the resampler's delay.
    to_trim: usize,
    /// Raw output frames produced (before trimming).
    raw_out: usize,
    /// Trimmed output not yet handed on (may be cut at the end).
    held: Vec<f32>,
    /// Input frames pushed.
    in_len: usize,
    /// Output frames handed on.
    emitted: usize,
}

impl ResampleStream {
    fn new(from: u32, to: u32) -> Result<ResampleStream, AudioError> {
        let fft = if from == to { None } else { Some(make_resampler(from, to)?) };
        let (chunk, max_out, delay) = fft.as_ref().map_or((0, 0, 0), |r| (r.input_frames_next(), r.output_frames_max(), r.output_delay()));
        Ok(ResampleStream {
            fft,
            from,
            to,
            chunk,
            pending: Vec::with_capacity(chunk * 2),
            out: vec![0.0; max_out],
            to_trim: delay,
            raw_out: 0,
            held: Vec::new(),
            in_len: 0,
            emitted: 0,
        })
    }

    fn push(&mut self, samples: &[f32], sink: &mut impl FnMut(&[f32])) -> Result<(), AudioError> {
        self.in_len += samples.len();
        if self.fft.is_none() {
            self.emitted += samples.len();
            sink(samples);
            return Ok(());
        }
        self.pending.extend_from_slice(samples);
        // As `process_all`: a full chunk is processed only while more input follows it.
        let mut used = 0;
        while self.pending.len() - used > self.chunk {
            let end = used + self.chunk;
            self.process(used, end, None)?;
            used = end;
        }
        self.pending.drain(..used);
        // Frames below round-down(in_len * to / from) are below the final length for sure.
        let safe = (self.in_len as u128 * self.to as u128 / self.from as u128) as usize;
        self.release(safe, sink);
        Ok(())
    }

    /// Runs one chunk (`pending[a..b]`; `partial`: the valid frames of a last, short chunk).
    fn process(&mut self, a: usize, b: usize, partial: Option<usize>) -> Result<(), AudioError> {
        let Some(fft) = &mut self.fft else { return Ok(()) };
        let err = |e: &dyn std::fmt::Display| AudioError::Resample(e.to_string());
        let mut chunk_buf;
        let input: &[f32] = match partial {
            None => &self.pending[a..b],
            Some(n) => {
                // A short last chunk is zero-padded to the chunk length, as rubato does.
                chunk_buf = vec![0.0f32; self.chunk];
                chunk_buf[..n].copy_from_slice(&self.pending[a..a + n]);
                &chunk_buf
            }
        };
        let input = InterleavedSlice::new(input, 1, self.chunk).map_err(|e| err(&e))?;
        let out_len = self.out.len();
        let mut output = rubato::audioadapter_buffers::direct::InterleavedSlice::new_mut(&mut self.out, 1, out_len).map_err(|e| err(&e))?;
        let indexing = rubato::Indexing { input_offset: 0, output_offset: 0, active_channels_mask: None, partial_len: partial };
        let (_, n) = fft.process_into_buffer(&input, &mut output, Some(&indexing)).map_err(|e| err(&e))?;
        self.raw_out += n;
        let skip = self.to_trim.min(n);
        self.to_trim -= skip;
        self.held.extend_from_slice(&self.out[skip..n]);
        Ok(())
    }

    /// Hands on held frames whose index is below `limit`.
    fn release(&mut self, limit: usize, sink: &mut impl FnMut(&[f32])) {
        let n = limit.saturating_sub(self.emitted).min(self.held.len());
        if n > 0 {
            sink(&self.held[..n]);
            self.held.drain(..n);
            self.emitted += n;
        }
    }

    /// Processes what is left and hands on the output up to its final length; returns it.
    fn finish(mut self, sink: &mut impl FnMut(&[f32])) -> Result<usize, AudioError> {
        if self.fft.is_none() {
            return Ok(self.emitted);
        }
        let want = resampled_len(self.in_len, self.from, self.to);
        let delay = self.fft.as_ref().map_or(0, |r| r.output_delay());
        let ratio = self.to as f64 / self.from as f64;
        let expected = (ratio * self.in_len as f64).ceil() as usize;
        if !self.pending.is_empty() {
            let n = self.pending.len();
            self.process(0, n, Some(n))?;
        }
        self.pending.clear();
        // Then zeros, while the output is short of the expected length (`process_all`).
        while self.raw_out < expected + delay {
            self.pending.clear();
            self.process(0, 0, Some(0))?;
        }
        if self.emitted + self.held.len() < want {
            self.held.resize(want - self.emitted, 0.0);
        }
        self.release(want, sink);
        Ok(self.emitted)
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;

    /// Deterministic noise-and-tones test signal.
    fn signal(n: usize) -> Vec<f32> {
        let mut h = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|i| {
                h ^= h << 13;
                h ^= h >> 7;
                h ^= h << 17;
                (0.3 * (i as f32 * 0.013).sin()) + ((h >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
            })
            .collect()
    }

    #[test]
    fn streaming_resample_equals_resample_bit_for_bit() {
        for (from, to) in [(44_100, 16_000), (48_000, 12_000), (22_050, 16_000), (8_000, 16_000), (16_000, 16_000)] {
            for n in [0, 1, 100, 4095, 4096, 4097, 8192, 8193, 50_000, 123_457] {
                let x = signal(n);
                let want = resample(&x, from, to).unwrap();
                for block in [1, 333, 4096, 10_000] {
                    let mut s = ResampleStream::new(from, to).unwrap();
                    let mut got = Vec::new();
                    for part in x.chunks(block) {
                        s.push(part, &mut |o: &[f32]| got.extend_from_slice(o)).unwrap();
                    }
                    let total = s.finish(&mut |o: &[f32]| got.extend_from_slice(o)).unwrap();
                    assert_eq!((total, got.len()), (want.len(), want.len()), "{from}->{to} n={n} block={block}");
                    let same = got.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{from}->{to} n={n} block={block}: samples differ");
                }
            }
        }
    }
}

/// What [`decode_progressive`] knows of a stream before decoding it.
#[derive(Debug, Clone, Copy)]
pub struct StreamInfo {
    /// The file's sample rate, when the container says.
    pub rate_hz: Option<u32>,
    /// Frames the container announces (an estimate unless `frames_exact`).
    pub frames: Option<u64>,
    /// Whether `frames` is exact.
    pub frames_exact: bool,
}

/// Decodes the whole file to mono at its own rate, as [`load_full`] does before resampling,
/// handing each decoded block to `on_block` as soon as it is decoded (for progressive
/// displays); `on_block` returns false to stop. Returns the rate and the frames decoded.
/// A decoder's panic is caught here: the app's spectrogram and playback threads have no
/// per-file guard of their own.
pub fn decode_progressive(path: &Path, mut on_block: impl FnMut(&StreamInfo, &[f32]) -> bool) -> Result<(u32, u64), AudioError> {
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut src = open(path)?;
        let info = StreamInfo { rate_hz: src.rate, frames: src.num_frames, frames_exact: !src.frames_estimated };
        src.decode(|b| if on_block(&info, b.mono) { Flow::Continue } else { Flow::Stop })
    }));
    let st = decoded.map_err(|panic| AudioError::DecoderPanic(panic_text(panic.as_ref())))??;
    if st.frames == 0 || st.rate == 0 {
        return Err(AudioError::Empty);
    }
    Ok((st.rate, st.frames))
}

/// The message a panic carried.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// The upstream window of an already-resampled track: `y[(n-fit)/2 .. (n+fit)/2]`, or `y`
/// zero-padded at the end when shorter than `fit`.
pub fn center_crop(y: &[f32], fit: usize) -> Vec<f32> {
    let n = y.len();
    if n < fit {
        let mut out = y.to_vec();
        out.resize(fit, 0.0);
        out
    } else {
        let s = (n - fit) / 2;
        y[s..s + fit].to_vec()
    }
}

/// The upstream centre crop: exactly `crop_samples` samples at `target_hz`, equal to
/// [`center_crop`] of the whole resampled track, decoding only the span it needs when the
/// container can seek and knows its length (else a full decode).
pub fn load_center(path: &Path, target_hz: u32, crop_samples: usize) -> Result<LoadedAudio, AudioError> {
    let t0 = Instant::now();
    match try_load_center_seek(path, target_hz, crop_samples) {
        Ok(Some(a)) => return Ok(a),
        Ok(None) => {}
        Err(e) => {
            debug!(path = %path.display(), "seeking crop failed ({e}); decoding the whole file");
        }
    }
    let mut a = load_center_streaming(path, target_hz, crop_samples)?;
    // The failed seek attempt counts as decoding too.
    a.decode_time = t0.elapsed().saturating_sub(a.resample_time);
    Ok(a)
}

/// [`center_crop`] of the whole track resampled to `target_hz` ([`load_full`]), decoded and
/// resampled a block at a time: only target-rate samples that may still be in the crop are kept
/// (those from `(n - crop) / 2` on, `n` the samples so far, since the final crop starts there or
/// later). A container that cannot seek to the centre (Matroska, say) then holds at most half the
/// track at the model's rate, not the whole track at its own (a 2-hour 192 kHz file: 5.8 GB).
fn load_center_streaming(path: &Path, target_hz: u32, crop: usize) -> Result<LoadedAudio, AudioError> {
    let mut kept: Vec<f32> = Vec::new();
    let (mut base, mut total) = (0usize, 0usize);
    let stats = stream_full(path, target_hz, |samples, _| {
        kept.extend_from_slice(samples);
        total += samples.len();
        let droppable = total.saturating_sub(crop) / 2;
        // Drained once the part that can go is most of what is kept: linear time overall.
        if droppable - base > kept.len() / 2 {
            kept.drain(..droppable - base);
            base = droppable;
        }
    })?;
    let start = total.saturating_sub(crop) / 2 - base;
    let mut samples = kept.get(start..).map_or_else(Vec::new, |s| s[..crop.min(s.len())].to_vec());
    samples.resize(crop, 0.0);
    Ok(LoadedAudio {
        samples,
        sample_rate_hz: target_hz,
        duration_s: Some(stats.duration_s),
        source_rate_hz: stats.source_rate_hz,
        channels: stats.channels,
        decode_time: stats.decode_time,
        resample_time: stats.resample_time,
    })
}

/// Raw timestamp (time-base units) of the first decoded sample, decoding as few packets as
/// possible.
fn first_output_ts(src: &mut Source) -> Option<i64> {
    // With start_ts = 0 and a 1/rate time base (checked by the caller), index == raw ts.
    src.start_ts = 0;
    let mut ts = None;
    src.decode(|b| {
        ts = b.index;
        Flow::Stop
    })
    .ok()?;
    ts
}

/// Sum of packet durations: the exact decoded length when the container only estimates it.
fn count_frames(src: &mut Source) -> Option<u64> {
    let mut total: u64 = 0;
    let mut errors = 0;
    loop {
        match src.format.next_packet() {
            Ok(Some(p)) if p.track_id == src.track_id => total = total.checked_add(p.dur.get())?,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(_) => {
                errors += 1;
                if errors > MAX_CONSECUTIVE_ERRORS {
                    return None;
                }
            }
        }
    }
    Some(total)
}

/// `Ok(None)` means "this file needs a full decode" (short, unseekable, unknown length...).
fn try_load_center_seek(path: &Path, target_hz: u32, crop: usize) -> Result<Option<LoadedAudio>, AudioError> {
    let t0 = Instant::now();
    let mut src = open(path)?;
    let Some(from) = src.rate else {
        return Ok(None);
    };
    // Only a time base of exactly 1/rate gives sample-exact placement without rounding doubts.
    if src.time_base.is_some_and(|tb| TimeBase::try_from_recip(from) != Some(tb)) {
        return Ok(None);
    }
    // The first playable sample's timestamp is the origin of the sample grid (0 for gapless
    // mp3 and Ogg, whose `start_ts` counts the trimmed delay; read it rather than assume it).
    let Some(origin) = first_output_ts(&mut src) else {
        return Ok(None);
    };
    src.start_ts = origin;
    let n_src = if src.frames_estimated {
        src = open(path)?;
        count_frames(&mut src)
    } else {
        src.num_frames
    };
    let Some(n_src) = n_src.filter(|&n| n > 0) else {
        return Ok(None);
    };
    if n_src > MAX_DURATION_S * u64::from(from) {
        return Ok(None); // let the full decode find out whether the header lies
    }
    let n_out = resampled_len(n_src as usize, from, target_hz);
    // Short tracks are decoded whole anyway; a few seconds of slack keeps seeking worthwhile.
    let margin = from as usize; // 1 s at the source rate: resampler edges + decoder warm-up
    if n_out <= crop || n_src as usize <= crop_src_len(crop, from, target_hz) + 4 * margin {
        return Ok(None);
    }
    let (block_in, block_out) = if from == target_hz {
        (1, 1)
    } else {
        let r = make_resampler(from, target_hz)?;
        (r.fft_size_in(), r.fft_size_out())
    };
    let k0 = (n_out - crop) / 2;
    // Source span needed, aligned to the resampler's block grid so the segment is resampled on
    // the same grid as the whole track would be (then both agree away from the segment edges).
    let want_start = (k0 as u128 * from as u128 / target_hz as u128) as usize;
    let want_end = ((k0 + crop) as u128 * from as u128).div_ceil(target_hz as u128) as usize;
    let s0 = (want_start.saturating_sub(margin) / block_in) * block_in;
    let s1 = (want_end + margin).min(n_src as usize);
    let out_offset = s0 / block_in * block_out;

    // Seek half a second before s0 so decoders (mp3 bit reservoir, MDCT overlap) are warm.
    let seek_to = s0.saturating_sub(from as usize / 2);
    // Origin detection and count_frames consumed packets, and some readers (isomp4) cannot seek
    // once at the end: start from a fresh reader.
    src = open(path)?;
    src.start_ts = origin;
    if seek_to > 0 {
        let ts = Timestamp::new(src.start_ts.saturating_add(seek_to as i64));
        src.format
            .seek(SeekMode::Accurate, SeekTo::Timestamp { ts, track_id: src.track_id })
            .map_err(|e| AudioError::Decode { at_s: seek_to as f64 / from as f64, msg: format!("seek: {e}") })?;
        src.decoder.reset();
    }

    let len = s1 - s0;
    let mut seg = vec![0.0f32; len];
    let mut covered = 0usize; // samples of seg written
    let mut first: Option<i64> = None;
    let mut untimed = false;
    let st = src.decode(|b| {
        let Some(idx) = b.index else {
            untimed = true;
            return Flow::Stop;
        };
        let start = idx - s0 as i64;
        let end = start + b.mono.len() as i64;
        if end <= 0 {
            return Flow::Continue;
        }
        if first.is_none() {
            first = Some(start);
        }
        let a = start.max(0) as usize;
        let z = (end as usize).min(len);
        if a < z {
            seg[a..z].copy_from_slice(&b.mono[(a as i64 - start) as usize..(z as i64 - start) as usize]);
            covered += z - a;
        }
        if end as usize >= len { Flow::Stop } else { Flow::Continue }
    })?;
    if untimed || first.is_none_or(|f| f > 0) || covered + from as usize / 10 < len || st.rate != from {
        debug!(path = %path.display(), ?first, covered, len, "seek decode did not cover the span");
        return Ok(None);
    }
    let decode_time = t0.elapsed();
    let t1 = Instant::now();
    let z = resample(&seg, from, target_hz)?;
    let off = k0 - out_offset;
    let mut samples = z.get(off..).map_or_else(Vec::new, |s| s[..crop.min(s.len())].to_vec());
    samples.resize(crop, 0.0);
    Ok(Some(LoadedAudio {
        samples,
        sample_rate_hz: target_hz,
        duration_s: Some(n_src as f64 / from as f64),
        source_rate_hz: from,
        channels: st.channels,
        decode_time,
        resample_time: t1.elapsed(),
    }))
}

/// Source samples spanned by `crop` output samples.
fn crop_src_len(crop: usize, from: u32, to: u32) -> usize {
    (crop as u128 * from as u128 / to.max(1) as u128) as usize
}

/// `round(len * to / from)`, the resampled length.
fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    ((len as u128 * to as u128 * 2 + from as u128) / (2 * from as u128)) as usize
}

/// FFT resampler with ~2048-sample blocks: long anti-aliasing filter (high quality), and a
/// block grid that [`load_center`] aligns its segments to.
fn make_resampler(from: u32, to: u32) -> Result<Fft<f32>, AudioError> {
    if from < MIN_SAMPLE_RATE_HZ || to < MIN_SAMPLE_RATE_HZ || from > 1_000_000 || to > 1_000_000 {
        return Err(AudioError::Resample(format!("unsupported rates {from} -> {to} Hz")));
    }
    Fft::<f32>::new_custom(from as usize, to as usize, 4096, 2, 1, WindowFunction::BlackmanHarris2, FixedSync::Input)
        .map_err(|e| AudioError::Resample(e.to_string()))
}

/// Resamples mono audio (rubato FFT resampler, delay-compensated: output sample k is at time
/// k / to_hz); output length is `round(len * to / from)`.
pub fn resample(samples: &[f32], from_hz: u32, to_hz: u32) -> Result<Vec<f32>, AudioError> {
    if from_hz == to_hz {
        return Ok(samples.to_vec());
    }
    let want = resampled_len(samples.len(), from_hz, to_hz);
    if samples.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = make_resampler(from_hz, to_hz)?;
    let input = InterleavedSlice::new(samples, 1, samples.len()).map_err(|e| AudioError::Resample(e.to_string()))?;
    let out = r.process_all(&input, samples.len(), None).map_err(|e| AudioError::Resample(e.to_string()))?;
    let mut v = out.take_data();
    v.resize(want, 0.0);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::PI;
    use std::io::Write;
    use std::process::Command;

    /// Minimal 16-bit PCM WAV writer; `frames[i]` holds one sample per channel.
    fn write_wav(path: &Path, rate: u32, channels: usize, n: usize, f: impl Fn(usize, usize) -> f64) {
        let data_len = (n * channels * 2) as u32;
        let mut b = Vec::with_capacity(44 + data_len as usize);
        b.extend_from_slice(b"RIFF");
        b.extend_from_slice(&(36 + data_len).to_le_bytes());
        b.extend_from_slice(b"WAVEfmt ");
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&1u16.to_le_bytes());
        b.extend_from_slice(&(channels as u16).to_le_bytes());
        b.extend_from_slice(&rate.to_le_bytes());
        b.extend_from_slice(&(rate * channels as u32 * 2).to_le_bytes());
        b.extend_from_slice(&(channels as u16 * 2).to_le_bytes());
        b.extend_from_slice(&16u16.to_le_bytes());
        b.extend_from_slice(b"data");
        b.extend_from_slice(&data_len.to_le_bytes());
        for i in 0..n {
            for c in 0..channels {
                let v = (f(i, c).clamp(-1.0, 1.0) * 32767.0).round() as i16;
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        std::fs::File::create(path).and_then(|mut fh| fh.write_all(&b)).expect("write wav");
    }

    fn sine(freq: f64, rate: u32, amp: f64) -> impl Fn(usize, usize) -> f64 {
        move |i, _| amp * (2.0 * PI * freq * i as f64 / rate as f64).sin()
    }

    /// Music-like test signal: a few tones with slow amplitude modulation plus LCG noise.
    fn music(rate: u32) -> impl Fn(usize, usize) -> f64 {
        move |i, c| {
            let t = i as f64 / rate as f64;
            let mut h = (i as u64).wrapping_mul(6364136223846793005).wrapping_add(c as u64 * 1442695040888963407);
            h ^= h >> 33;
            let noise = (h % 2001) as f64 / 1000.0 - 1.0;
            0.25 * (2.0 * PI * 220.0 * t).sin() * (0.5 + 0.5 * (2.0 * PI * 0.3 * t).sin())
                + 0.15 * (2.0 * PI * (1000.0 + 200.0 * c as f64) * t).sin()
                + 0.1 * (2.0 * PI * 3100.0 * t + (2.0 * PI * 0.7 * t).sin()).sin()
                + 0.02 * noise
        }
    }

    fn corr(a: &[f32], b: &[f64]) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
        for (&x, &y) in a.iter().zip(b) {
            ab += x as f64 * y;
            aa += x as f64 * x as f64;
            bb += y * y;
        }
        ab / (aa * bb).sqrt()
    }

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    /// Converts `src` to `dst` with ffmpeg (installed by `make setup`): a missing ffmpeg or a
    /// failed conversion fails the test.
    fn ffmpeg_convert(src: &Path, dst: &Path, args: &[&str]) {
        let out = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-i"])
            .arg(src)
            .args(args)
            .arg(dst)
            .output()
            .expect("ffmpeg not found: run `make setup`");
        assert!(out.status.success(), "ffmpeg {args:?} -> {}: {}", dst.display(), String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn sine_44k_stereo_to_12k() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("sine.wav");
        let n = 44100 * 5;
        write_wav(&p, 44100, 2, n, sine(1000.0, 44100, 0.5));
        let a = load_full(&p, 12000).expect("decode");
        assert_eq!(a.samples.len(), 12000 * 5);
        assert_eq!((a.source_rate_hz, a.channels, a.sample_rate_hz), (44100, 2, 12000));
        assert!((a.duration_s.unwrap_or(0.0) - 5.0).abs() < 1e-9);
        let want: Vec<f64> = (0..a.samples.len()).map(|k| 0.5 * (2.0 * PI * 1000.0 * k as f64 / 12000.0).sin()).collect();
        let (lo, hi) = (1200, a.samples.len() - 1200);
        let c = corr(&a.samples[lo..hi], &want[lo..hi]);
        let rms = (a.samples[lo..hi].iter().map(|&x| x as f64 * x as f64).sum::<f64>() / (hi - lo) as f64).sqrt();
        println!("sine: corr {c:.6}, rms {rms:.4} (want {:.4})", 0.5 / 2f64.sqrt());
        assert!(c > 0.999, "corr {c}");
        assert!((rms - 0.5 / 2f64.sqrt()).abs() < 0.005, "rms {rms}");
    }

    #[test]
    fn center_matches_full_then_crop_wav() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("long.wav");
        write_wav(&p, 44100, 2, 44100 * 180 + 123, music(44100));
        let full = load_full(&p, 12000).expect("full");
        let want = center_crop(&full.samples, 349440);
        let c = load_center(&p, 12000, 349440).expect("center");
        assert_eq!(c.samples.len(), 349440);
        let d = max_abs_diff(&c.samples, &want);
        println!(
            "wav 3 min: center vs full-crop max diff {d:e}; full decode {:?} resample {:?}; center decode {:?} resample {:?}",
            full.decode_time, full.resample_time, c.decode_time, c.resample_time
        );
        assert!(d < 1e-3, "max diff {d}");
        assert!((c.duration_s.unwrap_or(0.0) - full.duration_s.unwrap_or(0.0)).abs() < 1e-6);
    }

    #[test]
    fn center_matches_full_then_crop_compressed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("src.wav");
        write_wav(&wav, 44100, 2, 44100 * 100 + 777, music(44100));
        let cases: &[(&str, &[&str])] = &[
            ("mp3", &["-c:a", "libmp3lame", "-b:a", "192k"]),
            ("cbr_nolame.mp3", &["-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0"]),
            ("flac", &[]),
            ("ogg", &["-c:a", "libvorbis", "-q:a", "5"]),
            ("m4a", &["-c:a", "aac", "-b:a", "160k"]),
            ("aiff", &[]),
            ("opus", &["-c:a", "libopus", "-b:a", "128k"]),
            ("webm", &["-c:a", "libopus", "-b:a", "128k"]),
        ];
        for (ext, args) in cases {
            let p = dir.path().join(format!("x.{ext}"));
            ffmpeg_convert(&wav, &p, args);
            let full = load_full(&p, 12000).unwrap_or_else(|e| panic!("{ext}: {e}"));
            let want = center_crop(&full.samples, 349440);
            let c = load_center(&p, 12000, 349440).unwrap_or_else(|e| panic!("{ext}: {e}"));
            let d = max_abs_diff(&c.samples, &want);
            println!(
                "{ext}: center vs full-crop max diff {d:e}; duration full {:?} center {:?}; decode full {:?} center {:?}",
                full.duration_s, c.duration_s, full.decode_time, c.decode_time
            );
            assert!(d < 1e-3, "{ext}: max diff {d}");
            if ext == &"opus" {
                // Ogg Opus timestamps are samples: the crop must come from a seek.
                let seeked = try_load_center_seek(&p, 12000, 349440);
                assert!(matches!(seeked, Ok(Some(_))), "opus did not seek");
            }
        }
    }

    /// Index of the largest |sample| in `y[lo..hi]`.
    fn peak_at(y: &[f32], lo: usize, hi: usize) -> usize {
        (lo..hi.min(y.len())).max_by(|&a, &b| y[a].abs().total_cmp(&y[b].abs())).unwrap_or(lo)
    }

    /// Encodes a WAV with clicks at known positions to m4a/aac and checks the clicks and the
    /// length survive: the encoder priming (edit list, or iTunSMPB when the edit list is
    /// patched to start at 0) must be dropped.
    #[test]
    fn aac_in_mp4_is_gapless() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("clicks.wav");
        let n = 44100 * 3 + 321;
        let clicks = [4410 + 17, 44100 + 5, 2 * 44100 + 29];
        write_wav(&wav, 44100, 2, n, |i, _| if clicks.contains(&i) { 0.9 } else { 0.0 });
        let reference = load_full(&wav, 12000).expect("wav");
        let m4a = dir.path().join("clicks.m4a");
        ffmpeg_convert(&wav, &m4a, &["-c:a", "aac", "-b:a", "192k"]);
        // Same file, priming given by iTunSMPB only: elst media_time patched to 0, and an
        // iTunes freeform tag appended to moov/udta/meta/ilst (all last in the file).
        let smpb = dir.path().join("smpb.m4a");
        let mut b = std::fs::read(&m4a).expect("read");
        let at = b.windows(4).position(|w| w == b"elst").expect("ffmpeg writes an edit list");
        // elst: version/flags, count, then (segment_duration, media_time) of entry 0.
        assert_eq!(b[at + 16..at + 20], 1024u32.to_be_bytes());
        b[at + 16..at + 20].copy_from_slice(&0u32.to_be_bytes());
        let boxed = |kind: &[u8], body: &[u8]| [&((body.len() + 8) as u32).to_be_bytes()[..], kind, body].concat();
        let value = format!(" 00000000 00000400 00000000 {n:016X} 00000000 00000000");
        let tag = boxed(
            b"----",
            &[
                boxed(b"mean", b"\0\0\0\0com.apple.iTunes"),
                boxed(b"name", b"\0\0\0\0iTunSMPB"),
                boxed(b"data", &[b"\0\0\0\x01\0\0\0\0", value.as_bytes()].concat()),
            ]
            .concat(),
        );
        // Walk to each box on the path, check it ends the file, then grow it by the tag.
        let (mut pos, mut end) = (0usize, b.len());
        for (kind, skip) in [(b"moov", 0usize), (b"udta", 0), (b"meta", 4), (b"ilst", 0)] {
            loop {
                let size = u32::from_be_bytes(b[pos..pos + 4].try_into().expect("4")) as usize;
                if &b[pos + 4..pos + 8] == kind {
                    assert_eq!(pos + size, end, "{} is not last", kind.escape_ascii());
                    b[pos..pos + 4].copy_from_slice(&((size + tag.len()) as u32).to_be_bytes());
                    end = pos + size;
                    pos += 8 + skip;
                    break;
                }
                pos += size;
                assert!(pos < end, "{} not found", kind.escape_ascii());
            }
        }
        b.extend_from_slice(&tag);
        std::fs::write(&smpb, &b).expect("write");
        for p in [&m4a, &smpb] {
            let name = p.file_name().and_then(|s| s.to_str()).unwrap_or("?");
            let a = load_full(p, 12000).expect("m4a");
            let (da, dw) = (a.duration_s.unwrap_or(0.0), reference.duration_s.unwrap_or(0.0));
            println!("{name}: duration {da:.6} s vs wav {dw:.6} s");
            assert!((da - dw).abs() < 1e-3, "{name}: duration {da} vs {dw}");
            for &c in &clicks {
                let k = c * 12000 / 44100;
                let (want, got) = (peak_at(&reference.samples, k - 600, k + 600), peak_at(&a.samples, k - 600, k + 600));
                println!("{name}: click at {want} (12 kHz) in the wav, {got} decoded");
                // The priming is 279 samples at 12 kHz; AAC only smears a click by a few.
                assert!(want.abs_diff(got) <= 2, "{name}: click {want} vs {got}");
            }
        }
    }

    #[test]
    fn short_file_is_zero_padded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("short.wav");
        write_wav(&p, 22050, 1, 22050 * 3, sine(440.0, 22050, 0.3));
        let c = load_center(&p, 12000, 349440).expect("center");
        assert_eq!(c.samples.len(), 349440);
        assert!(c.samples[..36000].iter().any(|&v| v.abs() > 0.2));
        assert!(c.samples[36000..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn six_channels_48k() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("six.wav");
        // Channel c carries 0.1*(c+1) DC-free tone; the mean is a 0.35-amplitude tone.
        write_wav(&p, 48000, 6, 48000 * 2, |i, c| 0.1 * (c + 1) as f64 * (2.0 * PI * 500.0 * i as f64 / 48000.0).sin());
        let a = load_full(&p, 12000).expect("6ch");
        assert_eq!((a.channels, a.source_rate_hz, a.samples.len()), (6, 48000, 24000));
        let peak = a.samples[2000..22000].iter().fold(0.0f32, |m, &v| m.max(v.abs()));
        assert!((peak - 0.35).abs() < 0.01, "peak {peak}");
    }

    #[test]
    fn the_streamed_centre_is_the_centre_of_the_whole_track() {
        let dir = tempfile::tempdir().expect("tempdir");
        // Longer than the crop (odd lengths, so the halving rounds), shorter, and at the model's
        // rate (no resampling).
        for (rate, frames, target) in [(44100u32, 44100 * 61 + 7, 12000u32), (48000, 48000 * 5 + 3, 16000), (16000, 16000 * 40 + 1, 16000)]
        {
            let p = dir.path().join(format!("c{rate}_{frames}.wav"));
            write_wav(&p, rate, 2, frames, music(rate));
            let crop = 349440;
            let whole = load_full(&p, target).expect("whole");
            let streamed = load_center_streaming(&p, target, crop).expect("streamed");
            assert_eq!(streamed.samples, center_crop(&whole.samples, crop), "{rate} Hz, {frames} frames");
            assert_eq!(streamed.duration_s, whole.duration_s);
        }
    }

    #[test]
    fn low_and_high_rates() {
        let dir = tempfile::tempdir().expect("tempdir");
        for rate in [8000u32, 96000] {
            let p = dir.path().join(format!("r{rate}.wav"));
            write_wav(&p, rate, 1, rate as usize * 4, sine(700.0, rate, 0.5));
            let a = load_full(&p, 12000).expect("decode");
            assert_eq!(a.samples.len(), 48000, "{rate}");
            let want: Vec<f64> = (0..48000).map(|k| 0.5 * (2.0 * PI * 700.0 * k as f64 / 12000.0).sin()).collect();
            let c = corr(&a.samples[2000..46000], &want[2000..46000]);
            assert!(c > 0.999, "{rate}: corr {c}");
        }
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = dir.path().join("empty.mp3");
        std::fs::write(&empty, b"").expect("write");
        let e = load_full(&empty, 12000).expect_err("empty");
        assert!(matches!(e, AudioError::EmptyFile), "{e}");
        assert_eq!(e.to_string(), "file is empty");

        let mut state = 12345u64;
        let junk: Vec<u8> = (0..200_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        let flac = dir.path().join("junk.flac");
        std::fs::write(&flac, &junk).expect("write");
        let r = load_center(&flac, 12000, 349440);
        println!("random .flac: {:?}", r.as_ref().err().map(|e| e.to_string()));
        assert!(r.is_err());

        let ogg = dir.path().join("text.ogg");
        std::fs::write(&ogg, "this is not audio\n".repeat(100)).expect("write");
        let r = load_full(&ogg, 12000);
        println!("text .ogg: {:?}", r.as_ref().err().map(|e| e.to_string()));
        assert!(r.is_err());

        let missing = dir.path().join("missing.wav");
        assert!(matches!(load_full(&missing, 12000), Err(AudioError::Io { .. })));

        // A WAV header claiming about 4 GB of data over 1000 frames: what is there decodes,
        // exactly as the honest file does, and the centre crop is it, zero-padded.
        let honest = dir.path().join("honest.wav");
        write_wav(&honest, 44100, 2, 1000, sine(440.0, 44100, 0.5));
        let want = load_full(&honest, 12000).expect("honest wav");
        assert_eq!(want.samples.len(), 272, "1000 frames at 44.1 kHz are 272 at 12 kHz");
        let liar = dir.path().join("liar.wav");
        let mut b = std::fs::read(&honest).expect("read");
        b[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        b[40..44].copy_from_slice(&(u32::MAX - 64).to_le_bytes());
        std::fs::write(&liar, &b).expect("write");
        let full = load_full(&liar, 12000).expect("the lying wav decodes what it holds");
        assert_eq!(full.samples, want.samples);
        let center = load_center(&liar, 12000, 349440).expect("the lying wav's centre");
        assert_eq!(center.samples, center_crop(&want.samples, 349440));
        // Truncated header.
        let trunc = dir.path().join("trunc.wav");
        std::fs::write(&trunc, &b[..30]).expect("write");
        assert!(load_full(&trunc, 12000).is_err());
    }

    #[test]
    fn truncated_mp3_decodes_what_is_there() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("src.wav");
        write_wav(&wav, 44100, 2, 44100 * 60, music(44100));
        let mp3 = dir.path().join("x.mp3");
        ffmpeg_convert(&wav, &mp3, &["-c:a", "libmp3lame", "-b:a", "128k"]);
        let b = std::fs::read(&mp3).expect("read");
        let cut = dir.path().join("cut.mp3");
        std::fs::write(&cut, &b[..b.len() / 3 + 17]).expect("write");
        let a = load_full(&cut, 12000).expect("truncated mp3 should decode its first third");
        let secs = a.samples.len() as f64 / 12000.0;
        println!("truncated mp3: {secs:.2} s decoded");
        assert!((15.0..25.0).contains(&secs), "{secs}");
        let c = load_center(&cut, 12000, 349440).expect("center of truncated mp3");
        assert_eq!(c.samples.len(), 349440);
        // Garbage in the middle: packets are skipped, not fatal.
        let mut g = b.clone();
        let mid = g.len() / 2;
        let mut s = 99u64;
        for x in &mut g[mid..mid + 20000] {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(7);
            *x = (s >> 56) as u8;
        }
        let gp = dir.path().join("garbage.mp3");
        std::fs::write(&gp, &g).expect("write");
        let a = load_full(&gp, 12000).expect("mp3 with a garbage patch");
        println!("mp3 with garbage patch: {:.2} s decoded", a.samples.len() as f64 / 12000.0);
        assert!(a.samples.len() > 12000 * 50);
    }

    /// ffmpeg's own decode of `p` (its native Opus decoder), channels averaged, at 48 kHz.
    fn ffmpeg_decode_mono(p: &Path, channels: usize) -> Vec<f32> {
        let out = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-i"])
            .arg(p)
            .args(["-f", "f32le", "-ar", "48000", "-"])
            .output()
            .expect("ffmpeg");
        assert!(out.status.success());
        let pcm: Vec<f32> = out.stdout.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        pcm.chunks_exact(channels).map(|f| f.iter().sum::<f32>() / channels as f32).collect()
    }

    /// Ogg Opus and WebM Opus decode (libopus) with the pre-skip dropped: clicks land where the
    /// WAV has them, the Ogg length is exact, and the samples match ffmpeg's decoder.
    #[test]
    fn opus_is_gapless_and_matches_ffmpeg() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = 48000 * 4 + 123;
        let clicks = [4800 + 17, 48000 + 5, 3 * 48000 + 29];
        for channels in [1usize, 2] {
            let wav = dir.path().join(format!("clicks{channels}.wav"));
            write_wav(&wav, 48000, channels, n, |i, c| {
                let m = music(48000)(i, c) * 0.5;
                if clicks.contains(&i) { 0.95 } else { m }
            });
            let reference = load_full(&wav, 48000).expect("wav");
            for ext in ["opus", "webm"] {
                let p = dir.path().join(format!("clicks{channels}.{ext}"));
                ffmpeg_convert(&wav, &p, &["-c:a", "libopus", "-b:a", "160k"]);
                let a = load_full(&p, 48000).unwrap_or_else(|e| panic!("{ext}: {e}"));
                assert_eq!((a.source_rate_hz, a.channels), (48000, channels));
                let len = a.samples.len();
                println!("{channels} ch .{ext}: {len} samples, wav {n}");
                if ext == "opus" {
                    assert_eq!(len, n, "ogg opus length is exact");
                } else {
                    // Matroska: symphonia ignores DiscardPadding, so up to one frame more.
                    assert!((n..=n + 960).contains(&len), "webm length {len}");
                }
                for &c in &clicks {
                    let (want, got) = (peak_at(&reference.samples, c - 600, c + 600), peak_at(&a.samples, c - 600, c + 600));
                    assert!(want.abs_diff(got) <= 2, "{ext}: click {want} vs {got}");
                }
                let ff = ffmpeg_decode_mono(&p, channels);
                let m = ff.len().min(len);
                let d = max_abs_diff(&a.samples[..m], &ff[..m]);
                let mean = a.samples[..m].iter().zip(&ff[..m]).map(|(x, y)| f64::from((x - y).abs())).sum::<f64>() / m as f64;
                println!("{channels} ch .{ext}: vs ffmpeg max {d:e}, mean {mean:e}");
                assert!(d < 0.02 && mean < 1e-4, "{ext}: max {d} mean {mean}");
            }
        }
    }

    #[test]
    fn broken_opus_is_an_error_or_a_partial_decode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let wav = dir.path().join("src.wav");
        write_wav(&wav, 48000, 2, 48000 * 20, music(48000));
        let p = dir.path().join("x.opus");
        ffmpeg_convert(&wav, &p, &["-c:a", "libopus", "-b:a", "96k"]);
        let b = std::fs::read(&p).expect("read");
        let write = |name: &str, bytes: &[u8]| {
            let q = dir.path().join(name);
            std::fs::write(&q, bytes).expect("write");
            q
        };
        // Truncated: what is there decodes.
        let a = load_full(&write("cut.opus", &b[..b.len() / 2]), 12000).expect("cut");
        let secs = a.samples.len() as f64 / 12000.0;
        println!("truncated opus: {secs:.2} s");
        assert!((7.0..13.0).contains(&secs), "{secs}");
        // Garbage in the middle: the Ogg CRC rejects the pages, the rest decodes.
        let mut g = b.clone();
        let mid = g.len() / 2;
        let mut s = 7u64;
        for x in &mut g[mid..mid + 5000] {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
            *x = (s >> 56) as u8;
        }
        let r = load_full(&write("garbage.opus", &g), 12000);
        println!("opus with garbage patch: {:?}", r.as_ref().map(|a| a.samples.len()).map_err(|e| e.to_string()));
        assert!(r.is_ok_and(|a| a.samples.len() > 12000 * 15));
        // Packets scrambled under valid page CRCs reach libopus: bad packets are skipped.
        let mut pages = ogg_pages(&b);
        for (i, page) in pages.iter_mut().enumerate().skip(4).step_by(3) {
            let body = page.len() - (27 + usize::from(page[26]));
            for (k, x) in page.iter_mut().rev().take(body).enumerate() {
                *x ^= (i * 31 + k * 7) as u8 | 1;
            }
        }
        let scrambled = ogg_join(pages);
        let r = load_full(&write("scrambled.opus", &scrambled), 12000);
        println!("opus with scrambled packets: {:?}", r.as_ref().map(|a| a.samples.len()).map_err(|e| e.to_string()));
        // A third of the pages are scrambled: the other packets of the 20 s decode (measured
        // 16.7 s), none lengthens the track.
        assert!(r.is_ok_and(|a| (12000 * 12..=12000 * 20).contains(&a.samples.len())));
        // A bad OpusHead (family 1 without its mapping table) under a valid CRC, headers only,
        // random bytes, text: errors, never panics.
        let mut pages = ogg_pages(&b);
        let head = pages.first_mut().expect("first page");
        let at = head.windows(8).position(|w| w == b"OpusHead").expect("OpusHead");
        head[at + 18] = 1;
        let bad_head = ogg_join(pages);
        let head_end = b.windows(8).position(|w| w == b"OpusTags").expect("tags") + 64;
        let mut state = 1u64;
        let junk: Vec<u8> = (0..100_000)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        for (name, bytes) in [
            ("badhead.opus", &bad_head[..]),
            ("headers.opus", &b[..head_end]),
            ("junk.opus", &junk[..]),
            ("text.opus", "not audio\n".repeat(500).as_bytes()),
        ] {
            let r = load_center(&write(name, bytes), 12000, 349440);
            println!("{name}: {:?}", r.as_ref().map(|a| a.samples.len()).map_err(|e| e.to_string()));
            assert!(r.is_err(), "{name}");
        }
    }

    /// The pages of an Ogg stream (header, segment table and body each).
    fn ogg_pages(b: &[u8]) -> Vec<Vec<u8>> {
        let mut pages = Vec::new();
        let mut pos = 0;
        while pos + 27 <= b.len() && &b[pos..pos + 4] == b"OggS" {
            let nseg = usize::from(b[pos + 26]);
            let body: usize = b[pos + 27..pos + 27 + nseg].iter().map(|&x| usize::from(x)).sum();
            let end = pos + 27 + nseg + body;
            pages.push(b[pos..end].to_vec());
            pos = end;
        }
        pages
    }

    /// Joins Ogg pages, recomputing each page's CRC.
    fn ogg_join(pages: Vec<Vec<u8>>) -> Vec<u8> {
        let crc = |data: &[u8]| {
            data.iter().fold(0u32, |mut c, &x| {
                c ^= u32::from(x) << 24;
                for _ in 0..8 {
                    c = if c & 0x8000_0000 != 0 { (c << 1) ^ 0x04c1_1db7 } else { c << 1 };
                }
                c
            })
        };
        pages
            .into_iter()
            .flat_map(|mut p| {
                p[22..26].fill(0);
                let c = crc(&p);
                p[22..26].copy_from_slice(&c.to_le_bytes());
                p
            })
            .collect()
    }
}
