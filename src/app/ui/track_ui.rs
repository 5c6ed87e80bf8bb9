//! The selected track: playback controls, the mel-spectrogram (time axis in seconds, playhead,
//! click to seek), the taggram in full mode (the strongest tags × time, named), and the tag
//! view: per category, labelled horizontal bars of the strongest canonical tags (the ones a
//! write would put into the file marked), with "Show all"; "Compare models" uses the same
//! layout with one bar per model.

use eframe::egui;

use crate::app::{MelotagApp, Status};
use crate::engine::tags::Category;
use crate::engine::tags::policy::{Selected, canonical_scores};

/// Colour of each category.
fn category_color(c: Category) -> egui::Color32 {
    match c {
        Category::Genre => egui::Color32::from_rgb(86, 156, 214),
        Category::Mood => egui::Color32::from_rgb(230, 145, 56),
        Category::Instrument => egui::Color32::from_rgb(106, 190, 120),
        Category::Voice => egui::Color32::from_rgb(90, 190, 190),
        Category::Era => egui::Color32::from_rgb(200, 110, 200),
        Category::Feel => egui::Color32::from_rgb(200, 200, 90),
    }
}

/// Tags shown per category unless "Show all" is on.
const TOP_PER_CATEGORY: usize = 5;

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
        let entries = m.entries();
        let rows: Vec<Vec<Selected>> = windows.iter().map(|w| canonical_scores(&entries, w)).collect();
        let overall = canonical_scores(&entries, &a.scores);
        taggram_ui(ui, &overall, &rows, starts, window_s, duration, app.persisted.show_all_tags);
    }

    // The Similar list on the right of the tags.
    egui::Panel::right("similar").resizable(true).default_size(400.0).min_size(240.0).show(ui, |ui| super::similar_ui::similar_ui(app, ui));

    ui.add_space(4.0);
    let mut compare = app.persisted.compare_models;
    let mut show_all = app.persisted.show_all_tags;
    ui.horizontal(|ui| {
        ui.checkbox(&mut compare, "Compare models")
            .on_hover_text("Every converted model's scores for this track, side by side (missing ones are analysed)");
        ui.checkbox(&mut show_all, "Show all tags")
            .on_hover_text(format!("Every tag of each category, not only the {TOP_PER_CATEGORY} strongest"));
        ui.label(egui::RichText::new("bold with a dot: what a write would put into the file").small().weak());
    });
    app.persisted.compare_models = compare;
    app.persisted.show_all_tags = show_all;
    if compare {
        let models = app.compare_scores();
        compare_view_ui(ui, &models, show_all);
        return;
    }
    match (&track.status, &track.analysis, &manifest) {
        (Status::Done, Some(a), Some(m)) => {
            let entries = m.entries();
            // Marked: what a write would put into the file (not a genre or mood it keeps).
            let selection = super::library_ui::written_selection(app, index).map(|(s, _)| s).unwrap_or_default();
            let written: Vec<&str> = selection.all().map(|s| s.name).collect();
            let scores = canonical_scores(&entries, &a.scores);
            egui::ScrollArea::vertical().id_salt("tag-view").show(ui, |ui| {
                tag_view_ui(ui, &[(m.name.clone(), None, scores)], &written, show_all);
            });
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
    let selected_path = app.selected.and_then(|i| app.tracks.get(i)).map(|t| t.path.clone());
    let decoded = app.track_view.as_ref().is_some_and(|tv| tv.spec.done);
    if available && app.now_playing != selected_path && (app.now_playing.is_some() || (decoded && !app.playback.is_loaded())) {
        // "Play similar" is playing another track: Play switches to this one.
        if ui.button("Play").on_hover_text("Play this track (ends the queue)").clicked()
            && let Some(i) = app.selected
            && let Some(t) = app.tracks.get(i)
        {
            let (path, title) = (t.path.clone(), t.title.clone());
            app.play_queue(vec![path], title);
        }
        return;
    }
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
    let height = 130.0;
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
        // Playhead (of this track: "Play similar" may be playing another).
        let this_track = app.tracks.get(tv.track).map(|t| &t.path) == app.now_playing.as_ref();
        if app.playback.is_loaded() && this_track {
            let x = rect.left() + (position / duration).clamp(0.0, 1.0) as f32 * width;
            painter.line_segment([egui::pos2(x, rect.top()), egui::pos2(x, rect.bottom())], egui::Stroke::new(2.0, egui::Color32::WHITE));
        }
        if let Some(p) = response.hover_pos() {
            let t = ((p.x - rect.left()) / width) as f64 * duration;
            response.clone().on_hover_text(format!("{t:.1} s — click to play from here"));
        }
        if (response.clicked() || response.drag_stopped())
            && app.playback.is_loaded()
            && this_track
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

/// Tags × time for the strongest canonical tags (every tag with "Show all"), one named row
/// each, one cell per analysis window; hover for the score.
fn taggram_ui(ui: &mut egui::Ui, overall: &[Selected], windows: &[Vec<Selected>], starts: &[f64], window_s: f64, duration: f64, all: bool) {
    if windows.is_empty() || duration <= 0.0 {
        return;
    }
    let mut order: Vec<&Selected> = overall.iter().collect();
    order.sort_by(|a, b| b.score.total_cmp(&a.score));
    if !all {
        order.truncate(8);
    }
    ui.label(egui::RichText::new("Taggram: the strongest tags over time — hover for scores").small().weak());
    let row_h = 12.0;
    let label_w = 120.0;
    let width = (ui.available_width() - label_w).max(50.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width + label_w, row_h * order.len() as f32), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let grid = egui::Rect::from_min_max(egui::pos2(rect.left() + label_w, rect.top()), rect.max);
    painter.rect_filled(grid, 0.0, egui::Color32::BLACK);
    let value = |w: usize, name: &str| windows.get(w).and_then(|row| row.iter().find(|s| s.name == name)).map_or(0.0, |s| s.score);
    let max = (0..windows.len()).flat_map(|w| order.iter().map(move |t| (w, t.name))).map(|(w, n)| value(w, n)).fold(1e-6f32, f32::max);
    let lut = super::magma();
    let text = ui.visuals().text_color();
    for (r, tag) in order.iter().enumerate() {
        let y = rect.top() + r as f32 * row_h;
        painter.text(
            egui::pos2(rect.left() + label_w - 6.0, y + row_h / 2.0),
            egui::Align2::RIGHT_CENTER,
            tag.name,
            egui::FontId::proportional(10.0),
            text,
        );
        for w in 0..windows.len() {
            let t0 = starts.get(w).copied().unwrap_or(0.0);
            let x0 = grid.left() + (t0 / duration).clamp(0.0, 1.0) as f32 * width;
            let x1 = grid.left() + ((t0 + window_s) / duration).clamp(0.0, 1.0) as f32 * width;
            let v = value(w, tag.name) / max;
            painter.rect_filled(
                egui::Rect::from_min_max(egui::pos2(x0, y), egui::pos2(x1, y + row_h - 1.0)),
                0.0,
                lut[(v.clamp(0.0, 1.0) * 255.0) as usize],
            );
        }
    }
    if let Some(p) = response.hover_pos().filter(|p| p.x >= grid.left()) {
        let r = ((p.y - rect.top()) / row_h) as usize;
        let t = ((p.x - grid.left()) / width) as f64 * duration;
        let w = starts.iter().rposition(|&s| s <= t).unwrap_or(0);
        if let Some(tag) = order.get(r) {
            response.on_hover_text(format!("{} at {:.0} s: {:.3}", tag.name, starts.get(w).copied().unwrap_or(0.0), value(w, tag.name)));
        }
    }
}

/// One category's strongest tags over every compared row (`rows`: a name, a colour for
/// several models, and the canonical scores), best first.
fn category_tags(rows: &[(String, Option<egui::Color32>, Vec<Selected>)], c: Category, all: bool) -> Vec<&'static str> {
    let mut best: Vec<(&'static str, f32)> = Vec::new();
    for (_, _, scores) in rows {
        for s in scores.iter().filter(|s| s.category == c) {
            match best.iter_mut().find(|(n, _)| *n == s.name) {
                Some(b) => b.1 = b.1.max(s.score),
                None => best.push((s.name, s.score)),
            }
        }
    }
    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    if !all {
        best.truncate(TOP_PER_CATEGORY);
    }
    best.into_iter().map(|(n, _)| n).collect()
}

/// The tag view: per category (genre, mood, instruments, voice, era, tempo & feel), labelled
/// horizontal bars of the strongest tags with their scores; `written` ones marked (a dot and
/// bold). Several rows (models) get one thin bar each, in their colour.
fn tag_view_ui(ui: &mut egui::Ui, rows: &[(String, Option<egui::Color32>, Vec<Selected>)], written: &[&str], all: bool) {
    let columns = if ui.available_width() > 1000.0 { 3 } else { 2 };
    let col_w = ui.available_width() / columns as f32 - 8.0;
    let cats: Vec<Category> = Category::ALL.into_iter().filter(|&c| !category_tags(rows, c, true).is_empty()).collect();
    egui::Grid::new("tag-view-grid").num_columns(columns).spacing([8.0, 10.0]).show(ui, |ui| {
        for (k, &c) in cats.iter().enumerate() {
            ui.vertical(|ui| {
                ui.set_width(col_w);
                ui.label(egui::RichText::new(c.title()).strong().color(category_color(c)));
                for name in category_tags(rows, c, all) {
                    bar_row_ui(ui, rows, c, name, written.contains(&name), col_w);
                }
            });
            if (k + 1) % columns == 0 {
                ui.end_row();
            }
        }
    });
}

/// One tag's label and bars (one per row), score written beside each bar.
fn bar_row_ui(
    ui: &mut egui::Ui,
    rows: &[(String, Option<egui::Color32>, Vec<Selected>)],
    c: Category,
    name: &str,
    written: bool,
    width: f32,
) {
    let label_w = 118.0;
    let bar_h = if rows.len() > 1 { 6.0 } else { 12.0 };
    let height = (bar_h + 2.0) * rows.len() as f32 + 2.0;
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, height.max(14.0)), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    let text = ui.visuals().text_color();
    let font = if written { egui::FontId::new(12.0, egui::FontFamily::Proportional) } else { egui::FontId::proportional(11.0) };
    let name_pos = egui::pos2(rect.left() + 10.0, rect.center().y);
    if written {
        painter.circle_filled(egui::pos2(rect.left() + 4.0, rect.center().y), 3.0, category_color(c));
    }
    let galley = painter.layout_no_wrap(name.to_string(), font, if written { ui.visuals().strong_text_color() } else { text });
    painter.galley(egui::pos2(name_pos.x, name_pos.y - galley.size().y / 2.0), galley, text);
    let bar_left = rect.left() + label_w;
    let bar_w = (width - label_w - 44.0).max(20.0);
    let mut hover = Vec::new();
    for (r, (model, color, scores)) in rows.iter().enumerate() {
        let v = scores.iter().find(|s| s.name == name).map(|s| s.score);
        let y = rect.top() + 1.0 + r as f32 * (bar_h + 2.0);
        let fill = color.unwrap_or_else(|| if written { category_color(c) } else { category_color(c).gamma_multiply(0.55) });
        painter.rect_filled(
            egui::Rect::from_min_size(egui::pos2(bar_left, y), egui::vec2(bar_w, bar_h)),
            2.0,
            egui::Color32::from_gray(40),
        );
        if let Some(v) = v {
            painter.rect_filled(
                egui::Rect::from_min_size(egui::pos2(bar_left, y), egui::vec2(bar_w * v.clamp(0.0, 1.0), bar_h)),
                2.0,
                fill,
            );
            if rows.len() == 1 {
                painter.text(
                    egui::pos2(bar_left + bar_w + 4.0, y + bar_h / 2.0),
                    egui::Align2::LEFT_CENTER,
                    format!("{v:.3}"),
                    egui::FontId::proportional(10.0),
                    text,
                );
            }
            hover.push(format!("{model}: {v:.4}"));
        } else {
            hover.push(format!("{model}: (not in its vocabulary)"));
        }
    }
    let mut tip = format!("{name} ({})\n{}", c.title(), hover.join("\n"));
    if written {
        tip.push_str("\nwould be written into the file");
    }
    // What screen readers (and the tests) read: "Jazz 0.831", or each model's score.
    let label = match rows {
        [(_, _, scores)] => format!("{name} {:.3}", scores.iter().find(|s| s.name == name).map_or(0.0, |s| s.score)),
        _ => format!("{name}: {}", hover.join(", ")),
    };
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &label));
    response.on_hover_text(tip);
}

/// "Compare models": every converted model's canonical scores for the track, in the tag view's
/// layout, one colour per model with a legend; models still running show as "analysing".
fn compare_view_ui(ui: &mut egui::Ui, models: &[(std::sync::Arc<crate::engine::model::Manifest>, crate::app::CompareState)], all: bool) {
    use crate::app::CompareState;
    if models.is_empty() {
        ui.label(format!("No converted model to compare: {}.", crate::engine::paths::setup_hint()));
        return;
    }
    let mut rows = Vec::new();
    ui.horizontal_wrapped(|ui| {
        for (k, (m, state)) in models.iter().enumerate() {
            let color = super::MODEL_COLORS[k % super::MODEL_COLORS.len()];
            match state {
                CompareState::Done(scores) => {
                    let canonical = canonical_scores(&m.entries(), scores);
                    let best = canonical.iter().max_by(|a, b| a.score.total_cmp(&b.score));
                    let top = best.map(|b| format!(" — {} {:.3}", b.name, b.score)).unwrap_or_default();
                    ui.colored_label(color, format!("{}{top}", m.name));
                    rows.push((m.name.clone(), Some(color), canonical));
                }
                CompareState::Pending => {
                    ui.spinner();
                    ui.label(format!("{}: analysing…", m.name));
                }
                CompareState::Error(e) => {
                    ui.colored_label(ui.visuals().error_fg_color, format!("{}: {e}", m.name));
                }
            }
        }
    });
    if !rows.is_empty() {
        egui::ScrollArea::vertical().id_salt("compare-view").show(ui, |ui| tag_view_ui(ui, &rows, &[], all));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_list_their_strongest_tags_once() {
        let sel = |name: &'static str, category, score| Selected { name, category, score };
        let rows = vec![
            (
                "a".to_string(),
                None,
                vec![sel("Rock", Category::Genre, 0.2), sel("Jazz", Category::Genre, 0.9), sel("Sad", Category::Mood, 0.3)],
            ),
            ("b".to_string(), None, vec![sel("Rock", Category::Genre, 0.5), sel("Pop", Category::Genre, 0.1)]),
        ];
        assert_eq!(category_tags(&rows, Category::Genre, true), ["Jazz", "Rock", "Pop"]);
        assert_eq!(category_tags(&rows, Category::Mood, false), ["Sad"]);
        assert!(category_tags(&rows, Category::Era, true).is_empty());
    }
}
