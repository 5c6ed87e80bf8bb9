//! `make install` into temporary prefixes: the installed binary runs from elsewhere with the
//! source tree out of reach (`MELOTAG_NO_SOURCE_TREE=1`, a clean environment), finds the models
//! and the runtime where the install put them, and scores like the in-tree binary; `make
//! uninstall` removes exactly what was installed and keeps the user's files. Also: the desktop
//! entry and the icon are valid, and `melotag PATH` (the desktop's `melotag %F`) opens the app.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{read_json, test_signal, write_wav};

const MANIFEST: &str = "share/melotag/installed-files.txt";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `make -s TARGET PREFIX=prefix BIN=<the binary under test>` in the source tree, with a home
/// folder of its own and no outer make's flags; asserts success.
fn make(target: &str, prefix: &Path, home: &Path) -> String {
    let out = Command::new("make")
        .current_dir(root())
        .args(["-s", target])
        .arg(format!("PREFIX={}", prefix.display()))
        .arg(concat!("BIN=", env!("CARGO_BIN_EXE_melotag")))
        .env_remove("MAKEFLAGS")
        .env_remove("MAKELEVEL")
        .env_remove("MFLAGS")
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("running make");
    assert!(out.status.success(), "make {target} failed:\n{}{}", text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

/// Folders an installed melotag runs with: nothing shared with the user or the source tree.
struct Sandbox {
    _dir: tempfile::TempDir,
    base: PathBuf,
    home: PathBuf,
    elsewhere: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("a temp folder");
        let base = dir.path().to_path_buf();
        let home = base.join("home");
        let elsewhere = base.join("elsewhere");
        fs::create_dir_all(&home).unwrap();
        fs::create_dir_all(&elsewhere).unwrap();
        Sandbox { _dir: dir, base, home, elsewhere }
    }

    /// `exe` with a clean environment: home, XDG folders, data and config inside the sandbox,
    /// the source tree switched off, run from a folder outside the prefix and the tree.
    /// `data_dirs` is `XDG_DATA_DIRS`; `data_home` overrides `XDG_DATA_HOME`.
    fn run(&self, exe: &Path, data_home: Option<&Path>, data_dirs: &[&Path], args: &[&str]) -> Output {
        let dirs: Vec<String> = data_dirs.iter().map(|d| d.display().to_string()).collect();
        let dirs = if dirs.is_empty() { self.base.join("no-data-dirs").display().to_string() } else { dirs.join(":") };
        Command::new(exe)
            .current_dir(&self.elsewhere)
            .env_clear()
            .env("HOME", &self.home)
            .env("XDG_DATA_HOME", data_home.map_or_else(|| self.home.join(".local/share"), Path::to_path_buf))
            .env("XDG_DATA_DIRS", dirs)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("XDG_CACHE_HOME", self.home.join(".cache"))
            .env("MELOTAG_DATA_DIR", self.base.join("data"))
            .env("MELOTAG_NO_SOURCE_TREE", "1")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("running the installed melotag")
    }
}

/// The manifest's files and folders (folders end in `/` there; returned without it).
fn recorded(prefix: &Path) -> (BTreeSet<PathBuf>, BTreeSet<PathBuf>) {
    let list = fs::read_to_string(prefix.join(MANIFEST)).expect("reading the installed-files list");
    let (mut files, mut dirs) = (BTreeSet::new(), BTreeSet::new());
    for line in list.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        match line.strip_suffix('/') {
            Some(dir) => dirs.insert(PathBuf::from(dir)),
            None => files.insert(PathBuf::from(line)),
        };
    }
    (files, dirs)
}

/// Every path under `dir` (files and folders), relative to it.
fn tree(dir: &Path) -> BTreeSet<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            out.insert(path.strip_prefix(base).unwrap().to_path_buf());
            if path.is_dir() && !path.is_symlink() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// The files a complete install holds, relative to the prefix: one per model manifest and ONNX
/// file of the source tree, plus the binary, runtime, desktop entry, icon and the list itself.
fn expected_files() -> BTreeSet<PathBuf> {
    let mut files: BTreeSet<PathBuf> = [
        "bin/melotag",
        "lib/melotag/libonnxruntime.so",
        "share/applications/melotag.desktop",
        "share/icons/hicolor/scalable/apps/melotag.svg",
        MANIFEST,
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    for entry in fs::read_dir(root().join("models")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml" || e == "onnx") {
            files.insert(Path::new("share/melotag/models").join(path.file_name().unwrap()));
        }
    }
    files
}

/// The track scores `melotag tag FILE --json` reports.
fn scores(out: &Output, json: &Path) -> Vec<f64> {
    assert!(out.status.success(), "tag failed: {}", text(&out.stderr));
    let doc = read_json(json);
    assert_eq!(doc["model"], "musicnn_msd");
    doc["tracks"][0]["scores"].as_array().expect("scores").iter().map(|v| v.as_f64().unwrap()).collect()
}

fn desktop_file_validate(file: &Path) {
    let out = Command::new("desktop-file-validate")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("desktop-file-validate not found ({e}): run `make setup` (Debian package desktop-file-utils)"));
    assert!(out.status.success() && out.stdout.is_empty(), "{}: {}{}", file.display(), text(&out.stdout), text(&out.stderr));
}

#[test]
fn installs_runs_on_its_own_and_uninstalls_exactly() {
    let sb = Sandbox::new();
    let prefix = sb.base.join("prefix");
    // The user's own things in the prefix, before and after the install.
    fs::create_dir_all(prefix.join("bin")).unwrap();
    fs::write(prefix.join("bin/other-tool"), b"#!/bin/sh\n").unwrap();

    let first = make("install", &prefix, &sb.home);
    assert!(first.contains("installed melotag in"), "{first}");
    let (files, dirs) = recorded(&prefix);
    // Idempotent: a second install changes nothing.
    assert_eq!(make("install", &prefix, &sb.home), first);
    assert_eq!(recorded(&prefix), (files.clone(), dirs.clone()));

    let relative: BTreeSet<PathBuf> = files.iter().map(|f| f.strip_prefix(&prefix).expect("inside the prefix").to_path_buf()).collect();
    assert_eq!(relative, expected_files());
    for file in &files {
        assert!(file.is_file(), "{} not installed", file.display());
    }
    for name in expected_files().iter().filter(|f| f.starts_with("share/melotag/models")) {
        let source = root().join("models").join(name.file_name().unwrap());
        assert!(fs::read(prefix.join(name)).unwrap() == fs::read(&source).unwrap(), "{} differs from {}", name.display(), source.display());
    }
    // Created by the install: lib/ and the share/ folders; bin/ was the user's.
    for dir in
        ["lib", "lib/melotag", "share", "share/melotag", "share/melotag/models", "share/applications", "share/icons/hicolor/scalable/apps"]
    {
        assert!(dirs.contains(&prefix.join(dir)), "{dir} not recorded as created: {dirs:?}");
    }
    assert!(!dirs.contains(&prefix.join("bin")) && !dirs.contains(&prefix));

    let desktop = prefix.join("share/applications/melotag.desktop");
    desktop_file_validate(&desktop);
    let entry = fs::read_to_string(&desktop).unwrap();
    assert!(entry.lines().any(|l| l == format!("Exec={}/bin/melotag %F", prefix.display())), "{entry}");

    // The installed binary, run from elsewhere with the source tree switched off, finds the
    // models beside it (PREFIX/share/melotag/models) and the runtime in PREFIX/lib/melotag.
    let exe = prefix.join("bin/melotag");
    let models_dir = prefix.join("share/melotag/models").display().to_string();
    let runtime = prefix.join("lib/melotag/libonnxruntime.so").display().to_string();
    let source_tree = root().display().to_string();
    let out = sb.run(&exe, None, &[], &["models", "--no-timing"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let model_lines: Vec<&str> = stdout.lines().filter(|l| l.contains(" ready ")).collect();
    assert_eq!(model_lines.len(), expected_files().iter().filter(|f| f.extension().is_some_and(|e| e == "toml")).count(), "{stdout}");
    for line in &model_lines {
        assert!(line.ends_with(&models_dir), "not found in the install: {line}");
    }
    assert!(stdout.lines().any(|l| l.starts_with("ONNX Runtime ") && l.ends_with(&format!(" from {runtime}"))), "{stdout}");
    assert!(!stdout.contains(&source_tree), "the source tree was used: {stdout}");

    let out = sb.run(&exe, None, &[], &["--version", "-v"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().next(), Some(concat!("melotag ", env!("CARGO_PKG_VERSION"))));
    assert!(stdout.contains(&format!("model musicnn_msd (musicnn MSD) from {models_dir}")), "{stdout}");
    let version = stdout.lines().find_map(|l| l.strip_prefix("ONNX Runtime ")).expect("a runtime line");
    assert!(version.starts_with("1.") && version.ends_with(&format!(" from {runtime}")), "{stdout}");

    // It scores a generated file exactly as the in-tree binary does.
    let wav = sb.elsewhere.join("tone.wav");
    write_wav(&wav, 22_050, 2, &test_signal(22_050, 2, 8.0));
    let installed_json = sb.elsewhere.join("installed.json");
    let args = ["tag", "tone.wav", "--model", "musicnn", "--no-cache", "--json"];
    let out = sb.run(&exe, None, &[], &[&args[..], &["installed.json"][..]].concat());
    let installed = scores(&out, &installed_json);
    let tree_json = sb.elsewhere.join("tree.json");
    let data = sb.base.join("tree-data");
    let out = common::command(&data).current_dir(&sb.elsewhere).args(args).arg("tree.json").output().unwrap();
    let in_tree = scores(&out, &tree_json);
    assert_eq!(installed.len(), 50);
    assert_eq!(installed, in_tree);

    // The in-tree binary keeps using the checkout's models and runtime even when the XDG data
    // folders lead to an install.
    let out = common::command(&data)
        .env("XDG_DATA_HOME", prefix.join("share"))
        .env("XDG_DATA_DIRS", prefix.join("share"))
        .args(["--version", "-v"])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains(&format!("model musicnn_msd (musicnn MSD) from {source_tree}/models\n")), "{stdout}");
    assert!(stdout.contains(&format!(" from {source_tree}/.cache/onnxruntime/libonnxruntime.so")), "{stdout}");

    // The user's analysis cache and undo journal share PREFIX/share/melotag with the install.
    let user_files = ["share/melotag/cache.sqlite", "share/melotag/undo.sqlite3"];
    for f in user_files {
        fs::write(prefix.join(f), b"the user's data").unwrap();
    }
    let out = make("uninstall", &prefix, &sb.home);
    assert!(out.contains("removed melotag from"), "{out}");
    for file in &files {
        assert!(!file.exists(), "{} left behind", file.display());
    }
    let left: BTreeSet<PathBuf> = tree(&prefix);
    let kept: BTreeSet<PathBuf> =
        ["bin", "bin/other-tool", "share", "share/melotag", user_files[0], user_files[1]].iter().map(PathBuf::from).collect();
    assert_eq!(left, kept);
    for f in user_files {
        assert_eq!(fs::read(prefix.join(f)).unwrap(), b"the user's data");
    }
    // Uninstalling again is a no-op.
    assert!(make("uninstall", &prefix, &sb.home).contains("not installed"));
    assert_eq!(tree(&prefix), kept);
}

#[test]
fn found_through_the_xdg_data_dirs_and_says_what_to_run_when_nothing_is() {
    let sb = Sandbox::new();
    // A prefix that does not exist yet, two levels down: install creates it all.
    let prefix = sb.base.join("new/prefix");
    make("install", &prefix, &sb.home);
    let share = prefix.join("share");
    let models_dir = share.join("melotag/models").display().to_string();
    let runtime = prefix.join("lib/melotag/libonnxruntime.so").display().to_string();

    // A copy of the binary away from the prefix: only the XDG data folders lead to it
    // (PREFIX/share/melotag/models, and PREFIX/lib/melotag beside PREFIX/share).
    let away = sb.base.join("away");
    fs::create_dir_all(&away).unwrap();
    let exe = away.join("melotag");
    fs::copy(prefix.join("bin/melotag"), &exe).unwrap();
    for (data_home, data_dirs) in [(Some(share.as_path()), vec![]), (None, vec![sb.base.join("empty").as_path(), share.as_path()])] {
        let out = sb.run(&exe, data_home, &data_dirs, &["--version", "-v"]);
        let stdout = text(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
        assert!(stdout.contains(&format!("model choi2016_crnn (Choi 2016 CRNN) from {models_dir}")), "{stdout}");
        assert!(stdout.lines().any(|l| l.starts_with("ONNX Runtime 1.") && l.ends_with(&format!(" from {runtime}"))), "{stdout}");
    }

    // Nothing reachable: one line saying what to run.
    let wav = sb.elsewhere.join("tone.wav");
    write_wav(&wav, 16_000, 1, &test_signal(16_000, 1, 2.0));
    for args in [&["models", "--no-timing"][..], &["tag", "tone.wav"]] {
        let out = sb.run(&exe, None, &[], args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("make install"), "{stderr}");
    }
    let out =
        sb.run(&exe, None, &[], &["tag", "tone.wav", "--model", &share.join("melotag/models/musicnn_msd.toml").display().to_string()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("ONNX Runtime library not found") && stderr.contains("make install"), "{stderr}");

    // A reinstall removes what an earlier install listed and this one does not install.
    let stale = share.join("melotag/models/retired_model.onnx");
    fs::write(&stale, b"old").unwrap();
    let list = prefix.join(MANIFEST);
    let mut listed = fs::read_to_string(&list).unwrap();
    listed.push_str(&format!("{}\n", stale.display()));
    fs::write(&list, &listed).unwrap();
    make("install", &prefix, &sb.home);
    assert!(!stale.exists());
    assert!(!fs::read_to_string(&list).unwrap().contains("retired_model"));

    // Everything install created goes, the prefix's parents included; the sandbox stays.
    make("uninstall", &prefix, &sb.home);
    assert!(!sb.base.join("new").exists());
    assert!(sb.base.is_dir() && exe.is_file());
}

#[test]
fn uninstall_refuses_a_list_naming_files_outside_the_prefix() {
    let sb = Sandbox::new();
    let prefix = sb.base.join("prefix");
    let precious = sb.base.join("precious.txt");
    fs::write(&precious, b"keep me").unwrap();
    let list = prefix.join(MANIFEST);
    fs::create_dir_all(list.parent().unwrap()).unwrap();
    for bad in [precious.display().to_string(), format!("{}/../precious.txt", prefix.display())] {
        fs::write(&list, format!("{bad}\n")).unwrap();
        let out = Command::new(root().join("tools/install.sh")).arg("uninstall").arg(&prefix).output().unwrap();
        assert!(!out.status.success(), "{}", text(&out.stdout));
        assert!(text(&out.stderr).contains("not touching it"), "{}", text(&out.stderr));
        assert_eq!(fs::read(&precious).unwrap(), b"keep me");
        assert!(list.is_file());
    }
}

#[test]
fn the_desktop_entry_and_the_icon_are_valid() {
    let desktop = root().join("assets/melotag.desktop");
    desktop_file_validate(&desktop);
    let entry = fs::read_to_string(&desktop).unwrap();
    let value =
        |key: &str| entry.lines().find_map(|l| l.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("no {key}= in {entry}"));
    assert_eq!(value("Exec"), "melotag %F");
    assert_eq!(value("Icon"), "melotag");
    assert_eq!(value("Categories"), "AudioVideo;Audio;Player;");
    let mime: Vec<&str> = value("MimeType").split(';').collect();
    for t in ["inode/directory", "audio/mpeg", "audio/flac", "audio/ogg", "audio/x-wav", "audio/mp4", "audio/x-aiff", "audio/x-matroska"] {
        assert!(mime.contains(&t), "MimeType lacks {t}");
    }

    let icon = root().join("assets/melotag.svg");
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg(&icon)
        .output()
        .unwrap_or_else(|e| panic!("xmllint not found ({e}): run `make setup` (Debian package libxml2-utils)"));
    assert!(out.status.success(), "{} is not well-formed XML: {}", icon.display(), text(&out.stderr));
    let svg = fs::read_to_string(&icon).unwrap();
    let root_element = svg.find("<svg").map(|i| &svg[i..]).expect("an <svg> element");
    assert!(root_element.contains("xmlns=\"http://www.w3.org/2000/svg\"") && root_element.contains("viewBox="), "not an SVG root: {svg}");
}

#[test]
fn a_path_alone_opens_the_app_and_commands_stay_commands() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // `--help` shows which command the arguments became, without opening a window.
    let usage = |args: &[&std::ffi::OsStr]| {
        let out = common::command(&data).args(args).arg("--help").output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout).lines().find(|l| l.starts_with("Usage:")).unwrap_or_default().to_string()
    };
    let wav = dir.path().join("a track.wav");
    write_wav(&wav, 16_000, 1, &test_signal(16_000, 1, 0.5));
    assert!(usage(&[dir.path().as_os_str()]).starts_with("Usage: melotag gui "));
    assert!(usage(&[wav.as_os_str(), dir.path().as_os_str()]).starts_with("Usage: melotag gui "));
    assert!(usage(&["tag".as_ref()]).starts_with("Usage: melotag tag "));
    // A path that does not exist is not taken for one: clap's usage error, as before.
    let out = common::command(&data).arg(dir.path().join("missing")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unrecognized subcommand"), "{}", text(&out.stderr));
}
