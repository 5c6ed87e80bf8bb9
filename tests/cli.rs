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

/// Seconds of audio ffmpeg decodes from `path` (mono, at 48 kHz: one sample is 21 µs).
fn ffmpeg_duration(path: &Path) -> f64 {
    let out = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "fatal", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000", "-f", "s16le", "-"])
        .output()
        .expect("ffmpeg not found: run `make setup`");
    out.stdout.len() as f64 / 2.0 / 48_000.0
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
    // A header claiming 1 sample per second (rubato would need gigabytes to resample it), and a
    // damaged float WAV with a NaN, an infinite and a huge sample among real ones.
    write_wav_f32(&d.join("rate_1hz.wav"), 1, &[0.1; 10_000]);
    let mut poisoned: Vec<f32> = test_signal(44_100, 1, 5.0).into_iter().map(|f| f[0]).collect();
    poisoned[1_000] = f32::NAN;
    poisoned[50_000] = f32::INFINITY;
    poisoned[100_000] = 1e20;
    write_wav_f32(&d.join("poisoned_float.wav"), 44_100, &poisoned);
    // A dangling symlink cannot be read (mode-000 files: `cannot_read_errors_are_not_cached`).
    std::os::unix::fs::symlink(d.join("gone.mp3"), d.join("dangling.mp3")).unwrap();
    // An m4a whose AAC frames are damaged in the middle (symphonia's decoder logs and skips
    // them): it still scores, and nothing of the library's logging reaches stderr.
    let m4a = d.join("damaged.m4a");
    ffmpeg(&["-i", upstream_audio("bensound-cute", "mp3").to_str().unwrap(), "-c:a", "aac", "-b:a", "128k", m4a.to_str().unwrap()]);
    let mut bytes = fs::read(&m4a).unwrap();
    let mdat = bytes.windows(4).position(|w| w == b"mdat").expect("an mdat atom");
    let (from, to) = (mdat + 20_000, (mdat + 60_000).min(bytes.len()));
    for (k, b) in bytes[from..to].iter_mut().enumerate() {
        *b ^= (k * 37 % 251) as u8 | 1;
    }
    fs::write(&m4a, bytes).unwrap();

    let json = d.join("out.json");
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), json.as_os_str()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    // Only melotag's own one-line errors: no library log lines, no colour codes.
    assert!(stderr.lines().all(|l| l.starts_with("error: ")) && !stderr.contains('\x1b'), "stderr:\n{stderr}");

    let report = read_json(&json);
    let good = track(&report, "good.mp3");
    assert_eq!(top_tag(&report, good), "jazz");
    for name in [
        "one_second.wav",
        "rate_8k.wav",
        "rate_96k.wav",
        "six_channels.wav",
        "ünïcødé 音楽 (live).wav",
        "damaged.m4a",
        "poisoned_float.wav",
    ] {
        let t = track(&report, name);
        assert!(t["error"].is_null(), "{name}: {}", t["error"]);
        assert_eq!(t["scores"].as_array().map(Vec::len), Some(50), "{name}");
        assert!(t["scores"].as_array().unwrap().iter().all(|s| s.as_f64().is_some_and(|x| (0.0..=1.0).contains(&x))), "{name}: {t}");
        let duration = t["duration_s"].as_f64().unwrap();
        let want = if name == "one_second.wav" {
            1.0
        } else if name == "damaged.m4a" {
            // The damaged frames (40 kB of 128 kb/s AAC, about 2.5 s) are skipped, the rest
            // decoded to the end.
            let full = ffmpeg_duration(&upstream_audio("bensound-cute", "mp3"));
            assert!(duration > full - 4.0 && duration < full + 0.05, "{name}: {duration} s decoded of {full}");
            duration
        } else if name.starts_with("ü") {
            3.0
        } else {
            5.0
        };
        assert!((duration - want).abs() < 0.05, "{name}: duration {duration}");
    }
    for (name, reason) in [
        ("empty.mp3", "file is empty"),
        ("random.flac", "not a supported audio file"),
        ("text.ogg", "not a supported audio file"),
        ("huge_header.wav", "damaged"),
        ("dangling.mp3", "no such file"),
        ("rate_1hz.wav", "sample rate 1 Hz"),
    ] {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name} should have one error line; stderr:\n{stderr}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(reason), "{name}: {} (expected: {reason})", lines[0]);
    }
    for name in ["empty.mp3", "random.flac", "text.ogg"] {
        let t = track(&report, name);
        assert!(t["scores"].is_null() && t["error"].is_string(), "{name}: {t}");
    }
    // A truncated mp3 decodes what it holds, as much as ffmpeg finds in it.
    let t = track(&report, "truncated.mp3");
    assert!(t["error"].is_null() && t["scores"].as_array().map(Vec::len) == Some(50), "{t}");
    let (got, want) = (t["duration_s"].as_f64().unwrap(), ffmpeg_duration(&d.join("truncated.mp3")));
    assert!(want > 9.0 && (got - want).abs() < 0.05, "truncated.mp3: {got} s decoded, ffmpeg decodes {want} s");
    // A data chunk longer than its RIFF chunk is a damaged file: an error, not a 4 GB read (a
    // WAV whose RIFF length lies too decodes what it holds: `audio::tests`).
    let t = track(&report, "huge_header.wav");
    assert!(t["scores"].is_null() && t["error"].as_str().is_some_and(|e| e.contains("damaged")), "{t}");
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

    // `--json -` and `--csv -`: the same documents on standard output, and nothing else there.
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), "-".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let from_stdout: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(sorted_tracks(from_stdout), sorted_tracks(report.clone()));
    let out = crnn_tag(&[d.as_os_str(), "--csv".as_ref(), "-".as_ref()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let mut from_stdout = csv_rows(&String::from_utf8(out.stdout).unwrap());
    let mut from_file = csv_rows(&text);
    from_stdout[1..].sort();
    from_file[1..].sort();
    assert_eq!(from_stdout, from_file);

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

/// A report with its tracks in path order (they are listed as they finish).
fn sorted_tracks(mut report: serde_json::Value) -> serde_json::Value {
    report["tracks"].as_array_mut().unwrap().sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    report
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
    let lossless = [
        ("flac", vec!["-c:a", "flac"]),
        ("aiff", vec!["-c:a", "pcm_s16be"]),
        ("alac.m4a", vec!["-c:a", "alac"]),
        ("caf", vec!["-c:a", "pcm_s16le"]),
        ("mka", vec!["-c:a", "flac"]),
    ];
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
    assert_eq!(report["tracks"].as_array().unwrap().len(), 9);
    let reference = track(&report, "ref.wav").clone();
    let max_diff = |name: &str| {
        let t = track(&report, name);
        (0..50).map(|i| (t["scores"][i].as_f64().unwrap() - reference["scores"][i].as_f64().unwrap()).abs()).fold(0.0, f64::max)
    };
    for name in ["ref.flac", "ref.aiff", "ref.alac.m4a", "ref.caf", "ref.mka"] {
        assert!(max_diff(name) < 1e-4, "{name}: lossless decode differs by {}", max_diff(name));
        let duration = track(&report, name)["duration_s"].as_f64().unwrap();
        assert!((duration - reference["duration_s"].as_f64().unwrap()).abs() < 1e-3, "{name}: duration {duration}");
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
    args.extend(["--no-cache".as_ref(), "--json".as_ref(), ours.as_os_str()]);
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
    let tracks = ours["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 4);
    assert_eq!(theirs["scores"].as_object().unwrap().len(), 4);
    let mut worst = 0.0f64;
    for t in tracks {
        let reference = theirs["scores"][t["path"].as_str().unwrap()].as_array().expect("the same file in the Python report");
        assert_eq!((t["scores"].as_array().unwrap().len(), reference.len()), (50, 50));
        for i in 0..50 {
            let (a, b) = (t["scores"][i].as_f64().unwrap(), reference[i].as_f64().unwrap());
            worst = worst.max((a - b).abs());
        }
    }
    // README: "within 1e-7 per score".
    eprintln!("max |melotag - python| over 4 x 50 scores: {worst:e}");
    assert!(worst <= 1e-7, "melotag and the Python pipeline differ by {worst:e}");
}

/// The example runs README shows (`$ melotag ...` and the lines after it) print exactly
/// those lines, run from the repository as README runs them.
#[test]
fn readme_examples_are_what_the_binary_prints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let lines: Vec<&str> = readme.lines().collect();
    let mut examples = 0;
    for (i, line) in lines.iter().enumerate() {
        let Some(example) = line.strip_prefix("    $ melotag ") else { continue };
        let want: Vec<&str> = lines[i + 1..].iter().take_while(|l| l.starts_with("    ") && !l.contains("$ ")).map(|l| &l[4..]).collect();
        assert!(!want.is_empty(), "README example without output: {line}");
        let data = tempfile::tempdir().unwrap();
        let out = command(data.path()).args(example.split_whitespace()).current_dir(root).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{example}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        let got: Vec<&str> = stdout.lines().collect();
        if example.starts_with("tag ") {
            // `tag` prints files as workers finish them: the same lines, in any order.
            let (got, want): (std::collections::BTreeSet<&str>, std::collections::BTreeSet<&str>) =
                (got.iter().copied().collect(), want.iter().copied().collect());
            assert_eq!(got, want, "`melotag {example}` prints other lines than README shows");
        } else {
            // `similar` and `playlist`: nearest first, the walk's order.
            assert_eq!(got, want, "`melotag {example}` prints other lines, or in another order, than README shows");
        }
        examples += 1;
    }
    assert_eq!(examples, 5, "README's examples: two `melotag tag`, one `similar`, two `playlist`");
}

/// README: the published CRNN scores are not reproduced from the mp3s because upstream's crop
/// started elsewhere (its 2016 decoder kept the encoder delay). Cropping our own decode 144
/// samples (at 12 kHz) later than our centre crop brings back every published score.
#[test]
fn the_published_scores_come_back_with_upstreams_crop() {
    let dir = tempfile::tempdir().unwrap();
    let published = read_json(&shared_dir().join("reference/crnn_published.json"));
    let tracks = published["tracks"].as_object().unwrap();
    assert_eq!(tracks.len(), 2);
    let window = 349_440;
    let mut shifted = Vec::new();
    for stem in tracks.keys() {
        let audio = melotag::engine::audio::load_full(&upstream_audio(stem, "mp3"), 12_000).unwrap();
        let start = (audio.samples.len() - window) / 2 + 144;
        let wav = dir.path().join(format!("{stem}.wav"));
        write_wav_f32(&wav, 12_000, &audio.samples[start..start + window]);
        shifted.push(wav);
    }
    let json = dir.path().join("shifted.json");
    let mut args: Vec<&std::ffi::OsStr> = vec!["--no-cache".as_ref(), "--json".as_ref(), json.as_os_str()];
    args.extend(shifted.iter().map(|p| p.as_os_str()));
    let out = crnn_tag(&args);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    assert_eq!(report["tracks"].as_array().unwrap().len(), 2);
    let mut checked = 0;
    for (stem, top) in tracks {
        let t = track(&report, &format!("{stem}.wav"));
        for pair in top.as_array().unwrap() {
            let (tag, want) = (pair[0].as_str().unwrap(), pair[1].as_f64().unwrap());
            let got = score_of(&report, t, tag);
            // As close as the model on upstream's own inputs (`published_scores.rs`): 0.0005.
            assert!((got - want).abs() <= 0.0006, "{stem} {tag}: {got:.5} vs published {want:.3}");
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
}

/// `write` of an excerpt with a fixed policy; returns the output.
fn write_tags(data: &Path, extra: &[&str], files: &[&Path]) -> std::process::Output {
    let out = command(data).args(["write", "--model", "crnn", "--yes"]).args(extra).args(files).output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"), "{}", String::from_utf8_lossy(&out.stderr));
    out
}

fn vorbis_values(path: &Path, key: &str) -> Vec<String> {
    use lofty::prelude::*;
    let f = lofty::flac::FlacFile::read_from(&mut fs::File::open(path).unwrap(), lofty::config::ParseOptions::new()).unwrap();
    f.vorbis_comments().map(|c| c.get_all(key).map(str::to_string).collect()).unwrap_or_default()
}

fn mtime(path: &Path) -> std::time::SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn undo_dry_run_shows_what_it_would_restore_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let flac = flac_excerpt(d, "a.flac", "bensound-cute", 10, Some("Pop"));
    let original = fs::read(&flac).unwrap();
    let out = write_tags(&data, &["--merge", "replace", "--ratio", "0", "--floor", "0", "--max-genres", "1"], &[&flac]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let written = fs::read(&flac).unwrap();
    let genre = vorbis_values(&flac, "GENRE");
    assert_eq!(genre.len(), 1);
    assert_ne!(genre, ["Pop"]);
    let before = mtime(&flac);

    for args in [vec!["undo", "--dry-run", flac.to_str().unwrap()], vec!["undo", "--last", "--dry-run"]] {
        let out = command(&data).args(&args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains(&format!("GENRE (genre): {} → Pop", genre[0])), "{args:?}: {stdout}");
        assert!(stdout.contains("its original bytes will be restored") && stdout.contains("dry run: nothing restored"), "{stdout}");
        assert_eq!(fs::read(&flac).unwrap(), written, "{args:?} left the bytes alone");
        assert_eq!(mtime(&flac), before, "{args:?} left the modification time alone");
    }
    // The dry runs left the journal as it was: the real undo still has it to do.
    let out = command(&data).args(["undo", "--last"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(&flac).unwrap(), original);
}

/// The best `n` canonical names of `category` by score (two model tags may share one name).
fn best_of(category: melotag::engine::tags::Category, tags: &[String], scores: &[f64], n: usize) -> Vec<String> {
    let mut best: std::collections::BTreeMap<&str, f64> = std::collections::BTreeMap::new();
    for (tag, &s) in tags.iter().zip(scores) {
        if let Some(e) = melotag::engine::tags::taxonomy::entry("msd", tag)
            && e.category == category
        {
            let name = e.name;
            let e = best.entry(name).or_insert(s);
            *e = e.max(s);
        }
    }
    let mut ranked: Vec<(&str, f64)> = best.into_iter().collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked.into_iter().take(n).map(|(name, _)| name.to_string()).collect()
}

#[test]
fn max_other_limits_instrument_and_era_tags() {
    use melotag::engine::tags::Category;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = flac_excerpt(d, "base.flac", "bensound-thejazzpiano", 12, None);
    let json = d.join("scores.json");
    let out = crnn_tag(&["--no-cache".as_ref(), "--json".as_ref(), json.as_os_str(), base.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    let tags: Vec<String> = report["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect();
    let scores: Vec<f64> = report["tracks"][0]["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let policy = ["--ratio", "0", "--floor", "0", "--max-genres", "1", "--categories", "genre,instrument,era"];
    for (max_other, flag) in [(2, None), (1, Some("1")), (3, Some("3"))] {
        let flac = d.join(format!("max_other_{max_other}.flac"));
        fs::copy(&base, &flac).unwrap();
        let mut args = policy.to_vec();
        if let Some(n) = flag {
            args.extend(["--max-other", n]);
        }
        let out = write_tags(&d.join("data"), &args, &[&flac]);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        // One genre in the genre field; instruments and eras in the grouping field.
        assert_eq!(vorbis_values(&flac, "GENRE"), best_of(Category::Genre, &tags, &scores, 1), "--max-other {flag:?}");
        let mut want = best_of(Category::Instrument, &tags, &scores, max_other);
        want.extend(best_of(Category::Era, &tags, &scores, max_other));
        let mut got = vorbis_values(&flac, "GROUPING");
        // The CRNN's vocabulary has two instruments and six eras.
        assert_eq!(got.len(), max_other.min(2) + max_other, "--max-other {flag:?}: {got:?}");
        got.sort();
        want.sort();
        assert_eq!(got, want, "--max-other {flag:?}");
        assert!(vorbis_values(&flac, "MOOD").is_empty(), "moods were not asked for");
    }
}

#[test]
fn aiff_files_get_id3_tags_keep_their_audio_and_undo_restores_them() {
    use lofty::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let aiff = d.join("a.aiff");
    let src = upstream_audio("bensound-cute", "mp3");
    ffmpeg(&[
        "-t",
        "12",
        "-i",
        src.to_str().unwrap(),
        "-map",
        "0:a",
        "-c:a",
        "pcm_s16be",
        "-write_id3v2",
        "1",
        "-metadata",
        "title=Cute",
        aiff.to_str().unwrap(),
    ]);
    let original = fs::read(&aiff).unwrap();
    let pcm = pcm_md5(&aiff);
    let id3 = |p: &Path| {
        let f = lofty::iff::aiff::AiffFile::read_from(&mut fs::File::open(p).unwrap(), lofty::config::ParseOptions::new()).unwrap();
        let tag = f.id3v2().cloned();
        tag.map(|t| {
            let texts = |id: &str| {
                t.get_texts(&lofty::id3::v2::FrameId::new(id).unwrap().into_owned()).map(|v| v.map(str::to_string).collect::<Vec<_>>())
            };
            (t.title().map(|s| s.to_string()), texts("TCON"), texts("TMOO"))
        })
    };
    assert_eq!(id3(&aiff), Some((Some("Cute".to_string()), None, None)), "the fixture has a title only");
    let out = write_tags(&data, &["--ratio", "0", "--floor", "0", "--max-genres", "2", "--max-moods", "1"], &[&aiff]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (title, genres, moods) = id3(&aiff).expect("an ID3v2 chunk");
    assert_eq!(title.as_deref(), Some("Cute"), "other tags kept");
    assert_eq!(genres.map(|g| g.len()), Some(2), "two genres in TCON");
    assert_eq!(moods.map(|m| m.len()), Some(1), "one mood in TMOO");
    assert_eq!(pcm_md5(&aiff), pcm, "audio untouched");
    let out = command(&data).args(["undo", "--last"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(&aiff).unwrap(), original, "undo restores the original bytes");
}

#[test]
fn an_unconverted_model_is_a_set_up_error_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    fs::create_dir(&models).unwrap();
    fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/choi2016_crnn.toml"), models.join("choi2016_crnn.toml")).unwrap();
    let wav = dir.path().join("a.wav");
    write_wav(&wav, 22_050, 1, &test_signal(22_050, 1, 2.0));
    for model in ["crnn", "choi2016_crnn"] {
        let out = command(dir.path()).args(["tag", "--model", model]).arg(&wav).env("MELOTAG_MODELS_DIR", &models).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{model}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&format!("model file {} is missing", models.join("choi2016_crnn.onnx").display())), "{stderr}");
        assert!(stderr.contains("make setup"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn cannot_read_errors_are_not_cached() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
    let data = d.join("data");
    fs::create_dir(&data).unwrap();
    fs::set_permissions(&data, fs::Permissions::from_mode(0o777)).unwrap();
    let locked = d.join("locked.wav");
    let good = d.join("good.wav");
    write_wav(&locked, 22_050, 1, &test_signal(22_050, 1, 2.0));
    write_wav(&good, 16_000, 1, &test_signal(16_000, 1, 2.0));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let run = |json: &str| {
        let mut cmd = command(&data);
        cmd.args(["tag", "--model", "crnn", "--json"]).arg(data.join(json)).arg(&locked).arg(&good);
        as_nobody_if_root(&mut cmd);
        cmd.output().unwrap()
    };
    let out = run("1.json");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let line = stderr.lines().find(|l| l.contains("locked.wav")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("error: ") && line.to_lowercase().contains("permission denied"), "{line}");
    let cached = || melotag::engine::cache::Cache::open_at(&data.join("cache.sqlite")).unwrap().cache.len().unwrap();
    assert_eq!(cached(), 1, "the result of good.wav is cached, the read error is not");

    // Readable again: analysed, though its size and modification time did not change.
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o644)).unwrap();
    let out = run("2.json");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&data.join("2.json"));
    let t = track(&report, "locked.wav");
    assert!(t["error"].is_null() && t["scores"].as_array().map(Vec::len) == Some(50), "{t}");
    assert_eq!(cached(), 2);
}

#[test]
fn a_file_named_directly_is_tried_whatever_its_extension() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_wav(&d.join("tone.wav"), 22_050, 1, &test_signal(22_050, 1, 2.0));
    fs::copy(d.join("tone.wav"), d.join("tone.dat")).unwrap();
    fs::write(d.join("notes.txt"), "not audio").unwrap();
    // Walking the folder: audio extensions only.
    let json = d.join("walk.json");
    let out = crnn_tag(&[d.as_os_str(), "--json".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let names: Vec<String> = read_json(&json)["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Path::new(t["path"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["tone.wav"]);
    // Named on the command line: tried, and scored like the same bytes under .wav.
    let json = d.join("named.json");
    let out = crnn_tag(&[d.join("tone.dat").as_os_str(), d.join("tone.wav").as_os_str(), "--json".as_ref(), json.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    assert_eq!(report["tracks"].as_array().unwrap().len(), 2);
    assert_eq!(track(&report, "tone.dat")["scores"], track(&report, "tone.wav")["scores"]);
    assert!(track(&report, "tone.dat")["scores"].is_array());
    // A text file named directly is tried too: one error line, exit 1.
    let out = crnn_tag(&[d.join("notes.txt").as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.lines().count() == 1 && stderr.starts_with("error: ") && stderr.contains("notes.txt"), "{stderr}");
}

/// The `ONNX Runtime ... from PATH` line of `melotag --version -v`.
fn runtime_line(cmd: &mut std::process::Command) -> String {
    let out = cmd.args(["--version", "-v"]).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    stdout.lines().find(|l| l.starts_with("ONNX Runtime")).unwrap_or_else(|| panic!("no runtime line: {stdout}")).to_string()
}

/// README: `ORT_DYLIB_PATH` if set (used alone), else `libonnxruntime.so` next to the
/// executable, or in `lib/` beside it, else the project's `.cache/onnxruntime/`.
#[test]
fn onnx_runtime_search_order() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let real = root.join(".cache/onnxruntime/libonnxruntime.so");
    assert!(real.is_file(), "{} missing: run `make setup`", real.display());
    // A copy of the binary in a folder of its own (a hard link when the filesystem allows).
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let d = dir.path();
    let bin_dir = d.join("bin");
    fs::create_dir_all(bin_dir.join("lib")).unwrap();
    let bin = bin_dir.join("melotag");
    let link_or_copy = |from: &Path, to: &Path| {
        if fs::hard_link(from, to).is_err() {
            fs::copy(from, to).unwrap();
        }
    };
    link_or_copy(Path::new(env!("CARGO_BIN_EXE_melotag")), &bin);
    let data = d.join("data");
    let wav = d.join("a.wav");
    write_wav(&wav, 22_050, 1, &test_signal(22_050, 1, 2.0));
    let from = |p: &Path| format!(" from {}", p.display());

    // Nothing beside the executable: the project's .cache/onnxruntime.
    let line = runtime_line(&mut command_of(&bin, &data));
    assert!(line.ends_with(&from(&real)), "{line}");
    // In lib/ beside it: that one (a file that is not a library proves which one is loaded).
    fs::write(bin_dir.join("lib/libonnxruntime.so"), b"not a library").unwrap();
    let out = command_of(&bin, &data).arg("tag").arg(&wav).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("could not load ONNX Runtime from {}", bin_dir.join("lib/libonnxruntime.so").display())), "{stderr}");
    fs::remove_file(bin_dir.join("lib/libonnxruntime.so")).unwrap();
    link_or_copy(&real, &bin_dir.join("lib/libonnxruntime.so"));
    let line = runtime_line(&mut command_of(&bin, &data));
    assert!(line.ends_with(&from(&bin_dir.join("lib/libonnxruntime.so"))), "{line}");
    // Next to the executable: before lib/.
    link_or_copy(&real, &bin_dir.join("libonnxruntime.so"));
    let line = runtime_line(&mut command_of(&bin, &data));
    assert!(line.ends_with(&from(&bin_dir.join("libonnxruntime.so"))), "{line}");
    let out = command_of(&bin, &data).arg("tag").arg("--model").arg("crnn").arg(&wav).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "tagging with the library next to the executable: {}", String::from_utf8_lossy(&out.stderr));
    // ORT_DYLIB_PATH: before everything else ...
    let elsewhere = d.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    link_or_copy(&real, &elsewhere.join("libonnxruntime.so"));
    let line = runtime_line(command_of(&bin, &data).env("ORT_DYLIB_PATH", elsewhere.join("libonnxruntime.so")));
    assert!(line.ends_with(&from(&elsewhere.join("libonnxruntime.so"))), "{line}");
    // ... and alone: a missing one is an error although the others are there.
    let missing = elsewhere.join("missing/libonnxruntime.so");
    let out = command_of(&bin, &data).arg("tag").arg(&wav).env("ORT_DYLIB_PATH", &missing).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("ONNX Runtime library not found (looked in {})", missing.display())), "{stderr}");
}

/// `write` asks on a terminal; a file changed while the question waits (after its analysis and
/// preview) is skipped with an error, and the other change is kept.
#[test]
fn a_file_changed_while_write_waits_for_confirmation_is_not_written() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flac = flac_excerpt(d, "a.flac", "bensound-cute", 10, None);
    let other = flac_excerpt(d, "b.flac", "bensound-thejazzpiano", 10, None);
    let data = d.join("data");
    // `script` (make setup) gives melotag a terminal.
    let inner = format!("'{}' write --model crnn '{}' '{}'", env!("CARGO_BIN_EXE_melotag"), flac.display(), other.display());
    let mut child = in_a_terminal(&data, &inner)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("`script` not found: run `make setup`");
    let mut stdout = child.stdout.take().unwrap();
    let mut screen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&screen).contains("[y/N]") {
        let n = stdout.read(&mut buf).unwrap();
        assert!(n > 0, "melotag ended before asking: {}", String::from_utf8_lossy(&screen));
        screen.extend_from_slice(&buf[..n]);
    }
    // Someone else edits a.flac's tags meanwhile.
    {
        use lofty::prelude::*;
        let mut f = lofty::flac::FlacFile::read_from(&mut fs::File::open(&flac).unwrap(), lofty::config::ParseOptions::new()).unwrap();
        f.vorbis_comments_mut().unwrap().insert("GENRE".into(), "Edited".into());
        f.save_to(&mut fs::OpenOptions::new().read(true).write(true).open(&flac).unwrap(), lofty::config::WriteOptions::new()).unwrap();
    }
    let edited = fs::read(&flac).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"y\n").unwrap();
    stdout.read_to_end(&mut screen).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    let screen = String::from_utf8_lossy(&screen);
    assert_eq!(status.code(), Some(1), "{screen}");
    let line = screen.lines().find(|l| l.contains("a.flac") && l.contains("error")).unwrap_or_else(|| panic!("{screen}"));
    assert!(line.contains("changed on disk"), "{line}");
    assert_eq!(fs::read(&flac).unwrap(), edited, "a.flac keeps the other program's edit and nothing else");
    assert_eq!(vorbis_values(&flac, "GENRE"), ["Edited"]);
    assert!(!vorbis_values(&other, "GENRE").is_empty(), "b.flac was written: {screen}");
}

#[test]
fn a_reader_that_stops_early_ends_the_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    // The pipe's read end is closed before melotag writes: its first print meets EPIPE.
    let mut child = command(dir.path())
        .args(["models", "--no-timing"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by SIGPIPE, as `cat` is (or done before the reader left, on a very slow start).
    const SIGPIPE: i32 = 13;
    assert!(out.status.signal() == Some(SIGPIPE) || out.status.success(), "{:?} {stderr}", out.status);
}
