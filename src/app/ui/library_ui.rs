//! The track table: title, artist, duration, format, analysis status, the file's genre and
//! mood, melotag's suggestion (what a write would put there) and the top tags; sortable by any
//! column, filtered by the toolbar's box. Click selects a track, Ctrl-click adds or removes one,
//! Shift-click a range, Ctrl+A everything the filter shows; arrow keys move (kept visible).
//! Only the visible rows are laid out, so 10,000 tracks scroll smoothly.

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use crate::app::{MelotagApp, SortColumn, Status};
use crate::engine::tags::policy::{Selected, Selection};
use crate::engine::tags::write::merge_values;

const COLUMNS: [(SortColumn, &str); 9] = [
    (SortColumn::Title, "Title"),
    (SortColumn::Artist, "Artist"),
    (SortColumn::Duration, "Duration"),
    (SortColumn::Format, "Format"),
    (SortColumn::Status, "Status"),
    (SortColumn::Genre, "Genre"),
    (SortColumn::Mood, "Mood"),
    (SortColumn::Suggested, "Suggested"),
    (SortColumn::Tags, "Top tags"),
];

/// The track's selection with the current settings, less what a write would leave alone: under
/// the merge mode (`fill` keeps a file's own genre or mood) those lists are emptied and flagged
/// as kept. `None` without scores. What the Suggested column and the tag bars show.
pub fn written_selection(app: &MelotagApp, index: usize) -> Option<(Selection, [bool; 2])> {
    let (Some(a), Some(m)) = (&app.tracks[index].analysis, app.manifest()) else { return None };
    let settings = &app.write.settings;
    let mut sel = settings.select(&m.entries(), &a.scores);
    let track = &app.tracks[index];
    let mut kept = [false; 2];
    for (i, (list, old)) in [(&mut sel.genres, &track.genre), (&mut sel.moods, &track.mood)].into_iter().enumerate() {
        let new: Vec<String> = list.iter().map(|s| settings.spelling(s.name)).collect();
        if !old.is_empty() && merge_values(old, &new, settings.merge).is_none() {
            list.clear();
            kept[i] = true;
        }
    }
    Some((sel, kept))
}

/// What a write would leave in the genre and mood fields, from the track's scores and the
/// current settings and merge mode; a file's own values that a write keeps are marked "(kept)"
/// ("" without scores).
pub fn suggestion(app: &MelotagApp, index: usize) -> String {
    let Some((sel, kept)) = written_selection(app, index) else { return String::new() };
    let track = &app.tracks[index];
    let part = |list: &[Selected], kept: bool, old: &[String]| {
        if kept {
            format!("{} (kept)", old.join(", "))
        } else {
            list.iter().map(|s| app.write.settings.spelling(s.name)).collect::<Vec<_>>().join(", ")
        }
    };
    let (genres, moods) = (part(&sel.genres, kept[0], &track.genre), part(&sel.moods, kept[1], &track.mood));
    match (genres.is_empty(), moods.is_empty()) {
        (true, true) => String::new(),
        (false, true) => genres,
        (true, false) => format!("· {moods}"),
        (false, false) => format!("{genres} · {moods}"),
    }
}

/// Draws the table.
pub fn library_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    // Arrow keys move the selection, Ctrl+A selects what the filter shows, when no text field
    // has the keyboard.
    let ctx = ui.ctx().clone();
    if !ctx.egui_wants_keyboard_input() && !app.view.is_empty() && !app.similar.has_focus {
        let (down, up, all) = ctx.input(|i| {
            (i.key_pressed(egui::Key::ArrowDown), i.key_pressed(egui::Key::ArrowUp), i.modifiers.command && i.key_pressed(egui::Key::A))
        });
        if down || up {
            let pos = app.selected.and_then(|s| app.view.iter().position(|&i| i == s));
            let next = match (pos, down) {
                (None, _) => 0,
                (Some(p), true) => (p + 1).min(app.view.len() - 1),
                (Some(p), false) => p.saturating_sub(1),
            };
            let index = app.view[next];
            app.selection = std::iter::once(index).collect();
            app.anchor = Some(index);
            app.select(index);
        }
        if all {
            app.selection = app.view.iter().copied().collect();
        }
    }

    let shown = app.view.len();
    let total = app.tracks.len();
    ui.horizontal(|ui| {
        if shown == total {
            ui.label(format!("{total} tracks"));
        } else {
            ui.label(format!("{shown} of {total} tracks"));
        }
        if !app.selection.is_empty() {
            ui.label(egui::RichText::new(format!("{} selected", app.selection.len())).strong());
        }
        if ui.small_button("Select all shown").on_hover_text("Ctrl+A").clicked() {
            app.selection = app.view.iter().copied().collect();
        }
        if !app.scan_errors.is_empty() {
            let list: Vec<String> = app.scan_errors.iter().map(|(p, e)| format!("{}: {e}", p.display())).collect();
            ui.colored_label(ui.visuals().warn_fg_color, format!("{} unreadable paths", app.scan_errors.len()))
                .on_hover_text(list.join("\n"));
        }
    });

    let scroll_to = if app.scroll_to_selected {
        app.scroll_to_selected = false;
        app.selected.and_then(|s| app.view.iter().position(|&i| i == s))
    } else {
        None
    };
    let row_height = ui.spacing().interact_size.y;
    let mut table = TableBuilder::new(ui)
        .id_salt("tracks")
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::initial(230.0).at_least(80.0).clip(true))
        .column(Column::initial(140.0).at_least(60.0).clip(true))
        .column(Column::initial(64.0).at_least(50.0))
        .column(Column::initial(56.0).at_least(40.0))
        .column(Column::initial(110.0).at_least(60.0).clip(true))
        .column(Column::initial(140.0).at_least(60.0).clip(true))
        .column(Column::initial(90.0).at_least(50.0).clip(true))
        .column(Column::initial(170.0).at_least(60.0).clip(true))
        .column(Column::remainder().at_least(80.0).clip(true))
        .min_scrolled_height(0.0);
    if let Some(row) = scroll_to {
        table = table.scroll_to_row(row, None);
    }
    let mut clicked_sort = None;
    let mut clicked_row = None;
    let (sort, ascending) = (app.persisted.sort, app.persisted.ascending);
    table
        .header(row_height + 2.0, |mut header| {
            for (col, name) in COLUMNS {
                header.col(|ui| {
                    let arrow = if col == sort { if ascending { " ^" } else { " v" } } else { "" };
                    if ui.add(egui::Button::new(egui::RichText::new(format!("{name}{arrow}")).strong()).frame(false)).clicked() {
                        clicked_sort = Some(col);
                    }
                });
            }
        })
        .body(|body| {
            body.rows(row_height, app.view.len(), |mut row| {
                let index = app.view[row.index()];
                let suggested = suggestion(app, index);
                let t = &app.tracks[index];
                let selected = app.selection.contains(&index) || (app.selection.is_empty() && app.selected == Some(index));
                row.set_selected(selected);
                row.col(|ui| {
                    if ui.add(egui::Button::selectable(selected, &t.title).frame_when_inactive(false)).clicked() {
                        clicked_row = Some(index);
                    }
                });
                row.col(|ui| {
                    ui.label(&t.artist);
                });
                row.col(|ui| {
                    ui.label(t.duration_s.map(super::format_duration).unwrap_or_default());
                });
                row.col(|ui| {
                    ui.label(&t.format);
                });
                row.col(|ui| match (&t.status, &t.write_note) {
                    (_, Some(Err(e))) => {
                        ui.colored_label(ui.visuals().error_fg_color, "write failed").on_hover_text(e);
                    }
                    (Status::Error(e), _) => {
                        ui.colored_label(ui.visuals().error_fg_color, t.status.label()).on_hover_text(e);
                    }
                    (Status::Analysing, _) => {
                        ui.spinner();
                        ui.label("analysing");
                    }
                    (Status::Done, Some(Ok(()))) => {
                        ui.label("written");
                    }
                    (other, _) => {
                        ui.label(other.label());
                    }
                });
                row.col(|ui| {
                    ui.label(t.genre.join("; "));
                });
                row.col(|ui| {
                    ui.label(t.mood.join("; "));
                });
                row.col(|ui| {
                    ui.label(&suggested);
                });
                row.col(|ui| {
                    ui.label(t.top_tags.join(", "));
                });
                if row.response().clicked() {
                    clicked_row = Some(index);
                }
            });
        });
    if let Some(col) = clicked_sort {
        if app.persisted.sort == col {
            app.persisted.ascending = !app.persisted.ascending;
        } else {
            app.persisted.sort = col;
            app.persisted.ascending = true;
        }
        app.invalidate_view();
    }
    if let Some(index) = clicked_row {
        // The click's own modifiers (the keyboard state may have moved on within the frame).
        let modifiers = ui.input(|i| {
            i.events
                .iter()
                .rev()
                .find_map(|e| match e {
                    egui::Event::PointerButton { modifiers, .. } => Some(*modifiers),
                    _ => None,
                })
                .unwrap_or(i.modifiers)
        });
        if modifiers.shift
            && let Some(anchor) = app.anchor
            && let (Some(a), Some(b)) = (app.view.iter().position(|&i| i == anchor), app.view.iter().position(|&i| i == index))
        {
            let (lo, hi) = (a.min(b), a.max(b));
            if !modifiers.command {
                app.selection.clear();
            }
            app.selection.extend(app.view[lo..=hi].iter().copied());
        } else if modifiers.command {
            if !app.selection.remove(&index) {
                app.selection.insert(index);
            }
            app.anchor = Some(index);
        } else {
            app.selection = std::iter::once(index).collect();
            app.anchor = Some(index);
        }
        app.select(index);
        app.scroll_to_selected = false;
        app.similar.has_focus = false;
    }
}
