//! The selection policy: which of a model's 50 scores become tags, and how they are spelled.
//!
//! The CRNN's scores are low and uneven (the best tag of a track is often 0.2–0.5, moods rarely
//! pass 0.1), so a fixed 0.5 threshold would write nothing. The default policy is relative: a tag
//! is kept when its score is at least `ratio` × the track's best score (over all 50 tags) and at
//! least `floor`, and at most `max_*` tags are kept per category, best first.
//!
//! Every tag the models know is listed once in [`TAG_TABLE`] with its category and its canonical
//! spelling: Title Case words ("Alternative Rock", "Easy Listening", "Female Vocalists"), the
//! conventional forms "Hip-Hop" and "R&B", decades as "60s" … "00s". Two model tags that mean
//! the same thing ("female vocalist", "female vocalists") share one canonical name and are
//! written once, with the better score.

use std::collections::HashMap;

use serde::Serialize;

/// What a tag describes; each category has its own field and limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Written to the genre field (TCON / GENRE / ©gen / Genre).
    Genre,
    /// Written to the mood field (TMOO / TXXX:MOOD / MOOD / ----:com.apple.iTunes:MOOD / Mood).
    Mood,
    /// Instruments and voices ("Guitar", "Female Vocalists"); only on request, to the genre field.
    Instrument,
    /// Decades ("80s") and "Oldies"; only on request, to the genre field.
    Era,
}

impl std::str::FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown category '{s}' (genre, mood, instrument or era)"))
    }
}

impl Category {
    /// Every category.
    pub const ALL: [Category; 4] = [Category::Genre, Category::Mood, Category::Instrument, Category::Era];

    /// Lower-case name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Genre => "genre",
            Category::Mood => "mood",
            Category::Instrument => "instrument",
            Category::Era => "era",
        }
    }
}

/// The one table of model tag → (category, canonical spelling). Model tags are matched
/// case-insensitively; a model tag missing here is never written.
pub const TAG_TABLE: &[(&str, Category, &str)] = &[
    // Genres.
    ("rock", Category::Genre, "Rock"),
    ("pop", Category::Genre, "Pop"),
    ("alternative", Category::Genre, "Alternative"),
    ("indie", Category::Genre, "Indie"),
    ("electronic", Category::Genre, "Electronic"),
    ("dance", Category::Genre, "Dance"),
    ("alternative rock", Category::Genre, "Alternative Rock"),
    ("jazz", Category::Genre, "Jazz"),
    ("metal", Category::Genre, "Metal"),
    ("classic rock", Category::Genre, "Classic Rock"),
    ("soul", Category::Genre, "Soul"),
    ("indie rock", Category::Genre, "Indie Rock"),
    ("electronica", Category::Genre, "Electronica"),
    ("folk", Category::Genre, "Folk"),
    ("punk", Category::Genre, "Punk"),
    ("blues", Category::Genre, "Blues"),
    ("hard rock", Category::Genre, "Hard Rock"),
    ("ambient", Category::Genre, "Ambient"),
    ("experimental", Category::Genre, "Experimental"),
    ("hip-hop", Category::Genre, "Hip-Hop"),
    ("country", Category::Genre, "Country"),
    ("easy listening", Category::Genre, "Easy Listening"),
    ("funk", Category::Genre, "Funk"),
    ("electro", Category::Genre, "Electro"),
    ("heavy metal", Category::Genre, "Heavy Metal"),
    ("progressive rock", Category::Genre, "Progressive Rock"),
    ("rnb", Category::Genre, "R&B"),
    ("indie pop", Category::Genre, "Indie Pop"),
    ("house", Category::Genre, "House"),
    // Moods.
    ("beautiful", Category::Mood, "Beautiful"),
    ("chillout", Category::Mood, "Chillout"),
    ("mellow", Category::Mood, "Mellow"),
    ("chill", Category::Mood, "Chill"),
    ("party", Category::Mood, "Party"),
    ("sexy", Category::Mood, "Sexy"),
    ("catchy", Category::Mood, "Catchy"),
    ("sad", Category::Mood, "Sad"),
    ("happy", Category::Mood, "Happy"),
    // Instruments and voices.
    ("female vocalists", Category::Instrument, "Female Vocalists"),
    ("female vocalist", Category::Instrument, "Female Vocalists"),
    ("male vocalists", Category::Instrument, "Male Vocalists"),
    ("instrumental", Category::Instrument, "Instrumental"),
    ("acoustic", Category::Instrument, "Acoustic"),
    ("guitar", Category::Instrument, "Guitar"),
    // Eras.
    ("60s", Category::Era, "60s"),
    ("70s", Category::Era, "70s"),
    ("80s", Category::Era, "80s"),
    ("90s", Category::Era, "90s"),
    ("00s", Category::Era, "00s"),
    ("oldies", Category::Era, "Oldies"),
];

/// Category and canonical name of a model tag (case-insensitive), if it is in [`TAG_TABLE`].
pub fn lookup(model_tag: &str) -> Option<(Category, &'static str)> {
    TAG_TABLE.iter().find(|(name, _, _)| name.eq_ignore_ascii_case(model_tag.trim())).map(|&(_, category, canonical)| (category, canonical))
}

/// Default `ratio`: a tag needs at least 40 % of the track's best score.
pub const DEFAULT_RATIO: f32 = 0.4;
/// Default `floor`: and at least 0.05 absolute (below that the CRNN is guessing).
pub const DEFAULT_FLOOR: f32 = 0.05;
/// Default number of genres per track.
pub const DEFAULT_MAX_GENRES: usize = 3;
/// Default number of moods per track.
pub const DEFAULT_MAX_MOODS: usize = 2;
/// Default number of instrument/voice and of era tags, when requested.
pub const DEFAULT_MAX_OTHER: usize = 2;

/// The knobs of the selection.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Keep tags scoring at least `ratio` × the track's best score.
    pub ratio: f32,
    /// ... and at least `floor`.
    pub floor: f32,
    /// Most genres kept.
    pub max_genres: usize,
    /// Most moods kept.
    pub max_moods: usize,
    /// Most instrument/voice tags kept (when requested).
    pub max_instruments: usize,
    /// Most era tags kept (when requested).
    pub max_eras: usize,
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
            max_instruments: DEFAULT_MAX_OTHER,
            max_eras: DEFAULT_MAX_OTHER,
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
    /// The model's score.
    pub score: f32,
}

/// What the policy chose for a track, per written field, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Selection {
    /// Values for the genre field (genres, then instruments and eras when requested).
    pub genres: Vec<Selected>,
    /// Values for the mood field.
    pub moods: Vec<Selected>,
}

impl Policy {
    fn limit(&self, category: Category) -> usize {
        match category {
            Category::Genre => self.max_genres,
            Category::Mood => self.max_moods,
            Category::Instrument => self.max_instruments,
            Category::Era => self.max_eras,
        }
    }

    /// The score a tag needs for this track.
    pub fn threshold(&self, scores: &[f32]) -> f32 {
        let best = scores.iter().copied().filter(|s| s.is_finite()).fold(0.0f32, f32::max);
        (self.ratio * best).max(self.floor)
    }

    /// Chooses tags from one track's scores (`tags[i]` is the model's name of `scores[i]`).
    pub fn select(&self, tags: &[String], scores: &[f32]) -> Selection {
        let threshold = self.threshold(scores);
        // Best score per canonical name (merges "female vocalist(s)").
        let mut best: HashMap<&'static str, Selected> = HashMap::new();
        for (tag, &score) in tags.iter().zip(scores) {
            let Some((category, name)) = lookup(tag) else { continue };
            if !score.is_finite() || score < threshold || !self.categories.contains(&category) {
                continue;
            }
            let entry = best.entry(name).or_insert(Selected { name, category, score });
            if score > entry.score {
                entry.score = score;
            }
        }
        let mut ranked: Vec<Selected> = best.into_values().collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.name.cmp(b.name)));
        let mut counts: HashMap<Category, usize> = HashMap::new();
        let mut selection = Selection::default();
        for s in ranked {
            let n = counts.entry(s.category).or_default();
            if *n >= self.limit(s.category) {
                continue;
            }
            *n += 1;
            match s.category {
                Category::Mood => selection.moods.push(s),
                _ => selection.genres.push(s),
            }
        }
        // Genres first, then instruments, then eras; by score within each.
        let rank = |c: Category| match c {
            Category::Genre => 0,
            Category::Instrument => 1,
            Category::Era => 2,
            Category::Mood => 3,
        };
        selection.genres.sort_by(|a, b| rank(a.category).cmp(&rank(b.category)).then(b.score.total_cmp(&a.score)));
        selection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msd50() -> Vec<String> {
        [
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
        .iter()
        .map(|s| s.to_string())
        .collect()
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
    fn every_msd50_tag_has_a_category_and_one_canonical_spelling() {
        let tags = msd50();
        for t in &tags {
            assert!(lookup(t).is_some(), "{t} missing from TAG_TABLE");
        }
        assert_eq!(TAG_TABLE.len(), 50);
        assert_eq!(lookup("Hip-Hop"), Some((Category::Genre, "Hip-Hop")));
        assert_eq!(lookup("Progressive rock"), Some((Category::Genre, "Progressive Rock")));
        assert_eq!(lookup("rnb"), Some((Category::Genre, "R&B")));
        assert_eq!(lookup("female vocalist"), lookup("female vocalists"));
        assert_eq!(lookup("80s"), Some((Category::Era, "80s")));
        assert_eq!(lookup("Mellow"), Some((Category::Mood, "Mellow")));
        assert_eq!(lookup("kazoo"), None);
        let count = |c| TAG_TABLE.iter().filter(|t| t.1 == c).count();
        assert_eq!((count(Category::Genre), count(Category::Mood), count(Category::Instrument), count(Category::Era)), (29, 9, 6, 6));
    }

    #[test]
    fn low_crnn_scores_still_give_tags_relative_to_the_best() {
        // bensound-dubstep as the CRNN scores it: nothing reaches 0.5.
        let s = scores(&[("Hip-Hop", 0.160), ("electronic", 0.127), ("rock", 0.115), ("alternative", 0.061), ("instrumental", 0.051)]);
        let sel = Policy::default().select(&msd50(), &s);
        assert_eq!(names(&sel.genres), ["Hip-Hop", "Electronic", "Rock"]);
        assert!(sel.moods.is_empty());
    }

    #[test]
    fn ratio_floor_and_limits_are_honoured() {
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
        let p = Policy::default();
        let sel = p.select(&msd50(), &s);
        // threshold = 0.4 * 0.5 = 0.2: soul (0.19) is out, funk in; at most 3 genres.
        assert_eq!(names(&sel.genres), ["Jazz", "Rock", "Blues"]);
        assert_eq!(names(&sel.moods), ["Chill", "Mellow"]);
        let p = Policy { ratio: 0.0, floor: 0.2, max_genres: 10, max_moods: 1, ..Policy::default() };
        let sel = p.select(&msd50(), &s);
        assert_eq!(names(&sel.genres), ["Jazz", "Rock", "Blues", "Funk"]);
        assert_eq!(names(&sel.moods), ["Chill"]);
        // The floor wins over a weak best score: nothing is confident enough.
        let weak = scores(&[("jazz", 0.04), ("sad", 0.03)]);
        assert_eq!(Policy::default().select(&msd50(), &weak), Selection::default());
    }

    #[test]
    fn instruments_and_eras_only_on_request_and_after_genres() {
        let s = scores(&[("jazz", 0.5), ("instrumental", 0.45), ("female vocalist", 0.3), ("female vocalists", 0.35), ("80s", 0.3)]);
        let sel = Policy::default().select(&msd50(), &s);
        assert_eq!(names(&sel.genres), ["Jazz"]);
        let p = Policy { categories: vec![Category::Genre, Category::Mood, Category::Instrument, Category::Era], ..Policy::default() };
        let sel = p.select(&msd50(), &s);
        assert_eq!(names(&sel.genres), ["Jazz", "Instrumental", "Female Vocalists", "80s"]);
        let fv = sel.genres.iter().find(|g| g.name == "Female Vocalists").unwrap();
        assert_eq!(fv.score, 0.35, "duplicates keep the better score");
        let p = Policy { categories: vec![Category::Mood], ..Policy::default() };
        assert!(p.select(&msd50(), &s).genres.is_empty());
    }

    #[test]
    fn nan_scores_are_ignored() {
        let mut s = scores(&[("jazz", 0.5)]);
        s[0] = f32::NAN;
        let sel = Policy::default().select(&msd50(), &s);
        assert_eq!(names(&sel.genres), ["Jazz"]);
    }
}
