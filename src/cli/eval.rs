//! `melotag eval` and `melotag models`: the engine's evaluation printed as a table, written as
//! JSON, and drawn as a hand-written SVG chart (no plotting dependency).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use super::RunArgs;
use super::output::{file_error, write_output};
use crate::engine::analysis::Control;
use crate::engine::eval::{
    EvalProgress, EvalReport, EvalSettings, LabelSource, ModelReport, TIMING_RUNS, build_report, input_description, time_per_clip_ms,
};
use crate::engine::model::{self, Manifest};

/// Arguments of `melotag eval`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("truth").required(true).args(["labels", "from_tags"]))]
pub struct EvalArgs {
    /// Audio files or folders (walked recursively); only labelled files are evaluated.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// Ground truth: CSV rows `path,tags` (tags separated by ';', paths relative to the CSV).
    #[arg(long, value_name = "CSV")]
    pub labels: Option<PathBuf>,
    /// Ground truth: the GENRE and MOOD values already in the files.
    #[arg(long)]
    pub from_tags: bool,
    /// Model to evaluate (repeatable): crnn, cnn, musicnn, a model id, a manifest .toml, or
    /// `all` (every converted model; the default).
    #[arg(long = "model", value_name = "MODEL", default_value = "all")]
    pub models: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Write everything (labels, scores, per-tag metrics) as JSON to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write an SVG chart of macro ROC-AUC against time per clip to FILE.
    #[arg(long, value_name = "FILE.svg")]
    pub chart: Option<PathBuf>,
    /// Do not measure the inference time per 29 s clip.
    #[arg(long)]
    pub no_timing: bool,
    /// Analyse every file again instead of reusing cached results.
    #[arg(long)]
    pub no_cache: bool,
}

/// The manifests `--model` names (`all`: every manifest with a converted ONNX file).
pub fn resolve_models(specs: &[String]) -> Result<Vec<Arc<Manifest>>> {
    let mut out: Vec<Arc<Manifest>> = Vec::new();
    for spec in specs {
        let found: Vec<Manifest> = if spec == "all" {
            let mut ready = Vec::new();
            for m in model::available_manifests() {
                match m {
                    Ok(m) if m.is_ready() => ready.push(m),
                    Ok(m) => eprintln!("warning: {} is not converted ({}); left out", m.id, crate::engine::paths::setup_hint()),
                    Err(e) => eprintln!("warning: {e}"),
                }
            }
            ready
        } else {
            vec![model::resolve_model(spec)?]
        };
        for m in found {
            if !out.iter().any(|o| o.id == m.id) {
                out.push(Arc::new(m));
            }
        }
    }
    if out.is_empty() {
        bail!("no converted model to evaluate; {}", crate::engine::paths::setup_hint());
    }
    Ok(out)
}

/// `melotag eval`.
pub fn run_eval(args: &EvalArgs) -> Result<i32> {
    let settings = EvalSettings {
        paths: args.paths.clone(),
        labels: match &args.labels {
            Some(csv) => LabelSource::Csv(csv.clone()),
            None => LabelSource::FileTags,
        },
        models: resolve_models(&args.models)?,
        mode: args.run.mode(),
        workers: args.run.workers(),
        timing: !args.no_timing,
        use_cache: !args.no_cache,
    };
    let cache = super::tag::open_cache(args.no_cache);
    let (report, failed) = build_report(&settings, cache.as_ref(), &Control::new(), |p| match p {
        EvalProgress::Model { id, files } => eprintln!("analysing {files} file(s) with {id} ..."),
        EvalProgress::Timing => eprintln!("measuring inference time per clip ..."),
        EvalProgress::File => {}
    })?;
    for note in &report.notes {
        eprintln!("note: {}", super::output::one_line(note));
    }
    for e in report.excluded.iter().filter(|e| e.failed) {
        file_error(Path::new(&e.path), &e.reason);
    }
    let to_stdout = args.json.as_deref() == Some(Path::new("-"));
    if !to_stdout {
        print_table(&report);
    }
    if let Some(path) = &args.json {
        write_output(path, |w| {
            serde_json::to_writer_pretty(&mut *w, &report)?;
            writeln!(w)?;
            Ok(())
        })
        .context("writing JSON")?;
    }
    if let Some(path) = &args.chart {
        write_output(path, |w| Ok(w.write_all(chart_svg(&report).as_bytes())?)).context("writing the chart")?;
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// The stdout table: one line per model, then one row per evaluated tag.
pub fn print_table(r: &EvalReport) {
    let tracks = r.models.first().map_or(0, |m| m.tracks);
    println!("{tracks} track(s), {} of {} tags evaluated, mode {}", r.evaluated_tags(), r.tags.len(), r.mode);
    println!();
    println!("{:<16} {:>7} {:>7} {:>6} {:>9} {:>11}", "MODEL", "ROC-AUC", "PR-AUC", "TRACKS", "PARAMS", "MS/29S CLIP");
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    for m in &r.models {
        println!(
            "{:<16} {:>7} {:>7} {:>6} {:>9} {:>11}",
            m.id,
            opt(m.macro_roc_auc, 4),
            opt(m.macro_pr_auc, 4),
            m.tracks,
            m.parameters,
            opt(m.time_per_clip_ms, 1)
        );
    }
    // One row per evaluated tag (models with other vocabularies may lack some: "-").
    let evaluated: Vec<&String> = r.tags.iter().filter(|t| r.models.iter().any(|m| m.per_tag.iter().any(|p| &p.tag == *t))).collect();
    if !evaluated.is_empty() {
        println!();
        print!("{:<18} {:>4} {:>4}", "TAG", "POS", "NEG");
        for m in &r.models {
            print!("  {:>19}", format!("{} ROC/PR", short_id(&m.id)));
        }
        println!();
        for tag in evaluated {
            let Some(first) = r.models.iter().find_map(|m| m.per_tag.iter().find(|p| &p.tag == tag)) else { continue };
            print!("{:<18} {:>4} {:>4}", tag, first.positives, first.negatives);
            for m in &r.models {
                match m.per_tag.iter().find(|p| &p.tag == tag) {
                    Some(mt) => print!("  {:>19}", format!("{:.3}/{:.3}", mt.roc_auc, mt.pr_auc)),
                    None => print!("  {:>19}", "-"),
                }
            }
            println!();
        }
    }
    let no_pos: Vec<&str> = r.skipped_tags.iter().filter(|t| t.positives == 0).map(|t| t.tag.as_str()).collect();
    let no_neg: Vec<&str> = r.skipped_tags.iter().filter(|t| t.negatives == 0).map(|t| t.tag.as_str()).collect();
    if !no_pos.is_empty() {
        println!();
        println!("skipped, no positives ({}): {}", no_pos.len(), no_pos.join(", "));
    }
    if !no_neg.is_empty() {
        println!("skipped, no negatives ({}): {}", no_neg.len(), no_neg.join(", "));
    }
}

fn short_id(id: &str) -> &str {
    id.strip_prefix("choi2016_").unwrap_or(id)
}

/// Arguments of `melotag models`.
#[derive(Debug, Default, clap::Args)]
pub struct ModelsArgs {
    /// Do not measure the inference time per 29 s clip.
    #[arg(long)]
    pub no_timing: bool,
}

/// `melotag models`: id, name, parameters, input, inference time per 29 s clip, status.
pub fn run_models(args: &ModelsArgs) -> Result<i32> {
    let manifests = model::available_manifests();
    if manifests.is_empty() {
        bail!("no model manifests found; {}", crate::engine::paths::setup_hint());
    }
    println!(
        "{:<16} {:<18} {:<8} {:>9}  {:<36} {:>11}  {:<26}  FOUND IN",
        "ID", "NAME", "VOCAB", "PARAMS", "INPUT", "MS/29S CLIP", "STATUS"
    );
    let mut errors = 0;
    for manifest in manifests {
        let m = match manifest {
            Ok(m) => Arc::new(m),
            Err(e) => {
                errors += 1;
                eprintln!("error: {e}");
                continue;
            }
        };
        let (time, status) = if !m.is_ready() {
            ("-".to_string(), format!("not converted ({})", crate::engine::paths::setup_hint()))
        } else if args.no_timing {
            ("-".to_string(), "ready".to_string())
        } else {
            match time_per_clip_ms(&m, TIMING_RUNS) {
                Ok(ms) => (format!("{ms:.1}"), "ready".to_string()),
                Err(e) => ("-".to_string(), format!("error: {e}")),
            }
        };
        let found_in = super::output::shown(&m.dir);
        println!(
            "{:<16} {:<18} {:<8} {:>9}  {:<36} {:>11}  {status:<26}  {found_in}",
            m.id,
            m.name,
            m.vocabulary,
            m.parameters,
            input_description(&m),
            time
        );
    }
    super::print_runtime();
    println!("(VOCAB: msd = Million Song Dataset top-50 Last.fm tags, mtt = MagnaTagATune top-50 tags; see README, \"Models\")");
    if !args.no_timing {
        println!("(inference only, one session with 1 intra-op thread, median of {TIMING_RUNS} runs after a warm-up, on this machine)");
    }
    Ok(if errors > 0 { 1 } else { 0 })
}

// ---------------------------------------------------------------------------------------------
// Chart (hand-written SVG: no plotting dependency).

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A "nice" tick step (1, 2 or 5 × 10^k) giving about `n` ticks over `span`.
fn tick_step(span: f64, n: f64) -> f64 {
    let raw = (span / n).max(1e-12);
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    mag * if r < 1.5 {
        1.0
    } else if r < 3.5 {
        2.0
    } else if r < 7.5 {
        5.0
    } else {
        10.0
    }
}

/// An SVG scatter plot: macro ROC-AUC (y) against inference ms per 29 s clip (x), one labelled
/// point per model, point area proportional to the parameter count. Models without a time or
/// without a macro ROC-AUC are listed under the plot instead.
pub fn chart_svg(r: &EvalReport) -> String {
    let (w, h) = (720.0, 460.0);
    let (left, right, top, bottom) = (70.0, 40.0, 50.0, 90.0);
    let points: Vec<(&ModelReport, f64, f64)> = r.models.iter().filter_map(|m| Some((m, m.time_per_clip_ms?, m.macro_roc_auc?))).collect();
    let x_max = points.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-3) * 1.15;
    let (mut y_lo, mut y_hi) = points.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.2), hi.max(p.2)));
    if !y_lo.is_finite() {
        (y_lo, y_hi) = (0.5, 1.0);
    }
    let pad = ((y_hi - y_lo) * 0.25).max(0.02);
    let (y_lo, y_hi) = ((y_lo - pad).max(0.0), (y_hi + pad).min(1.0));
    let step_y = tick_step(y_hi - y_lo, 5.0);
    let y_lo = (y_lo / step_y).floor() * step_y;
    let y_hi = (y_hi / step_y).ceil() * step_y;
    let step_x = tick_step(x_max, 6.0);
    let x_max = (x_max / step_x).ceil() * step_x;
    let pw = w - left - right;
    let ph = h - top - bottom;
    let sx = |x: f64| left + x / x_max * pw;
    let sy = |y: f64| top + (y_hi - y) / (y_hi - y_lo) * ph;
    let max_params = r.models.iter().map(|m| m.parameters).max().unwrap_or(1).max(1) as f64;

    let mut s = String::new();
    s.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    s.push_str(&format!("<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"));
    let tracks = r.models.first().map_or(0, |m| m.tracks);
    let n_tags = r.models.first().map_or(0, |m| m.per_tag.len());
    s.push_str(&format!(
        "<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">Macro ROC-AUC vs inference time ({tracks} tracks, {n_tags} tags, {} mode)</text>\n",
        w / 2.0,
        xml_escape(&r.mode)
    ));
    // Grid and ticks.
    let mut y = y_lo;
    while y <= y_hi + step_y * 1e-6 {
        let py = sy(y);
        s.push_str(&format!(
            "<line x1=\"{left}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e0e0e0\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{:.2}</text>\n",
            left + pw,
            left - 6.0,
            py + 4.0,
            y
        ));
        y += step_y;
    }
    let mut x = 0.0;
    while x <= x_max + step_x * 1e-6 {
        let px = sx(x);
        s.push_str(&format!(
            "<line x1=\"{px:.1}\" y1=\"{top}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#e0e0e0\"/>\n<text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            top + ph,
            top + ph + 16.0,
            x
        ));
        x += step_x;
    }
    s.push_str(&format!("<rect x=\"{left}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n"));
    s.push_str(&format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">inference ms per 29 s clip (1 thread, this machine)</text>\n",
        left + pw / 2.0,
        top + ph + 36.0
    ));
    s.push_str(&format!(
        "<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">macro ROC-AUC</text>\n",
        top + ph / 2.0
    ));
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
    // Circles first, then two-line labels beside them: right or left of the point, moved up or
    // down in 30 px steps until the label covers no circle and no other label.
    let circles: Vec<(f64, f64, f64)> =
        points.iter().map(|(m, t, auc)| (sx(*t), sy(*auc), 6.0 + 18.0 * (m.parameters as f64 / max_params).sqrt())).collect();
    for (i, ((m, _, _), &(px, py, radius))) in points.iter().zip(&circles).enumerate() {
        let c = colors[i % colors.len()];
        s.push_str(&format!(
            "<g><title>{}</title><circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"{radius:.1}\" fill=\"{c}\" fill-opacity=\"0.45\" stroke=\"{c}\"/></g>\n",
            xml_escape(&m.id)
        ));
    }
    let mut placed: Vec<[f64; 4]> = Vec::new(); // x0, y0, x1, y1
    let overlaps = |a: &[f64; 4], b: &[f64; 4]| a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
    for ((m, t, auc), &(px, py, radius)) in points.iter().zip(&circles) {
        let line1 = m.name.clone();
        let line2 = format!("ROC-AUC {auc:.3}, {t:.0} ms, {:.0}k params", m.parameters as f64 / 1000.0);
        let width = 6.5 * line1.chars().count().max(line2.chars().count()) as f64;
        let mut candidates = Vec::new();
        for step in [0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 4.0, -4.0] {
            for right in [true, false] {
                let ly = py - 2.0 + 30.0 * step;
                let (x0, x1) =
                    if right { (px + radius + 4.0, px + radius + 4.0 + width) } else { (px - radius - 4.0 - width, px - radius - 4.0) };
                candidates.push((right, ly, [x0, ly - 12.0, x1, ly + 18.0]));
            }
        }
        let fits = |b: &[f64; 4]| {
            b[0] >= left
                && b[2] <= w - 4.0
                && b[1] >= top
                && b[3] <= top + ph + 40.0
                && !placed.iter().any(|p| overlaps(p, b))
                && !circles.iter().any(|&(cx, cy, r)| (cx, cy) != (px, py) && overlaps(&[cx - r, cy - r, cx + r, cy + r], b))
        };
        let (right, ly, bbox) = candidates.iter().copied().find(|(_, _, b)| fits(b)).unwrap_or(candidates[0]);
        placed.push(bbox);
        let (anchor, lx) = if right { ("start", bbox[0]) } else { ("end", bbox[2]) };
        s.push_str(&format!(
            "<text x=\"{lx:.1}\" y=\"{ly:.1}\" text-anchor=\"{anchor}\" font-weight=\"bold\">{}</text>\n<text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
            xml_escape(&line1),
            ly + 14.0,
            xml_escape(&line2)
        ));
    }
    let missing: Vec<&str> =
        r.models.iter().filter(|m| m.time_per_clip_ms.is_none() || m.macro_roc_auc.is_none()).map(|m| m.id.as_str()).collect();
    let mut note = "point area proportional to parameter count".to_string();
    if !missing.is_empty() {
        note.push_str(&format!("; not plotted (no time or no AUC): {}", missing.join(", ")));
    }
    s.push_str(&format!("<text x=\"{left}\" y=\"{:.1}\" fill=\"#555\">{}</text>\n", h - 18.0, xml_escape(&note)));
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::eval::ModelReport;
    use std::collections::BTreeMap;

    #[test]
    fn chart_is_svg_with_one_point_per_model() {
        let model = |id: &str, params: u64, t: Option<f64>, auc: Option<f64>| ModelReport {
            id: id.into(),
            vocabulary: "msd".into(),
            tags: Vec::new(),
            name: format!("{id} <name>"),
            parameters: params,
            input: String::new(),
            time_per_clip_ms: t,
            tracks: 4,
            macro_roc_auc: auc,
            macro_pr_auc: auc,
            per_tag: Vec::new(),
            scores: Vec::new(),
        };
        let r = EvalReport {
            mode: "center".into(),
            label_source: "csv".into(),
            labels_csv: None,
            tags: Vec::new(),
            tracks: Vec::new(),
            excluded: Vec::new(),
            unknown_labels: BTreeMap::new(),
            skipped_tags: Vec::new(),
            notes: Vec::new(),
            models: vec![
                model("a", 400_000, Some(300.0), Some(0.8)),
                model("b", 800_000, Some(120.0), Some(0.7)),
                model("c", 10, None, Some(0.9)),
            ],
        };
        let svg = chart_svg(&r);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">a &lt;name&gt;<") && !svg.contains("<name>"));
        assert!(svg.contains("not plotted (no time or no AUC): c"));
    }
}
