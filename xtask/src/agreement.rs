//! `cargo xtask cpu-agreement [--fixes F,G] [--only A,B]`: does an INT8 model
//! from ptq give the same answers in onnxruntime and OpenVINO on this CPU as
//! ptq's exact integer arithmetic (a VNNI CPU's), for each overflow fix?
//!
//! Per model (the fixtures with validation items, and the real-size models
//! of `bench-int8 --real` when they exist) and per `--overflow-fix` value,
//! `ptq quantize` writes an INT8 ONNX and an INT8 IR, and
//! `tests/tools/cpu_agreement.py` scores them in ptq, onnxruntime (ONNX),
//! OpenVINO (ONNX and IR) against the FP32 model in onnxruntime. The table
//! goes to docs/PERFORMANCE.md with the CPU, one section per CPU tier; the
//! comparison of the tiers' sections is the point: it means most on a CPU without
//! VNNI, where those runtimes' int8 kernels add pairs of products with the
//! saturating `vpmaddubsw`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

const FIXTURES: &[&str] = &[
    "digits_cnn",
    "mobilenet_block",
    "outlier_classifier",
    "resnet_stage",
    "transformer_encoder",
    "transformer_decomposed",
];
const REAL: &[&str] = &["resnet50", "mobilenet_v3_large", "efficientnet_b0", "minilm", "bert_base"];

/// Entry point.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut fixes: Vec<String> = ["auto", "first-layer", "all", "none"].map(String::from).to_vec();
    let mut only: Option<Vec<String>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--fixes" => fixes = it.next().context("--fixes takes values")?.split(',').map(String::from).collect(),
            "--only" => only = Some(it.next().context("--only takes names")?.split(',').map(String::from).collect()),
            _ => bail!("usage: cargo xtask cpu-agreement [--fixes auto,first-layer,all,none] [--only A,B]"),
        }
    }
    let (ptq, _) = crate::bench::release_ptq(root)?;
    let py = root.join("target/zoo-venv/peers/bin/python");
    let status = Command::new("bash").arg(root.join("tests/zoo/setup.sh")).arg("peers").status()?;
    anyhow::ensure!(status.success(), "tests/zoo/setup.sh peers failed");
    let work = root.join("target/cpu-agreement");
    std::fs::create_dir_all(&work)?;
    let mut dirs = vec![];
    for f in FIXTURES {
        dirs.push((f.to_string(), root.join("tests/fixtures").join(f)));
    }
    for r in REAL {
        let d = root.join("target/bench-int8/real").join(r);
        if d.join("valid.npz").is_file() {
            dirs.push((r.to_string(), d));
        }
    }
    let mut rows = vec![];
    for (name, d) in dirs.iter().filter(|(n, _)| only.as_ref().is_none_or(|o| o.contains(n))) {
        for fix in &fixes {
            let base = work.join(format!("{name}.{fix}"));
            let (onnx, xml, report) =
                (base.with_extension("onnx"), base.with_extension("xml"), base.with_extension("json"));
            for (out, rep) in [(&onnx, Some(&report)), (&xml, None)] {
                let mut c = Command::new(&ptq);
                c.args(["quantize", "--quiet", "--overflow-fix", fix, "--model"]).arg(d.join("model.onnx"));
                c.arg("--data").arg(d.join("calib.npz")).arg("--output").arg(out);
                if let Some(r) = rep {
                    c.arg("--report").arg(r);
                }
                let o = c.output()?;
                if !o.status.success() {
                    bail!("ptq quantize {name} --overflow-fix {fix}: {}", String::from_utf8_lossy(&o.stderr));
                }
            }
            let rep: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&report)?)?;
            let seven = rep["seven_bit_weights"].as_array().map_or(0, Vec::len);
            let weights =
                rep["quantizers"].as_array().map_or(0, |q| q.iter().filter(|r| r["kind"] == "weight").count());
            let o = Command::new(&py)
                .arg(root.join("tests/tools/cpu_agreement.py"))
                .arg("--ptq")
                .arg(&ptq)
                .arg("--reference")
                .arg(d.join("model.onnx"))
                .arg("--model")
                .arg(&onnx)
                .arg("--ir")
                .arg(&xml)
                .arg("--valid")
                .arg(d.join("valid.npz"))
                .args(["--items", "300"])
                .output()?;
            let r = crate::bench_quantize::last_json(&o.stdout).map_err(|e| {
                anyhow::anyhow!("cpu_agreement.py {name} {fix}: {e}: {}", String::from_utf8_lossy(&o.stderr))
            })?;
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            let row = format!(
                "| {name} | {fix} | {seven} of {weights} | {} {:.4} | {:+.4} | {:+.4} | {:+.4} | {:.2e} | {:.2e} | {:.2e} |",
                r["metric"].as_str().unwrap_or("?"),
                f("ptq"),
                f("onnxruntime_minus_ptq"),
                f("openvino_minus_ptq"),
                f("openvino_ir_minus_ptq"),
                f("onnxruntime_max_rel_diff"),
                f("openvino_max_rel_diff"),
                f("openvino_ir_max_rel_diff"),
            );
            println!("{row}");
            rows.push(row);
        }
    }
    let section = format!(
        "Command: `cargo xtask cpu-agreement` ({}, {}; {}). Each model is quantized by `ptq quantize \
         --overflow-fix F` (defaults otherwise) to ONNX and to IR; `tests/tools/cpu_agreement.py` scores ptq's own run \
         (exact integer products on every tier, so a VNNI CPU's answer), onnxruntime on the ONNX file, and OpenVINO \
         on the ONNX file and on the IR, against the FP32 model in onnxruntime over the validation items (top-1 with \
         labels, else the mean cosine of the first output). The differences are each runtime's metric minus ptq's, \
         and the largest |output − ptq's output| relative to max |ptq's output|.\n\n\
         | model | overflow fix | 7-bit weights | ptq metric | onnxruntime − ptq | OpenVINO (ONNX) − ptq | OpenVINO (IR) − ptq | max rel. diff ort | OV (ONNX) | OV (IR) |\n\
         |---|---|---|---|---|---|---|---|---|---|\n{}",
        crate::bench_quantize::cpu_name(),
        crate::bench_quantize::cpu_tier(),
        crate::bench_quantize::versions(root, &py.to_string_lossy()),
        rows.join("\n"),
    );
    crate::bench_quantize::write_tier_section(
        root,
        "cpu-agreement",
        crate::bench_quantize::cpu_tier_slug(),
        "Answers across CPUs: the overflow fix",
        &section,
    )
}
