//! `cargo xtask bench-int8 --real [--only A,B] [--rounds N]`: ptq, onnxruntime
//! and OpenVINO side by side on real-size models, FP32 and INT8, with NNCF's
//! quantization beside ptq's.
//!
//! The models (ResNet-50, MobileNetV3-Large, EfficientNet-B0 from
//! torchvision; BERT-base and a MiniLM-size BERT from transformers configs;
//! random weights, nothing downloaded) are written by
//! `tests/tools/gen_bench_models.py` in the zoo's torch venv to
//! target/bench-int8/real, with 300 calibration items. Per model:
//! - OpenVINO converts the ONNX file to an FP32 IR;
//! - `ptq quantize` (defaults) writes an INT8 ONNX from the ONNX file and an
//!   INT8 IR from the FP32 IR; NNCF (`tests/tools/peer_quantize.py`,
//!   defaults, `model_type=TRANSFORMER` for the BERTs) quantizes both too.
//!   Each quantization's wall time is measured;
//! - per thread count (1 and all cores) and batch (1 and 8), it alternates
//!   for a few rounds: ptq FP32 and INT8 (`ptq bench --only`), onnxruntime
//!   FP32 and INT8 on ptq's ONNX (`tests/tools/ort_bench.py`), OpenVINO FP32
//!   (f32 precision hint), INT8 on NNCF's IR and INT8 on ptq's IR
//!   (`tests/tools/ov_bench.py`), and keeps each one's best median.
//!
//! `--tier T` pins ptq to int8 tier `T` (f32 kernels too) and caps
//! OpenVINO's oneDNN to the matching ISA, to time a lower tier on a machine
//! that has a higher one; onnxruntime cannot be pinned.
//!
//! The tables go to docs/PERFORMANCE.md with the CPU and ptq's int8 tier, in
//! a section of their own per CPU tier, so an AVX2 run and a VNNI run stand
//! side by side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::bench::{release_ptq, shared_args, timing};

/// (name, NNCF model type is transformer)
const MODELS: &[(&str, bool)] = &[
    ("resnet50", false),
    ("mobilenet_v3_large", false),
    ("efficientnet_b0", false),
    ("minilm", true),
    ("bert_base", true),
];
/// The runtimes timed, in table order.
const COLUMNS: [&str; 7] =
    ["ptq FP32", "ptq INT8", "ort FP32", "ort INT8 (ptq)", "OV FP32", "OV INT8 (NNCF IR)", "OV INT8 (ptq IR)"];

/// Parsed arguments.
struct Opts {
    only: Option<Vec<String>>,
    rounds: usize,
    /// `--tier T`: ptq pinned to int8 tier `T` (`PTQ_CPU_TIER`, f32 kernels
    /// too) and OpenVINO's oneDNN capped to the matching ISA.
    tier: Option<String>,
}

/// OpenVINO's oneDNN ISA cap (`ONEDNN_MAX_CPU_ISA`) for a ptq tier name.
fn onednn_isa(tier: &str) -> anyhow::Result<&'static str> {
    Ok(match tier {
        "avx2" => "AVX2",
        "avx512vnni" => "AVX512_CORE_VNNI",
        "scalar" => "SSE41",
        _ => bail!("--tier takes avx2, avx512vnni or scalar, not {tier}"),
    })
}

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts { only: None, rounds: 2, tier: None };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--only" => o.only = Some(it.next().context("--only takes names")?.split(',').map(String::from).collect()),
            "--rounds" => o.rounds = it.next().context("--rounds takes a number")?.parse()?,
            "--tier" => o.tier = Some(it.next().context("--tier takes a tier name")?.clone()),
            _ => {
                bail!("usage: cargo xtask bench-int8 --real [--only A,B] [--rounds N] [--tier avx2|avx512vnni|scalar]")
            }
        }
    }
    Ok(o)
}

/// Runs `cmd`, failing with its stderr.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<std::process::Output> {
    let o = cmd.output().with_context(|| format!("starting {what}"))?;
    if !o.status.success() {
        bail!(
            "{what} failed: {}",
            String::from_utf8_lossy(&o.stderr)
                .chars()
                .rev()
                .take(2000)
                .collect::<String>()
                .chars()
                .rev()
                .collect::<String>()
        );
    }
    Ok(o)
}

/// Runs `cmd` and returns its wall time in seconds.
fn timed(cmd: &mut Command, what: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    run(cmd, what)?;
    Ok(t.elapsed().as_secs_f64())
}

/// Entry point of `bench-int8 --real`.
pub fn run_real(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let o = parse(args)?;
    // Environment for ptq's processes and for the Python ones (OpenVINO
    // reads the cap; onnxruntime has none and runs its best kernels).
    type Env = Vec<(&'static str, String)>;
    let (ptq_env, py_env): (Env, Env) = match &o.tier {
        Some(t) => (vec![("PTQ_CPU_TIER", t.clone())], vec![("ONEDNN_MAX_CPU_ISA", onednn_isa(t)?.to_string())]),
        None => (vec![], vec![]),
    };
    let (ptq, _) = release_ptq(root)?;
    let status = Command::new("bash").arg(root.join("tests/zoo/setup.sh")).args(["torch", "peers"]).status()?;
    anyhow::ensure!(status.success(), "tests/zoo/setup.sh torch peers failed");
    let torch = root.join("target/zoo-venv/torch/bin/python");
    let py = root.join("target/zoo-venv/peers/bin/python");
    let work = root.join("target/bench-int8/real");
    let models: Vec<(&str, bool)> = MODELS
        .iter()
        .copied()
        .filter(|(n, _)| o.only.as_ref().is_none_or(|only| only.iter().any(|x| x == n)))
        .collect();
    let names: Vec<&str> = models.iter().map(|m| m.0).collect();
    run(
        Command::new(&torch).arg(root.join("tests/tools/gen_bench_models.py")).arg(&work).arg("--only").args(&names),
        "gen_bench_models.py",
    )?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut latency_rows = vec![];
    let mut quantize_rows = vec![];
    for (name, transformer) in models {
        let d = work.join(name);
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("meta.json"))?)?;
        let dims: Vec<String> =
            meta["dims"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
        let fp32_xml = d.join("fp32.xml");
        if !fp32_xml.is_file() {
            let script = "import sys, openvino as ov; ov.save_model(ov.convert_model(sys.argv[1]), sys.argv[2], compress_to_fp16=False)";
            run(Command::new(&py).args(["-c", script]).arg(d.join("model.onnx")).arg(&fp32_xml), "ov.convert_model")?;
        }
        let quantize = |src: &Path, out: &Path| -> anyhow::Result<f64> {
            timed(
                Command::new(&ptq)
                    .envs(ptq_env.iter().cloned())
                    .args(["quantize", "--quiet", "--model"])
                    .arg(src)
                    .arg("--data")
                    .arg(d.join("calib.npz"))
                    .arg("--output")
                    .arg(out),
                &format!("ptq quantize {name}"),
            )
        };
        let nncf = |src: &Path, out: &Path| -> anyhow::Result<f64> {
            let mut c = Command::new(&py);
            c.envs(py_env.iter().cloned());
            c.arg(root.join("tests/tools/peer_quantize.py")).args(["--tool", "nncf", "--model"]).arg(src);
            c.arg("--calib").arg(d.join("calib.npz")).arg("--output").arg(out);
            if transformer {
                c.args(["--model-type", "transformer"]);
            }
            timed(&mut c, &format!("NNCF {name}"))
        };
        let (ptq_onnx, ptq_xml, nncf_onnx, nncf_xml) =
            (d.join("ptq.onnx"), d.join("ptq.xml"), d.join("nncf.onnx"), d.join("nncf.xml"));
        let q = [
            quantize(&d.join("model.onnx"), &ptq_onnx)?,
            nncf(&d.join("model.onnx"), &nncf_onnx)?,
            quantize(&fp32_xml, &ptq_xml)?,
            nncf(&fp32_xml, &nncf_xml)?,
        ];
        println!(
            "{name}: quantize wall s: ptq ONNX {:.1}, NNCF ONNX {:.1}, ptq IR {:.1}, NNCF IR {:.1}",
            q[0], q[1], q[2], q[3]
        );
        quantize_rows.push(format!(
            "| {name} | {:.1} | {:.1} | {:.2}x | {:.1} | {:.1} | {:.2}x |",
            q[0],
            q[1],
            q[1] / q[0],
            q[2],
            q[3],
            q[3] / q[2]
        ));
        let runners: [(PathBuf, &str); 7] = [
            (d.join("model.onnx"), "ptq fp32"),
            (ptq_onnx.clone(), "ptq int8"),
            (d.join("model.onnx"), "ort"),
            (ptq_onnx.clone(), "ort"),
            (fp32_xml.clone(), "ov"),
            (nncf_xml.clone(), "ov"),
            (ptq_xml.clone(), "ov"),
        ];
        for threads in [1, cores] {
            for batch in [1, 8] {
                let iters = if batch == 1 { 20 } else { 8 };
                let dim_refs: Vec<&str> = dims.iter().map(String::as_str).collect();
                let args = shared_args(batch, threads, iters, &dim_refs);
                let mut best = [f64::INFINITY; 7];
                for _ in 0..o.rounds {
                    for (i, (model, how)) in runners.iter().enumerate() {
                        let out = match *how {
                            "ptq fp32" | "ptq int8" => Command::new(&ptq)
                                .envs(ptq_env.iter().cloned())
                                .args(["bench", "--json", "--only", &how[4..], "--model"])
                                .arg(model)
                                .args(&args)
                                .output()?,
                            "ort" => Command::new(&py)
                                .arg(root.join("tests/tools/ort_bench.py"))
                                .arg(model)
                                .args(&args)
                                .output()?,
                            _ => Command::new(&py)
                                .envs(py_env.iter().cloned())
                                .arg(root.join("tests/tools/ov_bench.py"))
                                .arg(model)
                                .args(&args)
                                .output()?,
                        };
                        best[i] = best[i].min(timing(&out, COLUMNS[i])?.0);
                    }
                }
                println!(
                    "{name:20} threads {threads} batch {batch}: {}",
                    COLUMNS.iter().zip(&best).map(|(c, v)| format!("{c} {v:.2}")).collect::<Vec<_>>().join(", ")
                );
                latency_rows.push(format!(
                    "| {name} | {threads} | {batch} | {} | {:.2}x | {:.2}x | {:.2}x |",
                    best.iter().map(|v| format!("{v:.2}")).collect::<Vec<_>>().join(" | "),
                    best[0] / best[1],
                    best[5] / best[1],
                    best[4] / best[0],
                ));
            }
        }
    }
    let cpu = crate::bench_quantize::cpu_name();
    let tier = crate::bench_quantize::cpu_tier();
    let probe = run(
        Command::new(&ptq)
            .envs(ptq_env.iter().cloned())
            .args(["bench", "--json", "--iters", "1", "--only", "int8", "--model"])
            .arg(root.join("tests/fixtures/digits_cnn/model.onnx")),
        "ptq bench",
    )?;
    let int8_tier =
        serde_json::from_slice::<serde_json::Value>(&probe.stdout)?["int8_tier"].as_str().unwrap_or("?").to_string();
    let versions = crate::bench_quantize::versions(root, &py.to_string_lossy());
    let (command, pinned, slug) = match &o.tier {
        Some(t) => (
            format!("cargo xtask bench-int8 --real {}", args.join(" ")),
            format!(
                " (pinned with `PTQ_CPU_TIER`, f32 kernels too except `sgemm`, the `gemm` crate's, \
                 which keeps AVX-512); OpenVINO capped with `ONEDNN_MAX_CPU_ISA={}`, \
                 which its oneDNN primitives (convolutions) honour and its own JIT kernels (reductions, \
                 element-wise) do not; onnxruntime not pinned",
                onednn_isa(t)?
            ),
            format!("pinned-{t}"),
        ),
        None => (
            format!("cargo xtask bench-int8 --real {}", args.join(" ")).trim_end().to_string(),
            String::new(),
            crate::bench_quantize::cpu_tier_slug().to_string(),
        ),
    };
    let section = format!(
        "Command: `{command}` ({cpu}, {tier}; ptq's int8 tier: {int8_tier}{pinned}; \
         {versions}). Models from `tests/tools/gen_bench_models.py` (torchvision and transformers configs, random \
         weights, BatchNorm statistics re-estimated on synthetic images; BERTs at 128 tokens). ptq and NNCF quantize \
         with their defaults on the same 300 calibration items (NNCF with `model_type=TRANSFORMER` for the BERTs; \
         ptq detects them). Latency: median ms, best of {} interleaved rounds, synthetic inputs; OpenVINO with \
         `INFERENCE_PRECISION_HINT=f32`, one stream. \"INT8 speed-up\" is ptq FP32 over ptq INT8; \"vs OV INT8\" is \
         OpenVINO on NNCF's IR over ptq INT8 and \"FP32 vs OV\" OpenVINO FP32 over ptq FP32 (above 1x: ptq faster).\n\n\
         | model | threads | batch | {} | INT8 speed-up | vs OV INT8 | FP32 vs OV |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n{}\n\n\
         Quantization wall time (s, whole process: `ptq quantize` against `python3 tests/tools/peer_quantize.py`, \
         which includes starting Python and importing NNCF), from the ONNX file and from the FP32 IR; ratio NNCF over \
         ptq:\n\n\
         | model | ptq ONNX | NNCF ONNX | ratio | ptq IR | NNCF IR | ratio |\n|---|---|---|---|---|---|---|\n{}",
        o.rounds,
        COLUMNS.join(" | "),
        latency_rows.join("\n"),
        quantize_rows.join("\n"),
    );
    crate::bench_quantize::write_tier_section(
        root,
        "int8-real",
        &slug,
        "Real-size models: ptq, onnxruntime and OpenVINO",
        &section,
    )
}
