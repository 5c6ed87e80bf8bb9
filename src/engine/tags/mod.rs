//! Writing tags back into the files, safely, and undoing it.
//!
//! - [`taxonomy`]: every tag of every vocabulary mapped to a category and a canonical name.
//! - [`policy`]: which scores become tags, per category.
//! - [`fields`]: the fields melotag reads and writes, per format.
//! - [`plan`]: analysis results + policy + merge mode → per file, per field, old → new.
//! - [`write`]: one file written atomically and verified, with what rebuilds the original.
//! - [`apply`]: batches of writes and undos, journalled, with per-file events and cancellation.
//! - [`undo`]: the SQLite journal and what undo does to each file.
//! - [`delta`]: the compact exact-undo data.

pub mod apply;
pub mod delta;
pub mod fields;
pub mod plan;
pub mod policy;
pub mod raw;
pub mod taxonomy;
pub mod undo;
pub mod write;

pub use apply::{ApplyEvent, BatchOutcome, UndoEvent, WriteJob};
pub use fields::{FieldId, FileTags, Raw, Role, TagKind};
pub use plan::{FilePlan, Kept, PlanInput, PlannedFile, WriteSettings, plan_batch, scores_json};
pub use policy::{Policy, Selection};
pub use taxonomy::Category;
pub use undo::{Journal, JournalError, UndoAction, UndoItem, UndoTarget};
pub use write::{Change, MergeMode, Snapshot, WriteError};
