//! Planning a write: analysis scores + selection policy + merge mode + the file's current tags →
//! per file, per field, old → new, and why a field is left alone. Pure and cheap: the app
//! re-plans a whole selection while a policy slider moves, from tags read once and cached scores.
//!
//! Respecting the user's own tags: the default merge mode is [`MergeMode::Fill`], so a file that
//! already has a genre (or mood) keeps it, as careful taggers do (beets' lastgenre leaves an
//! existing genre alone unless forced); `merge` adds melotag's tags beside the user's, `replace`
//! swaps them. Values listed in `leave_alone` are never removed, whatever the mode; tags in
//! `never_write` are never written; `rename` respells a canonical name ("Hip-Hop" → "Hip Hop").
//!
//! Album consensus (`per_album`): tracks that share an album (album artist + album tag, else
//! their folder) get one genre/mood set, chosen from the mean of the album's scores, so that an
//! album is not tagged "Rock" on one track and "Pop" on the next (as beets' lastgenre does).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fields::{FieldId, FieldState, FileTags, Role};
use super::policy::{Policy, Selected, Selection};
use super::taxonomy::{Category, Entry};
use super::write::{Change, MergeMode, Snapshot, merge_values};
use crate::engine::analysis::Mode;
use crate::engine::model::Manifest;

/// Everything that decides what a write puts into the files (from the config file, then the
/// command line or the app's settings panel).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WriteSettings {
    /// Which scores become tags.
    pub policy: Policy,
    /// How new values combine with a field's current ones.
    pub merge: MergeMode,
    /// Also store the raw scores as compact JSON in one custom field.
    pub write_scores: bool,
    /// One genre/mood set per album, from the album's mean scores.
    pub per_album: bool,
    /// Canonical name → the spelling to write (matched case-insensitively).
    pub rename: BTreeMap<String, String>,
    /// Tags never written (canonical or renamed spelling, case-insensitive).
    pub never_write: Vec<String>,
    /// Values never removed from a file, whatever the merge mode (case-insensitive).
    pub leave_alone: Vec<String>,
}

impl WriteSettings {
    /// The selection for one set of scores (`entries`: the model's tags in the taxonomy, see
    /// [`Manifest::entries`]), with `never_write` applied (`rename` applies when writing).
    pub fn select(&self, entries: &[Option<&'static Entry>], scores: &[f32]) -> Selection {
        let mut sel = self.policy.select(entries, scores);
        for list in [&mut sel.genres, &mut sel.moods, &mut sel.grouping] {
            list.retain(|s| !self.is_never(s.name));
        }
        sel
    }

    fn is_never(&self, canonical: &str) -> bool {
        let written = self.spelling(canonical);
        self.never_write.iter().any(|n| n.eq_ignore_ascii_case(canonical) || n.eq_ignore_ascii_case(&written))
    }

    /// How a canonical tag name is written (after `rename`).
    pub fn spelling(&self, canonical: &str) -> String {
        self.rename
            .iter()
            .find(|(from, _)| from.eq_ignore_ascii_case(canonical))
            .map(|(_, to)| to.clone())
            .unwrap_or_else(|| canonical.to_string())
    }

    fn keeps(&self, value: &str) -> bool {
        self.leave_alone.iter().any(|v| v.eq_ignore_ascii_case(value.trim()))
    }
}

/// Why a field is left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kept {
    /// It already holds a value and the merge mode is `fill`.
    HasValue,
    /// The policy chose nothing for it (no score high enough).
    NothingChosen,
    /// It already holds exactly what would be written.
    Unchanged,
}

impl Kept {
    /// A few words for people.
    pub fn describe(self) -> &'static str {
        match self {
            Kept::HasValue => "already tagged; kept (fill mode)",
            Kept::NothingChosen => "no tag scored high enough",
            Kept::Unchanged => "already holds these values",
        }
    }
}

/// One field left alone, with its current values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeptField {
    /// The field.
    pub field: FieldId,
    /// What it holds for melotag.
    pub role: Role,
    /// Its current values.
    pub values: Vec<String>,
    /// Why it is kept.
    pub why: Kept,
}

/// The plan for one file that can be written.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFile {
    /// The file as it was read (a write checks it did not change since).
    pub snapshot: Snapshot,
    /// Fields that will change.
    pub changes: Vec<Change>,
    /// Fields left alone, and why.
    pub kept: Vec<KeptField>,
    /// What the policy chose (the tag bars mark these).
    pub selection: Selection,
}

/// What planning needs to know about one file.
#[derive(Debug, Clone)]
pub struct PlanInput {
    /// The file.
    pub path: PathBuf,
    /// Its current tags, or why they cannot be read (or written).
    pub tags: Result<FileTags, String>,
    /// The model's scores for it, or why there are none.
    pub scores: Result<Vec<f32>, String>,
}

/// The plan of one file: what changes, or why it cannot be written.
#[derive(Debug, Clone, PartialEq)]
pub struct FilePlan {
    /// The file.
    pub path: PathBuf,
    /// The plan, or the reason the file cannot be written.
    pub outcome: Result<PlannedFile, String>,
}

impl FilePlan {
    /// The changes (none for a failed file).
    pub fn changes(&self) -> &[Change] {
        self.outcome.as_ref().map(|p| p.changes.as_slice()).unwrap_or_default()
    }
}

/// The compact JSON stored with `write_scores`: model id, analysis mode and every score (3
/// decimals), keys sorted.
pub fn scores_json(manifest: &Manifest, mode: Mode, scores: &[f32]) -> String {
    let scores: serde_json::Map<String, serde_json::Value> =
        manifest.tags.iter().zip(scores).map(|(t, &s)| (t.clone(), serde_json::json!(((s as f64) * 1000.0).round() / 1000.0))).collect();
    serde_json::json!({ "model": manifest.id, "mode": mode.as_str(), "scores": scores }).to_string()
}

/// Plans every file; with `per_album`, the tracks of one album share one selection.
pub fn plan_batch(inputs: &[PlanInput], manifest: &Manifest, mode: Mode, settings: &WriteSettings) -> Vec<FilePlan> {
    let entries = manifest.entries();
    let album_scores: HashMap<String, Vec<f32>> = if settings.per_album { album_means(inputs) } else { HashMap::new() };
    inputs
        .iter()
        .map(|input| {
            let outcome = match (&input.tags, &input.scores) {
                (Err(e), _) | (_, Err(e)) => Err(e.clone()),
                (Ok(tags), Ok(scores)) => {
                    let chosen = album_scores.get(&album_key(&input.path, tags)).unwrap_or(scores);
                    let selection = settings.select(&entries, chosen);
                    let json = settings.write_scores.then(|| scores_json(manifest, mode, scores));
                    Ok(plan_file(tags, selection, json.as_deref(), settings))
                }
            };
            FilePlan { path: input.path.clone(), outcome }
        })
        .collect()
}

/// The album a file belongs to for consensus: album artist (else artist) + album when the file
/// has an album tag, else its folder.
pub fn album_key(path: &Path, tags: &FileTags) -> String {
    match &tags.album {
        Some(album) if !album.trim().is_empty() => {
            let artist = tags.album_artist.as_deref().unwrap_or_default();
            format!("album\0{}\0{}", artist.trim().to_lowercase(), album.trim().to_lowercase())
        }
        _ => format!("folder\0{}", path.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()),
    }
}

/// Mean scores per album over the files that have both tags and scores.
fn album_means(inputs: &[PlanInput]) -> HashMap<String, Vec<f32>> {
    let mut sums: HashMap<String, (Vec<f64>, usize)> = HashMap::new();
    for input in inputs {
        if let (Ok(tags), Ok(scores)) = (&input.tags, &input.scores) {
            let (sum, n) = sums.entry(album_key(&input.path, tags)).or_insert_with(|| (vec![0.0; scores.len()], 0));
            if sum.len() == scores.len() {
                for (acc, &s) in sum.iter_mut().zip(scores) {
                    *acc += f64::from(s);
                }
                *n += 1;
            }
        }
    }
    sums.into_iter().map(|(k, (sum, n))| (k, sum.iter().map(|s| (s / n.max(1) as f64) as f32).collect())).collect()
}

/// Plans one file from its tags and a selection.
pub fn plan_file(tags: &FileTags, selection: Selection, scores_json: Option<&str>, settings: &WriteSettings) -> PlannedFile {
    let mut changes = Vec::new();
    let mut kept = Vec::new();
    let wanted = |list: &[Selected]| -> Vec<String> { list.iter().map(|s| settings.spelling(s.name)).collect() };
    let roles: [(Role, Vec<String>); 3] =
        [(Role::Genre, wanted(&selection.genres)), (Role::Mood, wanted(&selection.moods)), (Role::Grouping, wanted(&selection.grouping))];
    let grouping_wanted = settings.policy.categories.iter().any(|c| !matches!(c, Category::Genre | Category::Mood));
    for (role, new) in roles {
        if role == Role::Grouping && !grouping_wanted {
            continue;
        }
        // The file's own values of this role, across its tags: a genre held only in APE, RIFF
        // INFO or ID3v1 is the file's genre too (fill keeps it, merge builds on it, and the
        // tags end up agreeing).
        let mut own: Vec<String> = Vec::new();
        for v in tags.fields.iter().filter(|f| f.role == role).flat_map(|f| &f.values) {
            if !own.iter().any(|o| o.eq_ignore_ascii_case(v)) {
                own.push(v.clone());
            }
        }
        // ID3v1's genre (a fixed list: often a lossy copy such as "Other") counts only when no
        // other tag has one.
        if own.is_empty() && role == Role::Genre {
            own.extend(tags.id3v1_genre.clone());
        }
        for field in tags.fields.iter().filter(|f| f.role == role) {
            plan_field(field, &own, &new, settings, &mut changes, &mut kept);
        }
    }
    if let Some(json) = scores_json {
        for field in tags.fields.iter().filter(|f| f.role == Role::Scores) {
            let new = Some(vec![json.to_string()]);
            if new != field.raw {
                changes.push(Change {
                    field: field.id.clone(),
                    role: Role::Scores,
                    old: field.raw.clone(),
                    new,
                    old_values: field.values.clone(),
                    new_values: vec![json.to_string()],
                });
            }
        }
    }
    PlannedFile { snapshot: tags.snapshot, changes, kept, selection }
}

/// Plans one field from the file's `own` values of its role (in all its tags) and the `new`
/// ones chosen.
fn plan_field(
    field: &FieldState,
    own: &[String],
    new: &[String],
    settings: &WriteSettings,
    changes: &mut Vec<Change>,
    kept: &mut Vec<KeptField>,
) {
    let keep = |why, values: &[String]| KeptField { field: field.id.clone(), role: field.role, values: values.to_vec(), why };
    if new.is_empty() {
        kept.push(keep(Kept::NothingChosen, &field.values));
        return;
    }
    let Some(mut merged) = merge_values(own, new, settings.merge) else {
        kept.push(keep(Kept::HasValue, own));
        return;
    };
    // Values the user asked to keep survive a replace.
    for v in own.iter().filter(|v| settings.keeps(v)) {
        if !merged.iter().any(|m| m.eq_ignore_ascii_case(v)) {
            merged.insert(0, v.clone());
        }
    }
    let raw = field.encode(&merged);
    if raw == field.raw || merged == field.values {
        kept.push(keep(Kept::Unchanged, &field.values));
        return;
    }
    changes.push(Change {
        field: field.id.clone(),
        role: field.role,
        old: field.raw.clone(),
        new: raw,
        old_values: field.values.clone(),
        new_values: merged,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tags::fields::{TagKind, ValueStyle};
    use std::time::SystemTime;

    fn field(key: &str, role: Role, values: &[&str], style: ValueStyle) -> FieldState {
        let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
        let mut f = FieldState { id: FieldId { tag: TagKind::Id3v2, key: key.into() }, role, raw: None, values: Vec::new(), style };
        f.raw = f.encode(&values);
        f.values = values;
        f
    }

    fn tags(genre: &[&str], mood: &[&str], album: Option<&str>) -> FileTags {
        FileTags {
            snapshot: Snapshot { size: 1, mtime: SystemTime::UNIX_EPOCH },
            fields: vec![
                field("TCON", Role::Genre, genre, ValueStyle::Multi),
                field("TMOO", Role::Mood, mood, ValueStyle::Multi),
                field("TXXX:MELOTAG_SCORES", Role::Scores, &[], ValueStyle::Multi),
            ],
            album: album.map(str::to_string),
            album_artist: None,
            id3v1_genre: None,
        }
    }

    fn sel(genres: &[&'static str], moods: &[&'static str]) -> Selection {
        let s = |name, category| Selected { name, category, score: 0.5 };
        Selection {
            genres: genres.iter().map(|&n| s(n, Category::Genre)).collect(),
            moods: moods.iter().map(|&n| s(n, Category::Mood)).collect(),
            grouping: Vec::new(),
        }
    }

    #[test]
    fn fill_respects_the_users_genre_and_says_why() {
        let t = tags(&["Romantic Classical"], &[], None);
        let p = plan_file(&t, sel(&["Ambient", "Electronic"], &["Mellow"]), None, &WriteSettings::default());
        assert_eq!(p.changes.len(), 1, "{:?}", p.changes);
        assert_eq!((p.changes[0].field.key.as_str(), p.changes[0].new_values.clone()), ("TMOO", vec!["Mellow".to_string()]));
        assert_eq!(p.kept.len(), 1);
        assert_eq!((p.kept[0].why, p.kept[0].values.clone()), (Kept::HasValue, vec!["Romantic Classical".to_string()]));
        // Forced: merge adds, replace swaps.
        let merge = WriteSettings { merge: MergeMode::Merge, ..WriteSettings::default() };
        let p = plan_file(&t, sel(&["Ambient"], &[]), None, &merge);
        assert_eq!(p.changes[0].new_values, ["Romantic Classical", "Ambient"]);
        assert_eq!(p.kept[0].why, Kept::NothingChosen, "the mood: nothing chosen");
        let replace = WriteSettings { merge: MergeMode::Replace, ..WriteSettings::default() };
        assert_eq!(plan_file(&t, sel(&["Ambient"], &[]), None, &replace).changes[0].new_values, ["Ambient"]);
    }

    #[test]
    fn a_genre_held_only_in_another_tag_is_the_files_own() {
        // An MP3 whose genre is only in its APE tag (or its ID3v1 tag): fill keeps it, merge
        // builds on it in both tags.
        let mut ape = tags(&[], &[], None);
        let mut g = field("Genre", Role::Genre, &["Rock"], ValueStyle::Multi);
        g.id.tag = TagKind::Ape;
        ape.fields.push(g);
        let mut v1 = tags(&[], &[], None);
        v1.id3v1_genre = Some("Rock".into());
        for t in [&ape, &v1] {
            let p = plan_file(t, sel(&["Jazz"], &[]), None, &WriteSettings::default());
            assert!(p.changes.iter().all(|c| c.role != Role::Genre), "{:?}", p.changes);
            let kept: Vec<_> = p.kept.iter().filter(|k| k.role == Role::Genre).collect();
            assert!(!kept.is_empty() && kept.iter().all(|k| k.why == Kept::HasValue && k.values == ["Rock"]), "{kept:?}");
            let merge = WriteSettings { merge: MergeMode::Merge, ..WriteSettings::default() };
            let p = plan_file(t, sel(&["Jazz"], &[]), None, &merge);
            let genres: Vec<_> = p.changes.iter().filter(|c| c.role == Role::Genre).map(|c| (c.field.tag, c.new_values.clone())).collect();
            let both = vec!["Rock".to_string(), "Jazz".to_string()];
            let want: Vec<_> =
                [TagKind::Id3v2].into_iter().chain((t.id3v1_genre.is_none()).then_some(TagKind::Ape)).map(|k| (k, both.clone())).collect();
            assert_eq!(genres, want);
        }
        // ID3v1's genre is a lossy copy when ID3v2 has one: it is not merged in.
        let mut both = tags(&["Synthwave"], &[], None);
        both.id3v1_genre = Some("Other".into());
        let merge = WriteSettings { merge: MergeMode::Merge, ..WriteSettings::default() };
        assert_eq!(plan_file(&both, sel(&["Jazz"], &[]), None, &merge).changes[0].new_values, ["Synthwave", "Jazz"]);
    }

    #[test]
    fn rename_never_write_and_leave_alone() {
        let mut s = WriteSettings { merge: MergeMode::Replace, ..WriteSettings::default() };
        s.rename.insert("hip-hop".into(), "Hip Hop".into());
        s.never_write.push("Electronic".into());
        s.leave_alone.push("christmas".into());
        let t = tags(&["Christmas", "Pop"], &[], None);
        let p = plan_file(&t, sel(&["Hip-Hop", "Electronic"], &[]), None, &s);
        // never_write acts in select(); plan_file writes what it is given, renamed.
        assert_eq!(p.changes[0].new_values, ["Christmas", "Hip Hop", "Electronic"]);
        let msd: Vec<Option<&'static Entry>> =
            ["Hip-Hop", "electronic", "jazz"].iter().map(|t| crate::engine::tags::taxonomy::entry("msd", t)).collect();
        let chosen = s.select(&msd, &[0.6, 0.5, 0.01]);
        assert_eq!(chosen.genres.iter().map(|g| g.name).collect::<Vec<_>>(), ["Hip-Hop"], "Electronic is never written");
        assert_eq!(s.spelling("Hip-Hop"), "Hip Hop");
    }

    #[test]
    fn unchanged_fields_are_not_rewritten() {
        let t = tags(&[], &["Mellow"], None);
        let s = WriteSettings { merge: MergeMode::Merge, ..WriteSettings::default() };
        let p = plan_file(&t, sel(&[], &["Mellow"]), None, &s);
        assert!(p.changes.is_empty());
        assert!(p.kept.iter().any(|k| k.why == Kept::Unchanged));
    }

    #[test]
    fn albums_share_one_selection() {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/choi2016_crnn.toml");
        let m = Manifest::load(&manifest_dir).unwrap();
        let jazz = m.tags.iter().position(|t| t == "jazz").unwrap();
        let rock = m.tags.iter().position(|t| t == "rock").unwrap();
        let scores = |j: f32, r: f32| {
            let mut s = vec![0.0f32; m.tags.len()];
            s[jazz] = j;
            s[rock] = r;
            s
        };
        let input = |name: &str, album: Option<&str>, s: Vec<f32>| PlanInput {
            path: PathBuf::from(format!("/music/a/{name}")),
            tags: Ok(tags(&[], &[], album)),
            scores: Ok(s),
        };
        // Track 1 leans rock, tracks 2 and 3 jazz: the album mean is jazz for all three.
        let inputs = vec![
            input("1.mp3", Some("Blue"), scores(0.30, 0.50)),
            input("2.mp3", Some("Blue"), scores(0.90, 0.10)),
            input("3.mp3", Some("blue "), scores(0.80, 0.05)),
            input("4.mp3", Some("Other"), scores(0.05, 0.90)),
        ];
        let s = WriteSettings { per_album: true, ..WriteSettings::default() };
        let plans = plan_batch(&inputs, &m, Mode::Center, &s);
        let genres: Vec<Vec<String>> = plans
            .iter()
            .map(|p| p.changes().iter().filter(|c| c.role == Role::Genre).flat_map(|c| c.new_values.clone()).collect())
            .collect();
        assert_eq!(genres[0], genres[1]);
        assert_eq!(genres[1], genres[2]);
        assert_eq!(genres[0][0], "Jazz");
        assert_eq!(genres[3], ["Rock"]);
        // Without consensus, track 1 is rock first.
        let plans = plan_batch(&inputs, &m, Mode::Center, &WriteSettings::default());
        assert_eq!(plans[0].changes()[0].new_values[0], "Rock");
    }
}
