//! "Evaluate models": `melotag eval --from-tags` on the open folder (every converted model, on a
//! background thread, see [`MelotagApp::start_eval`]), shown as macro ROC-AUC against inference
//! time per 29 s clip (one labelled point per model, radius by parameter count) and a table.

use eframe::egui;
use egui_plot::{Legend, Plot, PlotPoint, Points, Text};

use crate::app::{EvalFailure, MelotagApp};
use crate::engine::eval::EvalReport;

/// What the window says when no file of the folder has a usable GENRE or MOOD tag.
pub const NO_LABELS_TEXT: &str =
    "No file in this folder has a GENRE or MOOD tag matching the models' tags, so there is nothing to evaluate against.";

/// Draws the evaluation window (while `app.eval_open`).
pub fn eval_window(app: &mut MelotagApp, ctx: &egui::Context) {
    let mut open = app.eval_open;
    let mut rerun = false;
    egui::Window::new("Evaluate models").open(&mut open).default_size([680.0, 560.0]).resizable(true).show(ctx, |ui| {
        let Some(run) = &app.eval else {
            ui.label("No evaluation yet.");
            return;
        };
        ui.label(
            egui::RichText::new(format!(
                "{}: labels from the files' GENRE/MOOD tags, centre 29 s of each track, every converted model",
                run.folder.display()
            ))
            .weak(),
        );
        match &run.outcome {
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label(format!("Evaluating… {:.0} s", run.started.elapsed().as_secs_f64()));
                });
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(500));
            }
            Some(Err(EvalFailure::NoLabels)) => {
                ui.colored_label(ui.visuals().warn_fg_color, NO_LABELS_TEXT);
            }
            Some(Err(EvalFailure::Other(e))) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("Evaluation failed: {e}"));
            }
            Some(Ok(report)) if report.tracks.iter().all(|t| t.labels.is_empty()) => {
                ui.colored_label(ui.visuals().warn_fg_color, NO_LABELS_TEXT);
            }
            Some(Ok(report)) if report.models.iter().all(|m| m.macro_roc_auc.is_none()) => {
                ui.colored_label(
                    ui.visuals().warn_fg_color,
                    format!(
                        "{} labelled track(s), but no tag has both a positive and a negative track: add more labelled files.",
                        report.tracks.len()
                    ),
                );
            }
            Some(Ok(report)) => report_ui(ui, report),
        }
        if run.outcome.is_some() && ui.button("Run again").clicked() {
            rerun = true;
        }
    });
    app.eval_open = open;
    if rerun {
        app.start_eval();
    }
}

fn report_ui(ui: &mut egui::Ui, r: &EvalReport) {
    ui.label(format!("{} track(s), {} of {} tags evaluated", r.tracks.len(), r.evaluated_tags(), r.tags.len()));
    egui::Grid::new("eval_table").striped(true).num_columns(6).show(ui, |ui| {
        for h in ["Model", "Macro ROC-AUC", "Macro PR-AUC", "Tracks", "Evaluated tags", "ms / 29 s clip"] {
            ui.label(egui::RichText::new(h).strong());
        }
        ui.end_row();
        for m in &r.models {
            let f = |v: Option<f64>| v.map_or("–".to_string(), |v| format!("{v:.4}"));
            ui.label(&m.name).on_hover_text(format!("{} — {} parameters, {}", m.id, m.parameters, m.input));
            ui.label(f(m.macro_roc_auc)).on_hover_text(format!("{:?}", m.macro_roc_auc));
            ui.label(f(m.macro_pr_auc)).on_hover_text(format!("{:?}", m.macro_pr_auc));
            ui.label(m.tracks.to_string());
            ui.label(m.per_tag.len().to_string());
            ui.label(m.time_per_clip_ms.map_or("–".to_string(), |t| format!("{t:.1}")));
            ui.end_row();
        }
    });
    ui.add_space(6.0);
    let max_params = r.models.iter().map(|m| m.parameters).max().unwrap_or(1).max(1) as f64;
    let pts: Vec<(usize, f64, f64)> =
        r.models.iter().enumerate().filter_map(|(k, m)| Some((k, m.time_per_clip_ms?, m.macro_roc_auc?))).collect();
    if pts.is_empty() {
        return;
    }
    let max_t = pts.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let (lo, hi) = pts.iter().fold((1.0f64, 0.0f64), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    let label_dy = ((hi + 0.08) - (lo - 0.05).max(0.0)) * 0.05;
    Plot::new("eval_chart")
        .height(ui.available_height().clamp(200.0, 360.0))
        .legend(Legend::default())
        .x_axis_label("inference ms per 29 s clip")
        .y_axis_label("macro ROC-AUC")
        .include_x(0.0)
        .include_x(max_t * 1.2)
        .include_y((lo - 0.05).max(0.0))
        .include_y(hi + 0.08)
        .allow_scroll(false)
        .show(ui, |plot| {
            for (k, t, auc) in pts {
                let m = &r.models[k];
                let color = super::MODEL_COLORS[k % super::MODEL_COLORS.len()];
                let radius = 4.0 + 12.0 * (m.parameters as f64 / max_params).sqrt() as f32;
                plot.points(
                    Points::new(format!("{} ({} params)", m.name, m.parameters), vec![[t, auc]]).radius(radius).color(color).filled(true),
                );
                // Unnamed: the legend lists the points only.
                plot.text(
                    Text::new("", PlotPoint::new(t, auc + label_dy), format!("{}  {auc:.3}", m.name))
                        .color(color)
                        .anchor(egui::Align2::CENTER_BOTTOM),
                );
            }
        });
    ui.label(egui::RichText::new("Point radius: parameter count. Time: inference only, one thread, this machine.").small().weak());
}
