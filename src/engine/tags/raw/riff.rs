//! WAV (RIFF/WAVE, little-endian) and AIFF/AIFC (FORM, big-endian) files: a list of chunks.
//!
//! Format rules (Microsoft RIFF, Apple AIFF 1.3 / AIFC):
//! - A 12-byte form header: "RIFF"/"FORM", the size of everything after the size field, the
//!   form type ("WAVE", "AIFF", "AIFC"). Then chunks: 4-char id, 32-bit size, payload, and a
//!   pad byte after an odd-sized payload (not counted in the size).
//! - Tags live in an "id3 "/"ID3 " chunk (a whole ID3v2 tag, as mutagen and foobar2000 write)
//!   and, in WAV, in a "LIST" chunk of type "INFO" (sub-chunks such as "IGNR", same layout).
//! - The audio is the "data" (WAV) or "SSND" (AIFF, with its offset/block-size prefix) payload.
//!
//! Edge cases, decided here:
//! - RF64/BW64 (64-bit sizes) and RIFX (big-endian RIFF) are refused as unsupported.
//! - A form size larger than the file (streaming writers, truncated downloads) is read: the
//!   chunks are walked to the end of the file, and the audio chunk may run past the end (the
//!   audio is what is there). Any other chunk running past the end is damage. Such files are
//!   never written: the sizes would have to be "repaired", and melotag does not repair.
//! - A form size smaller than its chunks (a chunk crosses the declared end, or bytes follow the
//!   form) is damage: a writer trusting the size would drop or corrupt what follows.
//! - An odd-sized last chunk whose pad byte is missing at the end of the file is accepted, and
//!   so are zero bytes (at most 1 MiB) between the last chunk and the end of the form.
//! - Padding chunks ("JUNK", "PAD ", "FLLR") are no items; they are copied as they are.

use std::io::{Read, Seek};

use super::id3v2;
use super::util::{damaged, hash_range, identity, push_piece, read_vec, rebase, stream_len};
use super::*;

/// One chunk as found in the file.
#[derive(Debug, Clone)]
struct Chunk {
    id: [u8; 4],
    /// Offset of the chunk header.
    at: u64,
    /// Size field.
    size: u64,
    /// Payload bytes present in the file (less than `size` only for a truncated audio chunk).
    avail: u64,
    /// A pad byte follows the payload in the file.
    pad: bool,
}

impl Chunk {
    fn payload_at(&self) -> u64 {
        self.at + 8
    }
    fn end(&self) -> u64 {
        self.at + 8 + self.avail + u64::from(self.pad)
    }
}

/// The chunk list of a RIFF or FORM file.
struct Form {
    container: Container,
    big_endian: bool,
    head: [u8; 12],
    /// End of the form according to its size field.
    declared_end: u64,
    chunks: Vec<Chunk>,
    file_len: u64,
    /// The audio chunk runs past the end of the file.
    truncated: bool,
    /// Zero bytes between the last chunk and the end of the form (writers that pad the form).
    zero_tail: u64,
}

impl Form {
    fn tag_name(&self) -> &'static str {
        if self.big_endian { "AIFF" } else { "RIFF" }
    }
    fn audio_id(&self) -> &'static [u8; 4] {
        if self.big_endian { b"SSND" } else { b"data" }
    }
    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    }
    fn size_bytes(&self, n: u32) -> [u8; 4] {
        if self.big_endian { n.to_be_bytes() } else { n.to_le_bytes() }
    }
}

fn valid_id(id: &[u8]) -> bool {
    id.iter().all(|b| (0x20..=0x7E).contains(b))
}

fn show_id(id: &[u8]) -> String {
    id.iter().flat_map(|b| std::ascii::escape_default(*b)).map(char::from).collect()
}

fn read_form<R: Read + Seek>(r: &mut R) -> Result<Form, RawError> {
    let file_len = stream_len(r)?;
    if file_len < 12 {
        return Err(RawError::Unknown);
    }
    let mut head = [0u8; 12];
    read_at(r, 0, &mut head)?;
    let (container, big_endian) = match (&head[..4], &head[8..12]) {
        (b"RIFF", b"WAVE") => (Container::Wav, false),
        (b"FORM", b"AIFF" | b"AIFC") => (Container::Aiff, true),
        (b"RF64" | b"BW64", _) => {
            return Err(RawError::Unsupported("RF64/BW64 file (64-bit RIFF sizes)".into()));
        }
        (b"RIFX", _) => return Err(RawError::Unsupported("RIFX file (big-endian RIFF)".into())),
        _ => return Err(RawError::Unknown),
    };
    let mut form = Form { container, big_endian, head, declared_end: 0, chunks: Vec::new(), file_len, truncated: false, zero_tail: 0 };
    let declared = u64::from(form.u32([head[4], head[5], head[6], head[7]]));
    if declared < 4 {
        return Err(damaged(format!("{} size {declared}", form.tag_name()), 4));
    }
    form.declared_end = 8 + declared;
    let limit = form.declared_end.min(file_len);
    let mut pos = 12u64;
    while pos < limit {
        let mut h = [0u8; 8];
        let n = (limit - pos).min(8) as usize;
        read_at(r, pos, &mut h[..n])?;
        let id = [h[0], h[1], h[2], h[3]];
        if n < 8 || !valid_id(&id) {
            // Zeros up to the end of the form are padding (up to 1 MiB); anything else is damage.
            if limit - pos <= 1 << 20 && read_vec(r, pos, limit - pos)?.iter().all(|&b| b == 0) {
                form.zero_tail = limit - pos;
                pos = limit;
                break;
            }
            return Err(damaged(format!("chunk id \"{}\"", show_id(&id[..n.min(4)])), pos));
        }
        let size = u64::from(form.u32([h[4], h[5], h[6], h[7]]));
        let payload_end = pos + 8 + size;
        if payload_end > form.declared_end && form.declared_end < file_len {
            return Err(damaged(format!("{} size (smaller than its chunks)", form.tag_name()), 4));
        }
        if payload_end > file_len {
            if &id != form.audio_id() {
                return Err(damaged(format!("\"{}\" chunk size (past the end of the file)", show_id(&id)), pos + 4));
            }
            form.truncated = true;
            form.chunks.push(Chunk { id, at: pos, size, avail: file_len - pos - 8, pad: false });
            pos = file_len;
            break;
        }
        let pad = size % 2 == 1 && payload_end < file_len;
        form.chunks.push(Chunk { id, at: pos, size, avail: size, pad });
        pos = payload_end + u64::from(pad);
    }
    if pos < file_len {
        return Err(damaged(format!("{} size (smaller than the file: {} bytes after the form)", form.tag_name(), file_len - pos), pos));
    }
    Ok(form)
}

/// A sub-chunk of a LIST chunk: id, data range within the payload, end including its pad byte.
struct Sub {
    id: [u8; 4],
    data: std::ops::Range<usize>,
    end: usize,
}

/// Sub-chunks of a LIST payload (after the 4-byte list type); `base` is the payload's offset.
fn list_subs(payload: &[u8], base: u64) -> Result<Vec<Sub>, RawError> {
    let mut subs = Vec::new();
    let mut pos = 4usize;
    while pos < payload.len() {
        let rest = &payload[pos..];
        if rest.iter().all(|&b| b == 0) {
            break; // writers that pad the list with zeros
        }
        let at = base + pos as u64;
        let Some(h) = rest.get(..8) else {
            return Err(damaged("LIST sub-chunk header (truncated)", at));
        };
        let id = [h[0], h[1], h[2], h[3]];
        if !valid_id(&id) {
            return Err(damaged(format!("LIST sub-chunk id \"{}\"", show_id(&id)), at));
        }
        let size = u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as usize;
        let data = pos + 8..pos + 8 + size;
        if data.end > payload.len() {
            return Err(damaged(format!("LIST sub-chunk \"{}\" size (past the end of the list)", show_id(&id)), at + 4));
        }
        let end = (data.end + size % 2).min(payload.len());
        subs.push(Sub { id, data, end });
        pos = end;
    }
    Ok(subs)
}

fn is_id3(id: &[u8; 4]) -> bool {
    id == b"id3 " || id == b"ID3 "
}

fn read_layout<R: Read + Seek>(r: &mut R, want: Container) -> Result<Layout, RawError> {
    let form = read_form(r)?;
    if form.container != want {
        return Err(RawError::Unknown);
    }
    let tag = form.tag_name();
    let mut items = Vec::new();
    let mut audio = None;
    for c in &form.chunks {
        match &c.id {
            id if id == form.audio_id() => {
                if audio.is_some() {
                    return Err(RawError::Unsupported(format!("two \"{}\" chunks", show_id(id))));
                }
                audio = Some(hash_range(r, c.payload_at(), c.avail)?);
            }
            b"JUNK" | b"PAD " | b"FLLR" => {}
            id if is_id3(id) => {
                let payload = read_vec(r, c.payload_at(), c.size)?;
                let t = id3v2::parse(&payload).map_err(|e| rebase(e, c.payload_at()))?;
                items.extend(id3v2::items(&t));
            }
            b"LIST" if !form.big_endian => {
                let payload = read_vec(r, c.payload_at(), c.size)?;
                if payload.starts_with(b"INFO") {
                    for s in list_subs(&payload, c.payload_at())? {
                        let key = String::from_utf8_lossy(&s.id).into_owned();
                        items.push(Item { tag: "RIFF-INFO", key, bytes: payload[s.data].to_vec() });
                    }
                } else {
                    items.push(Item { tag, key: "LIST".into(), bytes: payload });
                }
            }
            id => {
                let key = String::from_utf8_lossy(id).into_owned();
                items.push(Item { tag, key, bytes: read_vec(r, c.payload_at(), c.size)? });
            }
        }
    }
    let audio = audio.ok_or_else(|| damaged(format!("{tag} file without a \"{}\" chunk", show_id(form.audio_id())), 12))?;
    Ok(Layout { container: want, items, audio })
}

/// Reads a WAV file: chunks as "RIFF" items (LIST/INFO sub-chunks as "RIFF-INFO", the id3 chunk
/// as "ID3v2" frames), the "data" payload as the audio.
pub fn read_wav_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    read_layout(r, Container::Wav)
}

/// Reads an AIFF/AIFC file: chunks as "AIFF" items (the ID3 chunk as "ID3v2" frames), the
/// "SSND" payload as the audio.
pub fn read_aiff_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    read_layout(r, Container::Aiff)
}

/// A whole chunk (header, payload, pad byte) with a new payload.
fn chunk_bytes(form: &Form, id: &[u8; 4], payload: &[u8]) -> Result<Vec<u8>, RawError> {
    let size = u32::try_from(payload.len()).map_err(|_| RawError::Unsupported("chunk larger than 4 GiB".into()))?;
    let mut out = Vec::with_capacity(payload.len() + 9);
    out.extend_from_slice(id);
    out.extend(form.size_bytes(size));
    out.extend_from_slice(payload);
    if payload.len() % 2 == 1 {
        out.push(0);
    }
    Ok(out)
}

/// The new LIST/INFO payload with the first IGNR set to `genre` (later IGNRs removed), or
/// `None` when the list has no IGNR or it already holds exactly these bytes.
fn info_with_genre(payload: &[u8], base: u64, genre: &str) -> Result<Option<Vec<u8>>, RawError> {
    if !payload.starts_with(b"INFO") {
        return Ok(None);
    }
    let subs = list_subs(payload, base)?;
    if !subs.iter().any(|s| &s.id == b"IGNR") {
        return Ok(None);
    }
    let mut value = genre.as_bytes().to_vec();
    value.push(0);
    let mut out = b"INFO".to_vec();
    let mut placed = false;
    let mut prev_end = 4;
    for s in &subs {
        if &s.id != b"IGNR" {
            out.extend_from_slice(&payload[prev_end..s.end]);
        } else if !placed {
            out.extend_from_slice(&payload[prev_end..s.data.start - 8]);
            out.extend_from_slice(b"IGNR");
            out.extend((value.len() as u32).to_le_bytes());
            out.extend_from_slice(&value);
            if value.len() % 2 == 1 {
                out.push(0);
            }
            placed = true;
        }
        prev_end = s.end;
    }
    out.extend_from_slice(&payload[prev_end..]);
    Ok((out != payload).then_some(out))
}

fn splice_form<R: Read + Seek>(
    r: &mut R,
    want: Container,
    edits: &[FieldEdit],
    info_genre: Option<&str>,
    default_major: u8,
    new_id3_id: &[u8; 4],
) -> Result<Vec<Piece>, RawError> {
    id3v2::check_edits(edits)?;
    let form = read_form(r)?;
    if form.container != want {
        return Err(RawError::Unknown);
    }
    let mut replaced: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut appended = None;

    let id3: Vec<usize> = (0..form.chunks.len()).filter(|&i| is_id3(&form.chunks[i].id)).collect();
    match id3[..] {
        [i] => {
            let c = &form.chunks[i];
            let payload = read_vec(r, c.payload_at(), c.size)?;
            let old = id3v2::parse(&payload).map_err(|e| rebase(e, c.payload_at()))?;
            let new = id3v2::splice(&old, edits);
            if new.frames != old.frames {
                if !id3v2::fits(&new) {
                    return Err(RawError::Unsupported("ID3v2 tag larger than 256 MiB".into()));
                }
                replaced.push((
                    i,
                    // Keep the chunk's size when the frames fit: nothing after it moves.
                    chunk_bytes(&form, &c.id, &id3v2::render(&new, Some(payload.len())))?,
                ));
            }
        }
        [] => {
            let new = id3v2::splice(&id3v2::new_tag(default_major), edits);
            if !new.frames.is_empty() {
                if !matches!(default_major, 3 | 4) {
                    return Err(RawError::Unsupported(format!("writing ID3v2.{default_major}")));
                }
                appended = Some(chunk_bytes(&form, new_id3_id, &id3v2::render(&new, None))?);
            }
        }
        _ => return Err(RawError::Unsupported("more than one ID3 chunk".into())),
    }

    if let Some(genre) = info_genre.filter(|_| !form.big_endian) {
        for (i, c) in form.chunks.iter().enumerate().filter(|(_, c)| &c.id == b"LIST") {
            let payload = read_vec(r, c.payload_at(), c.size)?;
            if let Some(p) = info_with_genre(&payload, c.payload_at(), genre)? {
                replaced.push((i, chunk_bytes(&form, b"LIST", &p)?));
                break;
            }
            if payload.starts_with(b"INFO") && list_subs(&payload, 0)?.iter().any(|s| &s.id == b"IGNR") {
                break; // the genre is already there: nothing to change
            }
        }
    }

    if replaced.is_empty() && appended.is_none() {
        return Ok(identity(form.file_len));
    }
    // Only a form whose size matches its chunks is rewritten (see the module docs).
    let chunks_end = form.chunks.last().map_or(12, Chunk::end) + form.zero_tail;
    let missing_pad = form.chunks.last().is_some_and(|c| c.size % 2 == 1 && !c.pad);
    let size_ok = form.declared_end == chunks_end
        || (form.declared_end + 1 == chunks_end && form.chunks.last().is_some_and(|c| c.pad))
        || (form.declared_end == chunks_end + 1 && missing_pad);
    if form.truncated || !size_ok {
        return Err(RawError::Unsupported(format!(
            "{} size does not match the file (truncated or streamed file): not rewritten",
            form.tag_name()
        )));
    }

    let mut body: Vec<Piece> = Vec::new();
    for (i, c) in form.chunks.iter().enumerate() {
        match replaced.iter().find(|(j, _)| *j == i) {
            Some((_, bytes)) => push_piece(&mut body, Piece::Bytes(bytes.clone())),
            None => push_piece(&mut body, Piece::Copy { offset: c.at, len: c.end() - c.at }),
        }
    }
    if let Some(bytes) = appended {
        if missing_pad {
            push_piece(&mut body, Piece::Bytes(vec![0]));
        }
        push_piece(&mut body, Piece::Bytes(bytes));
    }
    let tail = chunks_end - form.zero_tail;
    push_piece(&mut body, Piece::Copy { offset: tail, len: form.zero_tail });
    let size = u32::try_from(4 + super::util::pieces_len(&body))
        .map_err(|_| RawError::Unsupported(format!("{} larger than 4 GiB", form.tag_name())))?;
    let mut head = form.head.to_vec();
    head[4..8].copy_from_slice(&form.size_bytes(size));
    let mut pieces = vec![Piece::Bytes(head)];
    for p in body {
        push_piece(&mut pieces, p);
    }
    Ok(pieces)
}

/// The new WAV file after applying ID3v2 `id3_edits` to the id3 chunk (one is added at the end
/// when there is none and an edit sets something) and, when `info_genre` is given and the file
/// has a LIST/INFO "IGNR", setting it (UTF-8, NUL-terminated, padded to even; later IGNRs
/// removed; no IGNR is ever added). The RIFF size is updated; every other chunk is copied.
pub fn splice_wav<R: Read + Seek>(
    r: &mut R,
    id3_edits: &[FieldEdit],
    info_genre: Option<&str>,
    default_major: u8,
) -> Result<Vec<Piece>, RawError> {
    splice_form(r, Container::Wav, id3_edits, info_genre, default_major, b"id3 ")
}

/// The new AIFF file after applying ID3v2 `id3_edits` to the ID3 chunk (added at the end when
/// there is none and an edit sets something). The FORM size is updated; every other chunk is
/// copied.
pub fn splice_aiff<R: Read + Seek>(r: &mut R, id3_edits: &[FieldEdit], default_major: u8) -> Result<Vec<Piece>, RawError> {
    splice_form(r, Container::Aiff, id3_edits, None, default_major, b"ID3 ")
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::Cursor;

    fn wav(bytes: &[u8]) -> Result<Layout, RawError> {
        read_wav_layout(&mut Cursor::new(bytes))
    }
    fn aiff(bytes: &[u8]) -> Result<Layout, RawError> {
        read_aiff_layout(&mut Cursor::new(bytes))
    }
    fn keys(l: &Layout) -> Vec<String> {
        l.items.iter().map(|i| format!("{}:{}", i.tag, i.key)).collect()
    }
    fn size_field(file: &[u8], big_endian: bool) -> u32 {
        let b = [file[4], file[5], file[6], file[7]];
        if big_endian { u32::from_be_bytes(b) } else { u32::from_le_bytes(b) }
    }

    #[test]
    fn reads_wav_chunks() {
        let file = rich_wav();
        let l = wav(&file).unwrap();
        assert_eq!(l.container, Container::Wav);
        assert_eq!(l.audio.sha256, <[u8; 32]>::from(Sha256::digest(fake_audio(1001, 3))));
        let k = keys(&l);
        assert_eq!(k[..5], ["RIFF:fmt ", "RIFF-INFO:INAM", "RIFF-INFO:IGNR", "RIFF-INFO:ISFT", "RIFF:bext"]);
        assert_eq!(k.len(), 5 + 1 + rich_frames(3).len(), "the ID3 chunk's version and frames");
        assert_eq!(l.items[2].bytes, b"Rock\0");
        assert_eq!(l.items[4].bytes, b"odd-7by");
        assert!(aiff(&file).is_err());
    }

    #[test]
    fn splices_wav_id3_and_info_genre() {
        let file = rich_wav();
        let old = wav(&file).unwrap();
        let pieces = splice_wav(&mut Cursor::new(&file), &edits(3), Some("Jazz; Blues"), 4).unwrap();
        let out = apply(&file, &pieces);
        let new = wav(&out).unwrap();
        assert_eq!(new.audio, old.audio);
        assert_kept(&old.items, &new.items, &[EDITED, &["IGNR"]].concat());
        let ignr = new.items.iter().find(|i| i.key == "IGNR").unwrap();
        assert_eq!(ignr.bytes, b"Jazz; Blues\0");
        assert_eq!(keys(&new).iter().position(|k| k == "RIFF-INFO:IGNR"), Some(2));
        assert_eq!(size_field(&out, false) as usize, out.len() - 8);
        // The id3 chunk kept its size (the tag fits in its padding): only IGNR grew.
        assert_eq!(out.len(), file.len() + 6); // "Rock\0"+pad -> "Jazz; Blues\0"
        // Genre only, already there: nothing changes; no IGNR: none is added.
        assert_eq!(
            splice_wav(&mut Cursor::new(&out), &[], Some("Jazz; Blues"), 4).unwrap(),
            [Piece::Copy { offset: 0, len: out.len() as u64 }]
        );
        let no_info = form(false, &[chunk(false, b"fmt ", &[0; 16]), chunk(false, b"data", &[1, 2, 3])]);
        let p = splice_wav(&mut Cursor::new(&no_info), &[], Some("Jazz"), 4).unwrap();
        assert_eq!(p, [Piece::Copy { offset: 0, len: no_info.len() as u64 }]);
        // Two IGNRs: the first set, the second removed.
        let info = [&b"INFO"[..], &chunk(false, b"IGNR", b"A\0"), &chunk(false, b"INAM", b"N\0"), &chunk(false, b"IGNR", b"B\0")].concat();
        let f = form(false, &[chunk(false, b"LIST", &info), chunk(false, b"data", &[1, 2, 3])]);
        let out = apply(&f, &splice_wav(&mut Cursor::new(&f), &[], Some("Jazz"), 4).unwrap());
        assert_eq!(keys(&wav(&out).unwrap()), ["RIFF-INFO:IGNR", "RIFF-INFO:INAM"]);
        assert_eq!(wav(&out).unwrap().items[0].bytes, b"Jazz\0");
    }

    #[test]
    fn adds_an_id3_chunk_when_there_is_none() {
        // The last chunk is odd-sized and its pad byte is missing at the end of the file.
        let mut file = form(false, &[chunk(false, b"fmt ", &[0; 16]), chunk(false, b"data", &[1, 2, 3])]);
        file.pop();
        let old = wav(&file).unwrap();
        let remove = [FieldEdit { key: "TCON".into(), values: None }];
        assert_eq!(splice_wav(&mut Cursor::new(&file), &remove, None, 4).unwrap(), [Piece::Copy { offset: 0, len: file.len() as u64 }]);
        let out = apply(&file, &splice_wav(&mut Cursor::new(&file), &edits(4), None, 4).unwrap());
        assert_eq!(&out[file.len()..file.len() + 5], b"\0id3 ", "pad byte, then the new chunk");
        assert_eq!(size_field(&out, false) as usize, out.len() - 8);
        let new = wav(&out).unwrap();
        assert_eq!(new.audio, old.audio);
        assert_kept(&old.items, &new.items, EDITED);
        assert_eq!(new.items.len(), old.items.len() + 5, "the new tag's version and four frames");
        // AIFF: an "ID3 " chunk.
        let file = form(true, &[chunk(true, b"COMM", &[0; 18]), chunk(true, b"SSND", &[0; 12])]);
        let out = apply(&file, &splice_aiff(&mut Cursor::new(&file), &edits(3), 3).unwrap());
        assert_eq!(&out[file.len()..file.len() + 4], b"ID3 ");
        assert_eq!(id3v2::parse(&out[file.len() + 8..]).unwrap().major, 3);
        assert_eq!(size_field(&out, true) as usize, out.len() - 8);
    }

    #[test]
    fn reads_and_splices_aiff() {
        let file = rich_aiff();
        let old = aiff(&file).unwrap();
        assert_eq!(old.audio.len, 1009);
        assert_eq!(keys(&old)[..2], ["AIFF:COMM", "AIFF:NAME"]);
        let out = apply(&file, &splice_aiff(&mut Cursor::new(&file), &edits(4), 4).unwrap());
        assert_eq!(out.len(), file.len(), "the tag fits in its padding");
        let new = aiff(&out).unwrap();
        assert_eq!(new.audio, old.audio);
        assert_kept(&old.items, &new.items, EDITED);
        // A growing tag moves nothing but the chunks after it, and fixes the FORM size.
        let big = [FieldEdit { key: "TXXX:BIG".into(), values: Some(vec!["x".repeat(3001)]) }];
        let out = apply(&file, &splice_aiff(&mut Cursor::new(&file), &big, 4).unwrap());
        assert_eq!(size_field(&out, true) as usize, out.len() - 8);
        assert_kept(&old.items, &aiff(&out).unwrap().items, &["TXXX:BIG"]);
    }

    /// Audacity's AIFF/AIFC files (their ID3v2.4 tag has a CRC): CPython's pluck files when
    /// this machine has them, and always files built the same way around the same tag.
    #[test]
    fn audacity_files_with_a_crc() {
        let real = pluck_files();
        if let Some((_, bytes)) = real.first() {
            let at = bytes.windows(4).rposition(|w| w == b"ID3 ").expect("an ID3 chunk") + 8;
            assert_eq!(&bytes[at..at + AUDACITY_ID3.len()], AUDACITY_ID3, "the fixture is the real tag");
        }
        let fixtures = [audacity_aiff(false), audacity_aiff(true)];
        let files: Vec<&[u8]> = real.iter().map(|(_, b)| &b[..]).chain(fixtures.iter().map(|f| &f[..])).collect();
        for file in files {
            let old = aiff(file).unwrap();
            let id3: Vec<&str> = old.items.iter().filter(|i| i.tag == "ID3v2").map(|i| i.key.as_str()).collect();
            assert_eq!(id3, [id3v2::VERSION_KEY, "TALB", "TIT2", "TDRC", "TPE1", "COMM"]);
            let chunks: Vec<String> = keys(&old).into_iter().filter(|k| k.starts_with("AIFF:") && k != "AIFF:FVER").collect();
            assert_eq!(chunks, ["AIFF:COMM", "AIFF:NAME", "AIFF:AUTH", "AIFF:ANNO"]);
            // The stored CRC is the CRC of the frames (zlib's value, computed in Python).
            let at = file.windows(4).rposition(|w| w == b"ID3 ").unwrap() + 8;
            let tag = id3v2::parse(&file[at..]).unwrap();
            assert_eq!(id3v2::stored_crc(&tag), Some(0x57AF_D261));
            assert_eq!(id3v2::crc32(&file[at + 22..at + tag.total_len]), 0x57AF_D261);

            let out = apply(file, &splice_aiff(&mut Cursor::new(file), &edits(4), 4).unwrap());
            let new = aiff(&out).unwrap();
            assert_eq!(new.audio, old.audio);
            assert_kept(&old.items, &new.items, EDITED);
            assert_eq!(size_field(&out, true) as usize, out.len() - 8);
            // The new tag: the same extended header but its CRC, which covers frames and padding.
            let at = out.windows(4).rposition(|w| w == b"ID3 ").unwrap() + 8;
            let back = id3v2::parse(&out[at..]).unwrap();
            assert!(back.padding_len > 0);
            assert_eq!(back.ext_header.as_deref().map(|e| &e[..7]), Some(&AUDACITY_ID3[10..17]));
            assert_eq!(id3v2::stored_crc(&back), Some(id3v2::crc32(&out[at + 22..at + back.total_len])));
        }
    }

    #[test]
    fn size_edge_cases() {
        let fmt = chunk(false, b"fmt ", &[0; 16]);
        let data = chunk(false, b"data", &[7; 100]);
        // RF64, RIFX, not a RIFF at all.
        let mut rf64 = form(false, &[fmt.clone(), data.clone()]);
        rf64[..4].copy_from_slice(b"RF64");
        assert!(matches!(wav(&rf64), Err(RawError::Unsupported(_))));
        assert!(matches!(wav(b"OggS and more bytes"), Err(RawError::Unknown)));
        // A chunk other than data past the end of the file: damaged at its size field.
        let mut f = form(false, &[fmt.clone(), data.clone(), chunk(false, b"bext", &[1; 20])]);
        f.truncate(f.len() - 5);
        assert!(matches!(wav(&f), Err(RawError::Damaged { offset, .. }) if offset == 12 + 24 + 108 + 4));
        // RIFF size smaller than its chunks, or bytes after the form.
        let mut f = form(false, &[fmt.clone(), data.clone()]);
        f[4] -= 10;
        assert!(matches!(wav(&f), Err(RawError::Damaged { offset: 4, .. })));
        let mut f = form(false, &[fmt.clone(), data.clone()]);
        f.extend_from_slice(b"ID3\x03\x00");
        assert!(matches!(wav(&f), Err(RawError::Damaged { .. })));
        // RIFF size larger than the file, data truncated: read (audio = what is there), never written.
        let mut f = form(false, &[fmt.clone(), data.clone()]);
        f.truncate(f.len() - 40);
        let l = wav(&f).unwrap();
        assert_eq!(l.audio.len, 60);
        assert!(matches!(splice_wav(&mut Cursor::new(&f), &edits(4), None, 4), Err(RawError::Unsupported(_))));
        let mut f = form(false, &[fmt.clone(), data.clone()]);
        f[4..8].copy_from_slice(&u32::MAX.to_le_bytes()); // streaming writer
        assert_eq!(wav(&f).unwrap().audio.len, 100);
        assert!(matches!(splice_wav(&mut Cursor::new(&f), &edits(4), None, 4), Err(RawError::Unsupported(_))));
        // A RIFF size that leaves out the last pad byte is fine, and so is writing it.
        let mut f = form(false, &[fmt.clone(), chunk(false, b"data", &[7; 99])]);
        let n = size_field(&f, false) - 1;
        f[4..8].copy_from_slice(&n.to_le_bytes());
        let old = wav(&f).unwrap();
        let out = apply(&f, &splice_wav(&mut Cursor::new(&f), &edits(4), None, 4).unwrap());
        assert_eq!(wav(&out).unwrap().audio, old.audio);
        // Zeros padding the form are no damage, and stay at its end; zeros then junk are.
        let mut f = form(false, &[fmt.clone(), data.clone()]);
        let n = size_field(&f, false) + 20;
        f[4..8].copy_from_slice(&n.to_le_bytes());
        f.extend_from_slice(&[0; 20]);
        let old = wav(&f).unwrap();
        let out = apply(&f, &splice_wav(&mut Cursor::new(&f), &edits(4), None, 4).unwrap());
        assert_eq!(out[out.len() - 20..], [0; 20]);
        assert_eq!(size_field(&out, false) as usize, out.len() - 8);
        assert_kept(&old.items, &wav(&out).unwrap().items, EDITED);
        let n = f.len();
        f[n - 3] = 1;
        assert!(matches!(wav(&f), Err(RawError::Damaged { offset, .. }) if offset == n as u64 - 20));
        // No data chunk; two data chunks; two id3 chunks.
        assert!(matches!(wav(&form(false, std::slice::from_ref(&fmt))), Err(RawError::Damaged { .. })));
        assert!(matches!(wav(&form(false, &[data.clone(), data.clone()])), Err(RawError::Unsupported(_))));
        let id3 = chunk(false, b"id3 ", &rich_tag(4));
        let two = form(false, &[data.clone(), id3.clone(), id3]);
        assert!(matches!(splice_wav(&mut Cursor::new(&two), &edits(4), None, 4), Err(RawError::Unsupported(_))));
        // A damaged ID3 chunk: the offset is in the file.
        let mut tag = rich_tag(4);
        tag[10] = 0;
        let f = form(false, &[data.clone(), chunk(false, b"id3 ", &tag)]);
        assert!(matches!(wav(&f), Err(RawError::Damaged { offset, .. }) if offset == 12 + 108 + 8 + 10));
    }

    #[test]
    fn mutations_never_panic_and_splices_keep_the_rest() {
        let bases = [rich_wav(), rich_aiff()];
        let mut rng = Lcg(0xA1FF);
        let mut checked = 0;
        for i in 0..3000 {
            let mut data = bases[i % 2].clone();
            rng.mutate(&mut data);
            let mut cur = Cursor::new(&data);
            let (read, spliced) = if i % 2 == 0 {
                (read_wav_layout(&mut cur), splice_wav(&mut cur, &edits(3), Some("Jazz"), 4))
            } else {
                (read_aiff_layout(&mut cur), splice_aiff(&mut cur, &edits(4), 4))
            };
            let (Ok(old), Ok(pieces)) = (read, spliced) else {
                continue;
            };
            let out = apply(&data, &pieces);
            let new = if i % 2 == 0 { wav(&out) } else { aiff(&out) }.unwrap();
            assert_eq!(new.audio, old.audio);
            assert_kept(&old.items, &new.items, &[EDITED, &["IGNR"]].concat());
            checked += 1;
        }
        assert!(checked > 500, "only {checked} files checked");
    }
}
