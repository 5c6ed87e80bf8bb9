//! Ogg (Vorbis, Opus, Speex): raw reading of the header packets and a digest of the audio pages.
//!
//! A page is `OggS`, version 0, header-type flags (1: continued packet, 2: first page, 4: last
//! page), 64-bit granule position, serial, sequence number, CRC-32 (polynomial 0x04C11DB7, over
//! the page with the CRC field zeroed), a segment count and table (lacing values: a packet ends
//! at a value below 255), then the body. Every page is checked: magic, version, CRC, one serial,
//! consecutive sequence numbers, continuation flags that agree with the lacing, no bytes between
//! or after pages. A failed check is [`RawError::Damaged`]; several logical streams (multiplexed
//! or chained) are [`RawError::Unsupported`].
//!
//! The first packet names the codec and so the header packets: Vorbis has three (identification,
//! comment, setup: packet types 1, 3, 5), Opus two (`OpusHead`, `OpusTags`), Speex two plus the
//! extra headers its header announces; FLAC-in-Ogg and other codecs are unsupported. The header
//! packets (not their pagination) are the items: a writer repaginates them when the comments
//! change size. The comment packet gives "(vendor)" and one item per comment (as in FLAC), then
//! a "(comment trailer)" item: Vorbis's framing bit (required) and what follows it unless that
//! is all zero (padding: mutagen and lofty each write their own), Speex's trailing bytes unless
//! all zero (padding), Opus's trailing data when its first byte's low bit says
//! editors must keep it (RFC 7845; zero padding may be dropped). The last header packet must end its page (the codecs require it).
//!
//! The audio digest covers every page after the headers: granule position, header-type flags,
//! segment count and table, body. Not the sequence number or CRC, which a writer that
//! repaginates the headers must rewrite on every later page. The serial is an item ("serial").

use std::io::{BufReader, Read, Seek, SeekFrom};

use sha2::{Digest, Sha256};

use super::flac::{comment_items, parse_comments};
use super::*;

/// CRC-32 lookup table of the Ogg checksum (MSB-first, polynomial 0x04C11DB7, no reflection).
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = (i as u32) << 24;
        let mut k = 0;
        while k < 8 {
            c = if c & 0x8000_0000 != 0 { (c << 1) ^ 0x04C1_1DB7 } else { c << 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continues an Ogg CRC over `data`.
pub(crate) fn crc_update(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = (crc << 8) ^ CRC_TABLE[((crc >> 24) as u8 ^ b) as usize];
    }
    crc
}

/// Largest total of header packets kept in memory (cover art in the comments can be MBs).
const MAX_HEADERS: usize = 64 << 20;
/// Most Speex extra headers accepted (real encoders write none).
const MAX_SPEEX_EXTRA: usize = 16;

fn damaged(what: impl Into<String>, offset: u64) -> RawError {
    RawError::Damaged { what: what.into(), offset }
}

/// The codec of the stream, from its first packet.
#[derive(Clone, Copy, PartialEq)]
enum Codec {
    Vorbis,
    Opus,
    Speex,
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads an Ogg file's header packets as items and hashes its audio pages.
pub fn read_layout<R: Read + Seek>(r: &mut R) -> Result<Layout, RawError> {
    r.seek(SeekFrom::Start(0))?;
    let mut r = BufReader::with_capacity(1 << 16, r);
    let mut pos = 0u64;
    let (mut serial, mut seq) = (0u32, 0u32);
    let mut packets: Vec<Vec<u8>> = Vec::new();
    let mut partial: Vec<u8> = Vec::new();
    // Whether the previous page ended inside a packet (its last lacing value was 255).
    let mut open = false;
    let mut codec = None;
    let mut needed = usize::MAX;
    let mut headers_done = false;
    let mut eos = false;
    let mut hash = Sha256::new();
    let mut audio_len = 0u64;
    let mut body = vec![0u8; 255 * 255];
    let mut first = true;
    loop {
        let mut h = [0u8; 27];
        let n = read_full(&mut r, &mut h)?;
        if n == 0 && !first {
            break;
        }
        if n < 27 || &h[..4] != b"OggS" {
            return Err(if first { RawError::Unknown } else { damaged("no Ogg page where one was expected", pos) });
        }
        if h[4] != 0 {
            return Err(RawError::Unsupported(format!("Ogg page version {}", h[4])));
        }
        let flags = h[5];
        let granule: [u8; 8] = [h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13]];
        let page_serial = u32::from_le_bytes([h[14], h[15], h[16], h[17]]);
        let page_seq = u32::from_le_bytes([h[18], h[19], h[20], h[21]]);
        let stored_crc = u32::from_le_bytes([h[22], h[23], h[24], h[25]]);
        let nsegs = usize::from(h[26]);
        let mut segs = [0u8; 255];
        let segs = &mut segs[..nsegs];
        if read_full(&mut r, segs)? < nsegs {
            return Err(damaged("truncated Ogg page", pos));
        }
        let len: usize = segs.iter().map(|&s| usize::from(s)).sum();
        if read_full(&mut r, &mut body[..len])? < len {
            return Err(damaged("truncated Ogg page", pos));
        }
        let body = &body[..len];
        h[22..26].fill(0);
        let crc = crc_update(crc_update(crc_update(0, &h), segs), body);
        if crc != stored_crc {
            return Err(damaged("Ogg page CRC mismatch", pos));
        }
        if first {
            if flags & 2 == 0 {
                return Err(damaged("first Ogg page without the beginning-of-stream flag", pos));
            }
            serial = page_serial;
        } else if page_serial != serial || flags & 2 != 0 {
            return Err(RawError::Unsupported("several Ogg logical streams (multiplexed or chained)".into()));
        } else if eos {
            return Err(damaged("Ogg page after the end-of-stream page", pos));
        } else if page_seq != seq.wrapping_add(1) {
            return Err(damaged("Ogg page sequence gap (lost pages)", pos));
        }
        if (flags & 1 != 0) != open {
            return Err(damaged("Ogg continuation flag disagrees with the previous page", pos));
        }
        if nsegs > 0 {
            open = segs[nsegs - 1] == 255;
        }
        seq = page_seq;
        eos = flags & 4 != 0;
        first = false;
        if headers_done && !super::hashing_audio() {
            // Tags only: the audio pages are neither read nor checked.
            break;
        }
        if headers_done {
            hash.update(granule);
            hash.update([flags, h[26]]);
            hash.update(&*segs);
            hash.update(body);
            audio_len += len as u64;
        } else {
            let mut at = 0usize;
            if packets.iter().map(Vec::len).sum::<usize>() + partial.len() + len > MAX_HEADERS {
                return Err(RawError::Unsupported("Ogg header packets over 64 MiB".into()));
            }
            for (i, &s) in segs.iter().enumerate() {
                partial.extend(&body[at..at + usize::from(s)]);
                at += usize::from(s);
                if s == 255 {
                    continue;
                }
                let p = std::mem::take(&mut partial);
                if packets.is_empty() {
                    let (c, n) = identify(&p)?;
                    codec = Some(c);
                    needed = n;
                }
                packets.push(p);
                if packets.len() == needed {
                    if i + 1 < nsegs {
                        return Err(RawError::Unsupported("audio data on the last header page".into()));
                    }
                    headers_done = true;
                }
            }
            if !headers_done && eos {
                return Err(damaged("Ogg stream ending inside its headers", pos));
            }
        }
        pos += 27 + nsegs as u64 + len as u64;
    }
    let Some(codec) = codec.filter(|_| headers_done) else {
        return Err(damaged("Ogg stream ending inside its headers", pos));
    };
    let mut items = vec![Item { tag: "Ogg", key: "serial".into(), bytes: serial.to_le_bytes().to_vec() }];
    header_items(codec, &packets, &mut items)?;
    Ok(Layout { container: Container::Ogg, items, audio: AudioDigest { sha256: hash.finalize().into(), len: audio_len } })
}

/// The codec and number of header packets, from the first packet.
fn identify(p: &[u8]) -> Result<(Codec, usize), RawError> {
    if p.starts_with(b"\x01vorbis") {
        Ok((Codec::Vorbis, 3))
    } else if p.starts_with(b"OpusHead") {
        Ok((Codec::Opus, 2))
    } else if p.starts_with(b"Speex   ") {
        let extra = p.get(68..72).ok_or_else(|| damaged("short Speex header", 0))?;
        let extra = u32::from_le_bytes([extra[0], extra[1], extra[2], extra[3]]) as usize;
        if extra > MAX_SPEEX_EXTRA {
            return Err(RawError::Unsupported(format!("Speex stream with {extra} extra headers")));
        }
        Ok((Codec::Speex, 2 + extra))
    } else if p.starts_with(b"\x7fFLAC") {
        Err(RawError::Unsupported("FLAC in Ogg".into()))
    } else {
        Err(RawError::Unsupported("Ogg stream of an unknown codec".into()))
    }
}

/// Turns the header packets into items (packet offsets are unknown here: errors report 0).
fn header_items(codec: Codec, packets: &[Vec<u8>], items: &mut Vec<Item>) -> Result<(), RawError> {
    let ogg = |key: String, bytes: &[u8]| Item { tag: "Ogg", key, bytes: bytes.to_vec() };
    let (first, magic, comment_key) = match codec {
        Codec::Vorbis => ("vorbis-identification", &b"\x03vorbis"[..], "vorbis-comment"),
        Codec::Opus => ("OpusHead", &b"OpusTags"[..], "OpusTags"),
        Codec::Speex => ("speex-header", &b""[..], "speex-comment"),
    };
    items.push(ogg(first.into(), &packets[0]));
    let comment = packets[1].strip_prefix(magic).ok_or_else(|| damaged(format!("{comment_key} packet without its magic"), 0))?;
    let c = parse_comments(comment, 0)?;
    items.extend(comment_items(&c));
    let trailer = &comment[c.end..];
    let keep = match codec {
        Codec::Vorbis if trailer.first().is_none_or(|b| b & 1 == 0) => {
            return Err(damaged("Vorbis comment packet without its framing bit", 0));
        }
        // Zeros after the framing bit are padding (mutagen and lofty each write their own).
        Codec::Vorbis => trailer[1..].iter().any(|&b| b != 0),
        Codec::Opus => trailer.first().is_some_and(|b| b & 1 == 1),
        // Speex defines nothing after the comments; writers (mutagen) pad with zeros there.
        Codec::Speex => trailer.iter().any(|&b| b != 0),
    };
    if keep {
        items.push(ogg("(comment trailer)".into(), trailer));
    }
    for (i, p) in packets.iter().enumerate().skip(2) {
        match codec {
            Codec::Vorbis if p.starts_with(b"\x05vorbis") => items.push(ogg("vorbis-setup".into(), p)),
            Codec::Vorbis => return Err(damaged("Vorbis setup packet without its magic", 0)),
            _ => items.push(ogg(format!("speex-extra-header[{}]", i - 2), p)),
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::flac::write_comments;
    use super::*;
    use std::io::Cursor;

    /// One page with a valid CRC.
    pub fn page(flags: u8, granule: u64, serial: u32, seq: u32, packets: &[&[u8]], open_end: bool) -> Vec<u8> {
        let mut segs: Vec<u8> = Vec::new();
        let mut body: Vec<u8> = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            let mut n = p.len();
            while n >= 255 {
                segs.push(255);
                n -= 255;
            }
            if !(open_end && i + 1 == packets.len()) {
                segs.push(n as u8);
            }
            body.extend(*p);
        }
        let mut h = b"OggS\0".to_vec();
        h.push(flags);
        h.extend(granule.to_le_bytes());
        h.extend(serial.to_le_bytes());
        h.extend(seq.to_le_bytes());
        h.extend([0; 4]);
        h.push(segs.len() as u8);
        h.extend(segs);
        h.extend(body);
        let crc = crc_update(0, &h);
        h[22..26].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// A small Opus-like stream: OpusHead, OpusTags (with `trailer`), two audio pages.
    pub fn opus(trailer: &[u8], seq0: u32) -> Vec<u8> {
        let mut tags = b"OpusTags".to_vec();
        tags.extend(write_comments(b"enc", &[b"GENRE=x".to_vec()]).unwrap());
        tags.extend(trailer);
        let mut f = page(2, 0, 7, seq0, &[b"OpusHead\x01\x02"], false);
        f.extend(page(0, 0, 7, seq0 + 1, &[&tags], false));
        f.extend(page(0, 960, 7, seq0 + 2, &[&[1u8; 300], &[2u8; 10]], false));
        f.extend(page(4, 1920, 7, seq0 + 3, &[&[3u8; 20]], false));
        f
    }

    #[test]
    fn crc_matches_reference() {
        // The Ogg CRC of "123456789" (CRC-32/MPEG-2 without init/xorout: CRC-32/OGG).
        assert_eq!(crc_update(0, b"123456789"), 0x89A1_897F);
    }

    #[test]
    fn reads_opus_items_and_digest() {
        let f = opus(b"\x01bin", 0);
        let l = read_layout(&mut Cursor::new(&f)).unwrap();
        let keys: Vec<&str> = l.items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(keys, ["serial", "OpusHead", "(vendor)", "GENRE", "(comment trailer)"]);
        assert_eq!(l.audio.len, 330);
        // Renumbering the pages leaves items and digest alone; zero padding is not an item.
        let g = read_layout(&mut Cursor::new(opus(b"\x01bin", 5))).unwrap();
        assert_eq!((l.items, l.audio), (g.items, g.audio));
        let z = read_layout(&mut Cursor::new(opus(b"\0\0", 0))).unwrap();
        assert_eq!(z.items.len(), 4);
    }

    #[test]
    fn damaged_and_unsupported() {
        let f = opus(b"", 0);
        let mut bad_crc = f.clone();
        let n = bad_crc.len();
        bad_crc[n - 1] ^= 1;
        assert!(matches!(read_layout(&mut Cursor::new(&bad_crc)), Err(RawError::Damaged { .. })));
        assert!(matches!(read_layout(&mut Cursor::new(&f[..f.len() - 3])), Err(RawError::Damaged { .. })));
        let mut trailing = f.clone();
        trailing.extend(b"TAG");
        assert!(matches!(read_layout(&mut Cursor::new(&trailing)), Err(RawError::Damaged { .. })));
        let mut chained = f.clone();
        chained.extend(page(2, 0, 8, 0, &[b"OpusHead"], false));
        assert!(matches!(read_layout(&mut Cursor::new(&chained)), Err(RawError::Unsupported(_))));
        let flac = page(2, 0, 1, 0, &[b"\x7fFLAC\x01\x00"], false);
        assert!(matches!(read_layout(&mut Cursor::new(&flac)), Err(RawError::Unsupported(_))));
        // A header packet spanning pages is reassembled.
        let big = [b"OpusTags".to_vec(), write_comments(b"e", &[vec![b'A'; 600]]).unwrap()].concat();
        let mut g = page(2, 0, 7, 0, &[b"OpusHead"], false);
        g.extend(page(0, 0, 7, 1, &[&big[..510]], true));
        g.extend(page(1, 0, 7, 2, &[&big[510..]], false));
        g.extend(page(4, 5, 7, 3, &[b"x"], false));
        let l = read_layout(&mut Cursor::new(&g)).unwrap();
        assert_eq!(l.items[3].bytes.len(), 600);
        // ...but a missing continuation flag is damage.
        let mut h = page(2, 0, 7, 0, &[b"OpusHead"], false);
        h.extend(page(0, 0, 7, 1, &[&big[..510]], true));
        h.extend(page(0, 0, 7, 2, &[&big[510..]], false));
        assert!(matches!(read_layout(&mut Cursor::new(&h)), Err(RawError::Damaged { .. })));
    }
}
