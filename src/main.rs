//! melotag's entry point: parse arguments, set up logging, then run the command line or open
//! the desktop app; map errors to exit codes.

use std::io::IsTerminal;

use clap::Parser;
use melotag::app::{AppOptions, AudioOutput};
use melotag::cli::{self, Cli, Command, GuiArgs};

fn main() {
    melotag::process_start();
    // Library logs (symphonia, ort, eframe) stay off unless RUST_LOG (or MELOTAG_LOG) asks,
    // and are never coloured on a pipe: melotag's own output is one line per bad file.
    let filter = std::env::var("RUST_LOG").or_else(|_| std::env::var("MELOTAG_LOG")).unwrap_or_else(|_| "off".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    quiet_caught_panics();
    std::process::exit(try_main());
}

/// A decoder's panic on a damaged file, inside an analysis worker's per-file guard, is caught
/// and reported as that file's one `error:` line: the default hook's "thread panicked at"
/// message on top of it would be noise (kept in the log, `RUST_LOG=melotag=debug`). Panics
/// anywhere else print as usual.
fn quiet_caught_panics() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if melotag::engine::analysis::panic_is_caught_here() {
            tracing::debug!("caught in an analysis worker: {info}");
        } else {
            default_hook(info);
        }
    }));
}

fn try_main() -> i32 {
    // clap exits with code 2 on usage errors. `melotag PATH...` (the desktop entry's
    // `melotag %F`) is `melotag gui PATH...`.
    let cli = Cli::parse_from(cli::desktop_args(std::env::args_os().collect()));
    if cli.version {
        cli::print_version(cli.verbose);
        return 0;
    }
    let config = cli.config.clone();
    let result = match cli.command {
        Some(Command::Gui(args)) => gui(args, config),
        None => gui(GuiArgs::default(), config),
        Some(_) => {
            // A reader that stops early (`melotag models | head`) ends the command as it ends
            // `cat`, instead of a panic on the next print (Rust ignores SIGPIPE by default).
            // SAFETY: setting a signal's disposition to its default, before any thread starts.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            cli::run(cli)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", cli::output::one_line(&format!("{e:#}")));
            2
        }
    }
}

/// `melotag gui [PATH...]` and `melotag` alone: the app's options from the arguments.
fn gui(args: GuiArgs, config: Option<std::path::PathBuf>) -> anyhow::Result<i32> {
    let mut folder = None;
    let mut select = args.select;
    if let Some(first) = args.paths.first() {
        // A folder opens; files (as a desktop passes them) open their folder, first one selected.
        let path = std::fs::canonicalize(first)
            .map_err(|e| anyhow::anyhow!("{}: {}", cli::output::shown(first), melotag::engine::library::io_reason(&e)))?;
        if path.is_dir() {
            folder = Some(path);
        } else {
            folder = path.parent().map(std::path::Path::to_path_buf);
            select = select.or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()));
        }
    }
    // Further files in the same folder (a desktop passes every file the user opened): selected
    // with the first; others are left out (one folder is open at a time).
    let also_select: Vec<String> = args.paths[args.paths.len().min(1)..]
        .iter()
        .filter_map(|p| std::fs::canonicalize(p).ok())
        .filter(|p| p.is_file() && p.parent() == folder.as_deref())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let model_id = match &args.model {
        Some(spec) => Some(melotag::engine::model::resolve_model(spec)?.id),
        None => None,
    };
    let options = AppOptions {
        folder,
        open_music_dir: true,
        audio: AudioOutput::Default,
        cache_path: melotag::engine::cache::default_path().ok(),
        journal_path: melotag::engine::paths::data_dir().ok().map(|d| d.join(melotag::engine::tags::undo::FILE_NAME)),
        // `--config FILE` must exist (as for `write`); the default file may not yet.
        config_path: match config {
            Some(p) if !p.is_file() => anyhow::bail!("config file {} not found", cli::output::shown(&p)),
            Some(p) => Some(p),
            None => melotag::engine::paths::config_file().ok(),
        },
        workers: 0,
        frame_stats: args.frame_stats || args.bench,
        select,
        also_select,
        bench: args.bench,
        quit_after: args.quit_after.filter(|s| *s > 0.0).map(std::time::Duration::from_secs_f64),
        model_id,
        mode: args.mode.map(Into::into),
        show: args.show,
    };
    melotag::app::run(options)?;
    Ok(0)
}
