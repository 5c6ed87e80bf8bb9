//! The fields melotag reads and writes, per tag format, on top of lofty's concrete tag types
//! (never its lossy generic `Tag`, so every other frame, atom, comment and picture is carried
//! through untouched).
//!
//! | format | tag written | genre | mood | grouping (instruments, voices, eras, feel) | scores (`--write-scores`) |
//! | --- | --- | --- | --- | --- | --- |
//! | MP3, WAV, AIFF, AAC (ADTS), ID3v2.4 | ID3v2 | `TCON`, one value per genre (NUL-separated) | `TMOO`, NUL-separated | `TIT1` | `TXXX:MELOTAG_SCORES` |
//! | same, ID3v2.3 | ID3v2 | `TCON`, values joined with `/` | `TXXX:MOOD`, joined with `/` | `TIT1`, joined with `/` | `TXXX:MELOTAG_SCORES` |
//! | FLAC, Ogg Vorbis, Opus, Speex | Vorbis comments | `GENRE`, one comment per value | `MOOD`, one per value | `GROUPING` | `MELOTAG_SCORES` |
//! | MP4/M4A | ilst | `©gen`, one data atom per value | `----:com.apple.iTunes:MOOD` | `©grp` | `----:com.melotag:scores` |
//! | Monkey's Audio, WavPack, Musepack | APEv2 | `Genre` (NUL-separated) | `Mood` | `Grouping` | `MELOTAG_SCORES` |
//!
//! ID3v2.3 has no multi-value text frames: values are joined with "/" (as Picard does), and an
//! existing 2.3 value is split at "/" when merging. Vorbis keys are written upper case (they are
//! case-insensitive).
//!
//! An MP3 that also carries an APEv2 tag gets the same values in both (foobar2000 reads APE
//! first). An existing ID3v2 tag keeps its version (2.3 stays 2.3); a missing one is created as
//! 2.4; a 2.2 tag is written back as 2.4 (lofty cannot write 2.2). ID3v1 is never touched (a
//! fixed genre list, no mood field). A WAV's RIFF INFO genre (`IGNR`), when there is one, is
//! set to the same genres so players agree (`raw::riff`); none is added. A FLAC's ID3v2 tag
//! (non-standard) is left as it is.

use std::fmt;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use lofty::ape::{ApeItem, ApeTag};
use lofty::config::{ParseOptions, WriteOptions};
use lofty::file::{AudioFile, FileType};
use lofty::flac::FlacFile;
use lofty::id3::v2::{Frame, FrameId, Id3v2Tag, Id3v2Version, TextInformationFrame};
use lofty::mp4::{Atom, AtomData, AtomIdent, Ilst};
use lofty::ogg::tag::VorbisComments;
use lofty::prelude::TagExt;
use lofty::probe::Probe;
use lofty::tag::ItemValue;
use serde::{Deserialize, Serialize};

/// Which tag a field lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TagKind {
    /// ID3v2 (2.3 or 2.4).
    Id3v2,
    /// Vorbis comments (FLAC, Ogg).
    Vorbis,
    /// MP4 ilst atoms.
    Mp4,
    /// APEv2.
    Ape,
    /// RIFF INFO list of a WAV file (`IGNR`).
    RiffInfo,
}

impl TagKind {
    /// Short name, as shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            TagKind::Id3v2 => "ID3v2",
            TagKind::Vorbis => "Vorbis",
            TagKind::Mp4 => "MP4",
            TagKind::Ape => "APE",
            TagKind::RiffInfo => "RIFF-INFO",
        }
    }

    /// Inverse of [`TagKind::as_str`].
    pub fn parse(s: &str) -> Option<TagKind> {
        [TagKind::Id3v2, TagKind::Vorbis, TagKind::Mp4, TagKind::Ape, TagKind::RiffInfo].into_iter().find(|k| k.as_str() == s)
    }
}

/// What a field holds, for melotag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Genres (and instrument/era tags when requested).
    Genre,
    /// Moods.
    Mood,
    /// Grouping: instruments, voices, eras, tempo/feel (when requested).
    Grouping,
    /// The raw scores as compact JSON.
    Scores,
}

impl Role {
    /// Every role, in the order fields are listed.
    pub const ALL: [Role; 4] = [Role::Genre, Role::Mood, Role::Grouping, Role::Scores];

    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Genre => "genre",
            Role::Mood => "mood",
            Role::Grouping => "grouping",
            Role::Scores => "scores",
        }
    }

    /// Inverse of [`Role::as_str`].
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One field: the tag it lives in and its key there (`TCON`, `TXXX:MOOD`, `GENRE`, `©gen`,
/// `----:com.apple.iTunes:MOOD`, `Genre`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FieldId {
    /// The tag.
    pub tag: TagKind,
    /// The key inside it.
    pub key: String,
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.tag.as_str(), self.key)
    }
}

/// A field's stored value: `None` when the field is absent, else its values in order (for ID3v2,
/// the frame text split at NUL).
pub type Raw = Option<Vec<String>>;

/// Errors reading or writing tags.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// A tag structure is damaged: melotag will not write the file (a writer could lose what
    /// follows the damage), and says where.
    #[error("not writable: {0} (repair the tags with another tag editor first)")]
    Damaged(String),
    /// lofty does not know the format, or cannot write tags to it.
    #[error("unsupported format for writing tags{0}")]
    Unsupported(String),
    /// Reading failed.
    #[error("could not read the tags: {0}")]
    Read(String),
    /// Writing failed.
    #[error("could not write the tags: {0}")]
    Write(String),
    /// I/O.
    #[error("{0}")]
    Io(String),
}

const ID3_V23_SEPARATOR: &str = "/";
const SCORES_KEY: &str = "MELOTAG_SCORES";
const MP4_GENRE: [u8; 4] = *b"\xa9gen";

/// One tag of a file, as lofty's concrete type.
enum Store {
    Id3v2 {
        tag: Id3v2Tag,
        v23: bool,
    },
    Vorbis(VorbisComments),
    /// FLAC keeps its picture blocks beside the comments; the file writes both back.
    Flac(Box<FlacFile>),
    Mp4(Ilst),
    Ape(ApeTag),
}

impl Store {
    fn kind(&self) -> TagKind {
        match self {
            Store::Id3v2 { .. } => TagKind::Id3v2,
            Store::Vorbis(_) | Store::Flac(_) => TagKind::Vorbis,
            Store::Mp4(_) => TagKind::Mp4,
            Store::Ape(_) => TagKind::Ape,
        }
    }

    fn key(&self, role: Role) -> String {
        match (self, role) {
            (Store::Id3v2 { .. }, Role::Genre) => "TCON".into(),
            (Store::Id3v2 { v23: false, .. }, Role::Mood) => "TMOO".into(),
            (Store::Id3v2 { v23: true, .. }, Role::Mood) => "TXXX:MOOD".into(),
            (Store::Id3v2 { .. }, Role::Scores) => format!("TXXX:{SCORES_KEY}"),
            (Store::Id3v2 { .. }, Role::Grouping) => "TIT1".into(),
            (Store::Vorbis(_) | Store::Flac(_), Role::Grouping) => "GROUPING".into(),
            (Store::Mp4(_), Role::Grouping) => "©grp".into(),
            (Store::Ape(_), Role::Grouping) => "Grouping".into(),
            (Store::Vorbis(_) | Store::Flac(_), Role::Genre) => "GENRE".into(),
            (Store::Vorbis(_) | Store::Flac(_), Role::Mood) => "MOOD".into(),
            (Store::Vorbis(_) | Store::Flac(_), Role::Scores) => SCORES_KEY.into(),
            (Store::Mp4(_), Role::Genre) => "©gen".into(),
            (Store::Mp4(_), Role::Mood) => "----:com.apple.iTunes:MOOD".into(),
            (Store::Mp4(_), Role::Scores) => "----:com.melotag:scores".into(),
            (Store::Ape(_), Role::Genre) => "Genre".into(),
            (Store::Ape(_), Role::Mood) => "Mood".into(),
            (Store::Ape(_), Role::Scores) => SCORES_KEY.into(),
        }
    }

    fn comments(&self) -> Option<&VorbisComments> {
        match self {
            Store::Vorbis(c) => Some(c),
            Store::Flac(f) => f.vorbis_comments(),
            _ => None,
        }
    }

    fn comments_mut(&mut self) -> Option<&mut VorbisComments> {
        match self {
            Store::Vorbis(c) => Some(c),
            Store::Flac(f) => {
                if f.vorbis_comments().is_none() {
                    f.set_vorbis_comments(VorbisComments::default());
                }
                f.vorbis_comments_mut()
            }
            _ => None,
        }
    }

    fn get(&self, key: &str) -> Raw {
        match self {
            Store::Id3v2 { tag, .. } => {
                let text = if let Some(desc) = key.strip_prefix("TXXX:") {
                    tag.get_user_text(desc)
                } else {
                    tag.get_text(&FrameId::new(key.to_string()).ok()?)
                };
                text.map(|t| t.split('\0').map(str::to_string).collect())
            }
            Store::Vorbis(_) | Store::Flac(_) => {
                let values: Vec<String> = self.comments()?.get_all(key).map(str::to_string).collect();
                (!values.is_empty()).then_some(values)
            }
            Store::Mp4(ilst) => {
                let atom = ilst.get(&mp4_ident(key))?;
                Some(
                    atom.data()
                        .filter_map(|d| match d {
                            AtomData::UTF8(s) | AtomData::UTF16(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                )
            }
            Store::Ape(tag) => {
                let item = tag.get(key)?;
                Some(item.text_values().map(|v| v.map(str::to_string).collect()).unwrap_or_default())
            }
        }
    }

    fn set(&mut self, key: &str, value: &Raw) -> Result<(), TagError> {
        let bad = |e: &dyn fmt::Display| TagError::Write(format!("{key}: {e}"));
        let value = value.as_ref().filter(|v| !v.is_empty());
        match self {
            Store::Id3v2 { tag, .. } => {
                if let Some(desc) = key.strip_prefix("TXXX:") {
                    tag.remove_user_text(desc);
                    if let Some(v) = value {
                        tag.insert_user_text(desc.to_string(), v.join("\0"));
                    }
                } else {
                    let id = FrameId::new(key.to_string()).map_err(|e| bad(&e))?;
                    drop(tag.remove(&id));
                    if let Some(v) = value {
                        tag.insert(Frame::Text(TextInformationFrame::new(id, lofty::TextEncoding::UTF8, v.join("\0"))));
                    }
                }
            }
            Store::Vorbis(_) | Store::Flac(_) => {
                let comments = self.comments_mut().ok_or_else(|| bad(&"no comment block"))?;
                // Not `VorbisComments::remove`: it swaps items, reordering other fields' values
                // (a second ARTIST would become the first). The new values take the old ones' place.
                let items: Vec<(String, String)> = comments.take_items().collect();
                let at = items.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)).unwrap_or(items.len());
                let (before, after) = items.split_at(at);
                let kept = |(k, _): &&(String, String)| !k.eq_ignore_ascii_case(key);
                for (k, v) in before.iter().filter(kept) {
                    comments.push(k.clone(), v.clone());
                }
                for v in value.into_iter().flatten() {
                    comments.push(key.to_string(), v.clone());
                }
                for (k, v) in after.iter().filter(kept) {
                    comments.push(k.clone(), v.clone());
                }
            }
            Store::Mp4(ilst) => {
                let ident = mp4_ident(key);
                drop(ilst.remove(&ident));
                if let Some(v) = value {
                    let data = v.iter().map(|s| AtomData::UTF8(s.clone())).collect();
                    if let Some(atom) = Atom::from_collection(ident, data) {
                        ilst.insert(atom);
                    }
                }
            }
            Store::Ape(tag) => {
                tag.remove(key);
                if let Some(v) = value {
                    let item = ApeItem::new(key.to_string(), ItemValue::Text(v.join("\0"))).map_err(|e| bad(&e))?;
                    tag.insert(item);
                }
            }
        }
        Ok(())
    }

    /// The values a person sees in a field (numeric ID3 genres resolved, 2.3 lists split).
    fn values(&self, role: Role, raw: &Raw) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        let mut out: Vec<String> = match (self, role) {
            (Store::Id3v2 { .. }, Role::Genre) => {
                // Resolve "(17)" / "17" the way lofty (and players) do, via a scratch tag.
                let mut scratch = Id3v2Tag::new();
                scratch.insert(Frame::Text(TextInformationFrame::new(
                    FrameId::Valid("TCON".into()),
                    lofty::TextEncoding::UTF8,
                    raw.join("\0"),
                )));
                scratch.genres().map(|g| g.map(str::to_string).collect()).unwrap_or_default()
            }
            _ => raw.clone(),
        };
        if matches!(self, Store::Id3v2 { v23: true, .. }) && role != Role::Scores {
            out = out.iter().flat_map(|v| v.split(ID3_V23_SEPARATOR).map(str::to_string).collect::<Vec<_>>()).collect();
        }
        out.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    }

    /// How `values` are stored in this field.
    fn encode(&self, role: Role, values: &[String]) -> Raw {
        if values.is_empty() {
            return None;
        }
        match self {
            Store::Id3v2 { v23: true, .. } if role != Role::Scores => Some(vec![values.join(ID3_V23_SEPARATOR)]),
            _ => Some(values.to_vec()),
        }
    }

    fn save(&self, file: &mut File) -> Result<(), TagError> {
        let err = |e: &dyn fmt::Display| TagError::Write(e.to_string());
        file.seek(SeekFrom::Start(0)).map_err(|e| err(&e))?;
        let options = WriteOptions::new();
        match self {
            Store::Id3v2 { tag, v23 } => tag.save_to(file, WriteOptions::new().use_id3v23(*v23)).map_err(|e| err(&e)),
            Store::Vorbis(c) => c.save_to(file, options).map_err(|e| err(&e)),
            Store::Flac(f) => f.save_to(file, options).map_err(|e| err(&e)),
            Store::Mp4(ilst) => ilst.save_to(file, options).map_err(|e| err(&e)),
            Store::Ape(tag) => tag.save_to(file, options).map_err(|e| err(&e)),
        }
    }
}

fn mp4_ident(key: &str) -> AtomIdent<'static> {
    if key == "©gen" {
        return AtomIdent::Fourcc(MP4_GENRE);
    }
    if let Some(rest) = key.strip_prefix("----:")
        && let Some((mean, name)) = rest.rsplit_once(':')
    {
        return AtomIdent::Freeform { mean: mean.to_string().into(), name: name.to_string().into() };
    }
    let mut fourcc = [b' '; 4];
    for (slot, c) in fourcc.iter_mut().zip(key.chars()) {
        *slot = u32::from(c).min(255) as u8;
    }
    AtomIdent::Fourcc(fourcc)
}

/// How a field stores a list of values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ValueStyle {
    /// One stored value per value (ID3v2.4 NUL-separated text, Vorbis comments, MP4 data atoms).
    Multi,
    /// One stored value, the values joined with this separator (ID3v2.3 "/", RIFF INFO "; ").
    Joined(&'static str),
}

/// One field melotag may write, as it is in the file now.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldState {
    /// The field.
    pub id: FieldId,
    /// What it holds for melotag.
    pub role: Role,
    /// Its stored value.
    pub raw: Raw,
    /// Its values as a person reads them (numeric ID3 genres resolved, joined lists split).
    pub values: Vec<String>,
    /// How values are stored.
    pub style: ValueStyle,
}

impl FieldState {
    /// The values a person reads in a stored value of this field: numeric ID3 genres ("(17)")
    /// resolved, joined lists split, blanks dropped.
    pub fn decode(&self, raw: &Raw) -> Vec<String> {
        let Some(raw) = raw else { return Vec::new() };
        if self.role == Role::Scores {
            return raw.clone();
        }
        let mut out = raw.clone();
        if self.id.tag == TagKind::Id3v2 && self.role == Role::Genre {
            out = resolve_id3_genres(&out);
        }
        if let ValueStyle::Joined(sep) = self.style {
            out = out.iter().flat_map(|v| v.split(sep).map(str::to_string).collect::<Vec<_>>()).collect();
        }
        out.into_iter().map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect()
    }

    /// How `values` would be stored in this field (`None`: the field removed).
    pub fn encode(&self, values: &[String]) -> Raw {
        if values.is_empty() {
            return None;
        }
        match self.style {
            ValueStyle::Joined(sep) if self.role != Role::Scores => Some(vec![values.join(sep)]),
            _ => Some(values.to_vec()),
        }
    }
}

/// Resolves ID3 genre references ("(17)", "17", "(17)Rock") the way players do.
fn resolve_id3_genres(values: &[String]) -> Vec<String> {
    let mut scratch = Id3v2Tag::new();
    scratch.insert(Frame::Text(TextInformationFrame::new(FrameId::Valid("TCON".into()), lofty::TextEncoding::UTF8, values.join("\0"))));
    scratch.genres().map(|g| g.map(str::to_string).collect()).unwrap_or_default()
}

/// What planning needs of a file's tags: the fields melotag may write (every tag it writes,
/// every role), the album it belongs to, and the file's snapshot when they were read.
#[derive(Debug, Clone, PartialEq)]
pub struct FileTags {
    /// Size and mtime when read.
    pub snapshot: super::write::Snapshot,
    /// The fields, per tag and role.
    pub fields: Vec<FieldState>,
    /// Album tag.
    pub album: Option<String>,
    /// Album artist tag (else the artist).
    pub album_artist: Option<String>,
    /// The genre of an ID3v1 tag, which melotag never writes but players show: `fill` keeps
    /// it and `merge` builds on it like any of the file's own genres.
    pub id3v1_genre: Option<String>,
}

impl FileTags {
    /// Reads the fields of the file at `path` (and its album, for album consensus). ID3v2
    /// (MP3, AAC, WAV, AIFF), RIFF INFO and FLAC comments are read from the raw bytes, as
    /// melotag writes them; Ogg, MP4 and APE-tagged files through lofty. A damaged tag is an
    /// error: such a file is never written.
    pub fn read(path: &Path) -> Result<FileTags, TagError> {
        use super::raw::{self, Container, RawError};
        let io = |e: std::io::Error| TagError::Io(crate::engine::library::io_reason(&e));
        let snapshot = super::write::Snapshot::of(path).map_err(io)?;
        let meta = std::fs::metadata(path).map_err(io)?;
        if let Some(reason) = crate::engine::library::not_a_regular_file(&meta) {
            return Err(TagError::Unsupported(format!(": {reason}")));
        }
        let mut file = File::open(path).map_err(io)?;
        let layout = match raw::read_tags(&mut file) {
            Ok(l) => l,
            Err(RawError::Damaged { what, offset }) => return Err(TagError::Damaged(format!("damaged {what} at byte {offset}"))),
            Err(RawError::Unsupported(m)) => return Err(TagError::Unsupported(format!(": {m}"))),
            Err(RawError::Unknown) => return Err(TagError::Unsupported(" (not a format melotag writes)".into())),
            Err(RawError::Io(e)) => return Err(io(e)),
        };
        let fields = match layout.container {
            Container::Mpeg | Container::Wav | Container::Aiff | Container::Flac => fields_from_layout(&layout, path)?,
            Container::Ogg | Container::Mp4 | Container::ApeTagged => {
                let tags = TagFile::read(path)?;
                let mut fields = Vec::new();
                for store in &tags.stores {
                    for role in Role::ALL {
                        let key = store.key(role);
                        let raw = store.get(&key);
                        let mut field =
                            FieldState { id: FieldId { tag: store.kind(), key }, role, raw, values: Vec::new(), style: ValueStyle::Multi };
                        field.values = field.decode(&field.raw);
                        fields.push(field);
                    }
                }
                fields
            }
        };
        let (album, album_artist) = read_album(path);
        // The last byte of ID3v1 is an index into the genre list; 255 is "none".
        let id3v1_genre = layout
            .items
            .iter()
            .find(|i| i.tag == "ID3v1" && i.key == "ID3v1")
            .and_then(|i| i.bytes.get(127))
            .and_then(|&g| lofty::id3::v1::GENRES.get(usize::from(g)))
            .map(|g| g.to_string());
        Ok(FileTags { snapshot, fields, album, album_artist, id3v1_genre })
    }

    /// The field with this id.
    pub fn field(&self, id: &FieldId) -> Option<&FieldState> {
        self.fields.iter().find(|f| &f.id == id)
    }
}

/// The fields of a file melotag writes byte-for-byte itself (ID3v2, RIFF INFO, FLAC comments),
/// from its raw items.
fn fields_from_layout(layout: &super::raw::Layout, path: &Path) -> Result<Vec<FieldState>, TagError> {
    use super::raw::{Container, id3v2};
    fn items<'a>(layout: &'a super::raw::Layout, tag: &'a str, key: &'a str) -> impl Iterator<Item = &'a super::raw::Item> + 'a {
        layout.items.iter().filter(move |i| i.tag == tag && i.key.eq_ignore_ascii_case(key))
    }
    let mut fields = Vec::new();
    let mut push = |tag: TagKind, key: &str, role: Role, raw: Raw, style: ValueStyle| {
        let mut field = FieldState { id: FieldId { tag, key: key.to_string() }, role, raw, values: Vec::new(), style };
        field.values = field.decode(&field.raw);
        fields.push(field);
    };
    match layout.container {
        Container::Flac => {
            for (key, role) in [("GENRE", Role::Genre), ("MOOD", Role::Mood), ("GROUPING", Role::Grouping), (SCORES_KEY, Role::Scores)] {
                let values: Vec<String> = items(layout, "Vorbis", key)
                    .map(|i| {
                        let text = String::from_utf8_lossy(&i.bytes);
                        text.split_once('=').map(|(_, v)| v.to_string()).unwrap_or_default()
                    })
                    .collect();
                push(TagKind::Vorbis, key, role, (!values.is_empty()).then_some(values), ValueStyle::Multi);
            }
        }
        _ => {
            // A file without an ID3v2 tag gets a v2.4 one.
            let v23 = items(layout, "ID3v2", id3v2::VERSION_KEY).next().is_some_and(|i| i.bytes.first() == Some(&3));
            let text = |key: &str| -> Result<Raw, TagError> {
                let Some(item) = items(layout, "ID3v2", key).next() else { return Ok(None) };
                let (flags, body) = item.bytes.split_at(2.min(item.bytes.len()));
                let id: [u8; 4] = key.as_bytes().get(..4).and_then(|b| b.try_into().ok()).unwrap_or(*b"TXXX");
                let frame = id3v2::Frame {
                    id,
                    flags: [flags.first().copied().unwrap_or(0), flags.get(1).copied().unwrap_or(0)],
                    body: body.to_vec(),
                };
                id3v2::text_values(&frame)
                    .map(|mut v| {
                        // A trailing NUL terminator is not a value.
                        while v.last().is_some_and(|s| s.is_empty()) && v.len() > 1 {
                            v.pop();
                        }
                        Some(v)
                    })
                    .ok_or_else(|| {
                        TagError::Unsupported(format!(": the ID3v2 frame {key} is compressed, encrypted or in an unknown encoding"))
                    })
            };
            let style = if v23 { ValueStyle::Joined(ID3_V23_SEPARATOR) } else { ValueStyle::Multi };
            let mood = if v23 { "TXXX:MOOD" } else { "TMOO" };
            let scores = format!("TXXX:{SCORES_KEY}");
            push(TagKind::Id3v2, "TCON", Role::Genre, text("TCON")?, style);
            push(TagKind::Id3v2, mood, Role::Mood, text(mood)?, style);
            push(TagKind::Id3v2, "TIT1", Role::Grouping, text("TIT1")?, style);
            push(TagKind::Id3v2, &scores, Role::Scores, text(&scores)?, ValueStyle::Multi);
            if layout.container == Container::Wav
                && let Some(item) = items(layout, "RIFF-INFO", "IGNR").next()
            {
                let value = String::from_utf8_lossy(&item.bytes).trim_end_matches('\0').to_string();
                push(TagKind::RiffInfo, "IGNR", Role::Genre, Some(vec![value]), ValueStyle::Joined("; "));
            }
            if layout.container == Container::Mpeg && layout.items.iter().any(|i| i.tag == "APE") {
                // The APE tag (foobar2000 reads it first) gets the same values, through lofty.
                let tags = TagFile::read(path)?;
                if let Some(store) = tags.stores.iter().find(|s| s.kind() == TagKind::Ape) {
                    for role in Role::ALL {
                        let key = store.key(role);
                        let raw = store.get(&key);
                        push(TagKind::Ape, &key, role, raw, ValueStyle::Multi);
                    }
                }
            }
        }
    }
    Ok(fields)
}

/// Album and album artist (else artist) from the file's main tag, for album consensus.
fn read_album(path: &Path) -> (Option<String>, Option<String>) {
    use lofty::prelude::{Accessor, ItemKey, TaggedFileExt};
    let options = ParseOptions::new().read_properties(false);
    let Ok(Ok(file)) = std::panic::catch_unwind(|| Probe::open(path).and_then(|p| p.options(options).read())) else {
        return (None, None);
    };
    let Some(tag) = file.primary_tag().or_else(|| file.first_tag()) else { return (None, None) };
    let clean = |s: Option<std::borrow::Cow<'_, str>>| s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let album = clean(tag.album());
    let artist = clean(tag.get_string(ItemKey::AlbumArtist).map(std::borrow::Cow::Borrowed)).or_else(|| clean(tag.artist()));
    (album, artist)
}

/// The tags of one audio file that melotag may change, read with lofty.
pub struct TagFile {
    file_type: FileType,
    stores: Vec<Store>,
    dirty: Vec<bool>,
}

/// The file type lofty detects from the content (then the extension), or why it can't write it.
pub fn detect(path: &Path) -> Result<FileType, TagError> {
    let probe = Probe::open(path).map_err(|e| TagError::Io(e.to_string()))?;
    let probe = probe.guess_file_type().map_err(|e| TagError::Io(crate::engine::library::io_reason(&e)))?;
    match probe.file_type() {
        Some(t) if writable(t) => Ok(t),
        Some(t) => Err(TagError::Unsupported(format!(" ({t:?})"))),
        None => Err(TagError::Unsupported(String::new())),
    }
}

fn writable(t: FileType) -> bool {
    matches!(
        t,
        FileType::Aac
            | FileType::Aiff
            | FileType::Ape
            | FileType::Flac
            | FileType::Mpeg
            | FileType::Mp4
            | FileType::Mpc
            | FileType::Opus
            | FileType::Vorbis
            | FileType::Speex
            | FileType::Wav
            | FileType::WavPack
    )
}

impl fmt::Debug for TagFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<TagKind> = self.stores.iter().map(Store::kind).collect();
        f.debug_struct("TagFile").field("file_type", &self.file_type).field("tags", &kinds).finish()
    }
}

impl TagFile {
    /// Reads the tags of the file at `path`.
    pub fn read(path: &Path) -> Result<TagFile, TagError> {
        let file_type = detect(path)?;
        let mut file = File::open(path).map_err(|e| TagError::Io(crate::engine::library::io_reason(&e)))?;
        Self::read_from(&mut file, file_type)
    }

    /// Reads the tags from an open file of a known type.
    pub fn read_from(file: &mut File, file_type: FileType) -> Result<TagFile, TagError> {
        use lofty::aac::AacFile;
        use lofty::ape::ApeFile;
        use lofty::iff::aiff::AiffFile;
        use lofty::iff::wav::WavFile;
        use lofty::mp4::Mp4File;
        use lofty::mpeg::MpegFile;
        use lofty::musepack::MpcFile;
        use lofty::ogg::{OpusFile, SpeexFile, VorbisFile};
        use lofty::wavpack::WavPackFile;

        file.seek(SeekFrom::Start(0)).map_err(|e| TagError::Io(e.to_string()))?;
        // Tags lofty writes back (Ogg's comments, APE) are read without implicit conversions:
        // lofty would split TRACKNUMBER=3/9 into TRACKNUMBER and TRACKTOTAL, which the write's
        // verification then refuses as a rewritten field. MP4 keeps them: its old `gnre` genre
        // is read as `©gen` (MP4 tags are spliced raw; this reading only sees the file's genre).
        let options = ParseOptions::new().implicit_conversions(false);
        let mp4_options = ParseOptions::new();
        let rd = |e: lofty::error::FileParseError| TagError::Read(e.to_string());
        let id3 = |tag: Option<Id3v2Tag>| {
            let v23 = tag.as_ref().is_some_and(|t| t.original_version() == Id3v2Version::V3);
            Store::Id3v2 { tag: tag.unwrap_or_default(), v23 }
        };
        let stores = match file_type {
            FileType::Mpeg => {
                let mut f = MpegFile::read_from(file, options).map_err(rd)?;
                let mut stores = vec![id3(f.remove_id3v2())];
                if let Some(ape) = f.remove_ape() {
                    stores.push(Store::Ape(ape));
                }
                stores
            }
            FileType::Wav => vec![id3(WavFile::read_from(file, options).map_err(rd)?.remove_id3v2())],
            FileType::Aiff => vec![id3(AiffFile::read_from(file, options).map_err(rd)?.remove_id3v2())],
            FileType::Aac => vec![id3(AacFile::read_from(file, options).map_err(rd)?.remove_id3v2())],
            FileType::Flac => {
                let mut f = FlacFile::read_from(file, options).map_err(rd)?;
                // Not ours to write (and lofty can only strip it): leave it in the file.
                f.remove_id3v2();
                vec![Store::Flac(Box::new(f))]
            }
            FileType::Vorbis => vec![Store::Vorbis(VorbisFile::read_from(file, options).map_err(rd)?.remove_vorbis_comments())],
            FileType::Opus => vec![Store::Vorbis(OpusFile::read_from(file, options).map_err(rd)?.remove_vorbis_comments())],
            FileType::Speex => vec![Store::Vorbis(SpeexFile::read_from(file, options).map_err(rd)?.remove_vorbis_comments())],
            FileType::Mp4 => vec![Store::Mp4(Mp4File::read_from(file, mp4_options).map_err(rd)?.remove_ilst().unwrap_or_default())],
            FileType::Ape => vec![Store::Ape(ApeFile::read_from(file, options).map_err(rd)?.remove_ape().unwrap_or_default())],
            FileType::WavPack => vec![Store::Ape(WavPackFile::read_from(file, options).map_err(rd)?.remove_ape().unwrap_or_default())],
            FileType::Mpc => vec![Store::Ape(MpcFile::read_from(file, options).map_err(rd)?.remove_ape().unwrap_or_default())],
            other => return Err(TagError::Unsupported(format!(" ({other:?})"))),
        };
        let dirty = vec![false; stores.len()];
        Ok(TagFile { file_type, stores, dirty })
    }

    /// The detected file type.
    pub fn file_type(&self) -> FileType {
        self.file_type
    }

    /// The fields that hold `role` in this file (one per tag melotag writes).
    pub fn fields(&self, role: Role) -> Vec<FieldId> {
        self.stores.iter().map(|s| FieldId { tag: s.kind(), key: s.key(role) }).collect()
    }

    fn store(&self, field: &FieldId) -> Option<usize> {
        self.stores.iter().position(|s| s.kind() == field.tag)
    }

    /// A field's stored value (`None`: absent, also when the file has no such tag).
    pub fn get(&self, field: &FieldId) -> Raw {
        self.store(field).and_then(|i| self.stores[i].get(&field.key))
    }

    /// Sets (or, with `None`, removes) a field in memory.
    pub fn set(&mut self, field: &FieldId, value: &Raw) -> Result<(), TagError> {
        let i = self.store(field).ok_or_else(|| TagError::Write(format!("this file has no {} tag", field.tag.as_str())))?;
        self.stores[i].set(&field.key, value)?;
        self.dirty[i] = true;
        Ok(())
    }

    /// The values a person sees in a stored value of `field`.
    pub fn values(&self, field: &FieldId, role: Role, raw: &Raw) -> Vec<String> {
        match self.store(field) {
            Some(i) => self.stores[i].values(role, raw),
            None => raw.clone().unwrap_or_default(),
        }
    }

    /// How `values` would be stored in `field`.
    pub fn encode(&self, field: &FieldId, role: Role, values: &[String]) -> Raw {
        match self.store(field) {
            Some(i) => self.stores[i].encode(role, values),
            None => (!values.is_empty()).then(|| values.to_vec()),
        }
    }

    /// Writes every changed tag into `file` (a copy of the original, opened read-write).
    pub fn save_to(&self, file: &mut File) -> Result<(), TagError> {
        for (store, dirty) in self.stores.iter().zip(&self.dirty) {
            if *dirty {
                store.save(file)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3v23_lists_are_slash_joined_and_split() {
        let store = Store::Id3v2 { tag: Id3v2Tag::new(), v23: true };
        let raw = store.encode(Role::Genre, &["Jazz".into(), "Hip-Hop".into()]);
        assert_eq!(raw, Some(vec!["Jazz/Hip-Hop".to_string()]));
        assert_eq!(store.values(Role::Genre, &raw), ["Jazz", "Hip-Hop"]);
        assert_eq!(store.values(Role::Genre, &Some(vec!["(17)".into()])), ["Rock"]);
        let v24 = Store::Id3v2 { tag: Id3v2Tag::new(), v23: false };
        let raw = v24.encode(Role::Mood, &["Sad".into(), "Mellow".into()]);
        assert_eq!(raw, Some(vec!["Sad".to_string(), "Mellow".to_string()]));
        assert_eq!(v24.values(Role::Mood, &raw), ["Sad", "Mellow"]);
    }

    #[test]
    fn fields_round_trip_in_memory() {
        let mut stores = vec![
            Store::Id3v2 { tag: Id3v2Tag::new(), v23: false },
            Store::Id3v2 { tag: Id3v2Tag::new(), v23: true },
            Store::Vorbis(VorbisComments::default()),
            Store::Mp4(Ilst::default()),
            Store::Ape(ApeTag::default()),
        ];
        // Where README's table says the grouping field goes, per format.
        let grouping: Vec<String> = stores.iter().map(|s| s.key(Role::Grouping).to_string()).collect();
        assert_eq!(grouping, ["TIT1", "TIT1", "GROUPING", "©grp", "Grouping"]);
        for store in &mut stores {
            for role in [Role::Genre, Role::Mood, Role::Grouping, Role::Scores] {
                let key = store.key(role);
                assert_eq!(store.get(&key), None, "{key}");
                let v = Some(vec!["A".to_string(), "B c".to_string()]);
                store.set(&key, &v).unwrap();
                assert_eq!(store.get(&key), v, "{key}");
                store.set(&key, &None).unwrap();
                assert_eq!(store.get(&key), None, "{key}");
            }
        }
    }

    #[test]
    fn setting_a_vorbis_field_keeps_every_other_comment_in_order() {
        let mut comments = VorbisComments::default();
        for (k, v) in [("ARTIST", "First"), ("genre", "Rock"), ("ARTIST", "Second"), ("TITLE", "T"), ("GENRE", "Pop"), ("ALBUM", "A")] {
            comments.push(k.into(), v.into());
        }
        let mut store = Store::Vorbis(comments);
        store.set("GENRE", &Some(vec!["Jazz".into(), "Folk".into()])).unwrap();
        let items = |s: &Store| s.comments().unwrap().items().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        assert_eq!(items(&store), ["ARTIST=First", "GENRE=Jazz", "GENRE=Folk", "ARTIST=Second", "TITLE=T", "ALBUM=A"]);
        store.set("GENRE", &None).unwrap();
        assert_eq!(items(&store), ["ARTIST=First", "ARTIST=Second", "TITLE=T", "ALBUM=A"]);
        store.set("MOOD", &Some(vec!["Calm".into()])).unwrap();
        assert_eq!(items(&store), ["ARTIST=First", "ARTIST=Second", "TITLE=T", "ALBUM=A", "MOOD=Calm"]);
    }
}
