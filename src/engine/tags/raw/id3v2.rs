//! ID3v2.3 / ID3v2.4 tags, read and written frame by frame so that every frame melotag does not
//! edit keeps its exact bytes.
//!
//! Format rules this module relies on (id3.org "ID3 tag version 2.3.0" and "2.4.0-structure"):
//! - Header: "ID3", major, revision, flags, a 28-bit syncsafe size of everything after the
//!   header (extended header, frames, padding; not the v2.4 footer).
//! - v2.3 tag-level unsynchronisation (flag 0x80) applies to the whole tag after the header and
//!   the frame sizes count the *decoded* bytes, so the tag is decoded before frames are walked.
//!   In v2.4 the same flag only says every frame was unsynchronised on its own; frame sizes count
//!   the stored bytes. We decode each frame and clear its own unsync flag, so a frame's bytes
//!   are the same whether or not the tag carried the flag, and [`render`] never writes tag-level
//!   unsynchronisation (it only exists for 1990s players that choked on false MPEG syncs).
//! - Extended headers are kept raw (v2.4 "tag is an update", restrictions and unknown flags with
//!   their data, as stored), except two fields [`render`] recomputes: the v2.3 padding size, and
//!   the CRC-32 (ISO 3309, as zlib's) when there is one. v2.3 (flag 0x8000): 4 plain bytes at
//!   10..14, over "the data between the extended header and the padding, i.e. the frames and
//!   only the frames", before unsynchronisation. v2.4 (flag 0x20; each set flag's data, in bit
//!   order, is a length byte then the data): length 5, a 35-bit syncsafe integer, over "all the
//!   data between the header and footer [...] minus the extended header [...] this includes the
//!   padding". libid3tag (Audacity's ID3 library) computes and checks exactly these, and drops a
//!   tag whose CRC does not match. [`parse`] refuses one too (damage), but also accepts the
//!   other readings of the spec a writer may have had: the other version's coverage (padding in
//!   or out; v2.3: up to its declared padding size), and in an unsynchronised v2.4 tag the
//!   stored or the decoded bytes.
//! - Frame header: 4-char id [A-Z0-9], size (v2.4: syncsafe; v2.3: plain 32-bit), 2 flag bytes.
//!   Frame-level compression, encryption, grouping, unsynchronisation (v2.4) and data-length
//!   indicators stay inside [`Frame::body`] untouched: we never need to look inside those frames.
//! - iTunes wrote v2.4 tags with plain 32-bit frame sizes. As mutagen does, when syncsafe sizes
//!   do not walk the frames cleanly but plain sizes do, the plain sizes are used; [`render`]
//!   writes proper syncsafe sizes.
//! - Padding is zero bytes after the last frame. Anything else where a frame header should be
//!   (e.g. a COMM frame whose id bytes became "\0\0MM") is damage: lofty would silently drop
//!   every later frame, so we refuse the tag instead.
//! - v2.4 footer ("3DI" + copy of the header): no padding is allowed with it.

use super::util::damaged;
use super::*;

/// Largest value a 28-bit syncsafe integer holds (the tag size and v2.4 frame sizes).
pub const MAX_SYNCSAFE: usize = 0x0FFF_FFFF;

/// Padding written when the frames do not fit in the old tag (room for later edits in place).
pub const DEFAULT_PADDING: usize = 1024;

/// A parsed ID3v2.3/2.4 tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    /// 3 or 4.
    pub major: u8,
    /// Revision byte, kept as it was.
    pub revision: u8,
    /// Header flags as stored (tag-level unsync 0x80, extended header 0x40, ...).
    pub flags: u8,
    /// The extended header, raw (size field included), after undoing v2.3 unsynchronisation.
    pub ext_header: Option<Vec<u8>>,
    /// The frames, in file order.
    pub frames: Vec<Frame>,
    /// Zero bytes after the last frame (after undoing v2.3 unsynchronisation).
    pub padding_len: usize,
    /// A v2.4 footer follows the tag.
    pub has_footer: bool,
    /// Header + body (+ footer) as in the file.
    pub total_len: usize,
}

/// One frame: its id, flags and body exactly as stored (after undoing tag-level unsync).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame id ("TCON").
    pub id: [u8; 4],
    /// Status and format flag bytes.
    pub flags: [u8; 2],
    /// Frame content without the header.
    pub body: Vec<u8>,
}

/// Decodes a syncsafe integer (`None` when a byte has its top bit set).
fn syncsafe(b: &[u8]) -> Option<usize> {
    b.iter().try_fold(0usize, |acc, &x| (x < 0x80).then_some((acc << 7) | x as usize))
}

fn be32(b: &[u8]) -> usize {
    b.iter().fold(0usize, |acc, &x| (acc << 8) | x as usize)
}

fn syncsafe_bytes(n: usize) -> [u8; 4] {
    let n = n.min(MAX_SYNCSAFE);
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

/// CRC-32 of ISO 3309 / ITU-T V.42 (reflected polynomial 0xEDB88320, as zlib and PNG): the
/// CRC of ID3v2 extended headers.
pub fn crc32(data: &[u8]) -> u32 {
    const TABLE: [u32; 256] = {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    };
    !data.iter().fold(!0u32, |c, &b| TABLE[((c ^ u32::from(b)) & 0xFF) as usize] ^ (c >> 8))
}

/// Where the CRC sits in an extended header (`ext`, size field included): `Ok(None)` without
/// one, `Err(what)` when the header says it has one but its data is malformed.
/// v2.3: bytes 10..14 (flag 0x8000; the header is then 10 bytes plus its size field).
/// v2.4: after the flags byte, the data of each set flag in bit order, each a length byte then
/// that many bytes; flag 0x20's data is 5 bytes, a syncsafe 35-bit value.
fn crc_field(major: u8, ext: &[u8]) -> Result<Option<usize>, &'static str> {
    if major == 3 {
        if ext.get(4).is_none_or(|f| f & 0x80 == 0) {
            return Ok(None);
        }
        return if ext.len() == 14 { Ok(Some(10)) } else { Err("ID3v2.3 extended header (CRC flag without a CRC)") };
    }
    let flags = ext.get(5).copied().unwrap_or(0);
    if flags & 0x20 == 0 {
        return Ok(None);
    }
    let mut pos = 6;
    for bit in [0x80u8, 0x40] {
        if flags & bit != 0 {
            let Some(&n) = ext.get(pos) else { return Err("ID3v2.4 extended header (flag data past its end)") };
            pos += 1 + usize::from(n);
        }
    }
    if ext.get(pos) != Some(&5) {
        return Err("ID3v2.4 extended header CRC (its length is not 5)");
    }
    match ext.get(pos + 1..pos + 6) {
        Some(c) if c[0] < 0x10 && c.iter().all(|&b| b < 0x80) => Ok(Some(pos + 1)),
        Some(_) => Err("ID3v2.4 extended header CRC (not a 35-bit syncsafe integer)"),
        None => Err("ID3v2.4 extended header CRC (past its end)"),
    }
}

/// The CRC stored at `field` (4 plain bytes in v2.3, 5 syncsafe ones in v2.4).
fn read_crc(major: u8, field: &[u8]) -> u32 {
    if major == 3 {
        field.iter().take(4).fold(0, |acc, &b| (acc << 8) | u32::from(b))
    } else {
        field.iter().take(5).fold(0, |acc, &b| (acc << 7) | u32::from(b & 0x7F))
    }
}

/// `crc` as stored: 4 plain bytes in v2.3, 5 syncsafe ones in v2.4.
fn crc_bytes(major: u8, crc: u32) -> Vec<u8> {
    if major == 3 { crc.to_be_bytes().to_vec() } else { [28, 21, 14, 7, 0].iter().map(|s| (crc >> s) as u8 & 0x7F).collect() }
}

/// The CRC in the tag's extended header, if it has one: the value read from the file ([`parse`]
/// checked it; [`render`] writes a new one).
pub fn stored_crc(tag: &Tag) -> Option<u32> {
    let ext = tag.ext_header.as_deref()?;
    let at = crc_field(tag.major, ext).ok()??;
    Some(read_crc(tag.major, &ext[at..]))
}

/// Undoes unsynchronisation: every 0xFF 0x00 becomes 0xFF.
pub fn unsync_decode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut prev_ff = false;
    for &b in data {
        if !(prev_ff && b == 0) {
            out.push(b);
        }
        prev_ff = b == 0xFF;
    }
    out
}

fn valid_id(id: &[u8]) -> bool {
    id.len() == 4 && id.iter().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Printable form of 4 id bytes for error messages ("\0\0MM" -> "\x00\x00MM").
fn show_id(id: &[u8]) -> String {
    id.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect()
}

/// Walks frames from `start` in `body`; returns the frames and where the padding starts.
/// `base` is the file offset of `body[0]` (for error offsets).
fn walk(body: &[u8], start: usize, syncsafe_sizes: bool, base: u64) -> Result<(Vec<Frame>, usize), RawError> {
    let mut frames = Vec::new();
    let mut pos = start;
    loop {
        let rest = body.get(pos..).unwrap_or_default();
        if rest.iter().all(|&b| b == 0) {
            return Ok((frames, pos));
        }
        let at = base + pos as u64;
        let Some(head) = rest.get(..10) else {
            return Err(damaged(format!("ID3v2 frame header (truncated, {} bytes left)", rest.len()), at));
        };
        if !valid_id(&head[..4]) {
            return Err(damaged(format!("ID3v2 frame id \"{}\"", show_id(&head[..4])), at));
        }
        let size = if syncsafe_sizes {
            syncsafe(&head[4..8]).ok_or_else(|| damaged("ID3v2 frame size (not syncsafe)", at + 4))?
        } else {
            be32(&head[4..8])
        };
        let Some(frame_body) = rest.get(10..10 + size) else {
            return Err(damaged(format!("ID3v2 {} frame size ({size} bytes, past the end of the tag)", show_id(&head[..4])), at + 4));
        };
        frames.push(Frame { id: [head[0], head[1], head[2], head[3]], flags: [head[8], head[9]], body: frame_body.to_vec() });
        pos += 10 + size;
    }
}

/// Parses a tag; `bytes` starts at "ID3" and may run past the tag (e.g. the whole file head).
/// Error offsets are relative to `bytes[0]` (in a v2.3 unsynchronised tag: past the header,
/// offsets count decoded bytes).
pub fn parse(bytes: &[u8]) -> Result<Tag, RawError> {
    let head = bytes.get(..10).ok_or_else(|| damaged("ID3v2 header (truncated)", 0))?;
    if &head[..3] != b"ID3" {
        return Err(damaged("ID3v2 header (no \"ID3\")", 0));
    }
    let (major, revision, flags) = (head[3], head[4], head[5]);
    match major {
        2 => {
            return Err(RawError::Unsupported("ID3v2.2 tag (only v2.3 and v2.4 are handled)".into()));
        }
        3 | 4 => {}
        _ => {
            return Err(RawError::Unsupported(format!("ID3v2.{major} tag (only v2.3 and v2.4 are handled)")));
        }
    }
    let known = if major == 3 { 0xE0 } else { 0xF0 };
    if flags & !known != 0 {
        return Err(RawError::Unsupported(format!("ID3v2.{major} tag with unknown header flags {flags:#04x}")));
    }
    let size = syncsafe(&head[6..10]).ok_or_else(|| damaged("ID3v2 tag size (not syncsafe)", 6))?;
    let has_footer = major == 4 && flags & 0x10 != 0;
    let total_len = 10 + size + if has_footer { 10 } else { 0 };
    if total_len > bytes.len() {
        return Err(damaged(format!("ID3v2 tag size ({total_len} bytes, past the end of the file)"), 6));
    }
    if has_footer {
        let foot = &bytes[10 + size..total_len];
        if &foot[..3] != b"3DI" || foot[3..] != head[3..] {
            return Err(damaged("ID3v2 footer (does not repeat the header)", 10 + size as u64));
        }
    }
    let stored = &bytes[10..10 + size];
    let tag_unsync = flags & 0x80 != 0;
    let decoded;
    let body: &[u8] = if tag_unsync && major == 3 {
        decoded = unsync_decode(stored);
        &decoded
    } else {
        stored
    };

    let mut start = 0;
    let ext_header = if flags & 0x40 != 0 {
        let size_bytes = body.get(..4).ok_or_else(|| damaged("ID3v2 extended header (truncated)", 10))?;
        let ext_len = if major == 3 {
            // v2.3: the size (6 or 10) excludes the 4 size bytes; flag 0x8000 adds a CRC.
            let n = be32(size_bytes);
            if n != 6 && n != 10 {
                return Err(damaged(format!("ID3v2.3 extended header size {n}"), 10));
            }
            n + 4
        } else {
            // v2.4: syncsafe size of the whole extended header, 1 flag byte, flag 0x20 = CRC.
            let n = syncsafe(size_bytes).ok_or_else(|| damaged("ID3v2.4 extended header size", 10))?;
            if n < 6 || body.get(4) != Some(&1) {
                return Err(damaged("ID3v2.4 extended header", 10));
            }
            n
        };
        let ext = body.get(..ext_len).ok_or_else(|| damaged("ID3v2 extended header (past the end of the tag)", 10))?;
        start = ext_len;
        Some(ext.to_vec())
    } else {
        None
    };

    let (mut frames, frames_end) = match walk(body, start, major == 4, 10) {
        Ok(found) => found,
        // iTunes' v2.4 tags with plain frame sizes: use them only if they walk cleanly.
        Err(e) if major == 4 => walk(body, start, false, 10).map_err(|_| e)?,
        Err(e) => return Err(e),
    };
    if let Some(ext) = &ext_header {
        check_crc(major, ext, body, frames_end, tag_unsync)?;
    }
    if tag_unsync && major == 4 {
        for f in &mut frames {
            f.body = unsync_decode(&f.body);
            f.flags[1] &= !0x02;
        }
    }
    Ok(Tag { major, revision, flags, ext_header, frames, padding_len: body.len() - frames_end, has_footer, total_len })
}

/// Checks the CRC of the extended header `ext` against `body` (the tag after its header, v2.3
/// unsynchronisation undone; the frames end at `frames_end`). See the module docs for what it
/// covers and what else is accepted.
fn check_crc(major: u8, ext: &[u8], body: &[u8], frames_end: usize, tag_unsync: bool) -> Result<(), RawError> {
    let at = match crc_field(major, ext) {
        Ok(Some(at)) => at,
        Ok(None) => return Ok(()),
        Err(what) => return Err(damaged(what, 10)),
    };
    let stored = read_crc(major, &ext[at..]);
    let start = ext.len();
    // The spec's coverage first (v2.3: the frames; v2.4: frames and padding), then the other.
    let mut ends = if major == 3 { vec![frames_end, body.len()] } else { vec![body.len(), frames_end] };
    if major == 3 && ext.len() >= 10 {
        ends.extend(body.len().checked_sub(be32(&ext[6..10])).filter(|&e| e >= start));
    }
    let computed = crc32(&body[start..ends[0]]);
    let ok = ends.iter().any(|&end| {
        let data = &body[start..end];
        crc32(data) == stored || (major == 4 && tag_unsync && crc32(&unsync_decode(data)) == stored)
    });
    if ok {
        Ok(())
    } else {
        Err(damaged(
            format!("ID3v2 CRC ({stored:#010x} stored, {computed:#010x} computed: the frames are not what was written)"),
            10 + at as u64,
        ))
    }
}

/// A new, empty tag (for a file without one).
pub fn new_tag(major: u8) -> Tag {
    Tag { major, revision: 0, flags: 0, ext_header: None, frames: Vec::new(), padding_len: 0, has_footer: false, total_len: 0 }
}

// ---- text ----

/// Splits one string off `data` in `enc`; returns it and the rest (after its terminator).
/// `le` carries the UTF-16 byte order from a previous BOM (a later value may omit its BOM).
fn take_str<'a>(enc: u8, data: &'a [u8], le: &mut bool) -> (String, &'a [u8]) {
    match enc {
        1 | 2 => {
            let mut end = data.len() & !1;
            let mut next = data.len();
            if let Some(i) = (0..end).step_by(2).find(|&i| data[i] == 0 && data[i + 1] == 0) {
                end = i;
                next = i + 2;
            }
            let mut s = &data[..end];
            if enc == 1 {
                match s {
                    [0xFF, 0xFE, r @ ..] => (*le, s) = (true, r),
                    [0xFE, 0xFF, r @ ..] => (*le, s) = (false, r),
                    _ => {}
                }
            } else {
                *le = false;
            }
            let units = s.chunks_exact(2).map(|c| if *le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) });
            let text: String = char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
            (text.strip_prefix('\u{FEFF}').map(str::to_owned).unwrap_or(text), &data[next.min(data.len())..])
        }
        _ => {
            let (s, rest) = match data.iter().position(|&b| b == 0) {
                Some(i) => (&data[..i], &data[i + 1..]),
                None => (data, &data[data.len()..]),
            };
            let text = if enc == 0 { s.iter().map(|&b| char::from(b)).collect() } else { String::from_utf8_lossy(s).into_owned() };
            (text.strip_prefix('\u{FEFF}').map(str::to_owned).unwrap_or(text), rest)
        }
    }
}

/// Splits all NUL-separated strings of `data` (a trailing terminator does not add an empty
/// value, as in mutagen).
fn take_all(enc: u8, mut data: &[u8], le: &mut bool) -> Vec<String> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (s, rest) = take_str(enc, data, le);
        out.push(s);
        data = rest;
    }
    out
}

/// The description of a TXXX/WXXX frame and the rest of its body (`None` if undecodable).
fn description<'a>(frame: &'a Frame, le: &mut bool) -> Option<(String, u8, &'a [u8])> {
    if frame.flags[1] != 0 {
        return None;
    }
    let (&enc, data) = frame.body.split_first()?;
    (enc <= 3).then(|| {
        let (desc, rest) = take_str(enc, data, le);
        (desc, enc, rest)
    })
}

/// The key of a frame as in [`Item::key`]: "TXXX:desc" / "WXXX:desc", otherwise the id.
/// (A TXXX/WXXX frame with format flags — compressed, grouped, ... — has just its id.)
pub fn item_key(frame: &Frame) -> String {
    let id = String::from_utf8_lossy(&frame.id).into_owned();
    if (&frame.id == b"TXXX" || &frame.id == b"WXXX")
        && let Some((desc, _, _)) = description(frame, &mut true)
    {
        return format!("{id}:{desc}");
    }
    id
}

/// The tag's version as an item, key `(version)`, bytes `[major, revision]`: a write keeps it
/// (2.3 stays 2.3), and readers of the fields learn from it how values are stored.
pub const VERSION_KEY: &str = "(version)";

/// The tag's version, then its frames as items (bytes: the 2 flag bytes then the body; not the
/// size field, so a re-encoded size alone is no change).
pub fn items(tag: &Tag) -> Vec<Item> {
    let version = Item { tag: "ID3v2", key: VERSION_KEY.into(), bytes: vec![tag.major, tag.revision] };
    std::iter::once(version)
        .chain(tag.frames.iter().map(|f| Item { tag: "ID3v2", key: item_key(f), bytes: [&f.flags[..], &f.body].concat() }))
        .collect()
}

/// The values of a text frame (T***: split at NUL; TXXX: the values after the description).
/// `None` for other frames, an unknown encoding, or frames with format flags (compressed,
/// encrypted, unsynchronised, grouped: their meaning depends on the tag version).
pub fn text_values(frame: &Frame) -> Option<Vec<String>> {
    if frame.id[0] != b'T' || frame.flags[1] != 0 {
        return None;
    }
    let mut le = true;
    if &frame.id == b"TXXX" {
        let (_, enc, rest) = description(frame, &mut le)?;
        return Some(take_all(enc, rest, &mut le));
    }
    let (&enc, data) = frame.body.split_first()?;
    (enc <= 3).then(|| take_all(enc, data, &mut le))
}

/// Encodes one string, with its BOM for UTF-16 (encoding 1 writes little-endian, as mutagen).
fn encode_str(enc: u8, s: &str, out: &mut Vec<u8>) {
    match enc {
        0 => out.extend(s.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))),
        1 => {
            out.extend([0xFF, 0xFE]);
            out.extend(s.encode_utf16().flat_map(u16::to_le_bytes));
        }
        _ => out.extend_from_slice(s.as_bytes()),
    }
}

/// Whether `key` names a text frame [`text_frame`] can build ("TCON", any T*** but TXXX, or
/// "TXXX:description").
pub fn is_text_key(key: &str) -> bool {
    match key.strip_prefix("TXXX:") {
        Some(_) => true,
        None => key.starts_with('T') && key != "TXXX" && valid_id(key.as_bytes()),
    }
}

/// Builds a text frame. v2.4: UTF-8, values joined with NUL. v2.3 has neither multi-value
/// frames nor UTF-8: values are joined with "/" (callers pass one) and encoded as Latin-1 when
/// every char fits, else UTF-16 with BOM. `key` must satisfy [`is_text_key`] (otherwise the id
/// is its first 4 bytes, padded with '?').
pub fn text_frame(major: u8, key: &str, values: &[String]) -> Frame {
    let (id, desc) = match key.strip_prefix("TXXX:") {
        Some(d) => (*b"TXXX", Some(d)),
        None => {
            let mut id = *b"????";
            for (d, s) in id.iter_mut().zip(key.bytes()) {
                *d = s;
            }
            (id, None)
        }
    };
    let (enc, text) = if major >= 4 {
        (3u8, values.join("\0"))
    } else {
        let text = values.join("/");
        let all = desc.unwrap_or("").chars().chain(text.chars()).all(|c| u32::from(c) <= 0xFF);
        (if all { 0 } else { 1 }, text)
    };
    let mut body = vec![enc];
    if let Some(d) = desc {
        encode_str(enc, d, &mut body);
        body.extend_from_slice(if enc == 1 { &[0, 0] } else { &[0] });
    }
    encode_str(enc, &text, &mut body);
    Frame { id, flags: [0, 0], body }
}

/// Whether `frame` is what `key` names: TXXX/WXXX descriptions case-insensitive, ids exact.
fn matches(frame: &Frame, key: &str) -> bool {
    match key.split_once(':') {
        Some((id @ ("TXXX" | "WXXX"), desc)) => {
            frame.id == id.as_bytes() && item_key(frame).split_once(':').is_some_and(|(_, d)| d.to_lowercase() == desc.to_lowercase())
        }
        _ => frame.id == key.as_bytes(),
    }
}

/// Checks edits before a splice: a value can only be set on a text key ([`is_text_key`]); any
/// frame id or "TXXX:"/"WXXX:" key can be removed.
pub fn check_edits(edits: &[FieldEdit]) -> Result<(), RawError> {
    for e in edits {
        let ok = !e.key.contains('\0')
            && match &e.values {
                Some(v) if !v.is_empty() => is_text_key(&e.key),
                _ => is_text_key(&e.key) || e.key.starts_with("WXXX:") || valid_id(e.key.as_bytes()),
            };
        if !ok {
            return Err(RawError::Unsupported(format!("cannot edit ID3v2 field {:?}", e.key)));
        }
    }
    Ok(())
}

/// Applies edits: `Some(values)` replaces the first matching frame in place (a TXXX keeps its
/// description's spelling) and removes the other matches (no match: appends the frame); `None` (or no values) removes every match.
/// Everything else is untouched and keeps its order. Edits failing [`check_edits`] are ignored.
pub fn splice(tag: &Tag, edits: &[FieldEdit]) -> Tag {
    let mut out = tag.clone();
    for e in edits {
        if check_edits(std::slice::from_ref(e)).is_err() {
            continue;
        }
        let values = e.values.as_ref().filter(|v| !v.is_empty());
        let mut placed = false;
        let mut frames = Vec::with_capacity(out.frames.len() + 1);
        for f in out.frames {
            if !matches(&f, &e.key) {
                frames.push(f);
            } else if let (false, Some(v)) = (placed, values) {
                // A replaced TXXX keeps its description as written ("MOOD" stays "MOOD" when
                // the edit says "TXXX:mood"): the field is the same, only its values change.
                frames.push(text_frame(tag.major, &item_key(&f), v));
                placed = true;
            }
        }
        if let (false, Some(v)) = (placed, values) {
            frames.push(text_frame(tag.major, &e.key, v));
        }
        out.frames = frames;
    }
    out
}

/// Length of the header, extended header and frames, without padding or footer.
pub fn content_len(tag: &Tag) -> usize {
    10 + tag.ext_header.as_ref().map_or(0, Vec::len) + tag.frames.iter().map(|f| 10 + f.body.len()).sum::<usize>()
}

/// Whether [`render`] can encode the tag (its size fits the 28-bit syncsafe size).
pub fn fits(tag: &Tag) -> bool {
    content_len(tag) - 10 + DEFAULT_PADDING <= MAX_SYNCSAFE
}

/// Writes the tag: same version and flags (tag-level unsync cleared), extended header as it
/// was (a v2.3 one gets the new padding size; a CRC is recomputed, see the module docs), frames
/// with proper sizes (syncsafe in v2.4, plain in v2.3), then padding: exactly up to `keep_total_len` when the frames fit in it (so
/// the audio after the tag need not move), else [`DEFAULT_PADDING`] zero bytes. With a v2.4
/// footer: no padding, then the footer. Check [`fits`] first.
pub fn render(tag: &Tag, keep_total_len: Option<usize>) -> Vec<u8> {
    let footer = tag.major == 4 && tag.has_footer;
    let content = content_len(tag);
    let padding = match keep_total_len {
        _ if footer => 0,
        Some(n) if n >= content => n - content,
        _ => DEFAULT_PADDING,
    };
    let mut flags = tag.flags & !(0x80 | 0x40 | 0x10);
    if tag.ext_header.is_some() {
        flags |= 0x40;
    }
    if footer {
        flags |= 0x10;
    }
    let size = content - 10 + padding;
    let mut out = Vec::with_capacity(size + 20);
    out.extend_from_slice(b"ID3");
    out.extend([tag.major, tag.revision, flags]);
    out.extend(syncsafe_bytes(size));
    if let Some(ext) = &tag.ext_header {
        out.extend_from_slice(ext);
        if tag.major == 3 && ext.len() >= 10 {
            // v2.3 extended header bytes 6..10: the size of the padding.
            out[16..20].copy_from_slice(&u32::try_from(padding).unwrap_or(u32::MAX).to_be_bytes());
        }
    }
    let frames_at = out.len();
    for f in &tag.frames {
        out.extend_from_slice(&f.id);
        if tag.major >= 4 {
            out.extend(syncsafe_bytes(f.body.len()));
        } else {
            out.extend(u32::try_from(f.body.len()).unwrap_or(u32::MAX).to_be_bytes());
        }
        out.extend_from_slice(&f.flags);
        out.extend_from_slice(&f.body);
    }
    let frames_end = out.len();
    out.resize(out.len() + padding, 0);
    if let Some(ext) = &tag.ext_header
        && let Ok(Some(at)) = crc_field(tag.major, ext)
    {
        // v2.3: the frames only; v2.4: the frames and the padding (never a footer).
        let end = if tag.major == 3 { frames_end } else { out.len() };
        let crc = crc_bytes(tag.major, crc32(&out[frames_at..end]));
        out[10 + at..10 + at + crc.len()].copy_from_slice(&crc);
    }
    if footer {
        out.extend_from_slice(b"3DI");
        out.extend_from_within(3..10);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    fn kinds(tag: &Tag) -> Vec<String> {
        tag.frames.iter().map(item_key).collect()
    }

    #[test]
    fn parses_every_frame_of_rich_tags() {
        for major in [3, 4] {
            let bytes = rich_tag(major);
            let tag = parse(&bytes).unwrap();
            let want = rich_frames(major);
            assert_eq!(tag.frames.len(), want.len());
            for (f, (id, body)) in tag.frames.iter().zip(&want) {
                assert_eq!((&f.id, &f.body, f.flags), (id, body, [0, 0]));
            }
            assert_eq!((tag.padding_len, tag.total_len, tag.major), (300, bytes.len(), major));
            assert!(kinds(&tag).contains(&"TXXX:MOOD".to_string()));
            assert!(kinds(&tag).contains(&"WXXX:Home ✓".to_string()));
            // Rendering an unchanged tag at its own size gives the same bytes.
            assert_eq!(render(&tag, Some(tag.total_len)), bytes);
        }
    }

    #[test]
    fn splice_changes_only_the_edited_frames() {
        for major in [3, 4] {
            let bytes = rich_tag(major);
            let tag = parse(&bytes).unwrap();
            let new = splice(&tag, &edits(major));
            let out = render(&new, Some(tag.total_len));
            assert_eq!(out.len(), bytes.len(), "kept its size");
            let back = parse(&out).unwrap();
            assert_eq!(items(&back), items(&new));
            assert_kept(&items(&tag), &items(&back), EDITED);
            // TCON and TXXX:MOOD replaced in place (description spelling kept); COMM gone; new
            // frames appended in edit order.
            let old_keys = kinds(&tag);
            let new_keys = kinds(&back);
            assert_eq!(new_keys.iter().position(|k| k == "TCON"), old_keys.iter().position(|k| k == "TCON"));
            assert_eq!(new_keys.iter().position(|k| k == "TXXX:MOOD"), old_keys.iter().position(|k| k == "TXXX:MOOD"));
            assert!(!new_keys.contains(&"COMM".into()));
            assert_eq!(&new_keys[new_keys.len() - 2..], ["TMOO", "TXXX:MELOTAG_SCORES"]);
            let tcon = back.frames.iter().find(|f| &f.id == b"TCON").unwrap();
            let want: Vec<String> = if major == 4 { vec!["Jazz".into(), "Blues 🎷".into()] } else { vec!["Jazz/Blues 🎷".into()] };
            assert_eq!(text_values(tcon), Some(want));
            // v2.3 cannot hold UTF-8: the non-Latin-1 genre goes to UTF-16 with BOM.
            assert_eq!(tcon.body[0], if major == 4 { 3 } else { 1 });
            let mood = back.frames.iter().find(|f| item_key(f) == "TXXX:MOOD").unwrap();
            assert_eq!(text_values(mood), Some(vec!["calm".into()]));
        }
    }

    #[test]
    fn padding_and_growth() {
        let tag = parse(&rich_tag(4)).unwrap();
        let big = FieldEdit { key: "TXXX:BIG".into(), values: Some(vec!["x".repeat(1000)]) };
        let new = splice(&tag, &[big]);
        // Does not fit in the old 300 bytes of padding: 1024 bytes of fresh padding.
        let out = render(&new, Some(tag.total_len));
        assert_eq!(out.len(), content_len(&new) + DEFAULT_PADDING);
        assert_eq!(parse(&out).unwrap().padding_len, DEFAULT_PADDING);
        assert_eq!(render(&new, None).len(), content_len(&new) + DEFAULT_PADDING);
        // Exactly fitting: no padding at all.
        let exact = render(&tag, Some(content_len(&tag)));
        assert_eq!(parse(&exact).unwrap().padding_len, 0);
    }

    #[test]
    fn delete_removes_every_match_and_only_them() {
        let tag = parse(&rich_tag(4)).unwrap();
        let e = |k: &str| FieldEdit { key: k.into(), values: None };
        let new = splice(&tag, &[e("COMM"), e("TXXX:Mood"), e("WXXX:home ✓"), e("TMOO")]);
        assert_eq!(new.frames.len(), tag.frames.len() - 4);
        assert_kept(&items(&tag), &items(&new), &["COMM", "TXXX:MOOD", "WXXX:Home ✓"]);
        // Empty values remove too; removing what is absent changes nothing.
        let none = FieldEdit { key: "TCON".into(), values: Some(vec![]) };
        assert!(!kinds(&splice(&tag, &[none])).contains(&"TCON".into()));
        assert_eq!(splice(&tag, &[e("TMOO")]), tag);
        // Duplicates: the first is replaced, the others removed.
        let mut dup = tag.clone();
        dup.frames.push(tag.frames[2].clone()); // a second TCON
        let set = FieldEdit { key: "TCON".into(), values: Some(vec!["Jazz".into()]) };
        let out = splice(&dup, &[set]);
        assert_eq!(out.frames.iter().filter(|f| &f.id == b"TCON").count(), 1);
        assert_eq!(out.frames[2].id, *b"TCON");
    }

    #[test]
    fn text_round_trips() {
        let cases: &[&[&str]] = &[&["Café"], &["日本語"], &["🎵 Music"], &["Rock", "Électro", "🎵"], &["a"]];
        for values in cases {
            let values: Vec<String> = values.iter().map(|s| s.to_string()).collect();
            for key in ["TCON", "TXXX:Ünïcode 🎵"] {
                let f4 = text_frame(4, key, &values);
                assert_eq!(f4.body[0], 3);
                assert_eq!(text_values(&f4), Some(values.clone()));
                let one = vec![values.join("/")];
                let f3 = text_frame(3, key, &one);
                let latin = one[0].chars().chain(key.chars()).all(|c| (c as u32) < 256);
                assert_eq!(f3.body[0], if latin { 0 } else { 1 });
                assert_eq!(text_values(&f3), Some(one.clone()));
                assert_eq!(item_key(&f3), if key == "TCON" { "TCON" } else { "TXXX:Ünïcode 🎵" });
            }
        }
    }

    #[test]
    fn text_decoding_tolerates_what_taggers_write() {
        let t = |body: &[u8]| text_values(&Frame { id: *b"TIT2", flags: [0, 0], body: body.to_vec() });
        let s = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(t(b"\x00Caf\xe9\x00"), s(&["Café"])); // trailing NUL
        assert_eq!(t(b"\x00a\x00\x00"), s(&["a", ""]));
        assert_eq!(t(b"\x00"), s(&[]));
        assert_eq!(t(b""), None);
        assert_eq!(t(b"\x07abc"), None); // unknown encoding
        assert_eq!(t(b"\x01\xff\xfea\x00b\x00\x00\x00"), s(&["ab"]));
        assert_eq!(t(b"\x01\xfe\xff\x00a\x00b"), s(&["ab"])); // big-endian BOM
        assert_eq!(t(b"\x01a\x00b\x00"), s(&["ab"])); // no BOM: little-endian
        assert_eq!(t(b"\x01\xff\xfea\x00b"), s(&["a"])); // odd length: last byte dropped
        assert_eq!(t(b"\x02\x00a\x00b\x00\x00\x00c"), s(&["ab", "c"]));
        // UTF-16 multi-value, each with its BOM; a surrogate pair.
        let mut b = vec![1];
        b.extend(u16le("x"));
        b.extend([0, 0]);
        b.extend(u16le("🎵"));
        assert_eq!(t(&b), s(&["x", "🎵"]));
        assert_eq!(t(b"\x03\xef\xbb\xbfRock\x00Pop"), s(&["Rock", "Pop"])); // UTF-8 BOM dropped
        // TXXX: the values after the description.
        let txxx = Frame { id: *b"TXXX", flags: [0, 0], body: b"\x03DESC\x00v1\x00v2".to_vec() };
        assert_eq!((text_values(&txxx), item_key(&txxx)), (s(&["v1", "v2"]), "TXXX:DESC".into()));
        // Non-text frames and frames with format flags (compressed, unsynchronised, ...).
        assert_eq!(text_values(&Frame { id: *b"COMM", flags: [0, 0], body: b"\x00eng\x00x".to_vec() }), None);
        assert_eq!(text_values(&Frame { id: *b"TIT2", flags: [0, 0x08], body: b"\x00x".to_vec() }), None);
    }

    #[test]
    fn tag_level_unsynchronisation() {
        // v2.3: the whole tag after the header is unsynchronised; sizes count decoded bytes.
        let content = rich_content(3);
        let mut t = tag_bytes(3, 0x80, &unsync_encode(&[content.clone(), vec![0; 50]].concat()), 0);
        let unsynced_len = t.len();
        assert!(unsynced_len > 10 + content.len() + 50, "the APIC has bytes to unsynchronise");
        t.extend(b"\xff\xfbaudio");
        let tag = parse(&t).unwrap();
        assert_eq!(tag.total_len, unsynced_len);
        assert_eq!(tag.padding_len, 50);
        let plain = parse(&rich_tag(3)).unwrap();
        assert_eq!(items(&tag), items(&plain));
        let out = render(&tag, Some(tag.total_len));
        assert_eq!(out[5] & 0x80, 0, "written without tag-level unsync");
        assert_eq!(items(&parse(&out).unwrap()), items(&plain));

        // v2.4: each frame unsynchronised on its own; sizes count stored bytes.
        let frames: Vec<u8> = rich_frames(4).iter().flat_map(|(id, body)| frame(4, id, [0, 0x02], &unsync_encode(body))).collect();
        let tag = parse(&tag_bytes(4, 0x80, &frames, 20)).unwrap();
        assert_eq!(items(&tag), items(&parse(&rich_tag(4)).unwrap()));
        // Without the tag flag, a frame's own unsync flag and body are kept raw.
        let raw = frame(4, b"APIC", [0, 0x02], &unsync_encode(&rich_frames(4)[7].1));
        let tag = parse(&tag_bytes(4, 0, &raw, 0)).unwrap();
        assert_eq!((tag.frames[0].flags, &tag.frames[0].body), ([0, 0x02], &raw[10..].to_vec()));
        assert_eq!(render(&tag, Some(tag.total_len)), tag_bytes(4, 0, &raw, 0));
    }

    #[test]
    fn itunes_plain_frame_sizes_in_v24() {
        let content: Vec<u8> = rich_frames(4).iter().flat_map(|(id, body)| itunes_frame(id, body)).collect();
        let bytes = tag_bytes(4, 0, &content, 100);
        let tag = parse(&bytes).unwrap();
        let proper = parse(&rich_tag(4)).unwrap();
        assert_eq!(items(&tag), items(&proper));
        // Rendered with syncsafe sizes: same as a proper tag.
        assert_eq!(render(&tag, None), render(&proper, None));
        // A plain size that walks nowhere either way is damage.
        let mut bad = content.clone();
        bad[4..8].copy_from_slice(&5000u32.to_be_bytes());
        assert!(matches!(parse(&tag_bytes(4, 0, &bad, 0)), Err(RawError::Damaged { offset: 14, .. })));
    }

    #[test]
    fn footer_and_extended_headers() {
        let content = rich_content(4);
        let mut t = tag_bytes(4, 0x10, &content, 0);
        t.extend_from_slice(b"3DI");
        t.extend_from_within(3..10);
        let tag = parse(&t).unwrap();
        assert!(tag.has_footer);
        assert_eq!(tag.total_len, t.len());
        let new = splice(&tag, &edits(4));
        let out = render(&new, Some(tag.total_len));
        assert_eq!(parse(&out).unwrap().padding_len, 0, "no padding with a footer");
        assert_eq!(&out[out.len() - 10..out.len() - 7], b"3DI");
        assert_eq!(out[out.len() - 7..], out[3..10]);
        assert_kept(&items(&tag), &items(&parse(&out).unwrap()), EDITED);
        // A footer that does not repeat the header.
        let n = t.len();
        t[n - 1] ^= 1;
        assert!(matches!(parse(&t), Err(RawError::Damaged { .. })));

        // v2.4 extended header (with restrictions) kept raw.
        let ext = [0u8, 0, 0, 7, 1, 0x10, 0x23];
        let t = tag_bytes(4, 0x40, &[&ext[..], &content].concat(), 10);
        let tag = parse(&t).unwrap();
        assert_eq!(tag.ext_header.as_deref(), Some(&ext[..]));
        assert_eq!(render(&tag, Some(tag.total_len)), t);
        // v2.3 extended header: kept, its padding size updated.
        let ext3 = [0u8, 0, 0, 6, 0, 0, 0, 0, 0, 10];
        let content3 = rich_content(3);
        let t = tag_bytes(3, 0x40, &[&ext3[..], &content3].concat(), 10);
        let tag = parse(&t).unwrap();
        assert_eq!(render(&tag, Some(tag.total_len)), t);
        let out = render(&tag, None);
        assert_eq!(out[16..20], (DEFAULT_PADDING as u32).to_be_bytes());
    }

    #[test]
    fn crc32_is_iso_3309() {
        // The standard check value, and zlib.crc32 of a few bytes.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(&[0; 317]), 0xD582_DD5C);
        assert_eq!(crc32(b"ID3 tag"), 0x624D_A457);
    }

    /// The CRC stored at `t[field..]` (v2.3: 4 plain bytes, v2.4: 5 syncsafe ones).
    fn crc_in(t: &[u8], field: usize, major: u8) -> u32 {
        if major == 3 {
            u32::from_be_bytes([t[field], t[field + 1], t[field + 2], t[field + 3]])
        } else {
            t[field..field + 5].iter().fold(0, |acc, &b| (acc << 7) | u32::from(b))
        }
    }

    /// A v2.3 tag whose extended header has a CRC of the frames (the spec's rule).
    fn crc_tag3(padding: usize) -> Vec<u8> {
        let content = rich_content(3);
        let ext = [&[0u8, 0, 0, 10, 0x80, 0][..], &(padding as u32).to_be_bytes(), &crc32(&content).to_be_bytes()].concat();
        tag_bytes(3, 0x40, &[ext, content].concat(), padding)
    }

    /// A v2.4 tag whose extended header has "tag is an update", a CRC (of the frames and the
    /// padding: the spec's rule) and restrictions.
    fn crc_tag4(padding: usize) -> Vec<u8> {
        let content = rich_content(4);
        let crc = crc32(&[content.clone(), vec![0; padding]].concat());
        let ext = [&[0u8, 0, 0, 15, 1, 0x70, 0, 5][..], &crc_bytes(4, crc), &[1, 0x23]].concat();
        tag_bytes(4, 0x40, &[ext, content].concat(), padding)
    }

    #[test]
    fn crc_in_extended_headers_round_trips() {
        for (major, t) in [(3u8, crc_tag3(40)), (4, crc_tag4(40))] {
            let ext_len = if major == 3 { 14 } else { 15 };
            let field = if major == 3 { 20 } else { 18 };
            let tag = parse(&t).unwrap();
            assert_eq!(tag.ext_header.as_deref(), Some(&t[10..10 + ext_len]));
            assert_eq!(stored_crc(&tag), Some(crc_in(&t, field, major)));
            // The extended header is no item: the same items as without it.
            let plain = parse(&rich_tag(major)).unwrap();
            assert_eq!(items(&tag), items(&plain));
            assert_eq!(render(&tag, Some(tag.total_len)), t, "unchanged: the same bytes");

            let new = splice(&tag, &edits(major));
            for keep in [Some(tag.total_len), None] {
                let out = render(&new, keep);
                let back = parse(&out).unwrap();
                assert_eq!(items(&back), items(&new));
                assert_kept(&items(&tag), &items(&back), EDITED);
                // The CRC over what the spec says, recomputed here from the bytes.
                let frames_end = content_len(&new);
                let covered = if major == 3 { &out[10 + ext_len..frames_end] } else { &out[10 + ext_len..] };
                assert_eq!(crc_in(&out, field, major), crc32(covered), "v2.{major}, keep {keep:?}");
                assert_ne!(crc_in(&out, field, major), crc_in(&t, field, major));
                let ext = &out[10..10 + ext_len];
                if major == 3 {
                    assert_eq!(ext[..6], t[10..16], "size and flags kept");
                    assert_eq!(ext[6..10], (back.padding_len as u32).to_be_bytes());
                } else {
                    // Size, flags, "tag is an update" (length 0) and the restrictions byte kept.
                    assert_eq!((&ext[..8], &ext[13..]), (&t[10..18], &t[23..25]));
                }
            }
        }
        // v2.4 with a footer: no padding, the footer not covered.
        let content = rich_content(4);
        let ext = [&[0u8, 0, 0, 12, 1, 0x20, 5][..], &crc_bytes(4, crc32(&content))].concat();
        let mut t = tag_bytes(4, 0x50, &[ext, content].concat(), 0);
        t.extend_from_slice(b"3DI");
        t.extend_from_within(3..10);
        let tag = parse(&t).unwrap();
        let out = render(&splice(&tag, &edits(4)), Some(tag.total_len));
        assert_eq!(&out[out.len() - 10..out.len() - 7], b"3DI");
        assert_eq!(crc_in(&out, 17, 4), crc32(&out[22..out.len() - 10]));
        assert_kept(&items(&tag), &items(&parse(&out).unwrap()), EDITED);
        // v2.3 unsynchronised: the CRC of the decoded frames; written plainly.
        let t = crc_tag3(8);
        let mut u = tag_bytes(3, 0xC0, &unsync_encode(&t[10..]), 0);
        u.truncate(10 + unsync_encode(&t[10..]).len());
        let tag = parse(&u).unwrap();
        assert_eq!(items(&tag), items(&parse(&t).unwrap()));
        assert_eq!(render(&tag, Some(t.len())), t, "written plainly, the same CRC");
    }

    #[test]
    fn crc_mismatches_are_damage_but_known_writer_slips_are_not() {
        // A changed frame byte (the last one of the last frame) or CRC byte: the CRC's offset.
        for (major, t, at) in [(3u8, crc_tag3(40), 20u64), (4, crc_tag4(40), 18)] {
            for i in [t.len() - 41, at as usize + 2] {
                let mut bad = t.clone();
                bad[i] ^= 1;
                assert!(matches!(parse(&bad), Err(RawError::Damaged { offset, .. }) if offset == at), "v2.{major} byte {i}");
            }
        }
        // v2.4 covers the padding: the same CRC with one more byte of padding is wrong; v2.3's
        // does not cover it.
        let more = |t: Vec<u8>| tag_bytes(t[3], 0x40, &t[10..], 1);
        assert!(matches!(parse(&more(crc_tag4(40))), Err(RawError::Damaged { offset: 18, .. })));
        assert_eq!(parse(&more(crc_tag3(40))).unwrap().padding_len, 41);
        // Accepted: v2.4 with the CRC of the frames only, v2.3 with the CRC of frames and padding.
        let content4 = rich_content(4);
        let ext4 = [&[0u8, 0, 0, 12, 1, 0x20, 5][..], &crc_bytes(4, crc32(&content4))].concat();
        assert!(parse(&tag_bytes(4, 0x40, &[ext4, content4.clone()].concat(), 30)).is_ok());
        let content3 = rich_content(3);
        let crc = crc32(&[content3.clone(), vec![0; 30]].concat());
        let ext3 = [&[0u8, 0, 0, 10, 0x80, 0, 0, 0, 0, 30][..], &crc.to_be_bytes()].concat();
        assert!(parse(&tag_bytes(3, 0x40, &[ext3, content3.clone()].concat(), 30)).is_ok());
        // v2.4 tag-level unsync: the CRC of the stored or of the decoded frames.
        let frames: Vec<u8> = rich_frames(4).iter().flat_map(|(id, body)| frame(4, id, [0, 0x02], &unsync_encode(body))).collect();
        for data in [frames.clone(), unsync_decode(&frames)] {
            let ext = [&[0u8, 0, 0, 12, 1, 0x20, 5][..], &crc_bytes(4, crc32(&data))].concat();
            let tag = parse(&tag_bytes(4, 0xC0, &[ext, frames.clone()].concat(), 0)).unwrap();
            assert_eq!(items(&tag), items(&parse(&rich_tag(4)).unwrap()));
        }
        // Malformed CRC fields.
        let bad_exts: [&[u8]; 5] = [
            &[0, 0, 0, 6, 0x80, 0, 0, 0, 0, 0],           // v2.3 CRC flag, 6-byte header
            &[0, 0, 0, 12, 1, 0x20, 4, 0, 0, 0, 0, 0],    // v2.4 CRC length 4
            &[0, 0, 0, 12, 1, 0x20, 5, 0x10, 0, 0, 0, 0], // more than 32 bits
            &[0, 0, 0, 12, 1, 0x20, 5, 0, 0x80, 0, 0, 0], // not syncsafe
            &[0, 0, 0, 8, 1, 0x60, 3, 5],                 // "update" data runs over the CRC
        ];
        for ext in bad_exts {
            let major = if ext[4] == 0x80 { 3 } else { 4 };
            let r = parse(&tag_bytes(major, 0x40, &[ext, &rich_content(major)].concat(), 0));
            assert!(matches!(r, Err(RawError::Damaged { offset: 10, .. })), "{ext:?}: {r:?}");
        }
    }

    #[test]
    fn refuses_damage_with_its_offset() {
        let tit2 = frame(4, b"TIT2", [0, 0], b"\x03Title");
        let apic = frame(4, b"APIC", [0, 0], &rich_frames(4)[8].1);
        let comm = frame(4, b"COMM", [0, 0], b"\x00engdesc\x00text");
        let at = 10 + tit2.len() as u64;
        for bad_id in [b"\0\0MM", b"CO\0\0", b"CoMM", b"CO M"] {
            let mut c = comm.clone();
            c[..4].copy_from_slice(bad_id);
            let t = tag_bytes(4, 0, &[tit2.clone(), c, apic.clone()].concat(), 100);
            match parse(&t) {
                Err(RawError::Damaged { offset, what }) => assert_eq!(offset, at, "{what}"),
                other => panic!("{bad_id:?}: {other:?}"),
            }
        }
        // A frame size past the end of the tag: the offset of the size field.
        let mut c = comm.clone();
        c[4..8].copy_from_slice(&ss(5000));
        let t = tag_bytes(4, 0, &[tit2.clone(), c].concat(), 0);
        assert!(matches!(parse(&t), Err(RawError::Damaged { offset, .. }) if offset == at + 4));
        // A tag size past the end of the buffer.
        let t = tag_bytes(3, 0, &rich_content(3), 0);
        assert!(matches!(parse(&t[..t.len() - 1]), Err(RawError::Damaged { offset: 6, .. })));
        // A truncated frame header at the end of the tag.
        let t = tag_bytes(4, 0, &[tit2.clone(), b"TAL".to_vec()].concat(), 0);
        assert!(matches!(parse(&t), Err(RawError::Damaged { offset, .. }) if offset == at));
        // Zero padding is no damage; non-zero bytes after zeros are.
        assert_eq!(parse(&tag_bytes(4, 0, &tit2, 4000)).unwrap().padding_len, 4000);
        assert_eq!(parse(&tag_bytes(4, 0, &[], 5)).unwrap().frames, vec![]);
        let t = tag_bytes(4, 0, &[tit2.clone(), vec![0; 20], b"junk".to_vec()].concat(), 0);
        assert!(matches!(parse(&t), Err(RawError::Damaged { offset, .. }) if offset == at));
        // Versions.
        assert!(matches!(parse(&tag_bytes(2, 0, b"TT2\x00\x00\x02\x00a", 0)), Err(RawError::Unsupported(m)) if m.contains("ID3v2.2")));
        assert!(matches!(parse(&tag_bytes(5, 0, &[], 0)), Err(RawError::Unsupported(_))));
        assert!(matches!(parse(&tag_bytes(3, 0x10, &tit2, 0)), Err(RawError::Unsupported(_))));
    }

    #[test]
    fn edits_are_checked() {
        let set = |k: &str| FieldEdit { key: k.into(), values: Some(vec!["x".into()]) };
        let del = |k: &str| FieldEdit { key: k.into(), values: None };
        for ok in [set("TCON"), set("TXXX:MOOD"), set("TXXX:"), del("COMM"), del("WXXX:x"), del("APIC")] {
            assert!(check_edits(std::slice::from_ref(&ok)).is_ok(), "{ok:?}");
        }
        for bad in [set("GENRE"), set("COMM"), set("TXXX"), set("WXXX:x"), set("tcon"), del("genre")] {
            assert!(check_edits(std::slice::from_ref(&bad)).is_err(), "{bad:?}");
        }
    }

    /// Mutated tags: parse never panics, and whenever it succeeds a splice keeps every other
    /// frame through render and re-parse.
    #[test]
    fn mutations_never_panic_and_splices_keep_the_rest() {
        let mut t3 = rich_tag(3);
        t3[5] = 0x80;
        let t3u = tag_bytes(3, 0x80, &unsync_encode(&rich_content(3)), 8);
        let itunes: Vec<u8> = rich_frames(4).iter().flat_map(|(id, body)| itunes_frame(id, body)).collect();
        let bases = [rich_tag(3), rich_tag(4), t3u, tag_bytes(4, 0, &itunes, 40), crc_tag3(30), crc_tag4(30)];
        let mut rng = Lcg(0x5EED);
        let mut parsed = 0;
        for i in 0..4000 {
            let mut data = bases[i % bases.len()].clone();
            rng.mutate(&mut data);
            let Ok(tag) = parse(&data) else { continue };
            parsed += 1;
            let new = splice(&tag, &edits(tag.major));
            for keep in [Some(tag.total_len), None] {
                let back = parse(&render(&new, keep)).unwrap();
                assert_eq!(items(&back), items(&new));
                assert_kept(&items(&tag), &items(&back), EDITED);
            }
        }
        assert!(parsed > 500, "only {parsed} mutated tags parsed");
    }
}
