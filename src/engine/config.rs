//! The user's settings file, shared by both front ends: `~/.config/melotag/config.toml`
//! (`$XDG_CONFIG_HOME/melotag/config.toml`; `melotag --config FILE` reads another). The app's
//! settings panel edits it; command-line flags override it for one run.
//!
//! ```toml
//! [write]
//! merge = "fill"            # fill (default) | merge | replace
//! ratio = 0.4               # keep tags scoring ≥ ratio × the track's best score …
//! floor = 0.1               # … and ≥ floor
//! max_genres = 3
//! max_moods = 2
//! max_other = 2             # tags of each other category, when requested (to the grouping field)
//! categories = ["genre", "mood"]   # also: instrument, voice, era, feel
//! write_scores = false
//! per_album = false
//! never_write = ["Sexy"]    # tags melotag never writes
//! leave_alone = ["Christmas"]  # values never removed from a file
//!
//! [write.rename]
//! "Hip-Hop" = "Hip Hop"
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::engine::tags::policy::{self, Category, Policy};
use crate::engine::tags::{MergeMode, WriteSettings};

/// Errors reading or saving the config file (each names the file).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but cannot be read or written.
    #[error("config file {path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// The file is not valid TOML or has unknown or wrong keys.
    #[error("config file {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
}

/// The `[write]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriteConfig {
    /// fill, merge or replace.
    pub merge: MergeMode,
    /// Keep tags scoring at least ratio × the track's best score.
    pub ratio: f32,
    /// … and at least floor.
    pub floor: f32,
    /// Most genres per track.
    pub max_genres: usize,
    /// Most moods per track.
    pub max_moods: usize,
    /// Most instrument/voice and era tags per track, when requested.
    pub max_other: usize,
    /// Categories written.
    pub categories: Vec<Category>,
    /// Also store the raw scores in one custom field.
    pub write_scores: bool,
    /// One genre/mood set per album.
    pub per_album: bool,
    /// Canonical name → the spelling to write.
    pub rename: BTreeMap<String, String>,
    /// Tags never written.
    pub never_write: Vec<String>,
    /// Values never removed from a file.
    pub leave_alone: Vec<String>,
}

impl Default for WriteConfig {
    fn default() -> Self {
        let p = Policy::default();
        WriteConfig {
            merge: MergeMode::default(),
            ratio: p.ratio,
            floor: p.floor,
            max_genres: p.max_genres,
            max_moods: p.max_moods,
            max_other: policy::DEFAULT_MAX_OTHER,
            categories: p.categories,
            write_scores: false,
            per_album: false,
            rename: BTreeMap::new(),
            never_write: Vec::new(),
            leave_alone: Vec::new(),
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// How tags are chosen and written.
    pub write: WriteConfig,
}

impl UserConfig {
    /// Reads `path`; a missing file is the defaults.
    pub fn load(path: &Path) -> Result<UserConfig, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UserConfig::default()),
            Err(e) => return Err(ConfigError::Io { path: path.to_path_buf(), message: crate::engine::library::io_reason(&e) }),
        };
        let config: UserConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string().trim().replace('\n', " ") })?;
        config.check().map_err(|message| ConfigError::Invalid { path: path.to_path_buf(), message })?;
        Ok(config)
    }

    /// Values a TOML type check cannot catch.
    fn check(&self) -> Result<(), String> {
        let w = &self.write;
        for (name, v) in [("ratio", w.ratio), ("floor", w.floor)] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("write.{name} = {v} is not between 0 and 1"));
            }
        }
        Ok(())
    }

    /// Saves atomically (a temporary file renamed over the old one).
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let io = |e: std::io::Error| ConfigError::Io { path: path.to_path_buf(), message: crate::engine::library::io_reason(&e) };
        let text = toml::to_string_pretty(self).map_err(|e| ConfigError::Invalid { path: path.to_path_buf(), message: e.to_string() })?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        std::io::Write::write_all(tmp.as_file_mut(), text.as_bytes()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }

    /// The write settings this file describes.
    pub fn write_settings(&self) -> WriteSettings {
        let w = &self.write;
        WriteSettings {
            policy: Policy {
                ratio: w.ratio,
                floor: w.floor,
                max_genres: w.max_genres,
                max_moods: w.max_moods,
                max_other: w.max_other,
                categories: w.categories.clone(),
            },
            merge: w.merge,
            write_scores: w.write_scores,
            per_album: w.per_album,
            rename: w.rename.clone(),
            never_write: w.never_write.clone(),
            leave_alone: w.leave_alone.clone(),
        }
    }

    /// Stores `s` as this file's write settings (the app's settings panel).
    pub fn set_write_settings(&mut self, s: &WriteSettings) {
        self.write = WriteConfig {
            merge: s.merge,
            ratio: s.policy.ratio,
            floor: s.policy.floor,
            max_genres: s.policy.max_genres,
            max_moods: s.policy.max_moods,
            max_other: s.policy.max_other,
            categories: s.policy.categories.clone(),
            write_scores: s.write_scores,
            per_album: s.per_album,
            rename: s.rename.clone(),
            never_write: s.never_write.clone(),
            leave_alone: s.leave_alone.clone(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_the_defaults_and_a_saved_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let c = UserConfig::load(&path).unwrap();
        assert_eq!(c, UserConfig::default());
        assert_eq!(c.write_settings(), WriteSettings::default());
        let mut c = c;
        c.write.merge = MergeMode::Replace;
        c.write.rename.insert("Hip-Hop".into(), "Hip Hop".into());
        c.write.never_write.push("Sexy".into());
        c.save(&path).unwrap();
        let back = UserConfig::load(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.write_settings().spelling("hip-hop"), "Hip Hop");
    }

    #[test]
    fn a_documented_example_parses_and_typos_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(
            &path,
            "[write]\nmerge = \"merge\"\nratio = 0.3\ncategories = [\"genre\", \"mood\", \"era\"]\nper_album = true\n\
             never_write = [\"Sexy\"]\n[write.rename]\n\"Hip-Hop\" = \"Hip Hop\"\n",
        )
        .unwrap();
        let s = UserConfig::load(&path).unwrap().write_settings();
        assert_eq!((s.merge, s.policy.ratio, s.per_album), (MergeMode::Merge, 0.3, true));
        assert_eq!(s.policy.categories, [Category::Genre, Category::Mood, Category::Era]);
        std::fs::write(&path, "[write]\nmerge_mode = \"merge\"\n").unwrap();
        let e = UserConfig::load(&path).unwrap_err().to_string();
        assert!(e.contains("config.toml") && e.contains("merge_mode"), "{e}");
        std::fs::write(&path, "[write]\nratio = 2.0\n").unwrap();
        assert!(UserConfig::load(&path).unwrap_err().to_string().contains("between 0 and 1"));
    }
}
