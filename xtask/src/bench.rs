//! `cargo xtask bench`: ptq-exec and onnxruntime side by side on the fixtures.
//!
//! Builds the release `ptq` binary, then for each model alternates
//! `ptq bench --json` and `tests/tools/ort_bench.py` (same synthetic inputs,
//! batch and thread count) for a few rounds, keeps each tool's best median,
//! prints the latency ratios and rewrites the FP32 section of
//! docs/PERFORMANCE.md.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// (fixture, batch, extra --dim arguments)
const MODELS: &[(&str, usize, &[&str])] = &[
    ("digits_cnn", 32, &[]),
    ("transformer_encoder", 32, &["seq=16"]),
    ("mobilenet_block", 1, &[]),
    ("residual_block", 2, &[]),
    ("resnet_stage", 32, &[]),
];
const ROUNDS: usize = 3;
const START: &str = "<!-- fp32-bench:start -->";
const END: &str = "<!-- fp32-bench:end -->";

/// The median of a `ptq bench --json` (its first timed path) or
/// ort_bench.py run, and for ptq the number of nodes on the int8 kernels.
pub(crate) fn timing(out: &std::process::Output, what: &str) -> anyhow::Result<(f64, Option<u64>)> {
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).with_context(|| format!("{what} printed {line}"))?;
    let run = &v["runs"][0];
    let ms = run["median_ms"].as_f64().or(v["median_ms"].as_f64()).with_context(|| format!("{what}: no median_ms"))?;
    Ok((ms, run["integer_nodes"].as_u64()))
}

/// Builds the release `ptq` binary: its path and the Python to run the
/// tools with (`PTQ_PYTHON`, default `python3`).
pub(crate) fn release_ptq(root: &Path) -> anyhow::Result<(PathBuf, String)> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo).args(["build", "--release", "-p", "ptq-cli"]).current_dir(root).status()?;
    if !status.success() {
        bail!("release build failed");
    }
    let py = crate::python::interpreter()?;
    Ok((root.join("target/release/ptq"), py))
}

/// The arguments `ptq bench` and ort_bench.py share.
pub(crate) fn shared_args(batch: usize, threads: usize, iters: usize, dims: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--batch".into(),
        batch.to_string(),
        "--threads".into(),
        threads.to_string(),
        "--iters".into(),
        iters.to_string(),
    ];
    for d in dims {
        args.extend(["--dim".into(), d.to_string()]);
    }
    args
}

/// Runs the comparison with `threads` worker threads.
pub fn run(root: &Path, threads: usize) -> anyhow::Result<()> {
    let (ptq, py) = release_ptq(root)?;
    let mut rows = vec![];
    for &(name, batch, dims) in MODELS {
        let model = root.join("tests/fixtures").join(name).join("model.onnx");
        let args = shared_args(batch, threads, 50, dims);
        let (mut ours, mut theirs) = (f64::INFINITY, f64::INFINITY);
        for _ in 0..ROUNDS {
            let o = Command::new(&ptq)
                .args(["bench", "--only", "fp32", "--json", "--model"])
                .arg(&model)
                .args(&args)
                .output()?;
            ours = ours.min(timing(&o, "ptq bench")?.0);
            let o = Command::new(&py).arg(root.join("tests/tools/ort_bench.py")).arg(&model).args(&args).output()?;
            theirs = theirs.min(timing(&o, "ort_bench.py")?.0);
        }
        let shape =
            if dims.is_empty() { format!("batch {batch}") } else { format!("batch {batch}, {}", dims.join(", ")) };
        println!("{name:22} {shape:20} ptq {ours:8.3} ms  onnxruntime {theirs:8.3} ms  ratio {:.2}x", ours / theirs);
        rows.push(format!("| {name} | {shape} | {ours:.3} | {theirs:.3} | {:.2}x |", ours / theirs));
    }
    let cpu = crate::bench_quantize::cpu_name();
    let section = format!(
        "{START}\nCommand: `cargo xtask bench --threads {threads}` (FP32, {threads} threads, best median of {ROUNDS} interleaved rounds of 50 runs; {cpu}).\n\n| model | input | ptq-exec (ms) | onnxruntime (ms) | ptq / ort |\n|---|---|---|---|---|\n{}\n{END}",
        rows.join("\n")
    );
    crate::bench_quantize::write_section(root, START, END, "FP32 executor vs onnxruntime", &section)
}
