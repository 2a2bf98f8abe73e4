//! Project tasks: `cargo xtask <task>`.
//!
//! - `layering`: checks the crate dependency rules of docs/ARCHITECTURE.md and
//!   that every crate but ptq-kernels forbids `unsafe`.
//! - `test`: installs the Python runtimes the tests check against
//!   (tests/requirements.txt) into the project virtualenv `target/venv`
//!   (`python.rs`; skipped with `PTQ_SKIP_PIP=1`; `PTQ_PYTHON` names another
//!   interpreter), then runs `cargo test --workspace --no-fail-fast` with any
//!   further arguments and `PTQ_PYTHON` set to that interpreter; without
//!   arguments it then runs the kernel, executor and int8 end-to-end tests
//!   again with `PTQ_CPU_TIER=avx2` (where the CPU has it) and
//!   `PTQ_CPU_TIER=scalar`.
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
//! - `zoo [--small] [--only A,B] [--skip-peers] [--no-generate]`: real
//!   models from the usual exporters (tests/zoo/) through every stage of ptq,
//!   beside NNCF and onnxruntime's quantizer; writes docs/ZOO.md (`zoo.rs`).
//! - `fuzz --seconds N [--runs R] [--target T]`: the libFuzzer targets in fuzz/
//!   (importers, `.npz` reader, import → plan → run) for N seconds each under
//!   `nice -n 19`, corpora seeded from the fixtures and the zoo; prints
//!   executions, execs/s and the crashes, OOMs and timeouts found
//!   (`fuzz.rs`).
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
mod fuzz;
mod layering;
mod python;
mod quantize;
mod zoo;

use python::pip_install;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn fixtures() -> anyhow::Result<()> {
    let root = workspace_root();
    let py = crate::python::interpreter()?;
    pip_install("tests/fixtures/requirements.txt")?;
    let status =
        Command::new(&py).arg(root.join("tests/fixtures/generate.py")).status().context("running the generator")?;
    if !status.success() {
        bail!("the fixture generator failed");
    }
    Ok(())
}

/// The int8 tiers below the CPU's best that `test` runs the kernel, executor
/// and int8 end-to-end tests on again (`PTQ_CPU_TIER`), so a tier this CPU
/// would not pick by itself is tested here too.
fn lower_tiers() -> Vec<&'static str> {
    let mut tiers = vec![];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        tiers.push("avx2");
    }
    tiers.push("scalar");
    tiers
}

/// The test runs of `cargo xtask test`: the whole workspace, then the kernel,
/// executor and int8 end-to-end tests once per lower tier.
fn test_runs(extra: &[String]) -> Vec<(Option<&'static str>, Vec<String>)> {
    let args = |a: &[&str]| a.iter().map(ToString::to_string).collect::<Vec<_>>();
    let mut whole = args(&["test", "--workspace", "--no-fail-fast"]);
    whole.extend(extra.iter().cloned());
    let mut runs = vec![(None, whole)];
    if extra.is_empty() {
        for tier in lower_tiers() {
            runs.push((Some(tier), args(&["test", "--no-fail-fast", "-p", "ptq-kernels", "-p", "ptq-exec"])));
            runs.push((
                Some(tier),
                args(&[
                    "test",
                    "--no-fail-fast",
                    "-p",
                    "ptq-tests",
                    "--test",
                    "exec_fixtures",
                    "--test",
                    "quantize",
                    "--test",
                    "openvino_import",
                ]),
            ));
        }
    }
    runs
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    pip_install("tests/requirements.txt")?;
    let py = python::interpreter()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut failed = vec![];
    for (tier, args) in test_runs(extra) {
        let mut cmd = Command::new(&cargo);
        cmd.args(&args).env("PTQ_PYTHON", &py).current_dir(workspace_root());
        let label = match tier {
            Some(t) => {
                cmd.env("PTQ_CPU_TIER", t);
                format!("PTQ_CPU_TIER={t} cargo {}", args.join(" "))
            }
            None => format!("cargo {}", args.join(" ")),
        };
        eprintln!("xtask test: {label}");
        if !cmd.status().context("running cargo test")?.success() {
            failed.push(label);
        }
    }
    if !failed.is_empty() {
        bail!("failed: {}", failed.join("; "));
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
        "zoo" => zoo::run(&workspace_root(), &args),
        "fuzz" => fuzz::run(&workspace_root(), &args),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|layering|fixtures|conformance [--update] [--verbose]|bench [--threads N]|\
                 bench-int8 [--threads N]|bench-quantize [--skip-nncf]|bench-accuracy|bench-gemm [M K N]|quantize [ARGS]|\
                 zoo [--small] [--only A,B] [--skip-peers] [--no-generate]|fuzz --seconds N [--runs R] [--target T]>"
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
