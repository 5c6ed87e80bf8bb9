//! Native FLAC: raw reading of the metadata blocks, and a splice writer for the Vorbis comments.
//!
//! Layout: an optional ID3v2 tag (not part of FLAC, but common; skipped by its header size),
//! `fLaC`, then metadata blocks, each a 4-byte header (bit 7: last block; bits 0–6: type;
//! 24-bit big-endian body length) and its body, then the audio frames to the end of the file.
//! STREAMINFO must come first, at most one VORBIS_COMMENT may exist, and the block flagged
//! "last" must be followed by a frame sync code (`0xFFF8`/`0xFFF9`): otherwise a writer that
//! walks the blocks would misplace or drop what follows, so the file is [`RawError::Damaged`].
//!
//! The Vorbis comment body is little-endian: vendor length + vendor, comment count, then each
//! comment as length + `KEY=value` bytes. Anything after the last comment (a stray framing bit
//! written by some old tools) is kept as a "(comment trailer)" item, and kept by [`splice`].
//!
//! PADDING blocks are not items: [`splice`] resizes the last one so that the frames stay where
//! they are whenever it can (see [`splice`] for the rule when it cannot).
//!
//! The Vorbis comment helpers here are shared with `ogg.rs`, and the chunked audio hash with
//! `mp4.rs`.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::*;

/// Metadata block types this module treats specially.
const STREAMINFO: u8 = 0;
const PADDING: u8 = 1;
const VORBIS_COMMENT: u8 = 4;
/// Largest body a 24-bit block length can describe.
const MAX_BODY: usize = 0xFF_FFFF;
/// Padding given to a file whose frames have to move anyway, so the next write need not.
const NEW_PADDING: u32 = 1024;

/// One metadata block, located in the file.
#[derive(Debug, Clone, Copy)]
struct Block {
    kind: u8,
    /// Offset of the block body (its 4-byte header is just before).
    at: u64,
    len: u32,
}

/// The located structure of a FLAC file.
struct Flac {
    /// Length of the leading ID3v2 tag (0 if none); `fLaC` starts here.
    id3_len: u64,
    blocks: Vec<Block>,
    /// Offset of the first audio frame.
    audio_at: u64,
    file_len: u64,
}

fn damaged(what: impl Into<String>, offset: u64) -> RawError {
    RawError::Damaged { what: what.into(), offset }
}

/// Name of a metadata block type, as used in [`Item::key`].
fn type_name(kind: u8) -> String {
    match kind {
        0 => "STREAMINFO".into(),
        1 => "PADDING".into(),
        2 => "APPLICATION".into(),
        3 => "SEEKTABLE".into(),
        4 => "VORBIS_COMMENT".into(),
        5 => "CUESHEET".into(),
        6 => "PICTURE".into(),
        n => format!("TYPE{n}"),
    }
}

/// Length of an ID3v2 tag at the start of the file (0 if there is none).
pub(crate) fn id3v2_len<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<u64, RawError> {
    let mut h = [0u8; 10];
    if file_len < 10 {
        return Ok(0);
    }
    read_at(r, 0, &mut h)?;
    if &h[..3] != b"ID3" {
        return Ok(0);
    }
    if h[3] == 0xFF || h[4] == 0xFF || h[6..].iter().any(|b| b & 0x80 != 0) {
        return Err(damaged("ID3v2 header", 0));
    }
    let size = h[6..].iter().fold(0u64, |a, &b| (a << 7) | u64::from(b));
    // Version 2.4 may carry a 10-byte footer after the frames.
    let footer = if h[3] == 4 && h[5] & 0x10 != 0 { 10 } else { 0 };
    let len = 10 + size + footer;
    if len > file_len {
        return Err(damaged("ID3v2 tag running past the end of the file", 0));
    }
    Ok(len)
}

fn parse<R: Read + Seek>(r: &mut R) -> Result<Flac, RawError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let id3_len = id3v2_len(r, file_len)?;
    let mut magic = [0u8; 4];
    if file_len < id3_len + 4 {
        return Err(RawError::Unknown);
    }
    read_at(r, id3_len, &mut magic)?;
    if &magic != b"fLaC" {
        return Err(RawError::Unknown);
    }
    let mut pos = id3_len + 4;
    let mut blocks = Vec::new();
    loop {
        let mut h = [0u8; 4];
        if pos + 4 > file_len {
            return Err(damaged("metadata ending without a last-block flag", pos));
        }
        read_at(r, pos, &mut h)?;
        let (last, kind) = (h[0] & 0x80 != 0, h[0] & 0x7F);
        let len = u32::from_be_bytes([0, h[1], h[2], h[3]]);
        // Type 127 is forbidden: it is what a frame sync (0xFF...) looks like as a block header.
        if kind == 127 {
            return Err(damaged("metadata block of type 127 (frames where a block was expected)", pos));
        }
        if (blocks.is_empty()) != (kind == STREAMINFO) {
            return Err(damaged("STREAMINFO not first, or repeated", pos));
        }
        if kind == VORBIS_COMMENT && blocks.iter().any(|b: &Block| b.kind == VORBIS_COMMENT) {
            return Err(damaged("second VORBIS_COMMENT block", pos));
        }
        let at = pos + 4;
        if at + u64::from(len) > file_len {
            return Err(damaged(format!("{} block running past the end of the file", type_name(kind)), pos));
        }
        blocks.push(Block { kind, at, len });
        pos = at + u64::from(len);
        if last {
            break;
        }
    }
    if pos < file_len {
        let mut sync = [0u8; 2];
        if pos + 2 > file_len {
            return Err(damaged("stray byte after the metadata", pos));
        }
        read_at(r, pos, &mut sync)?;
        if sync[0] != 0xFF || sync[1] & 0xFE != 0xF8 {
            return Err(damaged("no frame sync after the last metadata block", pos));
        }
    }
    Ok(Flac { id3_len, blocks, audio_at: pos, file_len })
}

fn read_vec<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> Result<Vec<u8>, RawError> {
    // Callers have checked `at + len` against the file length, so this allocation is bounded.
    let len = usize::try_from(len).map_err(|_| RawError::Unsupported("block too large for memory".into()))?;
    let mut buf = vec![0u8; len];
    read_at(r, at, &mut buf)?;
    Ok(buf)
}

/// SHA-256 of `len` bytes at `at`, read in 1 MiB chunks.
pub(crate) fn hash_range<R: Read + Seek>(r: &mut R, at: u64, len: u64) -> Result<AudioDigest, RawError> {
    let mut h = Sha256::new();
    hash_range_into(r, &mut h, at, len)?;
    Ok(AudioDigest { sha256: h.finalize().into(), len })
}

/// Feeds `len` bytes at `at` into `h`, in 1 MiB chunks.
pub(crate) fn hash_range_into<R: Read + Seek>(r: &mut R, h: &mut Sha256, at: u64, len: u64) -> Result<(), RawError> {
    if !super::hashing_audio() {
        return Ok(());
    }
    let mut buf = vec![0u8; 1 << 20];
    r.seek(SeekFrom::Start(at))?;
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len() as u64) as usize;
        r.read_exact(&mut buf[..n])?;
        h.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(())
}

/// A parsed Vorbis comment structure (FLAC block body, or an Ogg comment packet after its magic).
pub(crate) struct Comments<'a> {
    pub vendor: &'a [u8],
    /// Each comment as stored (`KEY=value`).
    pub comments: Vec<&'a [u8]>,
    /// Offset (in the parsed slice) just past the last comment.
    pub end: usize,
}

/// Parses a Vorbis comment structure; `base` is the slice's file offset, for errors.
pub(crate) fn parse_comments(data: &[u8], base: u64) -> Result<Comments<'_>, RawError> {
    let mut pos = 0usize;
    let vendor = take_field(data, &mut pos, base, "vendor")?;
    let count = take(data, &mut pos, 4).ok_or_else(|| damaged("Vorbis comment count missing", base + pos as u64))?;
    let count = u32::from_le_bytes([count[0], count[1], count[2], count[3]]);
    // No preallocation from `count`: a damaged count fails on the data, not on memory.
    let mut comments = Vec::new();
    for _ in 0..count {
        comments.push(take_field(data, &mut pos, base, "field")?);
    }
    Ok(Comments { vendor, comments, end: pos })
}

/// The next `n` bytes of `data` at `*pos`, advancing `*pos`.
fn take<'a>(data: &'a [u8], pos: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = data.get(*pos..)?.get(..n)?;
    *pos += n;
    Some(s)
}

/// A 32-bit little-endian length and that many bytes.
fn take_field<'a>(data: &'a [u8], pos: &mut usize, base: u64, what: &str) -> Result<&'a [u8], RawError> {
    let at = *pos;
    let bad = || damaged(format!("Vorbis comment {what} running past its block"), base + at as u64);
    let len = take(data, pos, 4).ok_or_else(bad)?;
    let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
    take(data, pos, len).ok_or_else(bad)
}

/// The field name of a stored comment, upper-cased (the whole comment if it has no `=`).
pub(crate) fn comment_key(c: &[u8]) -> String {
    let name = c.split(|&b| b == b'=').next().unwrap_or(c);
    String::from_utf8_lossy(name).to_ascii_uppercase()
}

/// The items of a comment structure: "(vendor)", then one per comment.
pub(crate) fn comment_items(c: &Comments) -> Vec<Item> {
    let mut items = vec![Item { tag: "Vorbis", key: "(vendor)".into(), bytes: c.vendor.to_vec() }];
    items.extend(c.comments.iter().map(|&b| Item { tag: "Vorbis", key: comment_key(b), bytes: b.to_vec() }));
    items
}

/// Reads a FLAC file's items (ID3v2 tag, blocks, Vorbis comments) and hashes its frames.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let f = parse(r)?;
    let mut items = Vec::new();
    if f.id3_len > 0 {
        items.push(Item { tag: "ID3v2", key: "(tag before fLaC)".into(), bytes: read_vec(r, 0, f.id3_len)? });
    }
    for b in &f.blocks {
        match b.kind {
            PADDING => {}
            VORBIS_COMMENT => {
                let body = read_vec(r, b.at, b.len.into())?;
                let c = parse_comments(&body, b.at)?;
                items.extend(comment_items(&c));
                if c.end < body.len() {
                    items.push(Item { tag: "Vorbis", key: "(comment trailer)".into(), bytes: body[c.end..].to_vec() });
                }
            }
            k => items.push(Item { tag: "FLAC", key: type_name(k), bytes: read_vec(r, b.at, b.len.into())? }),
        }
    }
    let audio = hash_range(r, f.audio_at, f.file_len - f.audio_at)?;
    Ok(Layout { container: Container::Flac, items, audio })
}

/// Whether `key` is a valid Vorbis field name (printable ASCII 0x20–0x7D, no `=`).
pub(crate) fn valid_field_name(key: &str) -> bool {
    !key.is_empty() && key.bytes().all(|b| (0x20..=0x7D).contains(&b) && b != b'=')
}

/// Applies `edits` to a comment list (each `KEY=value` as stored); see [`splice`] for the rules.
pub(crate) fn edit_comments(comments: &mut Vec<Vec<u8>>, edits: &[FieldEdit]) -> Result<(), RawError> {
    for e in edits {
        if !valid_field_name(&e.key) {
            return Err(RawError::Unsupported(format!("invalid Vorbis field name {:?}", e.key)));
        }
        let wanted = e.key.to_ascii_uppercase();
        let new: Vec<Vec<u8>> = e.values.iter().flatten().map(|v| format!("{}={v}", e.key).into_bytes()).collect();
        let first = comments.iter().position(|c| comment_key(c) == wanted && c.contains(&b'='));
        comments.retain(|c| !(comment_key(c) == wanted && c.contains(&b'=')));
        let at = first.unwrap_or(comments.len());
        comments.splice(at..at, new);
    }
    Ok(())
}

/// Serialises a Vorbis comment structure (no framing bit).
pub(crate) fn write_comments(vendor: &[u8], comments: &[Vec<u8>]) -> Result<Vec<u8>, RawError> {
    let too_big = || RawError::Unsupported("Vorbis comment too large".into());
    let mut out = Vec::with_capacity(8 + vendor.len() + comments.iter().map(|c| c.len() + 4).sum::<usize>());
    out.extend(u32::try_from(vendor.len()).map_err(|_| too_big())?.to_le_bytes());
    out.extend(vendor);
    out.extend(u32::try_from(comments.len()).map_err(|_| too_big())?.to_le_bytes());
    for c in comments {
        out.extend(u32::try_from(c.len()).map_err(|_| too_big())?.to_le_bytes());
        out.extend(c);
    }
    Ok(out)
}

/// Pushes a piece, merging it with the previous one when both are bytes or contiguous copies.
fn push(pieces: &mut Vec<Piece>, p: Piece) {
    match (pieces.last_mut(), p) {
        (_, Piece::Bytes(b)) if b.is_empty() => {}
        (_, Piece::Copy { len: 0, .. }) => {}
        (Some(Piece::Bytes(a)), Piece::Bytes(b)) => a.extend(b),
        (Some(Piece::Copy { offset, len }), Piece::Copy { offset: o, len: l }) if *offset + *len == o => *len += l,
        (_, p) => pieces.push(p),
    }
}

/// Rewrites only the VORBIS_COMMENT block of a FLAC file; returns the new file as pieces.
///
/// Comments whose field name matches an edit (case-insensitively) are replaced: `Some(values)`
/// puts `KEY=value` comments (the edit's key as given, one per value) at the first match's
/// position and drops the other matches, or appends them when nothing matches; `None` drops
/// every match. The vendor string and any comment trailer are kept. Without a comment block,
/// one (vendor "melotag") is created right after STREAMINFO, only if an edit adds a comment.
///
/// Padding: the last PADDING block absorbs the size change when it can, so the frames do not
/// move; without one, a shrink of 4 bytes or more leaves a new PADDING block in its place.
/// When the frames have to move anyway, the PADDING block (created if missing, last) gets
/// max(its old size, 1024) bytes, so the next write can stay in place. Last-block flags are
/// rewritten. Unchanged blocks, the leading ID3v2 tag and the frames are [`Piece::Copy`]s.
pub fn splice<R: Read + Seek>(r: &mut R, edits: &[FieldEdit]) -> Result<Vec<Piece>, RawError> {
    /// A block of the new file: an original one, or new bytes.
    enum Out {
        Keep(Block),
        New(u8, Vec<u8>),
    }
    let f = parse(r)?;
    let vc = f.blocks.iter().position(|b| b.kind == VORBIS_COMMENT);
    let (vendor, mut comments, trailer, old_total) = match vc {
        Some(i) => {
            let b = f.blocks[i];
            let body = read_vec(r, b.at, b.len.into())?;
            let c = parse_comments(&body, b.at)?;
            let comments = c.comments.iter().map(|c| c.to_vec()).collect();
            (c.vendor.to_vec(), comments, body[c.end..].to_vec(), 4 + i64::from(b.len))
        }
        None => (b"melotag".to_vec(), Vec::new(), Vec::new(), 0),
    };
    edit_comments(&mut comments, edits)?;
    let mut out: Vec<Out> = f.blocks.iter().map(|&b| Out::Keep(b)).collect();
    let mut delta = 0i64;
    if vc.is_some() || !comments.is_empty() {
        let mut body = write_comments(&vendor, &comments)?;
        body.extend(&trailer);
        if body.len() > MAX_BODY {
            return Err(RawError::Unsupported("Vorbis comment block over 16 MiB".into()));
        }
        delta = 4 + body.len() as i64 - old_total;
        match vc {
            Some(i) => out[i] = Out::New(VORBIS_COMMENT, body),
            None => out.insert(1, Out::New(VORBIS_COMMENT, body)),
        }
    }
    if delta != 0 {
        let pad = out.iter().rposition(|o| matches!(o, Out::Keep(b) if b.kind == PADDING));
        let pad_len = pad.map_or(0, |i| match &out[i] {
            Out::Keep(b) => i64::from(b.len),
            Out::New(..) => 0,
        });
        let new_len = match pad {
            Some(_) if pad_len - delta >= 0 => pad_len - delta,
            None if delta <= -4 => -delta - 4,
            _ => pad_len.max(NEW_PADDING.into()),
        };
        let body = vec![0u8; new_len as usize];
        match pad {
            Some(i) => out[i] = Out::New(PADDING, body),
            None => out.push(Out::New(PADDING, body)),
        }
    }
    let mut pieces = Vec::new();
    push(&mut pieces, Piece::Copy { offset: 0, len: f.id3_len });
    push(&mut pieces, Piece::Bytes(b"fLaC".to_vec()));
    let n = out.len();
    for (i, o) in out.into_iter().enumerate() {
        let (kind, len) = match &o {
            Out::Keep(b) => (b.kind, b.len),
            Out::New(k, body) => (*k, body.len() as u32),
        };
        let flag = if i + 1 == n { 0x80 } else { 0 };
        let l = len.to_be_bytes();
        push(&mut pieces, Piece::Bytes(vec![flag | kind, l[1], l[2], l[3]]));
        match o {
            Out::Keep(b) => push(&mut pieces, Piece::Copy { offset: b.at, len: b.len.into() }),
            Out::New(_, body) => push(&mut pieces, Piece::Bytes(body)),
        }
    }
    push(&mut pieces, Piece::Copy { offset: f.audio_at, len: f.file_len - f.audio_at });
    Ok(pieces)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// A block header + body.
    pub fn block(last: bool, kind: u8, body: &[u8]) -> Vec<u8> {
        let l = (body.len() as u32).to_be_bytes();
        let mut v = vec![if last { 0x80 } else { 0 } | kind, l[1], l[2], l[3]];
        v.extend(body);
        v
    }

    /// A small synthetic FLAC: STREAMINFO, APPLICATION, comments, PICTURE, PADDING, frames.
    pub fn sample(padding: usize) -> Vec<u8> {
        let vc = write_comments(b"ref", &[b"TITLE=t".to_vec(), b"genre=Rock".to_vec(), b"GENRE=Pop".to_vec()]);
        let mut f = b"fLaC".to_vec();
        f.extend(block(false, 0, &[7; 34]));
        f.extend(block(false, 2, b"abcdxyz"));
        f.extend(block(false, 4, &vc.unwrap()));
        f.extend(block(false, 6, &[9; 5000]));
        f.extend(block(true, 1, &vec![0; padding]));
        f.extend([0xFF, 0xF8, 1, 2, 3, 4, 5]);
        f
    }

    use crate::engine::tags::raw::render_pieces as render;

    fn keys(l: &Layout) -> Vec<String> {
        l.items.iter().map(|i| format!("{}:{}", i.tag, i.key)).collect()
    }

    fn edit(key: &str, values: Option<&[&str]>) -> FieldEdit {
        FieldEdit { key: key.into(), values: values.map(|v| v.iter().map(|s| s.to_string()).collect()) }
    }

    #[test]
    fn reads_blocks_and_comments() {
        let f = sample(100);
        let l = read_layout(&mut Cursor::new(&f)).unwrap();
        assert_eq!(
            keys(&l),
            ["FLAC:STREAMINFO", "FLAC:APPLICATION", "Vorbis:(vendor)", "Vorbis:TITLE", "Vorbis:GENRE", "Vorbis:GENRE", "FLAC:PICTURE"]
        );
        assert_eq!(l.items[4].bytes, b"genre=Rock");
        assert_eq!(l.audio.len, 7);
        assert_eq!(l.audio.sha256, <[u8; 32]>::from(Sha256::digest([0xFF, 0xF8, 1, 2, 3, 4, 5])));
    }

    #[test]
    fn id3_prefix_is_an_item() {
        let mut f = b"ID3\x04\x00\x00\x00\x00\x00\x05hello".to_vec();
        f.extend(sample(10));
        let l = read_layout(&mut Cursor::new(&f)).unwrap();
        assert_eq!(l.items[0].key, "(tag before fLaC)");
        assert_eq!(l.items[0].bytes, &f[..15]);
    }

    #[test]
    fn damaged_files() {
        let good = sample(10);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated block", good[..100].to_vec()),
            ("no last flag", {
                let mut f = good.clone();
                let p = f.len() - 7 - 14;
                f[p] &= 0x7F;
                f
            }),
            ("comment count too big", {
                let mut f = good.clone();
                let p = 4 + 38 + 11 + 4 + 4 + 3;
                f[p] = 9;
                f
            }),
            ("no frame sync", {
                let mut f = good.clone();
                let n = f.len();
                f[n - 7] = 0;
                f
            }),
        ];
        for (what, f) in cases {
            let e = read_layout(&mut Cursor::new(&f));
            assert!(matches!(e, Err(RawError::Damaged { .. })), "{what}: {e:?}");
        }
        assert!(matches!(read_layout(&mut Cursor::new(b"OggS....")), Err(RawError::Unknown)));
    }

    #[test]
    fn splice_replaces_in_place_and_keeps_frames() {
        let f = sample(100);
        let pieces = splice(&mut Cursor::new(&f), &[edit("Genre", Some(&["Jazz", "Blues"]))]).unwrap();
        let g = render(&f, &pieces);
        assert_eq!(g.len(), f.len(), "padding absorbed the growth");
        let l = read_layout(&mut Cursor::new(&g)).unwrap();
        let c: Vec<&[u8]> = l.items.iter().filter(|i| i.tag == "Vorbis").map(|i| &i.bytes[..]).collect();
        assert_eq!(c, [&b"ref"[..], b"TITLE=t", b"Genre=Jazz", b"Genre=Blues"]);
        assert_eq!(l.audio, read_layout(&mut Cursor::new(&f)).unwrap().audio);
        // The picture body is copied, not inlined.
        assert!(pieces.iter().all(|p| !matches!(p, Piece::Bytes(b) if b.len() > 1000)));
    }

    #[test]
    fn splice_appends_removes_and_pads() {
        let f = sample(0);
        let g = render(&f, &splice(&mut Cursor::new(&f), &[edit("MOOD", Some(&["calm"]))]).unwrap());
        let l = read_layout(&mut Cursor::new(&g)).unwrap();
        assert_eq!(l.items[6].bytes, b"MOOD=calm");
        assert_eq!(g.len(), f.len() + 13 + NEW_PADDING as usize, "frames moved: padding of 1024");
        let h = render(&g, &splice(&mut Cursor::new(&g), &[edit("mood", None), edit("genre", None)]).unwrap());
        assert_eq!(h.len(), g.len(), "shrink absorbed by the padding");
        assert_eq!(keys(&read_layout(&mut Cursor::new(&h)).unwrap()).len(), 5);
    }

    #[test]
    fn splice_creates_comment_block() {
        let mut f = b"fLaC".to_vec();
        f.extend(block(false, 0, &[7; 34]));
        f.extend(block(true, 6, &[1; 10]));
        f.extend([0xFF, 0xF9, 0]);
        let g = render(&f, &splice(&mut Cursor::new(&f), &[edit("GENRE", Some(&["x"]))]).unwrap());
        let l = read_layout(&mut Cursor::new(&g)).unwrap();
        assert_eq!(keys(&l), ["FLAC:STREAMINFO", "Vorbis:(vendor)", "Vorbis:GENRE", "FLAC:PICTURE"]);
        assert_eq!(l.items[1].bytes, b"melotag");
        // Removing a field that is not there changes nothing.
        let same = render(&f, &splice(&mut Cursor::new(&f), &[edit("GENRE", None)]).unwrap());
        assert_eq!(same, f);
        assert!(splice(&mut Cursor::new(&f), &[edit("A=B", None)]).is_err());
    }
}
