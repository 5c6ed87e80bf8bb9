//! The write history: every batch melotag wrote (from the app or the command line), with its
//! time and file count, each undoable; and undo for the selected files.

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use crate::app::MelotagApp;
use crate::engine::tags::UndoTarget;

/// Draws the history window.
pub fn history_window(app: &mut MelotagApp, ctx: &egui::Context) {
    let mut open = app.write.history_open;
    let mut undo: Option<UndoTarget> = None;
    let mut reload = false;
    egui::Window::new("Write history").open(&mut open).default_size([760.0, 380.0]).show(ctx, |ui| {
        ui.horizontal(|ui| {
            let selected = app.selected_paths();
            let enabled = !selected.is_empty() && !app.write.undo_running;
            if ui.add_enabled(enabled, egui::Button::new(format!("Undo the selected files ({})", selected.len()))).clicked() {
                undo = Some(UndoTarget::Files(selected));
            }
            if ui.button("Refresh").clicked() {
                reload = true;
            }
            if app.write.undo_running {
                ui.spinner();
                ui.label("Undoing…");
            }
        });
        if let Some(s) = &app.write.last_summary {
            ui.label(s);
        }
        ui.separator();
        match &app.write.history {
            None => {
                ui.spinner();
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            Some(Ok(batches)) if batches.is_empty() => {
                ui.label("Nothing written yet.");
            }
            Some(Ok(batches)) => {
                TableBuilder::new(ui)
                    .striped(true)
                    .column(Column::exact(60.0))
                    .column(Column::exact(150.0))
                    .column(Column::exact(70.0))
                    .column(Column::exact(70.0))
                    .column(Column::remainder().clip(true))
                    .column(Column::exact(70.0))
                    .header(20.0, |mut h| {
                        for t in ["Batch", "When (UTC)", "Written", "Undone", "By", ""] {
                            h.col(|ui| {
                                ui.strong(t);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(22.0, batches.len(), |mut row| {
                            let b = &batches[row.index()];
                            row.col(|ui| {
                                ui.label(b.id.to_string());
                            });
                            row.col(|ui| {
                                ui.label(crate::engine::tags::undo::utc(b.started_at));
                            });
                            row.col(|ui| {
                                ui.label(b.written.to_string());
                            });
                            row.col(|ui| {
                                ui.label(b.undone.to_string());
                            });
                            row.col(|ui| {
                                ui.label(&b.label).on_hover_text(&b.label);
                            });
                            row.col(|ui| {
                                let can = b.written > 0 && !app.write.undo_running;
                                if ui.add_enabled(can, egui::Button::new("Undo")).on_hover_text(format!("Undo batch {}", b.id)).clicked() {
                                    undo = Some(UndoTarget::Batch(b.id));
                                }
                            });
                        });
                    });
            }
        }
    });
    app.write.history_open = open;
    if let Some(target) = undo {
        app.start_undo(target);
    }
    if reload {
        app.open_history();
    }
}
