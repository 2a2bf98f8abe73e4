//! `cargo xtask bench-gemm [M K N]`: ptq's int8 GEMM (every tier this CPU
//! has) and f32 `sgemm` against onnxruntime's MatMulInteger, one thread, in
//! interleaved rounds; prints the table and rewrites its section of
//! docs/PERFORMANCE.md.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::bench_quantize::{cpu_name, write_section};

const ROUNDS: usize = 3;
const START: &str = "<!-- gemm-bench:start -->";
const END: &str = "<!-- gemm-bench:end -->";

fn json(out: &std::process::Output, what: &str) -> anyhow::Result<serde_json::Value> {
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).with_context(|| format!("{what} printed {text}"))
}

/// Runs the comparison on the shape in `args` (default 128 768 3072).
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let shape: Vec<usize> = match args {
        [] => vec![128, 768, 3072],
        [m, k, n] => [m, k, n].iter().map(|v| v.parse()).collect::<Result<_, _>>().context("M K N are numbers")?,
        _ => bail!("usage: cargo xtask bench-gemm [M K N]"),
    };
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-q", "-p", "ptq-kernels", "--example", "int8_gemm_timing"])
        .current_dir(root)
        .status()?;
    if !status.success() {
        bail!("release build of the timing example failed");
    }
    let py = crate::python::interpreter()?;
    let ours_bin = root.join("target/release/examples/int8_gemm_timing");
    let mut best: std::collections::BTreeMap<String, f64> = Default::default();
    let mut ort_version = String::new();
    let mut peak = 0.0f64;
    for _ in 0..ROUNDS {
        let o = json(&Command::new(&ours_bin).args(&dims).output()?, "int8_gemm_timing")?;
        if let Some(p) = o["vnni_peak_gops"].as_f64() {
            peak = peak.max(p);
        }
        for (k, v) in o.as_object().into_iter().flatten() {
            if let (false, Some(ms)) = (["m", "k", "n", "vnni_peak_gops"].contains(&k.as_str()), v.as_f64()) {
                let e = best.entry(k.clone()).or_insert(f64::INFINITY);
                *e = e.min(ms);
            }
        }
        let t = json(
            &Command::new(&py).arg(root.join("tests/tools/ort_matmul_integer.py")).args(&dims).output()?,
            "ort_matmul_integer.py",
        )?;
        let ms = t["median_ms"].as_f64().context("ort_matmul_integer.py: no median_ms")?;
        let e = best.entry("onnxruntime MatMulInteger".into()).or_insert(f64::INFINITY);
        *e = e.min(ms);
        ort_version = t["onnxruntime"].as_str().unwrap_or("?").to_string();
    }
    let (m, k, n) = (shape[0] as f64, shape[1] as f64, shape[2] as f64);
    let gops = |ms: f64| 2.0 * m * k * n / (ms * 1e6);
    let f32_ms = best.get("f32_sgemm").copied().context("no f32 timing")?;
    let ort_ms = best.get("onnxruntime MatMulInteger").copied().context("no onnxruntime timing")?;
    let mut rows = vec![];
    for (name, &ms) in &best {
        let share =
            if name == "avx512vnni" && peak > 0.0 { format!("{:.0} %", 100.0 * gops(ms) / peak) } else { "—".into() };
        println!(
            "{name:28} {ms:9.3} ms {:7.1} GOPS  vs f32 {:5.2}x  vs ort {:5.2}x",
            gops(ms),
            f32_ms / ms,
            ort_ms / ms
        );
        rows.push(format!(
            "| {name} | {ms:.3} | {:.1} | {:.2}x | {:.2}x | {share} |",
            gops(ms),
            f32_ms / ms,
            ort_ms / ms
        ));
    }
    let section = format!(
        "{START}\nCommand: `cargo xtask bench-gemm` (M×K×N = {}×{}×{}, u8 × s8 → i32 with weights packed once, one thread, best median of {ROUNDS} interleaved rounds of 30 runs; {}; onnxruntime {ort_version}, MatMulInteger with a constant B). Weights are random bytes (8 bits); a `_7bit` row is the same GEMM with the weights halved to 7 bits, as the overflow fix stores them, which the AVX2 tier multiplies in its one-`vpmaddubsw` form (8-bit pairs that could saturate take the exact split form). Speed is against the f32 `sgemm` and onnxruntime's MatMulInteger in the same run (above 1x: faster); the VNNI peak is one core's `vpdpbusd` throughput measured by the same program in the same run ({peak:.0} GOPS: 12 independent chains on register operands, best of 21 trials).\n\n| kernel | median (ms) | GOPS | vs f32 sgemm | vs onnxruntime | % of VNNI peak |\n|---|---|---|---|---|---|\n{}\n{END}",
        shape[0],
        shape[1],
        shape[2],
        cpu_name(),
        rows.join("\n")
    );
    write_section(root, START, END, "Int8 GEMM against onnxruntime's MatMulInteger", &section)
}
