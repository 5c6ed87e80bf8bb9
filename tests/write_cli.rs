//! `melotag write` as a front end of the shared write service: the preview as JSON, the user's
//! config file (rename map, never-write list) used exactly as the app uses it, and album
//! consensus.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use common::*;

fn run(data: &Path, args: &[&str], paths: &[&Path]) -> std::process::Output {
    let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    all.extend(paths.iter().map(|p| p.as_os_str()));
    melotag_data(data, &all)
}

/// An album of three different songs (album tag "Blend"), 20 s each, as FLAC.
fn album(dir: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(dir).unwrap();
    ["bensound-thejazzpiano", "bensound-dubstep", "bensound-actionable"]
        .iter()
        .enumerate()
        .map(|(k, stem)| {
            let out = dir.join(format!("{k}.flac"));
            let src = upstream_audio(stem, "mp3");
            ffmpeg(&[
                "-i",
                src.to_str().unwrap(),
                "-t",
                "20",
                "-metadata",
                "album=Blend",
                "-metadata",
                "album_artist=Various",
                out.to_str().unwrap(),
            ]);
            out
        })
        .collect()
}

fn preview(data: &Path, extra: &[&str], paths: &[&Path]) -> serde_json::Value {
    let mut args = vec!["write", "--dry-run", "--json", "-", "--model", "musicnn"];
    args.extend_from_slice(extra);
    let out = run(data, &args, paths);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the preview is one JSON document")
}

fn new_genres(report: &serde_json::Value) -> Vec<Vec<String>> {
    report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            f["changes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["role"] == "genre")
                .map(|c| c["new"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn an_album_gets_one_genre_set_with_per_album() {
    let dir = tempfile::tempdir().unwrap();
    let (data, music) = (dir.path().join("data"), dir.path().join("album"));
    let files = album(&music);
    let before: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    // Without consensus, jazz piano, dubstep and rock get different genres.
    let each = new_genres(&preview(&data, &[], &refs));
    assert!(each.iter().any(|g| g != &each[0]), "the songs differ on their own: {each:?}");
    // With it, the album's mean scores choose one set for all three.
    let together = new_genres(&preview(&data, &["--per-album"], &refs));
    assert!(!together[0].is_empty());
    assert!(together.iter().all(|g| g == &together[0]), "{together:?}");
    // And on disk after a real write.
    let out = run(&data, &["write", "--yes", "--model", "musicnn", "--per-album"], &refs);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for f in &files {
        let layout = melotag::engine::tags::raw::read_layout(&mut fs::File::open(f).unwrap()).unwrap();
        let genres: Vec<String> = layout
            .items
            .iter()
            .filter(|i| i.tag == "Vorbis" && i.key == "GENRE")
            .map(|i| String::from_utf8_lossy(&i.bytes).split_once('=').unwrap().1.to_string())
            .collect();
        assert_eq!(genres, together[0], "{}", f.display());
    }
    assert!(files.iter().zip(&before).all(|(f, b)| &fs::read(f).unwrap() != b));
}

#[test]
fn the_config_file_renames_and_never_writes_and_flags_override_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let wav = dir.path().join("rock.flac");
    ffmpeg(&["-i", upstream_audio("bensound-actionable", "mp3").to_str().unwrap(), "-t", "20", wav.to_str().unwrap()]);
    let plain = new_genres(&preview(&data, &[], &[&wav]));
    assert_eq!(plain[0][0], "Rock", "{plain:?}");
    // The user's config (where the app's settings window saves it): Rock spelt "Rock & Roll",
    // the second genre never written, replace mode.
    let never = plain[0][1].clone();
    let config = data.join("config/melotag/config.toml");
    fs::create_dir_all(config.parent().unwrap()).unwrap();
    fs::write(
        &config,
        format!("[write]\nmerge = \"replace\"\nnever_write = [\"{never}\"]\n\n[write.rename]\n\"Rock\" = \"Rock & Roll\"\n"),
    )
    .unwrap();
    let configured = new_genres(&preview(&data, &[], &[&wav]));
    assert_eq!(configured[0][0], "Rock & Roll");
    assert!(!configured[0].contains(&never), "{configured:?}");
    // A flag wins over the file for this run; `--config FILE` reads another file.
    let two = new_genres(&preview(&data, &["--max-genres", "1"], &[&wav]));
    assert_eq!(two[0], ["Rock & Roll"]);
    let other = dir.path().join("other.toml");
    fs::write(&other, "[write]\nmax_genres = 1\n").unwrap();
    let from_other = new_genres(&preview(&data, &["--config", other.to_str().unwrap()], &[&wav]));
    assert_eq!(from_other[0], ["Rock"]);
    // A typo in the file is an error naming it, before anything is analysed.
    fs::write(&config, "[write]\nmax_genre = 1\n").unwrap();
    let out = run(&data, &["write", "--dry-run", "--model", "musicnn"], &[&wav]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("config.toml") && stderr.contains("max_genre"), "{stderr}");
}

#[test]
fn the_json_preview_lists_changes_kept_fields_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tagged = dir.path().join("tagged.flac");
    ffmpeg(&[
        "-i",
        upstream_audio("bensound-cute", "mp3").to_str().unwrap(),
        "-t",
        "15",
        "-metadata",
        "genre=Romantic Classical",
        tagged.to_str().unwrap(),
    ]);
    let garbage = dir.path().join("garbage.mp3");
    fs::write(&garbage, b"this is not audio at all, just text").unwrap();
    let out = run(&data, &["write", "--dry-run", "--json", "-", "--model", "musicnn"], &[&tagged, &garbage]);
    assert_eq!(out.status.code(), Some(1), "a file fails: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1, "one line for it");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the preview is one JSON document");
    assert_eq!(report["model"], "musicnn_msd");
    assert_eq!(report["mode"], "center");
    let files = report["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    let t = &files[0];
    assert!(t["path"].as_str().unwrap().ends_with("tagged.flac"));
    assert!(t["error"].is_null());
    // Fill (the default) keeps the user's genre and says so; the empty mood is filled.
    let kept = t["kept"].as_array().unwrap();
    assert!(kept.iter().any(|k| k["role"] == "genre" && k["why"] == "has_value" && k["values"][0] == "Romantic Classical"), "{t}");
    assert!(!t["changes"].as_array().unwrap().iter().any(|c| c["role"] == "genre"), "{t}");
    for c in t["changes"].as_array().unwrap() {
        assert!(c["field"].is_string() && c["old"].is_array() && c["new"].is_array(), "{c}");
        assert!(["genre", "mood", "scores"].contains(&c["role"].as_str().unwrap()));
    }
    let g = &files[1];
    assert!(g["error"].as_str().is_some_and(|e| !e.is_empty()), "{g}");
    assert!(g["changes"].as_array().unwrap().is_empty());
}

#[test]
fn a_missing_config_file_is_named_by_write_and_the_app() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no such.toml");
    let flac = dir.path().join("a.flac");
    ffmpeg(&["-f", "lavfi", "-i", "sine=frequency=440:duration=2", flac.to_str().unwrap()]);
    for args in [
        vec!["--config", missing.to_str().unwrap(), "write", "--dry-run", flac.to_str().unwrap()],
        vec!["--config", missing.to_str().unwrap(), "gui", dir.path().to_str().unwrap()],
        vec!["gui", "--config", missing.to_str().unwrap()],
    ] {
        let out = melotag_str(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("config file") && stderr.contains("no such.toml") && stderr.contains("not found"), "{args:?}: {stderr}");
    }
}
