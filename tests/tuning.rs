//! How workers run a model (inputs per ONNX Runtime call, intra-op threads, workers, ONNX
//! Runtime's arena) changes speed only: whole-track scores and per-window scores agree across
//! the layouts `make bench` chooses between, on real music, for musicnn and the CRNN.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const STEMS: [&str; 4] = ["bensound-actionable", "bensound-cute", "bensound-dubstep", "bensound-thejazzpiano"];

/// Two minutes of music (the four samples one after the other) and the jazz sample alone.
fn tracks(dir: &Path) -> Vec<PathBuf> {
    let list = dir.join("list.txt");
    let lines: Vec<String> = STEMS.iter().map(|s| format!("file '{}'", upstream_audio(s, "mp3").display())).collect();
    std::fs::write(&list, lines.join("\n")).unwrap();
    let long = dir.join("two-minutes.flac");
    ffmpeg(&["-f", "concat", "-safe", "0", "-i", list.to_str().unwrap(), "-ac", "2", "-c:a", "flac", long.to_str().unwrap()]);
    vec![long, upstream_audio("bensound-thejazzpiano", "mp3")]
}

/// Per track (in input order): the track scores and every window's scores.
fn scores(model: &str, files: &[PathBuf], extra: &[&str], dir: &Path) -> Vec<(Vec<f64>, Vec<Vec<f64>>)> {
    let json = dir.join("out.json");
    let mut args: Vec<&std::ffi::OsStr> = vec!["tag".as_ref(), "--model".as_ref(), model.as_ref(), "--mode".as_ref(), "full".as_ref()];
    args.extend(["--no-cache".as_ref(), "--json".as_ref(), json.as_os_str()]);
    args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = melotag(&args);
    assert!(out.status.success(), "{model} {extra:?}: {}", String::from_utf8_lossy(&out.stderr));
    let doc = read_json(&json);
    let floats = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>();
    let tracks = doc["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), files.len());
    files
        .iter()
        .map(|f| {
            let t = tracks.iter().find(|t| Path::new(t["path"].as_str().unwrap()) == f.as_path()).expect("every file reported");
            (floats(&t["scores"]), t["windows"].as_array().unwrap().iter().map(floats).collect())
        })
        .collect()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn scores_do_not_depend_on_batch_size_threads_or_workers() {
    let dir = tempfile::tempdir().unwrap();
    let files = tracks(dir.path());
    for (model, windows_of_long) in [("musicnn", 40), ("crnn", 4)] {
        let reference = scores(model, &files, &["--threads", "1", "--batch", "1"], dir.path());
        assert!(reference[0].1.len() >= windows_of_long, "{model}: {} windows", reference[0].1.len());
        for layout in [
            &["--threads", "1"][..],
            &["--threads", "2", "--batch", "4"],
            &["--threads", "2", "--batch", "16"],
            &["--threads", "1", "--intra-threads", "2", "--batch", "8"],
            &["--threads", "2", "--no-arena", "--no-spin"],
        ] {
            let other = scores(model, &files, layout, dir.path());
            for ((s, w), (rs, rw)) in other.iter().zip(&reference) {
                let d = max_diff(s, rs);
                assert_eq!(w.len(), rw.len(), "{model} {layout:?}: window count");
                let dw = w.iter().zip(rw).map(|(a, b)| max_diff(a, b)).fold(0.0, f64::max);
                println!("{model} {layout:?}: max |difference| track {d:.1e}, window {dw:.1e}");
                assert!(d <= 1e-6 && dw <= 1e-6, "{model} {layout:?}: scores differ from batch 1 by {d:.1e} (track), {dw:.1e} (window)");
            }
        }
    }
}
