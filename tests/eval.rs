//! `melotag eval` and `melotag models` through the real binary: the four shared mp3s and
//! ffmpeg-made variants in temp folders; every metric in the JSON is recomputed here, by a
//! separate (pairwise) implementation, from the per-track scores the same JSON holds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

const STEMS: [&str; 4] = ["bensound-actionable", "bensound-cute", "bensound-dubstep", "bensound-thejazzpiano"];

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array().expect("array").iter().map(|x| x.as_f64().expect("number")).collect()
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array().expect("array").iter().map(|x| x.as_str().expect("string").to_string()).collect()
}

fn file_name(path: &str) -> String {
    Path::new(path).file_name().unwrap().to_string_lossy().into_owned()
}

/// Mann–Whitney over every (positive, negative) pair, a tie counting one half.
fn pairwise_roc_auc(labels: &[bool], scores: &[f64]) -> f64 {
    let (mut credit, mut pairs) = (0.0, 0.0);
    for (i, &li) in labels.iter().enumerate() {
        for (j, &lj) in labels.iter().enumerate() {
            if li && !lj {
                pairs += 1.0;
                credit += if scores[i] > scores[j] {
                    1.0
                } else if scores[i] == scores[j] {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    credit / pairs
}

/// Average precision as the mean, over positives, of the precision of "score ≥ its score".
fn mean_precision_at_positives(labels: &[bool], scores: &[f64]) -> f64 {
    let positives: Vec<usize> = (0..labels.len()).filter(|&i| labels[i]).collect();
    let sum: f64 = positives
        .iter()
        .map(|&i| {
            let above: Vec<usize> = (0..labels.len()).filter(|&j| scores[j] >= scores[i]).collect();
            above.iter().filter(|&&j| labels[j]).count() as f64 / above.len() as f64
        })
        .sum();
    sum / positives.len() as f64
}

/// An MSD model's raw scores (`raw_tags` order) on canonical `names`: each name's best score
/// among the model tags the taxonomy maps to it.
fn canonical(raw_tags: &[String], raw: &[f64], names: &[String]) -> Vec<f64> {
    names
        .iter()
        .map(|n| {
            raw_tags
                .iter()
                .zip(raw)
                .filter(|(t, _)| melotag::engine::tags::taxonomy::entry("msd", t).is_some_and(|e| e.name == n))
                .map(|(_, &s)| s)
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .collect()
}

/// Checks a report's structure and recomputes every per-tag metric, macro average and skipped
/// tag from its `tracks` labels and per-model `scores`.
fn check_report(report: &serde_json::Value, want_models: &[&str], want_tracks: usize) {
    // The models here share the MSD vocabulary: its canonical names (synonyms merged, e.g.
    // "female vocalist(s)" → Female Vocals), in the taxonomy's order.
    let tags = strings(&report["tags"]);
    let mut msd: Vec<String> = Vec::new();
    for e in melotag::engine::tags::taxonomy::TAXONOMY.iter().filter(|e| e.vocabulary == "msd") {
        if !msd.iter().any(|n| n == e.name) {
            msd.push(e.name.to_string());
        }
    }
    assert_eq!(msd.len(), 49, "50 MSD tags, two of them one name");
    let order = melotag::engine::tags::taxonomy::canonical_names();
    msd.sort_by_key(|n| order.iter().position(|o| o == n));
    assert_eq!(tags, msd);
    assert_eq!(tag_names().len(), 50);
    let tracks = report["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), want_tracks);
    let truth: Vec<BTreeSet<String>> = tracks.iter().map(|t| strings(&t["labels"]).into_iter().collect()).collect();
    for t in &truth {
        for l in t {
            assert!(tags.contains(l), "label {l} is not a tag");
        }
    }
    // Which tags can be evaluated follows from the labels alone.
    let mut want_evaluated = Vec::new();
    let mut want_skipped = Vec::new();
    for tag in &tags {
        let pos = truth.iter().filter(|t| t.contains(tag)).count();
        if pos == 0 || pos == truth.len() {
            want_skipped.push((tag.clone(), pos, truth.len() - pos));
        } else {
            want_evaluated.push(tag.clone());
        }
    }
    let skipped: Vec<(String, usize, usize)> = report["skipped_tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (t["tag"].as_str().unwrap().to_string(), t["positives"].as_u64().unwrap() as usize, t["negatives"].as_u64().unwrap() as usize)
        })
        .collect();
    assert_eq!(skipped, want_skipped);

    let models = report["models"].as_array().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, want_models);
    for m in models {
        let id = m["id"].as_str().unwrap();
        assert_eq!(m["tracks"].as_u64(), Some(want_tracks as u64), "{id}");
        assert!(m["parameters"].as_u64().unwrap() > 100_000, "{id}");
        assert!(m["time_per_clip_ms"].as_f64().unwrap() > 0.0, "{id}");
        let scores: Vec<Vec<f64>> = m["scores"].as_array().unwrap().iter().map(floats).collect();
        assert_eq!(strings(&m["tags"]), tags, "{id}: an MSD model knows every MSD name");
        assert_eq!(m["vocabulary"], "msd", "{id}");
        assert_eq!(scores.len(), want_tracks, "{id}");
        assert!(scores.iter().all(|row| row.len() == 49 && row.iter().all(|s| (0.0..=1.0).contains(s))), "{id}");
        let per_tag = m["per_tag"].as_array().unwrap();
        let names: Vec<String> = per_tag.iter().map(|t| t["tag"].as_str().unwrap().to_string()).collect();
        assert_eq!(names, want_evaluated, "{id}");
        let (mut roc_sum, mut pr_sum) = (0.0, 0.0);
        for t in per_tag {
            let tag = t["tag"].as_str().unwrap();
            let k = tags.iter().position(|x| x == tag).unwrap();
            let labels: Vec<bool> = truth.iter().map(|l| l.contains(tag)).collect();
            let s: Vec<f64> = scores.iter().map(|row| row[k]).collect();
            let pos = labels.iter().filter(|&&l| l).count();
            assert_eq!(t["positives"].as_u64(), Some(pos as u64), "{id} {tag}");
            assert_eq!(t["negatives"].as_u64(), Some((labels.len() - pos) as u64), "{id} {tag}");
            let (roc, pr) = (t["roc_auc"].as_f64().unwrap(), t["pr_auc"].as_f64().unwrap());
            let (want_roc, want_pr) = (pairwise_roc_auc(&labels, &s), mean_precision_at_positives(&labels, &s));
            assert!((roc - want_roc).abs() < 1e-12, "{id} {tag}: ROC-AUC {roc} vs recomputed {want_roc}");
            assert!((pr - want_pr).abs() < 1e-12, "{id} {tag}: PR-AUC {pr} vs recomputed {want_pr}");
            roc_sum += roc;
            pr_sum += pr;
        }
        let n = per_tag.len() as f64;
        assert!((m["macro_roc_auc"].as_f64().unwrap() - roc_sum / n).abs() < 1e-12, "{id}");
        assert!((m["macro_pr_auc"].as_f64().unwrap() - pr_sum / n).abs() < 1e-12, "{id}");
    }
}

fn excluded(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["excluded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (file_name(e["path"].as_str().unwrap()), e["reason"].as_str().unwrap().to_string()))
        .collect()
}

fn labels_by_file(report: &serde_json::Value) -> BTreeMap<String, Vec<String>> {
    report["tracks"].as_array().unwrap().iter().map(|t| (file_name(t["path"].as_str().unwrap()), strings(&t["labels"]))).collect()
}

#[test]
fn eval_with_a_labels_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let music = d.join("music");
    fs::create_dir(&music).unwrap();
    for stem in STEMS {
        fs::copy(upstream_audio(stem, "mp3"), music.join(format!("{stem}.mp3"))).unwrap();
    }
    // A second take of dubstep (mono FLAC at 22.05 kHz), a file the CSV does not list, and a
    // labelled file that cannot be decoded.
    let dubstep = upstream_audio("bensound-dubstep", "mp3");
    let dubstep_flac = music.join("dubstep mono.flac");
    ffmpeg(&["-i", dubstep.to_str().unwrap(), "-ac", "1", "-ar", "22050", dubstep_flac.to_str().unwrap()]);
    ffmpeg(&["-i", upstream_audio("bensound-cute", "mp3").to_str().unwrap(), "-t", "10", music.join("unlabelled.ogg").to_str().unwrap()]);
    fs::write(music.join("broken.mp3"), b"not an mp3 at all".repeat(100)).unwrap();

    // Header row, relative and absolute paths, spellings off the vocabulary's, an unknown tag.
    let csv = d.join("labels.csv");
    fs::write(
        &csv,
        format!(
            "path,tags\n\
             music/bensound-thejazzpiano.mp3,jazz;instrumental;Beautiful\n\
             music/bensound-cute.mp3,Jazz; happy; beautiful\n\
             music/bensound-dubstep.mp3,electronic;dance;beautiful\n\
             \"{}\",Electronic;DANCE;beautiful;dub step\n\
             music/bensound-actionable.mp3,rock;hip hop;beautiful\n\
             music/broken.mp3,rock\n",
            dubstep_flac.display()
        ),
    )
    .unwrap();

    let json = d.join("eval.json");
    let chart = d.join("chart.svg");
    let out = melotag(&[
        "eval".as_ref(),
        music.as_os_str(),
        "--labels".as_ref(),
        csv.as_os_str(),
        "--model".as_ref(),
        "crnn".as_ref(),
        "--model".as_ref(),
        "musicnn".as_ref(),
        "--json".as_ref(),
        json.as_os_str(),
        "--chart".as_ref(),
        chart.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // broken.mp3 failed: exit status 1, the rest evaluated.
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("broken.mp3"), "{stderr}");

    let report = read_json(&json);
    assert_eq!(report["label_source"], "csv");
    assert_eq!(report["mode"], "center");
    check_report(&report, &["choi2016_crnn", "musicnn_msd"], 5);
    let labels = labels_by_file(&report);
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // Labels are the taxonomy's canonical names, in its order.
    assert_eq!(labels["bensound-thejazzpiano.mp3"], l(&["Jazz", "Beautiful", "Instrumental"]));
    assert_eq!(labels["bensound-cute.mp3"], l(&["Jazz", "Beautiful", "Happy"]));
    assert_eq!(labels["bensound-dubstep.mp3"], l(&["Electronic", "Dance", "Beautiful"]));
    assert_eq!(labels["dubstep mono.flac"], l(&["Electronic", "Dance", "Beautiful"]));
    assert_eq!(labels["bensound-actionable.mp3"], l(&["Rock", "Beautiful", "Hip-Hop"]));
    let ex = excluded(&report);
    assert_eq!(ex.keys().collect::<Vec<_>>(), ["broken.mp3", "unlabelled.ogg"]);
    assert_eq!(ex["unlabelled.ogg"], "not in the labels CSV");
    assert!(ex["broken.mp3"].contains("choi2016_crnn") && ex["broken.mp3"].contains("musicnn_msd"), "{ex:?}");
    assert_eq!(report["unknown_labels"], serde_json::json!({"dub step": 1}));
    // Evaluated: Rock, Electronic, Dance, Jazz, Instrumental, Hip-Hop, Happy; "Beautiful" is on
    // every track (no negatives), the other 41 of the 49 names on none.
    let m0 = &report["models"][0];
    assert_eq!(m0["per_tag"].as_array().unwrap().len(), 7);
    let skipped = report["skipped_tags"].as_array().unwrap();
    assert_eq!(skipped.len(), 42);
    let beautiful = skipped.iter().find(|t| t["tag"] == "Beautiful").unwrap();
    assert_eq!((beautiful["positives"].as_u64(), beautiful["negatives"].as_u64()), (Some(5), Some(0)));

    // The scores are those `melotag tag` gives.
    let tag_json = d.join("tag.json");
    let files: Vec<PathBuf> = labels.keys().map(|f| music.join(f)).collect();
    let mut args: Vec<&std::ffi::OsStr> =
        vec!["--model".as_ref(), "crnn".as_ref(), "--no-cache".as_ref(), "--json".as_ref(), tag_json.as_os_str()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let out = melotag_tag(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tagged = read_json(&tag_json);
    let tag_scores: BTreeMap<String, Vec<f64>> =
        tagged["tracks"].as_array().unwrap().iter().map(|t| (file_name(t["path"].as_str().unwrap()), floats(&t["scores"]))).collect();
    let raw_tags = strings(&tagged["tags"]);
    let names = strings(&report["models"][0]["tags"]);
    for (i, t) in report["tracks"].as_array().unwrap().iter().enumerate() {
        let name = file_name(t["path"].as_str().unwrap());
        let ours = floats(&report["models"][0]["scores"][i]);
        let theirs = canonical(&raw_tags, &tag_scores[&name], &names);
        let diff = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-6, "{name}: eval and tag scores differ by {diff}");
    }

    // The table: one line per model, the per-tag rows, the skipped tags.
    for needle in
        ["choi2016_crnn", "musicnn_msd", "ROC-AUC", "Hip-Hop", "skipped, no positives (41)", "skipped, no negatives (1): Beautiful"]
    {
        assert!(stdout.contains(needle), "{needle} missing from:\n{stdout}");
    }
    // The chart: one labelled point per model.
    let svg = fs::read_to_string(&chart).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    assert_eq!(svg.matches("<circle").count(), 2);
    assert!(svg.contains("Choi 2016 CRNN") && svg.contains("musicnn MSD"));
}

#[test]
fn eval_from_genre_and_mood_tags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = |stem: &str| upstream_audio(stem, "mp3").to_str().unwrap().to_string();
    let out = |name: &str| d.join(name).to_str().unwrap().to_string();
    // ID3v2 TCON written by ffmpeg; multi-value and loosely spelled values.
    ffmpeg(&["-i", &src("bensound-cute"), "-c", "copy", "-metadata", "genre=Jazz", &out("cute.mp3")]);
    ffmpeg(&["-i", &src("bensound-thejazzpiano"), "-c", "copy", "-metadata", "genre=jazz", &out("piano.mp3")]);
    ffmpeg(&["-i", &src("bensound-dubstep"), "-c", "copy", "-metadata", "genre=Electronic; Dance", &out("dubstep.mp3")]);
    ffmpeg(&["-i", &src("bensound-actionable"), "-c", "copy", "-metadata", "genre=hip hop", &out("actionable.mp3")]);
    // Vorbis comments GENRE and MOOD in a FLAC; a genre outside the vocabulary; no genre at all.
    ffmpeg(&["-i", &src("bensound-actionable"), "-metadata", "genre=Rock", "-metadata", "mood=Happy", &out("actionable.flac")]);
    ffmpeg(&["-i", &src("bensound-cute"), "-c", "copy", "-metadata", "genre=Polka", &out("polka.mp3")]);
    ffmpeg(&["-i", &src("bensound-dubstep"), "-c", "copy", &out("untagged.mp3")]);

    let json = d.join("eval.json");
    let result = melotag(&[
        "eval".as_ref(),
        d.as_os_str(),
        "--from-tags".as_ref(),
        "--model".as_ref(),
        "crnn".as_ref(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "{stderr}");
    let report = read_json(&json);
    assert_eq!(report["label_source"], "tags");
    assert!(report["labels_csv"].is_null());
    check_report(&report, &["choi2016_crnn"], 6);
    let labels = labels_by_file(&report);
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(labels["cute.mp3"], l(&["Jazz"]));
    assert_eq!(labels["piano.mp3"], l(&["Jazz"]));
    assert_eq!(labels["dubstep.mp3"], l(&["Electronic", "Dance"]));
    assert_eq!(labels["actionable.mp3"], l(&["Hip-Hop"]));
    assert_eq!(labels["actionable.flac"], l(&["Rock", "Happy"]));
    // A genre outside the vocabulary still makes the track a negative for every tag.
    assert_eq!(labels["polka.mp3"], Vec::<String>::new());
    assert_eq!(report["unknown_labels"], serde_json::json!({"Polka": 1}));
    let ex = excluded(&report);
    assert_eq!(ex.keys().collect::<Vec<_>>(), ["untagged.mp3"]);
    assert_eq!(ex["untagged.mp3"], "no genre or mood tag");
    let evaluated: Vec<&str> = report["models"][0]["per_tag"].as_array().unwrap().iter().map(|t| t["tag"].as_str().unwrap()).collect();
    assert_eq!(evaluated, ["Rock", "Electronic", "Dance", "Jazz", "Hip-Hop", "Happy"]);
}

#[test]
fn eval_needs_labels_and_rejects_unknown_models() {
    let mp3 = upstream_audio("bensound-cute", "mp3");
    let out = melotag(&["eval".as_ref(), mp3.as_os_str()]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = melotag(&["eval".as_ref(), mp3.as_os_str(), "--from-tags".as_ref(), "--model".as_ref(), "nope".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown model 'nope'"));
}

#[test]
fn models_lists_inputs_and_time_per_clip() {
    let out = melotag_str(&["models"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for (id, vocabulary, input) in [
        ("choi2016_crnn", "msd", "96 mels x 1366 frames @ 12 kHz"),
        ("choi2016_cnn", "msd", "96 mels x 1366 frames @ 12 kHz"),
        ("musicnn_msd", "msd", "96 mels x 187-frame patches @ 16 kHz"),
        ("musicnn_mtt", "mtt", "96 mels x 187-frame patches @ 16 kHz"),
        ("musicnn_msd_mtt", "msd+mtt", "96 mels x 187-frame patches @ 16 kHz"),
    ] {
        let line = stdout.lines().find(|l| l.starts_with(&format!("{id} "))).unwrap_or_else(|| panic!("{id} missing:\n{stdout}"));
        assert!(line.contains(input), "{line}");
        // The vocabulary column.
        assert!(line.contains(&format!(" {vocabulary} ")), "{line}");
        assert!(line.contains(" ready "), "{line}");
        // The last column: where the manifest was found (the source tree's models/ here).
        assert!(line.ends_with(&format!("  {}/models", env!("CARGO_MANIFEST_DIR"))), "{line}");
        // The time column: a positive number of milliseconds.
        let ms: f64 =
            line[..line.find(" ready").unwrap()].split_whitespace().last().unwrap().parse().unwrap_or_else(|_| panic!("no time in {line}"));
        assert!(ms > 0.0 && ms < 60_000.0, "{line}");
    }

    // A manifest whose ONNX file is missing, in a models folder of its own; --no-timing.
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    fs::copy(root.join("models/choi2016_crnn.toml"), dir.path().join("choi2016_crnn.toml")).unwrap();
    let out = common::command(dir.path()).args(["models", "--no-timing"]).env("MELOTAG_MODELS_DIR", dir.path()).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    let line = stdout.lines().find(|l| l.starts_with("choi2016_crnn")).unwrap();
    // The binary inside its source tree: the hint names the tree's `make setup`.
    assert!(line.contains(&format!("not converted (run `make setup` in {})", root.display())), "{line}");
}

#[test]
fn eval_in_full_mode_scores_whole_tracks_like_tag_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let music = d.join("music");
    fs::create_dir(&music).unwrap();
    // 70 s: three CRNN windows and 23 musicnn patches, so whole-track scores differ from the centre's.
    let cute = upstream_audio("bensound-cute", "mp3");
    let c = cute.to_str().unwrap();
    let long = music.join("long.wav");
    ffmpeg(&["-i", c, "-i", c, "-i", c, "-filter_complex", "[0:a][1:a][2:a]concat=n=3:v=0:a=1", "-t", "70", long.to_str().unwrap()]);
    for stem in ["bensound-actionable", "bensound-dubstep", "bensound-thejazzpiano"] {
        fs::copy(upstream_audio(stem, "mp3"), music.join(format!("{stem}.mp3"))).unwrap();
    }
    let csv = d.join("labels.csv");
    fs::write(
        &csv,
        "music/long.wav,jazz;happy\nmusic/bensound-thejazzpiano.mp3,jazz\nmusic/bensound-dubstep.mp3,electronic\n\
         music/bensound-actionable.mp3,rock;happy\n",
    )
    .unwrap();
    let json = d.join("eval.json");
    let out = melotag(&[
        "eval".as_ref(),
        music.as_os_str(),
        "--labels".as_ref(),
        csv.as_os_str(),
        "--mode".as_ref(),
        "full".as_ref(),
        "--model".as_ref(),
        "crnn".as_ref(),
        "--model".as_ref(),
        "musicnn".as_ref(),
        "--json".as_ref(),
        json.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = read_json(&json);
    assert_eq!(report["mode"], "full");
    check_report(&report, &["choi2016_crnn", "musicnn_msd"], 4);

    // Each model's scores are `melotag tag --mode full`'s, and (on the long track) not the centre's.
    for (k, model) in ["crnn", "musicnn"].iter().enumerate() {
        let scores_of = |mode: &str| {
            let tag_json = d.join(format!("{model}-{mode}.json"));
            let out = melotag_tag(&[
                music.as_os_str(),
                "--model".as_ref(),
                model.as_ref(),
                "--mode".as_ref(),
                mode.as_ref(),
                "--no-cache".as_ref(),
                "--json".as_ref(),
                tag_json.as_os_str(),
            ]);
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            let tagged = read_json(&tag_json);
            tagged["tracks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (file_name(t["path"].as_str().unwrap()), floats(&t["scores"])))
                .collect::<BTreeMap<String, Vec<f64>>>()
        };
        let (full, center) = (scores_of("full"), scores_of("center"));
        assert_eq!(full.len(), 4);
        for (i, t) in report["tracks"].as_array().unwrap().iter().enumerate() {
            let name = file_name(t["path"].as_str().unwrap());
            let ours = floats(&report["models"][k]["scores"][i]);
            let names = strings(&report["models"][k]["tags"]);
            let diff = |other: &[f64]| {
                let other = canonical(&tag_names(), other, &names);
                ours.iter().zip(&other).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
            };
            assert!(diff(&full[&name]) < 1e-6, "{model} {name}: eval and `tag --mode full` differ by {}", diff(&full[&name]));
            if name == "long.wav" {
                assert!(diff(&center[&name]) > 1e-3, "{model}: the long track's whole-track scores are not its centre's");
            }
        }
    }
}
