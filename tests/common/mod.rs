//! Helpers shared by the integration tests: the real binary, temp folders, generated audio.
#![allow(dead_code)]

pub mod signals;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The folder with the upstream data (`../shared` beside the repository, or MELOTAG_SHARED).
pub fn shared_dir() -> PathBuf {
    std::env::var_os("MELOTAG_SHARED").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// One of the upstream sample tracks, e.g. `bensound-cute`, with the given extension.
pub fn upstream_audio(stem: &str, ext: &str) -> PathBuf {
    let p = shared_dir().join("upstream/choi2016/audio").join(format!("{stem}.{ext}"));
    assert!(p.is_file(), "missing {}: the tests need ../shared beside the repository", p.display());
    p
}

/// The real melotag binary, isolated: its data folder (analysis cache, undo journal) and its
/// config folder are `data_dir`, never the user's, and so are its home and XDG folders (no
/// model or runtime installed in the user's data folders is seen: models and ONNX Runtime come
/// from the source tree); logs off, standard input closed.
pub fn command(data_dir: &Path) -> Command {
    command_of(Path::new(env!("CARGO_BIN_EXE_melotag")), data_dir)
}

/// Like [`command`] for a copy of the binary elsewhere.
pub fn command_of(binary: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_remove("MELOTAG_LOG")
        .env_remove("RUST_LOG")
        .env_remove("ORT_DYLIB_PATH")
        .env_remove("MELOTAG_MODELS_DIR")
        .env("MELOTAG_DATA_DIR", data_dir)
        .env("HOME", data_dir.join("home"))
        .env("XDG_CONFIG_HOME", data_dir.join("config"))
        .env("XDG_DATA_HOME", data_dir.join("xdg-data"))
        .env("XDG_CACHE_HOME", data_dir.join("xdg-cache"))
        .env("XDG_DATA_DIRS", data_dir.join("xdg-data-dirs"))
        .stdin(std::process::Stdio::null());
    cmd
}

/// `inner` (a shell command line) run by `script` (util-linux, `make setup`), which gives it a
/// terminal, with the same isolated environment as [`command`].
pub fn in_a_terminal(data_dir: &Path, inner: &str) -> Command {
    let template = command(data_dir);
    let mut script = Command::new("script");
    script.args(["-q", "-e", "-c", inner, "/dev/null"]);
    for (k, v) in template.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    script
}

/// As root, makes `cmd` run as `nobody` (so that file permissions apply; the files it must
/// reach have to be open to it); as anyone else permissions already apply. Returns whether it
/// switched.
pub fn as_nobody_if_root(cmd: &mut Command) -> bool {
    use std::os::unix::process::CommandExt;
    let root = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    if root {
        cmd.uid(65534).gid(65534);
    }
    root
}

/// A FLAC excerpt of a sample track (`seconds` from 0:05), with a title and, when given, a genre.
pub fn flac_excerpt(dir: &Path, name: &str, stem: &str, seconds: u32, genre: Option<&str>) -> PathBuf {
    let src = upstream_audio(stem, "mp3");
    let out = dir.join(name);
    let secs = seconds.to_string();
    let mut args = vec!["-ss", "5", "-t", &secs, "-i", src.to_str().unwrap(), "-map", "0:a", "-metadata", "title=Excerpt"];
    let g = genre.map(|g| format!("genre={g}"));
    if let Some(g) = &g {
        args.extend(["-metadata", g.as_str()]);
    }
    args.push(out.to_str().unwrap());
    ffmpeg(&args);
    out
}

/// Writes a 32-bit float WAV (mono): exact samples, no quantisation.
pub fn write_wav_f32(path: &Path, sample_rate_hz: u32, samples: &[f32]) {
    let data_len = samples.len() as u32 * 4;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&3u16.to_le_bytes()); // WAVE_FORMAT_IEEE_FLOAT
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&sample_rate_hz.to_le_bytes());
    b.extend_from_slice(&(sample_rate_hz * 4).to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    b.extend_from_slice(&32u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, b).expect("writing wav");
}

/// Runs the real melotag binary with `args` in a fresh data folder of its own (so no run sees
/// another's cache).
pub fn melotag(args: &[&std::ffi::OsStr]) -> Output {
    let data = tempfile::tempdir().expect("a temp folder");
    command(data.path()).args(args).output().expect("running melotag")
}

/// Like [`melotag`] with string arguments.
pub fn melotag_str(args: &[&str]) -> Output {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    melotag(&args)
}

/// Writes a 16-bit PCM WAV file of `channels` interleaved channels.
pub fn write_wav(path: &Path, sample_rate_hz: u32, channels: u16, frames: &[Vec<f32>]) {
    let n = frames.len() as u32;
    let data_len = n * channels as u32 * 2;
    let mut b = Vec::with_capacity(44 + data_len as usize);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&channels.to_le_bytes());
    b.extend_from_slice(&sample_rate_hz.to_le_bytes());
    b.extend_from_slice(&(sample_rate_hz * channels as u32 * 2).to_le_bytes());
    b.extend_from_slice(&(channels * 2).to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for frame in frames {
        for &s in frame {
            b.extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0) as i16).to_le_bytes());
        }
    }
    std::fs::write(path, b).expect("writing wav");
}

/// A tone-and-noise test signal: `duration_s` seconds, `channels` channels.
pub fn test_signal(sample_rate_hz: u32, channels: u16, duration_s: f64) -> Vec<Vec<f32>> {
    let n = (sample_rate_hz as f64 * duration_s) as usize;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            let t = i as f64 / sample_rate_hz as f64;
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let noise = (seed as f64 / u64::MAX as f64 - 0.5) * 0.05;
            (0..channels).map(|c| (0.3 * (2.0 * std::f64::consts::PI * (220.0 + 110.0 * c as f64) * t).sin() + noise) as f32).collect()
        })
        .collect()
}

/// Converts with ffmpeg (installed by `make setup`); panics with a clear message otherwise.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg not found: run `make setup`");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Parses the `--json` report.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("reading json")).expect("parsing json")
}

/// The 50 tag names in output order.
pub fn tag_names() -> Vec<String> {
    std::fs::read_to_string(shared_dir().join("reference/msd50_tags.txt"))
        .expect("reading msd50_tags.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// Runs `melotag tag ARGS...`.
pub fn melotag_tag(args: &[&std::ffi::OsStr]) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["tag".as_ref()];
    all.extend_from_slice(args);
    melotag(&all)
}

/// Runs the real melotag binary with `args`, its cache and undo journal in `data_dir`,
/// standard input closed (not a terminal).
pub fn melotag_data(data_dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    command(data_dir).args(args).output().expect("running melotag")
}

/// MD5 of the first audio stream decoded by ffmpeg to 16-bit PCM at the source rate.
pub fn pcm_md5(path: &Path) -> String {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(path)
        .args(["-map", "0:a:0", "-f", "md5", "-c:a", "pcm_s16le", "-"])
        .output()
        .expect("ffmpeg not found: run `make setup`");
    assert!(out.status.success(), "ffmpeg could not decode {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A small PNG made with ffmpeg (a 32×32 red square).
pub fn png_bytes(dir: &Path) -> Vec<u8> {
    let png = dir.join("cover.png");
    ffmpeg(&["-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", png.to_str().unwrap()]);
    let bytes = std::fs::read(&png).unwrap();
    std::fs::remove_file(&png).unwrap();
    bytes
}

/// A small tmpfs (a real full disk: writes past its size fail with ENOSPC), mounted in a mount
/// namespace of its own so that it needs no root: `unshare --user --map-root-user --mount`
/// holds the mount while the value lives; the test reaches its files through
/// `/proc/<holder>/root` ([`SmallFs::host`]) and runs programs inside it with `nsenter`
/// ([`SmallFs::wrap`]), where the mount point is [`SmallFs::path`]. Panics when neither works
/// (unshare and nsenter are util-linux, installed by `make setup`): never a silent skip.
pub struct SmallFs {
    holder: std::process::Child,
    path: PathBuf,
}

impl SmallFs {
    /// Mounts a tmpfs of `size_kib` KiB over the (existing, empty) folder `at`.
    pub fn mount(at: &Path, size_kib: u64) -> SmallFs {
        use std::io::BufRead;
        let script = format!("mount -t tmpfs -o size={size_kib}k tmpfs \"$0\" && echo mounted && exec sleep 100000");
        let mut holder = Command::new("unshare")
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
            .arg(at)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("unshare (util-linux) not found: run `make setup`");
        let mut line = String::new();
        std::io::BufReader::new(holder.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.trim() != "mounted" {
            let out = holder.wait_with_output().unwrap();
            panic!(
                "cannot mount a {size_kib} KiB tmpfs in a user namespace at {}: {} (unprivileged user namespaces must be allowed)",
                at.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        SmallFs { holder, path: at.to_path_buf() }
    }

    /// The mount point as programs run through [`SmallFs::wrap`] see it.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where this test process reaches `relative` inside the tmpfs.
    pub fn host(&self, relative: &str) -> PathBuf {
        let inside = self.path.join(relative);
        PathBuf::from(format!("/proc/{}/root", self.holder.id())).join(inside.strip_prefix("/").unwrap())
    }

    /// `cmd` run inside the namespace that sees the tmpfs (same user, same environment).
    pub fn wrap(&self, cmd: &Command) -> Command {
        let mut wrapped = Command::new("nsenter");
        wrapped.args(["-t", &self.holder.id().to_string(), "--user", "--mount", "--preserve-credentials", "--"]);
        wrapped.arg(cmd.get_program()).args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => wrapped.env(k, v),
                None => wrapped.env_remove(k),
            };
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
