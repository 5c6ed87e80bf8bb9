//! Raw (byte-level) tag reading and splice-writing, independent of the tag library.
//!
//! Readers list every tag item of a file (ID3v2 frames, Vorbis comments, FLAC blocks, MP4
//! atoms, RIFF chunks, APE items, …) with its exact bytes, and digest the audio payload; a write
//! is verified by comparing the original's items with the new file's, item by item
//! ([`verify`]). Writers describe the new file as [`Piece`]s: literal bytes, or ranges copied
//! from the original, so the audio is never loaded into memory.
//!
//! melotag writes ID3v2 (MP3, AAC, WAV, AIFF), RIFF INFO, FLAC comments and MP4 `ilst` atoms
//! itself with these splicers, because the tag library it uses for the other formats (lofty
//! 0.25) drops or re-encodes what it does not model (RVA2, TDRC in v2.3, WXXX, ETCO, everything
//! after a damaged frame id, MP4 `tmpo`). Ogg and APE tags are still written with lofty, and
//! verified here.

pub mod ape;
pub mod flac;
pub mod id3v2;
pub mod mp4;
pub mod mpeg;
pub mod ogg;
pub mod riff;
pub mod util;

#[cfg(test)]
mod testutil;

use std::io::{self, Read, Seek, SeekFrom};

/// Which container a file is, as the raw reader sees it (from its first bytes, not its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// MPEG audio (mp3) or ADTS AAC: leading ID3v2, frames, trailing APEv2 / Lyrics3 / ID3v1.
    Mpeg,
    /// Native FLAC ("fLaC", possibly behind an ID3v2 tag).
    Flac,
    /// Ogg with Vorbis, Opus or Speex ("OggS").
    Ogg,
    /// ISO base media / MP4 / M4A ("ftyp").
    Mp4,
    /// RIFF WAVE.
    Wav,
    /// AIFF / AIFC (FORM).
    Aiff,
    /// Monkey's Audio, WavPack, Musepack: audio then a trailing APEv2 (and maybe ID3v1).
    ApeTagged,
}

/// One tag item found in a file: the unit the verification compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The tag or structure it lives in: "ID3v2", "ID3v1", "APE", "Lyrics3", "Vorbis", "FLAC",
    /// "MP4", "RIFF", "RIFF-INFO", "AIFF", "Ogg".
    pub tag: &'static str,
    /// Its key there. ID3v2: the frame id, plus ":" and the description for TXXX and WXXX
    /// ("TXXX:MOOD"); Vorbis: the field name upper-cased ("GENRE"); APE: the item key as stored;
    /// MP4 ilst: "©gen", or "----:MEAN:NAME" for freeform atoms; MP4 other atoms: their path
    /// ("moov.trak.mdia.hdlr"); FLAC: the block type name ("PICTURE", "SEEKTABLE", ...);
    /// RIFF/AIFF: the chunk id ("LIST", "bext", "COMM", ...); RIFF-INFO: the sub-chunk id ("IGNR").
    pub key: String,
    /// The item's exact bytes as stored (for an ID3v2 frame: its 2 flag bytes and its body,
    /// after tag-level unsynchronisation is undone; for a Vorbis comment: "KEY=value" as
    /// stored; ...).
    pub bytes: Vec<u8>,
}

/// Digest of a file's audio payload, as the container defines it (see each reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioDigest {
    /// SHA-256 of the payload (for Ogg: of every non-header packet and every audio page's granule
    /// position; for MP4: of every mdat payload; otherwise of the byte range).
    pub sha256: [u8; 32],
    /// Payload length in bytes.
    pub len: u64,
}

/// What a raw reading of one file found.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The container.
    pub container: Container,
    /// Every tag item, in file order.
    pub items: Vec<Item>,
    /// The audio payload.
    pub audio: AudioDigest,
}

/// Why a file cannot be read (or written) safely at the byte level.
#[derive(Debug, thiserror::Error)]
pub enum RawError {
    /// A structure is damaged: a writer might drop or rewrite what follows, so melotag refuses.
    #[error("damaged {what} at byte {offset}")]
    Damaged { what: String, offset: u64 },
    /// A valid structure melotag does not handle (e.g. an ID3v2.2 tag, an encrypted tag, RF64).
    #[error("{0}")]
    Unsupported(String),
    /// Not a container melotag knows.
    #[error("not a recognised audio container")]
    Unknown,
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// One change a writer makes: set the values of a field (or remove it with `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldEdit {
    /// The field's key as in [`Item::key`] ("TCON", "TMOO", "TXXX:MOOD", "TXXX:MELOTAG_SCORES",
    /// "GENRE", "MOOD", "IGNR", ...), matched case-insensitively for Vorbis, TXXX descriptions
    /// and APE keys.
    pub key: String,
    /// The new values (each a separate value), or `None` to remove the field.
    pub values: Option<Vec<String>>,
}

/// Reads exactly `buf.len()` bytes at `offset`.
pub fn read_at<R: Read + Seek>(r: &mut R, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    r.seek(SeekFrom::Start(offset))?;
    r.read_exact(buf)
}

/// A piece of a file to write: literal bytes, or a range copied from the original file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    Copy { offset: u64, len: u64 },
}

/// The file `pieces` describe, materialised against the original bytes (for tests).
#[cfg(test)]
pub(crate) fn render_pieces(orig: &[u8], pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        match p {
            Piece::Bytes(b) => out.extend(b),
            Piece::Copy { offset, len } => out.extend(&orig[*offset as usize..(*offset + *len) as usize]),
        }
    }
    out
}

thread_local! {
    /// Whether readers hash the audio payload (off in [`read_tags`]).
    static HASH_AUDIO: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
}

/// Whether the reader running on this thread must hash the audio payload.
pub(crate) fn hashing_audio() -> bool {
    HASH_AUDIO.with(|h| h.get())
}

/// Turns audio hashing off for this thread while alive.
struct TagsOnly;

impl TagsOnly {
    fn new() -> TagsOnly {
        HASH_AUDIO.with(|h| h.set(false));
        TagsOnly
    }
}

impl Drop for TagsOnly {
    fn drop(&mut self) {
        HASH_AUDIO.with(|h| h.set(true));
    }
}

/// [`read_layout`] without the audio digest (it is zero; lengths are kept): reads only the tag
/// regions, for reading a library's fields quickly. Verification needs [`read_layout`].
pub fn read_tags<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let _off = TagsOnly::new();
    read_layout(r)
}

/// Reads the layout of any container melotag writes, recognised from its first bytes.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let mut head = [0u8; 12];
    let len = util::stream_len(r)?;
    if len < 12 {
        return Err(RawError::Unknown);
    }
    read_at(r, 0, &mut head)?;
    let container = if &head[..3] == b"ID3" {
        // An ID3v2 tag in front: FLAC (non-standard, but seen) or MPEG/ADTS audio.
        let size = head[6..10].iter().fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7f));
        let footer = if head[5] & 0x10 != 0 { 10 } else { 0 };
        let mut magic = [0u8; 4];
        let after = 10 + size + footer;
        if after + 4 <= len && read_at(r, after, &mut magic).is_ok() && &magic == b"fLaC" { Container::Flac } else { Container::Mpeg }
    } else if &head[..4] == b"fLaC" {
        Container::Flac
    } else if &head[..4] == b"OggS" {
        Container::Ogg
    } else if &head[4..8] == b"ftyp" {
        Container::Mp4
    } else if matches!(&head[..4], b"RIFF" | b"RF64" | b"BW64") {
        Container::Wav
    } else if &head[..4] == b"FORM" {
        Container::Aiff
    } else if matches!(&head[..4], b"MAC " | b"wvpk" | b"MPCK") || &head[..3] == b"MP+" {
        Container::ApeTagged
    } else if head[0] == 0xff && head[1] & 0xe0 == 0xe0 {
        Container::Mpeg
    } else {
        return Err(RawError::Unknown);
    };
    let mut layout = match container {
        Container::Mpeg | Container::ApeTagged => mpeg::read_layout(r)?,
        Container::Flac => flac::read_layout(r)?,
        Container::Ogg => ogg::read_layout(r)?,
        Container::Mp4 => mp4::read_layout(r)?,
        Container::Wav => riff::read_wav_layout(r)?,
        Container::Aiff => riff::read_aiff_layout(r)?,
    };
    layout.container = container;
    Ok(layout)
}

/// Whether an item is one of the fields a write means to change (`changed`: (tag, key) pairs;
/// keys compared case-insensitively, as TXXX descriptions, Vorbis and APE keys are).
fn is_changed(item: &Item, changed: &[(&str, &str)]) -> bool {
    changed.iter().any(|(tag, key)| item.tag == *tag && item.key.eq_ignore_ascii_case(key))
}

/// Items a writer may add to a file that had none of its kind (an MP4 metadata handler, the
/// vendor string of a new comment block).
fn may_appear(item: &Item) -> bool {
    (item.tag == "MP4" && (item.key.ends_with("meta.hdlr") || item.key.ends_with("meta.(header)")))
        || (item.tag == "Vorbis" && item.key == "(vendor)")
        || (item.tag == "ID3v2" && item.key == "(version)")
}

/// Checks that `new` is `old` with only the `changed` fields different: same container, the
/// same audio payload, and every other item present in both, byte for byte (in any order: MP4
/// writers reorder atoms). Returns a one-line reason otherwise.
pub fn verify(old: &Layout, new: &Layout, changed: &[(&str, &str)]) -> Result<(), String> {
    if old.container != new.container {
        return Err(format!("the file would change from {:?} to {:?}", old.container, new.container));
    }
    if old.audio != new.audio {
        return Err("the audio data would change".into());
    }
    fn kept<'a>(l: &'a Layout, changed: &[(&str, &str)]) -> Vec<&'a Item> {
        let mut v: Vec<&Item> = l.items.iter().filter(|i| !is_changed(i, changed)).collect();
        v.sort_by(|a, b| (a.tag, &a.key, &a.bytes).cmp(&(b.tag, &b.key, &b.bytes)));
        v
    }
    let (before, after) = (kept(old, changed), kept(new, changed));
    let lost: Vec<&Item> = before.iter().filter(|i| !after.contains(i)).copied().collect();
    if let Some(item) = lost.first() {
        let rewritten = after.iter().any(|a| a.tag == item.tag && a.key == item.key);
        let what = if rewritten { "rewritten" } else { "lost" };
        return Err(format!("{} {} would be {what}", item.tag, item.key));
    }
    let old_kinds: Vec<(&str, &str)> = before.iter().map(|i| (i.tag, i.key.as_str())).collect();
    let added: Vec<&Item> = after.iter().filter(|i| !before.contains(i)).copied().collect();
    if let Some(item) = added.iter().find(|i| !may_appear(i) || old_kinds.contains(&(i.tag, i.key.as_str()))) {
        return Err(format!("{} {} would appear", item.tag, item.key));
    }
    // Repeated items of one key (a second ARTIST, two pictures) keep their order.
    type Sequences<'a> = std::collections::BTreeMap<(&'static str, &'a str), Vec<&'a [u8]>>;
    fn sequences<'a>(l: &'a Layout, changed: &[(&str, &str)]) -> Sequences<'a> {
        let mut map = Sequences::new();
        for i in l.items.iter().filter(|i| !is_changed(i, changed)) {
            map.entry((i.tag, i.key.as_str())).or_default().push(i.bytes.as_slice());
        }
        map
    }
    let (old_seq, new_seq) = (sequences(old, changed), sequences(new, changed));
    if let Some(((tag, key), _)) = old_seq.iter().find(|(k, v)| new_seq.get(k) != Some(v)) {
        return Err(format!("the values of {tag} {key} would be reordered"));
    }
    Ok(())
}
