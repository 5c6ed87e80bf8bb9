//! The desktop app (`melotag` / `melotag gui [FOLDER]`): open a music folder, see every track
//! with its analysis status and top tags, click a track for its live mel-spectrogram, tag bars
//! and playback, and batch-tag the whole library.
//!
//! The UI thread only draws and reads channels: scanning, tag reading, cache look-ups and
//! writes, decoding, spectrograms and inference all run on background threads that send
//! [`BgMsg`]s and wake the UI with `request_repaint`. State that survives a restart is in
//! [`Persisted`] (eframe storage); the rest is rebuilt at start.
//!
//! [`MelotagApp::new`] does not need eframe, and [`MelotagApp::show`] draws one frame into any
//! `egui::Ui`: the tests drive it with egui_kittest.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use eframe::egui;
use serde::{Deserialize, Serialize};

pub mod player;
pub mod similar;
pub mod spectrogram;
pub mod ui;
pub mod write;

use crate::app::player::Playback;
use crate::app::spectrogram::{SpecMsg, Spectrogram};
use crate::engine::analysis::{self, Analysis, Control, Event, JobConfig, Mode, TrackError, TrackResult};
use crate::engine::cache::{Cache, FileStamp};
use crate::engine::model::{self, Manifest};
use crate::engine::pipeline::{self, Need};
use crate::engine::tags::taxonomy::Entry;

/// Key of [`Persisted`] in eframe's storage.
pub const STORAGE_KEY: &str = "melotag-app";

/// Table columns (also the sort keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum SortColumn {
    /// Title (file name when the file has no title tag).
    #[default]
    Title,
    /// Artist tag.
    Artist,
    /// Duration.
    Duration,
    /// Container / extension.
    Format,
    /// Analysis status.
    Status,
    /// Best tag.
    Tags,
    /// The file's genre.
    Genre,
    /// The file's mood.
    Mood,
    /// What a write would put in.
    Suggested,
}

/// What survives a restart (eframe storage).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Persisted {
    /// The folder open at exit.
    #[serde(serialize_with = "utf8_path_or_none")]
    pub last_folder: Option<PathBuf>,
    /// Model id.
    pub model_id: String,
    /// Center or full.
    #[serde(deserialize_with = "or_default")]
    pub mode: Mode,
    /// Sort column.
    #[serde(deserialize_with = "or_default")]
    pub sort: SortColumn,
    /// Sort direction.
    pub ascending: bool,
    /// Show every converted model's tag bars for the selected track side by side.
    pub compare_models: bool,
    /// Show every tag of each category, not only the strongest.
    pub show_all_tags: bool,
}

impl Default for Persisted {
    fn default() -> Self {
        Persisted {
            last_folder: None,
            model_id: model::DEFAULT_MODEL.into(),
            mode: Mode::Center,
            sort: SortColumn::Title,
            ascending: true,
            compare_models: false,
            show_all_tags: false,
        }
    }
}

/// A value, or its default when it is not one this melotag knows (a newer one's sort column):
/// one unknown value must not reset every other setting.
fn or_default<'de, D: serde::Deserializer<'de>, T: Deserialize<'de> + Default>(d: D) -> Result<T, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum KnownOrNot<T> {
        Known(T),
        Other(serde::de::IgnoredAny),
    }
    Ok(match KnownOrNot::<T>::deserialize(d)? {
        KnownOrNot::Known(t) => t,
        KnownOrNot::Other(_) => T::default(),
    })
}

/// A path as text, or none when it is not UTF-8: the storage format cannot hold it, and failing
/// would lose every other setting.
fn utf8_path_or_none<S: serde::Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&path.as_deref().and_then(Path::to_str), s)
}

/// How the app gets its audio output.
#[derive(Debug, Clone, Default)]
pub enum AudioOutput {
    /// Open the default output device (controls are disabled if there is none).
    #[default]
    Default,
    /// No audio output, with the reason shown in the controls' tooltip.
    Unavailable(String),
}

/// Start-up options (from the command line, or from a test).
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Folder to open (wins over the last folder).
    pub folder: Option<PathBuf>,
    /// When no folder is given or remembered, open the user's music folder.
    pub open_music_dir: bool,
    /// Audio output.
    pub audio: AudioOutput,
    /// Analysis cache file; `None` runs without a cache.
    pub cache_path: Option<PathBuf>,
    /// Undo journal file; `None`: writing tags is disabled.
    pub journal_path: Option<PathBuf>,
    /// The user's config file (write settings); `None`: defaults, not saved.
    pub config_path: Option<PathBuf>,
    /// Worker threads for batch analysis (0: one per core).
    pub workers: usize,
    /// Record frame times (`--frame-stats`).
    pub frame_stats: bool,
    /// Select the track with this file name once it is listed.
    pub select: Option<String>,
    /// More tracks (file names in the same folder) to add to the selection with it: the other
    /// files a desktop passed (`melotag %F`).
    pub also_select: Vec<String>,
    /// Tag the library once it is listed, then close the window (measurements).
    pub bench: bool,
    /// Close the window after this long (measurements).
    pub quit_after: Option<Duration>,
    /// Model id to start with (wins over the remembered one).
    pub model_id: Option<String>,
    /// Mode to start with (wins over the remembered one).
    pub mode: Option<Mode>,
    /// A panel to open at start (screenshots): "review", "history", "settings", "similar".
    pub show: Option<String>,
}

/// Analysis state of one track, for the current model and mode.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Not analysed with this model and mode.
    NotAnalysed,
    /// Waiting in a batch.
    Queued,
    /// A worker is on it.
    Analysing,
    /// Scored.
    Done,
    /// Failed, with the reason.
    Error(String),
}

impl Status {
    /// Short text for the table.
    pub fn label(&self) -> String {
        match self {
            Status::NotAnalysed => "—".into(),
            Status::Queued => "queued".into(),
            Status::Analysing => "analysing".into(),
            Status::Done => "done".into(),
            Status::Error(e) => format!("error: {e}"),
        }
    }

    fn rank(&self) -> u8 {
        match self {
            Status::Error(_) => 0,
            Status::Analysing => 1,
            Status::Queued => 2,
            Status::NotAnalysed => 3,
            Status::Done => 4,
        }
    }
}

/// One audio file of the open folder.
#[derive(Debug, Clone)]
pub struct Track {
    /// The file.
    pub path: PathBuf,
    /// Title tag, else the file name.
    pub title: String,
    /// Artist tag.
    pub artist: String,
    /// Duration (tags/header first, analysis later).
    pub duration_s: Option<f64>,
    /// Upper-case extension.
    pub format: String,
    /// Size and mtime when listed (cache key).
    pub stamp: Option<FileStamp>,
    /// Analysis state.
    pub status: Status,
    /// Scores for the current model and mode.
    pub analysis: Option<Analysis>,
    /// The best tags, best first (for the table and the filter).
    pub top_tags: Vec<String>,
    /// The analysis's embedding (moved out of it: shared with similarity queries cheaply).
    pub embedding: Option<Arc<[f32]>>,
    /// Whether `title` comes from a title tag (else it is the file name).
    pub has_title_tag: bool,
    /// The genre values in the file now.
    pub genre: Vec<String>,
    /// The mood values in the file now.
    pub mood: Vec<String>,
    /// The last write of this file from the app: done, or why not.
    pub write_note: Option<Result<(), String>>,
    /// Lower-case sort keys and filter text, kept in step by `reindex`.
    title_key: String,
    artist_key: String,
    search: String,
}

impl Track {
    fn new(path: PathBuf) -> Track {
        let title = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let format = path.extension().map(|e| e.to_string_lossy().to_uppercase()).unwrap_or_default();
        let mut t = Track {
            path,
            title,
            artist: String::new(),
            duration_s: None,
            format,
            stamp: None,
            status: Status::NotAnalysed,
            analysis: None,
            top_tags: Vec::new(),
            embedding: None,
            has_title_tag: false,
            genre: Vec::new(),
            mood: Vec::new(),
            write_note: None,
            title_key: String::new(),
            artist_key: String::new(),
            search: String::new(),
        };
        t.reindex();
        t
    }

    /// Recomputes the sort keys and the filter text after a change.
    fn reindex(&mut self) {
        self.title_key = self.title.to_lowercase();
        self.artist_key = self.artist.to_lowercase();
        self.search = format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.path.to_string_lossy().to_lowercase(),
            self.title_key,
            self.artist_key,
            self.top_tags.join("\n").to_lowercase(),
            self.genre.join("\n").to_lowercase(),
            self.mood.join("\n").to_lowercase()
        );
    }

    fn set_outcome(&mut self, outcome: Result<Analysis, TrackError>, tags: &[Option<&'static Entry>]) {
        match outcome {
            Ok(mut a) => {
                self.embedding = a.embedding.take().map(Arc::from);
                if a.duration_s.is_some() {
                    self.duration_s = a.duration_s;
                }
                // The strongest canonical tags (synonyms and vocabularies merged).
                let mut ranked = crate::engine::tags::policy::canonical_scores(tags, &a.scores);
                ranked.sort_by(|x, y| y.score.total_cmp(&x.score));
                self.top_tags = ranked.iter().take(3).map(|s| s.name.to_string()).collect();
                self.status = Status::Done;
                self.analysis = Some(a);
            }
            Err(e) => {
                self.top_tags.clear();
                self.analysis = None;
                self.embedding = None;
                self.status = Status::Error(e.message);
            }
        }
        self.reindex();
    }

    /// Takes the tags and stamp read from the file.
    fn apply_meta(&mut self, meta: Meta) {
        if let Some(title) = meta.title {
            self.title = title;
            self.has_title_tag = true;
        }
        if let Some(artist) = meta.artist {
            self.artist = artist;
        }
        if self.duration_s.is_none() {
            self.duration_s = meta.duration_s;
        }
        self.genre = meta.genre;
        self.mood = meta.mood;
        self.stamp = meta.stamp;
        self.reindex();
    }

    fn clear_outcome(&mut self) {
        self.status = Status::NotAnalysed;
        self.analysis = None;
        self.embedding = None;
        self.top_tags.clear();
        self.reindex();
    }
}

/// Metadata read off the UI thread.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    title: Option<String>,
    artist: Option<String>,
    duration_s: Option<f64>,
    genre: Vec<String>,
    mood: Vec<String>,
    stamp: Option<FileStamp>,
}

/// Messages from background threads to the UI.
#[derive(Debug)]
pub enum BgMsg {
    /// The scanner listed more files.
    Found { scan: u64, paths: Vec<PathBuf> },
    /// The scanner finished listing (with the paths it could not read).
    Listed { scan: u64, errors: Vec<(PathBuf, String)> },
    /// Tags and stamps of listed files.
    Meta { scan: u64, items: Vec<(PathBuf, Meta)> },
    /// Cached results for the given model and mode.
    Cached { model_id: String, mode: Mode, items: Vec<(PathBuf, Result<Analysis, TrackError>)> },
    /// The scanner is done with tags and cache look-ups.
    ScanDone { scan: u64 },
    /// The folder dialog returned a folder.
    PickedFolder(PathBuf),
    /// A spectrogram computation reports.
    Spec { id: u64, msg: SpecMsg },
    /// An analysis job reports.
    Job { id: u64, msg: JobMsg },
    /// A result for "Compare models" (from the cache or a fresh analysis).
    Compare { key: CompareKey, outcome: Result<Vec<f32>, String> },
    /// The evaluation window's run finished.
    Eval { id: u64, outcome: Result<Box<crate::engine::eval::EvalReport>, EvalFailure> },
    /// The config file was read.
    ConfigLoaded(Result<crate::engine::config::UserConfig, String>),
    /// The config file was saved, or why not.
    ConfigSaved(Result<(), String>),
    /// Tags of some of a review's files (by index in the review).
    ReviewTags { id: u64, items: Vec<(usize, Result<crate::engine::tags::FileTags, String>)> },
    /// A review's plans, for the inputs and settings of `generation`.
    ReviewPlans { id: u64, generation: u64, plans: Vec<crate::engine::tags::FilePlan> },
    /// One file of a review's write (index in the review).
    Written { id: u64, index: usize, result: Result<(), String> },
    /// A review's write ended.
    WriteDone { id: u64, outcome: Result<crate::engine::tags::BatchOutcome, String> },
    /// An undo ended: its summary, and the files it touched.
    UndoDone { summary: Result<String, String>, paths: Vec<PathBuf> },
    /// The write batches, newest first.
    History(Result<Vec<crate::engine::tags::undo::BatchSummary>, String>),
    /// Tags re-read after a write or an undo.
    Refreshed(Vec<(PathBuf, Meta)>),
    /// The analysis cache was damaged and rebuilt (its old file moved here).
    CacheRepaired(PathBuf),
    /// A Similar query's answer, and the index it built (to reuse).
    Similar { id: u64, answer: similar::SimilarAnswer, built: Option<similar::BuiltIndex> },
    /// A play-queue track decoded for playback (mono samples, rate), or why not.
    QueueAudio { id: u64, path: PathBuf, outcome: Result<player::PlayableAudio, String> },
    /// The save dialog returned a playlist file.
    PlaylistChosen(PathBuf),
    /// A playlist was saved (file, tracks), or why not.
    PlaylistSaved(Result<(PathBuf, usize), String>),
}

/// A "Compare models" result: file, model id, mode.
pub type CompareKey = (PathBuf, String, Mode);

/// One model's scores for the compared track.
#[derive(Debug, Clone, PartialEq)]
pub enum CompareState {
    /// Being read from the cache or analysed.
    Pending,
    /// The 50 scores.
    Done(Vec<f32>),
    /// Failed, with the reason.
    Error(String),
}

/// The evaluation window's state.
pub struct EvalRun {
    /// Id in [`BgMsg::Eval`].
    pub id: u64,
    /// The folder evaluated.
    pub folder: PathBuf,
    /// When it started.
    pub started: Instant,
    /// `None` while running; the report, or why there is none.
    pub outcome: Option<Result<Box<crate::engine::eval::EvalReport>, EvalFailure>>,
}

/// Why the evaluation window has no report.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalFailure {
    /// The folder has no file with a GENRE or MOOD tag.
    NoLabels,
    /// Anything else, for people.
    Other(String),
}

/// What an analysis job's forwarding thread sends.
#[derive(Debug)]
pub enum JobMsg {
    /// Sessions are open; workers run.
    Running,
    /// A worker started on a file.
    Started(PathBuf),
    /// A file is finished.
    Finished(Box<TrackResult>),
    /// Every file is done, or the job was cancelled.
    Done { cancelled: bool },
    /// The job could not start (no runtime, no model file ...).
    Failed(String),
}

/// Sends to the UI and wakes it.
#[derive(Clone)]
pub struct Bg {
    tx: Sender<BgMsg>,
    ctx: egui::Context,
}

impl Bg {
    /// Sends a message and requests a repaint; false when the UI is gone.
    pub fn send(&self, msg: BgMsg) -> bool {
        let ok = self.tx.send(msg).is_ok();
        self.ctx.request_repaint();
        ok
    }
}

/// How often results arriving in the background re-sort and re-filter the table.
const VIEW_REFRESH: Duration = Duration::from_millis(250);

/// Whether a job is the batch or the selected track's analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// "Tag library".
    Batch,
    /// The selected track, analysed on demand.
    Single,
}

/// A running (or finished) analysis job as the UI sees it.
pub struct JobRun {
    /// Id in [`BgMsg::Job`].
    pub id: u64,
    /// Batch or single.
    pub kind: JobKind,
    /// Model id and mode it runs with.
    pub model_id: String,
    /// Analysis mode.
    pub mode: Mode,
    /// Files in the job.
    pub total: usize,
    /// Files finished.
    pub done: usize,
    /// Files that failed.
    pub failed: usize,
    /// When the job was started.
    pub started: Instant,
    /// Time spent paused so far (excluded from the rate).
    pub paused_for: Duration,
    /// Since when it is paused.
    pub paused_since: Option<Instant>,
    /// Cancel requested.
    pub cancelling: bool,
    /// Finished (or cancelled, or failed to start).
    pub finished: Option<String>,
    files: Vec<PathBuf>,
    control: Arc<Control>,
}

impl JobRun {
    /// Time spent running (not paused).
    pub fn active_time(&self) -> Duration {
        let paused = self.paused_for + self.paused_since.map(|t| t.elapsed()).unwrap_or_default();
        self.started.elapsed().saturating_sub(paused)
    }

    /// Finished files per second of active time.
    pub fn rate(&self) -> f64 {
        let t = self.active_time().as_secs_f64();
        if t > 0.0 { self.done as f64 / t } else { 0.0 }
    }

    /// Estimated time left.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rate();
        (rate > 0.0 && self.done > 0).then(|| Duration::from_secs_f64((self.total - self.done) as f64 / rate))
    }

    /// Whether the job is paused.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    /// Pauses or resumes handing out files.
    pub fn set_paused(&mut self, paused: bool) {
        match (paused, self.paused_since) {
            (true, None) => self.paused_since = Some(Instant::now()),
            (false, Some(t)) => {
                self.paused_for += t.elapsed();
                self.paused_since = None;
            }
            _ => {}
        }
        self.control.set_paused(paused);
    }

    /// Stops handing out files (workers finish the file they are on).
    pub fn cancel(&mut self) {
        self.cancelling = true;
        self.set_paused(false);
        self.control.cancel();
    }
}

/// The selected track's view: spectrogram, playback state.
pub struct TrackView {
    /// Index into [`MelotagApp::tracks`].
    pub track: usize,
    /// Spectrogram computation id.
    pub spec_id: u64,
    /// The spectrogram as it fills in.
    pub spec: Spectrogram,
}

/// Percentiles of recorded frame times.
#[derive(Debug, Clone, Copy)]
pub struct FrameStats {
    /// Frames recorded.
    pub frames: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
    /// Slowest frame, milliseconds.
    pub max_ms: f64,
}

/// The app.
pub struct MelotagApp {
    /// Persistent settings.
    pub persisted: Persisted,
    /// Start-up options.
    pub options: AppOptions,
    /// Every manifest found (ok or not).
    pub manifests: Vec<Arc<Manifest>>,
    /// Manifests that failed to load.
    pub manifest_errors: Vec<String>,
    /// The open folder.
    pub folder: Option<PathBuf>,
    /// Its audio files.
    pub tracks: Vec<Track>,
    by_path: HashMap<PathBuf, usize>,
    /// Paths the scan could not read.
    pub scan_errors: Vec<(PathBuf, String)>,
    /// Scan in progress: (id, still listing).
    pub scanning: Option<(u64, bool)>,
    /// Filter box text.
    pub filter: String,
    /// Visible track indices, sorted and filtered.
    pub view: Vec<usize>,
    /// The view must be recomputed now (the folder, filter or sort changed).
    view_dirty: bool,
    /// Background results may have moved rows: recomputed at most every [`VIEW_REFRESH`].
    view_stale: bool,
    view_refreshed: Option<Instant>,
    /// The id of the spectrogram being shown (0: none): the others' threads stop.
    spec_current: Arc<std::sync::atomic::AtomicU64>,
    /// The focused track (the track panel shows it).
    pub selected: Option<usize>,
    /// The selected tracks (what "Write tags…" reviews).
    pub selection: BTreeSet<usize>,
    /// Where a Shift-click range starts.
    pub anchor: Option<usize>,
    /// The write workflow: review, history, undo, settings.
    pub write: write::WriteUi,
    /// Scroll the table to the selection next frame.
    pub scroll_to_selected: bool,
    /// The selected track's spectrogram.
    pub track_view: Option<TrackView>,
    /// Batch and single-track jobs.
    pub jobs: Vec<JobRun>,
    /// Playback.
    pub playback: Playback,
    /// Last error to show in the status bar.
    pub message: Option<String>,
    /// "Compare models" results of other models than the current one.
    pub compare: HashMap<CompareKey, CompareState>,
    /// Whether the evaluation window is open.
    pub eval_open: bool,
    /// The last (or running) evaluation.
    pub eval: Option<EvalRun>,
    /// The Similar list and the play queue.
    pub similar: similar::SimilarUi,
    /// The file the player holds.
    pub now_playing: Option<PathBuf>,
    frame_times: Vec<f32>,
    /// eframe's whole-frame CPU time (UI, tessellation, painting) of each previous frame.
    cpu_times: Vec<f32>,
    next_id: u64,
    pending_open: Option<PathBuf>,
    tx: Sender<BgMsg>,
    rx: Receiver<BgMsg>,
    bg: Option<Bg>,
}

impl MelotagApp {
    /// Builds the app from eframe's storage (if any) and the start-up options. No folder is
    /// scanned here: that starts with the first frame, on a background thread.
    pub fn new(storage: Option<&dyn eframe::Storage>, options: AppOptions) -> MelotagApp {
        let mut persisted: Persisted = storage.and_then(|s| eframe::get_value(s, STORAGE_KEY)).unwrap_or_default();
        if let Some(id) = &options.model_id {
            persisted.model_id = id.clone();
        }
        if let Some(mode) = options.mode {
            persisted.mode = mode;
        }
        let mut manifests = Vec::new();
        let mut manifest_errors = Vec::new();
        for m in model::available_manifests() {
            match m {
                Ok(m) => manifests.push(Arc::new(m)),
                Err(e) => manifest_errors.push(e.to_string()),
            }
        }
        let pending_open = options.folder.clone().or_else(|| persisted.last_folder.clone().filter(|f| f.is_dir())).or_else(|| {
            options
                .open_music_dir
                .then(|| directories::UserDirs::new().and_then(|u| u.audio_dir().map(Path::to_path_buf)))
                .flatten()
                .filter(|d| d.is_dir())
        });
        let playback = match &options.audio {
            AudioOutput::Default => Playback::open_default(),
            AudioOutput::Unavailable(reason) => Playback::unavailable(reason.clone()),
        };
        let (tx, rx) = channel();
        let mut app = MelotagApp {
            persisted,
            options,
            manifests,
            manifest_errors,
            folder: None,
            tracks: Vec::new(),
            by_path: HashMap::new(),
            scan_errors: Vec::new(),
            scanning: None,
            filter: String::new(),
            view: Vec::new(),
            view_dirty: true,
            view_stale: false,
            view_refreshed: None,
            spec_current: Arc::default(),
            selected: None,
            selection: BTreeSet::new(),
            anchor: None,
            write: write::WriteUi::default(),
            scroll_to_selected: false,
            track_view: None,
            jobs: Vec::new(),
            playback,
            message: None,
            compare: HashMap::new(),
            eval_open: false,
            eval: None,
            similar: similar::SimilarUi::default(),
            now_playing: None,
            frame_times: Vec::new(),
            cpu_times: Vec::new(),
            next_id: 1,
            pending_open,
            tx,
            rx,
            bg: None,
        };
        if app.manifest().is_none() {
            // An alias ("musicnn", the CLI's default) or a model that is gone: its id, else the first.
            let id = model::resolve_model(&app.persisted.model_id)
                .ok()
                .map(|m| m.id)
                .filter(|id| app.manifests.iter().any(|m| &m.id == id))
                .or_else(|| app.manifests.first().map(|m| m.id.clone()));
            if let Some(id) = id {
                app.persisted.model_id = id;
            }
        }
        app
    }

    /// The current model's manifest.
    pub fn manifest(&self) -> Option<Arc<Manifest>> {
        self.manifests.iter().find(|m| m.id == self.persisted.model_id).cloned()
    }

    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn bg(&self) -> Bg {
        self.bg.clone().expect("bg is set on the first frame")
    }

    /// Opens a folder: clears the table and starts a background scan.
    pub fn open_folder(&mut self, folder: PathBuf) {
        // A running write's review refers to this folder's tracks: the folder opens after it.
        if self.write.review.as_ref().is_some_and(write::Review::writing) {
            self.message = Some(format!("{} opens when the write ends.", folder.display()));
            self.pending_open = Some(folder);
            return;
        }
        for job in &mut self.jobs {
            if job.finished.is_none() {
                job.cancel();
            }
        }
        // Messages were about the folder being left.
        self.message = None;
        self.playback.stop();
        self.now_playing = None;
        self.similar = similar::SimilarUi::default();
        self.folder = Some(folder.clone());
        self.persisted.last_folder = Some(folder.clone());
        self.tracks.clear();
        self.by_path.clear();
        self.scan_errors.clear();
        self.compare.clear();
        self.selected = None;
        self.selection.clear();
        self.anchor = None;
        self.write.review = None;
        self.track_view = None;
        self.spec_current.store(0, std::sync::atomic::Ordering::Relaxed);
        self.view_dirty = true;
        let scan = self.next_id();
        self.scanning = Some((scan, true));
        let mode = self.persisted.mode;
        spawn_scan(scan, folder, self.manifest(), mode, self.options.cache_path.clone(), self.bg());
    }

    /// Switches model or mode: results shown are those of the new pair (from the cache when
    /// there), running jobs of the old pair are cancelled, the selected track is re-analysed.
    pub fn set_model_mode(&mut self, model_id: String, mode: Mode) {
        if model_id == self.persisted.model_id && mode == self.persisted.mode {
            return;
        }
        self.persisted.model_id = model_id.clone();
        self.persisted.mode = mode;
        for job in &mut self.jobs {
            if job.finished.is_none() {
                job.cancel();
            }
        }
        for t in &mut self.tracks {
            t.clear_outcome();
        }
        self.results_changed();
        self.view_dirty = true;
        let items: Vec<(PathBuf, Option<FileStamp>)> = self.tracks.iter().map(|t| (t.path.clone(), t.stamp)).collect();
        if let (Some(cache_path), Some(manifest)) = (self.options.cache_path.clone(), self.manifest()) {
            let bg = self.bg();
            let spawned = std::thread::Builder::new().name("melotag-cache-read".into()).spawn(move || {
                let Some(cache) = open_cache(Some(&cache_path), &bg) else { return };
                for chunk in items.chunks(256) {
                    let hits = chunk
                        .iter()
                        .filter_map(|(p, stamp)| {
                            let stamp = stamp.or_else(|| FileStamp::of(p))?;
                            let key = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                            cache.get(&key, stamp, &manifest, mode).ok().flatten().map(|r| (p.clone(), r))
                        })
                        .collect();
                    if !bg.send(BgMsg::Cached { model_id: model_id.clone(), mode, items: hits }) {
                        return;
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!("cannot start a cache reader: {e}");
            }
        }
        if let Some(i) = self.selected {
            self.analyse_selected_if_needed(i);
        }
    }

    /// Selects a track: starts its spectrogram (and playback audio) and, when it has no
    /// result for the current model and mode, its analysis.
    pub fn select(&mut self, index: usize) {
        if self.selected == Some(index) && self.track_view.is_some() {
            return;
        }
        self.selected = Some(index);
        self.scroll_to_selected = true;
        // Browsing does not stop "Play similar"; otherwise the player holds the selected track.
        if self.similar.queue.is_none() {
            self.playback.stop();
            self.now_playing = None;
        }
        let Some(track) = self.tracks.get(index) else { return };
        let path = track.path.clone();
        let hint = track.duration_s;
        let spec_id = self.next_id();
        let params = self.manifest().map(|m| m.frontend.clone());
        self.track_view = Some(TrackView { track: index, spec_id, spec: Spectrogram::requested_now() });
        self.spec_current.store(spec_id, std::sync::atomic::Ordering::Relaxed);
        if let Some(params) = params {
            let current = self.spec_current.clone();
            crate::app::spectrogram::spawn(spec_id, path, params, self.playback.is_available(), hint, current, self.bg());
        }
        self.analyse_selected_if_needed(index);
    }

    fn analyse_selected_if_needed(&mut self, index: usize) {
        let Some(track) = self.tracks.get(index) else { return };
        if !matches!(track.status, Status::NotAnalysed) {
            return;
        }
        let path = track.path.clone();
        let stamp = track.stamp;
        self.start_job(JobKind::Single, vec![(path, stamp)]);
    }

    /// Analyses `paths` again for an embedding (results cached by an older melotag have none).
    pub fn reanalyse_for_similarity(&mut self, paths: Vec<PathBuf>) {
        let files = paths.into_iter().map(|p| (self.by_path.get(&p).and_then(|&i| self.tracks[i].stamp), p)).map(|(s, p)| (p, s)).collect();
        self.start_job(JobKind::Single, files);
    }

    /// Starts "Tag library" over every track without a result for the current model and mode.
    pub fn start_batch(&mut self) {
        if self.batch().is_some_and(|b| b.finished.is_none()) {
            return;
        }
        // Results kept by an older melotag without an embedding are redone for similarity.
        let embeds = self.manifest().is_some_and(|m| m.embedding_output.is_some());
        let files: Vec<(PathBuf, Option<FileStamp>)> = self
            .tracks
            .iter()
            .filter(|t| {
                matches!(t.status, Status::NotAnalysed | Status::Error(_)) || (t.status == Status::Done && t.embedding.is_none() && embeds)
            })
            .map(|t| (t.path.clone(), t.stamp))
            .collect();
        if files.is_empty() {
            self.jobs.retain(|j| j.kind != JobKind::Batch);
            self.message = Some("Every track is already tagged with this model and mode.".into());
            return;
        }
        self.start_job(JobKind::Batch, files);
    }

    fn start_job(&mut self, kind: JobKind, files: Vec<(PathBuf, Option<FileStamp>)>) {
        let Some(manifest) = self.manifest() else {
            self.message = Some(format!("No model installed: {}.", crate::engine::paths::setup_hint()));
            return;
        };
        // One batch at a time (callers start one only when none runs): the bar, Close and
        // Cancel act on the only one there is.
        if kind == JobKind::Batch {
            self.jobs.retain(|j| j.kind != JobKind::Batch);
        }
        for (path, _) in &files {
            if let Some(&i) = self.by_path.get(path) {
                self.tracks[i].status = Status::Queued;
            }
        }
        self.view_dirty = true;
        let id = self.next_id();
        let control = Control::new();
        let workers = match (kind, self.options.workers) {
            (JobKind::Single, _) => 1,
            (JobKind::Batch, 0) => analysis::default_workers(),
            (JobKind::Batch, n) => n,
        };
        self.jobs.push(JobRun {
            id,
            kind,
            model_id: manifest.id.clone(),
            mode: self.persisted.mode,
            total: files.len(),
            done: 0,
            failed: 0,
            started: Instant::now(),
            paused_for: Duration::ZERO,
            paused_since: None,
            cancelling: false,
            finished: None,
            files: files.iter().map(|f| f.0.clone()).collect(),
            control: control.clone(),
        });
        let need = if manifest.embedding_output.is_some() { Need::Embedding } else { Need::Scores };
        let config = JobConfig { manifest, mode: self.persisted.mode, workers, tuning: Default::default() };
        spawn_job(id, config, need, files, self.options.cache_path.clone(), control, self.bg());
    }

    /// The converted models (those "Compare models" and the evaluation use).
    pub fn ready_manifests(&self) -> Vec<Arc<Manifest>> {
        self.manifests.iter().filter(|m| m.is_ready()).cloned().collect()
    }

    /// "Compare models": the scores of each converted model for the selected track, in
    /// [`Self::ready_manifests`] order. The current model's come from the track itself; other
    /// models' missing results are requested here (cache, else analysis, on a background
    /// thread), `Pending` until they arrive.
    pub fn compare_scores(&mut self) -> Vec<(Arc<Manifest>, CompareState)> {
        let Some(track) = self.selected.and_then(|i| self.tracks.get(i)) else { return Vec::new() };
        let path = track.path.clone();
        let mode = self.persisted.mode;
        let mut out = Vec::new();
        let mut missing = Vec::new();
        for m in self.ready_manifests() {
            let state = if m.id == self.persisted.model_id {
                match (&track.status, &track.analysis) {
                    (Status::Done, Some(a)) => CompareState::Done(a.scores.clone()),
                    (Status::Error(e), _) => CompareState::Error(e.clone()),
                    _ => CompareState::Pending,
                }
            } else {
                let key = (path.clone(), m.id.clone(), mode);
                match self.compare.get(&key) {
                    Some(s) => s.clone(),
                    None => {
                        self.compare.insert(key, CompareState::Pending);
                        missing.push(m.clone());
                        CompareState::Pending
                    }
                }
            };
            out.push((m, state));
        }
        if !missing.is_empty() {
            spawn_compare(path, missing, mode, self.options.cache_path.clone(), self.bg());
        }
        out
    }

    /// Starts the evaluation window's run: `melotag eval --from-tags` on the open folder with
    /// every converted model, on a background thread.
    pub fn start_eval(&mut self) {
        let Some(folder) = self.folder.clone() else { return };
        if self.eval.as_ref().is_some_and(|e| e.outcome.is_none()) {
            return;
        }
        let id = self.next_id();
        let models = self.ready_manifests();
        self.eval = Some(EvalRun { id, folder: folder.clone(), started: Instant::now(), outcome: None });
        if models.is_empty() {
            if let Some(run) = self.eval.as_mut() {
                run.outcome = Some(Err(EvalFailure::Other(format!("No converted model: {}.", crate::engine::paths::setup_hint()))));
            }
            return;
        }
        let settings = crate::engine::eval::EvalSettings {
            paths: vec![folder],
            labels: crate::engine::eval::LabelSource::FileTags,
            models,
            mode: Mode::Center,
            workers: if self.options.workers > 0 { self.options.workers } else { analysis::default_workers() },
            timing: true,
            use_cache: self.options.cache_path.is_some(),
        };
        let (bg, cache_path) = (self.bg(), self.options.cache_path.clone());
        let spawned = std::thread::Builder::new().name("melotag-eval".into()).spawn(move || {
            let cache = open_cache(cache_path.as_deref(), &bg);
            let outcome = crate::engine::eval::build_report(&settings, cache.as_ref(), &Control::new(), |_| {})
                .map(|(r, _)| Box::new(r))
                .map_err(|e| match e {
                    crate::engine::eval::EvalError::NoLabels => EvalFailure::NoLabels,
                    other => EvalFailure::Other(other.to_string()),
                });
            bg.send(BgMsg::Eval { id, outcome });
        });
        if let Err(e) = spawned {
            self.message = Some(format!("Could not start the evaluation: {e}"));
        }
    }

    /// The current (or last) batch.
    pub fn batch(&self) -> Option<&JobRun> {
        self.jobs.iter().find(|j| j.kind == JobKind::Batch)
    }

    /// The current (or last) batch, mutably.
    pub fn batch_mut(&mut self) -> Option<&mut JobRun> {
        self.jobs.iter_mut().find(|j| j.kind == JobKind::Batch)
    }

    /// Whether a batch is running.
    pub fn batch_running(&self) -> bool {
        self.batch().is_some_and(|b| b.finished.is_none())
    }

    /// The track at `path`, if listed.
    pub fn track_by_path(&self, path: &Path) -> Option<&Track> {
        self.by_path.get(path).map(|&i| &self.tracks[i])
    }

    /// Frame-time percentiles so far (with `frame_stats`).
    pub fn frame_stats(&self) -> Option<FrameStats> {
        percentiles(&self.frame_times)
    }

    fn drain(&mut self) {
        let tags: Vec<Option<&'static Entry>> = self.manifest().map(|m| m.entries()).unwrap_or_default();
        // Bounded per frame so a flood of messages cannot stall a frame.
        let deadline = Instant::now() + Duration::from_millis(4);
        while let Ok(msg) = self.rx.try_recv() {
            self.handle(msg, &tags);
            if Instant::now() > deadline {
                if let Some(bg) = &self.bg {
                    bg.ctx.request_repaint();
                }
                break;
            }
        }
    }

    fn current_scan(&self, scan: u64) -> bool {
        self.scanning.is_some_and(|(s, _)| s == scan)
    }

    fn handle(&mut self, msg: BgMsg, tags: &[Option<&'static Entry>]) {
        match msg {
            BgMsg::Found { scan, paths } if self.current_scan(scan) => {
                for p in paths {
                    if !self.by_path.contains_key(&p) {
                        self.by_path.insert(p.clone(), self.tracks.len());
                        self.tracks.push(Track::new(p));
                    }
                }
                self.view_stale = true;
            }
            BgMsg::Listed { scan, errors } if self.current_scan(scan) => {
                self.scan_errors = errors;
                self.scanning = Some((scan, false));
            }
            BgMsg::Meta { scan, items } if self.current_scan(scan) => {
                for (p, meta) in items {
                    if let Some(&i) = self.by_path.get(&p) {
                        self.tracks[i].apply_meta(meta);
                    }
                }
                self.view_stale = true;
            }
            BgMsg::ScanDone { scan } if self.current_scan(scan) => {
                self.scanning = None;
                self.view_dirty = true;
            }
            BgMsg::Cached { model_id, mode, items } => {
                if model_id != self.persisted.model_id || mode != self.persisted.mode {
                    return;
                }
                for (p, outcome) in items {
                    if let Some(&i) = self.by_path.get(&p)
                        && matches!(self.tracks[i].status, Status::NotAnalysed)
                    {
                        self.tracks[i].set_outcome(outcome, tags);
                    }
                }
                self.results_changed();
                self.view_stale = true;
            }
            BgMsg::PickedFolder(folder) => self.open_folder(folder),
            BgMsg::Spec { id, msg } => {
                if let Some(tv) = &mut self.track_view
                    && tv.spec_id == id
                {
                    if let SpecMsg::Playback(audio) = msg {
                        // Not while "Play similar" plays another track.
                        if self.similar.queue.is_none() {
                            self.playback.load(audio);
                            self.now_playing = self.tracks.get(tv.track).map(|t| t.path.clone());
                        }
                    } else {
                        tv.spec.apply(msg);
                    }
                }
            }
            BgMsg::Job { id, msg } => self.handle_job(id, msg, tags),
            BgMsg::Compare { key, outcome } => {
                let state = match outcome {
                    Ok(scores) => CompareState::Done(scores),
                    Err(e) => CompareState::Error(e),
                };
                self.compare.insert(key, state);
            }
            BgMsg::Eval { id, outcome } => {
                if let Some(run) = &mut self.eval
                    && run.id == id
                {
                    run.outcome = Some(outcome);
                }
            }
            BgMsg::Similar { id, answer, built } => self.similar_answered(id, answer, built),
            BgMsg::QueueAudio { id, path, outcome } => self.queue_audio(id, path, outcome),
            BgMsg::PlaylistChosen(file) => self.save_similar_playlist(file),
            BgMsg::PlaylistSaved(outcome) => {
                self.message = Some(match outcome {
                    Ok((file, n)) => format!("Saved a playlist of {n} tracks: {}", file.display()),
                    Err(e) => format!("Could not save the playlist: {e}"),
                });
            }
            BgMsg::CacheRepaired(moved) => {
                self.message = Some(format!("The analysis cache was damaged; it was moved to {} and a new one started.", moved.display()));
            }
            msg @ (BgMsg::ConfigLoaded(_)
            | BgMsg::ConfigSaved(_)
            | BgMsg::ReviewTags { .. }
            | BgMsg::ReviewPlans { .. }
            | BgMsg::Written { .. }
            | BgMsg::WriteDone { .. }
            | BgMsg::UndoDone { .. }
            | BgMsg::History(_)
            | BgMsg::Refreshed(_)) => self.handle_write(msg),
            _ => {} // a stale scan
        }
    }

    fn handle_job(&mut self, id: u64, msg: JobMsg, tags: &[Option<&'static Entry>]) {
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) else { return };
        let current = job.model_id == self.persisted.model_id && job.mode == self.persisted.mode;
        match msg {
            JobMsg::Running => {}
            JobMsg::Started(path) => {
                if current && let Some(&i) = self.by_path.get(&path) {
                    self.tracks[i].status = Status::Analysing;
                    self.view_stale = true;
                }
            }
            JobMsg::Finished(result) => {
                job.done += 1;
                if result.outcome.is_err() {
                    job.failed += 1;
                }
                if current && let Some(&i) = self.by_path.get(&result.path) {
                    self.tracks[i].set_outcome(result.outcome, tags);
                    self.similar.generation += 1;
                    self.view_stale = true;
                }
            }
            JobMsg::Done { cancelled } => {
                job.finished = Some(if cancelled {
                    format!("Cancelled after {} of {} tracks", job.done, job.total)
                } else {
                    format!("Tagged {} tracks ({} failed)", job.done, job.failed)
                });
                job.paused_since = None;
                // Files the job never reached go back to "not analysed".
                if current {
                    for p in std::mem::take(&mut job.files) {
                        if let Some(&i) = self.by_path.get(&p)
                            && matches!(self.tracks[i].status, Status::Queued | Status::Analysing)
                        {
                            self.tracks[i].status = Status::NotAnalysed;
                        }
                    }
                }
                // A single-track job is forgotten; the batch stays for its summary.
                if job.kind == JobKind::Single {
                    self.jobs.retain(|j| j.id != id);
                }
                self.view_dirty = true;
            }
            JobMsg::Failed(e) => {
                job.finished = Some(format!("Could not start the analysis: {e}"));
                self.message = Some(e.clone());
                if current {
                    for p in std::mem::take(&mut job.files) {
                        if let Some(&i) = self.by_path.get(&p)
                            && matches!(self.tracks[i].status, Status::Queued | Status::Analysing)
                        {
                            self.tracks[i].status = Status::Error(e.clone());
                        }
                    }
                }
                if job.kind == JobKind::Single {
                    self.jobs.retain(|j| j.id != id);
                }
                self.view_dirty = true;
            }
        }
    }

    /// Recomputes the sorted, filtered view when something changed.
    pub fn refresh_view(&mut self) {
        // During a scan or a batch results stream in; re-sorting a large library on every
        // one of them would take most of each frame.
        let since = self.view_refreshed.map(|t| t.elapsed());
        if !self.view_dirty {
            match since {
                _ if !self.view_stale => return,
                Some(d) if d < VIEW_REFRESH => return self.request_repaint_after(VIEW_REFRESH - d),
                _ => {}
            }
        }
        self.view_dirty = false;
        self.view_stale = false;
        self.view_refreshed = Some(Instant::now());
        let needle = self.filter.trim().to_lowercase();
        let tracks = &self.tracks;
        let mut view: Vec<usize> = (0..tracks.len())
            .filter(|&i| {
                if needle.is_empty() {
                    return true;
                }
                tracks[i].search.contains(&needle)
            })
            .collect();
        let key = self.persisted.sort;
        view.sort_by(|&a, &b| {
            let (x, y) = (&tracks[a], &tracks[b]);
            let ord = match key {
                SortColumn::Title => x.title_key.cmp(&y.title_key),
                SortColumn::Artist => x.artist_key.cmp(&y.artist_key),
                SortColumn::Duration => x.duration_s.unwrap_or(-1.0).total_cmp(&y.duration_s.unwrap_or(-1.0)),
                SortColumn::Format => x.format.cmp(&y.format),
                SortColumn::Status => x.status.rank().cmp(&y.status.rank()),
                SortColumn::Tags => x.top_tags.first().cmp(&y.top_tags.first()),
                SortColumn::Genre => x.genre.first().cmp(&y.genre.first()),
                SortColumn::Mood => x.mood.first().cmp(&y.mood.first()),
                // Suggestions change with the settings: sorted by the best tag they come from.
                SortColumn::Suggested => x.top_tags.first().cmp(&y.top_tags.first()),
            };
            // Tracks are listed in path order: the index breaks ties cheaply.
            ord.then_with(|| a.cmp(&b))
        });
        if !self.persisted.ascending {
            view.reverse();
        }
        self.view = view;
    }

    /// Marks the view for re-sorting/filtering.
    pub fn invalidate_view(&mut self) {
        self.view_dirty = true;
    }

    /// Asks for a folder with the system dialog (on a thread: the dialog blocks).
    pub fn pick_folder(&mut self) {
        let bg = self.bg();
        let start = self.folder.clone();
        std::thread::Builder::new()
            .name("melotag-folder-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new().set_title("Open a music folder");
                if let Some(dir) = start {
                    dialog = dialog.set_directory(dir);
                }
                if let Some(folder) = dialog.pick_folder() {
                    bg.send(BgMsg::PickedFolder(folder));
                }
            })
            .ok();
    }

    /// Draws one frame (also what the tests call).
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let t0 = Instant::now();
        let ctx = ui.ctx().clone();
        if self.bg.is_none() {
            self.bg = Some(Bg { tx: self.tx.clone(), ctx: ctx.clone() });
            self.load_config();
        }
        if !self.write.review.as_ref().is_some_and(write::Review::writing)
            && let Some(folder) = self.pending_open.take()
        {
            self.open_folder(folder);
        }
        // A folder (or a file: its folder) dropped on the window.
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if let Some(p) = dropped.into_iter().next() {
            let folder = if p.is_dir() { Some(p) } else { p.parent().map(Path::to_path_buf) };
            if let Some(folder) = folder {
                self.open_folder(folder);
            }
        }
        self.drain();
        self.refresh_view();
        self.write_tick();
        self.similar_tick();
        self.queue_tick();
        self.scripted_steps(&ctx);

        crate::app::ui::toolbar_ui(self, ui);
        if self.batch().is_some() {
            crate::app::ui::batch_ui::batch_ui(self, ui);
        }
        if self.folder.is_none() {
            crate::app::ui::empty_ui(self, ui);
        } else {
            if self.selected.is_some() {
                egui::Panel::bottom("track")
                    .resizable(true)
                    .default_size(640.0)
                    .min_size(200.0)
                    .show(ui, |ui| crate::app::ui::track_ui::track_ui(self, ui));
            }
            egui::CentralPanel::default().show(ui, |ui| crate::app::ui::library_ui::library_ui(self, ui));
        }

        if self.eval_open {
            crate::app::ui::eval_ui::eval_window(self, &ctx);
        }
        if self.write.review.is_some() {
            crate::app::ui::review_ui::review_window(self, &ctx);
        }
        if self.write.history_open {
            crate::app::ui::history_ui::history_window(self, &ctx);
        }
        if self.write.settings_open {
            crate::app::ui::settings_ui::settings_window(self, &ctx);
        }

        // Keep animating while something moves: background work wakes us itself.
        if self.playback.is_playing() {
            ctx.request_repaint_after(Duration::from_millis(33));
        }
        if self.batch_running() {
            ctx.request_repaint_after(Duration::from_millis(250));
        }
        if self.options.frame_stats {
            let ms = t0.elapsed().as_secs_f32() * 1000.0;
            if ms > 8.0 {
                tracing::debug!("slow frame {}: {ms:.1} ms ({} tracks)", self.frame_times.len(), self.tracks.len());
            }
            self.frame_times.push(ms);
        }
    }

    /// `--select` and `--bench`: act once the folder is listed.
    fn scripted_steps(&mut self, ctx: &egui::Context) {
        if let Some(after) = self.options.quit_after {
            if crate::process_start().elapsed() >= after {
                self.options.quit_after = None;
                ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            } else {
                ctx.request_repaint_after(Duration::from_millis(100));
            }
        }
        if self.scanning.is_some_and(|(_, listing)| listing) {
            return;
        }
        if let Some(name) = self.options.select.take() {
            let find =
                |tracks: &[Track], name: &str| tracks.iter().position(|t| t.path.file_name().is_some_and(|n| n.to_string_lossy() == name));
            match find(&self.tracks, &name) {
                Some(i) => {
                    self.select(i);
                    self.selection = std::iter::once(i).collect();
                    for other in std::mem::take(&mut self.options.also_select) {
                        match find(&self.tracks, &other) {
                            Some(j) => {
                                self.selection.insert(j);
                            }
                            None => self.message = Some(format!("{other} is not in this folder")),
                        }
                    }
                }
                None => self.message = Some(format!("{name} is not in this folder")),
            }
        }
        // `--show PANEL` (screenshots): once the folder is scanned.
        if !self.is_scanning()
            && let Some(panel) = self.options.show.take()
        {
            match panel.as_str() {
                "review" => {
                    self.selection = self.view.iter().copied().collect();
                    self.open_review();
                }
                "history" => self.open_history(),
                // The Similar list needs the folder analysed.
                "similar" => self.start_batch(),
                "settings" => self.write.settings_open = true,
                "eval" => {
                    self.eval_open = true;
                    self.start_eval();
                }
                other => self.message = Some(format!("no panel called {other}")),
            }
        }
        if self.options.bench && !self.is_scanning() {
            match self.batch() {
                None => {
                    self.frame_times.clear();
                    self.cpu_times.clear();
                    self.start_batch();
                    if self.batch().is_none() {
                        self.options.bench = false;
                    }
                }
                Some(b) if b.finished.is_some() => {
                    eprintln!("batch: {} tracks in {:.2} s", b.done, b.active_time().as_secs_f64());
                    self.options.bench = false;
                    ctx.send_viewport_cmd(egui::ViewportCommand::Close);
                }
                Some(_) => {}
            }
        }
    }

    /// Number of tracks in the open folder.
    pub fn track_count(&self) -> usize {
        self.tracks.len()
    }

    /// Whether the folder scan (listing, tags and cache) is still going.
    pub fn is_scanning(&self) -> bool {
        self.scanning.is_some()
    }
}

impl eframe::App for MelotagApp {
    fn ui(&mut self, ui: &mut egui::Ui, frame: &mut eframe::Frame) {
        if self.options.frame_stats
            && let Some(cpu) = frame.info().cpu_usage
        {
            self.cpu_times.push(cpu * 1000.0);
        }
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, STORAGE_KEY, &self.persisted);
    }

    fn on_exit(&mut self) {
        for job in &mut self.jobs {
            if job.finished.is_none() {
                job.cancel();
            }
        }
        if let Some(s) = self.frame_stats() {
            println!(
                "frame time (UI code) over {} frames: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                s.frames, s.p50_ms, s.p99_ms, s.max_ms
            );
        }
        if let Some(s) = percentiles(&self.cpu_times) {
            println!(
                "frame time (whole frame: UI, tessellation, painting) over {} frames: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                s.frames, s.p50_ms, s.p99_ms, s.max_ms
            );
        }
    }
}

/// p50 / p99 / max of frame times in milliseconds.
fn percentiles(times: &[f32]) -> Option<FrameStats> {
    if times.is_empty() {
        return None;
    }
    let mut v = times.to_vec();
    v.sort_by(f32::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize] as f64;
    Some(FrameStats { frames: v.len(), p50_ms: at(0.5), p99_ms: at(0.99), max_ms: at(1.0) })
}

/// Lists `folder` (sending files as they are found), then reads tags and cached results.
fn spawn_scan(scan: u64, folder: PathBuf, manifest: Option<Arc<Manifest>>, mode: Mode, cache_path: Option<PathBuf>, bg: Bg) {
    let spawned = std::thread::Builder::new().name("melotag-scan".into()).spawn(move || {
        let started = Instant::now();
        let mut all = Vec::new();
        let mut batch = Vec::new();
        let mut errors = Vec::new();
        let mut last = Instant::now();
        let mut seen = crate::engine::library::SeenFiles::default();
        for entry in walkdir::WalkDir::new(&folder).follow_links(true).sort_by_file_name() {
            match entry {
                Ok(e) if crate::engine::library::is_audio_path(e.path()) && !e.file_type().is_dir() => {
                    if e.file_type().is_file() {
                        if seen.first_entry(&e) {
                            batch.push(e.path().to_path_buf());
                        }
                    } else if let Ok(meta) = e.metadata()
                        && let Some(reason) = crate::engine::library::not_a_regular_file(&meta)
                    {
                        errors.push((e.path().to_path_buf(), reason));
                    }
                }
                Ok(_) => {}
                Err(e) if e.loop_ancestor().is_some() => {}
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| folder.clone());
                    let reason = e.io_error().map(crate::engine::library::io_reason).unwrap_or_else(|| e.to_string());
                    errors.push((path, reason));
                }
            }
            if !batch.is_empty() && (batch.len() >= 500 || last.elapsed() > Duration::from_millis(100)) {
                all.extend(batch.iter().cloned());
                if !bg.send(BgMsg::Found { scan, paths: std::mem::take(&mut batch) }) {
                    return;
                }
                last = Instant::now();
            }
        }
        all.extend(batch.iter().cloned());
        bg.send(BgMsg::Found { scan, paths: batch });
        bg.send(BgMsg::Listed { scan, errors });
        tracing::info!("scan: listed {} files in {:.2} s", all.len(), started.elapsed().as_secs_f64());

        let cache = open_cache(cache_path.as_deref(), &bg);
        for chunk in all.chunks(64) {
            let mut metas = Vec::with_capacity(chunk.len());
            let mut hits = Vec::new();
            for p in chunk {
                let meta = read_meta(p);
                if let (Some(c), Some(stamp), Some(m)) = (&cache, meta.stamp, &manifest)
                    && let Ok(Some(r)) = c.get(&std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()), stamp, m, mode)
                {
                    hits.push((p.clone(), r));
                }
                metas.push((p.clone(), meta));
            }
            if !bg.send(BgMsg::Meta { scan, items: metas }) {
                return;
            }
            if let (false, Some(m)) = (hits.is_empty(), &manifest) {
                bg.send(BgMsg::Cached { model_id: m.id.clone(), mode, items: hits });
            }
        }
        bg.send(BgMsg::ScanDone { scan });
        tracing::info!("scan: tags and cache read for {} files after {:.2} s", all.len(), started.elapsed().as_secs_f64());
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start the folder scan: {e}");
    }
}

/// Title, artist and duration from the file's tags (lofty), and its cache stamp.
pub(crate) fn read_meta(path: &Path) -> Meta {
    use lofty::prelude::*;
    let mut meta = Meta { stamp: FileStamp::of(path), ..Meta::default() };
    let read = std::panic::catch_unwind(|| lofty::read_from_path(path));
    if let Ok(Ok(file)) = read {
        let d = file.properties().duration();
        if d > Duration::ZERO {
            meta.duration_s = Some(d.as_secs_f64());
        }
        if let Some(tag) = file.primary_tag().or_else(|| file.first_tag()) {
            meta.title = tag.title().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            meta.artist = tag.artist().map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
            let values = |key: ItemKey| -> Vec<String> {
                tag.get_strings(key)
                    .flat_map(|v| v.split(['\0', ';']).map(|s| s.trim().to_string()).collect::<Vec<_>>())
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            meta.genre = values(ItemKey::Genre);
            meta.mood = values(ItemKey::Mood);
        }
    }
    meta
}

/// Runs the analysis pipeline (cache, then workers) on a thread and forwards its events by
/// path; results are stored in the cache on the way.
fn spawn_job(
    id: u64,
    config: JobConfig,
    need: Need,
    files: Vec<(PathBuf, Option<FileStamp>)>,
    cache_path: Option<PathBuf>,
    control: Arc<Control>,
    bg: Bg,
) {
    let spawned = std::thread::Builder::new().name("melotag-job".into()).spawn(move || {
        let cache = open_cache(cache_path.as_deref(), &bg);
        let paths: Vec<PathBuf> = files.iter().map(|f| f.0.clone()).collect();
        let stamps: Vec<Option<FileStamp>> = files.iter().map(|f| f.1).collect();
        bg.send(BgMsg::Job { id, msg: JobMsg::Running });
        // A panic here (outside the workers' per-file guard) still ends the job in the window.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pipeline::run(config, &paths, Some(&stamps), cache.as_ref(), need, &control, |event| {
                let msg = match event {
                    Event::Started { index } => JobMsg::Started(paths[index].clone()),
                    Event::Finished { result, .. } => JobMsg::Finished(result),
                    Event::Done { cancelled } => JobMsg::Done { cancelled },
                };
                if !bg.send(BgMsg::Job { id, msg }) {
                    control.cancel();
                }
            })
        }));
        let failure = match run {
            Ok(Ok(_)) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("internal error: the analysis stopped".to_string()),
        };
        if let Some(e) = failure {
            bg.send(BgMsg::Job { id, msg: JobMsg::Failed(e) });
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start an analysis thread: {e}");
    }
}

/// Opens the analysis cache on a background thread; a repaired cache is reported to the UI.
fn open_cache(path: Option<&Path>, bg: &Bg) -> Option<Cache> {
    match Cache::open_at(path?) {
        Ok(opened) => {
            if let Some(moved) = opened.repaired {
                bg.send(BgMsg::CacheRepaired(moved));
            }
            Some(opened.cache)
        }
        Err(e) => {
            tracing::warn!("analysis cache: {e}");
            None
        }
    }
}

/// "Compare models": each model's result for one file, from the cache when there, else
/// analysed (one worker) and written to the cache; one [`BgMsg::Compare`] per model.
fn spawn_compare(path: PathBuf, manifests: Vec<Arc<Manifest>>, mode: Mode, cache_path: Option<PathBuf>, bg: Bg) {
    let spawned = std::thread::Builder::new().name("melotag-compare".into()).spawn(move || {
        let cache = open_cache(cache_path.as_deref(), &bg);
        for m in manifests {
            let key = (path.clone(), m.id.clone(), mode);
            let config = JobConfig { manifest: m.clone(), mode, workers: 1, tuning: Default::default() };
            let mut outcome = Err("not analysed".to_string());
            let run = pipeline::run(config, std::slice::from_ref(&path), None, cache.as_ref(), Need::Scores, &Control::new(), |event| {
                if let Event::Finished { result, .. } = event {
                    outcome = result.outcome.map(|a| a.scores).map_err(|e| e.message);
                }
            });
            let outcome = run.map_err(|e| e.to_string()).and(outcome);
            if !bg.send(BgMsg::Compare { key, outcome }) {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!("cannot start a compare thread: {e}");
    }
}

/// Opens the window with `options` (what `main` made of `melotag gui`'s arguments).
pub fn run(options: AppOptions) -> anyhow::Result<()> {
    let native = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("melotag")
            .with_app_id("melotag")
            .with_inner_size([1280.0, 860.0])
            .with_min_inner_size([640.0, 480.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native("melotag", native, Box::new(move |cc| Ok(Box::new(MelotagApp::new(cc.storage, options)))))
        .map_err(|e| anyhow::anyhow!("could not open the window: {e}"))
}
