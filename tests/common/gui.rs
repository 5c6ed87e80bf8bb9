//! Helpers shared by the tests that drive the real app through egui_kittest.
#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

use eframe::egui;
use egui_kittest::Harness;
use melotag::app::{AppOptions, AudioOutput, MelotagApp};

/// The app on `folder`, its cache, undo journal and config in `data`, no audio device, one
/// worker, the default model.
pub fn options(folder: &Path, data: &Path) -> AppOptions {
    AppOptions {
        folder: Some(folder.to_path_buf()),
        open_music_dir: false,
        audio: AudioOutput::Unavailable("no audio device in tests".into()),
        cache_path: Some(data.join("cache.sqlite")),
        journal_path: Some(data.join("undo.sqlite3")),
        config_path: Some(data.join("config.toml")),
        workers: 1,
        frame_stats: false,
        select: None,
        also_select: Vec::new(),
        bench: false,
        quit_after: None,
        model_id: None,
        mode: None,
        show: None,
    }
}

/// A harness drawing `app` in a 1400 × 950 window.
pub fn harness(app: MelotagApp) -> Harness<'static, MelotagApp> {
    Harness::builder().with_size(egui::vec2(1400.0, 950.0)).build_ui_state(|ui, app: &mut MelotagApp| app.show(ui), app)
}

/// Steps frames until `done` holds (background threads work meanwhile); fails after 3 minutes.
pub fn step_until(h: &mut Harness<'static, MelotagApp>, what: &str, mut done: impl FnMut(&MelotagApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(180), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether the scan listed `n` files and is done.
pub fn scanned(app: &MelotagApp, n: usize) -> bool {
    app.track_count() == n && !app.is_scanning()
}

/// Plays `seconds` on the null output and draws a frame.
pub fn play_for(h: &mut Harness<'static, MelotagApp>, clock: &melotag::app::player::NullClock, seconds: f64) {
    clock.advance(Duration::from_secs_f64(seconds));
    h.step();
}
