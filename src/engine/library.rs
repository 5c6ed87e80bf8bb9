//! Finding the audio files under the paths a user gives.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use walkdir::WalkDir;

/// File extensions treated as audio when walking a folder (lower case).
pub const AUDIO_EXTENSIONS: &[&str] =
    &["mp3", "flac", "ogg", "oga", "opus", "wav", "wave", "aif", "aiff", "aifc", "m4a", "m4b", "mp4", "aac", "alac", "caf", "mka"];

/// Why a path that exists is not a regular file melotag can read, or `None` when it is one.
/// A FIFO would block the reader forever and a device never ends, so neither is ever opened.
pub fn not_a_regular_file(meta: &std::fs::Metadata) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let t = meta.file_type();
    let what = if t.is_file() {
        return None;
    } else if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Some(format!("not an audio file: this is {what}"))
}

/// Whether a path's extension marks it as audio.
pub fn is_audio_path(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// What a scan found: audio files in a stable order, and paths that could not be read.
#[derive(Debug, Default)]
pub struct Scan {
    /// Audio files, each once.
    pub files: Vec<PathBuf>,
    /// Paths given or met that could not be listed, with a one-line reason.
    pub errors: Vec<(PathBuf, String)>,
}

/// The files met so far, by device and inode: a file reached by several paths (a symlink,
/// `./a.mp3` and `a.mp3`, a hard link) is listed once, so a batch never analyses or writes it
/// twice.
#[derive(Debug, Default)]
pub struct SeenFiles(HashSet<(u64, u64)>);

impl SeenFiles {
    /// Whether the file `meta` describes is met for the first time.
    pub fn first(&mut self, meta: &std::fs::Metadata) -> bool {
        use std::os::unix::fs::MetadataExt;
        self.0.insert((meta.dev(), meta.ino()))
    }

    /// [`Self::first`] for a walked entry (a file whose metadata cannot be read is listed).
    pub fn first_entry(&mut self, entry: &walkdir::DirEntry) -> bool {
        entry.metadata().map_or(true, |m| self.first(&m))
    }
}

/// Walks every path: folders recursively (following symlinks, surviving loops), audio
/// extensions only; a file named directly is always included, whatever its extension. A file
/// reached by several paths is listed once, under the first.
pub fn scan(paths: &[PathBuf]) -> Scan {
    let mut scan = Scan::default();
    let mut seen = SeenFiles::default();
    for root in paths {
        let meta = match std::fs::metadata(root) {
            Ok(m) => m,
            Err(e) => {
                scan.errors.push((root.clone(), io_reason(&e)));
                continue;
            }
        };
        if !meta.is_dir() {
            if let Some(reason) = not_a_regular_file(&meta) {
                scan.errors.push((root.clone(), reason));
            } else if seen.first(&meta) {
                scan.files.push(root.clone());
            }
            continue;
        }
        let walker = WalkDir::new(root).follow_links(true).sort_by_file_name();
        for entry in walker {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    if !is_audio_path(path) || entry.file_type().is_dir() {
                        continue;
                    }
                    if entry.file_type().is_file() {
                        if seen.first_entry(&entry) {
                            scan.files.push(path.to_path_buf());
                        }
                    } else if let Ok(meta) = entry.metadata()
                        && let Some(reason) = not_a_regular_file(&meta)
                    {
                        // An audio-named FIFO or device met in a walk: one line, never opened.
                        scan.errors.push((path.to_path_buf(), reason));
                    }
                }
                Err(e) if e.loop_ancestor().is_some() => {
                    // A symlink loop: the files are already reached through the ancestor.
                    tracing::debug!("skipping symlink loop: {e}");
                }
                Err(e) => {
                    let path = e.path().map(Path::to_path_buf).unwrap_or_else(|| root.clone());
                    let reason = e.io_error().map(io_reason).unwrap_or_else(|| e.to_string());
                    scan.errors.push((path, reason));
                }
            }
        }
    }
    scan
}

/// A short reason for an I/O error, without the OS error number.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_extensions_are_case_insensitive() {
        assert!(is_audio_path(Path::new("a/B.MP3")));
        assert!(is_audio_path(Path::new("x.flac")));
        assert!(!is_audio_path(Path::new("cover.jpg")));
        assert!(!is_audio_path(Path::new("noext")));
    }

    #[test]
    fn scan_walks_folders_survives_loops_and_reports_missing() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("sub");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(sub.join("b.mp3"), b"x").unwrap();
        std::fs::write(dir.path().join("a.FLAC"), b"x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(dir.path(), sub.join("loop")).unwrap();
        let missing = dir.path().join("missing");
        let s = scan(&[dir.path().to_path_buf(), missing.clone()]);
        let names: Vec<_> = s.files.iter().map(|p| p.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(names, vec![PathBuf::from("a.FLAC"), PathBuf::from("sub/b.mp3")]);
        assert_eq!(s.errors, vec![(missing, "no such file or folder".to_string())]);
    }

    #[test]
    fn a_file_reached_by_several_paths_is_listed_once() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a.mp3"), b"x").unwrap();
        std::fs::write(d.join("c.mp3"), b"y").unwrap();
        std::os::unix::fs::symlink(d.join("a.mp3"), d.join("b.mp3")).unwrap();
        let dotted = d.join(".").join("a.mp3");
        let s = scan(&[dotted.clone(), d.to_path_buf(), d.join("b.mp3")]);
        assert_eq!(s.files, vec![dotted, d.join("c.mp3")]);
    }
}
