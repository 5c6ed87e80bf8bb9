//! "More like this" in the app: the selected track's nearest tracks in the open folder (cosine
//! distance between the current model's standardised embeddings, [`crate::engine::similar`]),
//! "Play similar" (a play queue through the existing player) and "Save playlist…" (M3U8).
//!
//! Queries run on a background thread. The index over the folder's embeddings is built there
//! and handed back, so moving the selection reuses it; it is rebuilt when results change
//! (at most every [`REBUILD_EVERY`] while a batch streams results in).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::player::PlayableAudio;
use crate::app::{Bg, BgMsg, MelotagApp, Status};
use crate::engine::analysis::Mode;
use crate::engine::model::Manifest;
use crate::engine::similar::{self, Index, TrackInfo};

/// Tracks listed under "Similar tracks".
pub const SIMILAR_COUNT: usize = 20;

/// While results stream in (a batch), the index is rebuilt at most this often.
pub const REBUILD_EVERY: Duration = Duration::from_secs(2);

/// What a query was asked for: the seed, the model and mode, and the state of the results.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryKey {
    /// The selected track.
    pub seed: PathBuf,
    /// Model id.
    pub model_id: String,
    /// Analysis mode.
    pub mode: Mode,
    /// [`SimilarUi::generation`] when asked.
    pub generation: u64,
}

/// One neighbour of the seed.
#[derive(Debug, Clone, PartialEq)]
pub struct SimilarRow {
    /// The track.
    pub path: PathBuf,
    /// Cosine distance (0 = the same sound, 2 = opposite).
    pub distance: f32,
}

/// A query's answer.
#[derive(Debug, Clone)]
pub struct SimilarAnswer {
    /// What was asked.
    pub key: QueryKey,
    /// The nearest tracks, nearest first, or why there are none.
    pub outcome: Result<Vec<SimilarRow>, String>,
    /// Tracks compared (the seed left out).
    pub compared: usize,
}

/// The index a query built or used, kept for the next query with the same key parts.
#[derive(Debug)]
pub struct BuiltIndex {
    /// Model id.
    pub model_id: String,
    /// Mode.
    pub mode: Mode,
    /// [`SimilarUi::generation`] of its contents.
    pub generation: u64,
    /// The index.
    pub index: Arc<Index>,
}

/// "Play similar": the tracks to play, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayQueue {
    /// The files.
    pub paths: Vec<PathBuf>,
    /// The one playing (or loading).
    pub position: usize,
    /// What the queue is (shown beside its controls).
    pub title: String,
    /// Id of the decode of `paths[position]` in flight.
    pub loading: Option<u64>,
}

/// State of the Similar list and the play queue.
#[derive(Default)]
pub struct SimilarUi {
    /// Bumped whenever a track's result for the current model changes.
    pub generation: u64,
    /// The last answer.
    pub answer: Option<SimilarAnswer>,
    /// The query in flight: its id and key.
    in_flight: Option<(u64, QueryKey)>,
    /// When the last query started.
    last_started: Option<Instant>,
    /// The index of the last query.
    built: Option<BuiltIndex>,
    /// The highlighted row of the list.
    pub highlighted: Option<usize>,
    /// Whether the list has the keyboard (↑/↓, Enter) rather than the table.
    pub has_focus: bool,
    /// "Play similar" / Enter: what plays next.
    pub queue: Option<PlayQueue>,
}

impl SimilarUi {
    /// The rows of the answer for `seed`, if that is what the last answer is about.
    pub fn rows_for(&self, seed: &Path) -> Option<&Result<Vec<SimilarRow>, String>> {
        self.answer.as_ref().filter(|a| a.key.seed == seed).map(|a| &a.outcome)
    }

    /// Whether a query is running.
    pub fn is_searching(&self) -> bool {
        self.in_flight.is_some()
    }
}

/// A query for the background thread.
struct Query {
    id: u64,
    key: QueryKey,
    manifest: Arc<Manifest>,
    /// The folder's embeddings, when the index must be (re)built.
    items: Option<Vec<(PathBuf, Arc<[f32]>)>>,
    /// The index to reuse otherwise.
    index: Option<Arc<Index>>,
}

impl MelotagApp {
    /// Called whenever a track's result for the current model and mode changes.
    pub(crate) fn results_changed(&mut self) {
        self.similar.generation += 1;
    }

    /// Starts a query for the selected track when the shown answer is not for it (or is stale).
    pub(crate) fn similar_tick(&mut self) {
        let Some(track) = self.selected.and_then(|i| self.tracks.get(i)) else { return };
        let Some(manifest) = self.manifest() else { return };
        if track.status != Status::Done || track.embedding.is_none() {
            return;
        }
        let key = QueryKey {
            seed: track.path.clone(),
            model_id: manifest.id.clone(),
            mode: self.persisted.mode,
            generation: self.similar.generation,
        };
        if self.similar.in_flight.is_some() || self.similar.answer.as_ref().is_some_and(|a| a.key == key) {
            return;
        }
        // Same seed, results changed since: not more often than REBUILD_EVERY.
        let same_seed = self
            .similar
            .answer
            .as_ref()
            .is_some_and(|a| a.key.seed == key.seed && a.key.model_id == key.model_id && a.key.mode == key.mode && a.outcome.is_ok());
        if same_seed && let Some(t) = self.similar.last_started {
            let wait = REBUILD_EVERY.saturating_sub(t.elapsed());
            if !wait.is_zero() {
                if let Some(bg) = &self.bg {
                    bg.ctx.request_repaint_after(wait);
                }
                return;
            }
        }
        let reuse = self
            .similar
            .built
            .as_ref()
            .filter(|b| b.model_id == key.model_id && b.mode == key.mode && b.generation == key.generation)
            .map(|b| b.index.clone());
        let items = reuse.is_none().then(|| {
            self.tracks
                .iter()
                .filter(|t| t.status == Status::Done)
                .filter_map(|t| t.embedding.clone().map(|e| (t.path.clone(), e)))
                .collect::<Vec<_>>()
        });
        let id = self.next_id();
        self.similar.in_flight = Some((id, key.clone()));
        self.similar.last_started = Some(Instant::now());
        spawn_query(Query { id, key, manifest, items, index: reuse }, self.bg());
    }

    /// Takes a query's answer (and the index it used).
    pub(crate) fn similar_answered(&mut self, id: u64, answer: SimilarAnswer, built: Option<BuiltIndex>) {
        if self.similar.in_flight.as_ref().is_none_or(|(i, _)| *i != id) {
            return;
        }
        self.similar.in_flight = None;
        if let Some(b) = built {
            self.similar.built = Some(b);
        }
        let new_seed = self.similar.answer.as_ref().is_none_or(|a| a.key.seed != answer.key.seed);
        if new_seed {
            self.similar.highlighted = None;
        }
        self.similar.answer = Some(answer);
    }

    /// The Similar list's rows for the selected track (empty when there is no answer yet).
    pub fn similar_rows(&self) -> Vec<SimilarRow> {
        let Some(track) = self.selected.and_then(|i| self.tracks.get(i)) else { return Vec::new() };
        match self.similar.rows_for(&track.path) {
            Some(Ok(rows)) => rows.iter().filter(|r| self.by_path.contains_key(&r.path)).cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// Double-click in the Similar list: selects that track in the table (clearing a filter
    /// that hides it).
    pub fn select_path(&mut self, path: &Path) {
        let Some(&index) = self.by_path.get(path) else { return };
        if !self.view.contains(&index) && !self.filter.is_empty() {
            self.filter.clear();
            self.invalidate_view();
            self.refresh_view();
        }
        self.selection = std::iter::once(index).collect();
        self.anchor = Some(index);
        self.select(index);
        self.scroll_to_selected = true;
    }

    /// Plays `paths` one after another through the player ("Play similar", Enter in the list).
    /// A first track that is already playing goes on playing.
    pub fn play_queue(&mut self, paths: Vec<PathBuf>, title: String) {
        if paths.is_empty() || !self.playback.is_available() {
            return;
        }
        let keep_playing = self.now_playing.as_ref() == paths.first() && self.playback.is_playing();
        self.similar.queue = Some(PlayQueue { paths, position: 0, title, loading: None });
        if !keep_playing {
            self.load_queue_track();
        }
    }

    /// Skips to the queue's next track.
    pub fn queue_next(&mut self) {
        let Some(q) = &mut self.similar.queue else { return };
        if q.position + 1 < q.paths.len() {
            q.position += 1;
            q.loading = None;
            self.load_queue_track();
        }
    }

    /// Stops "Play similar" (the current track plays on to its end).
    pub fn stop_queue(&mut self) {
        self.similar.queue = None;
    }

    /// Loads the queue's current track: the player's own track when it already holds it (played
    /// again from the start), else decoded on a background thread.
    fn load_queue_track(&mut self) {
        let Some(path) = self.similar.queue.as_ref().and_then(|q| q.paths.get(q.position)).cloned() else {
            self.similar.queue = None;
            return;
        };
        if self.now_playing.as_ref() == Some(&path) && self.playback.is_loaded() {
            self.playback.seek(0.0);
            if !self.playback.is_playing() {
                self.playback.toggle();
            }
            return;
        }
        let id = self.next_id();
        if let Some(q) = &mut self.similar.queue {
            q.loading = Some(id);
        }
        spawn_decode(id, path, self.bg());
    }

    /// A queue track's audio arrived (or could not be decoded: that track is skipped).
    pub(crate) fn queue_audio(&mut self, id: u64, path: PathBuf, outcome: Result<PlayableAudio, String>) {
        let Some(q) = &mut self.similar.queue else { return };
        if q.loading != Some(id) {
            return;
        }
        q.loading = None;
        match outcome {
            Ok(audio) => {
                self.playback.load(audio);
                self.now_playing = Some(path);
                self.playback.toggle();
            }
            Err(e) => {
                self.message = Some(format!("Skipped {}: {e}", path.display()));
                q.position += 1;
                self.load_queue_track();
            }
        }
    }

    /// Moves the queue on when its track has played to the end.
    pub(crate) fn queue_tick(&mut self) {
        let Some(q) = &self.similar.queue else { return };
        if q.loading.is_some() {
            return;
        }
        let current = q.paths.get(q.position);
        if current != self.now_playing.as_ref() {
            // The user played something else: the queue is over.
            self.similar.queue = None;
            return;
        }
        if self.playback.has_finished() {
            if let Some(q) = &mut self.similar.queue {
                q.position += 1;
            }
            self.load_queue_track();
        } else if let Some(bg) = &self.bg
            && self.playback.is_playing()
        {
            bg.ctx.request_repaint_after(Duration::from_millis(200));
        }
    }

    /// The M3U8 of the selected track and its Similar list.
    fn similar_playlist(&self, base: &Path) -> Option<(Vec<u8>, usize)> {
        let seed = self.selected.and_then(|i| self.tracks.get(i))?;
        let rows = self.similar_rows();
        if rows.is_empty() {
            return None;
        }
        let info = |p: &Path| {
            let t = self.track_by_path(p);
            TrackInfo {
                duration_s: t.and_then(|t| t.duration_s),
                artist: t.map(|t| t.artist.clone()).filter(|a| !a.is_empty()),
                title: t.filter(|t| t.has_title_tag).map(|t| t.title.clone()),
            }
        };
        let mut tracks = vec![(seed.path.clone(), info(&seed.path))];
        tracks.extend(rows.iter().map(|r| (r.path.clone(), info(&r.path))));
        let (bytes, left_out) = similar::m3u8(&tracks, base);
        Some((bytes, tracks.len() - left_out.len()))
    }

    /// "Save playlist…": asks where (system dialog, on a thread), then [`Self::save_similar_playlist`].
    pub fn pick_playlist_file(&mut self) {
        let Some(seed) = self.selected.and_then(|i| self.tracks.get(i)) else { return };
        let name = format!("Similar to {}.m3u8", sanitise_file_name(&seed.title));
        let (bg, start) = (self.bg(), self.folder.clone());
        let spawned = std::thread::Builder::new().name("melotag-playlist-dialog".into()).spawn(move || {
            let mut dialog = rfd::FileDialog::new().set_title("Save playlist").set_file_name(name).add_filter("M3U8 playlist", &["m3u8"]);
            if let Some(dir) = start {
                dialog = dialog.set_directory(dir);
            }
            if let Some(file) = dialog.save_file() {
                bg.send(BgMsg::PlaylistChosen(file));
            }
        });
        if let Err(e) = spawned {
            self.message = Some(format!("Could not open the save dialog: {e}"));
        }
    }

    /// Writes the selected track and its Similar list as an M3U8 playlist at `file` (paths
    /// relative to its folder), on a background thread; the status bar says how it went.
    pub fn save_similar_playlist(&mut self, file: PathBuf) {
        let base = file.parent().filter(|p| !p.as_os_str().is_empty()).map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let Some((bytes, count)) = self.similar_playlist(&base) else {
            self.message = Some("No similar tracks to save.".into());
            return;
        };
        let bg = self.bg();
        let spawned = std::thread::Builder::new().name("melotag-playlist".into()).spawn(move || {
            let outcome =
                write_file_atomically(&file, &bytes).map(|()| (file.clone(), count)).map_err(|e| format!("{}: {e}", file.display()));
            bg.send(BgMsg::PlaylistSaved(outcome));
        });
        if let Err(e) = spawned {
            self.message = Some(format!("Could not save the playlist: {e}"));
        }
    }
}

/// A file name made of `title`: path separators and control characters replaced.
fn sanitise_file_name(title: &str) -> String {
    let s: String = title.chars().map(|c| if c == '/' || c == '\\' || c.is_control() { '_' } else { c }).collect();
    let s = s.trim().trim_start_matches('.').to_string();
    if s.is_empty() { "track".into() } else { s }
}

/// Writes `bytes` to a temporary file beside `file`, then renames it over `file`.
fn write_file_atomically(file: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let dir = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".melotag-playlist-").suffix(".tmp").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(())
}

/// Runs a query: builds the index when needed, then the seed's nearest tracks.
fn spawn_query(query: Query, bg: Bg) {
    let spawned = std::thread::Builder::new().name("melotag-similar".into()).spawn(move || {
        let Query { id, key, manifest, items, index } = query;
        let fail = |e: String| SimilarAnswer { key: key.clone(), outcome: Err(e), compared: 0 };
        if let Err(e) = similar::require_embedding(&manifest) {
            bg.send(BgMsg::Similar { id, answer: fail(e.to_string()), built: None });
            return;
        }
        let (index, built) = match (index, items) {
            (Some(index), _) => (index, None),
            (None, Some(items)) => {
                let items = items.into_iter().map(|(p, e)| (p, e.to_vec())).collect();
                match Index::build(items) {
                    Ok(index) => {
                        let index = Arc::new(index);
                        let built =
                            BuiltIndex { model_id: key.model_id.clone(), mode: key.mode, generation: key.generation, index: index.clone() };
                        (index, Some(built))
                    }
                    Err(e) => {
                        bg.send(BgMsg::Similar { id, answer: fail(e.to_string()), built: None });
                        return;
                    }
                }
            }
            (None, None) => return,
        };
        let answer = match index.position(&key.seed) {
            _ if index.len() < 2 => fail(format!(
                "No other track in this folder has been analysed with {} yet: click Tag library to compare with the rest.",
                manifest.name
            )),
            Some(row) => SimilarAnswer {
                key: key.clone(),
                outcome: Ok(index
                    .neighbours_of(row, SIMILAR_COUNT)
                    .into_iter()
                    .map(|n| SimilarRow { path: n.path, distance: n.distance })
                    .collect()),
                compared: index.len() - 1,
            },
            None => fail("This track's embedding could not be compared (not a finite vector of the model's width).".into()),
        };
        bg.send(BgMsg::Similar { id, answer, built });
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start a similarity thread: {e}");
    }
}

/// Decodes a queue track for playback (mono, the file's own rate) on a thread.
fn spawn_decode(id: u64, path: PathBuf, bg: Bg) {
    let spawned = std::thread::Builder::new().name("melotag-queue-decode".into()).spawn(move || {
        let mut samples = Vec::new();
        let outcome = crate::engine::audio::decode_progressive(&path, |_, block| {
            samples.extend_from_slice(block);
            true
        })
        .map_err(|e| e.to_string())
        .and_then(|(rate_hz, _)| {
            PlayableAudio::new(std::mem::take(&mut samples), rate_hz).ok_or_else(|| "no audio could be decoded".to_string())
        });
        bg.send(BgMsg::QueueAudio { id, path, outcome });
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start a decoding thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn playlist_names_are_file_names() {
        assert_eq!(sanitise_file_name("AC/DC: Back\nin Black"), "AC_DC: Back_in Black");
        assert_eq!(sanitise_file_name("..hidden"), "hidden");
        assert_eq!(sanitise_file_name("  "), "track");
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("list.m3u8");
        std::fs::write(&file, b"old").unwrap();
        write_file_atomically(&file, b"#EXTM3U\n").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"#EXTM3U\n");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("list.m3u8")]);
    }
}
