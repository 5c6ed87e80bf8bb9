//! The desktop app driven through egui_kittest (no window, no GPU): open a folder, click a
//! track, batch-tag, cancel, bad files, no audio device, keyboard, filter, cache.

mod common;
#[path = "common/gui.rs"]
mod gui_common;

use std::path::Path;
use std::time::Duration;

use common::{test_signal, write_wav};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use gui_common::{harness, options, play_for, scanned, step_until};
use melotag::app::{AppOptions, MelotagApp, Status};

fn write_tracks(dir: &Path, names: &[&str], seconds: f64) {
    for (k, name) in names.iter().enumerate() {
        // Different rates so the files differ.
        let rate = 16_000 + 2_000 * k as u32;
        write_wav(&dir.join(name), rate, 1, &test_signal(rate, 1, seconds));
    }
}

#[test]
fn opening_a_folder_and_clicking_a_track_shows_its_tag_scores() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav", "b.wav"], 4.0);
    std::fs::write(music.path().join("notes.txt"), "not audio").unwrap();
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 2));
    assert!(h.query_by_label("2 tracks").is_some());

    h.get_by_label("b.wav").click();
    step_until(&mut h, "b.wav's analysis", |a| a.track_by_path(&music.path().join("b.wav")).is_some_and(|t| t.status == Status::Done));
    step_until(&mut h, "the spectrogram", |a| a.track_view.as_ref().is_some_and(|tv| tv.spec.done));
    h.step();
    let app = h.state();
    let track = app.track_by_path(&music.path().join("b.wav")).unwrap();
    let manifest = app.manifest().unwrap();
    let scores = &track.analysis.as_ref().unwrap().scores;
    assert_eq!(scores.len(), 50);
    // The tag view names the strongest canonical tag with its score, as does the table.
    let canonical = melotag::engine::tags::policy::canonical_scores(&manifest.entries(), scores);
    let best = canonical.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap();
    let label = format!("{} {:.3}", best.name, best.score);
    assert!(h.query_by_label(&label).is_some(), "tag label {label:?} is shown");
    assert!(h.query_by_label("Show all tags").is_some());
    // The table's status and top-tag columns are filled in too.
    assert!(h.query_all_by_label("done").count() >= 1);
    assert!(h.query_all_by_label_contains(best.name).count() >= 2, "table and panel");

    // Whole-track mode: the selected track is analysed again, with a taggram.
    let model_id = manifest.id.clone();
    h.state_mut().set_model_mode(model_id, melotag::engine::analysis::Mode::Full);
    step_until(&mut h, "the full-mode analysis", |a| {
        a.track_by_path(&music.path().join("b.wav"))
            .is_some_and(|t| t.status == Status::Done && t.analysis.as_ref().is_some_and(|x| x.windows.is_some()))
    });
    h.step();
    assert!(h.query_by_label("Show all tags").is_some());
    assert!(h.query_all_by_label_contains(" at 0 s").count() == 0, "the taggram's hover text only shows on hover");
    let spec = &h.state().track_view.as_ref().unwrap().spec;
    assert!(spec.columns > 0 && spec.received == spec.columns, "every column arrived: {}/{}", spec.received, spec.columns);
    assert!((spec.duration_s - 4.0).abs() < 0.01, "duration {}", spec.duration_s);
}

#[test]
fn a_batch_runs_to_completion_and_reopening_uses_the_cache() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let names = ["1.wav", "2.wav", "3.wav", "4.wav"];
    write_tracks(music.path(), &names, 3.0);
    let mut h = harness(MelotagApp::new(None, AppOptions { frame_stats: true, ..options(music.path(), data.path()) }));
    step_until(&mut h, "the scan", |a| scanned(a, 4));
    h.get_by_label("Tag library").click();
    step_until(&mut h, "the batch", |a| a.batch().is_some_and(|b| b.finished.is_some()));
    h.step();
    let app = h.state();
    assert!(app.tracks.iter().all(|t| t.status == Status::Done && !t.top_tags.is_empty()));
    assert_eq!(app.batch().unwrap().done, 4);
    assert!(h.query_by_label("Tagged 4 tracks (0 failed)").is_some());
    assert!(h.query_by_label("4 / 4").is_some(), "progress bar text");
    let stats = app.frame_stats().unwrap();
    eprintln!("frame time during the batch test: p50 {:.2} ms, p99 {:.2} ms over {} frames", stats.p50_ms, stats.p99_ms, stats.frames);
    let before: Vec<Vec<f32>> = app.tracks.iter().map(|t| t.analysis.as_ref().unwrap().scores.clone()).collect();
    drop(h);

    // Reopening shows the results at once, without analysing anything.
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the cached results", |a| scanned(a, 4) && a.tracks.iter().all(|t| t.status == Status::Done));
    assert!(h.state().jobs.is_empty(), "nothing was analysed again");
    let after: Vec<Vec<f32>> = h.state().tracks.iter().map(|t| t.analysis.as_ref().unwrap().scores.clone()).collect();
    assert_eq!(before, after);
    drop(h);

    // A changed file is analysed again.
    write_wav(&music.path().join("2.wav"), 22_050, 1, &test_signal(22_050, 1, 2.0));
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 4));
    let app = h.state();
    assert_eq!(app.track_by_path(&music.path().join("2.wav")).unwrap().status, Status::NotAnalysed);
    assert_eq!(app.track_by_path(&music.path().join("1.wav")).unwrap().status, Status::Done);
}

#[test]
fn cancelling_a_batch_stops_it_and_leaves_the_rest_untagged() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("track{i:02}.wav")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    write_tracks(music.path(), &names, 20.0);
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 24));
    h.get_by_label("Tag library").click();
    step_until(&mut h, "the first result", |a| a.batch().is_some_and(|b| b.done >= 1));
    h.get_by_label("Pause").click();
    h.step();
    h.step();
    assert!(h.state().batch().unwrap().is_paused());
    assert!(h.query_by_label("Resume").is_some());
    h.get_by_label("Cancel").click();
    step_until(&mut h, "the cancellation", |a| a.batch().is_some_and(|b| b.finished.is_some()));
    h.step();
    let app = h.state();
    let batch = app.batch().unwrap();
    assert!(batch.done < 24, "cancelled early: {} done", batch.done);
    assert!(batch.finished.as_deref().unwrap().starts_with("Cancelled after"));
    let done = app.tracks.iter().filter(|t| t.status == Status::Done).count();
    assert_eq!(done, batch.done);
    assert!(app.tracks.iter().all(|t| matches!(t.status, Status::Done | Status::NotAnalysed)), "nothing left queued");
}

#[test]
fn bad_files_show_their_error_status() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["good.wav"], 3.0);
    std::fs::write(music.path().join("empty.mp3"), b"").unwrap();
    std::fs::write(music.path().join("text.ogg"), "this is not audio\n".repeat(100)).unwrap();
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 3));
    h.get_by_label("Tag library").click();
    step_until(&mut h, "the batch", |a| a.batch().is_some_and(|b| b.finished.is_some()));
    h.step();
    let app = h.state();
    for bad in ["empty.mp3", "text.ogg"] {
        let t = app.track_by_path(&music.path().join(bad)).unwrap();
        assert!(matches!(&t.status, Status::Error(e) if !e.is_empty()), "{bad}: {:?}", t.status);
    }
    assert_eq!(app.track_by_path(&music.path().join("good.wav")).unwrap().status, Status::Done);
    assert!(h.query_by_label("error: file is empty").is_some(), "the table shows the reason");
    assert!(h.query_by_label("Tagged 3 tracks (2 failed)").is_some());

    // Selecting a bad file shows the failure instead of a spectrogram.
    h.get_by_label("text.ogg").click();
    step_until(&mut h, "the spectrogram error", |a| a.track_view.as_ref().is_some_and(|tv| tv.spec.error.is_some()));
    h.step();
    assert!(h.query_by_label_contains("Analysis failed:").is_some());
}

#[test]
fn without_an_audio_device_the_app_runs_and_playback_is_disabled() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav"], 3.0);
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 1));
    h.get_by_label("a.wav").click();
    step_until(&mut h, "the spectrogram", |a| a.track_view.as_ref().is_some_and(|tv| tv.spec.done));
    h.step();
    let play = h.get_by_label("Play");
    assert!(play.accesskit_node().is_disabled(), "Play is disabled without a device");
    play.click();
    h.step();
    assert!(!h.state().playback.is_playing());
    assert_eq!(h.state().playback.unavailable_reason(), Some("no audio device in tests"));
    assert!(h.query_by_label("no audio output").is_some());
}

#[test]
fn arrow_keys_filter_and_sort() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["alpha.wav", "beta.wav", "gamma.wav"], 1.0);
    let mut opts = options(music.path(), data.path());
    opts.cache_path = None;
    let mut h = harness(MelotagApp::new(None, opts));
    step_until(&mut h, "the scan", |a| scanned(a, 3));
    let title = |a: &MelotagApp| a.selected.map(|i| a.tracks[i].title.clone());
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(title(h.state()).as_deref(), Some("alpha.wav"));
    h.key_press(egui::Key::ArrowDown);
    h.step();
    h.key_press(egui::Key::ArrowDown);
    h.step();
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(title(h.state()).as_deref(), Some("gamma.wav"), "stops at the last row");
    h.key_press(egui::Key::ArrowUp);
    h.step();
    assert_eq!(title(h.state()).as_deref(), Some("beta.wav"));

    // Clicking the header of the sort column reverses the order.
    h.get_by_label_contains("Title").click();
    h.step();
    h.step();
    let first = |a: &MelotagApp| a.tracks[a.view[0]].title.clone();
    assert_eq!(first(h.state()), "gamma.wav");

    type_filter(&mut h, "BET");
    let titles: Vec<String> = h.state().view.iter().map(|&i| h.state().tracks[i].title.clone()).collect();
    assert_eq!(titles, ["beta.wav"]);
    assert!(h.query_by_label("1 of 3 tracks").is_some());
}

/// Replaces the filter box's text by typing `text` into it (select all, then type).
fn type_filter(h: &mut Harness<'static, MelotagApp>, text: &str) {
    let filter = h.get_by_role(egui::accesskit::Role::TextInput);
    filter.click();
    h.step();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.step();
    if text.is_empty() {
        h.key_press(egui::Key::Backspace);
    } else {
        h.get_by_role(egui::accesskit::Role::TextInput).type_text(text);
    }
    h.step();
    h.step();
    assert_eq!(h.state().filter, text, "the box holds what was typed");
}

/// The file names of the listed rows, in order.
fn listed(app: &MelotagApp) -> Vec<String> {
    app.view.iter().map(|&i| app.tracks[i].path.file_name().unwrap().to_string_lossy().into_owned()).collect()
}

#[test]
fn the_filter_box_matches_path_title_artist_and_tag_names() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let m = music.path();
    std::fs::create_dir(m.join("Live Sessions")).unwrap();
    write_tracks(m, &["alpha.wav"], 2.0);
    write_tracks(&m.join("Live Sessions"), &["gig.wav"], 2.0);
    // Title and artist from the tags (not in the path).
    common::flac_excerpt(m, "x1.flac", "bensound-thejazzpiano", 4, None);
    common::ffmpeg(&[
        "-i",
        m.join("x1.flac").to_str().unwrap(),
        "-metadata",
        "title=Moonlight Drive",
        "-metadata",
        "artist=Quartetto Zeta",
        m.join("x2.flac").to_str().unwrap(),
    ]);
    std::fs::remove_file(m.join("x1.flac")).unwrap();
    let mut h = harness(MelotagApp::new(None, options(m, data.path())));
    step_until(&mut h, "the scan and the tags", |a| scanned(a, 3) && a.tracks.iter().any(|t| t.artist == "Quartetto Zeta"));
    for (needle, want) in [
        ("live sess", vec!["gig.wav"]), // a folder in the path
        ("ALPHA", vec!["alpha.wav"]),   // the file name (title of an untagged file)
        ("moonlight", vec!["x2.flac"]), // the title tag
        ("zeta", vec!["x2.flac"]),      // the artist tag
        (".wav", vec!["alpha.wav", "gig.wav"]),
        ("nothing like it", vec![]),
        ("", vec!["alpha.wav", "gig.wav", "x2.flac"]),
    ] {
        type_filter(&mut h, needle);
        let mut got = listed(h.state());
        got.sort();
        assert_eq!(got, want, "filter {needle:?}");
    }
    // Tag names: analyse everything, then filter by one track's best tag.
    h.get_by_label("Tag library").click();
    step_until(&mut h, "the batch", |a| a.batch().is_some_and(|b| b.finished.is_some()));
    h.step();
    let app = h.state();
    let tag = app.tracks.iter().find(|t| t.title == "Moonlight Drive").unwrap().top_tags[0].clone();
    let mut want: Vec<String> = app
        .tracks
        .iter()
        .filter(|t| {
            t.top_tags.iter().any(|x| x.eq_ignore_ascii_case(&tag)) || t.path.to_string_lossy().to_lowercase().contains(&tag.to_lowercase())
        })
        .map(|t| t.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    want.sort();
    assert!(want.contains(&"x2.flac".to_string()));
    type_filter(&mut h, &tag.to_uppercase());
    let mut got = listed(h.state());
    got.sort();
    assert_eq!(got, want, "filter by the tag {tag:?}");
}

#[test]
fn settings_survive_a_restart() {
    use eframe::Storage;
    #[derive(Default)]
    struct Mem(std::collections::HashMap<String, String>);
    impl Storage for Mem {
        fn get_string(&self, key: &str) -> Option<String> {
            self.0.get(key).cloned()
        }
        fn set_string(&mut self, key: &str, value: String) {
            self.0.insert(key.into(), value);
        }
        fn remove_string(&mut self, key: &str) {
            self.0.remove(key);
        }
        fn flush(&mut self) {}
    }
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["one.wav", "two.wav"], 1.0);
    let mut app = MelotagApp::new(None, options(music.path(), data.path()));
    assert_ne!(app.persisted.model_id, "choi2016_cnn", "the default model is another one");
    app.persisted.model_id = "choi2016_cnn".into();
    app.persisted.mode = melotag::engine::analysis::Mode::Full;
    app.persisted.sort = melotag::app::SortColumn::Duration;
    app.persisted.compare_models = true;
    app.persisted.last_folder = Some(music.path().to_path_buf());
    let mut storage = Mem::default();
    eframe::App::save(&mut app, &mut storage);
    let mut opts = options(music.path(), data.path());
    opts.folder = None;
    let restored = MelotagApp::new(Some(&storage), opts);
    assert_eq!(restored.persisted.mode, melotag::engine::analysis::Mode::Full);
    assert_eq!(restored.persisted.sort, melotag::app::SortColumn::Duration);
    assert!(restored.persisted.compare_models, "the Compare models toggle is remembered");
    assert_eq!(restored.persisted.last_folder.as_deref(), Some(music.path()));
    assert_eq!(restored.manifest().map(|m| m.id.clone()).as_deref(), Some("choi2016_cnn"), "the model in use is the remembered one");
    // Without a folder on the command line, the last folder opens again.
    let mut h = harness(restored);
    step_until(&mut h, "the remembered folder's scan", |a| scanned(a, 2));
    assert_eq!(h.state().folder.as_deref(), Some(music.path()));
    assert!(h.query_by_label("2 tracks").is_some());

    // A last folder whose name is not UTF-8 cannot be stored: it is left out, the rest is kept.
    use std::os::unix::ffi::OsStrExt;
    let mut app = MelotagApp::new(None, options(music.path(), data.path()));
    app.persisted.sort = melotag::app::SortColumn::Artist;
    app.persisted.compare_models = true;
    app.persisted.last_folder = Some(music.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9")));
    let mut storage = Mem::default();
    eframe::App::save(&mut app, &mut storage);
    let restored = MelotagApp::new(Some(&storage), options(music.path(), data.path()));
    assert_eq!((restored.persisted.sort, restored.persisted.last_folder.clone()), (melotag::app::SortColumn::Artist, None));

    // A sort column this melotag does not know (saved by a newer one): the default column, and
    // every other setting kept.
    let saved = storage.get_string(melotag::app::STORAGE_KEY).unwrap();
    assert!(saved.contains("Artist"), "{saved}");
    storage.set_string(melotag::app::STORAGE_KEY, saved.replace("Artist", "Loudness"));
    let restored = MelotagApp::new(Some(&storage), options(music.path(), data.path()));
    assert_eq!(restored.persisted.sort, melotag::app::SortColumn::default());
    assert!(restored.persisted.compare_models, "the other settings are kept");
}

#[test]
fn without_a_folder_the_app_offers_to_open_one() {
    let data = tempfile::tempdir().unwrap();
    let mut opts = options(data.path(), data.path());
    opts.folder = None;
    let mut h = harness(MelotagApp::new(None, opts));
    h.step();
    assert!(h.query_by_label("No music folder open").is_some());
    assert!(h.query_by_label("Open a music folder…").is_some());
    assert!(h.get_by_label("Tag library").accesskit_node().is_disabled());
}

#[test]
fn the_cli_reuses_cached_results_with_identical_output() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav", "b.wav"], 3.0);
    std::fs::write(music.path().join("bad.mp3"), b"").unwrap();
    let run = |extra: &[&str], out: &str| {
        let json = data.path().join(out);
        let mut args: Vec<&std::ffi::OsStr> = vec!["tag".as_ref(), music.path().as_os_str(), "--mode".as_ref(), "full".as_ref()];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        args.extend(["--json".as_ref(), json.as_os_str()]);
        let o = common::melotag_data(data.path(), &args);
        assert_eq!(o.status.code(), Some(1), "bad.mp3 fails: {}", String::from_utf8_lossy(&o.stderr));
        (std::fs::read(json).unwrap(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (first, err1) = run(&[], "1.json");
    let cache = melotag::engine::cache::Cache::open_at(&data.path().join("cache.sqlite")).unwrap().cache;
    assert_eq!(cache.len().unwrap(), 3, "two results and one error cached");
    let (second, err2) = run(&[], "2.json");
    let (third, _) = run(&["--no-cache"], "3.json");
    assert_eq!(first, second, "cached output is identical");
    assert_eq!(first, third);
    assert_eq!(err1, err2, "the same error line");
}

#[test]
fn dropping_a_folder_on_the_window_opens_it() {
    #[derive(Debug)]
    struct Dropped(std::path::PathBuf);
    impl egui::DroppedFile for Dropped {
        fn path(&self) -> &Path {
            &self.0
        }
        fn bytes(&self) -> Result<Vec<u8>, String> {
            Err("a folder".into())
        }
    }
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(first.path(), &["one.wav"], 1.0);
    write_tracks(second.path(), &["two.wav", "three.wav"], 1.0);
    // A symlink to one of them: the same file, listed once.
    std::os::unix::fs::symlink(second.path().join("two.wav"), second.path().join("two again.wav")).unwrap();
    let mut h = harness(MelotagApp::new(None, options(first.path(), data.path())));
    step_until(&mut h, "the first folder", |a| scanned(a, 1));
    h.input_mut().dropped_files.push(std::sync::Arc::new(Dropped(second.path().to_path_buf())));
    step_until(&mut h, "the dropped folder", |a| a.folder.as_deref() == Some(second.path()) && !a.is_scanning());
    assert_eq!(h.state().track_count(), 2, "the symlinked file is listed once");
    assert_eq!(h.state().persisted.last_folder.as_deref(), Some(second.path()), "remembered for next time");
}

#[test]
fn json_to_dev_null_leaves_the_device_alone() {
    use std::os::unix::fs::FileTypeExt;
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav"], 1.0);
    let o = common::melotag_data(data.path(), &["tag".as_ref(), music.path().as_os_str(), "--json".as_ref(), "/dev/null".as_ref()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::metadata("/dev/null").unwrap().file_type().is_char_device(), "/dev/null is still a device");
}

/// `melotag tag FILE --model MODEL --no-cache --json`, in a data folder of its own (so it
/// neither reads nor writes the app's cache): the file's 50 scores.
fn cli_scores(file: &Path, model: &str) -> Vec<f64> {
    let data = tempfile::tempdir().unwrap();
    let json = data.path().join(format!("{model}.json"));
    let o = common::melotag_data(
        data.path(),
        &["tag".as_ref(), file.as_os_str(), "--model".as_ref(), model.as_ref(), "--no-cache".as_ref(), "--json".as_ref(), json.as_os_str()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let report = common::read_json(&json);
    assert_eq!(report["tracks"].as_array().unwrap().len(), 1);
    report["tracks"][0]["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}

#[test]
fn compare_models_shows_every_models_scores_for_the_selected_track() {
    use melotag::app::CompareState;
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav", "b.wav"], 4.0);
    let mut app = MelotagApp::new(None, options(music.path(), data.path()));
    let ids = ["musicnn_msd", "choi2016_cnn"];
    app.manifests.retain(|m| ids.contains(&m.id.as_str()));
    assert_eq!(app.ready_manifests().len(), 2, "both models are converted (make setup)");
    app.persisted.model_id = "musicnn_msd".into();
    let mut h = harness(app);
    step_until(&mut h, "the scan", |a| scanned(a, 2));
    h.get_by_label("b.wav").click();
    step_until(&mut h, "b.wav's analysis", |a| a.track_by_path(&music.path().join("b.wav")).is_some_and(|t| t.status == Status::Done));
    h.step();
    let single = {
        let app = h.state();
        let t = app.track_by_path(&music.path().join("b.wav")).unwrap();
        let canonical =
            melotag::engine::tags::policy::canonical_scores(&app.manifest().unwrap().entries(), &t.analysis.as_ref().unwrap().scores);
        let best = canonical.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap().clone();
        format!("{} {:.3}", best.name, best.score)
    };
    assert!(h.query_by_label(&single).is_some(), "{single:?} in the single-model view");
    h.get_by_label("Compare models").click();
    step_until(&mut h, "the other model's result", |a| a.compare.values().any(|s| matches!(s, CompareState::Done(_))));
    h.step();
    h.step();
    assert!(h.state().persisted.compare_models, "the toggle is a persisted setting");
    assert!(h.query_by_label(&single).is_none(), "the single-model bars give way");
    let models = h.state_mut().compare_scores();
    assert_eq!(models.len(), 2);
    let file = music.path().join("b.wav");
    // The app analysed the other model in the background and cached it: its row is in the
    // app's cache (nothing else wrote to that folder).
    let cache = melotag::engine::cache::Cache::open_at(&data.path().join("cache.sqlite")).unwrap().cache;
    let stamp = melotag::engine::cache::FileStamp::of(&file).unwrap();
    let cnn = melotag::engine::model::resolve_model("cnn").unwrap();
    let row = cache.get(&file, stamp, &cnn, melotag::engine::analysis::Mode::Center).unwrap().expect("the app cached the CNN's result");
    let cached: Vec<f32> = match row {
        Ok(analysis) => analysis.scores,
        Err(e) => panic!("cached error: {e:?}"),
    };
    let mut checked = 0;
    for (m, state) in &models {
        let CompareState::Done(scores) = state else { panic!("{}: {state:?}", m.id) };
        if m.id == "choi2016_cnn" {
            assert_eq!(scores, &cached, "the bars show what was cached");
        }
        // Against an independent analysis of the same file.
        let cli = cli_scores(&file, &m.id);
        assert_eq!(scores.len(), 50);
        for (i, (&got, &want)) in scores.iter().zip(&cli).enumerate() {
            assert!((got as f64 - want).abs() < 1e-5, "{} {}: {got} vs {want}", m.id, m.tags[i]);
        }
        // Each model's legend line with its best canonical tag and score.
        let scores32: Vec<f32> = cli.iter().map(|&x| x as f32).collect();
        let canonical = melotag::engine::tags::policy::canonical_scores(&m.entries(), &scores32);
        let best = canonical.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap();
        let label = format!("{} — {} {:.3}", m.name, best.name, best.score);
        assert!(h.query_by_label(&label).is_some(), "{label:?} is shown");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn the_evaluation_window_matches_melotag_eval_from_tags() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    // Short excerpts of the sample tracks with GENRE tags; two rock, two jazz.
    let tracks =
        [("bensound-actionable", "rock"), ("bensound-dubstep", "Rock"), ("bensound-cute", "Jazz"), ("bensound-thejazzpiano", "jazz")];
    for (stem, genre) in tracks {
        let src = common::upstream_audio(stem, "mp3");
        let out = music.path().join(format!("{stem}.flac"));
        common::ffmpeg(&[
            "-ss",
            "20",
            "-t",
            "6",
            "-i",
            src.to_str().unwrap(),
            "-ac",
            "1",
            "-metadata",
            &format!("genre={genre}"),
            out.to_str().unwrap(),
        ]);
    }
    // The command line in a data folder of its own: nothing shared with the app's.
    let cli_data = tempfile::tempdir().unwrap();
    let json = cli_data.path().join("eval.json");
    let o = common::melotag_data(
        cli_data.path(),
        &["eval".as_ref(), music.path().as_os_str(), "--from-tags".as_ref(), "--json".as_ref(), json.as_os_str()],
    );
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let cli = common::read_json(&json);

    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 4));
    h.get_by_label("Evaluate models").click();
    step_until(&mut h, "the evaluation", |a| a.eval.as_ref().is_some_and(|e| e.outcome.is_some()));
    h.step();
    h.step();
    let app = h.state();
    let report = match app.eval.as_ref().unwrap().outcome.as_ref().unwrap() {
        Ok(r) => r,
        Err(e) => panic!("evaluation failed: {e:?}"),
    };
    let want = cli["models"].as_array().unwrap();
    assert_eq!(report.models.len(), want.len());
    assert!(report.models.len() >= 2);
    for (m, w) in report.models.iter().zip(want) {
        assert_eq!(m.id, w["id"].as_str().unwrap());
        let (got, want_auc) = (m.macro_roc_auc.unwrap(), w["macro_roc_auc"].as_f64().unwrap());
        assert!((got - want_auc).abs() < 1e-9, "{}: {got} vs {want_auc}", m.id);
        assert_eq!(m.tracks, 4);
        assert!(h.query_all_by_label(&m.name).count() >= 1, "{} in the table", m.name);
        assert!(h.query_all_by_label(&format!("{got:.4}")).count() >= 1, "{}'s ROC-AUC in the table", m.name);
    }
    assert!(h.query_by_label(melotag::app::ui::eval_ui::NO_LABELS_TEXT).is_none());
    drop(h);

    // An untagged folder: the window says there is nothing to evaluate against.
    let plain = tempfile::tempdir().unwrap();
    write_tracks(plain.path(), &["x.wav"], 1.0);
    let mut h = harness(MelotagApp::new(None, options(plain.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 1));
    h.get_by_label("Evaluate models").click();
    step_until(&mut h, "the evaluation", |a| a.eval.as_ref().is_some_and(|e| e.outcome.is_some()));
    h.step();
    assert!(h.query_by_label(melotag::app::ui::eval_ui::NO_LABELS_TEXT).is_some());
}

/// The spectrogram's rectangle (its accessibility node reports when it was drawn).
fn spectrogram_rect(h: &Harness<'static, MelotagApp>) -> egui::Rect {
    h.get_by_label_contains("first columns after").rect()
}

/// The x of the playhead drawn in the last frame: the white 2-point line spanning `rect`.
fn playhead_x(h: &Harness<'static, MelotagApp>, rect: egui::Rect) -> Option<f32> {
    let lines: Vec<f32> = h
        .output()
        .shapes
        .iter()
        .filter_map(|c| match &c.shape {
            egui::Shape::LineSegment { points, stroke }
                if stroke.width == 2.0
                    && stroke.color == egui::Color32::WHITE
                    && points[0].x == points[1].x
                    && points[0].y == rect.top()
                    && points[1].y == rect.bottom() =>
            {
                Some(points[0].x)
            }
            _ => None,
        })
        .collect();
    assert!(lines.len() <= 1, "one playhead: {lines:?}");
    lines.first().copied()
}

/// Clicks the spectrogram at `fraction` of its width.
fn click_spectrogram(h: &mut Harness<'static, MelotagApp>, rect: egui::Rect, fraction: f32) {
    let pos = egui::pos2(rect.left() + fraction * rect.width(), rect.center().y);
    h.event(egui::Event::PointerMoved(pos));
    h.step();
    h.event(egui::Event::PointerButton { pos, button: egui::PointerButton::Primary, pressed: true, modifiers: egui::Modifiers::NONE });
    h.step();
    h.event(egui::Event::PointerButton { pos, button: egui::PointerButton::Primary, pressed: false, modifiers: egui::Modifiers::NONE });
    h.step();
}

#[test]
fn playback_space_click_to_seek_and_the_playhead() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_tracks(music.path(), &["a.wav"], 10.0);
    let mut app = MelotagApp::new(None, options(music.path(), data.path()));
    // No sound card in tests: the same rodio player, mixed into an output whose clock we move.
    let (playback, clock) = melotag::app::player::Playback::null_output();
    app.playback = playback;
    let mut h = harness(app);
    step_until(&mut h, "the scan", |a| scanned(a, 1));
    h.get_by_label("a.wav").click();
    step_until(&mut h, "the audio", |a| a.track_view.as_ref().is_some_and(|tv| tv.spec.done) && a.playback.is_loaded());
    h.step();
    let pos = |h: &Harness<'static, MelotagApp>| h.state().playback.position_s();
    assert!((h.state().playback.duration_s() - 10.0).abs() < 1e-3);
    assert!(!h.get_by_label("Play").accesskit_node().is_disabled(), "Play is enabled with an output");
    assert!(h.query_by_label("0:00 / 0:10").is_some());
    let rect = spectrogram_rect(&h);
    let x_of = |seconds: f64| rect.left() + (seconds / 10.0) as f32 * rect.width();
    let near = |x: Option<f32>, want: f32| x.is_some_and(|x| (x - want).abs() <= 1.0);
    assert!(near(playhead_x(&h, rect), rect.left()), "the playhead starts at the left edge: {:?}", playhead_x(&h, rect));

    // Paused, nothing moves however long the output plays.
    play_for(&mut h, &clock, 1.0);
    assert_eq!(pos(&h), 0.0);

    // A click at 30 % of the width seeks to 3 s (the seek happens on the audio thread: play a
    // little until it has); still paused.
    click_spectrogram(&mut h, rect, 0.3);
    step_until(&mut h, "the seek", |a| {
        clock.advance(Duration::from_millis(5));
        (a.playback.position_s() - 3.0).abs() < 1e-6
    });
    assert!(!h.state().playback.is_playing());
    h.step();
    assert!(near(playhead_x(&h, rect), x_of(3.0)), "playhead {:?} at 3 s = {}", playhead_x(&h, rect), x_of(3.0));

    // Space plays: 2 s of output later the playhead is at 5 s; Space again pauses.
    h.key_press(egui::Key::Space);
    h.step();
    assert!(h.state().playback.is_playing());
    assert!(h.query_by_label("Pause").is_some(), "the button says Pause while playing");
    play_for(&mut h, &clock, 2.0);
    assert!((pos(&h) - 5.0).abs() < 0.01, "position {}", pos(&h));
    h.step();
    assert!(near(playhead_x(&h, rect), x_of(pos(&h))), "playhead {:?} at {} s", playhead_x(&h, rect), pos(&h));
    assert!(h.query_by_label("0:05 / 0:10").is_some());
    h.key_press(egui::Key::Space);
    h.step();
    assert!(!h.state().playback.is_playing());
    // The audio thread takes the order within 5 ms of audio, then nothing moves.
    play_for(&mut h, &clock, 0.01);
    let paused_at = pos(&h);
    assert!((paused_at - 5.0).abs() < 0.01, "paused at {paused_at}");
    play_for(&mut h, &clock, 1.0);
    assert_eq!(pos(&h), paused_at, "paused");

    // The Play button does what Space does; played to the end, playback stops there and
    // starts again from the beginning.
    h.get_by_label("Play").click();
    h.step();
    assert!(h.state().playback.is_playing());
    play_for(&mut h, &clock, 6.0);
    assert!(!h.state().playback.is_playing(), "stopped at the end");
    assert!((pos(&h) - 10.0).abs() < 1e-6, "at the end: {}", pos(&h));
    h.key_press(egui::Key::Space);
    h.step();
    play_for(&mut h, &clock, 0.5);
    assert!(h.state().playback.is_playing());
    // (rodio's queue plays up to a few tens of ms of silence before a newly queued source)
    assert!((0.4..=0.5).contains(&pos(&h)), "from the beginning again: {}", pos(&h));
}
