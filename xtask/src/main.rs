//! Project tasks: `cargo xtask <task>`.
//!
//! - `layering`: checks the crate dependency rules of docs/ARCHITECTURE.md and
//!   that every crate but ptq-kernels forbids `unsafe`.
//! - `test`: installs the Python runtimes the tests check against
//!   (tests/requirements.txt) into the project virtualenv `target/venv`
//!   (`python.rs`; skipped with `PTQ_SKIP_PIP=1`; `PTQ_PYTHON` names another
//!   interpreter), then runs `cargo test --workspace --no-fail-fast` with any
//!   further arguments and `PTQ_PYTHON` set to that interpreter (and
//!   `PTQ_TF_PYTHON` to `target/venv-tf`'s, with tests/requirements-tf.txt
//!   for the TensorFlow checks); without
//!   arguments it then runs the kernel, executor and int8 end-to-end tests
//!   again with `PTQ_CPU_TIER=avx2` (where the CPU has it) and
//!   `PTQ_CPU_TIER=scalar`, then builds the Python wheel, installs it into
//!   `target/venv` and runs its pytest suite (`wheel.rs`). Chromium for the
//!   report page test is the system's, else Debian's package unpacked under
//!   `target/chromium` (`chromium.rs`), passed on as `PTQ_CHROMIUM`.
//! - `chromium`: unpacks that Chromium now and prints its launcher's path.
//! - `wheel`: builds the `ptq` Python wheel (crates/ptq-python) with maturin
//!   into `target/wheels` and installs it into `target/venv`; `--test` then
//!   runs its pytest suite.
//! - `bench`: ptq-exec against onnxruntime on the fixtures, FP32, same inputs
//!   and threads; rewrites docs/PERFORMANCE.md.
//! - `quantize [ARGS]`: `ptq quantize ARGS` from a release build; with no
//!   arguments, the bundled digits CNN on its calibration set, printing FP32
//!   and INT8 top-1 on its validation set.
//! - `bench-quantize [--skip-nncf | --tf]`: `ptq quantize` against NNCF and
//!   onnxruntime's quantizer on the fixtures with calib.npz/valid.npz
//!   (installs tests/tools/requirements-bench.txt unless `PTQ_SKIP_PIP=1`);
//!   rewrites the INT8 section of docs/PERFORMANCE.md. `--tf`: the
//!   TensorFlow fixtures, ptq against TFLite's post-training quantization,
//!   in their own section.
//! - `bench-accuracy`: `ptq quantize --max-drop 0.01` against NNCF's
//!   `quantize_with_accuracy_control` on the labelled fixtures (ONNX and IR);
//!   rewrites the accuracy-control section of docs/PERFORMANCE.md.
//! - `bench-gemm [M K N]`: the int8 GEMM tiers and f32 `sgemm` against
//!   onnxruntime's MatMulInteger, one thread; rewrites its section of
//!   docs/PERFORMANCE.md.
//! - `zoo [--small] [--only A,B] [--skip-peers | --peers P,Q] [--no-generate]`: real
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

mod agreement;
mod bench;
mod bench_accuracy;
mod bench_gemm;
mod bench_int8;
mod bench_quantize;
mod bench_real;
mod chromium;
mod conformance;
mod fuzz;
mod layering;
mod python;
mod quantize;
mod wheel;
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

/// The test targets `test` runs again once per lower tier: the kernel and
/// executor unit tests and the int8 end-to-end tests, as (manifest directory
/// relative to the workspace, target kind, target name).
const TIER_TARGETS: [(&str, &str, &str); 5] = [
    ("crates/ptq-kernels", "lib", "ptq_kernels"),
    ("crates/ptq-exec", "lib", "ptq_exec"),
    ("tests", "test", "exec_fixtures"),
    ("tests", "test", "quantize"),
    ("tests", "test", "openvino_import"),
];

/// A test executable that cargo built, with the directory `cargo test` would
/// run it in.
struct TestBinary {
    label: String,
    executable: std::path::PathBuf,
    manifest_dir: std::path::PathBuf,
}

/// The executables of [`TIER_TARGETS`] from the whole-workspace test build,
/// read from cargo's JSON messages. Reusing them (instead of `cargo test -p
/// ...`, whose narrower package selection unifies features differently and
/// builds every dependency a second time) costs no compile time or disk.
fn tier_binaries(cargo: &str) -> anyhow::Result<Vec<TestBinary>> {
    let root = workspace_root();
    let out = Command::new(cargo)
        .args(["test", "--workspace", "--no-run", "--message-format=json"])
        .current_dir(&root)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("listing the test executables")?;
    if !out.status.success() {
        bail!("cargo test --no-run failed");
    }
    let mut found = vec![];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        let Some(exe) = msg["executable"].as_str() else { continue };
        let Some(manifest) = msg["manifest_path"].as_str() else { continue };
        let manifest_dir = std::path::Path::new(manifest).parent().unwrap_or(&root).to_path_buf();
        let kinds: Vec<&str> =
            msg["target"]["kind"].as_array().into_iter().flatten().filter_map(|k| k.as_str()).collect();
        let name = msg["target"]["name"].as_str().unwrap_or_default();
        for (dir, kind, target) in TIER_TARGETS {
            if manifest_dir == root.join(dir) && kinds.contains(&kind) && name == target {
                found.push(TestBinary {
                    label: format!("{dir} {kind} {target}"),
                    executable: exe.into(),
                    manifest_dir: manifest_dir.clone(),
                });
            }
        }
    }
    if found.len() != TIER_TARGETS.len() {
        let names: Vec<_> = found.iter().map(|b| b.label.as_str()).collect();
        bail!("expected the {} tier test targets, cargo built {names:?}", TIER_TARGETS.len());
    }
    Ok(found)
}

fn test(extra: &[String]) -> anyhow::Result<()> {
    pip_install("tests/requirements.txt")?;
    let tf_py = python::tf_interpreter()?;
    let chromium = chromium::ensure().unwrap_or_else(|e| {
        eprintln!("xtask test: no chromium for the report page test, which will fail: {e:#}");
        std::path::PathBuf::from("/usr/bin/chromium")
    });
    let py = python::interpreter()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut failed = vec![];
    let mut whole = vec!["test".to_string(), "--workspace".into(), "--no-fail-fast".into()];
    whole.extend(extra.iter().cloned());
    let label = format!("cargo {}", whole.join(" "));
    eprintln!("xtask test: {label}");
    let status = Command::new(&cargo)
        .args(&whole)
        .env("PTQ_PYTHON", &py)
        .env("PTQ_TF_PYTHON", &tf_py)
        .env("PTQ_CHROMIUM", &chromium)
        .current_dir(workspace_root())
        .status()
        .context("running cargo test")?;
    if !status.success() {
        failed.push(label);
    }
    // With filters or extra flags the caller asked for one run only.
    if extra.is_empty() {
        let binaries = tier_binaries(&cargo)?;
        for tier in lower_tiers() {
            for bin in &binaries {
                let label = format!("PTQ_CPU_TIER={tier} {}", bin.label);
                eprintln!("xtask test: {label}");
                let status = Command::new(&bin.executable)
                    .env("PTQ_PYTHON", &py)
                    .env("PTQ_TF_PYTHON", &tf_py)
                    .env("PTQ_CPU_TIER", tier)
                    .env("CARGO_MANIFEST_DIR", &bin.manifest_dir)
                    .current_dir(&bin.manifest_dir)
                    .status()
                    .with_context(|| format!("running {}", bin.executable.display()))?;
                if !status.success() {
                    failed.push(label);
                }
            }
        }
    }
    // The Python package: its wheel, installed into target/venv, and pytest.
    if extra.is_empty()
        && let Err(e) = wheel::test(&workspace_root())
    {
        eprintln!("xtask test: {e:#}");
        failed.push("the Python package's tests".into());
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
        "chromium" => chromium::ensure().map(|p| println!("{}", p.display())),
        "test" => test(&args),
        "conformance" => conformance::run(&workspace_root(), &args),
        "bench" => bench_args(&args, "bench", 2).and_then(|t| bench::run(&workspace_root(), t)),
        "bench-int8" if args.first().is_some_and(|a| a == "--real") => {
            bench_real::run_real(&workspace_root(), &args[1..])
        }
        "bench-int8" => bench_args(&args, "bench-int8", 1).and_then(|t| bench_int8::run(&workspace_root(), t)),
        "bench-quantize" => bench_quantize::run(&workspace_root(), &args),
        "cpu-agreement" => agreement::run(&workspace_root(), &args),
        "bench-gemm" => bench_gemm::run(&workspace_root(), &args),
        "bench-accuracy" => bench_accuracy::run(&workspace_root(), &args),
        "quantize" => quantize::run(&workspace_root(), &args),
        "wheel" if args.first().is_some_and(|a| a == "--test") => wheel::test(&workspace_root()),
        "wheel" => wheel::build(&workspace_root()).map(|_| ()),
        "zoo" => zoo::run(&workspace_root(), &args),
        "fuzz" => fuzz::run(&workspace_root(), &args),
        _ => {
            eprintln!(
                "usage: cargo xtask <test|layering|fixtures|conformance [--update] [--verbose]|bench [--threads N]|\
                 bench-int8 [--threads N | --real [--only A,B] [--rounds N]]|bench-quantize [--skip-nncf]|cpu-agreement [--fixes F,G] [--only A,B]|bench-accuracy|bench-gemm [M K N]|quantize [ARGS]|wheel [--test]|chromium|\
                 zoo [--small] [--only A,B] [--skip-peers | --peers P,Q] [--no-generate]|fuzz --seconds N [--runs R] [--target T]>"
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
