//! melotag: listen to a music library and tag it.
//!
//! Data flows one way: [`audio`] (decode, resample) → [`features`] (log-mel) → [`model`]
//! (manifest, ONNX sessions) → [`analysis`] (jobs, workers, events); [`library`] finds files;
//! [`cli`] is the command line; [`tags`] writes the chosen tags back into the files (and undoes it);
//! [`app`] and [`ui`] are the desktop app; [`cache`] keeps results between runs.

pub mod analysis;
pub mod app;
pub mod audio;
pub mod cache;
pub mod cli;
pub mod eval;
pub mod features;
pub mod library;
pub mod model;
pub mod tags;
pub mod ui;

use std::sync::OnceLock;
use std::time::Instant;

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// When the process started (first call wins; `main` calls it first thing).
pub fn process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}
