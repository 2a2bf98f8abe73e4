//! `cargo xtask bench-accuracy`: `ptq quantize --max-drop` side by side with
//! NNCF's `quantize_with_accuracy_control` (tests/tools/peer_accuracy.py) on
//! the labelled fixtures, as ONNX and as OpenVINO IR, with max_drop 0.01 on
//! top-1. Every written model is then scored in its format's runtime
//! (tests/tools/eval_quantized.py) to check the reported metric. Installs
//! tests/tools/requirements-bench.txt unless `PTQ_SKIP_PIP=1`, builds the
//! release `ptq` unless `PTQ_SKIP_BUILD=1`, and rewrites the accuracy-control
//! section of docs/PERFORMANCE.md. Outputs and logs stay in
//! target/bench-accuracy/.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::bench_quantize::{build_ptq, cpu_name, last_json, reason, save_log, versions, write_section};

const START: &str = "<!-- accuracy-bench:start -->";
const END: &str = "<!-- accuracy-bench:end -->";
/// Fixtures with labelled validation data.
const FIXTURES: &[&str] = &["outlier_classifier", "digits_cnn"];
const MAX_DROP: &str = "0.01";

/// One tool's result on one model.
#[derive(Debug, Default)]
struct Row {
    fp32: f64,
    int8: f64,
    metric: f64,
    reverted: Vec<String>,
    quantizers: Option<u64>,
    wall_s: f64,
    call_s: Option<f64>,
    /// Top-1 of the written model in the format's runtime.
    runtime_top1: Option<f64>,
}

/// Runs the benchmark.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    if !args.is_empty() {
        bail!("usage: cargo xtask bench-accuracy");
    }
    if std::env::var_os("PTQ_SKIP_PIP").is_none() {
        crate::pip_install("tests/tools/requirements-bench.txt")?;
    }
    if let Err(why) = build_ptq(root) {
        bail!("{why}");
    }
    let py = crate::python::interpreter()?;
    let work = root.join("target/bench-accuracy");
    let mut lines = vec![];
    for name in FIXTURES {
        let dir = root.join("tests/fixtures").join(name);
        for (file, ext, label) in
            [("model.onnx", "onnx", name.to_string()), ("ir/model.xml", "xml", format!("{name} (IR)"))]
        {
            let model = dir.join(file);
            if !model.is_file() {
                continue;
            }
            let out_dir = work.join(label.replace(" (IR)", "-ir"));
            std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
            for tool in ["ptq", "NNCF"] {
                println!("{label} / {tool}");
                let out = out_dir.join(format!("{}.{ext}", tool.to_lowercase()));
                let r = one(root, &py, tool, &dir, &model, &out).and_then(|mut row| {
                    let v = score(root, &py, &model, &out, &dir.join("valid.npz"))?;
                    row.runtime_top1 = v["top1"].as_f64();
                    Ok(row)
                });
                lines.push(format_row(&label, tool, r));
            }
        }
    }
    let section = format!(
        "{START}\nCommand: `cargo xtask bench-accuracy` ({}; {}).\n\n\
         Each tool quantizes the fixture with accuracy control: max_drop {MAX_DROP} absolute on top-1 over the \
         fixture's `valid.npz`, 300 calibration items from `calib.npz`, defaults otherwise (`ptq quantize \
         --validation valid.npz --max-drop 0.01`; `tests/tools/peer_accuracy.py`, NNCF's ONNX backend for \
         `.onnx` and OpenVINO backend for IR). FP32 and INT8 are the float and the fully quantized model's \
         top-1 as each tool measured them; \"final\" is the returned model's; \"reverted\" lists the ops left \
         in float (with the quantizers removed, where the tool reports them); \"runtime\" is the written \
         model's top-1 in onnxruntime or OpenVINO (`tests/tools/eval_quantized.py`). Wall time is the whole \
         process (Python start and imports included for NNCF; \"call\" is NNCF's call alone). \
         `outlier_classifier` loses 9.3 points as plain INT8 (tests/fixtures/README.md); `digits_cnn` is \
         within max_drop without reverting.\n\n\
         | model | tool | FP32 | INT8 | final | reverted ops (quantizers) | runtime | wall time (s) |\n\
         |---|---|---|---|---|---|---|---|\n{}\n{END}",
        cpu_name(),
        versions(root, &py),
        lines.join("\n")
    );
    println!("\n{section}");
    write_section(root, START, END, "Accuracy control: ptq against NNCF's quantize_with_accuracy_control", &section)
}

/// Runs one tool as its own process and reads its report.
fn one(root: &Path, py: &str, tool: &str, dir: &Path, model: &Path, out: &Path) -> Result<Row, String> {
    let _ = std::fs::remove_file(out);
    let report = out.with_extension("report.json");
    let mut cmd = if tool == "ptq" {
        let mut c = Command::new(root.join("target/release/ptq"));
        c.args(["quantize", "--quiet", "--max-drop", MAX_DROP, "--validation"]).arg(dir.join("valid.npz"));
        c.arg("--data").arg(dir.join("calib.npz")).arg("--report").arg(&report);
        c
    } else {
        let mut c = Command::new(py);
        c.arg(root.join("tests/tools/peer_accuracy.py")).args(["--max-drop", MAX_DROP, "--valid"]);
        c.arg(dir.join("valid.npz")).arg("--calib").arg(dir.join("calib.npz"));
        c
    };
    cmd.arg("--model").arg(model).arg("--output").arg(out);
    let t0 = Instant::now();
    let o = cmd.current_dir(out.parent().unwrap_or(root)).output().map_err(|e| format!("cannot start: {e}"))?;
    let wall_s = t0.elapsed().as_secs_f64();
    save_log(&out.with_extension("log"), &o);
    if !o.status.success() {
        return Err(format!("{}: {}", o.status, reason(&o)));
    }
    let names = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
    };
    if tool == "ptq" {
        let text = std::fs::read_to_string(&report).map_err(|e| format!("no report: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("bad report: {e}"))?;
        let a = &v["accuracy_control"];
        Ok(Row {
            fp32: a["fp32_metric"].as_f64().unwrap_or(f64::NAN),
            int8: a["int8_metric"].as_f64().unwrap_or(f64::NAN),
            metric: a["metric"].as_f64().unwrap_or(f64::NAN),
            reverted: names(&a["reverted_nodes"]),
            quantizers: a["reverted_quantizers"].as_u64(),
            wall_s,
            ..Row::default()
        })
    } else {
        let v = last_json(&o.stdout)?;
        Ok(Row {
            fp32: v["fp32_metric"].as_f64().unwrap_or(f64::NAN),
            int8: v["int8_metric"].as_f64().unwrap_or(f64::NAN),
            metric: v["final_metric"].as_f64().unwrap_or(f64::NAN),
            reverted: names(&v["reverted_operation_names"]),
            // ONNX quantizers are Q/DQ node pairs in NNCF's count; IR ones are FakeQuantize nodes.
            quantizers: v["removed_quantizers"]
                .as_u64()
                .map(|n| if model.extension().is_some_and(|e| e == "onnx") { n / 2 } else { n }),
            wall_s,
            call_s: v["quantize_s"].as_f64(),
            runtime_top1: None,
        })
    }
}

/// Scores `out` against `model` in the format's runtime.
fn score(root: &Path, py: &str, model: &Path, out: &Path, valid: &Path) -> Result<Value, String> {
    let o = Command::new(py)
        .arg(root.join("tests/tools/eval_quantized.py"))
        .arg("--reference")
        .arg(model)
        .arg("--model")
        .arg(out)
        .arg("--valid")
        .arg(valid)
        .args(["--iters", "10", "--warmup", "2"])
        .output()
        .map_err(|e| format!("cannot start eval_quantized.py: {e}"))?;
    if !o.status.success() {
        return Err(format!("evaluation failed: {}", reason(&o)));
    }
    last_json(&o.stdout)
}

fn format_row(label: &str, tool: &str, r: Result<Row, String>) -> String {
    let pct = |v: f64| format!("{:.2} %", v * 100.0);
    match r {
        Ok(r) => {
            let reverted = if r.reverted.is_empty() { "none".to_string() } else { r.reverted.join(", ") };
            let q = r.quantizers.map_or(String::new(), |q| format!(" ({q})"));
            let wall = match r.call_s {
                Some(c) => format!("{:.2} (call {c:.2})", r.wall_s),
                None => format!("{:.2}", r.wall_s),
            };
            format!(
                "| {label} | {tool} | {} | {} | {} | {}{q} | {} | {wall} |",
                pct(r.fp32),
                pct(r.int8),
                pct(r.metric),
                reverted,
                r.runtime_top1.map_or("—".into(), pct)
            )
        }
        Err(e) => format!("| {label} | {tool} | failed: {} | | | | | |", e.replace('|', "\\|")),
    }
}
