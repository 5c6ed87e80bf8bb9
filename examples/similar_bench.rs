//! Similarity timings for `make bench` (measurements, not tests: nothing here fails on a number).
//!
//!     cargo run --release --example similar_bench [-- OUT_DIR]
//!
//! 1. The engine's index on 100,000 synthetic embeddings (clustered, like a real library): build
//!    time, query time (median and worst of 200 queries, top 10) and a 20-track playlist walk,
//!    for musicnn's width (200) and the combined MSD + MTT tagger's (400).
//! 2. `melotag similar` end to end on a library of 100,000 cached tracks (empty `.mp3` files
//!    whose analyses, with the embeddings of 1, are put in a fresh analysis cache): the whole
//!    process, scan and cache reads included.
//!
//! Prints a Markdown table and writes it to OUT_DIR/similar.md (default `bench-out`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use melotag::engine::analysis::{Analysis, Mode};
use melotag::engine::cache::{Cache, FileStamp};
use melotag::engine::model;
use melotag::engine::similar::Index;

const TRACKS: usize = 100_000;

/// Deterministic pseudo-random numbers (xorshift), roughly normal by summing four uniforms.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        (self.uniform() + self.uniform() + self.uniform() + self.uniform() - 2.0) * 1.73
    }
}

/// `n` embeddings of `width` values: 500 cluster centres plus per-track noise.
fn embeddings(n: usize, width: usize) -> Vec<Vec<f32>> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ width as u64);
    let centres: Vec<Vec<f32>> = (0..500).map(|_| (0..width).map(|_| rng.normal()).collect()).collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % centres.len()];
            c.iter().map(|v| v + 0.6 * rng.normal()).collect()
        })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn index_rows(width: usize, table: &mut Vec<String>) {
    let data = embeddings(TRACKS, width);
    let items: Vec<(PathBuf, Vec<f32>)> =
        data.iter().enumerate().map(|(i, e)| (PathBuf::from(format!("/music/{i:06}.mp3")), e.clone())).collect();
    let t = Instant::now();
    let index = Index::build(items).expect("an index");
    let build = t.elapsed();
    let mut times: Vec<Duration> = (0..200)
        .map(|q| {
            let query = &data[(q * 7919) % TRACKS];
            let t = Instant::now();
            let n = index.nearest(query, 10, &[]).expect("a query");
            let e = t.elapsed();
            assert_eq!(n.len(), 10);
            e
        })
        .collect();
    times.sort();
    let t = Instant::now();
    let walk = index.walk(&[data[0].clone()], &[0], None, 19).expect("a walk");
    let walk_time = t.elapsed();
    assert_eq!(walk.len(), 19);
    table.push(format!(
        "| index, {TRACKS} tracks × {width} | {:.0} ms | {:.1} ms | {:.1} ms | {:.0} ms |",
        ms(build),
        ms(times[times.len() / 2]),
        ms(times[times.len() - 1]),
        ms(walk_time)
    ));
}

/// `melotag similar` on 100,000 cached tracks; returns the table row.
fn end_to_end(dir: &Path, table: &mut Vec<String>) {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/melotag");
    if !bin.is_file() {
        table.push("| `melotag similar`, end to end | (no target/release/melotag: run `cargo build --release`) | | | |".into());
        return;
    }
    let manifest = model::resolve_model(model::DEFAULT_MODEL).expect("the default model");
    let width = manifest.embedding_size.expect("an embedding");
    let library = dir.join("similar-library");
    let data_dir = dir.join("similar-data");
    let _ = std::fs::remove_dir_all(&library);
    let _ = std::fs::remove_dir_all(&data_dir);
    let data = embeddings(TRACKS, width);
    let t = Instant::now();
    let opened = Cache::open_at(&data_dir.join(melotag::engine::cache::FILE_NAME)).expect("a cache");
    let cache = opened.cache;
    for (i, e) in data.iter().enumerate() {
        // 100 folders of 1,000 files, as a library of albums would be.
        let folder = library.join(format!("{:03}", i / 1000));
        if i % 1000 == 0 {
            std::fs::create_dir_all(&folder).expect("a folder");
        }
        let file = folder.join(format!("{i:06}.mp3"));
        std::fs::write(&file, b"").expect("a file");
        let key = std::fs::canonicalize(&file).expect("a path");
        let stamp = FileStamp::of(&file).expect("a stamp");
        let analysis = Analysis {
            duration_s: Some(200.0),
            scores: vec![0.1; manifest.tags.len()],
            windows: None,
            window_starts_s: None,
            embedding: Some(e.clone()),
        };
        cache.put(&key, stamp, &manifest, Mode::Center, &Ok(analysis)).expect("a cache row");
    }
    eprintln!("made the cached 100,000-track library in {:.1} s", t.elapsed().as_secs_f64());
    let seed = library.join("000/000000.mp3");
    let mut runs = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let out = std::process::Command::new(&bin)
            .arg("similar")
            .arg(&seed)
            .arg(&library)
            .env("MELOTAG_DATA_DIR", &data_dir)
            .output()
            .expect("running melotag");
        runs.push(t.elapsed());
        assert!(out.status.success(), "melotag similar failed: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
    }
    runs.sort();
    table.push(format!("| `melotag similar`, {TRACKS} cached tracks, whole process (median of 3) | | {:.0} ms | | |", ms(runs[1])));
    if std::env::var_os("SIMILAR_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&library);
        let _ = std::fs::remove_dir_all(&data_dir);
    }
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "bench-out".into()));
    std::fs::create_dir_all(&out).expect("an output folder");
    let mut table =
        vec!["| what | build | query (median) | query (worst of 200) | 20-track walk |".to_string(), "|---|---|---|---|---|".to_string()];
    for width in [200, 400] {
        index_rows(width, &mut table);
    }
    end_to_end(&out, &mut table);
    let text = table.join("\n") + "\n";
    print!("{text}");
    std::fs::write(out.join("similar.md"), text).expect("writing similar.md");
}
