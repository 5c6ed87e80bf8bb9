//! Stage timings of decoding and the log-mel front end (measurements, not tests: nothing here
//! can fail on a number).
//!
//!     cargo run --release --example timing
//!
//! Prints, for the upstream sample mp3 and a 4-minute mp3 (the four samples twice, re-encoded
//! with ffmpeg), the decode and resample times of a whole-file decode and of the seek-and-decode
//! centre crop, how far that crop is from the full decode's, and the log-mel time per 29.12 s
//! window of the CRNN's front end.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use melotag::engine::audio::{center_crop, load_center, load_full};
use melotag::engine::features::MelFrontend;
use melotag::engine::model::Manifest;

const RATE: u32 = 12_000;
const CROP: usize = 349_440;

fn shared_audio() -> PathBuf {
    std::env::var_os("MELOTAG_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
        .join("upstream/choi2016/audio")
}

fn report(path: &Path, label: &str) {
    let _ = load_full(path, RATE); // warm the page cache
    let f = load_full(path, RATE).expect("full decode");
    let c = load_center(path, RATE, CROP).expect("centre decode");
    println!(
        "{label}: load_full decode {:?} resample {:?} ({} samples, {:.2} s) | load_center decode {:?} resample {:?}",
        f.decode_time,
        f.resample_time,
        f.samples.len(),
        f.duration_s.unwrap_or(0.0),
        c.decode_time,
        c.resample_time
    );
    let want = center_crop(&f.samples, CROP);
    let d = c.samples.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    println!("{label}: centre vs full-decode crop max |diff| {d:e}");
}

fn main() {
    let dir = shared_audio();
    let mp3 = dir.join("bensound-actionable.mp3");
    assert!(mp3.is_file(), "{} missing: the shared data folder must be beside the repository", mp3.display());
    report(&mp3, "bensound-actionable.mp3 (31 s)");

    let tmp = tempfile::tempdir().expect("tempdir");
    let list = tmp.path().join("list.txt");
    let mut s = String::new();
    for _ in 0..2 {
        for name in ["actionable", "cute", "dubstep", "thejazzpiano"] {
            s.push_str(&format!("file '{}'\n", dir.join(format!("bensound-{name}.mp3")).display()));
        }
    }
    std::fs::write(&list, s).expect("write list");
    let long = tmp.path().join("long.mp3");
    let status = Command::new("ffmpeg")
        .args(["-y", "-loglevel", "fatal", "-f", "concat", "-safe", "0", "-i"])
        .arg(&list)
        .args(["-c:a", "libmp3lame", "-b:a", "192k"])
        .arg(&long)
        .status()
        .expect("ffmpeg not found: run `make setup`");
    assert!(status.success(), "ffmpeg could not make the 4-minute mp3");
    report(&long, "4-min mp3 (re-encoded concat of the 4 tracks x2)");

    let manifest = Manifest::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/choi2016_crnn.toml")).expect("CRNN manifest");
    let fe = MelFrontend::new(&manifest.frontend);
    let y = load_center(&mp3, manifest.frontend.sample_rate_hz, manifest.frontend.window_samples).expect("decode").samples;
    let _ = fe.log_mel(&y);
    let n = 20;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(fe.log_mel(std::hint::black_box(&y)));
    }
    println!("log_mel per {}-frame window: {:?}", manifest.frontend.frames_per_window, t.elapsed() / n);
}
