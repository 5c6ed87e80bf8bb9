//! The converted models, run through ONNX Runtime from Rust, against published numbers.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use melotag::engine::model::{Tagger, resolve_model};
use ndarray::{Array2, Array4};

/// The upstream log-mel input of a sample track, as the model takes it.
fn upstream_input(stem: &str) -> Array2<f32> {
    let x: Array4<f64> = ndarray_npy::read_npy(common::upstream_audio(stem, "npy")).expect("reading npy");
    assert_eq!(x.shape(), &[1, 1, 96, 1366]);
    x.slice(ndarray::s![0, 0, .., ..]).mapv(|v| v as f32)
}

#[test]
fn crnn_matches_every_published_score() {
    let manifest = Arc::new(resolve_model("crnn").expect("crnn manifest"));
    assert_eq!(manifest.tags, common::tag_names(), "manifest tags differ from msd50_tags.txt");
    let mut tagger = Tagger::new(manifest.clone(), 1).expect("opening the CRNN (run `make setup`)");
    let published = common::read_json(&common::shared_dir().join("reference/crnn_published.json"));
    let tracks = published["tracks"].as_object().expect("tracks");
    assert_eq!(tracks.len(), 2);
    let mut checked = 0;
    for (stem, top) in tracks {
        let input = upstream_input(stem);
        let scores = tagger.predict(&[input.view()]).expect("inference").tags;
        assert_eq!(scores.len(), 1);
        for pair in top.as_array().expect("list") {
            let tag = pair[0].as_str().expect("tag");
            let want = pair[1].as_f64().expect("score");
            let i = manifest.tags.iter().position(|t| t == tag).expect("tag in manifest");
            let got = scores[0][i] as f64;
            // README: within 0.0005 of the published (3-decimal) scores; measured 0.00048.
            assert!((got - want).abs() <= 0.0006, "{stem} {tag}: got {got:.5}, published {want:.3}");
            checked += 1;
        }
    }
    assert_eq!(checked, 20);
}

#[test]
fn crnn_batches_like_single_inputs() {
    let manifest = Arc::new(resolve_model("crnn").expect("crnn manifest"));
    let mut tagger = Tagger::new(manifest, 1).expect("opening the CRNN");
    let a = upstream_input("bensound-cute");
    let b = upstream_input("bensound-dubstep");
    let both = tagger.predict(&[a.view(), b.view()]).expect("batch").tags;
    let single = tagger.predict(&[b.view()]).expect("single").tags;
    for (x, y) in both[1].iter().zip(&single[0]) {
        assert!((x - y).abs() < 1e-5);
    }
    assert_ne!(both[0], both[1]);
}

const STEMS: [&str; 4] = ["bensound-actionable", "bensound-cute", "bensound-dubstep", "bensound-thejazzpiano"];

/// Scores of an independent forward pass: numpy (float64) over the upstream Keras weights
/// (`tools/choi2016_forward.py`, run in the project venv), for each upstream input.
fn numpy_scores(model: &str) -> Vec<Vec<f64>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MELOTAG_PYTHON").map(PathBuf::from).unwrap_or(root.join(".venv/bin/python"));
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("numpy.json");
    let inputs: Vec<PathBuf> = STEMS.iter().map(|s| common::upstream_audio(s, "npy")).collect();
    let out = Command::new(&python)
        .arg(root.join("tools/choi2016_forward.py"))
        .args(["--model", model, "--src"])
        .arg(common::shared_dir().join("upstream/choi2016"))
        .arg("--json")
        .arg(&json)
        .args(&inputs)
        .output()
        .unwrap_or_else(|e| panic!("running {} ({e}): run `make setup`", python.display()));
    assert!(out.status.success(), "choi2016_forward.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let report = common::read_json(&json);
    inputs
        .iter()
        .map(|p| report["scores"][p.to_str().unwrap()].as_array().expect("scores").iter().map(|v| v.as_f64().unwrap()).collect())
        .collect()
}

/// Every one of the 50 scores of the converted model, on the four upstream inputs, against the
/// numpy forward pass; returns the ONNX scores.
fn check_against_numpy(model: &str) -> (Arc<melotag::engine::model::Manifest>, Vec<Vec<f32>>) {
    let manifest = Arc::new(resolve_model(model).expect("manifest"));
    let mut tagger = Tagger::new(manifest.clone(), 1).expect("opening the model (run `make setup`)");
    let reference = numpy_scores(model);
    let mut all = Vec::new();
    let mut worst = 0.0f64;
    for (stem, want) in STEMS.iter().zip(&reference) {
        let got = tagger.predict(&[upstream_input(stem).view()]).expect("inference").tags.remove(0);
        assert_eq!((got.len(), want.len()), (50, 50), "{stem}");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let d = (g as f64 - w).abs();
            worst = worst.max(d);
            assert!(d <= 2e-6, "{model} {stem} {}: ONNX {g} vs numpy {w}", manifest.tags[i]);
        }
        all.push(got);
    }
    eprintln!("{model}: max |ONNX Runtime - numpy| over 4 x 50 scores: {worst:e}");
    (manifest, all)
}

#[test]
fn cnn_matches_an_independent_numpy_forward_pass() {
    let (manifest, scores) = check_against_numpy("cnn");
    let jazz = &scores[3];
    let best = jazz.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap();
    assert_eq!(manifest.tags[best], "jazz", "bensound-thejazzpiano: {jazz:?}");
}

#[test]
fn crnn_matches_an_independent_numpy_forward_pass() {
    check_against_numpy("crnn");
}

/// The converter checks the upstream weights' sha256 and refuses a file that differs.
#[test]
fn the_converter_refuses_weights_with_a_wrong_sha256() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = std::env::var_os("MELOTAG_PYTHON").map(PathBuf::from).unwrap_or(root.join(".venv/bin/python"));
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("choi2016");
    let out_dir = dir.path().join("models");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&out_dir).unwrap();
    let name = "music_tagger_cnn_weights_tensorflow.h5";
    let mut weights = std::fs::read(common::shared_dir().join("upstream/choi2016").join(name)).unwrap();
    let mid = weights.len() / 2;
    weights[mid] ^= 0x01; // one bit in the middle of the weights
    std::fs::write(src.join(name), &weights).unwrap();
    let out = Command::new(&python)
        .arg(root.join("tools/convert_choi2016.py"))
        .args(["--model", "cnn", "--src"])
        .arg(&src)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} ({e}): run `make setup`", python.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "the converter accepted corrupted weights: {stderr}");
    assert!(!stderr.contains("Traceback"), "a clear refusal, not a crash: {stderr}");
    let want = format!("{}: sha256 ", src.join(name).display());
    assert!(stderr.contains(&want) && stderr.contains("refusing it"), "{stderr}");
    assert_eq!(std::fs::read_dir(&out_dir).unwrap().count(), 0, "nothing written");
}
