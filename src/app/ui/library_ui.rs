//! The track table: title, artist, duration, format, analysis status, top tags; sortable by
//! any column, filtered by the toolbar's box, arrow keys move the selection (kept visible).
//! Only the visible rows are laid out, so 10,000 tracks scroll smoothly.

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use crate::app::{MelotagApp, SortColumn, Status};

const COLUMNS: [(SortColumn, &str); 6] = [
    (SortColumn::Title, "Title"),
    (SortColumn::Artist, "Artist"),
    (SortColumn::Duration, "Duration"),
    (SortColumn::Format, "Format"),
    (SortColumn::Status, "Status"),
    (SortColumn::Tags, "Top tags"),
];

/// Draws the table.
pub fn library_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    // Arrow keys move the selection when no text field has the keyboard.
    let ctx = ui.ctx().clone();
    if !ctx.egui_wants_keyboard_input() && !app.view.is_empty() {
        let (down, up) = ctx.input(|i| (i.key_pressed(egui::Key::ArrowDown), i.key_pressed(egui::Key::ArrowUp)));
        if down || up {
            let pos = app.selected.and_then(|s| app.view.iter().position(|&i| i == s));
            let next = match (pos, down) {
                (None, _) => 0,
                (Some(p), true) => (p + 1).min(app.view.len() - 1),
                (Some(p), false) => p.saturating_sub(1),
            };
            app.select(app.view[next]);
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
        .column(Column::initial(260.0).at_least(80.0).clip(true))
        .column(Column::initial(160.0).at_least(60.0).clip(true))
        .column(Column::initial(70.0).at_least(50.0))
        .column(Column::initial(60.0).at_least(40.0))
        .column(Column::initial(160.0).at_least(60.0).clip(true))
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
                let t = &app.tracks[index];
                let selected = app.selected == Some(index);
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
                row.col(|ui| match &t.status {
                    Status::Error(e) => {
                        ui.colored_label(ui.visuals().error_fg_color, t.status.label()).on_hover_text(e);
                    }
                    Status::Analysing => {
                        ui.spinner();
                        ui.label("analysing");
                    }
                    other => {
                        ui.label(other.label());
                    }
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
        app.select(index);
        app.scroll_to_selected = false;
    }
}
