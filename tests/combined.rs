//! A tagger made of two models (musicnn MSD + musicnn MTT, declared in
//! `models/musicnn_msd_mtt.toml`): its result equals its parts run separately, its front end
//! runs once for both, and its two vocabularies give one selection through the taxonomy.

mod common;

use std::sync::Arc;

use common::*;
use melotag::engine::analysis::{Mode, StageTimes, analyze_file};
use melotag::engine::features::MelFrontend;
use melotag::engine::model::{Manifest, Tagger, resolve_model};
use melotag::engine::tags::WriteSettings;

fn analyse(m: &Arc<Manifest>, path: &std::path::Path, mode: Mode) -> (melotag::engine::analysis::Analysis, StageTimes) {
    let mut tagger = Tagger::new(m.clone(), 1).expect("a session (make setup)");
    let frontend = MelFrontend::new(&m.frontend);
    let mut times = StageTimes::default();
    let a = analyze_file(&mut tagger, &frontend, path, mode, &mut times).unwrap();
    (a, times)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_combination_equals_its_parts_and_computes_the_front_end_once() {
    let combined = Arc::new(resolve_model("msd+mtt").unwrap());
    let msd = Arc::new(resolve_model("musicnn_msd").unwrap());
    let mtt = Arc::new(resolve_model("musicnn_mtt").unwrap());
    assert_eq!(combined.parts.len(), 2);
    assert_eq!(combined.tags.len(), 100);
    assert_eq!(combined.tags[0], format!("msd:{}", msd.tags[0]));
    assert_eq!(combined.tags[50], format!("mtt:{}", mtt.tags[0]));
    assert_eq!(combined.embedding_size, Some(400));
    assert!(combined.entries().iter().all(Option::is_some), "every tag of both vocabularies is in the taxonomy");
    for (stem, mode) in [("bensound-thejazzpiano", Mode::Center), ("bensound-dubstep", Mode::Full)] {
        let file = upstream_audio(stem, "mp3");
        let (c, ct) = analyse(&combined, &file, mode);
        let (a, at) = analyse(&msd, &file, mode);
        let (b, bt) = analyse(&mtt, &file, mode);
        let joined: Vec<f32> = a.scores.iter().chain(&b.scores).copied().collect();
        assert_eq!(bits(&c.scores), bits(&joined), "{stem}: scores");
        if mode == Mode::Full {
            let (cw, aw, bw) = (c.windows.unwrap(), a.windows.unwrap(), b.windows.unwrap());
            assert_eq!(cw.len(), aw.len());
            for ((x, y), z) in cw.iter().zip(&aw).zip(&bw) {
                assert_eq!(bits(x), bits(&[y.as_slice(), z.as_slice()].concat()), "{stem}: a window");
            }
        }
        let emb: Vec<f32> = a.embedding.unwrap().iter().chain(&b.embedding.unwrap()).copied().collect();
        assert_eq!(bits(&c.embedding.unwrap()), bits(&emb), "{stem}: embedding");
        // One decode and one log-mel for both models: as many frames as one model alone.
        assert!(ct.mel_frames > 0);
        assert_eq!(ct.mel_frames, at.mel_frames, "{stem}: the combination computes the front end once");
        assert_eq!(at.mel_frames, bt.mel_frames);
    }
}

#[test]
fn two_vocabularies_give_one_written_selection() {
    let combined = Arc::new(resolve_model("msd+mtt").unwrap());
    let file = upstream_audio("bensound-thejazzpiano", "mp3");
    let (a, _) = analyse(&combined, &file, Mode::Center);
    let settings = WriteSettings::default();
    let sel = settings.select(&combined.entries(), &a.scores);
    let genres: Vec<&str> = sel.genres.iter().map(|s| s.name).collect();
    assert_eq!(genres.first(), Some(&"Jazz"), "{genres:?}");
    // Each canonical genre once, even when both vocabularies have it.
    let mut unique = genres.clone();
    unique.dedup();
    assert_eq!(unique.len(), genres.len());
    // With every category on, the piano (MTT only) is named, in the grouping.
    let all = WriteSettings {
        policy: melotag::engine::tags::Policy { categories: melotag::engine::tags::Category::ALL.to_vec(), ..Default::default() },
        ..WriteSettings::default()
    };
    let sel = all.select(&combined.entries(), &a.scores);
    assert!(sel.grouping.iter().any(|s| s.name == "Piano"), "{:?}", sel.grouping);
    assert!(!sel.genres.iter().any(|s| s.name == "Instrumental" || s.name == "Piano"));
}
