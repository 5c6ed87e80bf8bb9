//! "Similar tracks" in the window, driven through the real app with egui_kittest: on tones,
//! noise and clicks (where the answer is known) the list under a tone starts with the other tones;
//! double-click selects, Enter plays from the highlighted row, "Play similar" queues the
//! neighbours through the player and moves on at each track's end, and the playlist saved
//! lists the same tracks with paths relative to its folder.

mod common;
#[path = "common/gui.rs"]
mod gui_common;

use std::path::{Path, PathBuf};

use common::signals::{RATE, families, sine};
use common::write_wav_f32;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gui_common::{harness, options, play_for, scanned, step_until};
use melotag::app::{MelotagApp, Status};

/// Length of the generated tracks.
const SECONDS: usize = 10;

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Double-clicks the centre of `rect`.
fn double_click(h: &mut Harness<'static, MelotagApp>, rect: egui::Rect) {
    let pos = rect.center();
    h.event(egui::Event::PointerMoved(pos));
    h.step();
    // All four in one frame: the harness runs one frame per queued event and its clock moves
    // 0.25 s per frame, more than egui's double-click delay.
    for pressed in [true, false, true, false] {
        h.input_mut().events.push(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.step();
}

fn selected_path(app: &MelotagApp) -> Option<PathBuf> {
    app.selected.and_then(|i| app.tracks.get(i)).map(|t| t.path.clone())
}

#[test]
fn the_similar_list_plays_selects_and_saves() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    families(music.path(), SECONDS);
    let mut app = MelotagApp::new(None, options(music.path(), data.path()));
    let (playback, clock) = melotag::app::player::Playback::null_output();
    app.playback = playback;
    let mut h = harness(app);
    step_until(&mut h, "the scan", |a| scanned(a, 12));
    h.get_by_label("Tag library").click();
    step_until(&mut h, "the batch", |a| a.batch().is_some_and(|b| b.finished.is_some()));
    assert!(h.state().tracks.iter().all(|t| t.status == Status::Done && t.embedding.is_some()), "every track has an embedding");

    // A tone's nearest tracks are the other tones.
    let seed = music.path().join("sine0.wav");
    h.get_by_label("sine0.wav").click();
    step_until(&mut h, "the similar list", |a| !a.similar_rows().is_empty());
    h.step();
    let rows = h.state().similar_rows();
    let names: Vec<String> = rows.iter().map(|r| name(&r.path)).collect();
    assert_eq!(names.len(), 11, "every other track: {names:?}");
    assert!(names[..3].iter().all(|n| n.starts_with("sine")), "tones first: {names:?}");
    assert!(rows.windows(2).all(|w| w[0].distance <= w[1].distance), "nearest first");
    assert!(!rows.iter().any(|r| r.path == seed), "the seed is left out");
    // Each row shows its distance (the row's accessible label), and "nearest of 11 …".
    for r in &rows {
        assert!(h.query_by_label_contains(&format!("distance {:.3}", r.distance)).is_some(), "row for {}", name(&r.path));
    }
    assert!(h.query_by_label_contains("nearest of 11 analysed tracks").is_some());

    // Double-click selects the track in the table; its own list follows.
    let first = rows[0].path.clone();
    let rect = h.get_by_label_contains(&format!("distance {:.3}", rows[0].distance)).rect();
    double_click(&mut h, rect);
    step_until(&mut h, "the selection", |a| selected_path(a).as_ref() == Some(&first));
    step_until(&mut h, "the new similar list", |a| a.similar.answer.as_ref().is_some_and(|x| x.key.seed == first));
    h.step();
    let rows = h.state().similar_rows();
    assert!(name(&rows[0].path).starts_with("sine"), "a tone's neighbour is a tone");

    // Click a row, press Enter: that track plays (and the rest of the list after it).
    let third = rows[2].path.clone();
    h.get_by_label_contains(&format!("distance {:.3}", rows[2].distance)).click();
    h.step();
    assert_eq!(h.state().similar.highlighted, Some(2));
    h.key_press(egui::Key::Enter);
    step_until(&mut h, "the highlighted track to play", |a| a.now_playing.as_ref() == Some(&third) && a.playback.is_playing());
    assert_eq!(selected_path(h.state()).as_ref(), Some(&first), "playing does not change the selection");
    let queue = h.state().similar.queue.clone().unwrap();
    assert_eq!(queue.paths, rows[2..].iter().map(|r| r.path.clone()).collect::<Vec<_>>());

    // "Play similar": the selected track, then its neighbours, moving on at each end.
    h.get_by_label("Play similar").click();
    step_until(&mut h, "the seed to play", |a| a.now_playing.as_ref() == Some(&first) && a.playback.is_playing());
    assert!(h.query_by_label_contains("Playing 1 of 12").is_some(), "the queue says where it is");
    play_for(&mut h, &clock, SECONDS as f64 + 0.5);
    step_until(&mut h, "the next track", |a| a.now_playing.as_ref() == Some(&rows[0].path) && a.playback.is_playing());
    h.get_by_label("Next").click();
    step_until(&mut h, "the track after", |a| a.now_playing.as_ref() == Some(&rows[1].path) && a.playback.is_playing());
    h.get_by_label("Stop").click();
    h.step();
    assert!(h.state().similar.queue.is_none() && !h.state().playback.is_playing());

    // "Save playlist…" writes the seed and its list, paths relative to the playlist's folder.
    let lists = data.path().join("lists");
    std::fs::create_dir(&lists).unwrap();
    let file = lists.join("similar.m3u8");
    h.state_mut().save_similar_playlist(file.clone());
    step_until(&mut h, "the playlist", |a| a.message.as_deref().is_some_and(|m| m.starts_with("Saved a playlist of 12 tracks")));
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "#EXTM3U");
    let entries: Vec<(&str, &str)> = lines[1..].chunks(2).map(|c| (c[0], c[1])).collect();
    assert_eq!(entries.len(), 12);
    let listed: Vec<PathBuf> = entries.iter().map(|(_, p)| std::fs::canonicalize(lists.join(p)).unwrap()).collect();
    let mut expected = vec![first.clone()];
    expected.extend(rows.iter().map(|r| r.path.clone()));
    let expected: Vec<PathBuf> = expected.iter().map(|p| std::fs::canonicalize(p).unwrap()).collect();
    assert_eq!(listed, expected);
    for ((info, path), want) in entries.iter().zip(&expected) {
        assert!(Path::new(path).is_relative(), "{path}");
        assert_eq!(*info, format!("#EXTINF:10,{}", want.file_stem().unwrap().to_string_lossy()));
    }
}

#[test]
fn a_lone_track_says_why_it_has_no_similar_tracks() {
    let music = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_wav_f32(&music.path().join("only.wav"), RATE, &sine(330.0, 0.3, 5.0, 5));
    let mut h = harness(MelotagApp::new(None, options(music.path(), data.path())));
    step_until(&mut h, "the scan", |a| scanned(a, 1));
    h.get_by_label("only.wav").click();
    step_until(&mut h, "the answer", |a| a.similar.answer.is_some());
    h.step();
    assert!(h.query_by_label_contains("No other track in this folder has been analysed").is_some());
}
