//! Helpers for the end-to-end tests: fixture discovery and the Python runtimes.
//!
//! Runtime checks call the scripts in `tests/tools/` with the interpreter named
//! by `PTQ_PYTHON` (default: the project virtualenv `target/venv`, which
//! `cargo xtask test` creates, else `python3`), which needs the packages
//! pinned in `tests/requirements.txt`. A missing runtime fails the test with the install
//! command, so a green run always means the runtime really ran.
#![forbid(unsafe_code)]

pub mod onnx_build;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding this crate: `tests/`.
pub fn tests_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/fixtures/`.
pub fn fixtures_dir() -> PathBuf {
    tests_dir().join("fixtures")
}

/// Names of all fixtures (folders of `tests/fixtures/` with a `model.onnx`), sorted.
pub fn onnx_fixtures() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures exists")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("model.onnx").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no fixtures found");
    v
}

/// The interpreter the runtime checks use: `$PTQ_PYTHON`, else the project
/// virtualenv `target/venv` that `cargo xtask test` fills, else `python3`.
pub fn python_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PTQ_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = tests_dir().parent().map(|root| root.join("target/venv/bin/python"));
    match venv {
        Some(v) if v.exists() => v,
        _ => PathBuf::from("python3"),
    }
}

fn python() -> Command {
    Command::new(python_path())
}

/// Fails unless the Python runtime packages are importable.
pub fn require_python_runtimes() {
    let out = python().args(["-c", "import onnx, onnxruntime, numpy"]).output();
    match out {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the ONNX runtime checks need Python packages: run `cargo xtask test` (it installs tests/requirements.txt into target/venv) or set PTQ_PYTHON\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => {
            panic!(
                "cannot start {} ({e}); run `cargo xtask test` or set PTQ_PYTHON to an interpreter with tests/requirements.txt installed",
                python_path().display()
            )
        }
    }
}

/// The result of running a helper script.
#[derive(Debug)]
pub struct ScriptResult {
    pub ok: bool,
    pub output: String,
}

fn run_script(script: &str, args: &[&Path], extra: &[&str]) -> ScriptResult {
    let out =
        python().arg(tests_dir().join("tools").join(script)).args(args).args(extra).output().expect("python starts");
    ScriptResult {
        ok: out.status.success(),
        output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    }
}

/// Runs `model` in onnxruntime on `inputs` and compares with `expected`
/// (`mode` is `bitwise` or `close`).
pub fn ort_compare(model: &Path, inputs: &Path, expected: &Path, mode: &str) -> ScriptResult {
    run_script("ort_run.py", &[model, inputs, expected], &["--mode", mode])
}

/// Runs `onnx.checker` (full check) on `model`.
pub fn onnx_check(model: &Path) -> ScriptResult {
    run_script("onnx_check.py", &[model], &[])
}

/// Runs ONNX's reference shape inference on `model`, writing the result to `out`.
pub fn onnx_infer(model: &Path, out: &Path) -> ScriptResult {
    run_script("onnx_infer.py", &[model, out], &[])
}

/// Runs `model` in onnxruntime on `inputs` and writes every output to `out`
/// (an .npz keyed by output name).
pub fn ort_outputs(model: &Path, inputs: &Path, out: &Path) -> ScriptResult {
    run_script("ort_run.py", &[model, inputs], &["--write", out.to_str().expect("utf-8 path")])
}

/// Runs the IR `model` in OpenVINO runtime on `inputs` and compares with
/// `expected` (`mode` is `bitwise` or `close`, with `close`'s tolerances).
pub fn ov_compare(model: &Path, inputs: &Path, expected: &Path, mode: &str, rtol: f64, atol: f64) -> ScriptResult {
    let (r, a) = (rtol.to_string(), atol.to_string());
    run_script("ov_run.py", &[model, inputs, expected], &["--mode", mode, "--rtol", &r, "--atol", &a])
}

/// Runs the IR `model` in OpenVINO runtime and writes every output to `out`.
pub fn ov_outputs(model: &Path, inputs: &Path, out: &Path) -> ScriptResult {
    run_script("ov_run.py", &[model, inputs], &["--write", out.to_str().expect("utf-8 path")])
}

/// The interpreter of the TensorFlow checks: `$PTQ_TF_PYTHON`, else the
/// virtualenv `target/venv-tf` that `cargo xtask test` fills.
pub fn tf_python_path() -> PathBuf {
    if let Some(p) = std::env::var_os("PTQ_TF_PYTHON") {
        return PathBuf::from(p);
    }
    tests_dir().parent().map(|root| root.join("target/venv-tf/bin/python")).unwrap_or_else(|| "python3".into())
}

/// Runs the SavedModel `model` in TensorFlow on `inputs` (and, with
/// `tflite`, its TFLite conversion), writing the outputs to `out`; the
/// output is the script's JSON summary line. Panics with how to get
/// TensorFlow when its interpreter does not start.
pub fn tf_outputs(model: &Path, inputs: &Path, out: &Path, tflite: bool) -> ScriptResult {
    let py = tf_python_path();
    let mut cmd = Command::new(&py);
    cmd.arg(tests_dir().join("tools/tf_run.py")).args([model, inputs]).arg("--write").arg(out);
    if tflite {
        cmd.arg("--tflite");
    }
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot start {} ({e}): the TensorFlow checks need tests/requirements-tf.txt; run `cargo xtask test` (it makes target/venv-tf) or set PTQ_TF_PYTHON",
            py.display()
        )
    });
    ScriptResult {
        ok: out.status.success(),
        output: format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    }
}

/// `(layer, layer type, runtime precision, primitive)` of every executed
/// layer of the IR `model` compiled by OpenVINO's CPU plugin.
pub fn ov_exec_precisions(model: &Path, inputs: &Path) -> Result<Vec<[String; 4]>, String> {
    let r = run_script("ov_run.py", &[model, inputs], &["--exec-precisions"]);
    if !r.ok {
        return Err(r.output);
    }
    Ok(r.output
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() == 4).then(|| [f[0].into(), f[1].into(), f[2].into(), f[3].into()])
        })
        .collect())
}

/// Fails unless OpenVINO's Python package is importable.
pub fn require_openvino() {
    let out = python().args(["-c", "import openvino, numpy"]).output();
    match out {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "the OpenVINO checks need openvino: run `cargo xtask test` (it installs tests/requirements.txt into target/venv) or set PTQ_PYTHON"
        ),
    }
}

/// Fixture folders' `ir/` subfolders that hold an OpenVINO IR, by name.
pub fn ir_fixture_dirs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures folder")
        .filter_map(|e| e.ok().map(|e| e.path().join("ir")))
        .filter(|p| p.join("model.xml").exists())
        .collect();
    v.sort();
    v
}

/// The inputs of an IR fixture: its own `inputs.npz`, else its ONNX model's.
pub fn ir_inputs(dir: &Path) -> PathBuf {
    if dir.join("inputs.npz").exists() {
        dir.join("inputs.npz")
    } else {
        dir.parent().map_or_else(|| dir.join("inputs.npz"), |p| p.join("inputs.npz"))
    }
}

/// Scores `model` against `reference` on `valid` in the format's runtime
/// (tests/tools/eval_quantized.py) and returns its JSON line.
pub fn eval_in_runtime(reference: &Path, model: &Path, valid: &Path) -> serde_json::Value {
    let out = python()
        .arg(tests_dir().join("tools/eval_quantized.py"))
        .arg("--reference")
        .arg(reference)
        .arg("--model")
        .arg(model)
        .arg("--valid")
        .arg(valid)
        .args(["--iters", "20", "--warmup", "2"])
        .output()
        .expect("python starts");
    assert!(out.status.success(), "eval_quantized.py: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}
