//! MP3 / ADTS AAC files: a leading ID3v2 tag, the audio frames, then trailing tags.
//!
//! Layout rules (what taggers write in practice, as mutagen and foobar2000 read it):
//! - At offset 0 an optional ID3v2 tag. A second ID3v2 tag right after it (some taggers
//!   prepend instead of replacing) is refused: which one a player shows is a guess.
//! - From the end of the file, in this order: ID3v1 (the last 128 bytes, "TAG"), an extended
//!   "TAG+" block (227 bytes) just before it, then any number of Lyrics3 (v2: "LYRICS200"
//!   end marker with a 6-digit size; v1: "LYRICSEND", at most 5100 bytes after "LYRICSBEGIN")
//!   and APEv1/v2 tags. An ID3v2 tag appended at the end (footer "3DI") is refused.
//! - The audio is every byte between the leading tag and the first trailing tag. The audio
//!   frames are not checked: the reader's job is to see that a write moved no audio byte.
//! - Writing replaces only the leading ID3v2 tag; everything after it is copied as is.

use std::io::{Read, Seek};

use super::util::{damaged, hash_range, identity, push_piece, read_vec, stream_len};
use super::*;
use super::{ape, id3v2};

/// Reads the leading ID3v2 tag, if any.
fn leading_tag<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<Option<id3v2::Tag>, RawError> {
    if file_len < 10 {
        return Ok(None);
    }
    let mut head = [0u8; 10];
    read_at(r, 0, &mut head)?;
    if &head[..3] != b"ID3" {
        return Ok(None);
    }
    // Read what the header claims (at most the file); `parse` judges the size itself.
    let size = head[6..10].iter().fold(0u64, |acc, &b| (acc << 7) | u64::from(b & 0x7F));
    let footer = if head[3] == 4 && head[5] & 0x10 != 0 { 10 } else { 0 };
    let bytes = read_vec(r, 0, (10 + size + footer).min(file_len))?;
    id3v2::parse(&bytes).map(Some)
}

/// Refuses a second ID3v2 tag right after the first.
fn check_second_tag<R: Read + Seek>(r: &mut R, at: u64, file_len: u64) -> Result<(), RawError> {
    if at > 0 && at + 10 <= file_len {
        let mut head = [0u8; 10];
        read_at(r, at, &mut head)?;
        if &head[..3] == b"ID3" && head[3] < 0xFF && head[6..10].iter().all(|&b| b < 0x80) {
            return Err(RawError::Unsupported(format!("a second ID3v2 tag at byte {at}")));
        }
    }
    Ok(())
}

fn read_small<R: Read + Seek, const N: usize>(r: &mut R, at: u64) -> Result<[u8; N], RawError> {
    let mut b = [0u8; N];
    read_at(r, at, &mut b)?;
    Ok(b)
}

/// The trailing tags (in file order) and where the audio ends.
fn trailing_tags<R: Read + Seek>(r: &mut R, start: u64, file_len: u64) -> Result<(Vec<Item>, u64), RawError> {
    let mut end = file_len;
    let mut found: Vec<Item> = Vec::new(); // last first
    let ape_at_end = end - start >= 32 && &read_small::<R, 8>(r, end - 32)? == b"APETAGEX";
    if !ape_at_end && end - start >= 128 && &read_small::<R, 3>(r, end - 128)? == b"TAG" {
        found.push(Item { tag: "ID3v1", key: "ID3v1".into(), bytes: read_vec(r, end - 128, 128)? });
        end -= 128;
        if end - start >= 227 && &read_small::<R, 4>(r, end - 227)? == b"TAG+" {
            found.push(Item { tag: "ID3v1", key: "TAG+".into(), bytes: read_vec(r, end - 227, 227)? });
            end -= 227;
        }
    }
    loop {
        let room = end - start;
        if room >= 10 {
            let foot = read_small::<R, 10>(r, end - 10)?;
            if &foot[..3] == b"3DI" && foot[3] == 4 {
                return Err(RawError::Unsupported(format!("an ID3v2 tag at the end of the file (footer at byte {})", end - 10)));
            }
        }
        if let Some(tag) = ape::find(r, end)? {
            if tag.start < start {
                return Err(damaged("APE tag (overlaps the ID3v2 tag)", end - 32));
            }
            found.extend(tag.items.into_iter().rev());
            end = tag.start;
            continue;
        }
        if room >= 15 {
            let marker = read_small::<R, 15>(r, end - 15)?;
            if &marker[6..] == b"LYRICS200" {
                let digits = &marker[..6];
                let size =
                    std::str::from_utf8(digits).ok().filter(|s| s.bytes().all(|b| b.is_ascii_digit())).and_then(|s| s.parse::<u64>().ok());
                let begin = size.and_then(|s| (end - 15).checked_sub(s)).filter(|&b| b >= start);
                let Some(begin) = begin else {
                    return Err(damaged("Lyrics3v2 size", end - 15));
                };
                let bytes = read_vec(r, begin, end - begin)?;
                if !bytes.starts_with(b"LYRICSBEGIN") {
                    return Err(damaged("Lyrics3v2 tag (no LYRICSBEGIN)", begin));
                }
                found.push(Item { tag: "Lyrics3", key: "Lyrics3v2".into(), bytes });
                end = begin;
                continue;
            }
            if &marker[6..] == b"LYRICSEND" {
                let from = end.saturating_sub(5100 + 20).max(start);
                let window = read_vec(r, from, end - from)?;
                let Some(i) = window.windows(11).rposition(|w| w == b"LYRICSBEGIN") else {
                    return Err(damaged("Lyrics3v1 tag (no LYRICSBEGIN)", end - 9));
                };
                found.push(Item { tag: "Lyrics3", key: "Lyrics3v1".into(), bytes: window[i..].to_vec() });
                end = from + i as u64;
                continue;
            }
        }
        break;
    }
    found.reverse();
    Ok((found, end))
}

/// Reads an MP3 / ADTS AAC file: the leading ID3v2 frames, the trailing tags, the audio digest.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let file_len = stream_len(r)?;
    let lead = leading_tag(r, file_len)?;
    let start = lead.as_ref().map_or(0, |t| t.total_len as u64);
    check_second_tag(r, start, file_len)?;
    let mut items = lead.as_ref().map(id3v2::items).unwrap_or_default();
    let (trailing, end) = trailing_tags(r, start, file_len)?;
    items.extend(trailing);
    let audio = hash_range(r, start, end - start)?;
    Ok(Layout { container: Container::Mpeg, items, audio })
}

/// The new file after applying ID3v2 `edits`: the spliced tag (kept at its old size when the
/// frames fit, so nothing else moves), then everything after the old tag copied. A file without
/// a tag gets a new v`default_major` tag, unless no edit sets anything (then nothing changes);
/// an edit that changes nothing gives pieces reproducing the file.
pub fn splice<R: Read + Seek>(r: &mut R, edits: &[FieldEdit], default_major: u8) -> Result<Vec<Piece>, RawError> {
    id3v2::check_edits(edits)?;
    let file_len = stream_len(r)?;
    let old = leading_tag(r, file_len)?;
    let old_len = old.as_ref().map_or(0, |t| t.total_len);
    check_second_tag(r, old_len as u64, file_len)?;
    let tag = match old {
        Some(t) => t,
        None if matches!(default_major, 3 | 4) => id3v2::new_tag(default_major),
        None => {
            return Err(RawError::Unsupported(format!("writing ID3v2.{default_major}")));
        }
    };
    let new = id3v2::splice(&tag, edits);
    if new.frames == tag.frames {
        return Ok(identity(file_len));
    }
    if !id3v2::fits(&new) {
        return Err(RawError::Unsupported("ID3v2 tag larger than 256 MiB".into()));
    }
    let mut pieces = vec![Piece::Bytes(id3v2::render(&new, (old_len > 0).then_some(old_len)))];
    push_piece(&mut pieces, Piece::Copy { offset: old_len as u64, len: file_len - old_len as u64 });
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::util::pieces_len;
    use super::*;
    use sha2::{Digest, Sha256};
    use std::io::Cursor;

    fn layout(bytes: &[u8]) -> Result<Layout, RawError> {
        read_layout(&mut Cursor::new(bytes))
    }

    #[test]
    fn reads_leading_and_trailing_tags() {
        let file = rich_mp3();
        let l = layout(&file).unwrap();
        let tag_len = rich_tag(4).len();
        let audio = &file[tag_len..tag_len + 3000];
        assert_eq!(l.audio.len, 3000);
        assert_eq!(l.audio.sha256, <[u8; 32]>::from(Sha256::digest(audio)));
        let keys: Vec<(&str, &str)> = l.items.iter().map(|i| (i.tag, i.key.as_str())).collect();
        assert_eq!(keys[0], ("ID3v2", id3v2::VERSION_KEY));
        let n = rich_frames(4).len() + 1;
        assert_eq!(
            keys[n..],
            [("APE", "Title"), ("APE", "Cover Art (Front)"), ("Lyrics3", "Lyrics3v2"), ("ID3v1", "TAG+"), ("ID3v1", "ID3v1")]
        );
        assert_eq!(l.items[n + 2].bytes, lyrics3v2());
        assert!(keys[..n].iter().all(|(t, _)| *t == "ID3v2"));
        // No tag at all: everything is audio.
        let bare = fake_audio(500, 1);
        let l = layout(&bare).unwrap();
        assert_eq!((l.items.len(), l.audio.len), (0, 500));
        // Lyrics3v1 (needs ID3v1) and APEv1.
        let v1 = [
            fake_audio(300, 2),
            ape_tag(&[("A", 0, b"b")], false),
            b"LYRICSBEGINhi thereLYRICSEND".to_vec(),
            id3v1_with_plus()[227..].to_vec(),
        ]
        .concat();
        let l = layout(&v1).unwrap();
        let keys: Vec<&str> = l.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["A", "Lyrics3v1", "ID3v1"]);
        assert_eq!(l.audio.len, 300);
    }

    #[test]
    fn refuses_what_it_cannot_handle() {
        let tag = rich_tag(4);
        let audio = fake_audio(1000, 3);
        // Two leading tags.
        let two = [tag.clone(), rich_tag(3), audio.clone()].concat();
        assert!(matches!(layout(&two), Err(RawError::Unsupported(_))));
        assert!(matches!(splice(&mut Cursor::new(&two), &edits(4), 4), Err(RawError::Unsupported(_))));
        // An ID3v2 tag at the end (with footer).
        let mut end = tag_bytes(4, 0x10, &rich_content(4), 0);
        end.extend_from_slice(b"3DI");
        end.extend_from_within(3..10);
        let appended = [audio.clone(), end, id3v1_with_plus()].concat();
        assert!(matches!(layout(&appended), Err(RawError::Unsupported(m)) if m.contains("end of the file")));
        // A tag size past the end of the file; ID3v2.2.
        assert!(matches!(layout(&tag[..tag.len() - 400]), Err(RawError::Damaged { offset: 6, .. })));
        let v22 = [tag_bytes(2, 0, b"TT2\x00\x00\x02\x00a", 0), audio.clone()].concat();
        assert!(matches!(layout(&v22), Err(RawError::Unsupported(_))));
        // A damaged frame id inside the leading tag: offset in the file.
        let mut bad = [tag.clone(), audio].concat();
        let at = 10 + frame(4, b"TIT2", [0, 0], &rich_frames(4)[0].1).len();
        bad[at] = 0;
        bad[at + 1] = 0;
        assert!(matches!(layout(&bad), Err(RawError::Damaged { offset, .. }) if offset == at as u64));
        assert!(matches!(splice(&mut Cursor::new(&bad), &edits(4), 4), Err(RawError::Damaged { .. })));
    }

    #[test]
    fn splice_rewrites_only_the_tag() {
        let file = rich_mp3();
        let old = layout(&file).unwrap();
        let pieces = splice(&mut Cursor::new(&file), &edits(4), 4).unwrap();
        let tag_len = rich_tag(4).len() as u64;
        // The tag kept its size: the rest of the file is one copy at the same place.
        assert!(
            matches!(&pieces[..], [Piece::Bytes(b), Piece::Copy { offset, len }] if b.len() as u64 == tag_len && *offset == tag_len && offset + len == file.len() as u64)
        );
        let out = apply(&file, &pieces);
        assert_eq!(out.len(), file.len());
        let new = layout(&out).unwrap();
        assert_eq!(new.audio, old.audio);
        assert_kept(&old.items, &new.items, EDITED);
        // Nothing to change: the file as it is.
        let none = [FieldEdit { key: "TXXX:absent".into(), values: None }];
        assert_eq!(splice(&mut Cursor::new(&file), &none, 4).unwrap(), [Piece::Copy { offset: 0, len: file.len() as u64 }]);
        // A bad edit key is refused.
        let bad = [FieldEdit { key: "GENRE".into(), values: Some(vec!["x".into()]) }];
        assert!(matches!(splice(&mut Cursor::new(&file), &bad, 4), Err(RawError::Unsupported(_))));
    }

    #[test]
    fn splice_into_a_file_without_a_tag() {
        let file = [fake_audio(2000, 5), id3v1_with_plus()].concat();
        let remove = [FieldEdit { key: "TCON".into(), values: None }];
        assert_eq!(splice(&mut Cursor::new(&file), &remove, 4).unwrap(), [Piece::Copy { offset: 0, len: file.len() as u64 }]);
        for major in [3, 4] {
            let pieces = splice(&mut Cursor::new(&file), &edits(major), major).unwrap();
            let out = apply(&file, &pieces);
            assert_eq!(pieces_len(&pieces), out.len() as u64);
            let tag = id3v2::parse(&out).unwrap();
            assert_eq!((tag.major, tag.padding_len), (major, id3v2::DEFAULT_PADDING));
            let keys: Vec<String> = tag.frames.iter().map(id3v2::item_key).collect();
            assert_eq!(keys, ["TCON", "TXXX:mood", "TMOO", "TXXX:MELOTAG_SCORES"]);
            assert_eq!(out[tag.total_len..], file[..]);
            let (old, new) = (layout(&file).unwrap(), layout(&out).unwrap());
            assert_eq!(new.audio, old.audio);
            assert_kept(&old.items, &new.items, EDITED);
        }
    }

    /// Mutated files: no panic; whenever both the reading and the splice succeed, the written
    /// file reads back with every unchanged item and the same audio.
    #[test]
    fn mutations_never_panic_and_splices_keep_the_rest() {
        let bases = [rich_mp3(), [rich_tag(3), fake_audio(800, 9), id3v1_with_plus()].concat()];
        let mut rng = Lcg(0xC0FFEE);
        let mut checked = 0;
        for i in 0..3000 {
            let mut data = bases[i % 2].clone();
            rng.mutate(&mut data);
            let read = layout(&data);
            let Ok(pieces) = splice(&mut Cursor::new(&data), &edits(3 + (i % 2) as u8), 4) else {
                continue;
            };
            let out = apply(&data, &pieces);
            if let Ok(old) = read {
                let new = layout(&out).unwrap();
                assert_eq!(new.audio, old.audio);
                assert_kept(&old.items, &new.items, EDITED);
                checked += 1;
            }
        }
        assert!(checked > 500, "only {checked} files checked");
    }
}
