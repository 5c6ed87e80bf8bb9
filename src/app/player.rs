//! Playback of the selected track with rodio: play/pause, seek, position. Without an audio
//! device the app still runs; [`Playback::unavailable_reason`] says why the controls are off.
//! [`Playback::null_output`] plays into no device at all: the same rodio player and mixer,
//! whose samples are pulled by a [`NullClock`] instead of a sound card (tests, headless runs).

use std::num::NonZero;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rodio::Source as _;
use rodio::mixer::{Mixer, MixerSource};

/// Where the mixed samples go.
enum Output {
    /// The default audio device, which pulls the samples in real time.
    Device(rodio::MixerDeviceSink),
    /// Nowhere: a [`NullClock`] pulls them when told to.
    Null(Mixer),
}

impl Output {
    fn mixer(&self) -> &Mixer {
        match self {
            Output::Device(sink) => sink.mixer(),
            Output::Null(mixer) => mixer,
        }
    }
}

/// The clock of a [`Playback::null_output`]: plays (pulls and drops) the mixed samples as a
/// sound card would, only when told to, so that playback advances exactly as far as asked.
#[derive(Clone)]
pub struct NullClock {
    source: Arc<Mutex<MixerSource>>,
}

impl NullClock {
    /// Plays `d` of audio: the playing track advances by `d` (paused ones stay), seeks ordered
    /// meanwhile take effect.
    pub fn advance(&self, d: Duration) {
        let mut source = self.source.lock().unwrap_or_else(|e| e.into_inner());
        let per_second = f64::from(source.sample_rate().get()) * f64::from(source.channels().get());
        let samples = (d.as_secs_f64() * per_second).round() as usize;
        for _ in 0..samples {
            // An empty mixer yields nothing: there is nothing to play then.
            if source.next().is_none() {
                break;
            }
        }
    }
}

/// Decoded mono audio ready to play: built on the decoding thread, so that loading, replaying
/// and seeking past the end share one buffer instead of copying a whole track on the UI thread.
#[derive(Debug, Clone)]
pub struct PlayableAudio {
    buffer: rodio::buffer::SamplesBuffer,
    duration_s: f64,
}

impl PlayableAudio {
    /// `samples` (mono) at `rate_hz`; `None` when there is nothing to play.
    pub fn new(samples: Vec<f32>, rate_hz: u32) -> Option<PlayableAudio> {
        let rate = NonZero::new(rate_hz)?;
        if samples.is_empty() {
            return None;
        }
        let duration_s = samples.len() as f64 / f64::from(rate_hz);
        Some(PlayableAudio { buffer: rodio::buffer::SamplesBuffer::new(NonZero::<u16>::MIN, rate, samples), duration_s })
    }
}

/// The output device (if any) and the loaded track.
pub struct Playback {
    sink: Option<Output>,
    /// Shared so that seeks (which wait for the audio thread) run off the UI thread.
    player: Option<Arc<rodio::Player>>,
    unavailable: Option<String>,
    duration_s: f64,
    /// The loaded track, kept to start again once it has played to the end.
    track: Option<PlayableAudio>,
}

impl Playback {
    /// Opens the default output device; on failure playback is unavailable with the reason.
    pub fn open_default() -> Playback {
        match rodio::DeviceSinkBuilder::open_default_sink() {
            Ok(mut sink) => {
                sink.log_on_drop(false);
                Playback { sink: Some(Output::Device(sink)), player: None, unavailable: None, duration_s: 0.0, track: None }
            }
            Err(e) => Playback::unavailable(format!("No audio output device ({e})")),
        }
    }

    /// Playback into no device (mono, 48 kHz): everything works as with a device, and the
    /// returned clock plays the audio.
    pub fn null_output() -> (Playback, NullClock) {
        let (mixer, source) = rodio::mixer::mixer(NonZero::<u16>::MIN, NonZero::new(48_000).expect("non-zero"));
        let playback = Playback { sink: Some(Output::Null(mixer)), player: None, unavailable: None, duration_s: 0.0, track: None };
        (playback, NullClock { source: Arc::new(Mutex::new(source)) })
    }

    /// Playback switched off, with the reason shown to the user.
    pub fn unavailable(reason: String) -> Playback {
        Playback { sink: None, player: None, unavailable: Some(reason), duration_s: 0.0, track: None }
    }

    /// Whether there is an output device.
    pub fn is_available(&self) -> bool {
        self.sink.is_some()
    }

    /// Why playback is off.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.unavailable.as_deref()
    }

    /// Whether a track is loaded and ready to play.
    pub fn is_loaded(&self) -> bool {
        self.player.is_some()
    }

    /// Loads a track (paused at the start), replacing the current one.
    pub fn load(&mut self, audio: PlayableAudio) {
        self.stop();
        let Some(sink) = &self.sink else { return };
        self.duration_s = audio.duration_s;
        let player = rodio::Player::connect_new(sink.mixer());
        player.pause();
        player.append(audio.buffer.clone());
        self.player = Some(Arc::new(player));
        self.track = Some(audio);
    }

    /// Stops and unloads.
    pub fn stop(&mut self) {
        if let Some(p) = self.player.take() {
            p.stop();
        }
        self.track = None;
        self.duration_s = 0.0;
    }

    /// Whether sound is playing now.
    pub fn is_playing(&self) -> bool {
        self.player.as_ref().is_some_and(|p| !p.is_paused() && !p.empty())
    }

    /// Whether the loaded track has played to its end.
    pub fn has_finished(&self) -> bool {
        self.player.as_ref().is_some_and(|p| p.empty())
    }

    /// Play or pause; at the end, play restarts from the beginning.
    pub fn toggle(&mut self) {
        let Some(p) = &self.player else { return };
        if p.empty()
            && let Some(track) = &self.track
        {
            // Played to the end: the source is gone, queue the track again.
            p.append(track.buffer.clone());
            p.play();
            return;
        }
        if p.is_paused() {
            if self.position_s() >= self.duration_s - 0.05 {
                seek_in_background(p, Duration::ZERO);
            }
            p.play();
        } else {
            p.pause();
        }
    }

    /// Moves the playhead.
    pub fn seek(&mut self, seconds: f64) {
        if let Some(p) = &self.player {
            if p.empty()
                && let Some(track) = &self.track
            {
                p.append(track.buffer.clone());
                p.pause();
            }
            seek_in_background(p, Duration::from_secs_f64(seconds.clamp(0.0, self.duration_s.max(0.0))));
        }
    }

    /// Playhead position.
    pub fn position_s(&self) -> f64 {
        match &self.player {
            Some(p) if p.empty() => self.duration_s,
            Some(p) => p.get_pos().as_secs_f64(),
            None => 0.0,
        }
    }

    /// Duration of the loaded track.
    pub fn duration_s(&self) -> f64 {
        self.duration_s
    }
}

/// `Player::try_seek` waits for the audio thread to take the order: do it on a helper thread.
fn seek_in_background(player: &Arc<rodio::Player>, to: Duration) {
    let player = player.clone();
    let spawned = std::thread::Builder::new().name("melotag-seek".into()).spawn(move || {
        let _ = player.try_seek(to);
    });
    if let Err(e) = spawned {
        tracing::warn!("seeking: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_track_played_to_the_end_plays_again_from_the_start() {
        let (mut playback, clock) = Playback::null_output();
        assert!(PlayableAudio::new(Vec::new(), 48_000).is_none());
        assert!(PlayableAudio::new(vec![0.5; 10], 0).is_none());
        playback.load(PlayableAudio::new(vec![0.25; 48_000], 48_000).unwrap());
        assert_eq!(playback.duration_s(), 1.0);
        playback.toggle();
        clock.advance(Duration::from_millis(1_200));
        assert!(playback.has_finished());
        assert_eq!(playback.position_s(), 1.0);
        // Replaying queues the same buffer again, from its start.
        playback.toggle();
        clock.advance(Duration::from_millis(300));
        assert!(playback.is_playing());
        assert!((playback.position_s() - 0.3).abs() < 0.02, "{}", playback.position_s());
    }
}
