//! A user's only copy of their music: on files shaped like real libraries (tags written by other
//! taggers: pictures, lyrics, chapters, ReplayGain, odd frames, damaged tags), a write changes
//! only the fields it means to change — checked item by item by an independent reader
//! (mutagen, `tools/tag_dump.py`) and by decoding the audio — undo gives back every byte, damaged
//! files are refused untouched, and odd inputs (FIFOs, devices, odd names, broken caches) get one
//! clear line each.

mod common;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use common::*;
use melotag::engine::tags::raw;

fn python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(p.is_file(), "{} missing: run `make setup`", p.display());
    p
}

/// Generates the tagged fixtures of `tools/tag_fixtures.py` into `dir`.
fn fixtures(dir: &Path) -> Vec<PathBuf> {
    let out = std::process::Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/tag_fixtures.py"))
        .arg(dir)
        .arg("--src")
        .arg(upstream_audio("bensound-cute", "mp3"))
        .output()
        .expect("running tools/tag_fixtures.py");
    assert!(out.status.success(), "tag_fixtures.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let mut files: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), 16, "the fixture set: {files:?}");
    files
}

/// `tools/tag_dump.py --compare A B --ignore KEYS`: every other item (frame, atom, comment,
/// block, chunk) present and equal in both, by mutagen's reading, and the decoded audio equal.
fn independent_compare(a: &Path, b: &Path, ignore: &str) -> Output {
    std::process::Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/tag_dump.py"))
        .args(["--compare".as_ref(), a.as_os_str(), b.as_os_str(), "--ignore".as_ref(), OsStr::new(ignore)])
        .output()
        .expect("running tools/tag_dump.py")
}

/// The fields melotag writes, in every format (what the comparison leaves out).
const WRITTEN: &str = "TCON,TMOO,TXXX:MOOD,TXXX:MELOTAG_SCORES,GENRE,MOOD,MELOTAG_SCORES,©gen,----:com.apple.iTunes:MOOD,\
                       ----:com.melotag:scores,Genre,Mood,IGNR";

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(data: &Path, args: &[&OsStr]) -> Output {
    melotag_data(data, args)
}

#[test]
fn rich_real_world_tags_survive_a_write_and_undo_gives_back_every_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (music, originals, data) = (dir.path().join("music"), dir.path().join("originals"), dir.path().join("data"));
    fs::create_dir_all(&originals).unwrap();
    let files = fixtures(&music);
    for f in &files {
        fs::copy(f, originals.join(f.file_name().unwrap())).unwrap();
    }
    // Replace mode, every score above zero: every file gets new GENRE, MOOD and scores.
    let out = run(
        &data,
        &[
            "write",
            "--model",
            "crnn",
            "--yes",
            "--merge",
            "replace",
            "--write-scores",
            "--ratio",
            "0",
            "--floor",
            "0",
            "--max-genres",
            "2",
            "--max-moods",
            "1",
        ]
        .map(OsStr::new)
        .into_iter()
        .chain([music.as_os_str()])
        .collect::<Vec<_>>(),
    );
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "one damaged file fails, the others are written: {all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one line for the one bad file: {stderr}");
    assert!(stderr.contains("damaged_v23.mp3") && stderr.contains("damaged ID3v2 frame id") && stderr.contains("at byte 1201"), "{stderr}");
    for f in &files {
        let name = f.file_name().unwrap();
        let original = originals.join(name);
        if name == "damaged_v23.mp3" {
            assert_eq!(fs::read(f).unwrap(), fs::read(&original).unwrap(), "a damaged file is left untouched");
            continue;
        }
        assert_ne!(fs::read(f).unwrap(), fs::read(&original).unwrap(), "{} was written", f.display());
        // A file without an ID3v2 tag gets one (its version item is new).
        let no_id3 = ["notag.mp3", "ape_id3v1.mp3"].iter().any(|n| name == OsStr::new(n));
        let ignore = if no_id3 { format!("{WRITTEN},(version)") } else { WRITTEN.to_string() };
        let cmp = independent_compare(&original, f, &ignore);
        assert!(cmp.status.success(), "{}: something besides the written fields changed:\n{}", f.display(), text(&cmp));
    }
    // The ones lofty lost data on: v2.3 RVA2/TDRC/WXXX/pictures, ETCO, and a WAV's INFO genre
    // kept consistent with the new ID3 genre.
    let wav = music.join("info.wav");
    let layout = raw::read_layout(&mut fs::File::open(&wav).unwrap()).unwrap();
    let item = |tag: &str, key: &str| layout.items.iter().find(|i| i.tag == tag && i.key == key).map(|i| i.bytes.clone());
    let ignr = String::from_utf8(item("RIFF-INFO", "IGNR").unwrap()).unwrap();
    let tcon = item("ID3v2", "TCON").unwrap();
    // v2.3 TCON: 2 flag bytes, encoding 0 (Latin-1), "A/B".
    let tcon = String::from_utf8_lossy(&tcon[3..]).trim_end_matches('\0').to_string();
    assert_eq!(ignr.trim_end_matches('\0'), tcon.replace('/', "; "), "RIFF INFO IGNR follows the ID3 genre");

    // Undo: every written file gets its exact original bytes back.
    let out = run(&data, &[OsStr::new("undo"), OsStr::new("--last")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for f in &files {
        assert_eq!(fs::read(f).unwrap(), fs::read(originals.join(f.file_name().unwrap())).unwrap(), "{} after undo", f.display());
    }
    let restored = String::from_utf8_lossy(&out.stdout).matches("(original bytes)").count();
    assert_eq!(restored, files.len() - 1, "{}", text(&out));
}

#[test]
fn a_file_changed_after_the_write_is_restored_by_field_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("a.mp3");
    ffmpeg(&[
        "-i",
        upstream_audio("bensound-cute", "mp3").to_str().unwrap(),
        "-t",
        "8",
        "-metadata",
        "title=Before",
        file.to_str().unwrap(),
    ]);
    let out = run(
        &data,
        &["write", "--model", "crnn", "--yes", "--ratio", "0", "--floor", "0"]
            .map(OsStr::new)
            .into_iter()
            .chain([file.as_os_str()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Another tagger edits the title since.
    let mut tag = lofty::id3::v2::Id3v2Tag::default();
    {
        use lofty::config::ParseOptions;
        use lofty::file::AudioFile;
        let mut f = lofty::mpeg::MpegFile::read_from(&mut fs::File::open(&file).unwrap(), ParseOptions::new()).unwrap();
        if let Some(t) = f.remove_id3v2() {
            tag = t;
        }
    }
    lofty::prelude::Accessor::set_title(&mut tag, "Edited".into());
    lofty::prelude::TagExt::save_to_path(&tag, &file, lofty::config::WriteOptions::default()).unwrap();
    let out = run(&data, &[OsStr::new("undo"), OsStr::new("--last")]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("fields only"), "{}", text(&out));
    let layout = raw::read_layout(&mut fs::File::open(&file).unwrap()).unwrap();
    let keys: Vec<&str> = layout.items.iter().map(|i| i.key.as_str()).collect();
    assert!(!keys.contains(&"TCON") && !keys.contains(&"TMOO"), "melotag's fields are gone: {keys:?}");
    let title = layout.items.iter().find(|i| i.key == "TIT2").unwrap();
    assert!(String::from_utf8_lossy(&title.bytes).contains("Edited"), "the other edit is kept");
}

/// A mutation of `bytes` (fixed seed): a few flipped bytes in the first 64 KB, or a truncation.
fn mutate(bytes: &[u8], seed: &mut u64) -> Vec<u8> {
    let mut next = || {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        *seed
    };
    let mut out = bytes.to_vec();
    if next() % 5 == 0 {
        let cut = (next() as usize) % out.len().max(1);
        out.truncate(cut);
        return out;
    }
    let span = out.len().clamp(1, 65_536);
    for _ in 0..1 + next() % 4 {
        let at = (next() as usize) % span;
        if let Some(b) = out.get_mut(at) {
            *b = match next() % 3 {
                0 => 0,
                1 => 0xff,
                _ => (next() & 0xff) as u8,
            };
        }
    }
    out
}

#[test]
fn mutated_files_are_either_refused_untouched_or_written_with_everything_else_intact() {
    use melotag::engine::tags::{FileTags, Role, Snapshot, write::write_changes};
    let dir = tempfile::tempdir().unwrap();
    let files = fixtures(&dir.path().join("fixtures"));
    let work = dir.path().join("work");
    fs::create_dir_all(&work).unwrap();
    let mut seed = 0x005e_ed0f_f022_u64;
    let (mut written, mut refused) = (0, 0);
    for (k, f) in files.iter().enumerate().filter(|(_, f)| !f.to_string_lossy().contains("long_name")) {
        let bytes = fs::read(f).unwrap();
        for i in 0..24 {
            let mutant = work.join(format!("m{k}-{i}.{}", f.extension().unwrap().to_string_lossy()));
            let m = mutate(&bytes, &mut seed);
            fs::write(&mutant, &m).unwrap();
            let before = raw::read_layout(&mut fs::File::open(&mutant).unwrap());
            let tags = match FileTags::read(&mutant) {
                Ok(t) => t,
                Err(_) => {
                    refused += 1;
                    assert_eq!(fs::read(&mutant).unwrap(), m, "reading never writes");
                    continue;
                }
            };
            let changes: Vec<_> = tags
                .fields
                .iter()
                .filter(|f| f.role != Role::Scores)
                .map(|field| {
                    let values = vec!["Fuzz".to_string(), "Mutant".to_string()];
                    melotag::engine::tags::Change {
                        field: field.id.clone(),
                        role: field.role,
                        old: field.raw.clone(),
                        new: field.encode(&values),
                        old_values: field.values.clone(),
                        new_values: values,
                    }
                })
                .collect();
            let snapshot = Snapshot::of(&mutant).unwrap();
            match write_changes(&mutant, &snapshot, &changes, |_| Ok(())) {
                Err(_) => {
                    refused += 1;
                    assert_eq!(fs::read(&mutant).unwrap(), m, "{}: a refused file is byte-identical", mutant.display());
                }
                Ok(_) => {
                    written += 1;
                    let before = before.expect("a written file had a readable layout");
                    let after = raw::read_layout(&mut fs::File::open(&mutant).unwrap()).expect("the written file reads back");
                    assert_eq!(before.audio, after.audio, "{}: audio intact", mutant.display());
                    let changed: Vec<(&str, &str)> = changes.iter().map(|c| (c.field.tag.as_str(), c.field.key.as_str())).collect();
                    raw::verify(&before, &after, &changed).unwrap_or_else(|e| panic!("{}: {e}", mutant.display()));
                    let back = FileTags::read(&mutant).unwrap();
                    for c in &changes {
                        assert_eq!(back.field(&c.field).unwrap().values, c.new_values, "{}: {}", mutant.display(), c.field);
                    }
                }
            }
            fs::remove_file(&mutant).unwrap();
        }
    }
    eprintln!("mutants: {written} written, {refused} refused");
    assert_eq!(written + refused, 15 * 24);
    assert!(written > 100 && refused > 20, "both outcomes are exercised: {written} written, {refused} refused");
}

/// Runs melotag with a deadline: a hang fails the test instead of blocking the suite.
fn run_with_deadline(data: &Path, args: &[&OsStr], limit: Duration) -> Output {
    let mut child = command(data).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("melotag {args:?} hung for {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn fifos_devices_and_odd_names_get_one_clear_line_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = d.join("data");
    let good = d.join("good.wav");
    write_wav(&good, 22_050, 1, &test_signal(22_050, 1, 3.0));
    let fifo = d.join("pipe.mp3");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let newline = d.join("two\nlines.mp3");
    fs::write(&newline, b"not audio").unwrap();
    let latin1 = d.join(OsStr::from_bytes(b"caf\xe9.wav"));
    fs::copy(&good, &latin1).unwrap();
    for cmd in ["tag", "write"] {
        let mut args: Vec<&OsStr> = vec![OsStr::new(cmd)];
        if cmd == "write" {
            args.extend(["--dry-run", "--model", "crnn"].map(OsStr::new));
        } else {
            args.extend(["--model", "crnn", "--json", "-"].map(OsStr::new));
        }
        args.extend([
            fifo.as_os_str(),
            OsStr::new("/dev/zero"),
            OsStr::new("/dev/urandom"),
            newline.as_os_str(),
            good.as_os_str(),
            latin1.as_os_str(),
        ]);
        let out = run_with_deadline(&data, &args, Duration::from_secs(60));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {}", text(&out));
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 4, "{cmd}: one line per bad file, nothing else: {stderr}");
        assert!(lines.iter().any(|l| l.contains("pipe.mp3") && l.contains("FIFO")), "{stderr}");
        assert!(lines.iter().any(|l| l.contains("/dev/zero") && l.contains("character device")), "{stderr}");
        assert!(lines.iter().any(|l| l.contains("/dev/urandom") && l.contains("character device")), "{stderr}");
        assert!(lines.iter().any(|l| l.contains("two\\nlines.mp3")), "the newline is escaped: {stderr}");
        assert!(!stderr.contains('\u{1b}'), "no colour codes on a pipe");
        if cmd == "tag" {
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let paths: Vec<&str> = report["tracks"].as_array().unwrap().iter().map(|t| t["path"].as_str().unwrap()).collect();
            assert!(paths.iter().any(|p| p.ends_with("caf\\xe9.wav")), "the non-UTF-8 byte is escaped, not replaced: {paths:?}");
            assert!(!paths.iter().any(|p| p.contains('\u{fffd}')), "{paths:?}");
            let scored = report["tracks"].as_array().unwrap().iter().filter(|t| t["scores"].is_array()).count();
            assert_eq!(scored, 2, "the good files are scored");
        }
    }
}

#[test]
fn opus_files_are_found_decoded_and_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (music, data) = (d.join("music"), d.join("data"));
    fs::create_dir_all(&music).unwrap();
    let opus = music.join("song.opus");
    let wav = d.join("song.wav");
    let src = upstream_audio("bensound-thejazzpiano", "mp3");
    ffmpeg(&["-i", src.to_str().unwrap(), "-t", "20", "-c:a", "libopus", "-b:a", "128k", opus.to_str().unwrap()]);
    ffmpeg(&["-i", opus.to_str().unwrap(), wav.to_str().unwrap()]);
    // Found by a folder walk, decoded like the same audio in a WAV (the same decoder output).
    let out = run(
        &data,
        &[OsStr::new("tag"), OsStr::new("--no-cache"), OsStr::new("--json"), OsStr::new("-"), music.as_os_str(), wav.as_os_str()],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tracks = report["tracks"].as_array().unwrap();
    assert_eq!(tracks.len(), 2);
    let scores = |i: usize| -> Vec<f64> { tracks[i]["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
    let diff = scores(0).iter().zip(scores(1)).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(diff < 0.02, "opus vs its own decode as wav: max score difference {diff}");
    // And written: GENRE in its Vorbis comments, audio untouched (the decoded md5).
    let md5 = pcm_md5(&opus);
    let out = run(
        &data,
        &["write", "--model", "crnn", "--yes", "--ratio", "0", "--floor", "0"]
            .map(OsStr::new)
            .into_iter()
            .chain([opus.as_os_str()])
            .collect::<Vec<_>>(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(pcm_md5(&opus), md5);
    let layout = raw::read_layout(&mut fs::File::open(&opus).unwrap()).unwrap();
    assert!(layout.items.iter().any(|i| i.tag == "Vorbis" && i.key == "GENRE"), "{:?}", layout.items);
}

#[test]
fn a_broken_analysis_cache_is_set_aside_once_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wav = d.join("a.wav");
    write_wav(&wav, 22_050, 1, &test_signal(22_050, 1, 3.0));
    let reference = run(
        &d.join("clean"),
        &["tag", "--model", "crnn", "--json", "-"].map(OsStr::new).into_iter().chain([wav.as_os_str()]).collect::<Vec<_>>(),
    );
    assert!(reference.status.success());
    let scores = |o: &Output| -> serde_json::Value {
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["tracks"][0]["scores"].clone()
    };
    let garbage = d.join("garbage");
    let folder = d.join("folder");
    let truncated = d.join("truncated");
    for data in [&garbage, &folder, &truncated] {
        fs::create_dir_all(data).unwrap();
    }
    fs::write(garbage.join("cache.sqlite"), vec![0x42u8; 50_000]).unwrap();
    fs::create_dir(folder.join("cache.sqlite")).unwrap();
    // A real cache, cut in half.
    let full = run(&truncated, &["tag", "--model", "crnn"].map(OsStr::new).into_iter().chain([wav.as_os_str()]).collect::<Vec<_>>());
    assert!(full.status.success());
    let db = truncated.join("cache.sqlite");
    let _ = run(&truncated, &[OsStr::new("models"), OsStr::new("--no-timing")]);
    let bytes = fs::read(&db).unwrap();
    fs::write(&db, &bytes[..bytes.len() / 2]).unwrap();
    for f in ["cache.sqlite-wal", "cache.sqlite-shm"] {
        let _ = fs::remove_file(truncated.join(f));
    }
    for data in [&garbage, &folder, &truncated] {
        let args: Vec<&OsStr> = ["tag", "--model", "crnn", "--json", "-"].map(OsStr::new).into_iter().chain([wav.as_os_str()]).collect();
        let first = run(data, &args);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first));
        let stderr = String::from_utf8_lossy(&first.stderr);
        assert_eq!(stderr.lines().count(), 1, "one warning: {stderr}");
        assert!(stderr.contains("analysis cache was damaged") && stderr.contains(".broken-"), "{stderr}");
        assert_eq!(scores(&first), scores(&reference), "the results are unaffected");
        let second = run(data, &args);
        assert!(second.stderr.is_empty(), "repaired once: {}", text(&second));
        assert_eq!(scores(&second), scores(&reference));
        let aside: Vec<OsString> =
            fs::read_dir(data).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(".broken-")).collect();
        assert_eq!(aside.len(), 1, "the broken cache is kept aside: {aside:?}");
    }
}

/// Once the new file has replaced the old one, a failure to flush the folder (some network and
/// FUSE file systems) cannot undo that: the file is reported written and its undo is kept.
/// The failure is injected with an LD_PRELOAD shim whose fsync() fails on folders.
#[test]
fn a_folder_flush_failure_after_the_rename_keeps_the_write_and_its_undo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let shim_c = d.join("faildirfsync.c");
    fs::write(
        &shim_c,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/stat.h>
int fsync(int fd) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) { errno = EIO; return -1; }
    int (*real)(int) = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    return real(fd);
}
"#,
    )
    .unwrap();
    let shim = d.join("faildirfsync.so");
    let cc = std::process::Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&shim).arg(&shim_c).arg("-ldl").output().unwrap();
    assert!(cc.status.success(), "{}", String::from_utf8_lossy(&cc.stderr));
    let data = d.join("data");
    let flac = flac_excerpt(d, "a.flac", "bensound-cute", 20, None);
    let before = fs::read(&flac).unwrap();
    let out = command(&data).env("LD_PRELOAD", &shim).args(["write", "--model", "crnn", "--yes"]).arg(&flac).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("1 file(s) written"), "{stdout}{stderr}");
    assert_ne!(fs::read(&flac).unwrap(), before);
    let out = melotag_data(&data, &[OsStr::new("undo"), flac.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(fs::read(&flac).unwrap(), before, "undo gives back every byte");
}
