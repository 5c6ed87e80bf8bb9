//! `melotag write` and `melotag undo` on real files of every format: the field mapping, audio
//! and other tags untouched, dry runs, confirmation, merge modes, per-file failures, undo.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use common::*;
use lofty::config::{ParseOptions, WriteOptions};
use lofty::flac::FlacFile;
use lofty::id3::v2::{FrameId, Id3v2Tag};
use lofty::iff::wav::WavFile;
use lofty::mp4::{AtomData, AtomIdent, Mp4File};
use lofty::mpeg::MpegFile;
use lofty::ogg::{OggPictureStorage, VorbisFile};
use lofty::picture::{MimeType, Picture, PictureType};
use lofty::prelude::*;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Mp3V23,
    Mp3V24,
    Mp3Id3v1Ape,
    FlacCover,
    OggVorbis,
    M4aAac,
    WavId3,
}

const ALL: [Kind; 7] = [Kind::Mp3V23, Kind::Mp3V24, Kind::Mp3Id3v1Ape, Kind::FlacCover, Kind::OggVorbis, Kind::M4aAac, Kind::WavId3];

fn file_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Mp3V23 => "v23.mp3",
        Kind::Mp3V24 => "v24.mp3",
        Kind::Mp3Id3v1Ape => "id3v1_ape.mp3",
        Kind::FlacCover => "cover.flac",
        Kind::OggVorbis => "vorbis.ogg",
        Kind::M4aAac => "aac.m4a",
        Kind::WavId3 => "id3.wav",
    }
}

fn open_rw(path: &Path) -> fs::File {
    fs::OpenOptions::new().read(true).write(true).open(path).unwrap()
}

fn cover(png: &[u8]) -> Picture {
    Picture::unchecked(png.to_vec()).pic_type(PictureType::CoverFront).mime_type(MimeType::Png).description("front").build()
}

/// ~35 s of bensound-cute in the format, with title/artist/album and (where the format has one)
/// a cover picture; the ID3v2.3 file and the APE tag already hold the genre "Pop".
fn make_fixture(dir: &Path, kind: Kind, png: &[u8]) -> PathBuf {
    let src = upstream_audio("bensound-cute", "mp3");
    let out = dir.join(file_name(kind));
    let mut args: Vec<&str> = vec!["-i", src.to_str().unwrap(), "-t", "35", "-map", "0:a"];
    args.extend(["-metadata", "title=Cute", "-metadata", "artist=Bensound", "-metadata", "album=Fixtures"]);
    match kind {
        Kind::Mp3V23 => args.extend(["-c:a", "libmp3lame", "-b:a", "96k", "-id3v2_version", "3", "-metadata", "genre=Pop"]),
        Kind::Mp3V24 => args.extend(["-c:a", "libmp3lame", "-b:a", "96k", "-id3v2_version", "4"]),
        Kind::Mp3Id3v1Ape => args.extend(["-c:a", "libmp3lame", "-b:a", "96k", "-id3v2_version", "0"]),
        Kind::FlacCover => args.extend(["-c:a", "flac"]),
        Kind::OggVorbis => args.extend(["-c:a", "libvorbis", "-q:a", "3"]),
        Kind::M4aAac => args.extend(["-c:a", "aac", "-b:a", "96k"]),
        Kind::WavId3 => args.extend(["-c:a", "pcm_s16le"]),
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    let opts = ParseOptions::new();
    match kind {
        Kind::Mp3V23 | Kind::Mp3V24 => {
            let mut f = MpegFile::read_from(&mut fs::File::open(&out).unwrap(), opts).unwrap();
            let mut tag = f.remove_id3v2().unwrap();
            tag.insert_picture(cover(png));
            tag.save_to(&mut open_rw(&out), WriteOptions::new().use_id3v23(kind == Kind::Mp3V23)).unwrap();
        }
        Kind::Mp3Id3v1Ape => {
            let mut v1 = lofty::id3::v1::Id3v1Tag::new();
            v1.set_title("Cute".into());
            v1.set_artist("Bensound".into());
            v1.set_genre("Jazz".into());
            v1.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
            let mut ape = lofty::ape::ApeTag::new();
            ape.set_title("Cute".into());
            ape.set_artist("Bensound".into());
            ape.set_genre("Pop".into());
            ape.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
        }
        Kind::FlacCover => {
            let mut f = FlacFile::read_from(&mut fs::File::open(&out).unwrap(), opts).unwrap();
            f.insert_picture(cover(png), None).unwrap();
            f.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
        }
        Kind::OggVorbis => {
            let mut f = VorbisFile::read_from(&mut fs::File::open(&out).unwrap(), opts).unwrap();
            let mut tag = f.remove_vorbis_comments();
            tag.insert_picture(cover(png), None).unwrap();
            tag.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
        }
        Kind::M4aAac => {
            let mut f = Mp4File::read_from(&mut fs::File::open(&out).unwrap(), opts).unwrap();
            let mut ilst = f.remove_ilst().unwrap();
            ilst.insert_picture(cover(png));
            ilst.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
        }
        Kind::WavId3 => {
            let mut tag = Id3v2Tag::new();
            tag.set_title("Cute".into());
            tag.set_artist("Bensound".into());
            tag.insert_picture(cover(png));
            tag.save_to(&mut open_rw(&out), WriteOptions::new()).unwrap();
        }
    }
    out
}

/// The genre and mood fields of the mapping, read with lofty's concrete types: (field, values)
/// with `None` for an absent field.
type Fields = Vec<(&'static str, Option<Vec<String>>)>;

fn strings<'a>(it: impl Iterator<Item = &'a str>) -> Option<Vec<String>> {
    let v: Vec<String> = it.map(str::to_string).collect();
    (!v.is_empty()).then_some(v)
}

fn id3_fields(tag: Option<&Id3v2Tag>, v23: bool) -> Fields {
    let Some(tag) = tag else { return vec![("TCON", None), ("TMOO", None), ("TXXX:MOOD", None), ("TXXX:MELOTAG_SCORES", None)] };
    let text = |id: &str| tag.get_texts(&FrameId::new(id.to_string()).unwrap()).and_then(strings);
    let mut tcon = text("TCON");
    if v23 {
        // ID3v2.3 has no multi-value frames: melotag joins with "/".
        tcon = tcon.map(|v| v.iter().flat_map(|s| s.split('/').map(str::to_string)).collect());
    }
    let user = |d: &str| tag.get_user_text(d).map(|t| t.split('\0').map(str::to_string).collect());
    vec![("TCON", tcon), ("TMOO", text("TMOO")), ("TXXX:MOOD", user("MOOD")), ("TXXX:MELOTAG_SCORES", user("MELOTAG_SCORES"))]
}

fn read_fields(path: &Path, kind: Kind) -> Fields {
    let opts = ParseOptions::new();
    let mut file = fs::File::open(path).unwrap();
    match kind {
        Kind::Mp3V23 | Kind::Mp3V24 | Kind::Mp3Id3v1Ape => {
            let f = MpegFile::read_from(&mut file, opts).unwrap();
            let mut fields = id3_fields(f.id3v2(), kind == Kind::Mp3V23);
            if let Some(ape) = f.ape() {
                let get = |k: &str| ape.get(k).and_then(|i| i.text_values().and_then(strings));
                fields.extend([("APE Genre", get("Genre")), ("APE Mood", get("Mood")), ("APE MELOTAG_SCORES", get("MELOTAG_SCORES"))]);
            }
            fields
        }
        Kind::WavId3 => id3_fields(WavFile::read_from(&mut file, opts).unwrap().id3v2(), false),
        Kind::FlacCover | Kind::OggVorbis => {
            let comments = if kind == Kind::FlacCover {
                FlacFile::read_from(&mut file, opts).unwrap().remove_vorbis_comments().unwrap()
            } else {
                VorbisFile::read_from(&mut file, opts).unwrap().remove_vorbis_comments()
            };
            vec![
                ("GENRE", strings(comments.get_all("GENRE"))),
                ("MOOD", strings(comments.get_all("MOOD"))),
                ("MELOTAG_SCORES", strings(comments.get_all("MELOTAG_SCORES"))),
            ]
        }
        Kind::M4aAac => {
            let f = Mp4File::read_from(&mut file, opts).unwrap();
            let atom = |ident: AtomIdent<'_>| {
                f.ilst().and_then(|i| i.get(&ident)).map(|a| {
                    a.data()
                        .map(|d| match d {
                            AtomData::UTF8(s) => s.clone(),
                            other => panic!("non-text data {other:?}"),
                        })
                        .collect()
                })
            };
            let free = |mean: &'static str, name: &'static str| AtomIdent::Freeform { mean: mean.into(), name: name.into() };
            vec![
                ("©gen", atom(AtomIdent::Fourcc(*b"\xa9gen"))),
                ("----:com.apple.iTunes:MOOD", atom(free("com.apple.iTunes", "MOOD"))),
                ("----:com.melotag:scores", atom(free("com.melotag", "scores"))),
            ]
        }
    }
}

fn field<'a>(fields: &'a Fields, name: &str) -> &'a Option<Vec<String>> {
    &fields.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no field {name} in {fields:?}")).1
}

/// Every tag item except genre, mood and melotag's scores, and every picture, as text.
fn other_tags(path: &Path) -> Vec<String> {
    let tagged = lofty::read_from_path(path).unwrap();
    let mut out = Vec::new();
    for tag in tagged.tags() {
        for item in tag.items() {
            let key = format!("{:?}", item.key());
            if matches!(item.key(), ItemKey::Genre | ItemKey::Mood) || key.to_lowercase().contains("melotag") {
                continue;
            }
            out.push(format!("{:?} {key} = {:?}", tag.tag_type(), item.value()));
        }
        for p in tag.pictures() {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            p.data().hash(&mut h);
            out.push(format!(
                "{:?} picture {:?} {:?} {} bytes #{:x}",
                tag.tag_type(),
                p.pic_type(),
                p.mime_type(),
                p.data().len(),
                h.finish()
            ));
        }
    }
    out.sort();
    out
}

fn id3v2_major_version(path: &Path) -> Option<u8> {
    let bytes = fs::read(path).unwrap();
    (bytes.starts_with(b"ID3")).then(|| bytes[3])
}

fn os(args: &[&str]) -> Vec<std::ffi::OsString> {
    args.iter().map(|a| a.into()).collect()
}

fn run(data: &Path, args: &[std::ffi::OsString]) -> std::process::Output {
    let args: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = melotag_data(data, &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    out
}

fn text(out: &std::process::Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Deterministic enough for lossy fixtures: always the two best genres and the best mood.
const FIXED_POLICY: [&str; 8] = ["--ratio", "0", "--floor", "0", "--max-genres", "2", "--max-moods", "1"];

const GENRES: &[&str] = &[
    "Rock",
    "Pop",
    "Alternative",
    "Indie",
    "Electronic",
    "Dance",
    "Alternative Rock",
    "Jazz",
    "Metal",
    "Classic Rock",
    "Soul",
    "Indie Rock",
    "Electronica",
    "Folk",
    "Punk",
    "Blues",
    "Hard Rock",
    "Ambient",
    "Experimental",
    "Hip-Hop",
    "Country",
    "Easy Listening",
    "Funk",
    "Electro",
    "Heavy Metal",
    "Progressive Rock",
    "R&B",
    "Indie Pop",
    "House",
];
const MOODS: &[&str] = &["Beautiful", "Chillout", "Mellow", "Chill", "Party", "Sexy", "Catchy", "Sad", "Happy"];

fn check_new_genres(values: &Option<Vec<String>>, existing: &[&str], what: &str) {
    let v = values.as_ref().unwrap_or_else(|| panic!("{what}: no genre written"));
    assert_eq!(v.len(), existing.len() + 2, "{what}: {v:?}");
    assert_eq!(&v[..existing.len()], existing, "{what}: existing values kept first");
    assert_eq!(v[existing.len()], "Jazz", "{what}: {v:?}");
    assert!(GENRES.contains(&v[existing.len() + 1].as_str()), "{what}: {v:?}");
}

fn check_new_mood(values: &Option<Vec<String>>, what: &str) {
    let v = values.as_ref().unwrap_or_else(|| panic!("{what}: no mood written"));
    assert!(v.len() == 1 && MOODS.contains(&v[0].as_str()), "{what}: {v:?}");
}

fn check_scores(values: &Option<Vec<String>>, what: &str) {
    let v = values.as_ref().unwrap_or_else(|| panic!("{what}: no scores written"));
    assert_eq!(v.len(), 1, "{what}");
    let json: serde_json::Value = serde_json::from_str(&v[0]).unwrap();
    assert_eq!(json["model"], "choi2016_crnn", "{what}");
    assert_eq!(json["scores"].as_object().unwrap().len(), 50, "{what}");
    assert!(json["scores"]["jazz"].as_f64().unwrap() > 0.2, "{what}");
}

#[test]
fn write_maps_fields_per_format_keeps_audio_and_other_tags_and_undo_restores_them() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let png = png_bytes(d);
    let files: Vec<(Kind, PathBuf)> = ALL.iter().map(|&k| (k, make_fixture(d, k, &png))).collect();
    let before: Vec<(Fields, Vec<String>, String, Vec<u8>)> = files
        .iter()
        .map(|(k, p)| {
            let bytes = fs::read(p).unwrap();
            (read_fields(p, *k), other_tags(p), pcm_md5(p), bytes[bytes.len() - 128..].to_vec())
        })
        .collect();
    // The fixtures are what they claim to be.
    assert_eq!(id3v2_major_version(&files[0].1), Some(3));
    assert_eq!(id3v2_major_version(&files[1].1), Some(4));
    assert_eq!(id3v2_major_version(&files[2].1), None);
    assert!(before[2].3.starts_with(b"TAG"), "ID3v1 at the end");
    assert_eq!(field(&before[2].0, "APE Genre"), &Some(vec!["Pop".to_string()]));
    for (i, (kind, _)) in files.iter().enumerate() {
        let pictures = before[i].1.iter().filter(|l| l.contains(" picture ")).count();
        let want = if *kind == Kind::Mp3Id3v1Ape { 0 } else { 1 };
        assert_eq!(pictures, want, "{kind:?}: {:?}", before[i].1);
        assert!(before[i].1.iter().any(|l| l.contains("TrackTitle") && l.contains("Cute")), "{kind:?}: {:?}", before[i].1);
    }

    let mut args = os(&["write", "--model", "crnn", "--yes", "--write-scores", "--merge", "merge"]);
    args.extend(os(&FIXED_POLICY));
    args.extend(files.iter().map(|(_, p)| p.clone().into_os_string()));
    let t = std::time::Instant::now();
    let out = run(&data, &args);
    eprintln!("write of {} files took {:.2} s", files.len(), t.elapsed().as_secs_f64());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ID3v2 TCON (genre): Pop → Pop; Jazz; "), "{stdout}");
    assert_eq!(stdout.matches("wrote ").count(), files.len(), "{stdout}");

    for (i, (kind, path)) in files.iter().enumerate() {
        let what = format!("{kind:?}");
        let after = read_fields(path, *kind);
        match kind {
            Kind::Mp3V23 => {
                assert_eq!(id3v2_major_version(path), Some(3), "stays ID3v2.3");
                check_new_genres(field(&after, "TCON"), &["Pop"], &what);
                check_new_mood(field(&after, "TXXX:MOOD"), &what);
                assert_eq!(field(&after, "TMOO"), &None, "no TMOO in ID3v2.3");
                check_scores(field(&after, "TXXX:MELOTAG_SCORES"), &what);
            }
            Kind::Mp3V24 | Kind::WavId3 | Kind::Mp3Id3v1Ape => {
                if *kind != Kind::WavId3 {
                    assert_eq!(id3v2_major_version(path), Some(4), "{what}: ID3v2.4");
                }
                // The new ID3v2 tag builds on the file's own genres: APE "Pop" and ID3v1 "Jazz"
                // (the model's first choice too).
                let own: &[&str] = if *kind == Kind::Mp3Id3v1Ape { &["Pop"] } else { &[] };
                check_new_genres(field(&after, "TCON"), own, &what);
                check_new_mood(field(&after, "TMOO"), &what);
                assert_eq!(field(&after, "TXXX:MOOD"), &None);
                check_scores(field(&after, "TXXX:MELOTAG_SCORES"), &what);
                if *kind == Kind::Mp3Id3v1Ape {
                    check_new_genres(field(&after, "APE Genre"), &["Pop"], &what);
                    check_new_mood(field(&after, "APE Mood"), &what);
                    check_scores(field(&after, "APE MELOTAG_SCORES"), &what);
                    let bytes = fs::read(path).unwrap();
                    assert_eq!(&bytes[bytes.len() - 128..], &before[i].3[..], "ID3v1 untouched");
                }
            }
            Kind::FlacCover | Kind::OggVorbis => {
                check_new_genres(field(&after, "GENRE"), &[], &what);
                check_new_mood(field(&after, "MOOD"), &what);
                check_scores(field(&after, "MELOTAG_SCORES"), &what);
            }
            Kind::M4aAac => {
                check_new_genres(field(&after, "©gen"), &[], &what);
                check_new_mood(field(&after, "----:com.apple.iTunes:MOOD"), &what);
                check_scores(field(&after, "----:com.melotag:scores"), &what);
            }
        }
        assert_eq!(other_tags(path), before[i].1, "{what}: other tags and pictures unchanged");
        assert_eq!(pcm_md5(path), before[i].2, "{what}: decoded audio unchanged");
        let leftovers: Vec<_> =
            fs::read_dir(d).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("melotag-tmp")).collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    // Undo by path restores every field exactly (absent ones absent again).
    let mut args = os(&["undo"]);
    args.extend(files.iter().map(|(_, p)| p.clone().into_os_string()));
    let out = run(&data, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for (i, (kind, path)) in files.iter().enumerate() {
        assert_eq!(read_fields(path, *kind), before[i].0, "{kind:?}: fields restored");
        assert_eq!(other_tags(path), before[i].1, "{kind:?}: other tags after undo");
        assert_eq!(pcm_md5(path), before[i].2, "{kind:?}: audio after undo");
    }
    assert_eq!(id3v2_major_version(&files[2].1), None, "the ID3v2 tag melotag created is gone again");
    // Nothing left to undo.
    let out = run(&data, &os(&["undo", "--last"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to undo"), "{}", text(&out));
}

fn fixture_flac(dir: &Path, name: &str, genre: Option<&str>) -> PathBuf {
    let src = upstream_audio("bensound-cute", "mp3");
    let out = dir.join(name);
    let mut args = vec!["-i", src.to_str().unwrap(), "-t", "35", "-map", "0:a", "-c:a", "flac", "-metadata", "title=Cute"];
    let g = genre.map(|g| format!("genre={g}"));
    if let Some(g) = &g {
        args.extend(["-metadata", g.as_str()]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

#[test]
fn dry_run_writes_nothing_and_no_terminal_without_yes_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let flac = fixture_flac(d, "a.flac", Some("Pop"));
    let bytes = fs::read(&flac).unwrap();
    let mtime = fs::metadata(&flac).unwrap().modified().unwrap();

    // The default (fill) keeps the file's own genre, and says so.
    let out = run(&data, &os(&["write", "--model", "crnn", "--dry-run", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Vorbis GENRE already tagged; kept (fill mode)"), "{stdout}");
    let out = run(&data, &os(&["write", "--model", "crnn", "--dry-run", "--merge", "merge", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Vorbis GENRE (genre): Pop → Pop; Jazz"), "{stdout}");
    assert!(stdout.contains("nothing written"), "{stdout}");
    assert_eq!(fs::read(&flac).unwrap(), bytes);
    assert_eq!(fs::metadata(&flac).unwrap().modified().unwrap(), mtime);
    assert!(!data.join("undo.sqlite3").exists(), "a dry run does not even open the undo journal");

    // Standard input is not a terminal and there is no --yes: refuse, exit 2.
    let out = run(&data, &os(&["write", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--yes") && stderr.contains("not a terminal"), "{stderr}");
    assert_eq!(fs::read(&flac).unwrap(), bytes);
    assert_eq!(fs::metadata(&flac).unwrap().modified().unwrap(), mtime);
}

#[test]
fn merge_modes_replace_merge_and_fill() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let flac = fixture_flac(d, "a.flac", Some("Pop"));
    let get = |key: &str| read_fields(&flac, Kind::FlacCover).into_iter().find(|(k, _)| *k == key).unwrap().1;
    let write = |mode: &str| {
        let mut args = os(&["write", "--model", "crnn", "--yes", "--merge", mode]);
        args.extend(os(&FIXED_POLICY));
        args.push(flac.clone().into_os_string());
        let out = run(&data, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    // fill: GENRE already holds a value and stays; MOOD was empty and is filled.
    write("fill");
    assert_eq!(get("GENRE"), Some(vec!["Pop".to_string()]));
    check_new_mood(&get("MOOD"), "fill");
    // merge (the default): existing values first, new ones added once, case-insensitively.
    write("merge");
    check_new_genres(&get("GENRE"), &["Pop"], "merge");
    let merged = get("GENRE");
    write("merge");
    assert_eq!(get("GENRE"), merged, "merging again adds nothing");
    // replace: exactly the new values.
    write("replace");
    check_new_genres(&get("GENRE"), &[], "replace");
    // Undo walks back one write at a time (the second merge changed nothing and wrote nothing).
    for want in [merged.clone(), Some(vec!["Pop".to_string()])] {
        let out = run(&data, &os(&["undo", flac.to_str().unwrap()]));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        assert_eq!(get("GENRE"), want);
    }
    let out = run(&data, &os(&["undo", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!((get("GENRE"), get("MOOD")), (Some(vec!["Pop".to_string()]), None), "back to the original");
}

#[test]
fn failures_are_per_file_and_leave_the_originals_untouched() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let good = fixture_flac(d, "good.flac", None);
    let locked = fixture_flac(d, "locked.flac", None);
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o444)).unwrap();
    let caf = d.join("unsupported.caf");
    ffmpeg(&["-i", good.to_str().unwrap(), "-t", "5", "-c:a", "pcm_s16le", caf.to_str().unwrap()]);
    let text_file = d.join("text.mp3");
    fs::write(&text_file, "this is not audio\n".repeat(100)).unwrap();
    let untouched: Vec<(PathBuf, Vec<u8>)> = [&locked, &caf, &text_file].iter().map(|p| (p.to_path_buf(), fs::read(p).unwrap())).collect();

    let out = run(&data, &os(&["write", "--model", "crnn", "--yes", d.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (name, reason) in
        [("locked.flac", "read-only"), ("unsupported.caf", "unsupported format"), ("text.mp3", "unsupported format for writing tags")]
    {
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(name)).collect();
        assert_eq!(lines.len(), 1, "{name}: {stderr}");
        assert!(lines[0].starts_with("error: ") && lines[0].contains(reason), "{}", lines[0]);
    }
    for (path, bytes) in &untouched {
        assert_eq!(&fs::read(path).unwrap(), bytes, "{} untouched", path.display());
    }
    assert_eq!(fs::metadata(&locked).unwrap().permissions().mode() & 0o777, 0o444);
    // The default policy on bensound-cute: Jazz alone passes 40 % of the best score.
    assert_eq!(read_fields(&good, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]), "good.flac written");

    // A written file keeps its permissions.
    let odd = fixture_flac(d, "odd_mode.flac", None);
    fs::set_permissions(&odd, fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&data, &os(&["write", "--model", "crnn", "--yes", odd.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(fs::metadata(&odd).unwrap().permissions().mode() & 0o7777, 0o640);
}

#[test]
fn a_file_changed_since_it_was_analysed_is_not_written() {
    use melotag::engine::tags::{Change, FieldId, Role, Snapshot, TagKind};
    let dir = tempfile::tempdir().unwrap();
    let flac = fixture_flac(dir.path(), "a.flac", None);
    let change = Change {
        field: FieldId { tag: TagKind::Vorbis, key: "GENRE".into() },
        role: Role::Genre,
        old: None,
        new: Some(vec!["Jazz".into()]),
        old_values: vec![],
        new_values: vec!["Jazz".into()],
    };
    let bytes = fs::read(&flac).unwrap();
    let snapshot = Snapshot::of(&flac).unwrap();
    let stale = Snapshot { size: snapshot.size + 1, ..snapshot };
    let err = melotag::engine::tags::write::write_changes(&flac, &stale, std::slice::from_ref(&change), |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("changed on disk"), "{err}");
    let stale = Snapshot { mtime: snapshot.mtime - std::time::Duration::from_secs(5), ..snapshot };
    assert!(melotag::engine::tags::write::write_changes(&flac, &stale, std::slice::from_ref(&change), |_| Ok(())).is_err());
    // The field no longer holds what the plan expected.
    let wrong_old = Change { old: Some(vec!["Rock".into()]), ..change.clone() };
    assert!(melotag::engine::tags::write::write_changes(&flac, &snapshot, &[wrong_old], |_| Ok(())).is_err());
    assert_eq!(fs::read(&flac).unwrap(), bytes);
    // Edited in place while the new file was being built, its size and mtime kept (as taggers
    // that "preserve the timestamp" do): the edit is kept, nothing is written.
    let edited = {
        let mut b = bytes.clone();
        let at = b.windows(4).position(|w| w == b"Cute").unwrap();
        b[at..at + 4].copy_from_slice(b"Tune");
        b
    };
    let err = melotag::engine::tags::write::write_changes(&flac, &snapshot, std::slice::from_ref(&change), |_| {
        fs::write(&flac, &edited).unwrap();
        fs::File::options().write(true).open(&flac).unwrap().set_modified(snapshot.mtime).unwrap();
        Ok(())
    })
    .unwrap_err();
    assert!(err.to_string().contains("changed on disk"), "{err}");
    assert_eq!((fs::read(&flac).unwrap(), Snapshot::of(&flac).unwrap()), (edited, snapshot));
    // With the right snapshot it goes through.
    melotag::engine::tags::write::write_changes(&flac, &snapshot, &[change], |_| Ok(())).unwrap();
    assert_eq!(read_fields(&flac, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]));
}

#[test]
fn undo_last_restores_the_whole_batch_and_skips_files_edited_since() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let a = fixture_flac(d, "a.flac", Some("Pop"));
    let b = fixture_flac(d, "b.flac", None);
    let original = |p: &Path| read_fields(p, Kind::FlacCover);
    let (orig_a, orig_b) = (original(&a), original(&b));
    let write = |extra: &[&str], files: &[&Path]| {
        let mut args = os(&["write", "--model", "crnn", "--yes"]);
        args.extend(os(&FIXED_POLICY));
        args.extend(os(extra));
        args.extend(files.iter().map(|p| p.as_os_str().to_owned()));
        let out = run(&data, &args);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    };
    write(&[], &[&a, &b]);
    let after1 = (original(&a), original(&b));
    write(&["--merge", "replace", "--write-scores"], &[&a]);
    assert_ne!(original(&a), after1.0);
    // `undo FILE` takes back the last write of that file only.
    let out = run(&data, &os(&["undo", a.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!((original(&a), original(&b)), after1);
    // `undo --last` takes back the whole first batch.
    let out = run(&data, &os(&["undo", "--last"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!((original(&a), original(&b)), (orig_a.clone(), orig_b.clone()));

    // A file edited by someone else after the write is left alone; the rest is restored.
    write(&[], &[&a, &b]);
    {
        let mut f = FlacFile::read_from(&mut fs::File::open(&b).unwrap(), ParseOptions::new()).unwrap();
        f.vorbis_comments_mut().unwrap().insert("GENRE".into(), "Edited".into());
        f.save_to(&mut open_rw(&b), WriteOptions::new()).unwrap();
    }
    let edited = original(&b);
    let out = run(&data, &os(&["undo", "--last"]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("b.flac") && stderr.contains("changed since melotag wrote it"), "{stderr}");
    assert_eq!(original(&a), orig_a);
    assert_eq!(original(&b), edited);
    // Undo of a file melotag never wrote.
    let c = fixture_flac(d, "c.flac", None);
    let out = run(&data, &os(&["undo", c.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no melotag write to undo"));
}

#[test]
fn killed_mid_batch_every_file_decodes_and_holds_its_old_or_its_new_tags() {
    use std::io::BufRead;
    let n = 200;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let music = d.join("music");
    fs::create_dir(&music).unwrap();
    let src = upstream_audio("bensound-cute", "mp3");
    let base = d.join("base.mp3");
    ffmpeg(&[
        "-ss",
        "10",
        "-t",
        "5",
        "-i",
        src.to_str().unwrap(),
        "-map",
        "0:a",
        "-c:a",
        "libmp3lame",
        "-b:a",
        "96k",
        "-metadata",
        "title=Cute",
        base.to_str().unwrap(),
    ]);
    // Decoded in-process (crate::audio, at the source rate) to keep 200 decodes quick.
    let pcm = |p: &Path| {
        let audio = melotag::engine::audio::load_full(p, 44_100).unwrap_or_else(|e| panic!("{} does not decode: {e}", p.display()));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        audio.samples.iter().for_each(|s| s.to_bits().hash(&mut h));
        (audio.samples.len(), h.finish())
    };
    let md5 = pcm(&base);
    let files: Vec<PathBuf> = (0..n).map(|i| music.join(format!("t{i:03}.mp3"))).collect();
    for f in &files {
        fs::copy(&base, f).unwrap();
    }
    let mut child = command(&data)
        .args(["write", "--model", "crnn", "--yes", "--categories", "genre", "--ratio", "0", "--floor", "0", "--max-genres", "1"])
        .arg(&music)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut wrote = 0;
    let mut killed = false;
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("wrote ") {
            wrote += 1;
            if wrote == 20 && !killed {
                child.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    assert!(killed && status.code().is_none(), "killed by a signal: {status:?}");

    let genre = |p: &Path| {
        let f = MpegFile::read_from(&mut fs::File::open(p).unwrap(), ParseOptions::new()).unwrap();
        let tag = f.id3v2().unwrap();
        assert_eq!(tag.title().as_deref(), Some("Cute"), "{}", p.display());
        tag.get_texts(&FrameId::new("TCON").unwrap()).map(|t| t.map(str::to_string).collect::<Vec<_>>())
    };
    let mut new_values = std::collections::BTreeSet::new();
    let mut old = 0;
    for f in &files {
        assert_eq!(pcm(f), md5, "{} decodes to the same audio", f.display());
        match genre(f) {
            None => old += 1,
            Some(v) => {
                assert_eq!(v.len(), 1, "{v:?}");
                new_values.insert(v[0].clone());
            }
        }
    }
    eprintln!("after SIGKILL: {} files with new tags, {old} with old ones", n - old);
    assert!(old > 0 && old < n, "killed part-way: {old} of {n} old");
    assert_eq!(new_values.len(), 1, "one new value for identical files: {new_values:?}");
    let leftovers =
        fs::read_dir(&music).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".melotag-tmp")).count();
    assert!(leftovers <= 1, "{leftovers} temporary files left");

    // The journal knows every file that may have been replaced: undo restores them all.
    let out = run(&data, &os(&["undo", "--last"]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in &files {
        assert_eq!(genre(f), None, "{} restored", f.display());
    }
}

/// A temporary folder others may enter (as tests run as `nobody` need), with a `data` folder.
fn folder_for_nobody() -> (tempfile::TempDir, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let data = dir.path().join("data");
    fs::create_dir(&data).unwrap();
    (dir, data)
}

#[test]
fn a_read_only_folder_is_a_clear_per_file_error() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, data) = folder_for_nobody();
    let d = dir.path();
    let locked_dir = d.join("locked");
    let open_dir = d.join("open");
    fs::create_dir(&locked_dir).unwrap();
    fs::create_dir(&open_dir).unwrap();
    let locked = fixture_flac(&locked_dir, "a.flac", None);
    let open = fixture_flac(&open_dir, "b.flac", None);
    let bytes = fs::read(&locked).unwrap();
    for p in [&data, &open_dir, &open] {
        let _ = std::os::unix::fs::chown(p, Some(65534), Some(65534));
    }
    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o555)).unwrap();
    let mut cmd = command(&data);
    cmd.args(["write", "--model", "crnn", "--yes"]).arg(&locked).arg(&open);
    let as_root = as_nobody_if_root(&mut cmd);
    let out = cmd.output().unwrap();
    eprintln!("ran as {}", if as_root { "nobody (the test runs as root)" } else { "the current user" });
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.contains("a.flac")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("error: ") && line.contains("permission denied"), "{line}");
    assert_eq!(fs::read(&locked).unwrap(), bytes);
    assert_eq!(read_fields(&open, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]), "the batch goes on");
    fs::set_permissions(&locked_dir, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_full_disk_is_a_clear_error_and_the_original_is_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let small_dir = d.join("small");
    fs::create_dir(&small_dir).unwrap();
    // A real 1 MiB filesystem (tmpfs in a mount namespace of its own: no root needed).
    let small = SmallFs::mount(&small_dir, 1024);
    let src = upstream_audio("bensound-cute", "mp3");
    let ogg_here = small.host("a.ogg");
    ffmpeg(&["-i", src.to_str().unwrap(), "-t", "20", "-map", "0:a", "-c:a", "libvorbis", "-q:a", "3", ogg_here.to_str().unwrap()]);
    let size = fs::metadata(&ogg_here).unwrap().len();
    assert!(size > 100_000 && size < 500_000, "{size}");
    // Leave less room than a copy of the file needs.
    let free = 1024 * 1024 - size as usize;
    fs::write(small.host("filler"), vec![0u8; free.saturating_sub(50_000)]).unwrap();
    let bytes = fs::read(&ogg_here).unwrap();
    let ogg = small.path().join("a.ogg");
    let mut cmd = command(&data);
    cmd.args(["write", "--model", "crnn", "--yes"]).arg(&ogg);
    let out = small.wrap(&cmd).stdin(std::process::Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a.ogg") && stderr.contains("no space left"), "{stderr}");
    assert_eq!(fs::read(&ogg_here).unwrap(), bytes);
    let names: Vec<String> = fs::read_dir(small.host("")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
    // Nothing to undo: the failed write was not journalled as done.
    let out = run(&data, &os(&["undo", "--last"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to undo"), "{}", text(&out));
}

#[test]
fn on_a_terminal_it_asks_first() {
    // `script` (util-linux, installed by `make setup`) gives melotag a terminal and feeds it our answer.
    let version = std::process::Command::new("script").arg("--version").output().expect("`script` not found: run `make setup`");
    assert!(version.status.success(), "script --version: {}", String::from_utf8_lossy(&version.stderr));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flac = fixture_flac(d, "a.flac", None);
    let bytes = fs::read(&flac).unwrap();
    let ask = |answer: &str| {
        let cmd = format!("'{}' write --model crnn '{}'", env!("CARGO_BIN_EXE_melotag"), flac.display());
        let mut child =
            in_a_terminal(&d.join("data"), &cmd).stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).spawn().unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, screen) = ask("n\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("Write these tags to 1 file(s)? [y/N]") && screen.contains("nothing written"), "{screen}");
    assert_eq!(fs::read(&flac).unwrap(), bytes);
    let (code, screen) = ask("y\n");
    assert_eq!(code, Some(0), "{screen}");
    assert!(screen.contains("wrote "), "{screen}");
    assert_eq!(read_fields(&flac, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]));
}

#[test]
fn write_uses_cached_results_and_reanalyses_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let flac = fixture_flac(d, "a.flac", None);
    // `tag` fills the analysis cache ...
    let out = run(&data, &os(&["tag", "--model", "crnn", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // ... so `write` needs no model at all: with the runtime made unreachable it still works.
    let no_runtime = |args: &[&str]| command(&data).args(args).env("ORT_DYLIB_PATH", d.join("missing/libonnxruntime.so")).output().unwrap();
    let out = no_runtime(&["write", "--model", "crnn", "--dry-run", flac.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("GENRE"), "{}", text(&out));
    // A changed file is analysed again, which now needs the (missing) runtime.
    let f = fs::OpenOptions::new().append(true).open(&flac).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    drop(f);
    let out = no_runtime(&["write", "--model", "crnn", "--dry-run", flac.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ONNX Runtime library not found"), "{}", text(&out));
    // --no-cache analyses even an unchanged file.
    let out = run(&data, &os(&["tag", "--model", "crnn", flac.to_str().unwrap()]));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = no_runtime(&["write", "--model", "crnn", "--dry-run", "--no-cache", flac.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

/// A field with several values (two ARTISTs) keeps their order, in Ogg Vorbis and FLAC alike
/// (players show the first as the main artist), and other fields keep their exact text.
#[test]
fn other_fields_keep_the_order_of_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let ogg = make_fixture(d, Kind::OggVorbis, &png_bytes(d));
    let flac = fixture_flac(d, "order.flac", None);
    // GENRE after the artists: removing it by swapping would bring the second artist first.
    // TRACKNUMBER=3/9 (as ffmpeg writes it) stays as it is (lofty's implicit conversions would
    // split it into TRACKNUMBER and TRACKTOTAL).
    let items = [
        ("ARTIST", "First Artist"),
        ("ARTIST", "Second Artist"),
        ("COMMENT", "one"),
        ("GENRE", "Rock"),
        ("COMMENT", "two"),
        ("TRACKNUMBER", "3/9"),
    ];
    // Read as stored (lofty would otherwise split TRACKNUMBER=3/9 itself).
    let opts = ParseOptions::new().implicit_conversions(false);
    let mut f = VorbisFile::read_from(&mut fs::File::open(&ogg).unwrap(), opts).unwrap();
    let mut tag = f.remove_vorbis_comments();
    drop(tag.take_items());
    for (k, v) in items {
        tag.push(k.into(), v.into());
    }
    tag.save_to(&mut open_rw(&ogg), WriteOptions::new()).unwrap();
    let mut f = FlacFile::read_from(&mut fs::File::open(&flac).unwrap(), opts).unwrap();
    let mut comments = lofty::ogg::tag::VorbisComments::default();
    for (k, v) in items {
        comments.push(k.into(), v.into());
    }
    f.set_vorbis_comments(comments);
    f.save_to(&mut open_rw(&flac), WriteOptions::new()).unwrap();
    let others = |path: &Path| -> Vec<String> {
        let mut file = fs::File::open(path).unwrap();
        let comments = if path.extension().unwrap() == "ogg" {
            VorbisFile::read_from(&mut file, opts).unwrap().vorbis_comments().clone()
        } else {
            FlacFile::read_from(&mut file, opts).unwrap().vorbis_comments().unwrap().clone()
        };
        comments.items().filter(|(k, _)| !["GENRE", "MOOD"].contains(k)).map(|(k, v)| format!("{k}={v}")).collect()
    };
    let want = ["ARTIST=First Artist", "ARTIST=Second Artist", "COMMENT=one", "COMMENT=two", "TRACKNUMBER=3/9"];
    assert_eq!(others(&ogg), want);
    assert_eq!(others(&flac), want);
    let mut args = os(&["write", "--model", "crnn", "--yes", "--merge", "replace"]);
    args.extend(os(&FIXED_POLICY));
    args.extend([ogg.clone().into_os_string(), flac.clone().into_os_string()]);
    let out = run(&data, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("2 file(s) written"), "{}", text(&out));
    for path in [&ogg, &flac] {
        assert_eq!(others(path), want, "{}", path.display());
        assert_ne!(read_fields(path, if path == &ogg { Kind::OggVorbis } else { Kind::FlacCover })[0].1, Some(vec!["Rock".to_string()]));
    }
}

/// Run as another user in a folder anyone may write to (as /tmp without its sticky bit), melotag
/// could replace a file it may not write and make it its own: it refuses instead.
#[test]
fn another_users_file_in_a_shared_folder_is_not_taken_over() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let (dir, data) = folder_for_nobody();
    let d = dir.path();
    let shared = d.join("shared");
    fs::create_dir(&shared).unwrap();
    let theirs = fixture_flac(&shared, "theirs.flac", None);
    let ours = fixture_flac(&shared, "ours.flac", None);
    // Ours, left in a group we are not in (as after `sudo chown -R me`): written, as an editor
    // that saves by renaming would.
    let ours_root_group = fixture_flac(&shared, "ours_root_group.flac", None);
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o644)).unwrap();
    let mut cmd = command(&data);
    cmd.args(["write", "--model", "crnn", "--yes"]).arg(&theirs).arg(&ours).arg(&ours_root_group);
    if as_nobody_if_root(&mut cmd) {
        for p in [&data, &ours] {
            std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
        }
        std::os::unix::fs::chown(&ours_root_group, Some(65534), Some(0)).unwrap();
    } else {
        eprintln!("not root: every file here is the current user's, nothing to check");
        return;
    }
    let (bytes, owner) = (fs::read(&theirs).unwrap(), fs::metadata(&theirs).unwrap().uid());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stderr.lines().find(|l| l.contains("theirs.flac")).unwrap_or_else(|| panic!("{stderr}"));
    assert!(line.starts_with("error: ") && line.contains("belongs to another user"), "{line}");
    assert_eq!((fs::read(&theirs).unwrap(), fs::metadata(&theirs).unwrap().uid()), (bytes, owner), "untouched, and still theirs");
    assert_eq!(read_fields(&ours, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]), "the batch goes on");
    assert_eq!(read_fields(&ours_root_group, Kind::FlacCover)[0].1, Some(vec!["Jazz".to_string()]), "{}", text(&out));
    assert_eq!(fs::metadata(&ours_root_group).unwrap().uid(), 65534, "still ours");
}
