//! `cargo xtask bench-int8 [--threads N]`: INT8 against FP32 in ptq-exec,
//! and ptq-exec against onnxruntime on the same INT8 model.
//!
//! Builds the release `ptq` binary; per fixture, `ptq quantize` writes the
//! INT8 ONNX model (default options, the fixture's calib.npz) to
//! target/bench-int8/<fixture>.onnx; then, per batch size, it alternates
//! for a few rounds `ptq bench --only fp32` on the FP32 model, `ptq bench
//! --only int8` on the INT8 model (its integer path) and
//! `tests/tools/ort_bench.py` on the INT8 model, keeps each one's best
//! median, prints the ratios and rewrites the INT8 section of
//! docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::bench::{release_ptq, shared_args, timing};

/// (fixture, batch sizes, extra --dim arguments)
const MODELS: &[(&str, &[usize], &[&str])] = &[
    ("resnet_stage", &[1, 8], &[]),
    ("transformer_encoder", &[1, 8], &["seq=16"]),
    ("digits_cnn", &[1, 8], &[]),
    ("mobilenet_block", &[1], &[]),
];
const ROUNDS: usize = 3;
const ITERS: usize = 50;
const START: &str = "<!-- int8-bench:start -->";
const END: &str = "<!-- int8-bench:end -->";

/// Runs the comparison with `threads` threads.
pub fn run(root: &Path, threads: usize) -> anyhow::Result<()> {
    let (ptq, py) = release_ptq(root)?;
    let work = root.join("target/bench-int8");
    std::fs::create_dir_all(&work)?;
    let mut rows = vec![];
    for &(name, batches, dims) in MODELS {
        let fx = root.join("tests/fixtures").join(name);
        let fp32 = fx.join("model.onnx");
        let int8 = work.join(format!("{name}.onnx"));
        let o = Command::new(&ptq)
            .arg("quantize")
            .arg("--model")
            .arg(&fp32)
            .arg("--data")
            .arg(fx.join("calib.npz"))
            .arg("--output")
            .arg(&int8)
            .output()?;
        if !o.status.success() {
            bail!("ptq quantize {name} failed: {}", String::from_utf8_lossy(&o.stderr));
        }
        for &batch in batches {
            let args = shared_args(batch, threads, ITERS, dims);
            let (mut f, mut i, mut ort, mut nodes) = (f64::INFINITY, f64::INFINITY, f64::INFINITY, 0);
            for _ in 0..ROUNDS {
                let bench = |model: &Path, only: &str| {
                    Command::new(&ptq)
                        .args(["bench", "--json", "--only", only, "--model"])
                        .arg(model)
                        .args(&args)
                        .output()
                };
                f = f.min(timing(&bench(&fp32, "fp32")?, "ptq bench fp32")?.0);
                let (ms, n) = timing(&bench(&int8, "int8")?, "ptq bench int8")?;
                (i, nodes) = (i.min(ms), n.unwrap_or(0));
                let o = Command::new(&py).arg(root.join("tests/tools/ort_bench.py")).arg(&int8).args(&args).output()?;
                ort = ort.min(timing(&o, "ort_bench.py")?.0);
            }
            println!(
                "{name:22} batch {batch:<3} fp32 {f:8.3} ms  int8 {i:8.3} ms ({nodes} int8 nodes)  speed-up {:.2}x  \
                 onnxruntime int8 {ort:8.3} ms  ptq vs ort {:.2}x",
                f / i,
                ort / i
            );
            rows.push(format!(
                "| {name} | {batch} | {f:.3} | {i:.3} | {nodes} | {:.2}x | {ort:.3} | {:.2}x |",
                f / i,
                ort / i
            ));
        }
    }
    let cpu = crate::bench_quantize::cpu_name();
    let section = format!(
        "{START}\nCommand: `cargo xtask bench-int8 --threads {threads}` ({threads} thread(s), best median of {ROUNDS} \
         interleaved rounds of {ITERS} runs; {cpu}). The INT8 model is `ptq quantize` of the fixture with default \
         options on its calib.npz; ptq-exec runs it on its integer path (`ptq bench --only int8`), onnxruntime \
         runs the same file. \"speed-up\" is ptq's FP32 time over its INT8 time; \"ptq vs ort\" is onnxruntime's \
         INT8 time over ptq's (above 1x: ptq faster).\n\n\
         | model | batch | ptq FP32 (ms) | ptq INT8 (ms) | int8 nodes | speed-up | onnxruntime INT8 (ms) | ptq vs ort |\n\
         |---|---|---|---|---|---|---|---|\n{}\n{END}",
        rows.join("\n")
    );
    crate::bench_quantize::write_section(root, START, END, "INT8 against FP32 in ptq-exec, end to end", &section)
}
