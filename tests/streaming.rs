//! Whole-track analysis streams (decode, resample, log-mel and inference a block at a time):
//! its results equal the whole-track-in-memory path bit for bit, for every model, and its memory
//! stays flat for an hour-long file.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use melotag::engine::analysis::{Analysis, Mode, StageTimes, analyze_file_with};
use melotag::engine::features::MelFrontend;
use melotag::engine::model::{Manifest, Tagger, available_manifests};

fn analyse(manifest: &Arc<Manifest>, path: &Path, streaming: bool) -> Analysis {
    let mut tagger = Tagger::new(manifest.clone(), 1).expect("a session (run `make setup`)");
    let frontend = MelFrontend::new(&manifest.frontend);
    analyze_file_with(&mut tagger, &frontend, path, Mode::Full, &mut StageTimes::default(), streaming)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn streamed_whole_track_scores_equal_the_in_memory_ones_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut files: Vec<PathBuf> = ["bensound-cute", "bensound-dubstep"].iter().map(|s| upstream_audio(s, "mp3")).collect();
    // Shorter than every window and patch (zero-padded to one), and already at 16 kHz (not
    // resampled for musicnn), and 75 s at 48 kHz (several Choi windows plus a long tail).
    let short = d.join("short.wav");
    write_wav(&short, 44_100, 2, &test_signal(44_100, 2, 1.5));
    let native = d.join("native16k.wav");
    write_wav(&native, 16_000, 1, &test_signal(16_000, 1, 40.0));
    let long = d.join("long.flac");
    let cute = upstream_audio("bensound-cute", "mp3");
    let cute = cute.to_str().unwrap();
    ffmpeg(&[
        "-i",
        cute,
        "-i",
        cute,
        "-i",
        cute,
        "-filter_complex",
        "concat=n=3:v=0:a=1",
        "-ar",
        "48000",
        "-t",
        "75",
        long.to_str().unwrap(),
    ]);
    files.extend([short, native, long]);
    let manifests: Vec<Arc<Manifest>> =
        available_manifests().into_iter().filter_map(Result::ok).filter(|m| m.onnx_path().is_file()).map(Arc::new).collect();
    assert_eq!(manifests.len(), 4, "every shipped model is converted (make setup)");
    for m in &manifests {
        for f in &files {
            let (a, b) = (analyse(m, f, true), analyse(m, f, false));
            let what = format!("{} on {}", m.id, f.display());
            assert_eq!(bits(&a.scores), bits(&b.scores), "{what}: scores");
            let (wa, wb) = (a.windows.unwrap(), b.windows.unwrap());
            assert_eq!(wa.len(), wb.len(), "{what}: windows");
            assert!(!wa.is_empty(), "{what}: at least one window");
            for (x, y) in wa.iter().zip(&wb) {
                assert_eq!(bits(x), bits(y), "{what}: a window's scores");
            }
            assert_eq!(a.window_starts_s, b.window_starts_s, "{what}: window starts");
            assert_eq!(a.embedding.as_deref().map(bits), b.embedding.as_deref().map(bits), "{what}: embedding");
            assert!(a.embedding.is_some(), "{what}: the model has an embedding");
            assert_eq!(a.duration_s, b.duration_s, "{what}: duration");
        }
    }
}

/// Peak resident memory (kB) of a process, polled from /proc until it exits.
fn run_measuring_peak_kb(mut cmd: std::process::Command) -> (std::process::ExitStatus, u64) {
    let mut child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().expect("running melotag");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            peak = peak.max(line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("waiting for melotag") {
            return (status, peak);
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
}

#[test]
fn an_hour_long_file_is_analysed_whole_in_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    let hour = dir.path().join("hour.mp3");
    // 60 minutes of stereo 44.1 kHz: 635 MB of decoded samples, if they were all kept.
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=44100:duration=3600",
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=color=pink:sample_rate=44100:duration=3600:amplitude=0.1",
        "-filter_complex",
        "[0][1]amix=inputs=2,aformat=channel_layouts=stereo",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "64k",
        hour.to_str().unwrap(),
    ]);
    let mut cmd = command(dir.path());
    cmd.args(["tag", "--mode", "full", "--threads", "1", "--no-cache", "--json"]).arg(dir.path().join("out.json")).arg(&hour);
    let (status, peak_kb) = run_measuring_peak_kb(cmd);
    assert!(status.success(), "melotag failed on the hour-long file");
    let report = read_json(&dir.path().join("out.json"));
    let track = &report["tracks"][0];
    let duration = track["duration_s"].as_f64().unwrap();
    assert!((duration - 3600.0).abs() < 1.0, "decoded {duration} s");
    // musicnn: one 3 s patch per 187 frames of 256 samples at 16 kHz.
    assert_eq!(track["windows"].as_array().unwrap().len(), 3600 * 16_000 / 256 / 187);
    eprintln!("peak memory for a 60-minute file: {} MB", peak_kb / 1024);
    assert!(peak_kb < 400 * 1024, "peak memory {} MB", peak_kb / 1024);
}

/// Matroska cannot seek to a track's centre (its time base is not the sample rate), so the
/// centre crop comes from a whole decode: it holds target-rate samples that may still be in the
/// crop, not the whole track at the file's rate (an hour at 192 kHz: 2.8 GB).
#[test]
fn a_centre_crop_without_seeking_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mka = dir.path().join("hour192k.mka");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=192000:duration=3600", "-c:a", "flac", mka.to_str().unwrap()]);
    let mut cmd = command(dir.path());
    cmd.args(["tag", "--model", "cnn", "--threads", "1", "--no-cache", "--json"]).arg(dir.path().join("out.json")).arg(&mka);
    let (status, peak_kb) = run_measuring_peak_kb(cmd);
    assert!(status.success(), "melotag failed on the Matroska file");
    let track = &read_json(&dir.path().join("out.json"))["tracks"][0];
    assert!((track["duration_s"].as_f64().unwrap() - 3600.0).abs() < 1.0, "{track}");
    eprintln!("peak memory for a 60-minute 192 kHz Matroska file, centre crop: {} MB", peak_kb / 1024);
    assert!(peak_kb < 500 * 1024, "peak memory {} MB", peak_kb / 1024);
}
