//! `cargo xtask quantize [ARGS]`: `ptq quantize` from a release build. With
//! no arguments it quantizes the bundled digits CNN on its bundled
//! calibration set and prints FP32 and INT8 top-1 on the validation set.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// The arguments used when none are given.
fn default_args(root: &Path) -> Vec<String> {
    let fx = root.join("tests/fixtures/digits_cnn");
    let out = root.join("target/quantized");
    let s = |p: &Path| p.display().to_string();
    vec![
        "--model".into(),
        s(&fx.join("model.onnx")),
        "--data".into(),
        s(&fx.join("calib.npz")),
        "--valid".into(),
        s(&fx.join("valid.npz")),
        "--output".into(),
        s(&out.join("digits_cnn.int8.onnx")),
        "--report".into(),
        s(&out.join("digits_cnn.int8.report.json")),
    ]
}

/// Runs `ptq quantize` with `args` (or the digits defaults).
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let args = if args.is_empty() {
        std::fs::create_dir_all(root.join("target/quantized")).context("creating target/quantized")?;
        default_args(root)
    } else {
        args.to_vec()
    };
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["run", "--quiet", "--release", "-p", "ptq-cli", "--bin", "ptq", "--", "quantize"])
        .args(&args)
        .current_dir(root)
        .status()
        .context("running ptq quantize")?;
    if !status.success() {
        bail!("ptq quantize failed");
    }
    Ok(())
}
