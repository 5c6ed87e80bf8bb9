#!/usr/bin/env python3
"""Independent tag reader (mutagen + small container walkers): dump or compare metadata items.

Usage:
    python tools/tag_dump.py [--no-audio] FILE...
    python tools/tag_dump.py [--no-audio] --compare A B [--ignore KEY[,KEY...]]...

Dump mode prints one JSON object (UTF-8), keyed by path, in argument order:

    {PATH: {"path_b64": "...", "format": "MP3", "items": [ITEM...], "pictures": 2,
            "audio_md5": "...", "errors": [...] (only when a reader failed)}}
    ITEM = {"tag": "ID3v2", "key": "TXXX:MOOD", "digest": "<sha256 hex>", "text": "MOOD=Calm"}

Paths: PATH is the argument's bytes decoded as UTF-8 with invalid bytes replaced by U+FFFD
(the same string Rust's Path::to_string_lossy() gives; a newline is just "\\n" in JSON), and
"path_b64" is the standard base64 of the exact bytes (use it for non-UTF-8 names). Two
arguments that map to the same PATH get " (2)", " (3)"... appended. No lone surrogates are
ever printed, so strict JSON parsers (serde_json) accept the output.

"format" is mutagen's file type class name (MP3, FLAC, OggVorbis, OggOpus, MP4, WAVE, AIFF,
...) or "unknown". "audio_md5" is the md5 of `ffmpeg -i FILE -map 0:a:0 -f s16le -c:a
pcm_s16le -` run with `-flags2 +skip_manual` (decoded PCM of the first audio stream with
encoder delay/padding left in, so ffmpeg's file-size-based gapless heuristics cannot make it
depend on tag sizes); null with --no-audio or when ffmpeg fails, then "audio_error" says why. "pictures" counts APIC frames, FLAC PICTURE blocks,
METADATA_BLOCK_PICTURE/COVERART comments, MP4 covr images and APE "Cover Art (...)" items.

Items, per tag ("key" is what --ignore matches; "digest" is defined below):
  ID3v2     (at the start of the file, or the "id3 "/"ID3 " chunk of WAVE/AIFF; read with
            translate=False so frames stay as stored: no v2.3->v2.4 conversion, no ID3v1
            merge). One item per frame, key = frame.HashKey ("TCON", "TXXX:MOOD", "COMM::eng",
            "APIC:front", "CHAP:chp0", ...). key "(version)" = the tag's major version.
            Frames mutagen keeps as raw bytes (unknown ids) -> key "unknown:<ID>"; frames a raw
            walk of the tag finds but mutagen drops -> key "invalid:<hex id>" (e.g. the
            b"\\0\\0MM" of a damaged COMM: "invalid:00004d4d") or "unparsable:<ID>".
  APE       one item per APEv2 item, key = item key as stored (e.g. "Genre").
  ID3v1     fields title, artist, album, year, comment, track (v1.1 only), genre.
  Vorbis    (FLAC, Ogg Vorbis/Opus/FLAC/Speex comments) one item per (key, value) pair,
            key = field name upper-cased; key "(vendor)" = the vendor string.
  FLAC      one item per metadata block except VORBIS_COMMENT (itemised above) and PADDING
            (padding may legitimately change): "STREAMINFO", "SEEKTABLE", "CUESHEET",
            "PICTURE", "APPLICATION:<4-char id>", "BLOCK<n>" for other types.
  MP4       one item per ilst key ("©gen", "trkn", "----:com.apple.iTunes:MOOD", ...) with all
            its values, except "covr": one item per image; "chpl" = Nero chapters.
  RIFF-INFO one item per LIST/INFO sub-chunk, key = its id ("INAM", "IGNR", ...).
  RIFF      other WAVE chunks, key = chunk id ("fmt ", "bext", "LIST:adtl", ...); "data" and
            filler chunks (JUNK, junk, PAD , FLLR) are not items.
  AIFF      AIFF chunks other than SSND and the ID3 chunk, key = chunk id ("COMM", "NAME", ...).

Digest: sha256 hex of the UTF-8 JSON text (sort_keys, separators ",", ":", no ASCII escaping)
of [tag, stored_key, value], where stored_key is the key exactly as stored (original case: a
change of "Genre" to "GENRE" changes the digest even though both match key "GENRE") and value
is a canonical form of every field mutagen parsed:
  ID3 frame  {"frame": class name, "fields": {spec name: value}} over the frame's _framespec +
             _optionalspec (encoding, lang, desc, text, mime, type, data, url, email, rating,
             count, owner, events, sub_frames, element ids, times, gain, peak, ...): bytes ->
             {"hex": ...}, floats -> repr(), ID3TimeStamp -> {"ts": text}, enums -> int,
             sub_frames (CHAP/CTOC) -> list of sub-frame canonical forms sorted by HashKey.
             This covers every field the frame carries, and is independent of the tag version
             mutagen would write (unlike frame._writeData(config)); frame header flags are not
             covered. raw/unknown/invalid frames: {"raw": hex of header + data}.
  APE        {"kind": 0 text / 1 binary / 2 external, "value": hex of the stored value bytes}
  ID3v1      {"raw": hex of the field's bytes} (genre/track: the byte value)
  Vorbis     the value string; vendor: the vendor string
  FLAC       {"raw": hex of mutagen's re-serialised block body, block.write()}
  MP4        list of values: str / int / bool / [a, b] tuples / {"freeform": hex, "dataformat",
             "version"} / {"hex": ...}; covr item: {"imageformat": n, "data": hex};
             chpl: [[start_seconds_repr, title], ...]
  RIFF, RIFF-INFO, AIFF  {"raw": hex of the chunk body as stored (without the pad byte)}

Compare mode dumps A and B and exits 0 when, after dropping items whose key matches an
--ignore key (case-insensitive, exact key; "--ignore TCON,TMOO,TXXX:MOOD,GENRE,MOOD,©gen,
----:com.apple.iTunes:MOOD,IGNR"), both files have the same multiset of (tag, key, digest),
the same format, the same reader errors and the same audio_md5. Otherwise it prints the
differences ("- A only", "+ B only", audio, format, errors) and exits 1. Exit 2: bad usage or
a file that cannot be opened. ID3v2 "(version)" can be ignored like any key.
"""
import argparse
import base64
import hashlib
import io
import json
import os
import re
import struct
import subprocess
import sys
from collections import Counter

import mutagen
from mutagen.apev2 import APEv2, APENoHeaderError
from mutagen.flac import FLAC, Padding, VCFLACDict, StreamInfo, SeekTable, CueSheet, Picture
from mutagen.id3 import ID3, ID3Tags, ID3TimeStamp, Frames
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

PICTURE_VORBIS_KEYS = ("METADATA_BLOCK_PICTURE", "COVERART")
FILLER_CHUNKS = {b"JUNK", b"junk", b"PAD ", b"FLLR"}
ID3_CHUNKS = {b"id3 ", b"ID3 "}


# ---------------------------------------------------------------------------------------------
# canonical forms and items
def canon(v):
    if isinstance(v, MP4FreeForm):
        return {"freeform": bytes(v).hex(), "dataformat": int(v.dataformat),
                "version": int(getattr(v, "version", 0))}
    if isinstance(v, MP4Cover):
        return {"imageformat": int(v.imageformat), "data": bytes(v).hex()}
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return str(v)
    if v is None:
        return None
    if isinstance(v, ID3TimeStamp):
        return {"ts": v.text}
    if isinstance(v, ID3Tags):
        return [id3_frame_canon(f) for f in sorted(v.values(), key=lambda f: f.HashKey)]
    if isinstance(v, (list, tuple)):
        return [canon(x) for x in v]
    if isinstance(v, dict):
        return {str(k): canon(x) for k, x in v.items()}
    if hasattr(v, "__dict__"):
        return {"class": type(v).__name__, "attrs": {k: canon(x) for k, x in vars(v).items()}}
    return repr(v)


def id3_frame_canon(f):
    specs = list(getattr(f, "_framespec", [])) + list(getattr(f, "_optionalspec", []))
    return {"frame": type(f).__name__,
            "fields": {s.name: canon(getattr(f, s.name, None)) for s in specs}}


def digest(tag, key, value):
    text = json.dumps([tag, key, value], sort_keys=True, ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def clean(s):
    """A str safe for strict JSON/UTF-8 output (lone surrogates -> U+FFFD)."""
    if s is None:
        return None
    return s.encode("utf-8", "replace").decode("utf-8") if isinstance(s, str) else str(s)


def short(s, n=120):
    if s is None:
        return None
    s = clean(str(s)).replace("\r", "").replace("\n", " | ")
    return s if len(s) <= n else s[:n - 1] + "…"


class Dump:
    def __init__(self):
        self.items = []
        self.pictures = 0
        self.errors = []

    def add(self, tag, key, value, text=None, stored_key=None, picture=False):
        sk = key if stored_key is None else stored_key
        self.items.append({"tag": tag, "key": clean(key), "digest": digest(tag, sk, value),
                           "text": short(text)})
        if picture:
            self.pictures += 1

    def guard(self, what, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # a reader failing must not hide the other tags
            self.errors.append("%s: %s: %s" % (what, type(e).__name__, clean(str(e))))


# ---------------------------------------------------------------------------------------------
# ID3v2
def syncsafe(b):
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def id3v2_tag_bytes(data):
    """The whole ID3v2 tag (header .. footer) at the start of data, or None."""
    if len(data) < 10 or data[:3] != b"ID3" or data[3] == 0xFF:
        return None
    end = 10 + syncsafe(data[6:10]) + (10 if data[3] == 4 and data[5] & 0x10 else 0)
    return data[:end]


def id3_raw_frames(tag):
    """Raw walk of an ID3v2.3/2.4 tag: (id bytes, flags, header+data bytes, data)."""
    major, flags = tag[3], tag[5]
    body = tag[10:10 + syncsafe(tag[6:10])]
    if major == 3 and flags & 0x80:  # whole-tag unsynchronisation
        body = body.replace(b"\xff\x00", b"\xff")
    pos = 0
    if flags & 0x40 and len(body) >= 4:  # extended header
        pos = (struct.unpack(">I", body[:4])[0] + 4) if major == 3 else syncsafe(body[:4])
    out = []
    while pos + 10 <= len(body):
        fid, size, fflags = struct.unpack(">4sIH", body[pos:pos + 10])
        if fid.strip(b"\0") == b"":
            break
        if major == 4:
            size = syncsafe(body[pos + 4:pos + 8])
        data = body[pos + 10:pos + 10 + size]
        out.append((fid, fflags, body[pos:pos + 10 + size], data))
        pos += 10 + size
    return out


def read_id3v2(d, tag):
    t = ID3(io.BytesIO(tag), translate=False, load_v1=False)
    d.add("ID3v2", "(version)", [t.version[0], t.version[1]],
          "ID3v2.%d.%d" % (t.version[1], t.version[2]))
    for f in t.values():
        c = id3_frame_canon(f)
        try:
            text = f.pprint()
        except Exception:
            text = "[unrepresentable data]"
        if "[unrepresentable data]" in text:
            parts = []
            for s in list(f._framespec) + list(f._optionalspec):
                v = getattr(f, s.name, None)
                parts.append("%s=%s" % (s.name, "<%d bytes>" % len(v) if isinstance(v, bytes)
                                        else v))
            text = "%s %s" % (f.FrameID, ", ".join(parts))
        d.add("ID3v2", f.HashKey, c, text, picture=type(f).__name__ in ("APIC", "PIC"))
    for raw in t.unknown_frames:
        fid = raw[:4] if t.version >= (2, 3, 0) else raw[:3]
        d.add("ID3v2", "unknown:" + fid.decode("latin-1"), {"raw": raw.hex()},
              "unknown frame, %d bytes" % len(raw))
    if t.version < (2, 3, 0):
        return
    # frames mutagen silently drops: invalid ids, or content it cannot parse
    for fid, fflags, raw, data in id3_raw_frames(tag):
        if not data:
            continue
        name = fid.decode("latin-1")
        if not re.fullmatch(r"[A-Z0-9]{4}", name):
            d.add("ID3v2", "invalid:" + fid.hex(), {"raw": raw.hex()},
                  "invalid frame id %r, %d bytes" % (name, len(raw)))
        elif name in Frames:
            try:
                Frames[name]._fromData(t._header, fflags, data)
            except NotImplementedError:
                pass  # kept in unknown_frames
            except Exception as e:
                d.add("ID3v2", "unparsable:" + name, {"raw": raw.hex()},
                      "mutagen cannot parse: %s" % e)


# ---------------------------------------------------------------------------------------------
# ID3v1, APEv2
def read_id3v1(d, data):
    if len(data) < 128 or data[-128:-125] != b"TAG":
        return
    t = data[-128:]

    def txt(b):
        return b.split(b"\0", 1)[0].decode("latin-1").rstrip()
    fields = [("title", t[3:33]), ("artist", t[33:63]), ("album", t[63:93]), ("year", t[93:97])]
    if t[125] == 0 and t[126] != 0:  # ID3v1.1
        fields += [("comment", t[97:125]), ("track", t[126:127])]
    else:
        fields += [("comment", t[97:127])]
    for k, b in fields:
        d.add("ID3v1", k, {"raw": b.hex()}, str(b[0]) if k == "track" else txt(b))
    d.add("ID3v1", "genre", {"raw": t[127:128].hex()}, "genre %d" % t[127])


def read_ape(d, path):
    try:
        ape = APEv2(path)
    except APENoHeaderError:
        return
    for key, v in ape.items():
        kind = int(v.kind)
        if kind == 1:
            text = "<binary %d bytes>" % len(v._write())
        else:
            text = " / ".join(list(v)) if kind == 0 else str(v)
        d.add("APE", key, {"kind": kind, "value": v._write().hex()}, "%s=%s" % (key, text),
              picture=(kind == 1 and key.lower().startswith("cover art")))


# ---------------------------------------------------------------------------------------------
# Vorbis comments, FLAC, MP4
def read_vcomment(d, vc):
    d.add("Vorbis", "(vendor)", vc.vendor, vc.vendor)
    for k, v in list(vc):
        up = k.upper()
        if up in PICTURE_VORBIS_KEYS:
            text = "%s: %d base64 chars" % (k, len(v))
            if up == "METADATA_BLOCK_PICTURE":
                try:
                    p = Picture(base64.b64decode(v))
                    text = "%s: %s type %d %r %dx%d, %d bytes" % (
                        k, p.mime, p.type, p.desc, p.width, p.height, len(p.data))
                except Exception:
                    pass
            d.add("Vorbis", up, v, text, stored_key=k, picture=True)
        else:
            d.add("Vorbis", up, v, "%s=%s" % (k, v), stored_key=k)


def read_flac(d, f):
    for b in f.metadata_blocks:
        if isinstance(b, Padding):
            continue
        if isinstance(b, VCFLACDict):
            read_vcomment(d, b)
            continue
        body = bytes(b.write())
        if isinstance(b, StreamInfo):
            key, text = "STREAMINFO", "%d Hz, %d ch, %d samples" % (
                b.sample_rate, b.channels, b.total_samples)
        elif isinstance(b, SeekTable):
            key, text = "SEEKTABLE", "%d points" % len(b.seekpoints)
        elif isinstance(b, CueSheet):
            key, text = "CUESHEET", "%d tracks" % len(b.tracks)
        elif isinstance(b, Picture):
            key, text = "PICTURE", "%s type %d %r %dx%d, %d bytes" % (
                b.mime, b.type, b.desc, b.width, b.height, len(b.data))
        elif b.code == 2:
            key, text = "APPLICATION:" + body[:4].decode("latin-1"), "%d bytes" % len(body)
        else:
            key, text = "BLOCK%d" % b.code, "%d bytes" % len(body)
        d.add("FLAC", key, {"raw": body.hex()}, text, picture=isinstance(b, Picture))


def mp4_text(v):
    if isinstance(v, MP4FreeForm):
        return bytes(v).decode("utf-8", "replace")
    if isinstance(v, tuple):
        return "/".join(str(x) for x in v)
    if isinstance(v, bytes):
        return "<%d bytes>" % len(v)
    return str(v)


def read_mp4(d, m):
    if m.tags is not None:
        for key in m.tags.keys():
            values = m.tags[key]
            if key == "covr":
                for c in values:
                    fmt = {13: "image/jpeg", 14: "image/png", 27: "image/bmp"}.get(
                        int(c.imageformat), "format %d" % int(c.imageformat))
                    d.add("MP4", key, canon(c), "covr: %s, %d bytes" % (fmt, len(c)), picture=True)
            else:
                vs = values if isinstance(values, list) else [values]
                d.add("MP4", key, canon(vs), "%s=%s" % (key, " / ".join(mp4_text(v) for v in vs)))
        for key, raws in getattr(m.tags, "_failed_atoms", {}).items():
            for raw in raws:
                d.add("MP4", key, {"raw": bytes(raw).hex()},
                      "%s: atom mutagen cannot parse, %d bytes" % (key, len(raw)))
    ch = getattr(m, "chapters", None)
    if ch:
        d.add("MP4", "chpl", [[repr(float(c.start)), c.title] for c in ch],
              "; ".join("%g %s" % (c.start, c.title) for c in ch))


# ---------------------------------------------------------------------------------------------
# RIFF/WAVE and AIFF chunk walks
def iff_chunks(data, big_endian):
    fmt = ">I" if big_endian else "<I"
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4]
        size = struct.unpack(fmt, data[pos + 4:pos + 8])[0]
        yield cid, data[pos + 8:pos + 8 + size]
        pos += 8 + size + (size & 1)


def chunk_name(cid):
    return cid.decode("latin-1")


def read_riff(d, data):
    for cid, body in iff_chunks(data, False):
        if cid == b"data" or cid in FILLER_CHUNKS:
            continue
        if cid in ID3_CHUNKS:
            tag = id3v2_tag_bytes(body)
            if tag:
                d.guard("ID3v2 (%s chunk)" % chunk_name(cid), read_id3v2, d, tag)
            continue
        if cid == b"LIST" and body[:4] == b"INFO":
            pos = 4
            while pos + 8 <= len(body):
                sid = body[pos:pos + 4]
                size = struct.unpack("<I", body[pos + 4:pos + 8])[0]
                sub = body[pos + 8:pos + 8 + size]
                try:
                    text = sub.rstrip(b"\0").decode("utf-8")
                except UnicodeDecodeError:
                    text = sub.rstrip(b"\0").decode("latin-1")
                d.add("RIFF-INFO", chunk_name(sid), {"raw": sub.hex()},
                      "%s=%s" % (chunk_name(sid), text))
                pos += 8 + size + (size & 1)
            continue
        key = chunk_name(cid) + (":" + chunk_name(body[:4]) if cid == b"LIST" else "")
        text = "%d bytes" % len(body)
        if cid == b"bext":
            text = "bext: " + body[:256].split(b"\0", 1)[0].decode("latin-1")
        d.add("RIFF", key, {"raw": body.hex()}, text)


def read_aiff(d, data):
    for cid, body in iff_chunks(data, True):
        if cid == b"SSND":
            continue
        if cid in ID3_CHUNKS:
            tag = id3v2_tag_bytes(body)
            if tag:
                d.guard("ID3v2 (%s chunk)" % chunk_name(cid), read_id3v2, d, tag)
            continue
        d.add("AIFF", chunk_name(cid), {"raw": body.hex()}, "%d bytes" % len(body))


# ---------------------------------------------------------------------------------------------
def audio_md5(path):
    # -flags2 +skip_manual: no gapless/priming trimming, so the PCM does not depend on ffmpeg's
    # heuristics that look at the file size (e.g. an mp3 whose APE tag grew past 1/16 of the
    # file loses its LAME end-padding trim: "invalid concatenated file detected").
    cmd = [b"ffmpeg", b"-nostdin", b"-hide_banner", b"-v", b"error", b"-flags2", b"+skip_manual",
           b"-i", b"file:" + path,
           b"-map", b"0:a:0", b"-f", b"s16le", b"-c:a", b"pcm_s16le", b"-"]
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        return None, "cannot run ffmpeg: %s" % e
    h = hashlib.md5()
    n = 0
    for chunk in iter(lambda: p.stdout.read(1 << 16), b""):
        h.update(chunk)
        n += len(chunk)
    err = p.stderr.read()
    p.wait()
    if p.returncode != 0 or n == 0:
        return None, "ffmpeg exit %d: %s" % (p.returncode, clean(err.decode("utf-8", "replace"))[-500:])
    return h.hexdigest(), None


def dump_file(path, want_audio=True):
    """path: bytes. Returns the entry dict (without the path key)."""
    entry = {"path_b64": base64.b64encode(path).decode("ascii")}
    with open(path, "rb") as fh:
        data = fh.read()
    d = Dump()
    try:
        f = mutagen.File(path)
    except Exception as e:
        f = None
        d.errors.append("mutagen.File: %s: %s" % (type(e).__name__, clean(str(e))))
    fmt = type(f).__name__ if f is not None else "unknown"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        fmt = "WAVE" if fmt == "unknown" else fmt
        d.guard("RIFF", read_riff, d, data)
    elif data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        fmt = "AIFF" if fmt == "unknown" else fmt
        d.guard("AIFF", read_aiff, d, data)
    else:
        tag = id3v2_tag_bytes(data)
        if tag:
            d.guard("ID3v2", read_id3v2, d, tag)
        if isinstance(f, FLAC):
            d.guard("FLAC", read_flac, d, f)
        elif isinstance(f, MP4):
            d.guard("MP4", read_mp4, d, f)
        elif f is not None and f.tags is not None and hasattr(f.tags, "vendor"):
            d.guard("Vorbis", read_vcomment, d, f.tags)
        d.guard("APE", read_ape, d, path)
        d.guard("ID3v1", read_id3v1, d, data)
    entry["format"] = fmt
    entry["items"] = d.items
    entry["pictures"] = d.pictures
    md5, aerr = audio_md5(path) if want_audio else (None, None)
    entry["audio_md5"] = md5
    if aerr:
        entry["audio_error"] = aerr
    if d.errors:
        entry["errors"] = d.errors
    return entry


def path_key(path):
    return path.decode("utf-8", "replace")


def emit(obj):
    sys.stdout.buffer.write((json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8"))
    sys.stdout.buffer.flush()


def compare(a, b, ignore, want_audio):
    ea, eb = dump_file(a, want_audio), dump_file(b, want_audio)
    ign = {k.casefold() for k in ignore}

    def bag(e):
        return Counter((i["tag"], i["key"], i["digest"]) for i in e["items"]
                       if i["key"].casefold() not in ign)
    texts = {}
    for e in (ea, eb):
        for i in e["items"]:
            texts[(i["tag"], i["key"], i["digest"])] = i["text"]
    ca, cb = bag(ea), bag(eb)
    only_a, only_b = ca - cb, cb - ca
    out = []
    for k in sorted(set(only_a) | set(only_b)):
        for sign, c in (("-", only_a), ("+", only_b)):
            for _ in range(c.get(k, 0)):
                out.append("%s %s only: [%s] %s: %s (%s)" % (
                    sign, "A" if sign == "-" else "B", k[0], k[1], texts.get(k), k[2][:12]))
    if ea["format"] != eb["format"]:
        out.append("format differs: A %s, B %s" % (ea["format"], eb["format"]))
    if ea["audio_md5"] != eb["audio_md5"] or ea.get("audio_error") or eb.get("audio_error"):
        if not (ea["audio_md5"] is None and eb["audio_md5"] is None and not want_audio):
            out.append("audio_md5 differs: A %s, B %s%s" % (
                ea["audio_md5"], eb["audio_md5"],
                "".join(" (%s: %s)" % (w, e[("audio_error")]) for w, e in (("A", ea), ("B", eb))
                        if e.get("audio_error"))))
    if ea.get("errors", []) != eb.get("errors", []):
        out.append("reader errors differ: A %s, B %s" % (ea.get("errors", []), eb.get("errors", [])))
    head = "A = %s\nB = %s" % (path_key(a), path_key(b))
    if out:
        print(head + "\n" + "\n".join(out) + "\n%d difference(s)" % len(out))
        return 1
    n = sum(ca.values())
    print(head + "\nsame: %d items compared (%d ignored in A, %d in B), audio %s" % (
        n, len(ea["items"]) - n, len(eb["items"]) - sum(cb.values()),
        "equal" if want_audio else "not compared"))
    return 0


def main():
    ap = argparse.ArgumentParser(
        description="Dump or compare tags with mutagen (see the module docstring).")
    ap.add_argument("files", nargs="*", help="files to dump")
    ap.add_argument("--compare", nargs=2, metavar=("A", "B"))
    ap.add_argument("--ignore", action="append", default=[],
                    help="comma-separated keys to ignore in --compare (repeatable)")
    ap.add_argument("--no-audio", action="store_true", help="skip the ffmpeg audio md5")
    a = ap.parse_args()
    ignore = [k for arg in a.ignore for k in arg.split(",") if k]
    if a.compare:
        if a.files:
            ap.error("--compare takes exactly two files and no others")
        paths = [os.fsencode(p) for p in a.compare]
        for p in paths:
            if not os.path.isfile(p):
                print("tag_dump: no such file: %s" % path_key(p), file=sys.stderr)
                return 2
        return compare(paths[0], paths[1], ignore, not a.no_audio)
    if not a.files:
        ap.error("no files given")
    out = {}
    rc = 0
    for p in a.files:
        raw = os.fsencode(p)
        key = path_key(raw)
        if key in out and out[key]["path_b64"] != base64.b64encode(raw).decode("ascii"):
            n = 2
            while "%s (%d)" % (key, n) in out:
                n += 1
            key = "%s (%d)" % (key, n)
        try:
            out[key] = dump_file(raw, not a.no_audio)
        except OSError as e:
            out[key] = {"path_b64": base64.b64encode(raw).decode("ascii"),
                        "errors": ["open: %s" % clean(str(e))]}
            rc = 1
        if out[key].get("errors"):
            rc = 1
    emit(out)
    return rc


if __name__ == "__main__":
    sys.exit(main())
