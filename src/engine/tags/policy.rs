//! The selection policy: which of a track's scores become tags, per category, on the
//! canonical tags of [`super::taxonomy`] (so a model with two vocabularies gives one result, and
//! synonyms count once, with their best score).
//!
//! Scores are low and uneven for some models (the CRNN's best tag is often 0.2–0.5, its moods
//! rarely pass 0.1), so a fixed 0.5 threshold would write nothing. The default policy is
//! relative, per category: a tag is kept when its score is at least `ratio` × the best score of
//! its category for this track, and at least `floor`; at most `max_genres` genres, `max_moods`
//! moods and `max_other` tags of each other category, best first. A classical recording thus
//! gets "Classical" as its genre (when a vocabulary knows it) rather than the least-bad genre of
//! another, and an instrument that scores high does not push the genres out.

use std::collections::HashMap;

use serde::Serialize;

pub use super::taxonomy::Category;
use super::taxonomy::Entry;

/// Default `ratio`: a tag needs at least 40 % of its category's best score.
pub const DEFAULT_RATIO: f32 = 0.4;
/// Default `floor`: and at least 0.1 absolute (below that a sigmoid score is weak evidence:
/// musicnn gives "chillout" 0.07 to a dubstep track).
pub const DEFAULT_FLOOR: f32 = 0.1;
/// Default number of genres per track.
pub const DEFAULT_MAX_GENRES: usize = 3;
/// Default number of moods per track.
pub const DEFAULT_MAX_MOODS: usize = 2;
/// Default number of tags of each other category (instrument, voice, era, feel), when requested.
pub const DEFAULT_MAX_OTHER: usize = 2;

/// The knobs of the selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Keep tags scoring at least `ratio` × their category's best score.
    pub ratio: f32,
    /// ... and at least `floor`.
    pub floor: f32,
    /// Most genres kept.
    pub max_genres: usize,
    /// Most moods kept.
    pub max_moods: usize,
    /// Most tags kept of each other category (when requested).
    pub max_other: usize,
    /// Categories to write; genre and mood by default.
    pub categories: Vec<Category>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            ratio: DEFAULT_RATIO,
            floor: DEFAULT_FLOOR,
            max_genres: DEFAULT_MAX_GENRES,
            max_moods: DEFAULT_MAX_MOODS,
            max_other: DEFAULT_MAX_OTHER,
            categories: vec![Category::Genre, Category::Mood],
        }
    }
}

/// One selected tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Selected {
    /// Canonical spelling, as written.
    pub name: &'static str,
    /// Its category.
    pub category: Category,
    /// The best score among the model tags it stands for.
    pub score: f32,
}

/// What the policy chose for a track, per written field, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Values for the genre field.
    pub genres: Vec<Selected>,
    /// Values for the mood field.
    pub moods: Vec<Selected>,
    /// Values for the grouping field: instruments, voices, eras, tempo/feel (when requested).
    pub grouping: Vec<Selected>,
}

impl Selection {
    /// Every selected tag.
    pub fn all(&self) -> impl Iterator<Item = &Selected> {
        self.genres.iter().chain(&self.moods).chain(&self.grouping)
    }
}

/// A track's scores on the canonical tags: each canonical name once, with the best score of the
/// model tags (`entries[i]` is the taxonomy entry of the model's tag `i`) that stand for it, in
/// taxonomy order. Model tags outside the taxonomy and non-finite scores are left out.
pub fn canonical_scores(entries: &[Option<&'static Entry>], scores: &[f32]) -> Vec<Selected> {
    let mut best: Vec<Selected> = Vec::new();
    let mut at: HashMap<&'static str, usize> = HashMap::new();
    for (entry, &score) in entries.iter().zip(scores) {
        let Some(e) = entry else { continue };
        if !score.is_finite() {
            continue;
        }
        match at.get(e.name) {
            Some(&k) => best[k].score = best[k].score.max(score),
            None => {
                at.insert(e.name, best.len());
                best.push(Selected { name: e.name, category: e.category, score });
            }
        }
    }
    best
}

impl Policy {
    fn limit(&self, category: Category) -> usize {
        match category {
            Category::Genre => self.max_genres,
            Category::Mood => self.max_moods,
            _ => self.max_other,
        }
    }

    /// Chooses tags from one track's scores (`entries[i]`: the taxonomy entry of the model's
    /// tag `i`, see [`crate::engine::model::Manifest::entries`]).
    pub fn select(&self, entries: &[Option<&'static Entry>], scores: &[f32]) -> Selection {
        let all = canonical_scores(entries, scores);
        let mut selection = Selection::default();
        for category in Category::ALL {
            if !self.categories.contains(&category) {
                continue;
            }
            let mut ranked: Vec<Selected> = all.iter().filter(|s| s.category == category).cloned().collect();
            let best = ranked.iter().map(|s| s.score).fold(0.0f32, f32::max);
            let threshold = (self.ratio * best).max(self.floor);
            ranked.retain(|s| s.score >= threshold);
            ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(b.name)));
            ranked.truncate(self.limit(category));
            match category {
                Category::Genre => selection.genres = ranked,
                Category::Mood => selection.moods = ranked,
                _ => selection.grouping.extend(ranked),
            }
        }
        selection
    }
}

#[cfg(test)]
mod tests {
    use super::super::taxonomy::entry;
    use super::*;

    fn msd50() -> Vec<&'static str> {
        vec![
            "rock",
            "pop",
            "alternative",
            "indie",
            "electronic",
            "female vocalists",
            "dance",
            "00s",
            "alternative rock",
            "jazz",
            "beautiful",
            "metal",
            "chillout",
            "male vocalists",
            "classic rock",
            "soul",
            "indie rock",
            "Mellow",
            "electronica",
            "80s",
            "folk",
            "90s",
            "chill",
            "instrumental",
            "punk",
            "oldies",
            "blues",
            "hard rock",
            "ambient",
            "acoustic",
            "experimental",
            "female vocalist",
            "guitar",
            "Hip-Hop",
            "70s",
            "party",
            "country",
            "easy listening",
            "sexy",
            "catchy",
            "funk",
            "electro",
            "heavy metal",
            "Progressive rock",
            "60s",
            "rnb",
            "indie pop",
            "sad",
            "House",
            "happy",
        ]
    }

    fn entries() -> Vec<Option<&'static Entry>> {
        msd50().iter().map(|t| entry("msd", t)).collect()
    }

    fn scores(pairs: &[(&str, f32)]) -> Vec<f32> {
        let tags = msd50();
        let mut s = vec![0.01f32; tags.len()];
        for (name, v) in pairs {
            s[tags.iter().position(|t| t == name).unwrap()] = *v;
        }
        s
    }

    fn names(v: &[Selected]) -> Vec<&str> {
        v.iter().map(|s| s.name).collect()
    }

    #[test]
    fn low_crnn_scores_still_give_tags_relative_to_the_best() {
        // bensound-dubstep as the CRNN scores it: nothing reaches 0.5.
        let s = scores(&[("Hip-Hop", 0.160), ("electronic", 0.127), ("rock", 0.115), ("alternative", 0.061), ("instrumental", 0.051)]);
        let sel = Policy::default().select(&entries(), &s);
        assert_eq!(names(&sel.genres), ["Hip-Hop", "Electronic", "Rock"]);
        assert!(sel.moods.is_empty() && sel.grouping.is_empty());
    }

    #[test]
    fn ratio_floor_and_limits_are_honoured_per_category() {
        let s = scores(&[
            ("jazz", 0.5),
            ("blues", 0.25),
            ("soul", 0.19),
            ("funk", 0.21),
            ("rock", 0.3),
            ("Mellow", 0.22),
            ("chill", 0.3),
            ("sad", 0.21),
        ]);
        let sel = Policy::default().select(&entries(), &s);
        // Genres: 0.4 × 0.5 = 0.2: soul (0.19) is out, funk in; at most 3 genres.
        assert_eq!(names(&sel.genres), ["Jazz", "Rock", "Blues"]);
        // Moods: 0.4 × 0.3 = 0.12, at most 2.
        assert_eq!(names(&sel.moods), ["Chill", "Mellow"]);
        let p = Policy { ratio: 0.0, floor: 0.2, max_genres: 10, max_moods: 1, ..Policy::default() };
        let sel = p.select(&entries(), &s);
        assert_eq!(names(&sel.genres), ["Jazz", "Rock", "Blues", "Funk"]);
        assert_eq!(names(&sel.moods), ["Chill"]);
        // The floor wins over a weak best score: nothing is confident enough.
        let weak = scores(&[("jazz", 0.04), ("sad", 0.03)]);
        assert_eq!(Policy::default().select(&entries(), &weak), Selection::default());
    }

    #[test]
    fn other_categories_only_on_request_to_grouping_and_synonyms_count_once() {
        let s = scores(&[
            ("jazz", 0.5),
            ("instrumental", 0.45),
            ("female vocalist", 0.3),
            ("female vocalists", 0.35),
            ("80s", 0.3),
            ("guitar", 0.4),
        ]);
        let sel = Policy::default().select(&entries(), &s);
        assert_eq!(names(&sel.genres), ["Jazz"]);
        assert!(sel.grouping.is_empty());
        let p = Policy { categories: Category::ALL.to_vec(), ..Policy::default() };
        let sel = p.select(&entries(), &s);
        assert_eq!(names(&sel.genres), ["Jazz"]);
        assert_eq!(names(&sel.grouping), ["Guitar", "Instrumental", "Female Vocals", "80s"]);
        let fv = sel.grouping.iter().find(|g| g.name == "Female Vocals").unwrap();
        assert_eq!(fv.score, 0.35, "synonyms keep the better score");
        assert!(!sel.genres.iter().any(|g| g.name == "Instrumental"), "a negation is never a genre");
    }

    #[test]
    fn two_vocabularies_give_one_result() {
        // A classical recording: MSD has no word for it; MTT does.
        let mut e: Vec<Option<&'static Entry>> = entries();
        let mtt = ["classical", "strings", "violin", "rock", "no vocals"];
        e.extend(mtt.iter().map(|t| entry("mtt", t)));
        let mut s = scores(&[("ambient", 0.22), ("instrumental", 0.4), ("jazz", 0.12)]);
        s.extend([0.81, 0.6, 0.5, 0.02, 0.7]);
        let sel = Policy { categories: Category::ALL.to_vec(), ..Policy::default() }.select(&e, &s);
        assert_eq!(names(&sel.genres), ["Classical"], "not the least-bad MSD genre");
        assert_eq!(names(&sel.grouping), ["Strings", "Violin", "Instrumental"]);
        let instrumental = sel.grouping.iter().find(|g| g.name == "Instrumental").unwrap();
        assert_eq!(instrumental.score, 0.7, "the best of msd instrumental and mtt no vocals");

        // A metal track: MSD says metal, MTT (whose tags here are classical, strings, violin,
        // rock, no vocals) says rock; the combined result keeps Metal first, the best three
        // genres by score, nothing classical.
        let mut s = scores(&[("metal", 0.74), ("heavy metal", 0.52), ("rock", 0.41), ("hard rock", 0.33)]);
        s.extend([0.01, 0.02, 0.0, 0.55, 0.03]);
        let sel = Policy::default().select(&e, &s);
        assert_eq!(names(&sel.genres), ["Metal", "Rock", "Heavy Metal"]);
    }

    #[test]
    fn nan_scores_are_ignored() {
        let mut s = scores(&[("jazz", 0.5)]);
        s[0] = f32::NAN;
        let sel = Policy::default().select(&entries(), &s);
        assert_eq!(names(&sel.genres), ["Jazz"]);
    }
}
