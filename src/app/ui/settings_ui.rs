//! The write settings a user keeps (the config file, shared with `melotag write`): the policy
//! controls (also shown beside the review), the genre rename map, tags never written and values
//! always left alone. Every change is saved a moment later.

use eframe::egui;

use crate::app::MelotagApp;
use crate::engine::tags::{Category, MergeMode, WriteSettings};

/// What a merge mode means, in a few words.
pub fn merge_label(m: MergeMode) -> &'static str {
    match m {
        MergeMode::Fill => "Fill: only empty fields (keep the file's own tags)",
        MergeMode::Merge => "Merge: keep existing values, add new ones",
        MergeMode::Replace => "Replace: the new values only",
    }
}

/// The selection-policy controls; returns whether anything changed.
pub fn policy_ui(s: &mut WriteSettings, ui: &mut egui::Ui) -> bool {
    let before = s.clone();
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("Existing tags");
        egui::ComboBox::from_id_salt("merge-mode")
            .selected_text(merge_label(s.merge))
            .width(330.0)
            .show_ui(ui, |ui| {
                for m in MergeMode::ALL {
                    ui.selectable_value(&mut s.merge, m, merge_label(m));
                }
            })
            .response
            .labelled_by(label.id);
        ui.separator();
        ui.add(egui::Slider::new(&mut s.policy.ratio, 0.0..=1.0).step_by(0.01).text("of the best score"))
            .on_hover_text("A tag is kept when its score is at least this fraction of the track's best score");
        ui.add(egui::Slider::new(&mut s.policy.floor, 0.0..=0.5).step_by(0.01).text("minimum score"));
    });
    ui.horizontal_wrapped(|ui| {
        ui.add(egui::Slider::new(&mut s.policy.max_genres, 0..=10).text("genres"));
        ui.add(egui::Slider::new(&mut s.policy.max_moods, 0..=10).text("moods"));
        ui.add(egui::Slider::new(&mut s.policy.max_other, 0..=10).text("of each other kind"));
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("Write:");
        for c in Category::ALL {
            let mut on = s.policy.categories.contains(&c);
            let text = match c {
                Category::Genre => "genres",
                Category::Mood => "moods",
                Category::Instrument => "instruments",
                Category::Voice => "voices",
                Category::Era => "eras",
                Category::Feel => "tempo & feel",
            };
            if ui.checkbox(&mut on, text).changed() {
                if on {
                    s.policy.categories.push(c);
                } else {
                    s.policy.categories.retain(|&x| x != c);
                }
            }
        }
        ui.label(egui::RichText::new("(the others go to the grouping field)").weak());
        ui.separator();
        ui.checkbox(&mut s.per_album, "one genre set per album")
            .on_hover_text("Tracks sharing an album (album artist + album, else their folder) get the tags of the album's mean scores");
        ui.checkbox(&mut s.write_scores, "store raw scores").on_hover_text("Also write every score as compact JSON in one custom field");
    });
    *s != before
}

/// A comma-separated list as one text field.
fn list_ui(ui: &mut egui::Ui, label: &str, hint: &str, list: &mut Vec<String>, text: &mut String) -> bool {
    ui.label(label);
    let response = ui.add(egui::TextEdit::singleline(text).hint_text(hint).desired_width(f32::INFINITY));
    if response.changed() {
        *list = text.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        return true;
    }
    if !response.has_focus() {
        *text = list.join(", ");
    }
    false
}

/// The settings window.
pub fn settings_window(app: &mut MelotagApp, ctx: &egui::Context) {
    let mut open = app.write.settings_open;
    let mut changed = false;
    egui::Window::new("Write settings").open(&mut open).default_width(720.0).show(ctx, |ui| {
        match &app.options.config_path {
            Some(p) => ui.label(egui::RichText::new(format!("Saved in {} (also used by `melotag write`)", p.display())).weak()),
            None => ui.label("Not saved (no config folder)."),
        };
        if let Some(e) = &app.write.config_error {
            ui.colored_label(ui.visuals().error_fg_color, e);
        }
        ui.separator();
        changed |= policy_ui(&mut app.write.settings, ui);
        ui.separator();
        ui.label(egui::RichText::new("Spelling").strong());
        let mut remove = None;
        let rename: Vec<(String, String)> = app.write.settings.rename.iter().map(|(a, b)| (a.clone(), b.clone())).collect();
        for (from, to) in &rename {
            ui.horizontal(|ui| {
                ui.label(format!("{from} ->"));
                let mut value = to.clone();
                if ui.add(egui::TextEdit::singleline(&mut value).desired_width(200.0)).changed() {
                    app.write.settings.rename.insert(from.clone(), value);
                    changed = true;
                }
                if ui.button("Remove").clicked() {
                    remove = Some(from.clone());
                }
            });
        }
        if let Some(from) = remove {
            app.write.settings.rename.remove(&from);
            changed = true;
        }
        ui.horizontal(|ui| {
            let mut pair = std::mem::take(&mut app.write.rename_draft);
            ui.add(egui::TextEdit::singleline(&mut pair.0).hint_text("tag, e.g. Hip-Hop").desired_width(160.0));
            ui.label("->");
            ui.add(egui::TextEdit::singleline(&mut pair.1).hint_text("written as, e.g. Hip Hop").desired_width(160.0));
            if ui.add_enabled(!pair.0.trim().is_empty() && !pair.1.trim().is_empty(), egui::Button::new("Add")).clicked() {
                app.write.settings.rename.insert(pair.0.trim().to_string(), pair.1.trim().to_string());
                pair = Default::default();
                changed = true;
            }
            app.write.rename_draft = pair;
        });
        ui.separator();
        let (mut never, mut keep) = app
            .write
            .lists_draft
            .take()
            .unwrap_or_else(|| (app.write.settings.never_write.join(", "), app.write.settings.leave_alone.join(", ")));
        changed |= list_ui(ui, "Never write these tags", "e.g. Sexy, Party", &mut app.write.settings.never_write, &mut never);
        changed |= list_ui(
            ui,
            "Never remove these values from a file",
            "e.g. Christmas, Soundtrack",
            &mut app.write.settings.leave_alone,
            &mut keep,
        );
        app.write.lists_draft = Some((never, keep));
    });
    app.write.settings_open = open;
    if changed {
        app.settings_changed();
    }
}
