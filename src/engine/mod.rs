//! The engine: everything melotag does, with no front-end code (no argument parsing, printing,
//! prompts, progress bars or windows). The command line ([`crate::cli`]) and the desktop app
//! ([`crate::app`]) turn their inputs into the plain settings structs defined here and present
//! the results and events the engine returns.
//!
//! Data flows one way: [`audio`] (decode, resample) → [`features`] (log-mel) → [`model`]
//! (manifests, ONNX sessions) → [`analysis`] (jobs, workers, typed per-file results) →
//! [`cache`] (results kept between runs) → [`pipeline`] (the one cache-aware analysis path) →
//! [`tags`] (selection policy, plan, verified atomic write, undo), [`eval`] (metrics) and
//! [`similar`] (embeddings, neighbours, playlists). Beside them: [`library`] (finding files),
//! [`paths`] (data, config, models, runtime) and [`config`] (the user's settings file).

pub mod analysis;
pub mod audio;
pub mod cache;
pub mod config;
pub mod eval;
pub mod features;
pub mod library;
pub mod model;
pub mod paths;
pub mod pipeline;
pub mod similar;
pub mod tags;
