//! Project tasks: `cargo xtask <task>`.
//!
//! - `layering`: checks the crate dependency rules of docs/ARCHITECTURE.md and
//!   that every crate but ptq-kernels forbids `unsafe`.
//! - `test`: installs the Python runtimes the tests check against
//!   (tests/requirements.txt; skipped with `PTQ_SKIP_PIP=1`), then runs
//!   `cargo test --workspace` with any further arguments.
//! - `bench`: ptq-exec against onnxruntime on the fixtures, FP32, same inputs
//!   and threads; rewrites docs/PERFORMANCE.md.
//! - `quantize [ARGS]`: `ptq quantize ARGS` from a release build; with no
//!   arguments, the bundled digits CNN on its calibration set, printing FP32
//!   and INT8 top-1 on its validation set.
//! - `bench-quantize [--skip-nncf]`: `ptq quantize` against NNCF and
//!   onnxruntime's quantizer on the fixtures with calib.npz/valid.npz
//!   (installs tests/tools/requirements-bench.txt unless `PTQ_SKIP_PIP=1`);
//!   rewrites the INT8 section of docs/PERFORMANCE.md.
//! - `bench-accuracy`: `ptq quantize --max-drop 0.01` against NNCF's
//!   `quantize_with_accuracy_control` on the labelled fixtures (ONNX and IR);
//!   rewrites the accuracy-control section of docs/PERFORMANCE.md.
//! - `bench-gemm [M K N]`: the int8 GEMM tiers and f32 `sgemm` against
//!   onnxruntime's MatMulInteger, one thread; rewrites its section of
//!   docs/PERFORMANCE.md.
//! - `fixtures`: regenerates tests/fixtures with the pinned Python generator.
//! - `conformance [--update] [--verbose]`: installs tests/requirements.txt
//!   (skipped with `PTQ_SKIP_PIP=1`), runs the ONNX backend node tests through
//!   the importer and executor, writes docs/CONFORMANCE.md and fails when a
//!   test listed in tests/conformance/expected_passes.txt no longer passes
//!   (`--update` rewrites that list instead; `--verbose` prints every test
//!   that does not pass).

#![forbid(unsafe_code)]

mod bench;
mod bench_accuracy;
mod bench_gemm;
mod bench_int8;
mod bench_quantize;
mod conformance;
mod layering;
mod quantize;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn fixtures() -> anyhow::Result<()> {
    let root = workspace_root();
    let py = std::env::var("PTQ_PYTHON").unwrap_or_else(|_| "python3".into());
    pip_install("tests/fixtures/requirements.txt")?;
    let status =
        Command::new(&py).arg(root.join("tests/fixtures/generate.py")).status().context("running the generator")?;
    if !status.success() {
        bail!("the fixture generator failed");
    }
    Ok(())
}

fn pip_install(requirements: &str) -> anyhow::Result<()> {
    let py = std::env::var("PTQ_PYTHON").unwrap_or_else(|_| "python3".into());
    let status = Command::new(&py)
        .args(["-m", "pip", "install", "--disable-pip-version-check", "-q", "-r"])
        .arg(workspace_root().join(requirements))
        .status()
        .with_context(|| format!("running {py} -m pip"))?;
    if !status.success() {
        bail!("pip install -r {requirements} failed");
    }
    Ok(())
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    if std::env::var_os("PTQ_SKIP_PIP").is_none() {
        pip_install("tests/requirements.txt")?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["test", "--workspace"])
        .args(extra)
        .current_dir(workspace_root())
        .status()
        .context("running cargo test")?;
    if !status.success() {
        bail!("cargo test failed");
    }
    Ok(())
}

/// `[--threads N]` for `cargo xtask CMD`, `default` when absent.
fn bench_args(args: &[String], cmd: &str, default: usize) -> anyhow::Result<usize> {
    match args {
        [] => Ok(default),
        [flag, n] if flag == "--threads" => n.parse().context("--threads takes a number"),
        _ => bail!("usage: cargo xtask {cmd} [--threads N]"),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(2).collect();
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "layering" => layering::check(&workspace_root()),
        "fixtures" => fixtures(),
        "test" => test(&args),
        "conformance" => conformance::run(&workspace_root(), &args),
        "bench" => bench_args(&args, "bench", 2).and_then(|t| bench::run(&workspace_root(), t)),
        "bench-int8" => bench_args(&args, "bench-int8", 1).and_then(|t| bench_int8::run(&workspace_root(), t)),
        "bench-quantize" => bench_quantize::run(&workspace_root(), &args),
        "bench-gemm" => bench_gemm::run(&workspace_root(), &args),
        "bench-accuracy" => bench_accuracy::run(&workspace_root(), &args),
        "quantize" => quantize::run(&workspace_root(), &args),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|layering|fixtures|conformance [--update] [--verbose]|bench [--threads N]|\
                 bench-int8 [--threads N]|bench-quantize [--skip-nncf]|bench-accuracy|bench-gemm [M K N]|quantize [ARGS]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e:#}");
            ExitCode::FAILURE
        }
    }
}
