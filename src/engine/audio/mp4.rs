//! Encoder delay and padding of an MP4 audio track, which symphonia 0.6.1 parses (`elst`) or
//! exposes only as a raw tag (`iTunSMPB`) but never applies.
//!
//! A small box walker over untrusted files: it reads box headers and only the few small boxes it
//! needs (`mvhd`, `tkhd`, `mdhd`, `hdlr`, `elst`, `ilst/----`), seeks over everything else, never
//! reads more than [`MAX_READ`] bytes or visits more than [`MAX_BOXES`] boxes, and returns `None`
//! on anything odd.

use std::io::{Read, Seek, SeekFrom};

/// Total bytes the walker may read (headers included).
const MAX_READ: u64 = 1 << 20;
/// Boxes the walker may visit.
const MAX_BOXES: u32 = 20_000;
/// Edit list entries examined before giving up on finding a non-empty edit.
const MAX_EDITS: u32 = 64;
/// Largest `----` child (`mean`, `name`, `data`) read whole.
const MAX_TAG_BOX: u64 = 4096;
/// Nesting limit (moov/udta/meta/ilst/----/data is 6 deep).
const MAX_DEPTH: u32 = 8;

/// Where the playable audio lies in a track's stream of decoded samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Gapless {
    /// Samples of encoder delay to drop from the start (media time scale for an edit list,
    /// samples for iTunSMPB).
    pub priming: u64,
    /// Playable length after the priming, same unit as `priming`, if the file says.
    pub length: Option<u64>,
    /// How far `length` may be off because the edit list rounds it to the movie time scale.
    pub slack: u64,
    /// Whether the values come from iTunSMPB (sample units) rather than the edit list.
    pub from_itunsmpb: bool,
}

/// What the walker learned about one `trak`.
#[derive(Debug, Default)]
struct TrackInfo {
    id: Option<u32>,
    sound: bool,
    media_timescale: Option<u32>,
    /// First non-empty edit: (segment_duration in movie time scale, media_time).
    edit: Option<(u64, u64)>,
}

/// What the walker learned about the file.
#[derive(Debug, Default)]
struct MovieInfo {
    movie_timescale: Option<u32>,
    tracks: Vec<TrackInfo>,
    /// (priming, padding, length) from an iTunSMPB tag.
    smpb: Option<(u64, u64, u64)>,
}

/// Budgeted reader over a seekable byte source.
struct Walker<R> {
    r: R,
    read: u64,
    boxes: u32,
}

/// A box: its type, where its body starts and where it ends.
#[derive(Debug, Clone, Copy)]
struct BoxHeader {
    kind: [u8; 4],
    body: u64,
    end: u64,
}

impl<R: Read + Seek> Walker<R> {
    /// Reads exactly `n` bytes at `pos`, within the budget.
    fn read_at(&mut self, pos: u64, n: usize) -> Option<Vec<u8>> {
        self.read = self.read.checked_add(n as u64)?;
        if self.read > MAX_READ {
            return None;
        }
        self.r.seek(SeekFrom::Start(pos)).ok()?;
        let mut buf = vec![0u8; n];
        self.r.read_exact(&mut buf).ok()?;
        Some(buf)
    }

    /// The box starting at `pos` inside a parent ending at `end`; `None` if it does not fit.
    fn header(&mut self, pos: u64, end: u64) -> Option<BoxHeader> {
        self.boxes += 1;
        if self.boxes > MAX_BOXES || pos.checked_add(8)? > end {
            return None;
        }
        let h = self.read_at(pos, 8)?;
        let size = u64::from(be_u32(&h, 0)?);
        let kind: [u8; 4] = h.get(4..8)?.try_into().ok()?;
        let (size, hlen) = match size {
            0 => (end - pos, 8),
            1 => {
                let ext = self.read_at(pos + 8, 8)?;
                (be_u64(&ext, 0)?, 16)
            }
            s => (s, 8),
        };
        if size < hlen {
            return None;
        }
        let box_end = pos.checked_add(size)?;
        if box_end > end {
            return None;
        }
        Some(BoxHeader { kind, body: pos + hlen, end: box_end })
    }

    /// Reads a whole box body of at most `cap` bytes.
    fn body(&mut self, b: BoxHeader, cap: u64) -> Option<Vec<u8>> {
        let len = b.end - b.body;
        if len > cap {
            return None;
        }
        self.read_at(b.body, usize::try_from(len).ok()?)
    }

    /// Calls `f` on each child box of the span `[start, end)`; stops early when `f` says no.
    fn children(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Self, BoxHeader) -> Option<()>) -> Option<()> {
        let mut pos = start;
        while pos < end {
            let b = self.header(pos, end)?;
            f(self, b)?;
            pos = b.end;
        }
        Some(())
    }

    /// Finds `moov` at the top level and walks it.
    fn movie(&mut self, file_len: u64) -> Option<MovieInfo> {
        let mut pos = 0;
        while pos < file_len {
            let b = self.header(pos, file_len)?;
            if &b.kind == b"moov" {
                let mut info = MovieInfo::default();
                self.moov(b, &mut info)?;
                return Some(info);
            }
            pos = b.end;
        }
        None
    }

    fn moov(&mut self, moov: BoxHeader, info: &mut MovieInfo) -> Option<()> {
        self.children(moov.body, moov.end, |w, b| {
            match &b.kind {
                b"mvhd" => info.movie_timescale = w.timescale(b),
                b"trak" if info.tracks.len() < 256 => {
                    let mut t = TrackInfo::default();
                    w.trak(b, &mut t, 1)?;
                    info.tracks.push(t);
                }
                b"udta" => w.udta(b, info, 1)?,
                _ => {}
            }
            Some(())
        })
    }

    /// Walks a `trak` and the containers leading to the boxes it needs.
    fn trak(&mut self, parent: BoxHeader, t: &mut TrackInfo, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.children(parent.body, parent.end, |w, b| {
            match &b.kind {
                b"tkhd" => t.id = w.track_id(b),
                b"mdhd" => t.media_timescale = w.timescale(b),
                b"hdlr" => t.sound = w.handler(b).is_some_and(|h| &h == b"soun"),
                b"elst" => t.edit = w.first_edit(b),
                b"edts" | b"mdia" => w.trak(b, t, depth + 1)?,
                _ => {}
            }
            Some(())
        })
    }

    /// Walks `udta/meta/ilst` looking for the iTunSMPB freeform tag; a malformed tag is ignored.
    fn udta(&mut self, parent: BoxHeader, info: &mut MovieInfo, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.children(parent.body, parent.end, |w, b| {
            match &b.kind {
                b"meta" => {
                    // ISO `meta` is a full box (4 bytes of version/flags); QuickTime's is not.
                    let peek = w.read_at(b.body, 8.min(b.end - b.body) as usize)?;
                    let body = if peek.get(4..8).is_some_and(|k| k == b"hdlr" || k == b"ilst") { b.body } else { b.body + 4 };
                    let inner = BoxHeader { body, ..b };
                    if inner.body <= inner.end {
                        w.udta(inner, info, depth + 1)?;
                    }
                }
                b"ilst" => w.udta(b, info, depth + 1)?,
                b"----" if info.smpb.is_none() => info.smpb = w.freeform_smpb(b),
                _ => {}
            }
            Some(())
        })
    }

    /// The (priming, padding, length) of a `----` box if it is `com.apple.iTunes:iTunSMPB`.
    fn freeform_smpb(&mut self, parent: BoxHeader) -> Option<(u64, u64, u64)> {
        let (mut name, mut data) = (None, None);
        self.children(parent.body, parent.end, |w, b| {
            match &b.kind {
                // Both are full boxes; `data` has a further 4-byte locale before the value.
                b"name" => name = w.body(b, MAX_TAG_BOX).and_then(|v| v.get(4..).map(<[u8]>::to_vec)),
                b"data" => data = w.body(b, MAX_TAG_BOX).and_then(|v| v.get(8..).map(<[u8]>::to_vec)),
                _ => {}
            }
            Some(())
        })?;
        if !name?.eq_ignore_ascii_case(b"iTunSMPB") {
            return None;
        }
        parse_itunsmpb(std::str::from_utf8(&data?).ok()?)
    }

    /// `timescale` of an `mvhd` or `mdhd`.
    fn timescale(&mut self, b: BoxHeader) -> Option<u32> {
        let v = self.body(b, 256)?;
        let at = if *v.first()? == 1 { 20 } else { 12 };
        be_u32(&v, at).filter(|&t| t > 0)
    }

    /// `track_ID` of a `tkhd`.
    fn track_id(&mut self, b: BoxHeader) -> Option<u32> {
        let v = self.body(b, 256)?;
        let at = if *v.first()? == 1 { 20 } else { 12 };
        be_u32(&v, at)
    }

    /// `handler_type` of an `hdlr`.
    fn handler(&mut self, b: BoxHeader) -> Option<[u8; 4]> {
        let v = self.read_at(b.body, 12.min(b.end - b.body) as usize)?;
        v.get(8..12)?.try_into().ok()
    }

    /// First edit with a media time (not an empty edit): (segment_duration, media_time).
    fn first_edit(&mut self, b: BoxHeader) -> Option<(u64, u64)> {
        let head = self.read_at(b.body, 8.min(b.end - b.body) as usize)?;
        let version = *head.first()?;
        let count = be_u32(&head, 4)?;
        let entry = match version {
            0 => 12u64,
            1 => 20,
            _ => return None,
        };
        let mut pos = b.body + 8;
        for _ in 0..count.min(MAX_EDITS) {
            if pos.checked_add(entry)? > b.end {
                return None;
            }
            let e = self.read_at(pos, entry as usize)?;
            let (dur, time) = if version == 0 {
                (u64::from(be_u32(&e, 0)?), i64::from(be_u32(&e, 4)? as i32))
            } else {
                (be_u64(&e, 0)?, be_u64(&e, 8)? as i64)
            };
            match time {
                -1 => pos += entry,
                t if t >= 0 => return Some((dur, t as u64)),
                _ => return None,
            }
        }
        None
    }
}

/// Parses an iTunSMPB value (`" 00000000 00000840 000001CA 00000000000B1A36 ..."`, hex fields:
/// reserved, priming, padding, original length) into (priming, padding, length).
pub(crate) fn parse_itunsmpb(s: &str) -> Option<(u64, u64, u64)> {
    let mut f = s.split_whitespace().map(|x| u64::from_str_radix(x, 16).ok());
    let _reserved = f.next()??;
    let (priming, padding, length) = (f.next()??, f.next()??, f.next()??);
    Some((priming, padding, length))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// Gapless information for track `track_id` of an MP4 file read from `r` (`len` bytes long).
///
/// Priority: an edit list whose first non-empty edit skips samples (media_time > 0); else an
/// iTunSMPB tag; else an edit list starting at 0 (which may still give the true length).
pub(crate) fn read_gapless<R: Read + Seek>(r: R, len: u64, track_id: u32) -> Option<Gapless> {
    let mut w = Walker { r, read: 0, boxes: 0 };
    let info = w.movie(len)?;
    let track = info.tracks.iter().find(|t| t.id == Some(track_id))?;
    if !track.sound {
        return None;
    }
    let from_edit = match (track.edit, info.movie_timescale, track.media_timescale) {
        (Some((dur, time)), Some(movie), Some(media)) => {
            let (movie, media) = (u128::from(movie), u128::from(media));
            let length = (dur > 0).then(|| u64::try_from((u128::from(dur) * media * 2 + movie) / (2 * movie)).ok()).flatten();
            Some(Gapless { priming: time, length, slack: u64::try_from(media.div_ceil(movie)).ok()?, from_itunsmpb: false })
        }
        (Some((_, time)), _, _) => Some(Gapless { priming: time, length: None, slack: 0, from_itunsmpb: false }),
        _ => None,
    };
    let from_smpb = info.smpb.map(|(priming, _padding, length)| Gapless {
        priming,
        length: (length > 0).then_some(length),
        slack: 0,
        from_itunsmpb: true,
    });
    match (from_edit, from_smpb) {
        (Some(e), _) if e.priming > 0 => Some(e),
        (_, Some(s)) => Some(s),
        (e, None) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn full(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![version, 0, 0, 0];
        v.extend_from_slice(body);
        boxed(kind, &v)
    }

    fn timescale_box(kind: &[u8; 4], ts: u32) -> Vec<u8> {
        let mut v = vec![0u8; 8];
        v.extend_from_slice(&ts.to_be_bytes());
        v.extend_from_slice(&[0u8; 8]);
        full(kind, 0, &v)
    }

    fn trak(id: u32, handler: &[u8; 4], edits: &[(u32, i32)]) -> Vec<u8> {
        let mut tk = vec![0u8; 8];
        tk.extend_from_slice(&id.to_be_bytes());
        tk.extend_from_slice(&[0u8; 60]);
        let mut el = (edits.len() as u32).to_be_bytes().to_vec();
        for &(d, t) in edits {
            el.extend_from_slice(&d.to_be_bytes());
            el.extend_from_slice(&t.to_be_bytes());
            el.extend_from_slice(&[0, 1, 0, 0]);
        }
        let mut hd = vec![0u8; 4];
        hd.extend_from_slice(handler);
        hd.extend_from_slice(&[0u8; 13]);
        let mdia = [timescale_box(b"mdhd", 44100), full(b"hdlr", 0, &hd)].concat();
        let mut body = full(b"tkhd", 0, &tk);
        if !edits.is_empty() {
            body.extend(boxed(b"edts", &full(b"elst", 0, &el)));
        }
        body.extend(boxed(b"mdia", &mdia));
        boxed(b"trak", &body)
    }

    fn smpb_udta(value: &str) -> Vec<u8> {
        let mut data = vec![0, 0, 0, 1, 0, 0, 0, 0];
        data.extend_from_slice(value.as_bytes());
        let ff = [full(b"mean", 0, b"com.apple.iTunes"), full(b"name", 0, b"iTunSMPB"), boxed(b"data", &data)].concat();
        let ilst = boxed(b"ilst", &boxed(b"----", &ff));
        boxed(b"udta", &full(b"meta", 0, &[full(b"hdlr", 0, &[0u8; 21]), ilst].concat()))
    }

    fn file(moov_body: &[u8]) -> Vec<u8> {
        let mut f = boxed(b"ftyp", b"M4A \0\0\0\0");
        // A 64-bit-size mdat before the moov.
        f.extend_from_slice(&1u32.to_be_bytes());
        f.extend_from_slice(b"mdat");
        f.extend_from_slice(&(16u64 + 100).to_be_bytes());
        f.extend_from_slice(&[0u8; 100]);
        f.extend(boxed(b"moov", moov_body));
        f
    }

    fn gap(f: &[u8], id: u32) -> Option<Gapless> {
        read_gapless(Cursor::new(f), f.len() as u64, id)
    }

    #[test]
    fn edit_list_priming_and_length() {
        let moov = [timescale_box(b"mvhd", 1000), trak(1, b"vide", &[(3300, 0)]), trak(2, b"soun", &[(500, -1), (3300, 1024)])].concat();
        let f = file(&moov);
        assert_eq!(gap(&f, 2), Some(Gapless { priming: 1024, length: Some(145_530), slack: 45, from_itunsmpb: false }));
        assert_eq!(gap(&f, 1), None, "not a sound track");
        assert_eq!(gap(&f, 3), None, "no such track");
    }

    #[test]
    fn itunsmpb_when_no_priming_edit() {
        let smpb = " 00000000 00000840 000001CA 00000000000B1A36 00000000 00000000";
        let moov = [timescale_box(b"mvhd", 44100), trak(1, b"soun", &[(100, 0)]), smpb_udta(smpb)].concat();
        let g = gap(&file(&moov), 1).expect("gapless");
        assert_eq!((g.priming, g.length, g.from_itunsmpb), (2112, Some(0xB1A36), true));
        assert_eq!(parse_itunsmpb("00 zz 1 2"), None);
        assert_eq!(parse_itunsmpb(" 0 840 1CA"), None);
    }

    #[test]
    fn odd_files_give_none_without_panicking() {
        let moov = [timescale_box(b"mvhd", 1000), trak(1, b"soun", &[(3300, 1024)])].concat();
        let f = file(&moov);
        assert!(gap(&f, 1).is_some());
        // Every truncation and every single-byte corruption of the header region.
        for n in 0..f.len() {
            let _ = gap(&f[..n], 1);
        }
        for i in 0..f.len() {
            for v in [0u8, 1, 0x7f, 0xff] {
                let mut g = f.clone();
                g[i] = v;
                let _ = gap(&g, 1);
            }
        }
        // A box claiming to extend past its parent.
        let mut g = f.clone();
        let moov_at = f.len() - moov.len() - 8;
        g[moov_at..moov_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(gap(&g, 1), None);
        assert_eq!(gap(b"", 1), None);
        assert_eq!(gap(&[0u8; 7], 1), None);
    }
}
