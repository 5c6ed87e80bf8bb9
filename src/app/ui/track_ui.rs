//! The selected track: playback controls, the mel-spectrogram (time axis in seconds, playhead,
//! click to seek), the taggram in full mode, and the 50 scores as bars grouped by category.

use eframe::egui;
use egui_plot::{Bar, BarChart, Legend, Plot, PlotPoint, Text, VLine};

use crate::app::{MelotagApp, Status};
use crate::engine::tags::Category;
use crate::engine::tags::policy::lookup;

/// Category of a model tag for the bar chart ("other" when the tag table does not know it).
pub fn category_name(tag: &str) -> &'static str {
    lookup(tag).map(|(c, _)| c.as_str()).unwrap_or("other")
}

const GROUPS: [(Option<Category>, &str, egui::Color32); 5] = [
    (Some(Category::Genre), "genre", egui::Color32::from_rgb(86, 156, 214)),
    (Some(Category::Mood), "mood", egui::Color32::from_rgb(230, 145, 56)),
    (Some(Category::Instrument), "instrument / voice", egui::Color32::from_rgb(106, 190, 120)),
    (Some(Category::Era), "era", egui::Color32::from_rgb(200, 110, 200)),
    (None, "other", egui::Color32::GRAY),
];

/// Draws the selected track's panel.
pub fn track_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    let Some(index) = app.selected else { return };
    let Some(track) = app.tracks.get(index).cloned() else { return };
    let manifest = app.manifest();
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.heading(&track.title);
        if !track.artist.is_empty() {
            ui.label(format!("— {}", track.artist));
        }
        ui.separator();
        playback_controls(app, ui);
    });

    // Spectrogram (+ taggram) with a shared time axis.
    let duration = app.track_view.as_ref().map(|tv| tv.spec.duration_s).filter(|d| *d > 0.0).or(track.duration_s).unwrap_or(0.0);
    let position = app.playback.position_s();
    let seek = spectrogram_ui(app, ui, duration, position);
    if let Some(s) = seek {
        app.playback.seek(s);
    }
    if let Some(a) = &track.analysis
        && let (Some(windows), Some(starts), Some(m)) = (&a.windows, &a.window_starts_s, &manifest)
    {
        let window_s = m.frontend.window_samples as f64 / m.frontend.sample_rate_hz as f64;
        let window_s = match m.frontend.windowing {
            crate::engine::features::Windowing::Samples => window_s,
            crate::engine::features::Windowing::Frames => {
                (m.frontend.frames_per_window * m.frontend.hop_samples) as f64 / m.frontend.sample_rate_hz as f64
            }
        };
        taggram_ui(ui, &m.tags, windows, starts, window_s, duration);
    }

    ui.add_space(4.0);
    let mut compare = app.persisted.compare_models;
    ui.checkbox(&mut compare, "Compare models")
        .on_hover_text("Every converted model's scores for this track, side by side (missing ones are analysed)");
    app.persisted.compare_models = compare;
    if compare {
        let models = app.compare_scores();
        compare_bars_ui(ui, &models);
        return;
    }
    match (&track.status, &track.analysis, &manifest) {
        (Status::Done, Some(a), Some(m)) => {
            let mut ranked: Vec<(usize, f32)> = a.scores.iter().copied().enumerate().collect();
            ranked.sort_by(|x, y| y.1.total_cmp(&x.1));
            ui.horizontal_wrapped(|ui| {
                ui.label("Top tags:");
                for &(i, s) in ranked.iter().take(5) {
                    ui.label(egui::RichText::new(format!("{} {:.3}", m.tags[i], s)).strong()).on_hover_text(category_name(&m.tags[i]));
                }
            });
            tag_bars_ui(ui, &m.tags, &a.scores);
        }
        (Status::Error(e), _, _) => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Analysis failed: {e}"));
        }
        (Status::Queued | Status::Analysing | Status::NotAnalysed, _, _) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Analysing…");
            });
        }
        _ => {}
    }
}

fn playback_controls(app: &mut MelotagApp, ui: &mut egui::Ui) {
    let available = app.playback.is_available();
    let loaded = app.playback.is_loaded();
    let label = if app.playback.is_playing() { "Pause" } else { "Play" };
    let response = ui.add_enabled(available && loaded, egui::Button::new(label));
    let response = match app.playback.unavailable_reason() {
        Some(reason) => response.on_disabled_hover_text(format!("Playback unavailable: {reason}")),
        None => response.on_disabled_hover_text("Loading the audio…"),
    };
    if response.clicked() {
        app.playback.toggle();
    }
    if loaded {
        ui.label(format!("{} / {}", super::format_duration(app.playback.position_s()), super::format_duration(app.playback.duration_s())));
    } else if let Some(reason) = app.playback.unavailable_reason() {
        ui.label(egui::RichText::new("no audio output").weak()).on_hover_text(reason);
    }
    // Space toggles playback when no text field has the keyboard.
    if available && loaded && !ui.ctx().egui_wants_keyboard_input() && ui.input(|i| i.key_pressed(egui::Key::Space)) {
        app.playback.toggle();
    }
}

/// The spectrogram image, its time axis and the playhead; returns a seek position on click.
fn spectrogram_ui(app: &mut MelotagApp, ui: &mut egui::Ui, duration: f64, position: f64) -> Option<f64> {
    let ctx = ui.ctx().clone();
    let Some(tv) = &mut app.track_view else { return None };
    let height = 160.0;
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::click_and_drag());
    let painter = ui.painter_at(rect.expand(1.0));
    painter.rect_filled(rect, 0.0, egui::Color32::from_gray(16));
    if let Some(e) = &tv.spec.error {
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            format!("Cannot decode: {e}"),
            egui::FontId::proportional(14.0),
            ui.visuals().error_fg_color,
        );
        return None;
    }
    let columns = tv.spec.columns;
    if let Some(texture) = tv.spec.texture(&ctx) {
        painter.image(texture.id(), rect, egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)), egui::Color32::WHITE);
    } else {
        painter.text(rect.center(), egui::Align2::CENTER_CENTER, "Decoding…", egui::FontId::proportional(14.0), egui::Color32::GRAY);
    }
    if columns > 0 && !tv.spec.done {
        // The part not computed yet.
        let x = rect.left() + rect.width() * tv.spec.received as f32 / columns as f32;
        painter.rect_filled(egui::Rect::from_min_max(egui::pos2(x, rect.top()), rect.max), 0.0, egui::Color32::from_gray(24));
    }
    // Time axis.
    let axis = egui::Rect::from_min_size(rect.left_bottom(), egui::vec2(width, 16.0));
    ui.allocate_rect(axis, egui::Sense::hover());
    if duration > 0.0 {
        let step = nice_step(duration, (width / 70.0).max(2.0) as f64);
        let mut t = 0.0;
        let text = ui.visuals().text_color();
        while t <= duration + 1e-9 {
            let x = rect.left() + (t / duration) as f32 * width;
            ui.painter().line_segment([egui::pos2(x, axis.top()), egui::pos2(x, axis.top() + 4.0)], egui::Stroke::new(1.0, text));
            ui.painter().text(
                egui::pos2(x + 2.0, axis.top() + 3.0),
                egui::Align2::LEFT_TOP,
                format!("{t:.0} s"),
                egui::FontId::proportional(10.0),
                text,
            );
            t += step;
        }
        // Playhead.
        if app.playback.is_loaded() {
            let x = rect.left() + (position / duration).clamp(0.0, 1.0) as f32 * width;
            painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], egui::Stroke::new(2.0, egui::Color32::WHITE));
        }
        if let Some(p) = response.hover_pos() {
            let t = ((p.x - rect.left()) / width) as f64 * duration;
            response.clone().on_hover_text(format!("{t:.1} s — click to play from here"));
        }
        if (response.clicked() || response.drag_stopped())
            && app.playback.is_loaded()
            && let Some(p) = response.interact_pointer_pos()
        {
            return Some(((p.x - rect.left()) / width).clamp(0.0, 1.0) as f64 * duration);
        }
    }
    if let (Some(first), Some(done)) = (tv.spec.first_draw, tv.spec.complete) {
        response.on_hover_text(format!(
            "first columns after {:.0} ms, complete after {:.0} ms",
            first.as_secs_f64() * 1e3,
            done.as_secs_f64() * 1e3
        ));
    }
    None
}

/// A round tick step giving about `target` ticks over `span` seconds.
fn nice_step(span: f64, target: f64) -> f64 {
    let raw = span / target;
    [1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0].into_iter().find(|&s| s >= raw).unwrap_or(1200.0)
}

/// Tags × time: one row per tag (in category order), one cell per analysis window.
fn taggram_ui(ui: &mut egui::Ui, tags: &[String], windows: &[Vec<f32>], starts: &[f64], window_s: f64, duration: f64) {
    if windows.is_empty() || duration <= 0.0 {
        return;
    }
    let order = grouped_order(tags);
    ui.label(egui::RichText::new("Taggram: tags (genre, mood, instrument/voice, era) × time — hover for scores").small().weak());
    let row_h = 3.0;
    let width = ui.available_width();
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, row_h * order.len() as f32), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 0.0, egui::Color32::BLACK);
    let max = windows.iter().flatten().copied().fold(1e-6f32, f32::max);
    let lut = super::magma();
    for (w, row) in windows.iter().enumerate() {
        let t0 = starts.get(w).copied().unwrap_or(0.0);
        let x0 = rect.left() + (t0 / duration).clamp(0.0, 1.0) as f32 * width;
        let x1 = rect.left() + ((t0 + window_s) / duration).clamp(0.0, 1.0) as f32 * width;
        for (r, &tag) in order.iter().enumerate() {
            let v = row.get(tag).copied().unwrap_or(0.0) / max;
            let y = rect.top() + r as f32 * row_h;
            painter.rect_filled(
                egui::Rect::from_min_max(egui::pos2(x0, y), egui::pos2(x1, y + row_h)),
                0.0,
                lut[(v.clamp(0.0, 1.0) * 255.0) as usize],
            );
        }
    }
    if let Some(p) = response.hover_pos() {
        let r = ((p.y - rect.top()) / row_h) as usize;
        let t = ((p.x - rect.left()) / width) as f64 * duration;
        let w = starts.iter().rposition(|&s| s <= t).unwrap_or(0);
        if let (Some(&tag), Some(row)) = (order.get(r), windows.get(w)) {
            response.on_hover_text(format!("{} at {:.0} s: {:.3}", tags[tag], starts[w], row[tag]));
        }
    }
}

/// Tag indices grouped genre, mood, instrument/voice, era, other (model order inside a group).
fn grouped_order(tags: &[String]) -> Vec<usize> {
    let mut order = Vec::with_capacity(tags.len());
    for (cat, _, _) in GROUPS {
        for (i, t) in tags.iter().enumerate() {
            if lookup(t).map(|(c, _)| c) == cat {
                order.push(i);
            }
        }
    }
    order
}

/// The scores as bars, grouped and coloured by category; hovering a bar shows the exact score.
fn tag_bars_ui(ui: &mut egui::Ui, tags: &[String], scores: &[f32]) {
    let order = grouped_order(tags);
    let mut x = 0usize;
    let mut charts = Vec::new();
    let mut names: Vec<String> = Vec::new();
    for (cat, label, color) in GROUPS {
        let bars: Vec<Bar> = order
            .iter()
            .filter(|&&i| lookup(&tags[i]).map(|(c, _)| c) == cat)
            .map(|&i| {
                let bar = Bar::new(x as f64, scores.get(i).copied().unwrap_or(0.0) as f64).name(&tags[i]).width(0.8).fill(color);
                names.push(tags[i].clone());
                x += 1;
                bar
            })
            .collect();
        if !bars.is_empty() {
            charts.push(
                BarChart::new(label, bars).color(color).element_formatter(Box::new(|bar, _| format!("{}: {:.4}", bar.name, bar.value))),
            );
        }
    }
    let height = ui.available_height().clamp(120.0, 260.0);
    static_bars_plot("tag_bars", height)
        .include_y(scores.iter().copied().fold(0.05f32, f32::max) as f64 * 1.1)
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 { names.get(i as usize).cloned().unwrap_or_default() } else { String::new() }
        })
        .show(ui, |plot| {
            for chart in charts {
                plot.bar_chart(chart);
            }
        });
}

/// "Compare models": per tag (grouped genre / mood / instrument-voice / era as the single bars)
/// one bar per model, one colour per model with a legend; the exact score on hover. Models
/// still running show as "analysing" under the chart.
fn compare_bars_ui(ui: &mut egui::Ui, models: &[(std::sync::Arc<crate::engine::model::Manifest>, crate::app::CompareState)]) {
    use crate::app::CompareState;
    let Some(tags) = models.first().map(|(m, _)| m.tags.clone()) else {
        ui.label(format!("No converted model to compare: {}.", crate::engine::paths::setup_hint()));
        return;
    };
    ui.horizontal_wrapped(|ui| {
        for (k, (m, state)) in models.iter().enumerate() {
            let color = super::MODEL_COLORS[k % super::MODEL_COLORS.len()];
            match state {
                CompareState::Done(scores) => {
                    let best = (0..scores.len()).max_by(|&i, &j| scores[i].total_cmp(&scores[j]));
                    let top = best.and_then(|i| Some(format!(" — {} {:.3}", m.tags.get(i)?, scores[i]))).unwrap_or_default();
                    ui.colored_label(color, format!("{}{top}", m.name))
                }
                CompareState::Pending => {
                    ui.spinner();
                    ui.label(format!("{}: analysing…", m.name))
                }
                CompareState::Error(e) => ui.colored_label(ui.visuals().error_fg_color, format!("{}: {e}", m.name)),
            };
        }
    });
    let order = grouped_order(&tags);
    let n = models.len().max(1) as f64;
    let group_w = 0.8;
    let bar_w = group_w / n;
    // Category bands: the x position of each tag leaves a gap between categories.
    let mut xs: Vec<(usize, f64)> = Vec::with_capacity(order.len());
    let mut x = 0.0;
    let mut last_cat = None;
    for &i in &order {
        let cat = lookup(&tags[i]).map(|(c, _)| c);
        if last_cat.is_some() && last_cat != Some(cat) {
            x += 0.5;
        }
        last_cat = Some(cat);
        xs.push((i, x));
        x += 1.0;
    }
    let mut charts = Vec::new();
    let mut max = 0.05f32;
    for (k, (m, state)) in models.iter().enumerate() {
        let CompareState::Done(scores) = state else { continue };
        if m.tags != tags {
            continue;
        }
        let color = super::MODEL_COLORS[k % super::MODEL_COLORS.len()];
        let bars: Vec<Bar> = xs
            .iter()
            .map(|&(i, x)| {
                let v = scores.get(i).copied().unwrap_or(0.0);
                max = max.max(v);
                let offset = -group_w / 2.0 + bar_w * (k as f64 + 0.5);
                Bar::new(x + offset, v as f64).name(format!("{} — {}", tags[i], m.name)).width(bar_w * 0.95).fill(color)
            })
            .collect();
        charts.push(
            BarChart::new(m.name.clone(), bars)
                .color(color)
                .element_formatter(Box::new(|bar, _| format!("{}: {:.4}", bar.name, bar.value))),
        );
    }
    let names: Vec<(f64, String)> = xs.iter().map(|&(i, x)| (x, tags[i].clone())).collect();
    // Where each category starts, for a separator and its name over the bars.
    let cats: Vec<(f64, &'static str, egui::Color32)> = GROUPS
        .iter()
        .filter_map(|(cat, label, color)| {
            xs.iter().find(|&&(i, _)| lookup(&tags[i]).map(|(c, _)| c) == *cat).map(|&(_, x)| (x - 0.75, *label, *color))
        })
        .collect();
    ui.label(egui::RichText::new("Tags grouped genre, mood, instrument/voice, era — hover a bar for its score").small().weak());
    let top = max as f64 * 1.1;
    let height = ui.available_height().clamp(120.0, 260.0);
    static_bars_plot("compare_bars", height)
        .include_y(top * 1.08)
        .x_axis_formatter(move |mark, _| {
            names.iter().find(|(x, _)| (mark.value - x).abs() < 1e-6).map(|(_, n)| n.clone()).unwrap_or_default()
        })
        .show(ui, |plot| {
            for (x, label, color) in cats {
                plot.vline(VLine::new("", x).color(color.gamma_multiply(0.6)).width(1.0));
                plot.text(Text::new("", PlotPoint::new(x + 0.3, top * 1.05), label).color(color).anchor(egui::Align2::LEFT_CENTER));
            }
            for chart in charts {
                plot.bar_chart(chart);
            }
        });
}

/// A fixed (no zoom, pan or reset) bar plot with a legend, its y axis from 0.
fn static_bars_plot(id: &str, height: f32) -> Plot<'static> {
    Plot::new(id)
        .height(height)
        .legend(Legend::default())
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_drag(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .show_x(false)
        .include_y(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_grouped_once_each() {
        let tags: Vec<String> = ["rock", "sad", "guitar", "80s", "mystery tag", "pop"].iter().map(|s| s.to_string()).collect();
        assert_eq!(grouped_order(&tags), vec![0, 5, 1, 2, 3, 4]);
        assert_eq!(category_name("female vocalists"), "instrument");
        assert_eq!(category_name("mystery tag"), "other");
    }
}
