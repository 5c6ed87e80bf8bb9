//! The command line, one of melotag's two front ends: clap arguments become the engine's plain
//! settings once, here; the engine's results and events are printed here; exit codes are
//! decided here. `main` parses, then calls [`run`] (or opens the app for `gui`).

pub mod eval;
pub mod output;
pub mod similar;
pub mod tag;
pub mod write;

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::engine::analysis::Mode;
use crate::engine::config::UserConfig;
use crate::engine::model;
use crate::engine::tags::{Category, MergeMode};

/// Command-line arguments.
#[derive(Debug, Parser)]
#[command(
    name = "melotag",
    version,
    disable_version_flag = true,
    about = "Listen to a music library and tag it (genre, mood, instrument, era)"
)]
pub struct Cli {
    /// Print the version (with -v: also the models found and the ONNX Runtime version).
    #[arg(short = 'V', long)]
    pub version: bool,
    /// Settings file read by `write` and the app (default: ~/.config/melotag/config.toml).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// With --version: also the models found and the ONNX Runtime version.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Score every audio file under the given paths with a tagging model.
    Tag(tag::TagArgs),
    /// List the installed models, where they were found, with their inference time per 29 s clip.
    Models(eval::ModelsArgs),
    /// Evaluate models against labels: per-tag ROC-AUC and PR-AUC, side by side.
    Eval(eval::EvalArgs),
    /// Analyse files and write the chosen genre/mood tags into them (preview, confirm, undoable).
    Write(write::WriteArgs),
    /// Restore files melotag wrote: the last batch, a batch, or given files.
    Undo(write::UndoArgs),
    /// List past write batches (for `melotag undo --batch N`).
    History(write::HistoryArgs),
    /// List the tracks under the given paths most like a seed track (by the model's embeddings).
    Similar(similar::SimilarArgs),
    /// Make an M3U8 playlist: from seed tracks to their near neighbours, or by top tags.
    Playlist(similar::PlaylistArgs),
    /// Open the desktop app (the default when no command is given).
    Gui(GuiArgs),
}

/// Arguments of `melotag gui` (`main` turns them into the app's options).
#[derive(Debug, Default, clap::Args)]
pub struct GuiArgs {
    /// Music folder to open, or audio files (their folder opens, the first one selected);
    /// default: the last folder, else the user's music folder.
    pub paths: Vec<PathBuf>,
    /// Model to start with (crnn, cnn, musicnn or a model id; default: the last one used).
    #[arg(long)]
    pub model: Option<String>,
    /// Analysis mode to start with (default: the last one used).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Print frame-time percentiles (p50/p99) when the window closes.
    #[arg(long)]
    pub frame_stats: bool,
    /// Select the track with this file name once it is listed (screenshots, measurements).
    #[arg(long, value_name = "FILE_NAME", hide = true)]
    pub select: Option<String>,
    /// Measurement run: tag the library once it is listed, then close the window.
    #[arg(long, hide = true)]
    pub bench: bool,
    /// Close the window after this many seconds (measurements).
    #[arg(long, value_name = "SECONDS", hide = true)]
    pub quit_after: Option<f64>,
    /// Open a panel at start (screenshots): review, history, settings or similar.
    #[arg(long, value_name = "PANEL", hide = true)]
    pub show: Option<String>,
}

/// `--mode` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// The 29 s centre of each track (upstream recipe).
    Center,
    /// The whole track.
    Full,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Center => Mode::Center,
            ModeArg::Full => Mode::Full,
        }
    }
}

/// `--merge` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MergeArg {
    /// Only fields that are empty: a file's own genre or mood is kept (default).
    Fill,
    /// Keep existing values, add the new ones.
    Merge,
    /// The field gets exactly the new values.
    Replace,
}

impl From<MergeArg> for MergeMode {
    fn from(m: MergeArg) -> MergeMode {
        match m {
            MergeArg::Fill => MergeMode::Fill,
            MergeArg::Merge => MergeMode::Merge,
            MergeArg::Replace => MergeMode::Replace,
        }
    }
}

/// `--categories` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CategoryArg {
    /// Genres, to the genre field.
    Genre,
    /// Moods, to the mood field.
    Mood,
    /// Instruments, to the grouping field.
    Instrument,
    /// Voices (female, male, choir, instrumental), to the grouping field.
    Voice,
    /// Decades, to the grouping field.
    Era,
    /// Tempo and feel (slow, fast, loud, soft), to the grouping field.
    Feel,
}

impl From<CategoryArg> for Category {
    fn from(c: CategoryArg) -> Category {
        match c {
            CategoryArg::Genre => Category::Genre,
            CategoryArg::Mood => Category::Mood,
            CategoryArg::Instrument => Category::Instrument,
            CategoryArg::Voice => Category::Voice,
            CategoryArg::Era => Category::Era,
            CategoryArg::Feel => Category::Feel,
        }
    }
}

/// How tracks are analysed: `--mode` and `--threads`, shared by every command that analyses.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct RunArgs {
    /// Analyse the 29 s centre of each track (upstream recipe) or the whole track.
    #[arg(long, value_enum, default_value_t = ModeArg::Center)]
    pub mode: ModeArg,
    /// Worker threads for tracks that need analysing (default: one per core).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Model inputs per ONNX Runtime call (measurements; the scores do not change).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub batch: Option<u16>,
    /// ONNX Runtime intra-op threads per worker (measurements; default 1).
    #[arg(long, hide = true, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub intra_threads: Option<u16>,
    /// Idle ONNX Runtime threads sleep instead of spinning (measurements).
    #[arg(long, hide = true)]
    pub no_spin: bool,
    /// ONNX Runtime's memory arena off (measurements).
    #[arg(long, hide = true)]
    pub no_arena: bool,
}

impl RunArgs {
    /// The analysis mode.
    pub fn mode(&self) -> Mode {
        self.mode.into()
    }

    /// Worker threads: the flag, else one per core.
    pub fn workers(&self) -> usize {
        self.threads.map(usize::from).unwrap_or_else(crate::engine::analysis::default_workers)
    }

    /// How workers run the model: the hidden measurement flags, else the defaults.
    pub fn tuning(&self) -> crate::engine::analysis::Tuning {
        crate::engine::analysis::Tuning {
            batch: self.batch.map(usize::from),
            session: crate::engine::model::SessionSettings {
                intra_threads: self.intra_threads.map_or(1, usize::from),
                spin: !self.no_spin,
                arena: !self.no_arena,
            },
        }
    }
}

/// The user's config file: `--config FILE`, else the default place (a missing default file is
/// the defaults; a missing `--config` file is an error).
pub fn load_config(path: Option<&PathBuf>) -> Result<UserConfig> {
    match path {
        Some(p) if !p.is_file() => anyhow::bail!("config file {} not found", output::shown(p)),
        Some(p) => Ok(UserConfig::load(p)?),
        None => Ok(UserConfig::load(&crate::engine::paths::config_file()?)?),
    }
}

/// Runs a command-line command and returns the process exit code (0 all good, 1 some files
/// failed, 2 refused or set-up problems). `gui` is not handled here (`main` opens the app).
pub fn run(cli: Cli) -> Result<i32> {
    let config = cli.config.clone();
    match cli.command {
        Some(Command::Tag(args)) => tag::run(&args),
        Some(Command::Models(args)) => eval::run_models(&args),
        Some(Command::Eval(args)) => eval::run_eval(&args),
        Some(Command::Write(args)) => write::run_write(&args, &load_config(config.as_ref())?),
        Some(Command::Undo(args)) => write::run_undo(&args),
        Some(Command::History(args)) => write::run_history(&args),
        Some(Command::Similar(args)) => similar::run_similar(&args),
        Some(Command::Playlist(args)) => similar::run_playlist(&args),
        Some(Command::Gui(_)) | None => anyhow::bail!("the desktop app is opened by main, not the command line"),
    }
}

/// `melotag --version -v`: the version, the models found and the runtime.
pub fn print_version(verbose: bool) {
    println!("melotag {}", env!("CARGO_PKG_VERSION"));
    if !verbose {
        return;
    }
    let manifests = model::available_manifests();
    if manifests.is_empty() {
        println!("models: none found; {}", crate::engine::paths::setup_hint());
    }
    for m in manifests {
        match m {
            Ok(m) => {
                let ready = if m.is_ready() { String::new() } else { format!(" (not converted: {})", crate::engine::paths::setup_hint()) };
                println!("model {} ({}) from {}{ready}", m.id, m.name, output::shown(&m.dir));
            }
            Err(e) => println!("model error: {e}"),
        }
    }
    print_runtime();
}

/// One line: the ONNX Runtime version and where it was loaded from, or what to run to get it.
pub fn print_runtime() {
    match model::runtime_info() {
        Ok((path, version)) => println!("ONNX Runtime {version} from {}", output::shown(&path)),
        Err(e) => println!("{e}"),
    }
}

/// The process arguments with `gui` inserted when the first one is an existing file or folder
/// rather than a command or an option: the desktop entry runs `melotag %F`, that is
/// `melotag PATH...`, which opens the app on those paths. Command names win over a file of the
/// same name in the working folder (`melotag tag` is always the command).
pub fn desktop_args(mut args: Vec<OsString>) -> Vec<OsString> {
    let Some(first) = args.get(1) else { return args };
    let is_option = first.as_encoded_bytes().starts_with(b"-");
    let is_command = first.to_str().is_some_and(|s| s == "help" || Cli::command().find_subcommand(s).is_some());
    if !is_option && !is_command && Path::new(first).exists() {
        args.insert(1, OsString::from("gui"));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn a_path_as_first_argument_opens_the_app() {
        let dir = tempfile::tempdir().expect("a temp folder");
        let folder = dir.path().to_string_lossy().into_owned();
        let file = dir.path().join("a b.mp3");
        std::fs::write(&file, b"").expect("writing a file");
        let file = file.to_string_lossy().into_owned();
        assert_eq!(desktop_args(args(&["melotag", &folder])), args(&["melotag", "gui", &folder]));
        assert_eq!(desktop_args(args(&["melotag", &file, &folder])), args(&["melotag", "gui", &file, &folder]));
        let cli = Cli::try_parse_from(desktop_args(args(&["melotag", &folder]))).expect("parses");
        assert!(matches!(cli.command, Some(Command::Gui(g)) if g.paths == [PathBuf::from(&folder)]));
    }

    #[test]
    fn commands_options_and_missing_paths_are_left_alone() {
        let dir = tempfile::tempdir().expect("a temp folder");
        let folder = dir.path().to_string_lossy().into_owned();
        for list in [
            &["melotag"][..],
            &["melotag", "tag", &folder],
            &["melotag", "models"],
            &["melotag", "help"],
            &["melotag", "-V", "-v"],
            &["melotag", "--config", &folder],
            &["melotag", "/no/such/folder/melotag-test"],
        ] {
            assert_eq!(desktop_args(args(list)), args(list));
        }
    }
}
