//! The self-contained HTML page of a quantization report (`ptq report
//! --html`): one SVG bar per quantizer with its SQNR, in graph order; the
//! ten worst quantizers with the `--ignore-names` that keeps each in float;
//! each per-tensor activation's histogram with the range its quantizer
//! covers. No scripts, no external resources: the page renders offline.

use std::fmt::Write;

use serde_json::Value;

/// Quantizers listed in the worst-quantizer table.
pub const WORST: usize = 10;

/// Text made safe for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The quantization part of a report file: the report itself, or its
/// `quantization` member when accuracy control wrote it.
pub fn quantization(report: &Value) -> Option<&Value> {
    if report.get("quantizers").is_some() { Some(report) } else { report.get("quantization") }
}

fn sqnr(q: &Value) -> Option<f64> {
    q["sqnr_db"].as_f64()
}

fn text(q: &Value, key: &str) -> String {
    q[key].as_str().unwrap_or_default().to_string()
}

fn readers(q: &Value) -> Vec<String> {
    q["readers"].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_string)).collect()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;font-size:13px;max-width:360px;overflow-wrap:anywhere}\
code{font-size:12px}\
.activation rect{fill:#3b7dd8}.weight rect{fill:#e07b24}.embedding rect{fill:#3a9a5b}\
.hist{display:inline-block;margin:0 1em 1em 0;vertical-align:top}.hist h3{font-size:12px;margin:0;max-width:320px;\
overflow-wrap:anywhere}.range{stroke:#c0392b;stroke-width:1.5}.cnt{fill:#7f8c8d}";

/// The summary lines at the top of the page.
fn summary(q: &Value, out: &mut String) {
    let rows = q["quantizers"].as_array().map_or(&[][..], Vec::as_slice);
    let acts = rows.iter().filter(|r| r["kind"] == "activation").count();
    let _ = writeln!(
        out,
        "<p class=\"summary\">{} activation and {} weight quantizers; preset {}, model type {}, {} calibration items, \
         activation ranges {}.</p>",
        acts,
        rows.len() - acts,
        esc(q["preset"].as_str().unwrap_or("?")),
        esc(q["model_type"].as_str().unwrap_or("default")),
        q["subset_items"].as_u64().unwrap_or(0),
        esc(q["range_estimator"].as_str().unwrap_or("?")),
    );
    if let Some(a) = q["smooth_quant_alphas"].as_array() {
        let n = q["smooth_quant"].as_array().map_or(0, Vec::len);
        let _ = writeln!(out, "<p>SmoothQuant: {n} activations, alpha {}.</p>", a.first().unwrap_or(&Value::Null));
    }
}

/// One bar per quantizer with an SQNR, in graph order.
fn bars(rows: &[&Value], out: &mut String) {
    let top = rows.iter().filter_map(|q| sqnr(q)).fold(10.0f64, f64::max).ceil();
    let (h, bw) = (220.0, (900.0 / rows.len().max(1) as f64).clamp(2.0, 24.0));
    let width = bw * rows.len() as f64 + 40.0;
    let _ = writeln!(out, "<svg class=\"sqnr\" width=\"{width:.0}\" height=\"{}\" role=\"img\">", h + 20.0);
    for (i, q) in rows.iter().enumerate() {
        let db = sqnr(q).unwrap_or(0.0).max(0.0);
        let bh = db / top * h;
        let kind = esc(&text(q, "kind"));
        let _ = writeln!(
            out,
            "<g class=\"bar {kind}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"/>\
             <title>{kind} {}: {db:.1} dB</title></g>",
            40.0 + i as f64 * bw,
            h - bh,
            (bw - 1.0).max(1.0),
            esc(&text(q, "tensor")),
        );
    }
    let _ = writeln!(
        out,
        "<text x=\"0\" y=\"12\" font-size=\"11\">{top:.0} dB</text><text x=\"0\" y=\"{h:.0}\" font-size=\"11\">0</text>\
         <line x1=\"38\" y1=\"0\" x2=\"38\" y2=\"{h:.0}\" stroke=\"#999\"/></svg>"
    );
}

/// The worst quantizers, with the flag that keeps each in float: by their
/// share of the output error when the report has it (`--diagnose`), else
/// by their own SQNR.
fn worst(rows: &[&Value], out: &mut String) {
    let alone = |q: &Value| q["output_sqnr_db"].as_f64();
    let key: &dyn Fn(&Value) -> Option<f64> = if rows.iter().any(|q| alone(q).is_some()) { &alone } else { &sqnr };
    let mut by: Vec<&&Value> = rows.iter().filter(|q| key(q).is_some()).collect();
    by.sort_by(|a, b| key(a).unwrap_or(0.0).total_cmp(&key(b).unwrap_or(0.0)));
    out.push_str(
        "<table class=\"worst\"><tr><th>#</th><th>kind</th><th>tensor</th><th>SQNR (dB)</th>\
         <th>output SQNR with it alone (dB)</th><th>read by</th><th>to keep it in float</th></tr>\n",
    );
    let db = |v: Option<f64>| v.map_or_else(|| "–".to_string(), |v| format!("{v:.1}"));
    for (i, q) in by.iter().take(WORST).enumerate() {
        let r = readers(q);
        let names: Vec<String> = r.iter().map(|n| format!("'{}'", n.replace('\'', "'\\''"))).collect();
        let _ = writeln!(
            out,
            "<tr class=\"worst-row\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td><code>--ignore-names {}</code></td></tr>",
            i + 1,
            esc(&text(q, "kind")),
            esc(&text(q, "tensor")),
            db(sqnr(q)),
            db(alone(q)),
            esc(&r.join(", ")),
            esc(&names.join(" ")),
        );
    }
    out.push_str("</table>\n");
}

/// Each activation's histogram (log-scaled counts) and its covered range.
fn histograms(rows: &[&Value], out: &mut String) {
    let (w, h) = (320.0, 90.0);
    for q in rows {
        let hist = &q["histogram"];
        let (Some(lo), Some(hi), Some(counts)) =
            (hist["low"].as_f64(), hist["high"].as_f64(), hist["counts"].as_array())
        else {
            continue;
        };
        let counts: Vec<f64> = counts.iter().map(|c| c.as_f64().unwrap_or(0.0)).collect();
        let (rlo, rhi) = (q["spec"]["low"][0].as_f64(), q["spec"]["high"][0].as_f64());
        // The axis spans the values and the covered range.
        let a = rlo.map_or(lo, |r| r.min(lo));
        let b = rhi.map_or(hi, |r| r.max(hi));
        let x = |v: f64| if b > a { (v - a) / (b - a) * w } else { 0.0 };
        let peak = counts.iter().fold(1.0f64, |m, &c| m.max((c + 1.0).ln()));
        let bw = (hi - lo) / counts.len().max(1) as f64;
        let _ = write!(
            out,
            "<div class=\"hist\"><h3>{}</h3><svg width=\"{w:.0}\" height=\"{:.0}\" role=\"img\">",
            esc(&text(q, "tensor")),
            h + 14.0
        );
        for (i, &c) in counts.iter().enumerate() {
            let (x0, x1) = (x(lo + i as f64 * bw), x(lo + (i + 1) as f64 * bw));
            let bh = (c + 1.0).ln() / peak * h;
            let _ = write!(
                out,
                "<rect class=\"cnt\" x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\"/>",
                h - bh,
                (x1 - x0).max(0.5)
            );
        }
        for r in [rlo, rhi].into_iter().flatten() {
            let _ = write!(out, "<line class=\"range\" x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"{h:.0}\"/>", x(r));
        }
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{:.0}\" font-size=\"10\">{a:.3}</text><text x=\"{:.0}\" y=\"{:.0}\" font-size=\"10\" \
             text-anchor=\"end\">{b:.3}</text></svg></div>",
            h + 12.0,
            w,
            h + 12.0
        );
    }
}

/// The page for `report` (a quantization report, or an accuracy-control
/// report holding one); None when it holds no quantizers.
pub fn render(report: &Value) -> Option<String> {
    let q = quantization(report)?;
    let mut rows: Vec<&Value> = q["quantizers"].as_array()?.iter().collect();
    rows.sort_by_key(|r| r["order"].as_u64().unwrap_or(u64::MAX));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>ptq quantization report</title>\
         <style>{STYLE}</style></head><body>\n<h1>ptq quantization report</h1>"
    );
    summary(q, &mut out);
    out.push_str(
        "<h2>SQNR per quantizer, in graph order</h2>\n<p>Signal to quantization noise of each quantizer alone \
         (blue: activations, on the calibration data; orange: weights; green: embedding tables). Hover a bar for \
         its tensor.</p>\n",
    );
    bars(&rows, &mut out);
    let _ = writeln!(out, "<h2>The {WORST} worst quantizers</h2>");
    worst(&rows, &mut out);
    out.push_str(
        "<h2>Activation histograms</h2>\n<p>Calibration values (log counts); red lines: the range the \
         quantizer covers.</p>\n",
    );
    histograms(&rows, &mut out);
    out.push_str("</body></html>\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_rows_appear_in_graph_order() {
        let report = serde_json::json!({
            "preset": "performance",
            "quantizers": [
                {"kind": "weight", "tensor": "w<1>", "readers": ["conv&1"], "sqnr_db": 40.0, "order": 2,
                 "spec": {"low": [-1.0], "high": [1.0]}},
                {"kind": "activation", "tensor": "x", "readers": ["conv&1"], "sqnr_db": 20.0, "order": 1,
                 "spec": {"low": [0.0], "high": [2.0]},
                 "histogram": {"low": 0.0, "high": 2.0, "counts": [1, 5, 2]}}
            ]
        });
        let page = render(&serde_json::json!({"quantization": report})).unwrap();
        assert!(page.contains("w&lt;1&gt;") && !page.contains("w<1>"));
        assert_eq!(page.matches("<g class=\"bar").count(), 2);
        assert!(page.find("activation x:").unwrap() < page.find("weight w&lt;1&gt;:").unwrap());
        assert_eq!(page.matches("class=\"worst-row\"").count(), 2);
        assert!(page.contains("--ignore-names &#39;conv&amp;1&#39;"));
        assert_eq!(page.matches("<div class=\"hist\">").count(), 1);
        assert_eq!(page.matches("class=\"cnt\"").count(), 3);
        assert!(render(&serde_json::json!({})).is_none());
    }
}
