//! Presenting results on the terminal and in files: progress bars, atomic output files, and
//! paths shown safely (one line per file whatever its name; JSON that keeps every byte).

use std::io::{IsTerminal, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// A progress bar with count, rate and ETA on stderr, hidden when stderr is not a terminal.
pub fn progress_bar(len: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} tracks  {per_sec}  ETA {eta}  {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A path as one line of text: control characters (a newline in a file name) as `\n`, `\t`,
/// `\xNN`, bytes that are not UTF-8 as `\xNN`, a backslash as `\\`. Valid names without such
/// characters are shown as they are.
pub fn shown(path: &Path) -> String {
    let bytes = path.as_os_str().as_bytes();
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A path serialised as a JSON string that loses nothing: the same escapes as [`shown`]
/// (`\xNN` for a byte that is not UTF-8 and for control characters, `\n`, `\t`, `\r`, and
/// `\\` for a backslash), so every JSON parser reads it and the exact bytes can be recovered.
#[derive(Debug, Clone, Copy)]
pub struct JsonPath<'a>(pub &'a Path);

impl serde::Serialize for JsonPath<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&shown(self.0))
    }
}

/// Writes to a file (atomically: temp file then rename) or to stdout for `-`.
pub fn write_output(path: &Path, body: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<()> {
    if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        body(&mut lock)?;
        lock.flush()?;
        return Ok(());
    }
    // A device or a pipe (`--json /dev/null`, a FIFO) is written in place: renaming a temp file
    // over it would replace /dev/null with a regular file.
    if std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir()) {
        let mut file = std::fs::OpenOptions::new().write(true).open(path).with_context(|| format!("opening {}", shown(path)))?;
        body(&mut file)?;
        file.flush()?;
        return Ok(());
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("creating a file in {}", shown(dir)))?;
    {
        let mut w = std::io::BufWriter::new(tmp.as_file_mut());
        body(&mut w)?;
        w.flush()?;
    }
    tmp.persist(path).with_context(|| format!("writing {}", shown(path)))?;
    Ok(())
}

/// Prints `error: PATH: REASON` on one line.
pub fn file_error(path: &Path, reason: &dyn std::fmt::Display) {
    eprintln!("error: {}: {}", shown(path), one_line(&reason.to_string()));
}

/// Text with its line breaks folded, so one message stays one line, and other control
/// characters escaped (see [`printable`]).
pub fn one_line(s: &str) -> String {
    printable(&s.split(['\n', '\r']).map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" "))
}

/// Text from a file (a tag value, a damaged atom's name) with its control characters escaped
/// (`\n`, `\t`, `\x1b`), so that it shows on one line and cannot drive the terminal.
pub fn printable(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn control_characters_from_files_are_escaped() {
        assert_eq!(one_line("damaged atom '\x1b[2J' at byte 40\n  more"), "damaged atom '\\x1b[2J' at byte 40 more");
        assert_eq!(printable("Rock\nPop\t\u{7f}\u{9b}é"), "Rock\\nPop\\t\\x7f\\x9bé");
    }

    #[test]
    fn odd_names_stay_on_one_line_and_round_trip_through_json() {
        let name = Path::new(OsStr::from_bytes(b"a\nb\xff\"c\\d\xe2\x82.mp3"));
        assert_eq!(shown(name), "a\\nb\\xff\"c\\\\d\\xe2\\x82.mp3");
        let json = serde_json::to_string(&JsonPath(name)).unwrap();
        assert_eq!(serde_json::from_str::<String>(&json).unwrap(), shown(name), "plain JSON, escapes inside");
        // Ordinary names are unchanged.
        assert_eq!(shown(Path::new("Café/01 – Intro.flac")), "Café/01 – Intro.flac");
        assert_eq!(serde_json::to_string(&JsonPath(Path::new("Café/x.mp3"))).unwrap(), "\"Café/x.mp3\"");
    }
}
