//! MP4 / M4A (ISO base media): raw reading of the atom tree.
//!
//! An atom is a 32-bit big-endian size (header included), a fourcc, then its payload; size 1
//! means a 64-bit size follows the fourcc, size 0 means "to the end of the enclosing atom (or
//! file)". The file must start with `ftyp` and hold exactly one `moov`; `moof`/`mvex`
//! (fragmented files) and `saio` (absolute offsets we do not normalise) are unsupported. An atom
//! running past its parent, or bytes in a container that do not form an atom, are damage
//! (except a QuickTime-style 4-byte zero terminator, kept as an item "<path>.(terminator)").
//!
//! Items: every top-level atom except `moov`, `mdat`, `free`, `skip`, `wide`, and every leaf
//! atom under `moov`, keyed by its dotted path ("moov.trak.mdia.mdhd"; a repeated sibling gets
//! its index from the second one on: "moov.trak[1].mdia.mdhd"), bytes = payload. `free`/`skip`/
//! `wide` are padding anywhere (writers resize them) and are not items. `stsd` is kept whole as
//! a leaf (its sample entries are compared byte for byte, which is stricter than descending).
//! `meta` is a full box (4 bytes version/flags, kept as the item "<path>.(header)") unless its
//! first child follows at once (QuickTime style, detected by a known child fourcc there). The
//! children of `ilst` are items keyed by their fourcc ("©gen", bytes as Latin-1 characters) or
//! "----:MEAN:NAME" for freeform atoms, bytes = the whole child atom, header included.
//!
//! Chunk offsets (`stco`, `co64`) are absolute file offsets, which a writer must rewrite when
//! `moov` grows in front of `mdat`. They are emitted normalised, as (mdat index, offset within
//! that mdat's payload), so a writer that moves `mdat` and fixes every offset consistently
//! yields the same item, and one that forgets does not; an offset outside every `mdat` payload
//! is damage. Encoding: version/flags, count, then per entry the mdat index (u32 BE) and the
//! offset in its payload (u64 BE), then any bytes left over in the atom.
//!
//! The audio digest covers every `mdat` payload in file order.

use std::io::{Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::flac::hash_range_into;
use super::*;

/// Atoms whose payload is a list of child atoms (ilst and meta are handled on their own).
const CONTAINERS: &[&[u8; 4]] =
    &[b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"tref", b"sinf", b"schi", b"gmhd"];
/// Padding atoms: not items.
const PADDING: &[&[u8; 4]] = &[b"free", b"skip", b"wide"];
/// Largest atom (moov, or another top-level one) read into memory; real moovs are a few MB.
const MAX_IN_MEMORY: u64 = 256 << 20;
/// Deepest nesting accepted (real files stay under 10).
const MAX_DEPTH: usize = 32;

fn damaged(what: impl Into<String>, offset: u64) -> RawError {
    RawError::Damaged { what: what.into(), offset }
}

/// The fourcc as characters (bytes as Latin-1, so 0xA9 is '©').
fn fourcc(t: &[u8; 4]) -> String {
    t.iter().map(|&b| b as char).collect()
}

/// One atom header: fourcc, header length, total size.
struct Header {
    kind: [u8; 4],
    header: u64,
    size: u64,
}

/// Parses an atom header from `h` (at least 8 bytes, 16 for a 64-bit size); `room` is how much
/// of the parent is left from the atom's start, `at` its file offset (for errors).
fn header(h: &[u8], room: u64, at: u64) -> Result<Header, RawError> {
    let short = || damaged("truncated atom header", at);
    let size = u32::from_be_bytes(h.get(..4).ok_or_else(short)?.try_into().map_err(|_| short())?);
    let kind: [u8; 4] = h.get(4..8).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let (header, size) = match size {
        0 => (8, room),
        1 => (16, u64::from_be_bytes(h.get(8..16).ok_or_else(short)?.try_into().map_err(|_| short())?)),
        n => (8, u64::from(n)),
    };
    if size < header || size > room {
        return Err(damaged(format!("atom '{}' of size {size} (room {room})", fourcc(&kind)), at));
    }
    Ok(Header { kind, header, size })
}

/// `name`, or `name[k]` for the k-th (from 1) repeat among `seen` siblings.
fn indexed(seen: &mut Vec<[u8; 4]>, kind: [u8; 4]) -> String {
    let k = seen.iter().filter(|&&s| s == kind).count();
    seen.push(kind);
    if k == 0 { fourcc(&kind) } else { format!("{}[{k}]", fourcc(&kind)) }
}

/// What the tree walk collects.
struct Walk<'a> {
    items: Vec<Item>,
    /// Payload ranges (offset, len) of the top-level mdat atoms, in file order.
    mdats: &'a [(u64, u64)],
}

impl Walk<'_> {
    /// Walks the children in `data` (at file offset `base`) of the container at `path`.
    fn children(&mut self, data: &[u8], base: u64, path: &str, depth: usize) -> Result<(), RawError> {
        if depth > MAX_DEPTH {
            return Err(damaged("atoms nested too deep", base));
        }
        let mut seen = Vec::new();
        let mut pos = 0usize;
        while pos < data.len() {
            let at = base + pos as u64;
            let rest = &data[pos..];
            if rest.len() < 8 {
                if rest.iter().all(|&b| b == 0) {
                    let key = format!("{path}.(terminator)");
                    self.items.push(Item { tag: "MP4", key, bytes: rest.to_vec() });
                    break;
                }
                return Err(damaged(format!("stray bytes in '{path}'"), at));
            }
            let h = header(rest, rest.len() as u64, at)?;
            // `size <= rest.len()` was checked, so these fit in usize.
            let payload = &rest[h.header as usize..h.size as usize];
            let pbase = at + h.header;
            let name = indexed(&mut seen, h.kind);
            let child = format!("{path}.{name}");
            match &h.kind {
                k if PADDING.contains(&k) => {}
                b"mvex" | b"moof" => return Err(RawError::Unsupported("fragmented MP4".into())),
                b"saio" => {
                    return Err(RawError::Unsupported("MP4 with sample auxiliary offsets (saio)".into()));
                }
                k if CONTAINERS.contains(&k) => self.children(payload, pbase, &child, depth + 1)?,
                b"meta" => {
                    // QuickTime's meta has no version/flags: its first child's fourcc is at 4..8.
                    let qt = payload.get(4..8).is_some_and(|t| [b"hdlr", b"keys", b"ilst", b"free"].iter().any(|k| t == *k));
                    if qt {
                        self.children(payload, pbase, &child, depth + 1)?;
                    } else {
                        let v = payload.get(..4).ok_or_else(|| damaged("meta without version/flags", pbase))?;
                        self.items.push(Item { tag: "MP4", key: format!("{child}.(header)"), bytes: v.to_vec() });
                        self.children(&payload[4..], pbase + 4, &child, depth + 1)?;
                    }
                }
                b"ilst" => self.ilst(payload, pbase)?,
                b"stco" | b"co64" => {
                    let bytes = self.chunk_offsets(payload, pbase, h.kind == *b"co64")?;
                    self.items.push(Item { tag: "MP4", key: child, bytes });
                }
                _ => self.items.push(Item { tag: "MP4", key: child, bytes: payload.to_vec() }),
            }
            pos += h.size as usize;
        }
        Ok(())
    }

    /// The ilst children: one item each, the whole atom, keyed by fourcc or "----:MEAN:NAME".
    fn ilst(&mut self, data: &[u8], base: u64) -> Result<(), RawError> {
        let mut pos = 0usize;
        while pos < data.len() {
            let at = base + pos as u64;
            let rest = &data[pos..];
            let h = header(rest, rest.len() as u64, at)?;
            let atom = &rest[..h.size as usize];
            let key = match &h.kind {
                b"----" => freeform_key(&atom[h.header as usize..], at + h.header)?,
                k if PADDING.contains(&k) => {
                    pos += h.size as usize;
                    continue;
                }
                k => fourcc(k),
            };
            self.items.push(Item { tag: "MP4", key, bytes: atom.to_vec() });
            pos += h.size as usize;
        }
        Ok(())
    }

    /// Normalised chunk offsets (see the module docs).
    fn chunk_offsets(&self, p: &[u8], base: u64, wide: bool) -> Result<Vec<u8>, RawError> {
        let bad = || damaged("chunk offset table shorter than its count", base);
        let count = u32::from_be_bytes(p.get(4..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
        let w = if wide { 8 } else { 4 };
        let end = count.checked_mul(w).and_then(|n| n.checked_add(8)).filter(|&e| e <= p.len()).ok_or_else(bad)?;
        let mut out = Vec::with_capacity(8 + count * 12 + (p.len() - end));
        out.extend(&p[..8]);
        for (i, e) in p[8..end].chunks_exact(w).enumerate() {
            let off = e.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
            let (m, &(start, _)) = self
                .mdats
                .iter()
                .enumerate()
                .find(|(_, (s, l))| off >= *s && off - s < *l)
                .ok_or_else(|| damaged(format!("chunk offset {off} outside every mdat"), base + 8 + (i * w) as u64))?;
            out.extend((m as u32).to_be_bytes());
            out.extend((off - start).to_be_bytes());
        }
        out.extend(&p[end..]);
        Ok(out)
    }
}

/// "----:MEAN:NAME" from a freeform atom's payload (its `mean` and `name` children).
fn freeform_key(p: &[u8], base: u64) -> Result<String, RawError> {
    let (mut mean, mut name) = (None, None);
    let mut pos = 0usize;
    while pos < p.len() {
        let rest = &p[pos..];
        let h = header(rest, rest.len() as u64, base + pos as u64)?;
        // Both are full boxes: 4 bytes of version/flags before the string.
        let s = rest.get(h.header as usize + 4..h.size as usize).map(|s| String::from_utf8_lossy(s).into_owned());
        match &h.kind {
            b"mean" if mean.is_none() => mean = s,
            b"name" if name.is_none() => name = s,
            _ => {}
        }
        pos += h.size as usize;
    }
    match (mean, name) {
        (Some(m), Some(n)) => Ok(format!("----:{m}:{n}")),
        _ => Err(damaged("freeform atom without mean and name", base)),
    }
}

/// Reads an MP4 file's atoms as items and hashes its mdat payloads.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    // Top level: headers only (mdat can be huge), so the mdat ranges are known before moov.
    let mut top = Vec::new();
    let mut pos = 0u64;
    while pos < file_len {
        let mut h = [0u8; 16];
        let n = (file_len - pos).min(16) as usize;
        if n < 8 {
            return Err(damaged("stray bytes at the end of the file", pos));
        }
        read_at(r, pos, &mut h[..n])?;
        let h = header(&h[..n], file_len - pos, pos)?;
        if top.is_empty() && h.kind != *b"ftyp" {
            return Err(RawError::Unknown);
        }
        if h.kind == *b"moof" {
            return Err(RawError::Unsupported("fragmented MP4".into()));
        }
        top.push((pos, h));
        pos += top.last().map_or(0, |(_, h)| h.size);
    }
    if top.iter().filter(|(_, h)| h.kind == *b"moov").count() != 1 {
        return Err(damaged("not exactly one moov atom", 0));
    }
    let mdats: Vec<(u64, u64)> = top.iter().filter(|(_, h)| h.kind == *b"mdat").map(|(at, h)| (at + h.header, h.size - h.header)).collect();
    let mut walk = Walk { items: Vec::new(), mdats: &mdats };
    let mut seen = Vec::new();
    for (at, h) in &top {
        let name = indexed(&mut seen, h.kind);
        let (pat, plen) = (at + h.header, h.size - h.header);
        if matches!(&h.kind, b"mdat") || PADDING.contains(&&h.kind) {
            continue;
        }
        // Bounded by the file length (checked in `header`) and by MAX_IN_MEMORY.
        let too_big = || RawError::Unsupported(format!("'{name}' atom over 256 MiB"));
        let len = usize::try_from(plen).ok().filter(|_| plen <= MAX_IN_MEMORY).ok_or_else(too_big)?;
        let mut payload = vec![0u8; len];
        read_at(r, pat, &mut payload)?;
        if h.kind == *b"moov" {
            walk.children(&payload, pat, "moov", 1)?;
        } else {
            walk.items.push(Item { tag: "MP4", key: name, bytes: payload });
        }
    }
    let mut hash = Sha256::new();
    for &(at, len) in &mdats {
        hash_range_into(r, &mut hash, at, len)?;
    }
    let audio = AudioDigest { sha256: hash.finalize().into(), len: mdats.iter().map(|m| m.1).sum() };
    Ok(Layout { container: Container::Mp4, items: walk.items, audio })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Cursor;

    /// An atom from its fourcc and payload.
    pub fn atom(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut v = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend(kind);
        v.extend(payload);
        v
    }

    fn data(s: &str) -> Vec<u8> {
        atom(b"data", &[&[0, 0, 0, 1, 0, 0, 0, 0], s.as_bytes()].concat())
    }

    /// ftyp, [moov], free, mdat (`pad` bytes of free), with moov before or after mdat.
    pub fn sample(genre: &str, pad: usize, moov_first: bool) -> Vec<u8> {
        let ftyp = atom(b"ftyp", b"M4A \0\0\0\0");
        let free = atom(b"free", &vec![0; pad]);
        let mdat = atom(b"mdat", &[5u8; 100]);
        let mdat_at = ftyp.len() + free.len() + if moov_first { moov(genre, 0).len() } else { 0 };
        let moov = moov(genre, (mdat_at + 8) as u32);
        if moov_first { [ftyp, moov, free, mdat].concat() } else { [ftyp, free, mdat, moov].concat() }
    }

    fn moov(genre: &str, mdat_payload: u32) -> Vec<u8> {
        let stco =
            atom(b"stco", &[&[0, 0, 0, 0, 0, 0, 0, 2][..], &mdat_payload.to_be_bytes(), &(mdat_payload + 50).to_be_bytes()].concat());
        let stbl = atom(b"stbl", &[atom(b"stsd", b"sampleentries"), stco].concat());
        let trak = |i: u8| atom(b"trak", &[atom(b"tkhd", &[i; 4]), atom(b"mdia", &atom(b"minf", &stbl))].concat());
        let free_form = atom(b"----", &[atom(b"mean", b"\0\0\0\0com.apple.iTunes"), atom(b"name", b"\0\0\0\0MOOD"), data("calm")].concat());
        let ilst = atom(b"ilst", &[atom(b"\xa9gen", &data(genre)), free_form].concat());
        let meta = atom(b"meta", &[&[0u8; 4][..], &atom(b"hdlr", b"mdirappl"), &ilst, &atom(b"free", &[0; 3])].concat());
        atom(b"moov", &[atom(b"mvhd", b"hdr"), trak(1), trak(2), atom(b"udta", &[meta, vec![0; 4]].concat())].concat())
    }

    fn keys(l: &Layout) -> Vec<String> {
        l.items.iter().map(|i| i.key.clone()).collect()
    }

    #[test]
    fn reads_tree_and_items() {
        let f = sample("Rock", 10, true);
        let l = read_layout(&mut Cursor::new(&f)).unwrap();
        assert_eq!(
            keys(&l),
            [
                "ftyp",
                "moov.mvhd",
                "moov.trak.tkhd",
                "moov.trak.mdia.minf.stbl.stsd",
                "moov.trak.mdia.minf.stbl.stco",
                "moov.trak[1].tkhd",
                "moov.trak[1].mdia.minf.stbl.stsd",
                "moov.trak[1].mdia.minf.stbl.stco",
                "moov.udta.meta.(header)",
                "moov.udta.meta.hdlr",
                "©gen",
                "----:com.apple.iTunes:MOOD",
                "moov.udta.(terminator)",
            ]
        );
        assert_eq!(l.items[4].bytes[8..], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 50]);
        assert_eq!((l.audio.len, l.audio.sha256), (100, <[u8; 32]>::from(Sha256::digest([5u8; 100]))));
    }

    #[test]
    fn moved_mdat_with_fixed_offsets_is_equal() {
        let a = read_layout(&mut Cursor::new(sample("Rock", 10, true))).unwrap();
        let b = read_layout(&mut Cursor::new(sample("Rock", 500, true))).unwrap();
        let c = read_layout(&mut Cursor::new(sample("Rock", 10, false))).unwrap();
        assert_eq!((&a.items, a.audio), (&b.items, b.audio));
        assert_eq!((&a.items, a.audio), (&c.items, c.audio));
        let d = read_layout(&mut Cursor::new(sample("Jazz", 10, true))).unwrap();
        let diff: Vec<_> = a.items.iter().zip(&d.items).filter(|(x, y)| x != y).map(|(x, _)| x.key.as_str()).collect();
        assert_eq!(diff, ["©gen"]);
    }

    #[test]
    fn damaged_and_unsupported() {
        let f = sample("Rock", 10, true);
        // Offsets not fixed after mdat moved: the first points outside mdat.
        let mut moved = sample("Rock", 10, true);
        let n = moved.len();
        moved.splice(n - 108..n - 108, atom(b"free", &[0; 200]));
        assert!(matches!(read_layout(&mut Cursor::new(&moved)), Err(RawError::Damaged { .. })));
        assert!(matches!(read_layout(&mut Cursor::new(&f[..f.len() - 1])), Err(RawError::Damaged { .. })));
        assert!(matches!(read_layout(&mut Cursor::new(&f[16..])), Err(RawError::Unknown)));
        let frag = [atom(b"ftyp", b"iso5"), atom(b"moov", &atom(b"mvex", b"")), atom(b"moof", b"")].concat();
        assert!(matches!(read_layout(&mut Cursor::new(&frag)), Err(RawError::Unsupported(_))));
        // A 64-bit size and a size-0 last atom are understood.
        let ftyp = atom(b"ftyp", b"M4A ");
        let payload_at = (ftyp.len() + moov("x", 0).len() + 16) as u32;
        let mut big = [ftyp.clone(), moov("x", payload_at)].concat();
        big.extend([0, 0, 0, 1]);
        big.extend(b"mdat");
        big.extend(116u64.to_be_bytes());
        big.extend([1u8; 100]);
        let l = read_layout(&mut Cursor::new(&big)).unwrap();
        assert_eq!(l.audio.len, 100);
        let mut zero = [ftyp, moov("x", payload_at - 8)].concat();
        zero.extend([0, 0, 0, 0]);
        zero.extend(b"mdat");
        zero.extend([1u8; 100]);
        let z = read_layout(&mut Cursor::new(&zero)).unwrap();
        assert_eq!((l.items, l.audio), (z.items, z.audio));
    }
}
