//! The desktop app's panels, one file each: [`library_ui`] (the track table), [`track_ui`]
//! (spectrogram, taggram, playback, tag bars), [`batch_ui`] (batch progress), [`review_ui`]
//! (the review of a write), [`history_ui`] (write batches, undo), [`settings_ui`] (the write
//! settings), [`similar_ui`] (similar tracks, play queue, playlists), [`eval_ui`] (model
//! evaluation); the toolbar and the empty state are here.

pub mod batch_ui;
pub mod eval_ui;
pub mod history_ui;
pub mod library_ui;
pub mod review_ui;
pub mod settings_ui;
pub mod similar_ui;
pub mod track_ui;

use std::sync::OnceLock;

use eframe::egui;

use crate::app::MelotagApp;
use crate::engine::analysis::Mode;

/// The magma colour map as a 256-entry table (from the polynomial fit of matplotlib's magma).
pub fn magma() -> &'static [egui::Color32; 256] {
    static LUT: OnceLock<[egui::Color32; 256]> = OnceLock::new();
    LUT.get_or_init(|| {
        const C: [[f64; 3]; 7] = [
            [-0.002136485053939582, -0.000749655052795221, -0.005386127855323933],
            [0.2516605407371642, 0.6775232436837668, 2.494026599312351],
            [8.353717279216625, -3.577719514958484, 0.3144679030132573],
            [-27.66873308576866, 14.26473078096533, -13.64921318813922],
            [52.17613981234068, -27.94360607168351, 12.94416944238394],
            [-50.76852536473588, 29.04658282127291, 4.23415299384598],
            [18.65570506591883, -11.48977351997711, -5.601961508734096],
        ];
        std::array::from_fn(|i| {
            let t = i as f64 / 255.0;
            let ch = |k: usize| {
                let v = C.iter().rev().fold(0.0, |acc, c| acc * t + c[k]);
                (v.clamp(0.0, 1.0) * 255.0).round() as u8
            };
            egui::Color32::from_rgb(ch(0), ch(1), ch(2))
        })
    })
}

/// Open button, folder, model and mode switches, "Tag library", filter box.
pub fn toolbar_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    egui::Panel::top("toolbar").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            if ui.button("Open folder…").clicked() {
                app.pick_folder();
            }
            if let Some(folder) = &app.folder {
                ui.label(egui::RichText::new(folder.display().to_string()).strong())
                    .on_hover_text("Drop a folder on the window to open it");
            }
            ui.separator();
            let current = app.manifest().map(|m| m.name.clone()).unwrap_or_else(|| "no model".into());
            let mut model_id = app.persisted.model_id.clone();
            let model_label = ui.label("Model");
            egui::ComboBox::from_id_salt("model")
                .selected_text(current)
                .show_ui(ui, |ui| {
                    for m in &app.manifests {
                        let ready = m.is_ready();
                        let label = if ready { m.name.clone() } else { format!("{} (not converted)", m.name) };
                        ui.selectable_value(&mut model_id, m.id.clone(), label).on_hover_text(&m.description);
                    }
                    for e in &app.manifest_errors {
                        ui.add_enabled(false, egui::Label::new("(unreadable manifest)")).on_disabled_hover_text(e);
                    }
                })
                .response
                .labelled_by(model_label.id);
            let mut mode = app.persisted.mode;
            let mode_label = ui.label("Analyse");
            egui::ComboBox::from_id_salt("mode")
                .selected_text(match mode {
                    Mode::Center => "Centre 29 s",
                    Mode::Full => "Whole track",
                })
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut mode, Mode::Center, "Centre 29 s")
                        .on_hover_text("One window from the middle of the track (the upstream recipe)");
                    ui.selectable_value(&mut mode, Mode::Full, "Whole track")
                        .on_hover_text("Every window of the track, averaged; shows the taggram");
                })
                .response
                .labelled_by(mode_label.id);
            if model_id != app.persisted.model_id || mode != app.persisted.mode {
                app.set_model_mode(model_id, mode);
            }
            ui.separator();
            let can_batch = app.folder.is_some() && !app.tracks.is_empty() && !app.batch_running();
            if ui
                .add_enabled(can_batch, egui::Button::new("Tag library"))
                .on_hover_text("Analyse every track not tagged yet with this model and mode")
                .clicked()
            {
                app.start_batch();
            }
            ui.separator();
            let can_write = app.can_write() && app.manifest().is_some();
            let selected = app.selection.len().max(usize::from(app.selected.is_some()));
            if ui
                .add_enabled(can_write && selected > 0, egui::Button::new("Write tags…"))
                .on_hover_text("Review the tags melotag would write into the selected tracks, then write them")
                .on_disabled_hover_text(if can_write {
                    "Select tracks first (click, Shift/Ctrl-click, Ctrl+A)"
                } else {
                    "Writing is disabled (no data folder for the undo journal)"
                })
                .clicked()
            {
                app.open_review();
            }
            if ui
                .add_enabled(can_write && !app.write.undo_running, egui::Button::new("Undo last write"))
                .on_hover_text("Restore the files of the last write batch (the exact original bytes when nothing changed them since)")
                .clicked()
            {
                app.start_undo(crate::engine::tags::UndoTarget::LastBatch);
            }
            if ui.add_enabled(can_write, egui::Button::new("History…")).clicked() {
                app.open_history();
            }
            if ui.button("Settings…").on_hover_text("What melotag writes: policy, spellings, tags to never write or leave alone").clicked()
            {
                app.write.settings_open = true;
            }
            ui.separator();
            if ui
                .add_enabled(app.folder.is_some(), egui::Button::new("Evaluate models"))
                .on_hover_text("Score every converted model against the GENRE/MOOD tags already in this folder's files")
                .clicked()
            {
                app.eval_open = true;
                if app.eval.as_ref().is_none_or(|e| Some(&e.folder) != app.folder.as_ref()) {
                    app.start_eval();
                }
            }
            ui.separator();
            let filter =
                ui.add(egui::TextEdit::singleline(&mut app.filter).hint_text("Filter: path, title, artist, tag").desired_width(220.0));
            if filter.changed() {
                app.invalidate_view();
            }
            if app.is_scanning() {
                ui.spinner();
                ui.label(format!("Scanning… {} files", app.track_count()));
            }
            if let Some(msg) = &app.message {
                ui.colored_label(ui.visuals().warn_fg_color, msg);
            }
            if let Some(s) = &app.write.last_summary {
                ui.label(s);
            }
        });
    });
}

/// Shown when no folder is open.
pub fn empty_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    egui::CentralPanel::default().show(ui, |ui| {
        ui.vertical_centered(|ui| {
            ui.add_space(ui.available_height() / 3.0);
            ui.heading("No music folder open");
            ui.label("Open a folder, or drop one on this window.");
            ui.add_space(8.0);
            if ui.button("Open a music folder…").clicked() {
                app.pick_folder();
            }
        });
    });
}

/// `m:ss` (or `h:mm:ss`).
pub fn format_duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 3600 { format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) } else { format!("{}:{:02}", s / 60, s % 60) }
}

/// One colour per model wherever models are shown side by side (compare bars, eval chart).
pub(crate) const MODEL_COLORS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(86, 156, 214),
    egui::Color32::from_rgb(230, 145, 56),
    egui::Color32::from_rgb(106, 190, 120),
    egui::Color32::from_rgb(200, 110, 200),
    egui::Color32::from_rgb(220, 90, 90),
    egui::Color32::from_rgb(200, 200, 90),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magma_runs_dark_to_light() {
        let lut = magma();
        assert!(lut[0].r() < 10 && lut[0].g() < 10 && lut[0].b() < 20, "{:?}", lut[0]);
        assert!(lut[255].r() > 240 && lut[255].g() > 240 && lut[255].b() > 170, "{:?}", lut[255]);
        assert_eq!(format_duration(245.4), "4:05");
        assert_eq!(format_duration(3725.0), "1:02:05");
    }
}
