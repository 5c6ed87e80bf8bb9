//! Playback of the selected track with rodio: play/pause, seek, position. Without an audio
//! device the app still runs; [`Playback::unavailable_reason`] says why the controls are off.

use std::num::NonZero;
use std::sync::Arc;
use std::time::Duration;

/// The output device (if any) and the loaded track.
pub struct Playback {
    sink: Option<rodio::MixerDeviceSink>,
    /// Shared so that seeks (which wait for the audio thread) run off the UI thread.
    player: Option<Arc<rodio::Player>>,
    unavailable: Option<String>,
    duration_s: f64,
    /// The loaded track, kept to start again once it has played to the end.
    track: Option<(Vec<f32>, NonZero<u32>)>,
}

impl Playback {
    /// Opens the default output device; on failure playback is unavailable with the reason.
    pub fn open_default() -> Playback {
        match rodio::DeviceSinkBuilder::open_default_sink() {
            Ok(mut sink) => {
                sink.log_on_drop(false);
                Playback { sink: Some(sink), player: None, unavailable: None, duration_s: 0.0, track: None }
            }
            Err(e) => Playback::unavailable(format!("No audio output device ({e})")),
        }
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

    /// Loads mono samples (paused at the start), replacing the current track.
    pub fn load(&mut self, samples: Vec<f32>, rate: u32) {
        self.stop();
        let (Some(sink), Some(rate)) = (&self.sink, NonZero::new(rate)) else { return };
        if samples.is_empty() {
            return;
        }
        self.duration_s = samples.len() as f64 / rate.get() as f64;
        let player = rodio::Player::connect_new(sink.mixer());
        player.pause();
        player.append(rodio::buffer::SamplesBuffer::new(NonZero::<u16>::MIN, rate, samples.clone()));
        self.player = Some(Arc::new(player));
        self.track = Some((samples, rate));
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

    /// Play or pause; at the end, play restarts from the beginning.
    pub fn toggle(&mut self) {
        let Some(p) = &self.player else { return };
        if p.empty()
            && let Some((samples, rate)) = &self.track
        {
            // Played to the end: the source is gone, queue the track again.
            p.append(rodio::buffer::SamplesBuffer::new(NonZero::<u16>::MIN, *rate, samples.clone()));
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
                && let Some((samples, rate)) = &self.track
            {
                p.append(rodio::buffer::SamplesBuffer::new(NonZero::<u16>::MIN, *rate, samples.clone()));
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
