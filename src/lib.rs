//! melotag: listen to a music library and tag it.
//!
//! [`engine`] does the work (decode, log-mel, models, analysis, cache, tags, evaluation) and
//! knows no front end; [`cli`] (the command line) and [`app`] (the desktop app) are its two
//! front ends, and neither imports the other: `main` dispatches between them.

pub mod app;
pub mod cli;
pub mod engine;

use std::sync::OnceLock;
use std::time::Instant;

static PROCESS_START: OnceLock<Instant> = OnceLock::new();

/// When the process started (first call wins; `main` calls it first thing).
pub fn process_start() -> Instant {
    *PROCESS_START.get_or_init(Instant::now)
}
