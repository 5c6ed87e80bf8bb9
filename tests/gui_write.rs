//! Writing tags from the window, driven through the real app with egui_kittest: select tracks,
//! open the review, move a policy control and see the preview change, uncheck a file, write,
//! find the new GENRE on disk, undo it from the history, and see a read-only file's error.

mod common;
#[path = "common/gui.rs"]
mod gui_common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use gui_common::{harness, step_until};
use lofty::prelude::*;
use melotag::app::write::ReviewState;
use melotag::app::{AppOptions, MelotagApp, Status};

/// The app with the CRNN (quick to run).
fn options(folder: &Path, data: &Path) -> AppOptions {
    AppOptions { model_id: Some("choi2016_crnn".into()), ..gui_common::options(folder, data) }
}

/// The genre values in a file, read by lofty (not by melotag).
fn genres(path: &Path) -> Vec<String> {
    let file = lofty::read_from_path(path).expect("lofty reads the file");
    let Some(tag) = file.primary_tag() else { return Vec::new() };
    tag.get_strings(ItemKey::Genre).flat_map(|v| v.split('\0').map(str::to_string).collect::<Vec<_>>()).filter(|v| !v.is_empty()).collect()
}

/// Three 12 s FLAC tracks: `a` already tagged genre "Romantic Classical" and mood "Calm", `b`
/// and `c` untagged.
fn library(dir: &Path) -> Vec<PathBuf> {
    let src = upstream_audio("bensound-thejazzpiano", "mp3");
    let mut out = Vec::new();
    for (name, start, genre) in [("a.flac", "0", Some("Romantic Classical")), ("b.flac", "8", None), ("c.flac", "16", None)] {
        let p = dir.join(name);
        let title = format!("title=Track {}", &name[..1]);
        let mut args = vec!["-ss", start, "-t", "12", "-i", src.to_str().unwrap(), "-metadata", &title];
        let meta;
        if let Some(g) = genre {
            meta = format!("genre={g}");
            args.extend(["-metadata", &meta, "-metadata", "mood=Calm"]);
        }
        args.push(p.to_str().unwrap());
        ffmpeg(&args);
        out.push(p);
    }
    out
}

/// A temp folder with the three tracks in `music/` and an empty `data/`.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let (music, data) = (dir.path().join("music"), dir.path().join("data"));
    fs::create_dir_all(&music).unwrap();
    fs::create_dir_all(&data).unwrap();
    let files = library(&music);
    (dir, music, data, files)
}

/// Clicks a track's row by its title (the table is drawn after the track panel, whose heading
/// may show the same title: the last match is the row).
fn click_row(h: &mut Harness<'static, MelotagApp>, index: usize, modifiers: egui::Modifiers) {
    let title = format!("Track {}", ["a", "b", "c"][index]);
    let row = h.get_all_by_label(&title).last().expect("the row");
    row.click_modifiers(modifiers);
    h.run_ok();
}

#[test]
fn review_write_and_undo_from_the_window() {
    let (_dir, music, data, files) = setup();
    let before: Vec<Vec<u8>> = files.iter().map(|f| fs::read(f).unwrap()).collect();
    assert_eq!(genres(&files[0]), ["Romantic Classical"]);

    let mut h = harness(MelotagApp::new(None, options(&music, &data)));
    step_until(&mut h, "the scan", |a| a.track_count() == 3 && !a.is_scanning());
    // Click the first track, Shift-click the third: all three selected.
    click_row(&mut h, 0, egui::Modifiers::NONE);
    click_row(&mut h, 2, egui::Modifiers::SHIFT);
    assert_eq!(h.state().selection.len(), 3);
    // Ctrl-click takes the second out and puts it back.
    click_row(&mut h, 1, egui::Modifiers::COMMAND);
    assert_eq!(h.state().selection.len(), 2);
    click_row(&mut h, 1, egui::Modifiers::COMMAND);
    assert_eq!(h.state().selection.len(), 3);

    h.get_by_label("Write tags…").click();
    h.run_ok();
    step_until(&mut h, "the review's plans", |a| {
        a.write.review.as_ref().is_some_and(|r| r.state == ReviewState::Ready && r.planned())
            && a.tracks.iter().all(|t| t.status == Status::Done)
    });
    // The default (fill) keeps a.flac's own genre: two files change.
    {
        let r = h.state().write.review.as_ref().unwrap();
        assert_eq!(r.checked_changes(), 2, "{:?}", r.plans.iter().map(|p| (&p.path, p.changes().len())).collect::<Vec<_>>());
    }
    assert!(h.query_by_label("2 of 3 file(s) will change").is_some());
    // The file left as it is, and why, in the (scrolled, row-at-a-time) "Unchanged" list.
    h.get_by_label("Unchanged (1)").click();
    h.run_ok();
    let why = "a.flac — Vorbis GENRE already tagged; kept (fill mode) (Romantic Classical)";
    assert!(h.query_by_label_contains(why).is_some(), "the unchanged file and why");
    assert!(h.query_by_label("Cannot be written (0)").is_some());
    // The table's Suggested column says so too: a.flac keeps its genre and mood.
    let a = h.state().tracks.iter().position(|t| t.path.ends_with("a.flac")).unwrap();
    assert_eq!(melotag::app::ui::library_ui::suggestion(h.state(), a), "Romantic Classical (kept) · Calm (kept)");
    let c = h.state().tracks.iter().position(|t| t.path.ends_with("c.flac")).unwrap();
    assert!(!melotag::app::ui::library_ui::suggestion(h.state(), c).contains("(kept)"));
    // Replace instead: the preview now changes all three, without re-analysing anything.
    h.get_by_label("Existing tags").click();
    h.run_ok();
    h.get_by_label("Replace: the new values only").click();
    h.run_ok();
    step_until(&mut h, "the new plans", |a| a.write.review.as_ref().is_some_and(|r| r.planned() && r.checked_changes() == 3));
    assert!(h.query_by_label("3 of 3 file(s) will change").is_some());
    // Uncheck b.flac.
    h.get_by_label("Write b.flac").click();
    h.run_ok();
    assert_eq!(h.state().write.review.as_ref().unwrap().checked_changes(), 2);
    let expected: Vec<Vec<String>> = {
        let r = h.state().write.review.as_ref().unwrap();
        r.plans
            .iter()
            .map(|p| {
                p.changes().iter().find(|c| c.role == melotag::engine::tags::Role::Genre).map(|c| c.new_values.clone()).unwrap_or_default()
            })
            .collect()
    };
    h.get_by_label("Write 2 file(s)").click();
    h.run_ok();
    step_until(&mut h, "the write", |a| a.write.review.as_ref().is_some_and(|r| matches!(r.state, ReviewState::Done(_))));
    // On disk: a and c hold the new genres, b is untouched.
    assert_eq!(genres(&files[0]), expected[0]);
    assert_ne!(genres(&files[0]), ["Romantic Classical"]);
    assert_eq!(genres(&files[2]), expected[2]);
    assert_eq!(fs::read(&files[1]).unwrap(), before[1], "an unchecked file is not written");
    // The table shows the new tags.
    step_until(&mut h, "the table's refresh", |a| {
        a.tracks.iter().find(|t| t.path.ends_with("c.flac")).is_some_and(|t| t.genre == expected[2])
    });
    // The settings were saved for the command line too.
    step_until(&mut h, "the settings file", |_| {
        fs::read_to_string(data.join("config.toml")).is_ok_and(|t| t.contains("merge = \"replace\""))
    });

    // Undo from the history window: the original bytes come back.
    h.get_by_label("Close").click();
    h.run_ok();
    assert!(h.state().write.review.is_none());
    h.get_by_label("History…").click();
    h.run_ok();
    step_until(&mut h, "the history", |a| a.write.history.as_ref().is_some_and(|r| r.as_ref().is_ok_and(|b| b.len() == 1)));
    h.get_by_label("Undo").click();
    h.run_ok();
    step_until(&mut h, "the undo", |a| !a.write.undo_running && a.write.last_summary.as_deref().is_some_and(|s| s.starts_with("Undone")));
    for (f, b) in files.iter().zip(&before) {
        assert_eq!(&fs::read(f).unwrap(), b, "{} after undo", f.display());
    }
    assert_eq!(genres(&files[0]), ["Romantic Classical"]);
}

#[test]
fn a_read_only_file_shows_its_error_and_is_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, music, data, files) = setup();
    fs::set_permissions(&files[1], fs::Permissions::from_mode(0o444)).unwrap();
    let locked = fs::read(&files[1]).unwrap();
    let original_c = fs::read(&files[2]).unwrap();
    let mut h = harness(MelotagApp::new(None, options(&music, &data)));
    step_until(&mut h, "the scan", |a| a.track_count() == 3 && !a.is_scanning());
    click_row(&mut h, 0, egui::Modifiers::NONE);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_ok();
    assert_eq!(h.state().selection.len(), 3, "Ctrl+A selects every shown track");
    h.get_by_label("Write tags…").click();
    h.run_ok();
    step_until(&mut h, "the plans", |a| a.write.review.as_ref().is_some_and(|r| r.state == ReviewState::Ready && r.planned()));
    h.get_by_label("Write 2 file(s)").click();
    h.run_ok();
    step_until(&mut h, "the write", |a| a.write.review.as_ref().is_some_and(|r| matches!(r.state, ReviewState::Done(_))));
    assert!(h.query_by_label("not written: the file is read-only; not written").is_some(), "the error is in the review");
    let t = h.state().tracks.iter().find(|t| t.path.ends_with("b.flac")).unwrap();
    assert_eq!(t.write_note.clone().unwrap().unwrap_err(), "the file is read-only; not written", "and in the table");
    assert_eq!(fs::read(&files[1]).unwrap(), locked, "the read-only file is untouched");
    assert!(!genres(&files[2]).is_empty(), "the other file is written");

    // "Undo last write" in the toolbar gives c.flac its original bytes back.
    h.state_mut().close_review();
    h.run_ok();
    h.get_by_label("Undo last write").click();
    h.run_ok();
    step_until(&mut h, "the undo", |a| !a.write.undo_running && a.write.last_summary.as_deref().is_some_and(|s| s.starts_with("Undone")));
    assert_eq!(fs::read(&files[2]).unwrap(), original_c, "c.flac after undo");
    assert!(genres(&files[2]).is_empty());
}

/// Files a desktop passes (`melotag %F`): their folder opens with all of them selected, the
/// first one shown.
#[test]
fn files_a_desktop_passes_are_selected() {
    let (_dir, music, data, _) = setup();
    let opts = AppOptions { select: Some("c.flac".into()), also_select: vec!["a.flac".into()], ..options(&music, &data) };
    let mut h = harness(MelotagApp::new(None, opts));
    step_until(&mut h, "the scan", |a| a.track_count() == 3 && !a.is_scanning());
    step_until(&mut h, "the selection", |a| a.selection.len() == 2);
    let app = h.state();
    let name = |i: usize| app.tracks[i].path.file_name().unwrap().to_string_lossy().into_owned();
    let mut selected: Vec<String> = app.selection.iter().map(|&i| name(i)).collect();
    selected.sort();
    assert_eq!(selected, ["a.flac", "c.flac"]);
    assert_eq!(app.selected.map(name).as_deref(), Some("c.flac"), "the first file passed is shown");
}

/// Another folder opened (or dropped) while a write runs waits for the write, whose review
/// refers to this folder's tracks, then opens; every checked file is written.
#[test]
fn a_folder_opened_during_a_write_opens_after_it() {
    let (dir, music, data, files) = setup();
    // Enough files that the write is still running on the frame after its click.
    let mut untagged = vec![files[1].clone(), files[2].clone()];
    for k in 0..30 {
        let p = music.join(format!("d{k:02}.flac"));
        fs::copy(&files[1], &p).unwrap();
        untagged.push(p);
    }
    let other = dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::copy(&files[2], other.join("e.flac")).unwrap();

    let mut h = harness(MelotagApp::new(None, options(&music, &data)));
    step_until(&mut h, "the scan", |a| a.track_count() == 33 && !a.is_scanning());
    click_row(&mut h, 0, egui::Modifiers::NONE);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run_ok();
    h.get_by_label("Write tags…").click();
    h.run_ok();
    step_until(&mut h, "the plans", |a| a.write.review.as_ref().is_some_and(|r| r.state == ReviewState::Ready && r.planned()));
    h.get_by_label("Write 32 file(s)").click();
    h.step();
    assert!(h.state().write.review.as_ref().is_some_and(|r| r.writing()), "the write runs");
    h.state_mut().open_folder(other.clone());
    assert_eq!(h.state().track_count(), 33, "the folder waits for the write");
    assert!(h.state().message.as_deref().is_some_and(|m| m.ends_with("opens when the write ends.")));
    step_until(&mut h, "the write, then the other folder", |a| a.track_count() == 1 && !a.is_scanning());
    assert_eq!(h.state().tracks[0].path, other.join("e.flac"));
    for f in &untagged {
        assert!(!genres(f).is_empty(), "{} was written", f.display());
    }
}
