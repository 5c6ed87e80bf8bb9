//! "Tag library" progress: done/total bar, tracks per second, ETA, pause/resume, cancel; the
//! summary stays when the batch is over.

use eframe::egui;

use crate::app::MelotagApp;

/// Draws the batch bar (bottom of the window).
pub fn batch_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    let Some(batch) = app.batch() else { return };
    let (done, total, failed) = (batch.done, batch.total, batch.failed);
    let finished = batch.finished.clone();
    let paused = batch.is_paused();
    let cancelling = batch.cancelling;
    let rate = batch.rate();
    let eta = batch.eta();
    let mut pause_clicked = false;
    let mut cancel_clicked = false;
    let mut close_clicked = false;
    egui::Panel::bottom("batch").show(ui, |ui| {
        ui.horizontal(|ui| {
            let fraction = if total > 0 { done as f32 / total as f32 } else { 1.0 };
            ui.add(egui::ProgressBar::new(fraction).desired_width(260.0).text(format!("{done} / {total}")));
            match &finished {
                Some(summary) => {
                    ui.label(summary);
                    if ui.button("Close").clicked() {
                        close_clicked = true;
                    }
                }
                None => {
                    ui.label(format!("{rate:.2} tracks/s"));
                    let eta = match eta {
                        Some(d) => super::format_duration(d.as_secs_f64()),
                        None => "…".into(),
                    };
                    ui.label(format!("ETA {eta}"));
                    if failed > 0 {
                        ui.colored_label(ui.visuals().warn_fg_color, format!("{failed} failed"));
                    }
                    if cancelling {
                        ui.label("Cancelling…");
                    } else {
                        if ui.button(if paused { "Resume" } else { "Pause" }).clicked() {
                            pause_clicked = true;
                        }
                        if ui.button("Cancel").clicked() {
                            cancel_clicked = true;
                        }
                    }
                }
            }
        });
    });
    if let Some(b) = app.batch_mut() {
        if pause_clicked {
            b.set_paused(!paused);
        }
        if cancel_clicked {
            b.cancel();
        }
    }
    if close_clicked {
        app.jobs.retain(|j| j.kind != crate::app::JobKind::Batch);
    }
}
