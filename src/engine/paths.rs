//! Where melotag keeps and finds things: its data folder (analysis cache, undo journal), its
//! config file, the model manifests and the ONNX Runtime library.
//!
//! Search order for models and the runtime, first match wins: the environment overrides, the
//! folder of the executable (an unpacked build, or `make install`'s `PREFIX/bin` with its
//! `../share/melotag/models` and `../lib/melotag`), the XDG data directories, then the source
//! tree the binary was built from (a binary run from its checkout; one inside that tree, such
//! as `target/release/melotag`, looks there before the XDG folders). `MELOTAG_NO_SOURCE_TREE=1`
//! drops the source tree (tests and packagers check that an install stands on its own).

use std::path::{Path, PathBuf};

/// File name of the ONNX Runtime shared library on this platform.
pub const ORT_LIB_NAME: &str = "libonnxruntime.so";

/// Errors finding a folder.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PathError {
    /// Neither the override variable nor a home folder is set.
    #[error("no home folder to keep melotag's {what} in; set {var}")]
    NoHome {
        /// What we were looking for.
        what: &'static str,
        /// The variable that would fix it.
        var: &'static str,
    },
}

fn env_dir(var: &str) -> Option<PathBuf> {
    std::env::var_os(var).filter(|d| !d.is_empty()).map(PathBuf::from)
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("", "", "melotag")
}

/// The data folder (analysis cache, undo journal): `MELOTAG_DATA_DIR`, else
/// `$XDG_DATA_HOME/melotag` (`~/.local/share/melotag`).
pub fn data_dir() -> Result<PathBuf, PathError> {
    env_dir("MELOTAG_DATA_DIR")
        .or_else(|| project_dirs().map(|d| d.data_dir().to_path_buf()))
        .ok_or(PathError::NoHome { what: "data", var: "MELOTAG_DATA_DIR" })
}

/// The user's config file: `$XDG_CONFIG_HOME/melotag/config.toml` (`~/.config/melotag/…`).
pub fn config_file() -> Result<PathBuf, PathError> {
    project_dirs().map(|d| d.config_dir().join("config.toml")).ok_or(PathError::NoHome { what: "config", var: "XDG_CONFIG_HOME" })
}

/// The folder of the running executable.
pub fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe().ok()?.parent().map(Path::to_path_buf)
}

/// The source tree this binary was built from (only meaningful while it still exists).
pub fn source_tree() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The source tree as a place to look for models and the runtime: absent when
/// `MELOTAG_NO_SOURCE_TREE` is set (to anything but `0`) or the tree is gone.
pub fn source_tree_fallback() -> Option<PathBuf> {
    let disabled = std::env::var_os("MELOTAG_NO_SOURCE_TREE").is_some_and(|v| !v.is_empty() && v != "0");
    let tree = source_tree();
    (!disabled && tree.is_dir()).then_some(tree)
}

/// The source tree when this binary lives inside it (`target/release/melotag`): such a build
/// looks there right after its own folder, before the XDG data folders, so an install
/// elsewhere on the machine never stands in for the checkout's own models and runtime.
fn source_tree_first() -> Option<PathBuf> {
    let exe = exe_dir()?;
    source_tree_fallback().filter(|tree| exe.starts_with(tree))
}

/// What to run when a model or the runtime is missing: `make setup` in the source tree while
/// it is there, else a fresh `make install` (an installed copy has nothing to set up).
pub fn setup_hint() -> String {
    match source_tree_fallback().filter(|t| t.join("Makefile").is_file()) {
        Some(tree) => format!("run `make setup` in {}", tree.display()),
        None => "reinstall melotag (`make install` in its source folder)".to_string(),
    }
}

/// The XDG data directories, most important first: `$XDG_DATA_HOME` (default
/// `~/.local/share`), then each of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`).
pub fn xdg_data_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(home) = env_dir("XDG_DATA_HOME").or_else(|| env_dir("HOME").map(|h| h.join(".local/share"))) {
        dirs.push(home);
    }
    let system = std::env::var("XDG_DATA_DIRS").ok().filter(|s| !s.is_empty());
    for d in system.as_deref().unwrap_or("/usr/local/share:/usr/share").split(':') {
        if !d.is_empty() {
            dirs.push(PathBuf::from(d));
        }
    }
    dirs
}

/// Folders that may hold model manifests, in search order.
pub fn model_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = env_dir("MELOTAG_MODELS_DIR") {
        dirs.push(dir);
    }
    if let Some(exe) = exe_dir() {
        dirs.push(exe.join("models"));
        // PREFIX/bin/melotag → PREFIX/share/melotag/models (`make install`).
        if let Some(prefix) = exe.parent() {
            dirs.push(prefix.join("share/melotag/models"));
        }
    }
    let first = source_tree_first();
    dirs.extend(first.as_ref().map(|t| t.join("models")));
    dirs.extend(xdg_data_dirs().into_iter().map(|d| d.join("melotag/models")));
    if first.is_none() {
        dirs.extend(source_tree_fallback().map(|t| t.join("models")));
    }
    dirs
}

/// Candidate locations of the ONNX Runtime library, in search order. An explicit
/// `ORT_DYLIB_PATH` is the user's choice and is used alone.
pub fn runtime_candidates() -> Vec<PathBuf> {
    if let Some(path) = env_dir("ORT_DYLIB_PATH") {
        return vec![path];
    }
    let mut candidates = Vec::new();
    if let Some(exe) = exe_dir() {
        candidates.push(exe.join(ORT_LIB_NAME));
        candidates.push(exe.join("lib").join(ORT_LIB_NAME));
        // PREFIX/bin/melotag → PREFIX/lib/melotag (`make install`).
        if let Some(prefix) = exe.parent() {
            candidates.push(prefix.join("lib/melotag").join(ORT_LIB_NAME));
        }
    }
    let first = source_tree_first();
    candidates.extend(first.as_ref().map(|t| t.join(".cache/onnxruntime").join(ORT_LIB_NAME)));
    for data in xdg_data_dirs() {
        candidates.push(data.join("melotag/lib").join(ORT_LIB_NAME));
        // `make install` puts the library in PREFIX/lib/melotag, beside PREFIX/share: found
        // this way too when the binary is not in PREFIX/bin.
        if data.file_name().is_some_and(|n| n == "share")
            && let Some(prefix) = data.parent()
        {
            candidates.push(prefix.join("lib/melotag").join(ORT_LIB_NAME));
        }
    }
    if first.is_none() {
        candidates.extend(source_tree_fallback().map(|t| t.join(".cache/onnxruntime").join(ORT_LIB_NAME)));
    }
    if let Some(dirs) = project_dirs() {
        candidates.push(dirs.cache_dir().join("onnxruntime").join(ORT_LIB_NAME));
    }
    candidates
}
