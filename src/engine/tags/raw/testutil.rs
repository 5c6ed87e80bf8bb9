//! Test helpers: ID3v2 tags built byte by byte, a deterministic random source, and the check
//! that a write kept every item it did not mean to change.

use super::*;

/// A syncsafe size.
pub fn ss(n: usize) -> [u8; 4] {
    [(n >> 21) as u8 & 0x7F, (n >> 14) as u8 & 0x7F, (n >> 7) as u8 & 0x7F, n as u8 & 0x7F]
}

/// A frame with a v2.4 (syncsafe) or v2.3 (plain) size.
pub fn frame(major: u8, id: &[u8; 4], flags: [u8; 2], body: &[u8]) -> Vec<u8> {
    let size = if major >= 4 { ss(body.len()) } else { (body.len() as u32).to_be_bytes() };
    [&id[..], &size, &flags, body].concat()
}

/// A frame with a plain 32-bit size in a v2.4 tag (what iTunes wrote).
pub fn itunes_frame(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    [&id[..], &(body.len() as u32).to_be_bytes(), &[0, 0], body].concat()
}

/// A tag: header with `flags`, `content` (extended header + frames), `padding` zero bytes.
pub fn tag_bytes(major: u8, flags: u8, content: &[u8], padding: usize) -> Vec<u8> {
    let mut t = [b"ID3", &[major, 0, flags][..], &ss(content.len() + padding), content].concat();
    t.resize(t.len() + padding, 0);
    t
}

/// Applies unsynchronisation (0xFF followed by 0x00 or >= 0xE0, or a final 0xFF, gets a 0x00).
pub fn unsync_encode(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        out.push(b);
        if b == 0xFF && data.get(i + 1).is_none_or(|&n| n == 0 || n >= 0xE0) {
            out.push(0);
        }
    }
    out
}

/// UTF-16 with a little-endian BOM.
pub fn u16le(s: &str) -> Vec<u8> {
    [vec![0xFF, 0xFE], s.encode_utf16().flat_map(u16::to_le_bytes).collect()].concat()
}

/// The frames of a rich tag (id, body): every kind lofty mishandles, and plenty of others.
pub fn rich_frames(major: u8) -> Vec<([u8; 4], Vec<u8>)> {
    let mut apic = b"\x00image/png\x00\x03cover\x00".to_vec();
    apic.extend((0..512).map(|i| (i % 256) as u8)); // > 127 bytes, with 0xFF 0x00 / 0xFF 0xE0
    let sub = |text: &str| frame(major, b"TIT2", [0, 0], &[&[3u8][..], text.as_bytes()].concat());
    let mut f: Vec<([u8; 4], Vec<u8>)> = vec![
        (*b"TIT2", [&[3u8][..], "Title 🎵".as_bytes()].concat()),
        (*b"TALB", b"\x00Caf\xe9 Album\x00".to_vec()),
        (*b"TXXX", [&[1u8][..], &u16le("MOOD"), &[0, 0], &u16le("happy")].concat()),
        (*b"TXXX", b"\x00replaygain_track_gain\x00-6.5 dB".to_vec()),
        (*b"TDRC", b"\x002020-01-02".to_vec()),
        (*b"COMM", b"\x00engdesc\x00a comment".to_vec()),
        (*b"APIC", apic),
        (*b"USLT", b"\x03eng\x00la la\nla".to_vec()),
        (*b"SYLT", b"\x00eng\x02\x01\x00la\x00\x00\x00\x03\xe8lo\x00\x00\x00\x07\xd0".to_vec()),
        (*b"CHAP", [&b"ch0\x00"[..], &0u32.to_be_bytes(), &500u32.to_be_bytes(), &[0xFF; 8], &sub("Chapter 1")].concat()),
        (*b"CTOC", [&b"toc\x00\x03\x01ch0\x00"[..], &sub("TOC")].concat()),
        (*b"RVA2", b"track\x00\x01\xf9\x00\x10\xe6\x66".to_vec()),
        (*b"POPM", b"a@b.c\x00\xc4\x00\x00\x00\x07".to_vec()),
        (*b"UFID", b"http://musicbrainz.org\x00abc-123".to_vec()),
        (*b"GEOB", b"\x00application/octet-stream\x00f.bin\x00blob\x00\x00\xff\x00\xffdata".to_vec()),
        (*b"PRIV", b"com.example\x00\xff\xfe\x00priv".to_vec()),
        (*b"WXXX", [&[1u8][..], &u16le("Home ✓"), &[0, 0], b"http://example.com/"].concat()),
        (*b"ETCO", b"\x02\x03\x00\x00\x03\xe8\x04\x00\x00\x13\x88".to_vec()),
        (*b"COMM", [&b"\x01eng"[..], &u16le(""), &[0, 0], &u16le("other ✓")].concat()),
        (*b"PCNT", vec![0, 0, 0, 42]),
    ];
    if major >= 4 {
        f.insert(1, (*b"TPE1", b"\x03Artist A\x00Artist B".to_vec()));
        f.insert(2, (*b"TCON", b"\x03Rock\x00Pop".to_vec()));
    } else {
        f.insert(1, (*b"TPE1", [&[1u8][..], &u16le("Artist A/Artist B"), &[0, 0]].concat()));
        f.insert(2, (*b"TCON", b"\x00(17)Rock".to_vec()));
        f.insert(3, (*b"TYER", b"\x002020".to_vec()));
    }
    f
}

/// The frames of [`rich_frames`] as stored (v2.4: syncsafe sizes; v2.3: plain).
pub fn rich_content(major: u8) -> Vec<u8> {
    rich_frames(major).iter().flat_map(|(id, body)| frame(major, id, [0, 0], body)).collect()
}

/// A rich tag with 300 bytes of padding.
pub fn rich_tag(major: u8) -> Vec<u8> {
    tag_bytes(major, 0, &rich_content(major), 300)
}

/// A small deterministic random source (64-bit LCG, high bits).
pub struct Lcg(pub u64);

impl Lcg {
    /// The next value below `n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    /// Mutates `data` 1 to 3 times: a random byte, a flipped bit, a zeroed byte, a truncation.
    pub fn mutate(&mut self, data: &mut Vec<u8>) {
        for _ in 0..1 + self.below(3) {
            if data.is_empty() {
                return;
            }
            let i = self.below(data.len());
            match self.below(4) {
                0 => data[i] = self.below(256) as u8,
                1 => data[i] ^= 1 << self.below(8),
                2 => data[i] = 0,
                _ => data.truncate(i),
            }
        }
    }
}

/// Whether `key` is one of `edited` (case-insensitive, as TXXX descriptions are matched).
pub fn is_edited(key: &str, edited: &[&str]) -> bool {
    edited.iter().any(|e| e.to_lowercase() == key.to_lowercase())
}

/// Asserts that the items not in `edited` are the same, in the same order, byte for byte.
pub fn assert_kept(old: &[Item], new: &[Item], edited: &[&str]) {
    // A tag created by the splice brings its version item.
    let created = !old.iter().any(|i| i.key == super::id3v2::VERSION_KEY);
    let keep = |items: &[Item]| {
        items
            .iter()
            .filter(|i| !is_edited(&i.key, edited))
            .filter(|i| !(created && i.key == super::id3v2::VERSION_KEY))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keep(old), keep(new), "items other than {edited:?} changed");
}

/// Edits used by many tests: set TCON and TXXX:mood, add TMOO and TXXX:MELOTAG, drop COMM.
pub fn edits(major: u8) -> Vec<FieldEdit> {
    let set = |k: &str, v: &[&str]| FieldEdit { key: k.into(), values: Some(v.iter().map(|s| s.to_string()).collect()) };
    let genres: &[&str] = if major >= 4 { &["Jazz", "Blues 🎷"] } else { &["Jazz/Blues 🎷"] };
    vec![
        set("TCON", genres),
        set("TXXX:mood", &["calm"]),
        set("TMOO", &["calm"]),
        set("TXXX:MELOTAG_SCORES", &["{\"jazz\":0.9}"]),
        FieldEdit { key: "COMM".into(), values: None },
    ]
}

/// The keys [`edits`] touches.
pub const EDITED: &[&str] = &["TCON", "TXXX:mood", "TMOO", "TXXX:MELOTAG_SCORES", "COMM"];

/// Builds the file the pieces describe.
pub fn apply(src: &[u8], pieces: &[Piece]) -> Vec<u8> {
    let mut out = Vec::new();
    super::util::write_pieces(&mut std::io::Cursor::new(src), pieces, &mut out).expect("pieces within the source");
    out
}

/// An APE tag (v2 with header and footer, or v1 with a footer only).
pub fn ape_tag(items: &[(&str, u32, &[u8])], v2: bool) -> Vec<u8> {
    let body: Vec<u8> = items
        .iter()
        .flat_map(|(k, f, v)| [&(v.len() as u32).to_le_bytes()[..], &f.to_le_bytes(), k.as_bytes(), &[0], v].concat())
        .collect();
    let size = (body.len() + 32) as u32;
    let part = |flags: u32| {
        let version: u32 = if v2 { 2000 } else { 1000 };
        [&b"APETAGEX"[..], &version.to_le_bytes(), &size.to_le_bytes(), &(items.len() as u32).to_le_bytes(), &flags.to_le_bytes(), &[0; 8]]
            .concat()
    };
    if v2 { [part(0xA000_0000), body, part(0x8000_0000)].concat() } else { [body, part(0)].concat() }
}

/// Fake MPEG audio: frame-sync-looking bytes, deterministic.
pub fn fake_audio(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Lcg(seed);
    (0..len).map(|i| if i % 417 == 0 { 0xFF } else { rng.below(256) as u8 }).collect()
}

/// A Lyrics3v2 block.
pub fn lyrics3v2() -> Vec<u8> {
    let body = b"LYRICSBEGININD00003110LYR00011hello world".to_vec();
    [body.clone(), format!("{:06}LYRICS200", body.len()).into_bytes()].concat()
}

/// An ID3v1 tag and a TAG+ block before it.
pub fn id3v1_with_plus() -> Vec<u8> {
    let mut plus = b"TAG+".to_vec();
    plus.resize(227, b'p');
    let mut v1 = b"TAGTitle".to_vec();
    v1.resize(128, 0);
    [plus, v1].concat()
}

/// A synthetic MP3: rich v2.4 tag, audio, APEv2, Lyrics3v2, TAG+ and ID3v1.
pub fn rich_mp3() -> Vec<u8> {
    let ape = ape_tag(&[("Title", 0, b"t"), ("Cover Art (Front)", 2, b"x.jpg\0\xff\xd8\xff")], true);
    [rich_tag(4), fake_audio(3000, 7), ape, lyrics3v2(), id3v1_with_plus()].concat()
}

/// A RIFF (little-endian) or AIFF (big-endian) chunk with its pad byte.
pub fn chunk(big_endian: bool, id: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let n = payload.len() as u32;
    let size = if big_endian { n.to_be_bytes() } else { n.to_le_bytes() };
    let mut c = [&id[..], &size, payload].concat();
    if payload.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// A RIFF/WAVE or FORM/AIFF file from its chunks.
pub fn form(big_endian: bool, chunks: &[Vec<u8>]) -> Vec<u8> {
    let body = chunks.concat();
    let n = body.len() as u32 + 4;
    let (id, size, kind) = if big_endian { (b"FORM", n.to_be_bytes(), b"AIFF") } else { (b"RIFF", n.to_le_bytes(), b"WAVE") };
    [&id[..], &size, kind, &body].concat()
}

/// A WAV file with fmt, LIST/INFO (INAM, IGNR, ISFT), an odd-sized data chunk, bext, JUNK and
/// an id3 chunk holding a rich v2.3 tag.
pub fn rich_wav() -> Vec<u8> {
    let info =
        [&b"INFO"[..], &chunk(false, b"INAM", b"Name\0"), &chunk(false, b"IGNR", b"Rock\0"), &chunk(false, b"ISFT", b"Lavf61\0")].concat();
    form(
        false,
        &[
            chunk(false, b"fmt ", &[1, 0, 1, 0, 0x44, 0xAC, 0, 0, 0x88, 0x58, 1, 0, 2, 0, 16, 0]),
            chunk(false, b"LIST", &info),
            chunk(false, b"data", &fake_audio(1001, 3)),
            chunk(false, b"bext", b"odd-7by"),
            chunk(false, b"JUNK", &[0; 10]),
            chunk(false, b"id3 ", &rich_tag(3)),
        ],
    )
}

/// An AIFF file with COMM, SSND, NAME and an ID3 chunk holding a rich v2.4 tag.
pub fn rich_aiff() -> Vec<u8> {
    let comm = [0u8, 1, 0, 0, 0x01, 0xF4, 0, 16, 0x40, 0x0E, 0xAC, 0x44, 0, 0, 0, 0, 0, 0];
    let ssnd = [&[0u8; 8][..], &fake_audio(1001, 4)].concat();
    form(
        true,
        &[chunk(true, b"COMM", &comm), chunk(true, b"SSND", &ssnd), chunk(true, b"NAME", b"A name"), chunk(true, b"ID3 ", &rich_tag(4))],
    )
}

/// The ID3 chunk of the pluck-*.aiff / pluck-*.aifc files in CPython's test suite
/// (Lib/test/audiodata), as Audacity (libid3tag) wrote it: ID3v2.4, no padding, an extended
/// header with only a CRC-32 (0x57AFD261, zlib's CRC of the 124 bytes of frames), then TALB,
/// TIT2, TDRC, TPE1 and COMM.
pub const AUDACITY_ID3: &[u8] = b"ID3\x04\x00\x40\x00\x00\x01\x08\x00\x00\x00\x0c\x01\x20\x05\x05\x3d\x3f\x24\x61\
TALB\x00\x00\x00\x12\x00\x00\x00Python Test Suite\
TIT2\x00\x00\x00\x06\x00\x00\x00Pluck\
TDRC\x00\x00\x00\x05\x00\x00\x002013\
TPE1\x00\x00\x00\x11\x00\x00\x00Serhiy Storchaka\
COMM\x00\x00\x00\x1c\x00\x00\x00\x00\x00\x00\x00Audacity Pluck + Wahwah";

/// A file laid out as those pluck files: AIFF (16-bit) or AIFC (u-law, with FVER), stereo at
/// 11025 Hz; COMM, NAME, AUTH, ANNO, SSND, then an ID3 chunk holding [`AUDACITY_ID3`].
pub fn audacity_aiff(aifc: bool) -> Vec<u8> {
    let frames: u32 = 1000;
    let (bits, bytes_per_frame) = if aifc { (8u16, 2) } else { (16, 4) };
    let mut comm = [&2u16.to_be_bytes()[..], &frames.to_be_bytes(), &bits.to_be_bytes(), b"\x40\x0c\xac\x44\0\0\0\0\0\0"].concat();
    let ssnd = [&[0u8; 8][..], &fake_audio(frames as usize * bytes_per_frame, 11)].concat();
    let mut chunks = Vec::new();
    if aifc {
        comm.extend_from_slice(b"ulaw\0\0");
        chunks.push(chunk(true, b"FVER", b"\xa2\x80\x51\x40"));
    }
    chunks.extend([
        chunk(true, b"COMM", &comm),
        chunk(true, b"NAME", b"Pluck"),
        chunk(true, b"AUTH", b"Serhiy Storchaka"),
        chunk(true, b"ANNO", b"Audacity Pluck + Wahwah"),
        chunk(true, b"SSND", &ssnd),
        chunk(true, b"ID3 ", AUDACITY_ID3),
    ]);
    let mut file = form(true, &chunks);
    if aifc {
        file[8..12].copy_from_slice(b"AIFC");
    }
    file
}

/// CPython's pluck-*.aiff / pluck-*.aifc test files found on this machine (pyenv's Pythons and
/// the system's), each distinct file once.
pub fn pluck_files() -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let list = |dir: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = std::fs::read_dir(dir).into_iter().flatten().flatten().map(|e| e.path()).collect();
        v.sort();
        v
    };
    let mut roots: Vec<std::path::PathBuf> = ["/usr/lib", "/usr/local/lib"].iter().map(Into::into).collect();
    let pyenv = std::env::var_os("PYENV_ROOT")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".pyenv")));
    if let Some(p) = pyenv {
        roots.extend(list(&p.join("versions")).into_iter().map(|v| v.join("lib")));
    }
    let mut found: Vec<(std::path::PathBuf, Vec<u8>)> = Vec::new();
    for lib in roots {
        for py in list(&lib).into_iter().filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python"))) {
            for f in list(&py.join("test/audiodata")) {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                if name.starts_with("pluck-") && (name.ends_with(".aiff") || name.ends_with(".aifc")) {
                    let bytes = std::fs::read(&f).expect("read a pluck file");
                    if !found.iter().any(|(_, b)| *b == bytes) {
                        found.push((f, bytes));
                    }
                }
            }
        }
    }
    found
}
