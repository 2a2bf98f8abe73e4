//! The Python interpreter the project's tools and tests run: `$PTQ_PYTHON`
//! when set, otherwise a virtualenv under `target/venv` that xtask creates
//! with `python3 -m venv` (never the user's global Python). TensorFlow's
//! pins clash with the other runtimes' (numpy, protobuf), so the checks in
//! TensorFlow run in a second one, `target/venv-tf` (`$PTQ_TF_PYTHON`).
//!
//! Requirements files are installed into it once per content: a stamp file
//! `target/venv/.installed-<file name>` records the hash of the file it
//! installed, so reruns skip pip until the pins change.

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

use crate::workspace_root;

/// The project virtualenv's folder.
pub fn venv_dir() -> PathBuf {
    workspace_root().join("target/venv")
}

/// The interpreter to run: `$PTQ_PYTHON`, or the project virtualenv's
/// (created when missing).
pub fn interpreter() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("PTQ_PYTHON") {
        return Ok(p);
    }
    venv_python(&venv_dir())
}

/// The TensorFlow virtualenv's folder.
pub fn tf_venv_dir() -> PathBuf {
    workspace_root().join("target/venv-tf")
}

/// The interpreter of the TensorFlow checks: `$PTQ_TF_PYTHON`, or
/// `target/venv-tf`'s with tests/requirements-tf.txt installed (unless
/// `PTQ_SKIP_PIP` is set).
pub fn tf_interpreter() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("PTQ_TF_PYTHON") {
        return Ok(p);
    }
    let dir = tf_venv_dir();
    let py = venv_python(&dir)?;
    install(&py, Some(&dir), "tests/requirements-tf.txt")?;
    Ok(py)
}

/// `venv`'s interpreter, creating the virtualenv when missing.
fn venv_python(venv: &std::path::Path) -> anyhow::Result<String> {
    let py = venv.join("bin/python");
    if !py.exists() {
        let base = std::env::var("PTQ_BASE_PYTHON").unwrap_or_else(|_| "python3".into());
        eprintln!("xtask: creating the virtualenv {}", venv.display());
        let status = Command::new(&base)
            .args(["-m", "venv"])
            .arg(venv)
            .status()
            .with_context(|| format!("running {base} -m venv"))?;
        if !status.success() {
            bail!("{base} -m venv {} failed", venv.display());
        }
    }
    Ok(py.to_string_lossy().into_owned())
}

/// Installs `requirements` (a path relative to the workspace root) into the
/// interpreter's environment unless `PTQ_SKIP_PIP` is set or the same file
/// content was installed before.
pub fn pip_install(requirements: &str) -> anyhow::Result<()> {
    let py = interpreter()?;
    let venv = std::env::var_os("PTQ_PYTHON").is_none().then(venv_dir);
    install(&py, venv.as_deref(), requirements)
}

/// Installs `requirements` with `py`, once per content when `venv` (where
/// the stamp goes) is given.
fn install(py: &str, venv: Option<&std::path::Path>, requirements: &str) -> anyhow::Result<()> {
    if std::env::var_os("PTQ_SKIP_PIP").is_some() {
        return Ok(());
    }
    let path = workspace_root().join(requirements);
    let content = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let stamp_name = requirements.replace('/', "_");
    let stamp = venv.map(|v| v.join(format!(".installed-{stamp_name}")));
    let hash = format!("{:016x}", fnv1a(&content));
    if let Some(s) = &stamp
        && std::fs::read_to_string(s).is_ok_and(|h| h.trim() == hash)
    {
        return Ok(());
    }
    let status = pip(py)
        .args(["install", "--disable-pip-version-check", "-q", "-r"])
        .arg(&path)
        .status()
        .with_context(|| format!("running {py} -m pip"))?;
    if !status.success() {
        bail!("pip install -r {requirements} failed");
    }
    if let Some(s) = stamp {
        std::fs::write(&s, hash).with_context(|| format!("writing {}", s.display()))?;
    }
    Ok(())
}

/// `py -m pip`, with pip's download cache in `target/pip-cache` unless the
/// caller chose one (`PIP_CACHE_DIR`, `PIP_NO_CACHE_DIR`), so the test
/// command writes nothing outside `target/`.
pub fn pip(py: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(py);
    cmd.args(["-m", "pip"]);
    if std::env::var_os("PIP_CACHE_DIR").is_none() && std::env::var_os("PIP_NO_CACHE_DIR").is_none() {
        cmd.env("PIP_CACHE_DIR", workspace_root().join("target/pip-cache"));
    }
    cmd
}

/// FNV-1a, 64 bits: enough to notice an edited requirements file.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3))
}
