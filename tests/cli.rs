//! Integration tests: the real binary on temp folders.

mod common;

use std::fs;
use std::path::Path;

use common::*;

/// `melotag tag --model crnn ARGS...`: these tests check the upstream CRNN pipeline.
fn crnn_tag(args: &[&std::ffi::OsStr]) -> std::process::Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["--model".as_ref(), "crnn".as_ref()];
    all.extend_from_slice(args);
    melotag_tag(&all)
}

/// Scores by tag name from one track of a JSON report.
fn score_of(report: &serde_json::Value, track: &serde_json::Value, tag: &str) -> f64 {
    let i = report["tags"].as_array().unwrap().iter().position(|t| t == tag).unwrap();
    track["scores"][i].as_f64().unwrap()
}

fn track<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| Path::new(t["path"].as_str().unwrap()).file_name().unwrap().to_str() == Some(name))
        .unwrap_or_else(|| panic!("{name} missing from report"))
}

fn top_tag(report: &serde_json::Value, track: &serde_json::Value) -> String {
    let scores: Vec<f64> = track["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let best = (0..scores.len()).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
    report["tags"][best].as_str().unwrap().to_string()
}

#[test]
fn bad_files_get_one_error_line_each_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::copy(upstream_audio("bensound-cute", "mp3"), d.join("good.mp3")).unwrap();
    fs::write(d.join("empty.mp3"), b"").unwrap();
    let mp3 = fs::read(upstream_audio("bensound-dubstep", "mp3")).unwrap();
    fs::write(d.join("truncated.mp3"), &mp3[..mp3.len() / 3]).unwrap();
    let mut seed = 7u32;
    let random: Vec<u8> = (0..100_000)
        .map(|_| {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 24) as u8
        })
        .collect();
    fs::write(d.join("random.flac"), random).unwrap();
    fs::write(d.join("text.ogg"), "this is not audio\n".repeat(100)).unwrap();
    write_wav(&d.join("one_second.wav"), 44_100, 2, &test_signal(44_100, 2, 1.0));
    write_wav(&d.join("rate_8k.wav"), 8_000, 1, &test_signal(8_000, 1, 5.0));
    write_wav(&d.join("rate_96k.wav"), 96_000, 2, &test_signal(96_000, 2, 5.0));
    write_wav(&d.join("six_channels.wav"), 48_000, 6, &test_signal(48_000, 6, 5.0));
    write_wav(&d.join("ünïcødé 音楽 (live).wav"), 22_050, 1, &test_signal(22_050, 1, 3.0));
    // A header that claims about 4 GB of samples over a few kilobytes.
    let mut huge = Vec::new();
    write_wav(&d.join("huge_header.wav"), 44_100, 2, &test_signal(44_100, 2, 0.5));
    huge.extend(fs::read(d.join("huge_header.wav")).unwrap());
    huge[40..44].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    fs::write(d.join("huge_header.wav"), huge).unwrap();
    // Unreadable: a dangling symlink always is; a mode-000 file is unless we run as root.
    std::os::unix::fs::symlink(d.join("gone.mp3"), d.join("dangling.mp3")).unwrap();
    let locked = d.join("locked.mp3");
    fs::copy(upstream_audio("bensound-cute", "mp3"), &locked).unwrap();
    fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    let locked_is_unreadable = fs::File::open(&locked).is_err();

    let json = d.join("out.json");
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), json.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");

    let report = read_json(&json);
    let good = track(&report, "good.mp3");
    assert_eq!(top_tag(&report, good), "jazz");
    for name in ["one_second.wav", "rate_8k.wav", "rate_96k.wav", "six_channels.wav", "ünïcødé 音楽 (live).wav"] {
        let t = track(&report, name);
        assert!(t["error"].is_null(), "{name}: {}", t["error"]);
        assert_eq!(t["scores"].as_array().map(Vec::len), Some(50), "{name}");
        let duration = t["duration_s"].as_f64().unwrap();
        let want = if name == "one_second.wav" {
            1.0
        } else if name.starts_with("ü") {
            3.0
        } else {
            5.0
        };
        assert!((duration - want).abs() < 0.05, "{name}: duration {duration}");
    }
    let mut expected_errors = vec!["empty.mp3", "random.flac", "text.ogg", "dangling.mp3"];
    if locked_is_unreadable {
        expected_errors.push("locked.mp3");
    }
    for name in &expected_errors {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name} should have one error line; stderr:\n{stderr}");
        assert!(lines[0].starts_with("error: "), "{}", lines[0]);
    }
    for name in ["empty.mp3", "random.flac", "text.ogg"] {
        let t = track(&report, name);
        assert!(t["scores"].is_null() && t["error"].is_string(), "{name}: {t}");
    }
    // Truncated and lying files decode what they hold, or fail with one line; never hang or crash.
    for name in ["truncated.mp3", "huge_header.wav"] {
        let t = track(&report, name);
        assert!(t["scores"].is_array() != t["error"].is_string(), "{name}: {t}");
    }
    let error_lines = stderr.lines().filter(|l| l.starts_with("error: ")).count();
    let errored_tracks = report["tracks"].as_array().unwrap().iter().filter(|t| t["error"].is_string()).count();
    // dangling.mp3 fails while scanning, so it has a line but no track.
    assert_eq!(error_lines, errored_tracks + 1, "stderr:\n{stderr}");
}

#[test]
fn json_csv_and_top_k_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for stem in ["bensound-cute", "bensound-dubstep"] {
        fs::copy(upstream_audio(stem, "mp3"), d.join(format!("{stem}.mp3"))).unwrap();
    }
    let json = d.join("scores.json");
    let csv = d.join("scores.csv");
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), json.as_os_str(), "--csv".as_ref(), csv.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty(), "reports replace the top-k listing");

    let report = read_json(&json);
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["mode", "model", "tags", "tracks"]);
    assert_eq!(report["model"], "choi2016_crnn");
    assert_eq!(report["mode"], "center");
    let tags: Vec<String> = report["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().into()).collect();
    assert_eq!(tags, tag_names());
    let tracks = report["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2);
    for t in tracks {
        let mut keys: Vec<&String> = t.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["duration_s", "error", "path", "scores"], "no windows key in center mode");
        let duration = t["duration_s"].as_f64().unwrap();
        assert!((30.0..33.0).contains(&duration), "duration {duration}");
    }
    // Upstream's 2016 decoder kept the mp3 encoder delay (144 samples at 12 kHz) that a gapless
    // decoder removes, which moves the crop: compare with the published scores loosely here.
    // The model is checked to 0.0015 on the upstream inputs, and the pipeline against librosa
    // in `agrees_with_the_python_reference_pipeline`.
    let published = read_json(&shared_dir().join("reference/crnn_published.json"));
    for (stem, top) in published["tracks"].as_object().unwrap() {
        let t = track(&report, &format!("{stem}.mp3"));
        assert_eq!(top_tag(&report, t), top[0][0].as_str().unwrap(), "{stem}");
        for pair in top.as_array().unwrap() {
            let (tag, want) = (pair[0].as_str().unwrap(), pair[1].as_f64().unwrap());
            let got = score_of(&report, t, tag);
            assert!((got - want).abs() < 0.1, "{stem} {tag}: {got:.3} vs published {want:.3}");
        }
    }

    let text = fs::read_to_string(&csv).unwrap();
    let mut rows = csv_rows(&text);
    let header = rows.remove(0);
    assert_eq!(header[0], "path");
    assert_eq!(&header[1..], &tag_names()[..]);
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let t = track(&report, Path::new(&row[0]).file_name().unwrap().to_str().unwrap());
        for (i, cell) in row[1..].iter().enumerate() {
            let v: f64 = cell.parse().unwrap();
            assert!((v - t["scores"][i].as_f64().unwrap()).abs() < 1e-5);
        }
    }

    // Without reports: one line per track with the top K tags, best first.
    let out = crnn_tag(&[d.join("bensound-cute.mp3").as_os_str(), "--top".as_ref(), "3".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    let (path, tags) = lines[0].split_once('\t').unwrap();
    assert!(path.ends_with("bensound-cute.mp3"));
    let tags: Vec<&str> = tags.split(", ").collect();
    assert_eq!(tags.len(), 3);
    assert!(tags[0].starts_with("jazz 0."), "{}", tags[0]);
}

/// A minimal CSV reader for the test (no quoted commas in tag names except quoted paths).
fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

#[test]
fn full_mode_keeps_a_taggram_and_averages_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 70 s: two whole 29.12 s windows and a 11.8 s tail, which gets an end-aligned window.
    let wav = d.join("long.wav");
    let cute = upstream_audio("bensound-cute", "mp3");
    ffmpeg(&[
        "-i",
        cute.to_str().unwrap(),
        "-i",
        cute.to_str().unwrap(),
        "-i",
        cute.to_str().unwrap(),
        "-filter_complex",
        "[0:a][1:a][2:a]concat=n=3:v=0:a=1",
        "-t",
        "70",
        "-ar",
        "44100",
        wav.to_str().unwrap(),
    ]);
    let json = d.join("full.json");
    let out = crnn_tag(&[wav.as_os_str(), "--mode".as_ref(), "full".as_ref(), "--json".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    assert_eq!(report["mode"], "full");
    let t = &report["tracks"][0];
    let windows = t["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 3);
    for i in 0..50 {
        let mean: f64 = windows.iter().map(|w| w[i].as_f64().unwrap()).sum::<f64>() / 3.0;
        assert!((mean - t["scores"][i].as_f64().unwrap()).abs() < 1e-5);
    }
    assert_ne!(windows[0], windows[1], "windows hear different music");
    assert!((t["duration_s"].as_f64().unwrap() - 70.0).abs() < 0.05);
}

#[test]
fn every_container_decodes_to_the_same_tags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = upstream_audio("bensound-cute", "mp3");
    let src = src.to_str().unwrap();
    let wav = d.join("ref.wav");
    ffmpeg(&["-i", src, "-c:a", "pcm_s16le", wav.to_str().unwrap()]);
    let wav = wav.to_str().unwrap();
    let lossless = [("flac", vec!["-c:a", "flac"]), ("aiff", vec!["-c:a", "pcm_s16be"]), ("alac.m4a", vec!["-c:a", "alac"])];
    let lossy = [
        ("ogg", vec!["-c:a", "libvorbis", "-q:a", "6"]),
        ("aac.m4a", vec!["-c:a", "aac", "-b:a", "192k"]),
        ("mp3", vec!["-c:a", "libmp3lame", "-b:a", "192k"]),
    ];
    for (ext, codec) in lossless.iter().chain(lossy.iter()) {
        let out = d.join(format!("ref.{ext}"));
        let mut args = vec!["-i", wav];
        args.extend(codec.iter().copied());
        args.push(out.to_str().unwrap());
        ffmpeg(&args);
    }
    let json = d.join("formats.json");
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    assert_eq!(report["tracks"].as_array().unwrap().len(), 7);
    let reference = track(&report, "ref.wav").clone();
    let max_diff = |name: &str| {
        let t = track(&report, name);
        (0..50).map(|i| (t["scores"][i].as_f64().unwrap() - reference["scores"][i].as_f64().unwrap()).abs()).fold(0.0, f64::max)
    };
    for name in ["ref.flac", "ref.aiff", "ref.alac.m4a"] {
        assert!(max_diff(name) < 1e-4, "{name}: lossless decode differs by {}", max_diff(name));
    }
    for name in ["ref.ogg", "ref.aac.m4a", "ref.mp3"] {
        let t = track(&report, name);
        assert_eq!(top_tag(&report, t), "jazz", "{name}");
        eprintln!("{name}: max score difference from the wav {:.4}", max_diff(name));
        assert!(max_diff(name) < 0.05, "{name}: lossy decode differs by {}", max_diff(name));
        let duration = t["duration_s"].as_f64().unwrap();
        let want = reference["duration_s"].as_f64().unwrap();
        assert!((duration - want).abs() < 0.03, "{name}: gapless duration {duration} vs {want}");
    }
}

#[test]
fn usage_errors_exit_2_with_one_clear_line() {
    let out = melotag_str(&["tag"]);
    assert_eq!(out.status.code(), Some(2));
    let out = melotag_str(&["tag", ".", "--mode", "sideways"]);
    assert_eq!(out.status.code(), Some(2));
    let out = melotag_str(&["tag", ".", "--threads", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = melotag_str(&["tag", ".", "--model", "no-such-model"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("unknown model 'no-such-model'"), "{stderr}");
}

#[test]
fn a_missing_runtime_says_what_to_run() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a.wav");
    write_wav(&wav, 22_050, 1, &test_signal(22_050, 1, 1.0));
    let out = command(dir.path())
        .args(["tag", wav.to_str().unwrap()])
        .env("ORT_DYLIB_PATH", dir.path().join("nope/libonnxruntime.so"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ONNX Runtime library not found") && stderr.contains("make setup"), "{stderr}");
}

#[test]
fn agrees_with_the_python_reference_pipeline() {
    // librosa load at 12 kHz + the upstream mel recipe + onnxruntime, on the same ONNX file.
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = ["bensound-actionable", "bensound-cute", "bensound-dubstep", "bensound-thejazzpiano"]
        .iter()
        .map(|s| upstream_audio(s, "mp3").canonicalize().unwrap())
        .collect();
    let ours = dir.path().join("ours.json");
    let theirs = dir.path().join("theirs.json");
    let mut args: Vec<&std::ffi::OsStr> = files.iter().map(|f| f.as_os_str()).collect();
    args.extend(["--json".as_ref(), ours.as_os_str()]);
    let out = crnn_tag(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MELOTAG_PYTHON").map(std::path::PathBuf::from).unwrap_or(root.join(".venv/bin/python"));
    let status = std::process::Command::new(&python)
        .arg(root.join("tools/bench_reference.py"))
        .args(["--jobs", "1", "--model"])
        .arg(root.join("models/choi2016_crnn.onnx"))
        .arg("--json")
        .arg(&theirs)
        .args(&files)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap_or_else(|e| panic!("running {} ({e}): run `make setup`", python.display()));
    assert!(status.success());
    let ours = read_json(&ours);
    let theirs = read_json(&theirs);
    for t in ours["tracks"].as_array().unwrap() {
        let reference = &theirs["scores"][t["path"].as_str().unwrap()];
        for i in 0..50 {
            let (a, b) = (t["scores"][i].as_f64().unwrap(), reference[i].as_f64().unwrap());
            assert!((a - b).abs() < 1e-3, "{} tag {i}: melotag {a} vs python {b}", t["path"]);
        }
    }
}
