//! `cargo xtask wheel`: builds the `ptq` Python wheel (crates/ptq-python)
//! with maturin, release profile, into `target/wheels`, and installs it into
//! the project virtualenv `target/venv` (maturin itself comes from
//! tests/requirements.txt there), never into the user's Python.
//! `cargo xtask test` runs it and then the package's pytest suite.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::python::{interpreter, pip_install};

/// Builds the wheel, installs it, and returns its path.
pub fn build(root: &Path) -> anyhow::Result<PathBuf> {
    pip_install("tests/requirements.txt")?;
    let py = interpreter()?;
    let out = root.join("target/wheels");
    // Only the wheel built now is installed.
    if let Ok(dir) = std::fs::read_dir(&out) {
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with("ptq-") {
                std::fs::remove_file(e.path()).with_context(|| format!("removing {}", e.path().display()))?;
            }
        }
    }
    eprintln!("xtask wheel: maturin build --release");
    let status = Command::new(&py)
        .args(["-m", "maturin", "build", "--release", "--manifest-path"])
        .arg(root.join("crates/ptq-python/Cargo.toml"))
        .arg("--out")
        .arg(&out)
        .status()
        .context("running maturin")?;
    if !status.success() {
        bail!("maturin build failed");
    }
    let wheel = std::fs::read_dir(&out)?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .context("maturin wrote no wheel")?;
    let status = crate::python::pip(&py)
        .args(["install", "--disable-pip-version-check", "-q", "--force-reinstall", "--no-deps"])
        .arg(&wheel)
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install {} failed", wheel.display());
    }
    eprintln!("xtask wheel: installed {} into {}", wheel.display(), crate::python::venv_dir().display());
    Ok(wheel)
}

/// Builds and installs the wheel and the release `ptq` command line, then
/// runs the package's pytest suite against both.
pub fn test(root: &Path) -> anyhow::Result<()> {
    build(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "-q", "-p", "ptq-cli"])
        .current_dir(root)
        .status()
        .context("building ptq")?;
    if !status.success() {
        bail!("cargo build --release -p ptq-cli failed");
    }
    let py = interpreter()?;
    eprintln!("xtask test: pytest crates/ptq-python/tests");
    let status = Command::new(&py)
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(root.join("crates/ptq-python/tests"))
        .env("PTQ_BIN", root.join("target/release/ptq"))
        .current_dir(root)
        .status()
        .context("running pytest")?;
    if !status.success() {
        bail!("pytest crates/ptq-python/tests failed");
    }
    Ok(())
}
