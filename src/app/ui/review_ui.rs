//! The review of a write: per file, per field, old → new, a checkbox per file (all on), the
//! files that keep their tags and why, and those that cannot be written; the policy controls
//! beside it re-plan live. "Write" applies the checked files with progress and cancel.

use eframe::egui;
use egui_extras::{Column, TableBuilder};

use super::settings_ui::policy_ui;
use crate::app::MelotagApp;
use crate::app::write::ReviewState;
use crate::engine::tags::{FilePlan, Role};

/// "old -> new" for one role of a plan, or the values a field keeps and why ("" otherwise).
fn role_change(plan: &FilePlan, role: Role) -> (String, bool) {
    let show = |v: &[String]| if v.is_empty() { "(none)".to_string() } else { v.join("; ") };
    let Ok(p) = &plan.outcome else { return (String::new(), false) };
    if let Some(c) = p.changes.iter().find(|c| c.role == role) {
        return (format!("{} -> {}", show(&c.old_values), show(&c.new_values)), false);
    }
    match p.kept.iter().find(|k| k.role == role && k.why == crate::engine::tags::Kept::HasValue) {
        Some(k) => (format!("{} (kept: already tagged)", show(&k.values)), true),
        None => (String::new(), false),
    }
}

/// The other fields a write changes (grouping: instruments, voices, eras, feel; the scores
/// field), as "FIELD: old -> new"; the scores' JSON is only named.
fn other_changes(plan: &FilePlan) -> String {
    let show = |v: &[String]| if v.is_empty() { "(none)".to_string() } else { v.join("; ") };
    let Ok(p) = &plan.outcome else { return String::new() };
    p.changes
        .iter()
        .filter(|c| !matches!(c.role, Role::Genre | Role::Mood))
        .map(|c| match c.role {
            Role::Scores => format!("{}: scores updated", c.field),
            _ => format!("{}: {} -> {}", c.field, show(&c.old_values), show(&c.new_values)),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A change cell: kept values are shown dimmed.
fn change_cell(ui: &mut egui::Ui, (text, kept): (String, bool)) {
    if kept {
        ui.label(egui::RichText::new(text).weak());
    } else {
        ui.label(text);
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Draws the review window.
pub fn review_window(app: &mut MelotagApp, ctx: &egui::Context) {
    let mut open = true;
    let mut write_clicked = false;
    let mut cancel_clicked = false;
    let mut undo_clicked = false;
    let mut settings_changed = false;
    let mut close_clicked = false;
    egui::Window::new("Write tags")
        .open(&mut open)
        .default_pos(egui::pos2(120.0, 70.0))
        .default_size([1000.0, 620.0])
        .resizable(true)
        .show(ctx, |ui| {
            settings_changed = policy_ui(&mut app.write.settings, ui);
            ui.separator();
            let analysing = {
                let Some(r) = &app.write.review else { return };
                r.tracks
                    .iter()
                    .filter(|&&i| !matches!(app.tracks[i].status, crate::app::Status::Done | crate::app::Status::Error(_)))
                    .count()
            };
            let Some(r) = &mut app.write.review else { return };
            let n = r.tracks.len();
            // Status line.
            ui.horizontal(|ui| match &r.state {
                ReviewState::Preparing => {
                    ui.spinner();
                    if r.tags_read() < n {
                        ui.label(format!("Reading tags… {} of {n}", r.tags_read()));
                    } else if analysing > 0 {
                        ui.label(format!("Analysing {analysing} track(s) first…"));
                    } else {
                        ui.label("Planning…");
                    }
                }
                ReviewState::Ready => {
                    let changing = r.changing().len();
                    let errors = r.plans.iter().filter(|p| p.outcome.is_err()).count();
                    ui.label(egui::RichText::new(format!("{} of {n} file(s) will change", r.checked_changes())).strong());
                    ui.label(format!("· {} unchanged · {errors} cannot be written", n - changing - errors));
                    if !r.planned() {
                        ui.spinner();
                    }
                }
                ReviewState::Writing => {
                    ui.add(
                        egui::ProgressBar::new((r.written + r.failed) as f32 / r.to_write.max(1) as f32)
                            .desired_width(240.0)
                            .show_percentage(),
                    );
                    ui.label(format!("Writing… {} written, {} failed", r.written, r.failed));
                }
                ReviewState::Done(summary) => {
                    ui.label(egui::RichText::new(summary).strong());
                }
            });
            if r.plans.is_empty() {
                return;
            }
            ui.separator();
            // The files that change: one row each, checkbox first.
            let changing = r.changing();
            let writing = r.writing();
            // A column for grouping and scores changes, when the categories or settings make any.
            let other = changing.iter().any(|&i| r.plans[i].changes().iter().any(|c| !matches!(c.role, Role::Genre | Role::Mood)));
            ui.push_id("changing", |ui| {
                let height = (ui.available_height() - 160.0).max(120.0);
                TableBuilder::new(ui)
                    .striped(true)
                    .resizable(true)
                    .max_scroll_height(height)
                    .column(Column::exact(28.0))
                    .column(Column::initial(if other { 220.0 } else { 260.0 }).clip(true))
                    .column(Column::initial(if other { 240.0 } else { 300.0 }).clip(true))
                    .column(Column::initial(if other { 160.0 } else { 200.0 }).clip(true))
                    .columns(Column::initial(180.0).clip(true), usize::from(other))
                    .column(Column::remainder().clip(true))
                    .header(20.0, |mut h| {
                        let titles: &[&str] = if other {
                            &["", "File", "Genre", "Mood", "Other fields", "Result"]
                        } else {
                            &["", "File", "Genre", "Mood", "Result"]
                        };
                        for t in titles {
                            h.col(|ui| {
                                ui.strong(*t);
                            });
                        }
                    })
                    .body(|body| {
                        body.rows(22.0, changing.len(), |mut row| {
                            let i = changing[row.index()];
                            let plan = &r.plans[i];
                            row.col(|ui| {
                                ui.add_enabled(!writing, egui::Checkbox::new(&mut r.checked[i], ""))
                                    .on_hover_text(format!("Write {}", file_name(&plan.path)));
                            });
                            row.col(|ui| {
                                ui.label(file_name(&plan.path)).on_hover_text(plan.path.display().to_string());
                            });
                            row.col(|ui| change_cell(ui, role_change(plan, Role::Genre)));
                            row.col(|ui| change_cell(ui, role_change(plan, Role::Mood)));
                            if other {
                                row.col(|ui| {
                                    let text = other_changes(plan);
                                    ui.label(&text).on_hover_text(&text);
                                });
                            }
                            row.col(|ui| match &r.results[i] {
                                Some(Ok(())) => {
                                    ui.label("written");
                                }
                                Some(Err(e)) => {
                                    ui.colored_label(ui.visuals().error_fg_color, format!("not written: {e}")).on_hover_text(e);
                                }
                                None => {}
                            });
                        });
                    });
            });
            // Files left as they are, and why; files that cannot be written. Only the rows in
            // view are laid out: a review of a whole library can hold thousands of each.
            let kept: Vec<&FilePlan> = r.plans.iter().filter(|p| p.outcome.as_ref().is_ok_and(|o| o.changes.is_empty())).collect();
            let row_height = ui.text_style_height(&egui::TextStyle::Body);
            egui::CollapsingHeader::new(format!("Unchanged ({})", kept.len())).id_salt("kept").show(ui, |ui| {
                egui::ScrollArea::vertical().max_height(120.0).id_salt("kept-scroll").show_rows(ui, row_height, kept.len(), |ui, rows| {
                    // One line per row, as show_rows assumes.
                    ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                    for p in &kept[rows] {
                        let why: Vec<String> = p
                            .outcome
                            .as_ref()
                            .map(|o| o.kept.iter().map(|k| format!("{} {} ({})", k.field, k.why.describe(), k.values.join("; "))).collect())
                            .unwrap_or_default();
                        ui.label(format!("{} — {}", file_name(&p.path), why.join(", ")));
                    }
                });
            });
            let failed: Vec<&FilePlan> = r.plans.iter().filter(|p| p.outcome.is_err()).collect();
            egui::CollapsingHeader::new(format!("Cannot be written ({})", failed.len()))
                .id_salt("failed")
                .default_open(!failed.is_empty())
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().max_height(120.0).id_salt("failed-scroll").show_rows(
                        ui,
                        row_height,
                        failed.len(),
                        |ui, rows| {
                            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                            for p in &failed[rows] {
                                if let Err(e) = &p.outcome {
                                    ui.colored_label(ui.visuals().warn_fg_color, format!("{} — {e}", file_name(&p.path)));
                                }
                            }
                        },
                    );
                });
            ui.separator();
            ui.horizontal(|ui| {
                let count = r.checked_changes();
                let can = matches!(r.state, ReviewState::Ready) && r.planned() && count > 0;
                if ui.add_enabled(can, egui::Button::new(format!("Write {count} file(s)"))).clicked() {
                    write_clicked = true;
                }
                if writing && ui.button("Cancel").clicked() {
                    cancel_clicked = true;
                }
                if matches!(r.state, ReviewState::Done(_)) && ui.button("Undo this write").clicked() {
                    undo_clicked = true;
                }
                if !writing && ui.button("Close").clicked() {
                    close_clicked = true;
                }
            });
        });
    if settings_changed {
        app.settings_changed();
    }
    if write_clicked {
        app.start_write();
    }
    if cancel_clicked && let Some(r) = &app.write.review {
        r.cancel();
    }
    if undo_clicked && let Some(batch) = app.write.review.as_ref().and_then(|r| r.batch) {
        app.start_undo(crate::engine::tags::UndoTarget::Batch(batch));
    }
    if !open || close_clicked {
        app.close_review();
    }
}
