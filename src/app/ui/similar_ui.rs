//! "Similar tracks" beside the selected track's tags: its nearest tracks in the open folder by
//! the current model's embeddings (distance and top tags; click highlights, double-click
//! selects, Enter plays from there, ↑/↓ move once the list has been clicked), "Play similar"
//! and "Save playlist…"; the play queue's state and controls.

use eframe::egui;

use crate::app::{MelotagApp, Status};

/// Draws the Similar list for the selected track.
pub fn similar_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    ui.add_space(4.0);
    ui.horizontal(|ui| {
        ui.strong("Similar tracks");
        if app.similar.is_searching() {
            ui.spinner();
        }
    });
    queue_ui(app, ui);
    let Some(track) = app.selected.and_then(|i| app.tracks.get(i)).cloned() else { return };
    let Some(manifest) = app.manifest() else { return };
    if manifest.embedding_output.is_none() {
        ui.label(format!(
            "{} has no embedding output, so it cannot compare tracks. Choose another model, or convert it again with make setup.",
            manifest.name
        ));
        return;
    }
    match (&track.status, &track.embedding) {
        (Status::Done, Some(_)) => {}
        (Status::Done, None) => {
            ui.label("This track's result was kept by an older melotag without the embedding that similarity needs.");
            if ui.button("Analyse it again").clicked() {
                app.reanalyse_for_similarity(vec![track.path.clone()]);
            }
            return;
        }
        (Status::Error(e), _) => {
            ui.label(format!("This track could not be analysed: {e}"));
            return;
        }
        _ => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Analysing the track…");
            });
            return;
        }
    }
    let rows = match app.similar.rows_for(&track.path).cloned() {
        None => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label("Looking for similar tracks…");
            });
            return;
        }
        Some(Err(e)) => {
            ui.label(e);
            library_hint_ui(app, ui);
            return;
        }
        Some(Ok(_)) => app.similar_rows(),
    };
    let compared = app.similar.answer.as_ref().map_or(0, |a| a.compared);
    ui.label(
        egui::RichText::new(format!("nearest of {compared} analysed tracks (cosine distance of {} embeddings)", manifest.name))
            .small()
            .weak(),
    );
    library_hint_ui(app, ui);
    ui.horizontal(|ui| {
        let can_play = app.playback.is_available() && !rows.is_empty();
        let play = ui
            .add_enabled(can_play, egui::Button::new("Play similar"))
            .on_hover_text("Play this track, then the similar ones in order")
            .on_disabled_hover_text(app.playback.unavailable_reason().unwrap_or("No similar track yet").to_string());
        if play.clicked() {
            let mut paths = vec![track.path.clone()];
            paths.extend(rows.iter().map(|r| r.path.clone()));
            app.play_queue(paths, format!("similar to {}", track.title));
        }
        if ui
            .add_enabled(!rows.is_empty(), egui::Button::new("Save playlist…"))
            .on_hover_text("Save this track and the similar ones as an M3U8 playlist")
            .clicked()
        {
            app.pick_playlist_file();
        }
    });

    // Keyboard, once the list has been clicked: ↑/↓ move, Enter plays, Escape hands the keys
    // back to the table.
    if app.similar.has_focus && !ui.ctx().egui_wants_keyboard_input() && !rows.is_empty() {
        let (down, up, enter, escape) = ui.input(|i| {
            (
                i.key_pressed(egui::Key::ArrowDown),
                i.key_pressed(egui::Key::ArrowUp),
                i.key_pressed(egui::Key::Enter),
                i.key_pressed(egui::Key::Escape),
            )
        });
        let last = rows.len() - 1;
        if down {
            app.similar.highlighted = Some(app.similar.highlighted.map_or(0, |h| (h + 1).min(last)));
        }
        if up {
            app.similar.highlighted = Some(app.similar.highlighted.map_or(0, |h| h.saturating_sub(1)));
        }
        if enter && let Some(h) = app.similar.highlighted.filter(|&h| h <= last) {
            play_from(app, &rows, h, &track.title);
        }
        if escape {
            app.similar.has_focus = false;
        }
    }

    let row_height = 2.0 * ui.text_style_height(&egui::TextStyle::Body) + 6.0;
    let mut clicked = None;
    let mut double_clicked = None;
    egui::ScrollArea::vertical().id_salt("similar-list").auto_shrink([false, false]).show_rows(ui, row_height, rows.len(), |ui, range| {
        for k in range {
            let row = &rows[k];
            let Some(t) = app.track_by_path(&row.path) else { continue };
            let highlighted = app.similar.highlighted == Some(k);
            let (rect, response) = ui.allocate_exact_size(egui::vec2(ui.available_width(), row_height), egui::Sense::click());
            let name = if t.artist.is_empty() { t.title.clone() } else { format!("{} — {}", t.title, t.artist) };
            let label = format!("{name}, distance {:.3}", row.distance);
            response.widget_info(|| egui::WidgetInfo::selected(egui::Role::Button, true, highlighted, &label));
            let visuals = ui.visuals();
            if highlighted {
                let fill = if app.similar.has_focus { visuals.selection.bg_fill } else { visuals.widgets.inactive.bg_fill };
                ui.painter().rect_filled(rect, 2.0, fill);
            } else if response.hovered() {
                ui.painter().rect_filled(rect, 2.0, visuals.widgets.hovered.weak_bg_fill);
            }
            let text = if highlighted && app.similar.has_focus { visuals.selection.stroke.color } else { visuals.text_color() };
            let body = egui::TextStyle::Body.resolve(ui.style());
            let small = egui::TextStyle::Small.resolve(ui.style());
            let inner = rect.shrink2(egui::vec2(6.0, 3.0));
            let distance = format!("{:.3}", row.distance);
            let dist = ui.painter().text(inner.right_top(), egui::Align2::RIGHT_TOP, distance, body.clone(), text);
            let width = (dist.left() - inner.left() - 8.0).max(0.0);
            let galley = ui.painter().layout(name, body, text, f32::INFINITY);
            let clip = egui::Rect::from_min_size(inner.min, egui::vec2(width, inner.height()));
            ui.painter().with_clip_rect(clip).galley(inner.min, galley, text);
            let tags = if t.top_tags.is_empty() { String::new() } else { t.top_tags.join(", ") };
            ui.painter().with_clip_rect(inner).text(inner.left_bottom(), egui::Align2::LEFT_BOTTOM, tags, small, visuals.weak_text_color());
            let response = response.on_hover_text(format!(
                "{}\ndistance {:.4}\ndouble-click: select it · Enter: play from here",
                row.path.display(),
                row.distance
            ));
            if response.double_clicked() {
                double_clicked = Some(k);
            } else if response.clicked() {
                clicked = Some(k);
            }
        }
    });
    if let Some(k) = clicked {
        app.similar.highlighted = Some(k);
        app.similar.has_focus = true;
    }
    if let Some(k) = double_clicked
        && let Some(row) = rows.get(k)
    {
        app.similar.has_focus = false;
        app.select_path(&row.path.clone());
    }
}

/// Plays the list from row `k` on (Enter).
fn play_from(app: &mut MelotagApp, rows: &[crate::app::similar::SimilarRow], k: usize, seed_title: &str) {
    let paths = rows[k..].iter().map(|r| r.path.clone()).collect();
    app.play_queue(paths, format!("similar to {seed_title}"));
}

/// How many tracks are not analysed yet (they cannot be compared), with a way to analyse them.
fn library_hint_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    let missing = app.tracks.iter().filter(|t| t.status != Status::Done || t.embedding.is_none()).count();
    if missing == 0 {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label(egui::RichText::new(format!("{missing} tracks are not analysed for similarity yet.")).small());
        if ui
            .add_enabled(!app.batch_running(), egui::Button::new("Analyse them").small())
            .on_hover_text("Tag library: analyse every track without a result (and older results without an embedding)")
            .clicked()
        {
            app.start_batch();
        }
    });
}

/// What "Play similar" is playing, with Pause/Play, Next and Stop.
fn queue_ui(app: &mut MelotagApp, ui: &mut egui::Ui) {
    let Some(q) = app.similar.queue.clone().filter(|q| q.paths.len() > 1) else { return };
    let current = q.paths.get(q.position).and_then(|p| app.track_by_path(p)).map(|t| t.title.clone()).unwrap_or_default();
    ui.horizontal_wrapped(|ui| {
        let state = if q.loading.is_some() { "Loading" } else { "Playing" };
        ui.label(format!("{state} {} of {} ({}): {current}", q.position + 1, q.paths.len(), q.title));
        let label = if app.playback.is_playing() { "Pause queue" } else { "Resume queue" };
        if ui.add_enabled(q.loading.is_none(), egui::Button::new(label).small()).clicked() {
            app.playback.toggle();
        }
        if ui.add_enabled(q.position + 1 < q.paths.len(), egui::Button::new("Next").small()).clicked() {
            app.queue_next();
        }
        if ui.button("Stop").on_hover_text("Stop playing and forget the queue").clicked() {
            app.stop_queue();
            app.playback.stop();
            app.now_playing = None;
        }
    });
}
