//! Opus decoding for symphonia, through libopus (the `opus` crate).
//!
//! symphonia 0.6.1 demuxes Ogg Opus (`.opus`) and Matroska/WebM `A_OPUS` tracks but ships no
//! Opus decoder, so `make_audio_decoder` fails with "unsupported codec". [`codecs`] is
//! symphonia's default registry plus [`OpusDecoder`], an [`AudioDecoder`] over libopus's
//! multistream decoder: mono, stereo, the Vorbis-order surround layouts of channel mapping
//! family 1 (3 to 8 channels), and families 2/255 as discrete channels. Output is f32 at 48 kHz,
//! with the OpusHead output gain applied (RFC 7845 requires it).
//!
//! What the demuxers hand over (symphonia 0.6.1):
//! - Ogg: `CODEC_ID_OPUS`, 48 kHz, the channels, extra data = the OpusHead packet. Timestamps
//!   are granule positions, i.e. 48 kHz samples *including* the pre-skip (time base 1/48000);
//!   `Track::delay` is the pre-skip but no packet carries it as `trim_start`; the end padding is
//!   the last packets' `trim_end` (from the final granule position); `Track::num_frames` is the
//!   final granule position (pre-skip + playable samples).
//! - Matroska/WebM: extra data = CodecPrivate (the OpusHead); timestamps are container ticks
//!   (usually ms) moved back by CodecDelay; DiscardPadding is ignored, so up to one frame of
//!   encoder padding stays at the end.
//!
//! Gapless, with [`AudioDecoderOptions::gapless`] (symphonia's default): the decoder drops the
//! first `pre_skip` samples it decodes after creation (across packets if need be) and honours
//! every packet's `trim_start`/`trim_end`. `reset()`, which callers make after a seek, ends the
//! pre-skip since the next packet is mid-stream. With gapless off nothing is trimmed: a caller
//! that places samples by timestamp drops timestamps below `start_ts + delay` itself, which
//! stays exact after any seek.

use std::fmt;
use std::sync::{LazyLock, Mutex, PoisonError};

use symphonia::core::audio::{AsGenericAudioBufferRef, AudioBuffer, AudioMut, AudioSpec, Channels, GenericAudioBufferRef, Position};
use symphonia::core::codecs::CodecInfo;
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions, FinalizeResult};
use symphonia::core::codecs::registry::{CodecRegistry, RegisterableAudioDecoder, SupportedAudioCodec};
use symphonia::core::errors::{Error, Result};
use symphonia::core::packet::PacketRef;

/// Opus is always decoded at 48 kHz, its native rate, whatever rate the container states.
pub const OPUS_RATE_HZ: u32 = 48_000;
/// Longest Opus packet: 120 ms at 48 kHz.
const MAX_FRAMES: usize = 5760;

const INFO: CodecInfo = CodecInfo { short_name: "opus", long_name: "Opus (libopus)", profiles: &[] };
const SUPPORTED: &[SupportedAudioCodec] = &[SupportedAudioCodec { id: CODEC_ID_OPUS, info: INFO }];

/// symphonia's default codecs plus Opus; use it wherever `symphonia::default::get_codecs()` was.
pub fn codecs() -> &'static CodecRegistry {
    static REGISTRY: LazyLock<CodecRegistry> = LazyLock::new(|| {
        let mut r = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut r);
        r.register_audio_decoder::<OpusDecoder>();
        r
    });
    &REGISTRY
}

/// The OpusHead identification header (RFC 7845 §5.1), as far as decoding needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpusHead {
    /// Output channels.
    pub channels: u8,
    /// Samples (48 kHz) to drop from the start of the decoded stream.
    pub pre_skip: u16,
    /// Output gain, Q7.8 dB.
    pub gain_q8: i16,
    /// Channel mapping family (0 mono/stereo, 1 Vorbis surround order, 2 ambisonics, 255 none).
    pub family: u8,
    /// Opus streams in each packet.
    pub streams: u8,
    /// How many of them are stereo (coupled).
    pub coupled: u8,
    /// Decoded stream channel for each output channel (255 = silence).
    pub mapping: Vec<u8>,
}

impl OpusHead {
    /// Parses an OpusHead packet; `None` when it is not one or is malformed.
    pub fn parse(b: &[u8]) -> Option<Self> {
        if b.len() < 19 || &b[..8] != b"OpusHead" || b[8] & 0xf0 != 0 {
            return None;
        }
        let channels = b[9];
        let pre_skip = u16::from_le_bytes([b[10], b[11]]);
        let gain_q8 = i16::from_le_bytes([b[16], b[17]]);
        let family = b[18];
        let (streams, coupled, mapping) = match family {
            0 => match channels {
                1 => (1, 0, vec![0]),
                2 => (1, 1, vec![0, 1]),
                _ => return None,
            },
            _ => {
                let (streams, coupled) = (*b.get(19)?, *b.get(20)?);
                let mapping = b.get(21..21 + usize::from(channels))?.to_vec();
                (streams, coupled, mapping)
            }
        };
        if channels == 0 || streams == 0 || coupled > streams {
            return None;
        }
        Some(Self { channels, pre_skip, gain_q8, family, streams, coupled, mapping })
    }

    /// The header of a plain mono/stereo stream, for containers that give no OpusHead.
    fn plain(channels: usize) -> Option<Self> {
        let c = u8::try_from(channels).ok().filter(|c| (1..=2).contains(c))?;
        Some(Self { channels: c, pre_skip: 0, gain_q8: 0, family: 0, streams: 1, coupled: c - 1, mapping: (0..c).collect() })
    }
}

/// Speaker positions of each output channel, in Opus (Vorbis) order, for families 0 and 1.
fn vorbis_positions(channels: u8) -> Option<&'static [Position]> {
    const FL: Position = Position::FRONT_LEFT;
    const FR: Position = Position::FRONT_RIGHT;
    const FC: Position = Position::FRONT_CENTER;
    const RL: Position = Position::REAR_LEFT;
    const RR: Position = Position::REAR_RIGHT;
    const RC: Position = Position::REAR_CENTER;
    const SL: Position = Position::SIDE_LEFT;
    const SR: Position = Position::SIDE_RIGHT;
    const LFE: Position = Position::LFE1;
    Some(match channels {
        1 => &[FL],
        2 => &[FL, FR],
        3 => &[FL, FC, FR],
        4 => &[FL, FR, RL, RR],
        5 => &[FL, FC, FR, RL, RR],
        6 => &[FL, FC, FR, RL, RR, LFE],
        7 => &[FL, FC, FR, SL, SR, RC, LFE],
        8 => &[FL, FC, FR, SL, SR, RL, RR, LFE],
        _ => return None,
    })
}

/// symphonia channel set and, for each Opus output channel, its plane in symphonia's buffer.
fn layout(head: &OpusHead) -> Option<(Channels, Vec<usize>)> {
    match head.family {
        0 | 1 => {
            let pos = vorbis_positions(head.channels)?;
            let all = pos.iter().fold(Position::empty(), |a, &p| a | p);
            let channels = Channels::Positioned(all);
            let planes = pos.iter().map(|&p| channels.get_canonical_index_for_positioned_channel(p)).collect::<Option<Vec<_>>>()?;
            Some((channels, planes))
        }
        // Ambisonics (RFC 8486, family 2) and unspecified layouts: discrete channels as coded.
        // Family 3 needs libopus's projection decoder (a demixing matrix), which is not used.
        2 | 255 => Some((Channels::Discrete(u16::from(head.channels)), (0..usize::from(head.channels)).collect())),
        _ => None,
    }
}

/// Opus decoder for symphonia, on libopus's multistream API.
pub struct OpusDecoder {
    params: AudioCodecParameters,
    /// libopus state. In a `Mutex` only so the decoder is `Sync` as symphonia requires; it is
    /// reached through `get_mut` (`&mut self`), never locked.
    dec: Mutex<opus::MSDecoder>,
    head: OpusHead,
    /// Plane of each Opus output channel.
    planes: Vec<usize>,
    /// Interleaved libopus output, `MAX_FRAMES` frames.
    pcm: Vec<f32>,
    buf: AudioBuffer<f32>,
    gapless: bool,
    /// Pre-skip samples still to drop (gapless only).
    skip_left: usize,
}

impl fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpusDecoder")
            .field("head", &self.head)
            .field("gapless", &self.gapless)
            .field("skip_left", &self.skip_left)
            .finish_non_exhaustive()
    }
}

impl OpusDecoder {
    /// A decoder for `params`: the OpusHead in the extra data, or plain mono/stereo without one.
    pub fn try_new(params: &AudioCodecParameters, opts: &AudioDecoderOptions) -> Result<Self> {
        if params.codec != CODEC_ID_OPUS {
            return Err(Error::Unsupported("opus: not an Opus track"));
        }
        let head = match params.extra_data.as_deref() {
            Some(extra) => OpusHead::parse(extra).ok_or(Error::Unsupported("opus: invalid or unsupported OpusHead"))?,
            None => params
                .channels
                .as_ref()
                .and_then(|c| OpusHead::plain(c.count()))
                .ok_or(Error::Unsupported("opus: no OpusHead and not mono/stereo"))?,
        };
        let (channels, planes) = layout(&head).ok_or(Error::Unsupported("opus: unsupported channel mapping"))?;
        let mut dec = opus::MSDecoder::new(OPUS_RATE_HZ, head.streams, head.coupled, &head.mapping)
            .map_err(|_| Error::Unsupported("opus: libopus rejected the channel mapping"))?;
        if head.gain_q8 != 0 {
            dec.set_gain(i32::from(head.gain_q8)).map_err(|_| Error::Unsupported("opus: libopus rejected the output gain"))?;
        }
        let n_ch = usize::from(head.channels);
        Ok(Self {
            params: params.clone(),
            dec: Mutex::new(dec),
            planes,
            pcm: vec![0.0; MAX_FRAMES * n_ch],
            buf: AudioBuffer::new(AudioSpec::new(OPUS_RATE_HZ, channels), MAX_FRAMES),
            gapless: opts.gapless,
            skip_left: if opts.gapless { usize::from(head.pre_skip) } else { 0 },
            head,
        })
    }
}

impl AudioDecoder for OpusDecoder {
    fn reset(&mut self) {
        let dec = self.dec.get_mut().unwrap_or_else(PoisonError::into_inner);
        // Cannot fail on a valid decoder; a stale state only colours the next few ms.
        let _ = dec.reset_state();
        self.skip_left = 0;
    }

    fn codec_info(&self) -> &CodecInfo {
        &INFO
    }

    fn codec_params(&self) -> &AudioCodecParameters {
        &self.params
    }

    fn decode_ref(&mut self, packet: &PacketRef<'_>) -> Result<GenericAudioBufferRef<'_>> {
        self.buf.clear();
        if packet.data.is_empty() {
            // libopus would conceal a lost packet; in a file it is just a broken one.
            return Err(Error::DecodeError("opus: empty packet"));
        }
        let dec = self.dec.get_mut().unwrap_or_else(PoisonError::into_inner);
        let frames =
            dec.decode_float(packet.data, &mut self.pcm, false).map_err(|_| Error::DecodeError("opus: invalid packet"))?.min(MAX_FRAMES);
        let n_ch = self.planes.len();
        self.buf.render_uninit(Some(frames));
        let pcm = self.pcm.get(..frames * n_ch).unwrap_or(&[]);
        for (ch, &plane) in self.planes.iter().enumerate() {
            if let Some(dst) = self.buf.plane_mut(plane) {
                for (d, frame) in dst.iter_mut().zip(pcm.chunks_exact(n_ch)) {
                    *d = frame[ch];
                }
            }
        }
        if self.gapless {
            let pre = self.skip_left.min(frames);
            self.skip_left -= pre;
            let start = usize::try_from(packet.trim_start.get()).unwrap_or(usize::MAX).saturating_add(pre);
            let end = usize::try_from(packet.trim_end.get()).unwrap_or(usize::MAX);
            self.buf.trim(start, end);
        }
        Ok(self.buf.as_generic_audio_buffer_ref())
    }

    fn finalize(&mut self) -> FinalizeResult {
        FinalizeResult::default()
    }

    fn last_decoded(&self) -> GenericAudioBufferRef<'_> {
        self.buf.as_generic_audio_buffer_ref()
    }
}

impl RegisterableAudioDecoder for OpusDecoder {
    fn try_registry_new(params: &AudioCodecParameters, opts: &AudioDecoderOptions) -> Result<Box<dyn AudioDecoder>> {
        Ok(Box::new(Self::try_new(params, opts)?))
    }

    fn supported_codecs() -> &'static [SupportedAudioCodec] {
        SUPPORTED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_bytes(channels: u8, family: u8, tail: &[u8]) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.extend_from_slice(&[1, channels]);
        b.extend_from_slice(&312u16.to_le_bytes());
        b.extend_from_slice(&44100u32.to_le_bytes());
        b.extend_from_slice(&(-256i16).to_le_bytes());
        b.push(family);
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn parses_opus_heads() {
        let h = OpusHead::parse(&head_bytes(2, 0, &[])).expect("stereo");
        assert_eq!((h.channels, h.pre_skip, h.gain_q8, h.streams, h.coupled), (2, 312, -256, 1, 1));
        let h = OpusHead::parse(&head_bytes(6, 1, &[4, 2, 0, 4, 1, 2, 3, 5])).expect("5.1");
        assert_eq!((h.streams, h.coupled, h.mapping.len()), (4, 2, 6));
        // Malformed: 3 channels in family 0, truncated mapping, bad magic, zero streams.
        assert!(OpusHead::parse(&head_bytes(3, 0, &[])).is_none());
        assert!(OpusHead::parse(&head_bytes(6, 1, &[4, 2, 0, 4])).is_none());
        assert!(OpusHead::parse(b"OpusHeaX\x01\x02\0\0\0\0\0\0\0\0\0").is_none());
        assert!(OpusHead::parse(&head_bytes(1, 1, &[0, 0, 0])).is_none());
    }

    #[test]
    fn surround_planes_follow_symphonia_order() {
        let h = OpusHead::parse(&head_bytes(6, 1, &[4, 2, 0, 4, 1, 2, 3, 5])).expect("5.1");
        let (ch, planes) = layout(&h).expect("layout");
        assert_eq!(ch.count(), 6);
        // Opus order FL FC FR RL RR LFE -> symphonia planes FL FR FC LFE RL RR.
        assert_eq!(planes, vec![0, 2, 1, 4, 5, 3]);
    }

    #[test]
    fn garbage_heads_are_errors() {
        let mut p = AudioCodecParameters::new();
        p.for_codec(CODEC_ID_OPUS).with_extra_data(b"OpusHead garbage".to_vec().into_boxed_slice());
        assert!(OpusDecoder::try_new(&p, &AudioDecoderOptions::default()).is_err());
        // A mapping index beyond the streams: libopus refuses, no panic.
        let mut p = AudioCodecParameters::new();
        p.for_codec(CODEC_ID_OPUS).with_extra_data(head_bytes(2, 1, &[1, 0, 0, 9]).into_boxed_slice());
        assert!(OpusDecoder::try_new(&p, &AudioDecoderOptions::default()).is_err());
    }
}
