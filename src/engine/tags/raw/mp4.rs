//! MP4 / M4A (ISO base media): raw reading of the atom tree, and splice-writing of `ilst` items.
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
//!
//! Writing ([`splice`]): melotag sets ©gen / freeform atoms itself, because lofty re-encodes atoms
//! it models (iTunes' and mutagen's 16-bit `tmpo`, data type 21) and reorders the others, so its
//! output fails verification on most real files. The splice changes only the named children of
//! `moov.udta.meta.ilst` and copies every other byte:
//!
//! - Matching: a fourcc exactly; a freeform "----:MEAN:NAME" by its mean exactly and its name
//!   ASCII case-insensitively (melotag's verification compares keys that way, and a "mood" atom
//!   from another tool is the same field). The replacement is written with the edit's spelling,
//!   so a reader looking the key up exactly (lofty, mutagen) finds it.
//! - `gnre` (iTunes' numeric genre) is left alone when ©gen is set: only an edit naming it
//!   removes it. A player may then show either; melotag reads ©gen.
//! - Size: the change is taken by the first padding atom (`free` or `skip`) right after the
//!   edited ilst in meta, after meta in udta, after udta in moov, or after moov at the top level
//!   that stays at least 8 bytes (or goes exactly): then nothing after moov moves. Otherwise the
//!   sizes of ilst, meta, udta and moov change (each keeps its 32- or 64-bit size form; a 32-bit
//!   size past 4 GiB is Unsupported), and if anything follows moov, a shrink of 8 bytes or more
//!   leaves a `free` of that size after ilst (nothing moves), while any other change gives the
//!   `free` after ilst max(its size, 1024) bytes, created if missing, so that the next write stays
//!   in place: everything after moov moves, and every `stco`/`co64` offset past moov moves with
//!   it (an `stco` offset passing 4 GiB is Unsupported; offsets before moov stay).
//! - A missing ilst is created after meta's `hdlr`, a missing meta at the end of udta (a full box
//!   with iTunes' `hdlr`: "mdir", "appl"), a missing udta at the end of moov (before any
//!   QuickTime terminator); padding then goes after the new atom in its existing parent. The
//!   items "moov.udta.meta.(header)" and "moov.udta.meta.hdlr" appear.
//! - Refused: what the reader refuses in moov (fragments, `saio`, damage), several udta in moov,
//!   meta in udta or ilst in meta (which one does a player read?), an atom of size 0 inside moov
//!   (we may add atoms after it), text for a non-text atom (`gnre`, `tmpo`, `trkn`, `covr`, ...).

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
    /// Stored with size 0 ("to the end of the parent").
    zero: bool,
}

/// Parses an atom header from `h` (at least 8 bytes, 16 for a 64-bit size); `room` is how much
/// of the parent is left from the atom's start, `at` its file offset (for errors).
fn header(h: &[u8], room: u64, at: u64) -> Result<Header, RawError> {
    let short = || damaged("truncated atom header", at);
    let raw = u32::from_be_bytes(h.get(..4).ok_or_else(short)?.try_into().map_err(|_| short())?);
    let kind: [u8; 4] = h.get(4..8).ok_or_else(short)?.try_into().map_err(|_| short())?;
    let (header, size) = match raw {
        0 => (8, room),
        1 => (16, u64::from_be_bytes(h.get(8..16).ok_or_else(short)?.try_into().map_err(|_| short())?)),
        n => (8, u64::from(n)),
    };
    if size < header || size > room {
        return Err(damaged(format!("atom '{}' of size {size} (room {room})", fourcc(&kind)), at));
    }
    Ok(Header { kind, header, size, zero: raw == 0 })
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
    let (mean, name) = freeform_parts(p, base)?;
    Ok(format!("----:{}:{}", String::from_utf8_lossy(mean), String::from_utf8_lossy(name)))
}

/// The strings of a freeform atom's first `mean` and `name` children (full boxes: 4 bytes of
/// version/flags before the string), from its payload `p` at file offset `base`.
fn freeform_parts(p: &[u8], base: u64) -> Result<(&[u8], &[u8]), RawError> {
    let (mut mean, mut name) = (None, None);
    let mut pos = 0usize;
    while pos < p.len() {
        let rest = &p[pos..];
        let h = header(rest, rest.len() as u64, base + pos as u64)?;
        let s = rest.get(h.header as usize + 4..h.size as usize);
        match &h.kind {
            b"mean" if mean.is_none() => mean = s,
            b"name" if name.is_none() => name = s,
            _ => {}
        }
        pos += h.size as usize;
    }
    match (mean, name) {
        (Some(m), Some(n)) => Ok((m, n)),
        _ => Err(damaged("freeform atom without mean and name", base)),
    }
}

/// The top-level atoms' offsets and headers (headers only: mdat can be huge). The file must
/// start with `ftyp`, hold exactly one `moov` and no `moof`.
fn top_level<R: Read + Seek>(r: &mut R, file_len: u64) -> Result<Vec<(u64, Header)>, RawError> {
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
    Ok(top)
}

/// Reads an MP4 file's atoms as items and hashes its mdat payloads.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    let file_len = r.seek(SeekFrom::End(0))?;
    let top = top_level(r, file_len)?;
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

// ----------------------------------------------------------------------------------------------
// Splice writer

/// Padding left after the rewritten `ilst` when what follows `moov` has to move anyway, so that
/// the next write can stay in place (mutagen and iTunes leave padding there too).
const NEW_PADDING: u64 = 1024;

/// The `hdlr` payload of a new iTunes `meta` atom, as iTunes and mutagen write it: version/flags
/// 0, pre_defined 0, handler "mdir", reserved "appl" 0 0, an empty name (one NUL).
const HDLR_MDIR: &[u8; 25] = b"\0\0\0\0\0\0\0\0mdirappl\0\0\0\0\0\0\0\0\0";

/// Fourccs besides the '©' ones whose values are text, so they may be set (gnre, tmpo, trkn,
/// disk, covr, cpil, ... hold integers or images: an edit naming them may only remove them).
const TEXT_ATOMS: &[&[u8; 4]] = &[
    b"aART", b"desc", b"ldes", b"cprt", b"soal", b"soar", b"soaa", b"sonm", b"soco", b"sosn", b"tvsh", b"tven", b"tvnt", b"purd", b"catg",
    b"keyw", b"ownr", b"purl", b"egid", b"xid ",
];

/// What an edit names in `ilst`.
#[derive(Debug)]
enum Target {
    /// A plain atom, by its fourcc (matched exactly).
    Fourcc([u8; 4]),
    /// A freeform `----` atom: its `mean` matched exactly, its `name` ASCII case-insensitively.
    Freeform { mean: String, name: String },
}

impl Target {
    /// Parses "©gen" (4 characters up to U+00FF, one byte each) or "----:MEAN:NAME" (split at the
    /// last ':', as melotag does).
    fn parse(key: &str) -> Result<Target, RawError> {
        let bad = || RawError::Unsupported(format!("MP4 key {key:?} (not a fourcc such as \"©gen\" nor \"----:MEAN:NAME\")"));
        if let Some(rest) = key.strip_prefix("----:") {
            let (mean, name) = rest.rsplit_once(':').filter(|(m, n)| !m.is_empty() && !n.is_empty()).ok_or_else(bad)?;
            return Ok(Target::Freeform { mean: mean.into(), name: name.into() });
        }
        let bytes = key.chars().map(|c| u8::try_from(u32::from(c)).map_err(|_| bad())).collect::<Result<Vec<u8>, _>>()?;
        let kind: [u8; 4] = bytes.try_into().map_err(|_| bad())?;
        if kind == *b"----" || PADDING.contains(&&kind) {
            return Err(bad());
        }
        Ok(Target::Fourcc(kind))
    }

    /// Whether both name the same atoms.
    fn same(&self, other: &Target) -> bool {
        match (self, other) {
            (Target::Fourcc(a), Target::Fourcc(b)) => a == b,
            (Target::Freeform { mean: m, name: n }, Target::Freeform { mean: m2, name: n2 }) => m == m2 && n.eq_ignore_ascii_case(n2),
            _ => false,
        }
    }

    /// Whether an ilst child (its fourcc, and (mean, name) for a freeform one) is named by this.
    fn matches(&self, kind: [u8; 4], freeform: Option<(&[u8], &[u8])>) -> bool {
        match self {
            Target::Fourcc(k) => *k == kind,
            Target::Freeform { mean, name } => {
                freeform.is_some_and(|(m, n)| m == mean.as_bytes() && n.eq_ignore_ascii_case(name.as_bytes()))
            }
        }
    }

    /// The atom holding `values`: one `data` atom each (type 1 = UTF-8, locale 0), after `mean`
    /// and `name` for a freeform one.
    fn atom(&self, values: &[String]) -> Result<Vec<u8>, RawError> {
        let mut payload = Vec::new();
        let kind = match self {
            Target::Fourcc(k) => *k,
            Target::Freeform { mean, name } => {
                put_atom(&mut payload, b"mean", &[&[0; 4], mean.as_bytes()])?;
                put_atom(&mut payload, b"name", &[&[0; 4], name.as_bytes()])?;
                *b"----"
            }
        };
        for v in values {
            put_atom(&mut payload, b"data", &[&[0, 0, 0, 1, 0, 0, 0, 0], v.as_bytes()])?;
        }
        let mut out = Vec::with_capacity(payload.len() + 8);
        put_header(&mut out, kind, payload.len(), false)?;
        out.extend(payload);
        Ok(out)
    }
}

/// Appends an atom header for a payload of `len` bytes: 64-bit size form if `long`, else 32-bit
/// (a size over 4 GiB is then Unsupported).
fn put_header(out: &mut Vec<u8>, kind: [u8; 4], len: usize, long: bool) -> Result<(), RawError> {
    let total = len as u64 + if long { 16 } else { 8 };
    if long {
        out.extend(1u32.to_be_bytes());
        out.extend(kind);
        out.extend(total.to_be_bytes());
    } else {
        let size = u32::try_from(total).map_err(|_| RawError::Unsupported(format!("'{}' atom over 4 GiB", fourcc(&kind))))?;
        out.extend(size.to_be_bytes());
        out.extend(kind);
    }
    Ok(())
}

/// Appends an atom (32-bit size) whose payload is `parts` concatenated.
fn put_atom(out: &mut Vec<u8>, kind: &[u8; 4], parts: &[&[u8]]) -> Result<(), RawError> {
    put_header(out, *kind, parts.iter().map(|p| p.len()).sum(), false)?;
    parts.iter().for_each(|p| out.extend(*p));
    Ok(())
}

/// A `free` atom of `total` bytes (at least 8), zero-filled.
fn put_free(out: &mut Vec<u8>, total: u64) -> Result<(), RawError> {
    let size = u32::try_from(total).map_err(|_| RawError::Unsupported("free atom over 4 GiB".into()))?;
    out.extend(size.to_be_bytes());
    out.extend(b"free");
    out.resize(out.len() + (total as usize).saturating_sub(8), 0);
    Ok(())
}

/// A child atom inside a buffer: offset (in the parent's payload), header length, total size.
#[derive(Debug, Clone, Copy)]
struct Span {
    at: usize,
    header: usize,
    size: usize,
    kind: [u8; 4],
}

impl Span {
    fn is_padding(&self) -> bool {
        matches!(&self.kind, b"free" | b"skip")
    }
}

/// The child atoms of the payload `p` (at file offset `base`), and where they end: only a
/// QuickTime zero terminator (under 8 zero bytes) may follow. A child of size 0 ("to the end of
/// the parent") is Unsupported, as the writer may put atoms after it.
fn spans(p: &[u8], base: u64) -> Result<(Vec<Span>, usize), RawError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < p.len() {
        let rest = &p[pos..];
        let at = base + pos as u64;
        if rest.len() < 8 {
            if rest.iter().all(|&b| b == 0) {
                return Ok((out, pos));
            }
            return Err(damaged("stray bytes in an atom", at));
        }
        let h = header(rest, rest.len() as u64, at)?;
        if h.zero {
            return Err(RawError::Unsupported(format!("MP4 atom '{}' of size 0 inside moov", fourcc(&h.kind))));
        }
        // `size <= rest.len()` was checked, so these fit in usize.
        out.push(Span { at: pos, header: h.header as usize, size: h.size as usize, kind: h.kind });
        pos += h.size as usize;
    }
    Ok((out, pos))
}

/// The index of the only child of that kind, if any; several are Unsupported (which one would
/// a player read?).
fn only(kids: &[Span], kind: &[u8; 4]) -> Result<Option<usize>, RawError> {
    let mut found = kids.iter().enumerate().filter(|(_, k)| k.kind == *kind).map(|(i, _)| i);
    match (found.next(), found.next()) {
        (Some(_), Some(_)) => Err(RawError::Unsupported(format!("several '{}' atoms in one parent", fourcc(kind)))),
        (i, _) => Ok(i),
    }
}

/// Where the rewritten child goes in its parent.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// In place of child i.
    Replace(usize),
    /// Before child i (after the last one when i is their count).
    Insert(usize),
}

/// What happens to the padding atom after the slot.
#[derive(Debug, Clone, Copy)]
enum FreeChange {
    /// It gets this total size (at least 8), or is inserted with it when there is none.
    Set(u64),
    /// It goes.
    Remove,
}

/// One container on the path moov → udta → meta → ilst.
struct Level {
    kind: [u8; 4],
    /// Its payload, as a range of the moov buffer.
    start: usize,
    len: usize,
    /// Bytes before the children (meta's version/flags).
    prefix: usize,
    /// The children (offsets relative to `start`) and where they end.
    kids: Vec<Span>,
    end: usize,
    slot: Slot,
    /// 64-bit size form.
    long: bool,
}

impl Level {
    fn new(buf: &[u8], base: u64, kind: [u8; 4], start: usize, len: usize, prefix: usize, long: bool) -> Result<Level, RawError> {
        let p = buf.get(start + prefix..start + len).ok_or_else(|| damaged("atom shorter than its header", base + start as u64))?;
        let (mut kids, end) = spans(p, base + (start + prefix) as u64)?;
        kids.iter_mut().for_each(|k| k.at += prefix);
        Ok(Level { kind, start, len, prefix, end: end + prefix, slot: Slot::Insert(kids.len()), kids, long })
    }

    /// The index after the slot, and the size of the old child in it.
    fn after_slot(&self) -> (usize, usize) {
        match self.slot {
            Slot::Replace(i) => (i + 1, self.kids.get(i).map_or(0, |k| k.size)),
            Slot::Insert(i) => (i, 0),
        }
    }

    /// The padding atom right after the slot.
    fn next_free(&self) -> Option<&Span> {
        self.kids.get(self.after_slot().0).filter(|k| k.is_padding())
    }

    /// The payload with `child` in the slot and the padding after it changed.
    fn rebuild(&self, buf: &[u8], child: &[u8], free: Option<FreeChange>) -> Result<Vec<u8>, RawError> {
        let p = &buf[self.start..self.start + self.len];
        let (mut next, _) = self.after_slot();
        let first = match self.slot {
            Slot::Replace(i) | Slot::Insert(i) => i,
        };
        let copy = |out: &mut Vec<u8>, kids: &[Span]| kids.iter().for_each(|k| out.extend(&p[k.at..k.at + k.size]));
        let mut out = Vec::with_capacity(self.len + child.len());
        out.extend(&p[..self.prefix]);
        copy(&mut out, &self.kids[..first]);
        out.extend(child);
        if let Some(change) = free {
            if self.next_free().is_some() {
                next += 1;
            }
            if let FreeChange::Set(n) = change {
                put_free(&mut out, n)?;
            }
        }
        copy(&mut out, &self.kids[next..]);
        out.extend(&p[self.end..]);
        Ok(out)
    }

    /// The whole atom around a new payload.
    fn wrap(&self, payload: Vec<u8>) -> Result<Vec<u8>, RawError> {
        let mut out = Vec::with_capacity(payload.len() + 16);
        put_header(&mut out, self.kind, payload.len(), self.long)?;
        out.extend(payload);
        Ok(out)
    }
}

/// The chunk offset tables under the container payload `buf[start..start + len]` (file offset
/// of `buf`: `base`), as (offset of the first entry in `buf`, count, 64-bit); refuses what the
/// reader refuses in there (fragments, `saio`).
fn offset_tables(
    buf: &[u8],
    base: u64,
    start: usize,
    len: usize,
    depth: usize,
    out: &mut Vec<(usize, usize, bool)>,
) -> Result<(), RawError> {
    if depth > MAX_DEPTH {
        return Err(damaged("atoms nested too deep", base + start as u64));
    }
    let (kids, _) = spans(&buf[start..start + len], base + start as u64)?;
    for k in kids {
        let (pat, plen) = (start + k.at + k.header, k.size - k.header);
        match &k.kind {
            b"mvex" | b"moof" => return Err(RawError::Unsupported("fragmented MP4".into())),
            b"saio" => return Err(RawError::Unsupported("MP4 with sample auxiliary offsets (saio)".into())),
            kind if CONTAINERS.contains(&kind) => offset_tables(buf, base, pat, plen, depth + 1, out)?,
            b"stco" | b"co64" => {
                let wide = k.kind == *b"co64";
                let p = &buf[pat..pat + plen];
                let bad = || damaged("chunk offset table shorter than its count", base + pat as u64);
                let count = u32::from_be_bytes(p.get(4..8).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
                let w = if wide { 8 } else { 4 };
                count.checked_mul(w).and_then(|n| n.checked_add(8)).filter(|&e| e <= plen).ok_or_else(bad)?;
                out.push((pat + 8, count, wide));
            }
            _ => {}
        }
    }
    Ok(())
}

/// Adds `shift` to every chunk offset at or past `moov_end` (the data that moves); an offset
/// inside the old moov `[moov_at, moov_end)` is damage.
fn shift_offsets(
    buf: &mut [u8],
    base: u64,
    tables: &[(usize, usize, bool)],
    moov_at: u64,
    moov_end: u64,
    shift: i64,
) -> Result<(), RawError> {
    let too_far = || RawError::Unsupported("a chunk offset would pass 4 GiB (stco)".into());
    for &(pos, count, wide) in tables {
        let w = if wide { 8 } else { 4 };
        for e in buf[pos..pos + count * w].chunks_exact_mut(w) {
            let off = e.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b));
            if off < moov_at {
                continue;
            }
            if off < moov_end {
                return Err(damaged(format!("chunk offset {off} inside moov"), base + pos as u64));
            }
            let new = off.checked_add_signed(shift).ok_or_else(too_far)?;
            if wide {
                e.copy_from_slice(&new.to_be_bytes());
            } else {
                e.copy_from_slice(&u32::try_from(new).map_err(|_| too_far())?.to_be_bytes());
            }
        }
    }
    Ok(())
}

/// Appends a piece, merging it with the previous one when they join.
fn push(pieces: &mut Vec<Piece>, p: Piece) {
    match (pieces.last_mut(), p) {
        (_, Piece::Copy { len: 0, .. }) => {}
        (_, Piece::Bytes(b)) if b.is_empty() => {}
        (Some(Piece::Copy { offset, len }), Piece::Copy { offset: o, len: l }) if *offset + *len == o => *len += l,
        (Some(Piece::Bytes(a)), Piece::Bytes(b)) => a.extend(b),
        (_, p) => pieces.push(p),
    }
}

/// Rewrites only the named items of `moov.udta.meta.ilst`; returns the new file as pieces.
///
/// Keys are [`Item::key`]s: a fourcc ("©gen", characters as Latin-1 bytes) or "----:MEAN:NAME"
/// (split at the last ':'). `Some(values)`: the first matching atom is replaced in place by one
/// holding a `data` atom per value (type 1 = UTF-8, locale 0; freeform: `mean` and `name` first),
/// the other matches are removed, and without a match it is appended at the end of ilst; only text
/// atoms (the © ones, [`TEXT_ATOMS`], freeform) can be set. `None` or no values: every match is
/// removed. A later edit of the same key wins. Matching, padding, offsets, missing atoms: see the
/// module docs. An unchanged ilst gives the file back as one copy.
pub fn splice<R: Read + Seek>(r: &mut R, edits: &[FieldEdit]) -> Result<Vec<Piece>, RawError> {
    let mut wanted: Vec<(Target, Option<&[String]>)> = Vec::new();
    for e in edits {
        let t = Target::parse(&e.key)?;
        let values = e.values.as_deref().filter(|v| !v.is_empty());
        if let (Target::Fourcc(k), Some(_)) = (&t, values)
            && k[0] != 0xA9
            && !TEXT_ATOMS.contains(&k)
        {
            return Err(RawError::Unsupported(format!("writing text into the MP4 atom '{}'", fourcc(k))));
        }
        wanted.retain(|(o, _)| !o.same(&t));
        wanted.push((t, values));
    }

    let file_len = r.seek(SeekFrom::End(0))?;
    let top = top_level(r, file_len)?;
    let mi = top.iter().position(|(_, h)| h.kind == *b"moov").ok_or_else(|| damaged("no moov atom", 0))?;
    let (moov_at, ref mh) = top[mi];
    let moov_end = moov_at + mh.size;
    let base = moov_at + mh.header;
    let plen = mh.size - mh.header;
    let len = usize::try_from(plen)
        .ok()
        .filter(|_| plen <= MAX_IN_MEMORY)
        .ok_or_else(|| RawError::Unsupported("moov atom over 256 MiB".into()))?;
    // Bounded by the file length (checked in `header`) and by MAX_IN_MEMORY.
    let mut buf = vec![0u8; len];
    read_at(r, base, &mut buf)?;
    let mut tables = Vec::new();
    offset_tables(&buf, base, 0, len, 1, &mut tables)?;

    // The path moov → udta → meta (→ ilst), outermost first, as far as it exists.
    let mut levels = vec![Level::new(&buf, base, *b"moov", 0, len, 0, mh.header == 16)?];
    let mut ilst: Option<Span> = None;
    let mut ilst_start = 0usize;
    for kind in [*b"udta", *b"meta", *b"ilst"] {
        let Some(parent) = levels.last_mut() else { break };
        let Some(i) = only(&parent.kids, &kind)? else {
            // Missing: created at the end (ilst: after meta's hdlr, where iTunes puts it).
            let hdlr = parent.kids.iter().position(|k| k.kind == *b"hdlr");
            parent.slot = Slot::Insert(if kind == *b"ilst" { hdlr.map_or(parent.kids.len(), |h| h + 1) } else { parent.kids.len() });
            break;
        };
        parent.slot = Slot::Replace(i);
        let k = parent.kids[i];
        let start = parent.start + k.at + k.header;
        let plen = k.size - k.header;
        if kind == *b"ilst" {
            (ilst, ilst_start) = (Some(k), start);
            break;
        }
        // meta is a full box unless its first child follows at once (QuickTime style).
        let prefix = if kind == *b"meta" {
            let qt = buf
                .get(start..start + plen)
                .and_then(|p| p.get(4..8))
                .is_some_and(|t| [b"hdlr", b"keys", b"ilst", b"free"].iter().any(|k| t == *k));
            if !qt && plen < 4 {
                return Err(damaged("meta without version/flags", base + start as u64));
            }
            if qt { 0 } else { 4 }
        } else {
            0
        };
        let level = Level::new(&buf, base, kind, start, plen, prefix, k.header == 16)?;
        levels.push(level);
    }

    // The new ilst payload.
    let old = ilst.map_or(&[][..], |k| &buf[ilst_start..ilst_start + k.size - k.header]);
    let old_base = base + ilst_start as u64;
    let (kids, end) = spans(old, old_base)?;
    if end != old.len() {
        return Err(damaged("truncated atom header in ilst", old_base + end as u64));
    }
    let mut payload = Vec::with_capacity(old.len());
    let mut done = vec![false; wanted.len()];
    for k in &kids {
        let atom = &old[k.at..k.at + k.size];
        let freeform =
            if k.kind == *b"----" { Some(freeform_parts(&atom[k.header..], old_base + (k.at + k.header) as u64)?) } else { None };
        match wanted.iter().position(|(t, _)| !k.is_padding() && t.matches(k.kind, freeform)) {
            None => payload.extend(atom),
            Some(i) if !done[i] => {
                done[i] = true;
                if let Some(values) = wanted[i].1 {
                    payload.extend(wanted[i].0.atom(values)?);
                }
            }
            Some(_) => {}
        }
    }
    for ((t, values), done) in wanted.iter().zip(&done) {
        if let (Some(values), false) = (values, done) {
            payload.extend(t.atom(values)?);
        }
    }
    if payload == old {
        return Ok(vec![Piece::Copy { offset: 0, len: file_len }]);
    }

    // The new child of the innermost existing level: ilst, or the missing atoms around it.
    let mut child = Vec::with_capacity(payload.len() + 100);
    put_header(&mut child, *b"ilst", payload.len(), ilst.is_some_and(|k| k.header == 16))?;
    child.extend(payload);
    // levels: [moov], [moov, udta] or [moov, udta, meta].
    for kind in [*b"meta", *b"udta"].iter().take(3 - levels.len()) {
        let mut p = Vec::with_capacity(child.len() + 45);
        if *kind == *b"meta" {
            p.extend([0; 4]);
            put_atom(&mut p, b"hdlr", &[HDLR_MDIR])?;
        }
        p.extend(child);
        child = Vec::with_capacity(p.len() + 8);
        put_header(&mut child, *kind, p.len(), false)?;
        child.extend(p);
    }

    // Where the size change goes: the first padding atom after the slot, innermost level first,
    // then the one after moov, that can take it; else new padding (see the module docs).
    let inner = levels.len() - 1;
    let d = child.len() as i64 - levels[inner].after_slot().1 as i64;
    let top_free = top.get(mi + 1).filter(|(_, h)| matches!(&h.kind, b"free" | b"skip") && !h.zero);
    let mut frees: Vec<Option<u64>> = levels.iter().rev().map(|l| l.next_free().map(|k| k.size as u64)).collect();
    frees.push(top_free.map(|(_, h)| h.size));
    let absorb = |f: u64| {
        let n = f as i64 - d;
        (n == 0 || (8..=i64::from(u32::MAX)).contains(&n)).then_some(n as u64)
    };
    // change: (which padding: index in `frees`, what happens to it); shift: how far what follows
    // moov moves.
    let mut change: Option<(usize, FreeChange)> = None;
    let mut shift = d;
    if d != 0 {
        if let Some((at, n)) = frees.iter().enumerate().find_map(|(i, f)| f.and_then(absorb).map(|n| (i, n))) {
            change = Some((at, if n == 0 { FreeChange::Remove } else { FreeChange::Set(n) }));
            shift = 0;
        } else if mi + 1 < top.len() {
            // Something follows moov: keep it in place after a shrink, or leave room next time.
            let had = frees[0].unwrap_or(0);
            let n = if d <= -8 { (-d) as u64 } else { had.max(NEW_PADDING) };
            change = Some((0, FreeChange::Set(n)));
            shift = d + n as i64 - had as i64;
        }
    }
    if shift != 0 {
        shift_offsets(&mut buf, base, &tables, moov_at, moov_end, shift)?;
    }
    for (i, level) in levels.iter().rev().enumerate() {
        let free = change.filter(|c| c.0 == i).map(|c| c.1);
        child = level.wrap(level.rebuild(&buf, &child, free)?)?;
    }
    if mh.zero {
        // moov ran to the end of the file, and still does.
        child[..4].copy_from_slice(&[0; 4]);
    }

    let mut pieces = Vec::new();
    push(&mut pieces, Piece::Copy { offset: 0, len: moov_at });
    push(&mut pieces, Piece::Bytes(child));
    let mut rest = moov_end;
    if let (Some((at, c)), Some((fat, fh))) = (change, top_free)
        && at == frees.len() - 1
    {
        if let FreeChange::Set(n) = c {
            // n fits in 32 bits (see `absorb`); the old payload is kept as far as it goes.
            let size = u32::try_from(n).map_err(|_| RawError::Unsupported("free atom over 4 GiB".into()))?;
            push(&mut pieces, Piece::Bytes([&size.to_be_bytes()[..], b"free"].concat()));
            let kept = (n - 8).min(fh.size - fh.header);
            push(&mut pieces, Piece::Copy { offset: fat + fh.header, len: kept });
            push(&mut pieces, Piece::Bytes(vec![0; (n - 8 - kept) as usize]));
        }
        rest = fat + fh.size;
    }
    push(&mut pieces, Piece::Copy { offset: rest, len: file_len - rest });
    Ok(pieces)
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

    use crate::engine::tags::raw::render_pieces as render;

    fn set(k: &str, v: &[&str]) -> FieldEdit {
        FieldEdit { key: k.into(), values: Some(v.iter().map(|s| s.to_string()).collect()) }
    }

    fn del(k: &str) -> FieldEdit {
        FieldEdit { key: k.into(), values: None }
    }

    fn genre(g: &str) -> Vec<u8> {
        atom(b"\xa9gen", &data(g))
    }

    fn mood(name: &str, values: &[&str]) -> Vec<u8> {
        let head = [atom(b"mean", b"\0\0\0\0com.apple.iTunes"), atom(b"name", &[&[0u8; 4][..], name.as_bytes()].concat())].concat();
        atom(b"----", &[head, values.iter().flat_map(|v| data(v)).collect()].concat())
    }

    /// ftyp, moov (two traks with stco, udta.meta(hdlr, ilst(`ilst`), [free with `meta_free`
    /// payload bytes])), [top-level free with `top_pad` bytes], mdat; or ftyp, mdat, moov, [free].
    fn build(ilst: &[u8], meta_free: Option<usize>, top_pad: Option<usize>, moov_first: bool) -> Vec<u8> {
        let ftyp = atom(b"ftyp", b"M4A \0\0\0\0");
        let top = top_pad.map(|n| atom(b"free", &vec![0; n])).unwrap_or_default();
        let mdat = atom(b"mdat", &[5u8; 100]);
        let moov = |at: usize| {
            let at = at as u32;
            let stco = atom(b"stco", &[&[0, 0, 0, 0, 0, 0, 0, 2][..], &at.to_be_bytes(), &(at + 50).to_be_bytes()].concat());
            let trak = |i: u8| atom(b"trak", &[atom(b"tkhd", &[i; 4]), atom(b"mdia", &atom(b"minf", &atom(b"stbl", &stco)))].concat());
            let free = meta_free.map(|n| atom(b"free", &vec![0; n])).unwrap_or_default();
            let meta = atom(b"meta", &[&[0u8; 4][..], &atom(b"hdlr", HDLR_MDIR), &atom(b"ilst", ilst), &free].concat());
            atom(b"moov", &[atom(b"mvhd", b"hdr"), trak(1), trak(2), atom(b"udta", &meta)].concat())
        };
        if moov_first {
            let at = ftyp.len() + moov(0).len() + top.len() + 8;
            [ftyp, moov(at), top, mdat].concat()
        } else {
            let at = ftyp.len() + 8;
            [ftyp, mdat, moov(at), top].concat()
        }
    }

    /// The usual ilst: ©gen "Rock", then MOOD "calm".
    fn usual() -> Vec<u8> {
        [genre("Rock"), mood("MOOD", &["calm"])].concat()
    }

    /// The top-level atoms (fourcc, size).
    fn top_atoms(f: &[u8]) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos + 8 <= f.len() {
            let size = u32::from_be_bytes(f[pos..pos + 4].try_into().unwrap()) as usize;
            out.push((String::from_utf8_lossy(&f[pos + 4..pos + 8]).into_owned(), size));
            pos += size.max(8);
        }
        out
    }

    /// Splices `f`, checks that only the `changed` keys differ (the others in the same order,
    /// byte for byte) and the audio is the same; returns the new file and its layout.
    fn spliced(f: &[u8], edits: &[FieldEdit], changed: &[&str]) -> (Vec<u8>, Layout) {
        let pieces = splice(&mut Cursor::new(f), edits).unwrap();
        let out = render(f, &pieces);
        let (a, b) = (read_layout(&mut Cursor::new(f)).unwrap(), read_layout(&mut Cursor::new(&out)).unwrap());
        let keep = |l: &Layout| -> Vec<Item> { l.items.iter().filter(|i| !changed.contains(&i.key.as_str())).cloned().collect() };
        assert_eq!(keep(&a), keep(&b));
        assert_eq!(a.audio, b.audio);
        (out, b)
    }

    fn item<'a>(l: &'a Layout, key: &str) -> Vec<&'a [u8]> {
        l.items.iter().filter(|i| i.key == key).map(|i| &i.bytes[..]).collect()
    }

    #[test]
    fn splice_absorbs_into_padding() {
        // meta's free is 11 bytes, the one after moov 18.
        let f = build(&usual(), Some(3), Some(10), true);
        let moov = top_atoms(&f)[1].clone();
        for (g, top_free) in [("Roc", Some(18)), ("Rockabi", Some(18)), ("Rockabil", Some(14)), ("Rockabilly Rock & Roll", None)] {
            let (out, l) = spliced(&f, &[set("©gen", &[g])], &["©gen"]);
            assert_eq!(out.len(), f.len(), "{g}");
            assert_eq!(item(&l, "©gen"), [genre(g)]);
            let want: Vec<(String, usize)> = [("ftyp".to_string(), 16), (moov.0.clone(), f.len() - 16 - 108 - top_free.unwrap_or(0))]
                .into_iter()
                .chain(top_free.map(|n| ("free".to_string(), n)))
                .chain([("mdat".to_string(), 108)])
                .collect();
            assert_eq!(top_atoms(&out), want, "{g}");
        }
        let (out, l) = spliced(&f, &[del("©gen"), del("----:com.apple.iTunes:MOOD")], &["©gen", "----:com.apple.iTunes:MOOD"]);
        assert_eq!((out.len(), l.items.iter().filter(|i| !i.key.starts_with("moov.") && i.key != "ftyp").count()), (f.len(), 0));
    }

    #[test]
    fn splice_moves_what_follows_moov() {
        // +100 bytes, 11 bytes of free: mdat moves (offsets fixed), meta's free becomes 1024.
        let long = "R".repeat(104);
        let f = build(&usual(), Some(3), None, true);
        let (out, l) = spliced(&f, &[set("©gen", &[&long])], &["©gen"]);
        assert_eq!(out.len(), f.len() + 100 + 1024 - 11);
        assert_eq!(item(&l, "©gen"), [genre(&long)]);
        let (again, _) = spliced(&out, &[set("©gen", &["Jazz"])], &["©gen"]);
        assert_eq!(again.len(), out.len());
        // moov last: it just grows.
        let f = build(&usual(), Some(3), None, false);
        assert_eq!(spliced(&f, &[set("©gen", &[&long])], &["©gen"]).0.len(), f.len() + 100);
        // No padding at all: a shrink of 8 bytes or more leaves a free in its place; a smaller
        // one moves mdat (and leaves padding).
        let f = build(&usual(), None, None, true);
        let (out, _) = spliced(&f, &[del("----:com.apple.iTunes:MOOD")], &["----:com.apple.iTunes:MOOD"]);
        assert_eq!(out.len(), f.len());
        assert_eq!(spliced(&f, &[set("©gen", &["Roc"])], &["©gen"]).0.len(), f.len() - 1 + 1024);
    }

    #[test]
    fn splice_matches_replaces_and_appends() {
        let f = build(&usual(), Some(3), Some(10), true);
        let tags = |l: &Layout| -> Vec<String> { keys(l).into_iter().filter(|k| !k.starts_with("moov.") && k != "ftyp").collect() };
        // Freeform: mean exact, name case-insensitive; the edit's spelling is written.
        let (_, l) =
            spliced(&f, &[set("----:com.apple.iTunes:mood", &["a", "b"])], &["----:com.apple.iTunes:MOOD", "----:com.apple.iTunes:mood"]);
        assert_eq!(tags(&l), ["©gen", "----:com.apple.iTunes:mood"]);
        assert_eq!(item(&l, "----:com.apple.iTunes:mood"), [mood("mood", &["a", "b"])]);
        let (_, l) = spliced(&f, &[set("----:COM.apple.iTunes:MOOD", &["x"])], &["----:COM.apple.iTunes:MOOD"]);
        assert_eq!(tags(&l), ["©gen", "----:com.apple.iTunes:MOOD", "----:COM.apple.iTunes:MOOD"]);
        // New atoms go last; a later edit of the same key wins; edits apply together.
        let edits = [set("©nam", &["T1"]), del("©gen"), set("©nam", &["T2"]), set("----:com.apple.iTunes:MOOD", &["x"])];
        let (_, l) = spliced(&f, &edits, &["©nam", "©gen", "----:com.apple.iTunes:MOOD"]);
        assert_eq!(tags(&l), ["----:com.apple.iTunes:MOOD", "©nam"]);
        assert_eq!(item(&l, "©nam"), [atom(b"\xa9nam", &data("T2"))]);
        // Several matches: the first is replaced in place, the others go.
        let f = build(&[genre("Rock"), mood("MOOD", &["calm"]), genre("Pop"), mood("Mood", &["x"])].concat(), Some(3), None, true);
        let (_, l) = spliced(
            &f,
            &[set("©gen", &["Jazz"]), set("----:com.apple.iTunes:MOOD", &["y"])],
            &["©gen", "----:com.apple.iTunes:MOOD", "----:com.apple.iTunes:Mood"],
        );
        assert_eq!(tags(&l), ["©gen", "----:com.apple.iTunes:MOOD"]);
        assert_eq!(item(&l, "©gen"), [genre("Jazz")]);
        // Nothing to change: the file as it is.
        let p = splice(&mut Cursor::new(&f), &[del("©nam"), del("----:com.melotag:scores")]).unwrap();
        assert_eq!(p, [Piece::Copy { offset: 0, len: f.len() as u64 }]);
    }

    #[test]
    fn splice_refuses() {
        let f = build(&usual(), Some(3), Some(10), true);
        let unsupported = |f: &[u8], e: FieldEdit| matches!(splice(&mut Cursor::new(f), &[e]), Err(RawError::Unsupported(_)));
        for k in ["gnre", "tmpo", "covr", "abc", "©gen2", "----", "----:x", "free", "\u{100}gen"] {
            assert!(unsupported(&f, set(k, &["1"])), "{k}");
        }
        // Non-text atoms can be removed.
        assert!(splice(&mut Cursor::new(&f), &[del("gnre")]).is_ok());
        let frag = [atom(b"ftyp", b"iso5"), atom(b"moov", &atom(b"mvex", b"")), atom(b"mdat", b"")].concat();
        assert!(unsupported(&frag, set("©gen", &["x"])));
        let two = [atom(b"ftyp", b"M4A "), atom(b"moov", &[atom(b"udta", b""), atom(b"udta", b"")].concat())].concat();
        assert!(unsupported(&two, set("©gen", &["x"])));
        assert!(matches!(splice(&mut Cursor::new(&f[16..]), &[set("©gen", &["x"])]), Err(RawError::Unknown)));
        assert!(matches!(splice(&mut Cursor::new(&f[..f.len() - 1]), &[set("©gen", &["x"])]), Err(RawError::Damaged { .. })));
        // A chunk offset that would pass 4 GiB.
        let mut far = build(&usual(), Some(3), None, true);
        let at = far.windows(4).position(|w| w == b"stco").unwrap() + 12;
        far[at..at + 4].copy_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        assert!(unsupported(&far, set("©gen", &[&"R".repeat(100)])));
    }

    #[test]
    fn splice_creates_missing_atoms() {
        let ftyp = atom(b"ftyp", b"M4A ");
        let mvhd = atom(b"mvhd", b"hdr");
        let mdat = atom(b"mdat", &[5u8; 100]);
        // No udta (moov last); a udta with only a terminator; a meta without ilst (QuickTime style).
        let bare = [ftyp.clone(), mdat.clone(), atom(b"moov", &mvhd)].concat();
        let term = [ftyp.clone(), mdat.clone(), atom(b"moov", &[mvhd.clone(), atom(b"udta", &[0; 4])].concat())].concat();
        let qt = [ftyp, mdat, atom(b"moov", &[mvhd, atom(b"udta", &atom(b"meta", &atom(b"hdlr", HDLR_MDIR)))].concat())].concat();
        let new = ["©gen", "moov.udta.meta.(header)", "moov.udta.meta.hdlr"];
        for f in [&bare, &term, &qt] {
            let (_, l) = spliced(f, &[set("©gen", &["Jazz"])], &new);
            assert_eq!(item(&l, "©gen"), [atom(b"\xa9gen", &data("Jazz"))]);
            assert_eq!(item(&l, "moov.udta.meta.hdlr"), [HDLR_MDIR]);
        }
        let (out, l) = spliced(&term, &[set("©gen", &["Jazz"])], &new);
        assert_eq!(keys(&l).last().map(String::as_str), Some("moov.udta.(terminator)"));
        assert!(out.ends_with(&[0; 4]));
        assert_eq!(item(&l, "moov.udta.meta.(header)"), [[0u8; 4]]);
    }

    #[test]
    fn splice_keeps_64_bit_and_size_0_forms() {
        // moov with a 64-bit size and co64 offsets, before mdat.
        let ftyp = atom(b"ftyp", b"M4A ");
        let co64 = |at: u64| atom(b"co64", &[&[0, 0, 0, 0, 0, 0, 0, 1][..], &at.to_be_bytes()].concat());
        let inner = |at: u64| [atom(b"trak", &atom(b"mdia", &atom(b"minf", &atom(b"stbl", &co64(at))))), atom(b"udta", b"")].concat();
        let moov64 = |at: u64| [&1u32.to_be_bytes()[..], b"moov", &(inner(at).len() as u64 + 16).to_be_bytes(), &inner(at)].concat();
        let at = (ftyp.len() + moov64(0).len() + 8) as u64;
        let f = [ftyp.clone(), moov64(at), atom(b"mdat", &[5u8; 100])].concat();
        let (out, _) = spliced(&f, &[set("©gen", &["Jazz"])], &["©gen", "moov.udta.meta.(header)", "moov.udta.meta.hdlr"]);
        assert_eq!(out[ftyp.len()..ftyp.len() + 8], [0, 0, 0, 1, b'm', b'o', b'o', b'v']);
        // moov of size 0 (to the end of the file) stays so.
        let mut z = [ftyp, atom(b"mdat", &[5u8; 100]), atom(b"moov", &atom(b"udta", b""))].concat();
        let moov_at = z.len() - 16;
        z[moov_at..moov_at + 4].copy_from_slice(&[0; 4]);
        let (out, _) = spliced(&z, &[set("©gen", &["Jazz"])], &["©gen", "moov.udta.meta.(header)", "moov.udta.meta.hdlr"]);
        assert_eq!(out[moov_at..moov_at + 8], *b"\0\0\0\0moov");
    }
}
