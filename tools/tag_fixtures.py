#!/usr/bin/env python3
"""Generate richly-tagged audio fixtures, tagged the way other taggers leave files.

Usage:
    python tools/tag_fixtures.py OUT_DIR --src FILE.mp3 [--seconds 8]

Encodes short clips of FILE with ffmpeg (libmp3lame, aac, libvorbis, libopus, flac, pcm),
tags them with mutagen (pinned in tools/requirements.txt), writes them into OUT_DIR (made if
missing; fixtures of the same names are overwritten) and prints a JSON manifest to stdout:

    {"files": [{"name": "rich_v23.mp3", "name_b64": "...", "format": "mp3",
                "tag": "ID3v2.3", "pictures": 2, "notes": "..."}, ...]}

`name` is the file name decoded as UTF-8 with invalid bytes replaced by U+FFFD (what Rust's
Path::to_string_lossy() gives); `name_b64` is the standard base64 of the name's exact bytes
(use it for the non-UTF-8 name). The damaged fixture also has "damaged_offset" (absolute file
offset of the zeroed frame id) and "damaged_frame" ("COMM").

Fixtures (stable names; all tagged ones carry title/artist/album):
    rich_v23.mp3       ID3v2.3 (mutagen save(v2_version=3)): 2 APIC (front JPEG, back PNG >= 200 KB),
                       USLT, SYLT, CHAP x2 + CTOC, RVA2, POPM, UFID, GEOB, PRIV, WXXX (UTF-16 desc),
                       TDRC + TYER + TDAT, ETCO, TXXX x4, COMM, TCON, TPE1/TALB/TIT2/TRCK/TPOS/TBPM
    rich_v24.mp3       the same frames as ID3v2.4 (TDRC only, no TYER/TDAT) plus TMOO "Calm"
    damaged_v23.mp3    rich_v23 with the COMM frame id patched to b"\\0\\0MM"
    etco_only_v24.mp3  small ID3v2.4 tag: TIT2, TPE1, TALB, ETCO
    notag.mp3          no ID3v2, no ID3v1, no APE
    ape_id3v1.mp3      APEv2 (text, binary cover, external items; Genre) + ID3v1.1, no ID3v2
    rich.flac          STREAMINFO, SEEKTABLE, VORBIS_COMMENT, APPLICATION, CUESHEET, 2 PICTURE, PADDING
    rich.ogg/.opus     Vorbis comments with 2 METADATA_BLOCK_PICTURE, custom and mixed-case keys
    rich.m4a           AAC, moov before mdat (faststart), Nero chapters (chpl), ilst incl. covr x2
    rich_moov_end.m4a  the same with moov after mdat
    info.wav           RIFF: fmt, bext, LIST/INFO (INAM IART IPRD IGNR ICMT ICRD), data, "id3 " (v2.3)
    rich.aiff          AIFF with an "ID3 " chunk (ID3v2.4)
    three odd names    copies of rich_v24.mp3: a 250-byte UTF-8 name, a name with a newline, a name
                       with a non-UTF-8 byte (b"\\xe9")

Everything is fixed content (no timestamps; ffmpeg runs with +bitexact), so two runs with the
same --src, --seconds and ffmpeg build give byte-identical files. The whole set takes ~2-3 s.
"""
import argparse
import base64
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from mutagen.apev2 import APEv2, APEValue, BINARY, EXTERNAL
from mutagen.aiff import AIFF
from mutagen.flac import FLAC, CueSheet, CueSheetTrack, CueSheetTrackIndex, MetadataBlock, \
    Padding, Picture, SeekPoint, SeekTable
from mutagen.id3 import (APIC, CHAP, COMM, CTOC, CTOCFlags, ETCO, GEOB, ID3, POPM, PRIV, RVA2,
                         SYLT, TALB, TBPM, TCON, TDAT, TDRC, TIT2, TMOO, TPE1, TPE2, TPOS, TRCK,
                         TXXX, TYER, UFID, USLT, WXXX)
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

# ---------------------------------------------------------------------------------------------
# Fixed tag content
TITLE = "Cute — fixture"
ARTIST = "Bensound & Dvořák Ensemble"
ARTIST2 = "Orchestre de l'Été"
ALBUM = "melotag fixtures: Café Sessions"
GENRE = "Romantic Classical"
DATE = "2016-03-14"
COMMENT = "Fixture comment — written by tools/tag_fixtures.py"
LYRICS = "La la la, ünïcödé line one\nSecond line of the lyrics"
RG_GAIN = "-6.50 dB"
RG_PEAK = "0.950000"
MB_ALBUM_ID = "8f2b5c1e-3d4a-4b6c-9e7f-0a1b2c3d4e5f"
SAMPLE_RATE = 44100


def die(msg):
    print("tag_fixtures: " + msg, file=sys.stderr)
    sys.exit(2)


def ffmpeg(*args):
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if r.returncode != 0:
        die("ffmpeg failed: %r\n%s" % (cmd, r.stderr.decode("utf-8", "replace")))


def bitexact(map_metadata="-1"):
    return ["-map_metadata", map_metadata, "-fflags", "+bitexact", "-flags", "+bitexact"]


def encode(src, seconds, out, codec_args, extra_inputs=(), extra_maps=(), rate=SAMPLE_RATE,
           map_metadata="-1"):
    """Encode the first `seconds` of src (stereo, `rate` Hz) to out with no tags from ffmpeg.
    (map_metadata "1" takes global + chapter metadata from an ffmetadata second input.)"""
    args = ["-i", "file:" + src]
    for x in extra_inputs:
        args += ["-i", x]
    args += ["-t", str(seconds), "-map", "0:a:0"] + list(extra_maps) + bitexact(map_metadata)
    args += ["-ac", "2", "-ar", str(rate)] + list(codec_args) + ["file:" + out]
    ffmpeg(*args)


def make_images(tmp):
    """Front cover: 500x500 JPEG test pattern (~20 KB). Back cover: 480x360 RGB noise PNG
    (~250 KB, so a lost picture is obvious)."""
    front = os.path.join(tmp, "front.jpg")
    back = os.path.join(tmp, "back.png")
    ffmpeg("-f", "lavfi", "-i", "testsrc2=s=500x500:r=1", "-frames:v", "1", *bitexact(),
           "-pix_fmt", "yuvj420p", "file:" + front)
    ffmpeg("-f", "lavfi", "-i",
           "nullsrc=s=480x360:r=1,format=rgb24,"
           "geq=r='random(1)*255':g='random(2)*255':b='random(3)*255'",
           "-frames:v", "1", *bitexact(), "file:" + back)
    with open(front, "rb") as f:
        jpeg = f.read()
    with open(back, "rb") as f:
        png = f.read()
    if len(png) < 200_000:
        die("back cover PNG is only %d bytes (< 200 KB)" % len(png))
    return jpeg, png


# ---------------------------------------------------------------------------------------------
# ID3v2
def id3_rich_frames(version, jpeg, png):
    """Frames of rich_v23/rich_v24. v2.3 text is written as UTF-16 by mutagen (encoding=3 is
    UTF-8, which v2.3 lacks: mutagen converts it on save)."""
    enc = 3 if version == 4 else 1
    frames = [
        TIT2(encoding=enc, text=[TITLE]),
        TPE1(encoding=enc, text=[ARTIST]),
        TPE2(encoding=enc, text=[ARTIST]),
        TALB(encoding=enc, text=[ALBUM]),
        TRCK(encoding=0, text=["3/12"]),
        TPOS(encoding=0, text=["1/2"]),
        TBPM(encoding=0, text=["120"]),
        TCON(encoding=enc, text=[GENRE]),
        TDRC(encoding=0, text=[DATE]),
        COMM(encoding=enc, lang="eng", desc="", text=[COMMENT]),
        USLT(encoding=enc, lang="eng", desc="", text=LYRICS),
        SYLT(encoding=enc, lang="eng", format=2, type=1, desc="karaoke",
             text=[("La ", 0), ("la ", 1000), ("la", 2000), ("Second line", 4000)]),
        CHAP(element_id="chp0", start_time=0, end_time=4000, start_offset=0xFFFFFFFF,
             end_offset=0xFFFFFFFF, sub_frames=[TIT2(encoding=enc, text=["Intro"])]),
        CHAP(element_id="chp1", start_time=4000, end_time=8000, start_offset=0xFFFFFFFF,
             end_offset=0xFFFFFFFF, sub_frames=[TIT2(encoding=enc, text=["Thème"])]),
        CTOC(element_id="toc", flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
             child_element_ids=["chp0", "chp1"], sub_frames=[TIT2(encoding=enc, text=["Chapters"])]),
        RVA2(desc="track", channel=1, gain=-6.5, peak=0.95),
        POPM(email="rating@example.org", rating=196, count=7),
        UFID(owner="http://musicbrainz.org", data=b"4b1a3f0e-5c2d-4e6f-8a9b-0c1d2e3f4a5b"),
        GEOB(encoding=enc, mime="application/octet-stream", filename="notes.bin",
             desc="fixture blob", data=bytes(range(256)) * 4),
        PRIV(owner="WM/MediaClassPrimaryID",
             data=bytes.fromhex("bc7d60d123e3e24b86a1481a2a8af8fe")),
        WXXX(encoding=1, desc="Página oficial ♪", url="https://example.org/caf%C3%A9?x=1&y=%E2%99%AA"),
        ETCO(format=2, events=[(2, 0), (3, 4000), (4, 7000), (0x16, 7900)]),
        TXXX(encoding=enc, desc="REPLAYGAIN_TRACK_GAIN", text=[RG_GAIN]),
        TXXX(encoding=enc, desc="REPLAYGAIN_TRACK_PEAK", text=[RG_PEAK]),
        TXXX(encoding=enc, desc="MusicBrainz Album Id", text=[MB_ALBUM_ID]),
        TXXX(encoding=enc, desc="CATALOGNUMBER", text=["MLT-0001"]),
        APIC(encoding=enc, mime="image/jpeg", type=3, desc="front", data=jpeg),
        APIC(encoding=enc, mime="image/png", type=4, desc="back", data=png),
    ]
    if version == 3:
        # What update_to_v23() derives from TDRC; TDRC itself is kept too (see notes).
        frames += [TYER(encoding=0, text=["2016"]), TDAT(encoding=0, text=["1403"])]
    else:
        frames.append(TMOO(encoding=enc, text=["Calm"]))
    return frames


def id3_save(path, frames, version):
    tags = ID3()
    for fr in frames:
        tags.add(fr)
    # No update_to_v23(): it would turn TDRC into TYER/TDAT and drop RVA2; we keep those
    # v2.4 frames in the v2.3 tag on purpose (many files in the wild have them).
    tags.save(path, v1=0, v2_version=version, padding=lambda info: 1024)


def id3_raw_frames(data):
    """Walk the frames of the ID3v2.3/2.4 tag at the start of data (no unsync support: the
    tags written here have none). Yields (offset, id, size, flags)."""
    assert data[:3] == b"ID3"
    major = data[3]
    sz = data[6:10]
    tag_end = 10 + ((sz[0] << 21) | (sz[1] << 14) | (sz[2] << 7) | sz[3])
    pos = 10
    if data[5] & 0x40:
        ext = struct.unpack(">I", data[10:14])[0]
        pos += ext if major == 3 else ((ext >> 24) << 21 | ((ext >> 16) & 0x7F) << 14 |
                                       ((ext >> 8) & 0x7F) << 7 | (ext & 0x7F))
    while pos + 10 <= tag_end:
        fid, size, flags = struct.unpack(">4sIH", data[pos:pos + 10])
        if fid == b"\0\0\0\0":
            break
        if major == 4:
            size = ((size >> 24) << 21) | (((size >> 16) & 0x7F) << 14) | \
                (((size >> 8) & 0x7F) << 7) | (size & 0x7F)
        yield pos, fid, size, flags
        pos += 10 + size


def id3v1_block(title, artist, album, year, comment, track, genre):
    def f(s, n):
        b = s.encode("latin-1", "replace")[:n]
        return b + b"\0" * (n - len(b))
    return (b"TAG" + f(title, 30) + f(artist, 30) + f(album, 30) + f(year, 4) +
            f(comment, 28) + b"\0" + bytes([track, genre]))


# ---------------------------------------------------------------------------------------------
# FLAC
def flac_seekpoints(path, every_samples):
    """Real seek points: scan the frames after the metadata (CRC-8 checked frame headers)."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 4
    while True:
        hdr = data[pos]
        size = int.from_bytes(data[pos + 1:pos + 4], "big")
        pos += 4 + size
        if hdr & 0x80:
            break
    first = pos

    def crc8(b):
        c = 0
        for x in b:
            c ^= x
            for _ in range(8):
                c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
        return c

    frames = []  # (offset from first frame, first sample, block size)
    sample = 0
    i = first
    n = len(data)
    while i < n - 16:
        if data[i] == 0xFF and data[i + 1] in (0xF8, 0xF9):
            b2, b3 = data[i + 2], data[i + 3]
            bs_code, sr_code = b2 >> 4, b2 & 0x0F
            j = i + 4
            lead = data[j]  # UTF-8-like coded frame/sample number
            extra = 0
            while extra < 7 and lead & (0x80 >> extra):
                extra += 1
            extra = max(extra - 1, 0)  # leading 1 bits minus one = continuation bytes
            j += 1 + extra
            if bs_code == 6:
                bs = data[j] + 1
                j += 1
            elif bs_code == 7:
                bs = int.from_bytes(data[j:j + 2], "big") + 1
                j += 2
            elif bs_code == 1:
                bs = 192
            elif 2 <= bs_code <= 5:
                bs = 576 << (bs_code - 2)
            elif bs_code >= 8:
                bs = 256 << (bs_code - 8)
            else:
                bs = 0
            j += {12: 1, 13: 2, 14: 2}.get(sr_code, 0)
            if bs and (b3 & 1) == 0 and crc8(data[i:j]) == data[j]:
                frames.append((i - first, sample, bs))
                sample += bs
                i = j + 1
                continue
        i += 1
    points = []
    next_at = 0
    for off, s, bs in frames:
        if s >= next_at:
            points.append(SeekPoint(s, off, bs))
            next_at += every_samples
    return points


def vorbis_picture(data, mime, ptype, desc, width, height, depth):
    p = Picture()
    p.type = ptype
    p.mime = mime
    p.desc = desc
    p.width, p.height, p.depth, p.colors = width, height, depth, 0
    p.data = data
    return p


# ---------------------------------------------------------------------------------------------
# RIFF/WAVE
def riff_chunks(data):
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        yield cid, data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)


def riff_chunk(cid, payload):
    return cid + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def info_list(fields):
    body = b"INFO"
    for cid, text in fields:
        body += riff_chunk(cid, text.encode("utf-8") + b"\0")
    return riff_chunk(b"LIST", body)


def bext_chunk():
    def f(s, n):
        b = s.encode("ascii")
        return b + b"\0" * (n - len(b))
    payload = (f("melotag fixture: broadcast wave description", 256) + f("melotag", 32) +
               f("MLT-0001-REF", 32) + b"2016-03-14" + b"12:00:00" +
               struct.pack("<QH", 0, 2) + b"\0" * 64 +
               struct.pack("<5h", -2300, 50, 300, -150, -1800) + b"\0" * 180 +
               b"A=PCM,F=44100,W=16,M=stereo,T=ffmpeg\r\n")
    return riff_chunk(b"bext", payload)


# ---------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--src", required=True, help="source audio (any ffmpeg-readable file)")
    ap.add_argument("--seconds", type=float, default=8.0)
    a = ap.parse_args()
    if not os.path.isfile(a.src):
        die("no such source file: %s" % a.src)
    if shutil.which("ffmpeg") is None:
        die("ffmpeg not found on PATH")
    out = a.out_dir
    os.makedirs(out, exist_ok=True)
    secs = ("%g" % a.seconds)
    manifest = []

    def P(name):
        return os.path.join(out, name)

    def add(name, fmt, tag, notes, pictures, **extra):
        raw = os.fsencode(name)
        e = {"name": raw.decode("utf-8", "replace"), "name_b64": base64.b64encode(raw).decode(),
             "format": fmt, "tag": tag, "pictures": pictures, "notes": notes}
        e.update(extra)
        manifest.append(e)

    with tempfile.TemporaryDirectory(prefix="tag_fixtures.") as tmp:
        jpeg, png = make_images(tmp)

        # ---- MP3 family: one encode, copies tagged differently
        base_mp3 = os.path.join(tmp, "base.mp3")
        encode(a.src, secs, base_mp3, ["-c:a", "libmp3lame", "-b:a", "128k",
                                       "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3"])

        shutil.copyfile(base_mp3, P("notag.mp3"))
        add("notag.mp3", "mp3", "none", "no ID3v2, no ID3v1, no APE: LAME/Xing frame + audio only", 0)

        shutil.copyfile(base_mp3, P("rich_v23.mp3"))
        id3_save(P("rich_v23.mp3"), id3_rich_frames(3, jpeg, png), 3)
        add("rich_v23.mp3", "mp3", "ID3v2.3",
            "saved by mutagen with v2_version=3 without update_to_v23(): text frames are UTF-16 "
            "(mutagen converts UTF-8 for v2.3); TDRC '2016-03-14' kept verbatim next to TYER "
            "'2016' + TDAT '1403' (what update_to_v23() would have made of it); RVA2 kept too "
            "(a v2.4 frame, as other taggers leave it). Frames: TIT2 TPE1 TPE2 TALB TRCK TPOS "
            "TBPM TCON 'Romantic Classical' TDRC TYER TDAT COMM::eng USLT::eng SYLT CHAP x2 CTOC "
            "RVA2 POPM UFID GEOB PRIV WXXX (UTF-16 desc, latin-1 URL) ETCO TXXX x4 (incl. "
            "REPLAYGAIN_TRACK_GAIN) APIC:front (JPEG) APIC:back (PNG >= 200 KB). No TMOO.", 2)

        shutil.copyfile(base_mp3, P("rich_v24.mp3"))
        id3_save(P("rich_v24.mp3"), id3_rich_frames(4, jpeg, png), 4)
        add("rich_v24.mp3", "mp3", "ID3v2.4",
            "same frames as rich_v23.mp3 in ID3v2.4 (UTF-8 text, WXXX UTF-16), TDRC only (no "
            "TYER/TDAT), plus TMOO 'Calm'", 2)

        # damaged: rich_v23 with the COMM frame id zeroed in its first two bytes
        shutil.copyfile(P("rich_v23.mp3"), P("damaged_v23.mp3"))
        with open(P("damaged_v23.mp3"), "r+b") as f:
            head = f.read(10)
            size = head[6:10]
            tag_len = 10 + ((size[0] << 21) | (size[1] << 14) | (size[2] << 7) | size[3])
            f.seek(0)
            tagdata = f.read(tag_len)
            order = [(off, fid) for off, fid, _, _ in id3_raw_frames(tagdata)]
            comm = [off for off, fid in order if fid == b"COMM"]
            if len(comm) != 1:
                die("expected one COMM frame in rich_v23.mp3, found %d" % len(comm))
            off = comm[0]
            f.seek(off)
            f.write(b"\0\0")
        after = [fid.decode("latin-1") for o, fid in order if o > off]
        add("damaged_v23.mp3", "mp3", "ID3v2.3",
            "rich_v23.mp3 with the COMM frame id patched to b'\\x00\\x00MM' at file offset %d "
            "(frame size and data intact). A strict reader stops there and loses the %d frames "
            "after it (%s); mutagen skips the invalid frame and reads on. Frame order: %s"
            % (off, len(after), " ".join(after),
               " ".join(fid.decode("latin-1") for _, fid in order)), 2,
            damaged_offset=off, damaged_frame="COMM")

        shutil.copyfile(base_mp3, P("etco_only_v24.mp3"))
        id3_save(P("etco_only_v24.mp3"), [
            TIT2(encoding=3, text=[TITLE]), TPE1(encoding=3, text=[ARTIST]),
            TALB(encoding=3, text=[ALBUM]),
            ETCO(format=2, events=[(2, 0), (3, 4000), (4, 7000), (0x16, 7900)])], 4)
        add("etco_only_v24.mp3", "mp3", "ID3v2.4", "small ID3v2.4 tag: TIT2 TPE1 TALB ETCO", 0)

        shutil.copyfile(base_mp3, P("ape_id3v1.mp3"))
        ape = APEv2()
        ape["Title"] = TITLE
        ape["Artist"] = [ARTIST, ARTIST2]
        ape["Album"] = ALBUM
        ape["Year"] = "2016"
        ape["Track"] = "3/12"
        ape["Genre"] = GENRE
        ape["REPLAYGAIN_TRACK_GAIN"] = RG_GAIN
        ape["REPLAYGAIN_TRACK_PEAK"] = RG_PEAK
        ape["Comment"] = COMMENT
        ape["Cover Art (Front)"] = APEValue(b"front.jpg\0" + jpeg, BINARY)
        ape["Related"] = APEValue("https://example.org/related", EXTERNAL)
        ape.save(P("ape_id3v1.mp3"))  # appended at the end (there is no ID3v1 yet)
        with open(P("ape_id3v1.mp3"), "ab") as f:
            f.write(id3v1_block("Cute - fixture", "Bensound & Dvorak Ensemble",
                                "melotag fixtures: Cafe Sessions", "2016",
                                "ID3v1.1 comment", 3, 32))
        add("ape_id3v1.mp3", "mp3", "APEv2+ID3v1",
            "no ID3v2. APEv2 (header+footer, before ID3v1): Title, Artist (2 values), Album, "
            "Year, Track, Genre 'Romantic Classical', REPLAYGAIN_TRACK_GAIN/PEAK, Comment, "
            "'Cover Art (Front)' (binary, JPEG), Related (external). ID3v1.1: title/artist/album "
            "(ASCII), year 2016, track 3, genre 32 (Classical)", 1)

        # ---- odd names: copies of rich_v24.mp3
        stem = "long_name_ünïcödé_"
        pad = 250 - len(stem.encode()) - len(".mp3")
        long_name = stem + "x" * pad + ".mp3"
        assert len(long_name.encode()) == 250
        odd = [(long_name, "250-byte UTF-8 file name"),
               ("line\nbreak.mp3", "file name with a newline"),
               (os.fsdecode(b"latin1_caf\xe9.mp3"), "file name with a non-UTF-8 byte (0xE9)")]
        for name, what in odd:
            shutil.copyfile(P("rich_v24.mp3"), P(name))
            add(name, "mp3", "ID3v2.4", "copy of rich_v24.mp3; " + what, 2)

        # ---- FLAC
        encode(a.src, secs, P("rich.flac"), ["-c:a", "flac", "-sample_fmt", "s16"])
        fl = FLAC(P("rich.flac"))
        streaminfo = fl.metadata_blocks[0]
        vc = fl.tags
        vc.vendor = "reference libFLAC 1.4.3 20230623"
        del vc[:]
        vc.extend([("TITLE", TITLE), ("Artist", ARTIST), ("ARTIST", ARTIST2), ("album", ALBUM),
                   ("Genre", "Jazz"), ("DATE", DATE), ("TRACKNUMBER", "3"), ("TrackTotal", "12"),
                   ("REPLAYGAIN_TRACK_GAIN", RG_GAIN), ("REPLAYGAIN_TRACK_PEAK", RG_PEAK),
                   ("comment", COMMENT), ("LYRICS", LYRICS),
                   ("MUSICBRAINZ_ALBUMID", MB_ALBUM_ID), ("Custom_Field", "Mixed Case Value"),
                   ("MELOTAG_FIXTURE", "1")])
        seek = SeekTable(None)
        seek.seekpoints = flac_seekpoints(P("rich.flac"), 2 * SAMPLE_RATE)
        seek.seekpoints.append(SeekPoint(0xFFFFFFFFFFFFFFFF, 0, 0))  # placeholder point
        appl = MetadataBlock(b"MLTG" + b"melotag application block\0" + bytes(range(64)))
        appl.code = 2
        cue = CueSheet(None)
        cue.media_catalog_number = b"0000000000000"
        cue.lead_in_samples = 88200
        total = streaminfo.total_samples
        cue.compact_disc = total % 588 == 0  # CD-DA offsets must be whole CD frames
        half = (total // 2) // 588 * 588
        t1 = CueSheetTrack(1, 0, isrc=b"XXMLT1600001")
        t1.indexes.append(CueSheetTrackIndex(1, 0))
        t2 = CueSheetTrack(2, half, isrc=b"XXMLT1600002")
        t2.indexes.append(CueSheetTrackIndex(0, 0))
        t2.indexes.append(CueSheetTrackIndex(1, 588 * 10))
        cue.tracks = [t1, t2, CueSheetTrack(170 if cue.compact_disc else 255, total)]
        pics = [vorbis_picture(jpeg, "image/jpeg", 3, "front", 500, 500, 24),
                vorbis_picture(png, "image/png", 4, "back", 480, 360, 24)]
        fl.metadata_blocks = [streaminfo, seek, vc, appl, cue] + pics + [Padding(b"\0" * 4096)]
        fl.seektable, fl.cuesheet = seek, cue
        fl.save(padding=lambda info: 4096)
        add("rich.flac", "flac", "FLAC+Vorbis",
            "blocks: STREAMINFO, SEEKTABLE (%d real points every 2 s + 1 placeholder), "
            "VORBIS_COMMENT (vendor 'reference libFLAC 1.4.3 20230623'; TITLE, Artist + ARTIST "
            "(multi-valued, mixed case), album, Genre=Jazz, DATE, TRACKNUMBER, TrackTotal, "
            "REPLAYGAIN_TRACK_GAIN/PEAK, comment, LYRICS (multi-line), MUSICBRAINZ_ALBUMID, "
            "Custom_Field, MELOTAG_FIXTURE), APPLICATION (id 'MLTG'), CUESHEET (2 tracks + lead-out; "
            "CD-DA with lead-out 170 when the length is whole CD frames, as with 8 s), PICTURE front JPEG, PICTURE back PNG, PADDING 4096"
            % (len(seek.seekpoints) - 1), 2)

        # ---- Ogg Vorbis / Opus
        for name, cls, codec, vendor, rate in (
                ("rich.ogg", OggVorbis, ["-c:a", "libvorbis", "-q:a", "3"],
                 "Xiph.Org libVorbis I 20200704 (Reducing Environment)", SAMPLE_RATE),
                ("rich.opus", OggOpus, ["-c:a", "libopus", "-b:a", "64k"], "libopus 1.3.1", 48000)):
            encode(a.src, secs, P(name), codec, rate=rate)
            o = cls(P(name))
            o.tags.vendor = vendor
            del o.tags[:]
            o.tags.extend([
                ("TITLE", TITLE), ("ARTIST", ARTIST), ("Artist", ARTIST2), ("Album", ALBUM),
                ("genre", GENRE), ("Date", DATE), ("TRACKNUMBER", "3"),
                ("REPLAYGAIN_TRACK_GAIN", RG_GAIN), ("replaygain_track_peak", RG_PEAK),
                ("COMMENT", COMMENT), ("Custom_Field", "Mixed Case Value"),
                ("MELOTAG_FIXTURE", "1")])
            for p in pics:
                o.tags.append(("METADATA_BLOCK_PICTURE", base64.b64encode(p.write()).decode("ascii")))
            o.save(padding=lambda info: 1024)
        add("rich.ogg", "ogg-vorbis", "Vorbis",
            "comments: TITLE, ARTIST + Artist (multi-valued, mixed case), Album, genre 'Romantic "
            "Classical', Date, TRACKNUMBER, REPLAYGAIN_TRACK_GAIN, replaygain_track_peak, COMMENT, "
            "Custom_Field, MELOTAG_FIXTURE, METADATA_BLOCK_PICTURE x2 (front JPEG, back PNG: the "
            "comment header spans many Ogg pages); vendor fixed", 2)
        add("rich.opus", "ogg-opus", "Vorbis",
            "OpusTags with the same comments and 2 METADATA_BLOCK_PICTURE as rich.ogg", 2)

        # ---- MP4 / M4A
        chapters = os.path.join(tmp, "chapters.txt")
        half_ms = int(a.seconds * 500)
        with open(chapters, "w") as f:
            f.write(";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=%d\ntitle=Intro\n"
                    "[CHAPTER]\nTIMEBASE=1/1000\nSTART=%d\nEND=%d\ntitle=Theme\n"
                    % (half_ms, half_ms, int(a.seconds * 1000)))
        for name, flags in (("rich.m4a", ["-movflags", "+faststart"]), ("rich_moov_end.m4a", [])):
            encode(a.src, secs, P(name), ["-c:a", "aac", "-b:a", "96k"] + flags + ["-f", "ipod"],
                   extra_inputs=[chapters], extra_maps=["-map_chapters", "1"], map_metadata="1")
            m = MP4(P(name))
            m.add_tags() if m.tags is None else None
            t = m.tags
            t["\xa9nam"] = [TITLE]
            t["\xa9ART"] = [ARTIST]
            t["aART"] = [ARTIST]
            t["\xa9alb"] = [ALBUM]
            t["\xa9day"] = [DATE]
            t["\xa9gen"] = [GENRE]
            t["\xa9cmt"] = [COMMENT]
            t["\xa9lyr"] = [LYRICS]
            t["\xa9too"] = ["melotag tag_fixtures.py"]
            t["tmpo"] = [120]
            t["trkn"] = [(3, 12)]
            t["disk"] = [(1, 2)]
            t["cpil"] = False
            t["covr"] = [MP4Cover(jpeg, MP4Cover.FORMAT_JPEG), MP4Cover(png, MP4Cover.FORMAT_PNG)]
            t["----:com.apple.iTunes:MOOD"] = [MP4FreeForm(b"Calm")]
            t["----:com.apple.iTunes:REPLAYGAIN_TRACK_GAIN"] = [MP4FreeForm(RG_GAIN.encode())]
            t["----:com.apple.iTunes:MusicBrainz Album Id"] = [MP4FreeForm(MB_ALBUM_ID.encode())]
            m.save(padding=lambda info: 1024)
        notes = ("AAC-LC; ilst: ©nam ©ART aART ©alb ©day ©gen 'Romantic Classical' ©cmt ©lyr "
                 "©too tmpo 120 trkn 3/12 disk 1/2 cpil covr (JPEG + PNG) and freeform "
                 "----:com.apple.iTunes:MOOD 'Calm', :REPLAYGAIN_TRACK_GAIN, :MusicBrainz Album Id; "
                 "Nero chapters (moov.udta.chpl: Intro, Theme) from ffmpeg")
        add("rich.m4a", "m4a", "MP4", "moov before mdat (faststart: stco offsets move when moov "
            "grows); " + notes, 2)
        add("rich_moov_end.m4a", "m4a", "MP4", "moov after mdat; " + notes, 2)

        # ---- WAVE: fmt, bext, LIST/INFO, data, then "id3 " by mutagen
        plain = os.path.join(tmp, "plain.wav")
        encode(a.src, secs, plain, ["-c:a", "pcm_s16le", "-f", "wav"])
        with open(plain, "rb") as f:
            chunks = dict(riff_chunks(f.read()))
        body = (b"WAVE" + riff_chunk(b"fmt ", chunks[b"fmt "]) + bext_chunk() +
                info_list([(b"INAM", TITLE), (b"IART", ARTIST), (b"IPRD", ALBUM),
                           (b"IGNR", "Classical"), (b"ICMT", COMMENT), (b"ICRD", "2016-03-14")]) +
                riff_chunk(b"data", chunks[b"data"]))
        with open(P("info.wav"), "wb") as f:
            f.write(b"RIFF" + struct.pack("<I", len(body)) + body)
        w = WAVE(P("info.wav"))
        w.add_tags()
        for fr in (TIT2(encoding=1, text=[TITLE]), TPE1(encoding=1, text=[ARTIST]),
                   TALB(encoding=1, text=[ALBUM]), TCON(encoding=1, text=["Classical"]),
                   APIC(encoding=1, mime="image/jpeg", type=3, desc="front", data=jpeg)):
            w.tags.add(fr)
        w.tags.save(P("info.wav"), v2_version=3, padding=lambda info: 512)
        add("info.wav", "wav", "RIFF-INFO+ID3v2.3",
            "chunks: fmt, bext (v2, description/originator/date 2016-03-14/loudness/coding "
            "history), LIST/INFO (INAM, IART, IPRD, IGNR 'Classical', ICMT, ICRD; UTF-8, NUL "
            "terminated), data (PCM s16le stereo), 'id3 ' (ID3v2.3: TIT2 TPE1 TALB TCON "
            "'Classical' APIC:front JPEG)", 1)

        # ---- AIFF with ID3 chunk
        encode(a.src, secs, P("rich.aiff"), ["-c:a", "pcm_s16be", "-f", "aiff",
                                             "-write_id3v2", "0"])
        af = AIFF(P("rich.aiff"))
        af.add_tags()
        for fr in (TIT2(encoding=3, text=[TITLE]), TPE1(encoding=3, text=[ARTIST]),
                   TALB(encoding=3, text=[ALBUM]), TCON(encoding=3, text=[GENRE]),
                   TXXX(encoding=3, desc="REPLAYGAIN_TRACK_GAIN", text=[RG_GAIN]),
                   TXXX(encoding=3, desc="CATALOGNUMBER", text=["MLT-0001"]),
                   APIC(encoding=3, mime="image/png", type=3, desc="front", data=png)):
            af.tags.add(fr)
        af.tags.save(P("rich.aiff"), v2_version=4, padding=lambda info: 512)
        add("rich.aiff", "aiff", "ID3v2.4",
            "FORM/AIFF: COMM, SSND, 'ID3 ' chunk (ID3v2.4: TIT2 TPE1 TALB TCON 'Romantic "
            "Classical' TXXX:REPLAYGAIN_TRACK_GAIN TXXX:CATALOGNUMBER APIC:front PNG >= 200 KB)", 1)

    sys.stdout.buffer.write((json.dumps({"files": manifest}, ensure_ascii=False, indent=1)
                             + "\n").encode("utf-8"))


if __name__ == "__main__":
    main()
