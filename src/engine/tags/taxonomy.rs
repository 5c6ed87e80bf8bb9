//! One taxonomy for every vocabulary melotag ships: each model tag (Million Song Dataset top-50
//! Last.fm tags, MagnaTagATune top-50 tags) mapped once to a category and a canonical written
//! name. Tags that mean the same thing share the canonical name, across vocabularies ("female
//! vocalists", "female", "woman", "female vocal", "female voice" → Female Vocals; "classical",
//! "classic" → Classical; "choral", "choir" → Choral), and a track's score for a canonical tag is
//! the best of its model tags. Negations ("no vocals", "no voice") are the Instrumental voice
//! tag, never a genre.
//!
//! Spelling: Title Case words ("Alternative Rock", "Easy Listening", "New Age"), the
//! conventional forms "Hip-Hop" and "R&B", decades as "60s" … "00s".

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// What a tag describes; each category has its own limit, genres and moods their own fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Written to the genre field.
    Genre,
    /// Written to the mood field.
    Mood,
    /// Instruments ("Piano", "Strings"); only on request, to the grouping field.
    Instrument,
    /// Voices ("Female Vocals", "Choir"... and "Instrumental"); only on request, to grouping.
    Voice,
    /// Decades ("80s") and "Oldies"; only on request, to the grouping field.
    Era,
    /// Tempo and feel ("Slow", "Loud", "Soft"); only on request, to the grouping field.
    Feel,
}

impl Category {
    /// Every category, in display order.
    pub const ALL: [Category; 6] = [Category::Genre, Category::Mood, Category::Instrument, Category::Voice, Category::Era, Category::Feel];

    /// Lower-case name, as on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Genre => "genre",
            Category::Mood => "mood",
            Category::Instrument => "instrument",
            Category::Voice => "voice",
            Category::Era => "era",
            Category::Feel => "feel",
        }
    }

    /// How people call the category ("Instruments", "Tempo & feel").
    pub fn title(self) -> &'static str {
        match self {
            Category::Genre => "Genre",
            Category::Mood => "Mood",
            Category::Instrument => "Instruments",
            Category::Voice => "Voice",
            Category::Era => "Era",
            Category::Feel => "Tempo & feel",
        }
    }
}

impl std::str::FromStr for Category {
    type Err = String;

    fn from_str(s: &str) -> Result<Category, String> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown category '{s}' (genre, mood, instrument, voice, era or feel)"))
    }
}

/// One model tag of one vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The vocabulary ("msd", "mtt").
    pub vocabulary: &'static str,
    /// The tag as the model names it.
    pub tag: &'static str,
    /// Its category.
    pub category: Category,
    /// Its canonical written name.
    pub name: &'static str,
}

use Category::{Era as E, Feel as F, Genre as G, Instrument as I, Mood as M, Voice as V};

const fn e(vocabulary: &'static str, tag: &'static str, category: Category, name: &'static str) -> Entry {
    Entry { vocabulary, tag, category, name }
}

/// Every tag of every shipped vocabulary, once.
pub const TAXONOMY: &[Entry] = &[
    // Million Song Dataset top-50 Last.fm tags (musicnn MSD, the Choi 2016 models).
    e("msd", "rock", G, "Rock"),
    e("msd", "pop", G, "Pop"),
    e("msd", "alternative", G, "Alternative"),
    e("msd", "indie", G, "Indie"),
    e("msd", "electronic", G, "Electronic"),
    e("msd", "female vocalists", V, "Female Vocals"),
    e("msd", "dance", G, "Dance"),
    e("msd", "00s", E, "00s"),
    e("msd", "alternative rock", G, "Alternative Rock"),
    e("msd", "jazz", G, "Jazz"),
    e("msd", "beautiful", M, "Beautiful"),
    e("msd", "metal", G, "Metal"),
    e("msd", "chillout", M, "Chillout"),
    e("msd", "male vocalists", V, "Male Vocals"),
    e("msd", "classic rock", G, "Classic Rock"),
    e("msd", "soul", G, "Soul"),
    e("msd", "indie rock", G, "Indie Rock"),
    e("msd", "Mellow", M, "Mellow"),
    e("msd", "electronica", G, "Electronica"),
    e("msd", "80s", E, "80s"),
    e("msd", "folk", G, "Folk"),
    e("msd", "90s", E, "90s"),
    e("msd", "chill", M, "Chill"),
    e("msd", "instrumental", V, "Instrumental"),
    e("msd", "punk", G, "Punk"),
    e("msd", "oldies", E, "Oldies"),
    e("msd", "blues", G, "Blues"),
    e("msd", "hard rock", G, "Hard Rock"),
    e("msd", "ambient", G, "Ambient"),
    e("msd", "acoustic", I, "Acoustic"),
    e("msd", "experimental", G, "Experimental"),
    e("msd", "female vocalist", V, "Female Vocals"),
    e("msd", "guitar", I, "Guitar"),
    e("msd", "Hip-Hop", G, "Hip-Hop"),
    e("msd", "70s", E, "70s"),
    e("msd", "party", M, "Party"),
    e("msd", "country", G, "Country"),
    e("msd", "easy listening", G, "Easy Listening"),
    e("msd", "sexy", M, "Sexy"),
    e("msd", "catchy", M, "Catchy"),
    e("msd", "funk", G, "Funk"),
    e("msd", "electro", G, "Electro"),
    e("msd", "heavy metal", G, "Heavy Metal"),
    e("msd", "Progressive rock", G, "Progressive Rock"),
    e("msd", "60s", E, "60s"),
    e("msd", "rnb", G, "R&B"),
    e("msd", "indie pop", G, "Indie Pop"),
    e("msd", "sad", M, "Sad"),
    e("msd", "House", G, "House"),
    e("msd", "happy", M, "Happy"),
    // MagnaTagATune top-50 tags (musicnn MTT).
    e("mtt", "guitar", I, "Guitar"),
    e("mtt", "classical", G, "Classical"),
    e("mtt", "slow", F, "Slow"),
    e("mtt", "techno", G, "Techno"),
    e("mtt", "strings", I, "Strings"),
    e("mtt", "drums", I, "Drums"),
    e("mtt", "electronic", G, "Electronic"),
    e("mtt", "rock", G, "Rock"),
    e("mtt", "fast", F, "Fast"),
    e("mtt", "piano", I, "Piano"),
    e("mtt", "ambient", G, "Ambient"),
    e("mtt", "beat", F, "Beat"),
    e("mtt", "violin", I, "Violin"),
    e("mtt", "vocal", V, "Vocals"),
    e("mtt", "synth", I, "Synth"),
    e("mtt", "female", V, "Female Vocals"),
    e("mtt", "indian", G, "Indian"),
    e("mtt", "opera", G, "Opera"),
    e("mtt", "male", V, "Male Vocals"),
    e("mtt", "singing", V, "Vocals"),
    e("mtt", "vocals", V, "Vocals"),
    e("mtt", "no vocals", V, "Instrumental"),
    e("mtt", "harpsichord", I, "Harpsichord"),
    e("mtt", "loud", F, "Loud"),
    e("mtt", "quiet", F, "Quiet"),
    e("mtt", "flute", I, "Flute"),
    e("mtt", "woman", V, "Female Vocals"),
    e("mtt", "male vocal", V, "Male Vocals"),
    e("mtt", "no vocal", V, "Instrumental"),
    e("mtt", "pop", G, "Pop"),
    e("mtt", "soft", F, "Soft"),
    e("mtt", "sitar", I, "Sitar"),
    e("mtt", "solo", I, "Solo"),
    e("mtt", "man", V, "Male Vocals"),
    e("mtt", "classic", G, "Classical"),
    e("mtt", "choir", G, "Choral"),
    e("mtt", "voice", V, "Vocals"),
    e("mtt", "new age", G, "New Age"),
    e("mtt", "dance", G, "Dance"),
    e("mtt", "male voice", V, "Male Vocals"),
    e("mtt", "female vocal", V, "Female Vocals"),
    e("mtt", "beats", F, "Beat"),
    e("mtt", "harp", I, "Harp"),
    e("mtt", "cello", I, "Cello"),
    e("mtt", "no voice", V, "Instrumental"),
    e("mtt", "weird", M, "Weird"),
    e("mtt", "country", G, "Country"),
    e("mtt", "metal", G, "Metal"),
    e("mtt", "female voice", V, "Female Vocals"),
    e("mtt", "choral", G, "Choral"),
];

/// Spellings people use for canonical tags that no model uses (for labels and user settings).
pub const ALIASES: &[(&str, &str)] = &[
    ("hip hop", "Hip-Hop"),
    ("hiphop", "Hip-Hop"),
    ("rap", "Hip-Hop"),
    ("r&b", "R&B"),
    ("r and b", "R&B"),
    ("rhythm and blues", "R&B"),
    ("female vocalists", "Female Vocals"),
    ("male vocalists", "Male Vocals"),
    ("choir", "Choral"),
    ("prog rock", "Progressive Rock"),
    ("chill out", "Chillout"),
];

/// Lower-case letters and digits only: "Hip-Hop" and "hip hop" are the same label.
pub fn normalize(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The entry of `tag` in `vocabulary` (tags are matched case-insensitively).
pub fn entry(vocabulary: &str, tag: &str) -> Option<&'static Entry> {
    TAXONOMY.iter().find(|e| e.vocabulary == vocabulary && e.tag.eq_ignore_ascii_case(tag.trim()))
}

/// The canonical names, each once, in table order.
pub fn canonical_names() -> &'static [&'static str] {
    static NAMES: OnceLock<Vec<&'static str>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let mut v: Vec<&'static str> = Vec::new();
        for e in TAXONOMY {
            if !v.contains(&e.name) {
                v.push(e.name);
            }
        }
        v
    })
}

/// The category of a canonical name.
pub fn category_of(name: &str) -> Option<Category> {
    TAXONOMY.iter().find(|e| e.name == name).map(|e| e.category)
}

/// The canonical name a label means: a canonical name, any model tag, or an alias, compared
/// by [`normalize`] ("progressive-rock" → Progressive Rock, "classic" → Classical).
pub fn canonical(label: &str) -> Option<&'static str> {
    static INDEX: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut m = HashMap::new();
        for e in TAXONOMY {
            m.entry(normalize(e.name)).or_insert(e.name);
            m.entry(normalize(e.tag)).or_insert(e.name);
        }
        for &(alias, name) in ALIASES {
            m.entry(normalize(alias)).or_insert(name);
        }
        m
    });
    index.get(&normalize(label)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest_tags(id: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{id}.toml"));
        let m: toml::Value = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        m["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_string()).collect()
    }

    #[test]
    fn every_vocabulary_tag_is_mapped_exactly_once() {
        for (vocabulary, id) in [("msd", "musicnn_msd"), ("msd", "choi2016_crnn"), ("mtt", "musicnn_mtt")] {
            let tags = manifest_tags(id);
            assert_eq!(tags.len(), 50);
            for t in &tags {
                let n = TAXONOMY.iter().filter(|e| e.vocabulary == vocabulary && e.tag == t).count();
                assert_eq!(n, 1, "{vocabulary} {t}");
            }
            assert_eq!(TAXONOMY.iter().filter(|e| e.vocabulary == vocabulary).count(), 50, "{vocabulary}: nothing else");
        }
    }

    #[test]
    fn synonyms_share_one_name_and_negations_are_never_genres() {
        let name = |v, t| entry(v, t).unwrap().name;
        for (v, t) in [
            ("msd", "female vocalists"),
            ("msd", "female vocalist"),
            ("mtt", "female"),
            ("mtt", "woman"),
            ("mtt", "female vocal"),
            ("mtt", "female voice"),
        ] {
            assert_eq!(name(v, t), "Female Vocals", "{v} {t}");
            assert_eq!(entry(v, t).unwrap().category, Category::Voice);
        }
        assert_eq!(name("mtt", "classical"), name("mtt", "classic"));
        assert_eq!(name("mtt", "choral"), "Choral");
        assert_eq!(name("mtt", "choir"), "Choral");
        for t in ["no vocals", "no vocal", "no voice"] {
            let e = entry("mtt", t).unwrap();
            assert_eq!((e.category, e.name), (Category::Voice, "Instrumental"));
        }
        // No canonical name belongs to two categories.
        for n in canonical_names() {
            let cats: std::collections::BTreeSet<Category> = TAXONOMY.iter().filter(|e| e.name == *n).map(|e| e.category).collect();
            assert_eq!(cats.len(), 1, "{n}: {cats:?}");
        }
        assert_eq!(category_of("Instrumental"), Some(Category::Voice));
    }

    #[test]
    fn labels_find_their_canonical_names() {
        for (label, want) in [
            ("hip hop", Some("Hip-Hop")),
            ("HIP-HOP", Some("Hip-Hop")),
            ("rap", Some("Hip-Hop")),
            ("progressive-rock", Some("Progressive Rock")),
            ("R&B", Some("R&B")),
            ("rnb", Some("R&B")),
            ("Classic", Some("Classical")),
            ("choir", Some("Choral")),
            ("female vocalist", Some("Female Vocals")),
            ("new-age", Some("New Age")),
            ("kazoo", None),
        ] {
            assert_eq!(canonical(label), want, "{label}");
        }
    }
}
