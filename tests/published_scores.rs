//! The converted models, run through ONNX Runtime from Rust, against published numbers.

mod common;

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
            assert!((got - want).abs() <= 0.0015, "{stem} {tag}: got {got:.4}, published {want:.3}");
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

#[test]
fn cnn_hears_jazz_in_the_jazz_piano() {
    let manifest = Arc::new(resolve_model("cnn").expect("cnn manifest"));
    let mut tagger = Tagger::new(manifest.clone(), 1).expect("opening the Conv2D model (run `make setup`)");
    let scores = tagger.predict(&[upstream_input("bensound-thejazzpiano").view()]).expect("inference").tags;
    let best = scores[0].iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i).unwrap();
    assert_eq!(manifest.tags[best], "jazz", "scores: {:?}", scores[0]);
}
