//! The crate dependency rules, checked against `cargo metadata`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

/// Each workspace crate and the workspace crates it may depend on (any kind of
/// dependency, dev-dependencies included). A crate missing here is an error,
/// so adding a crate means deciding its place in the layering.
const RULES: &[(&str, &[&str])] = &[
    ("ptq-ir", &[]),
    ("ptq-kernels", &[]),
    ("ptq-onnx", &["ptq-ir"]),
    // ptq-exec only as a dev-dependency: the lowering tests run what they import.
    ("ptq-openvino", &["ptq-ir", "ptq-exec"]),
    ("ptq-tf", &["ptq-ir"]),
    ("ptq-exec", &["ptq-ir", "ptq-kernels"]),
    ("ptq-stats", &[]),
    ("ptq-algos", &["ptq-ir", "ptq-exec", "ptq-stats"]),
    ("ptq-accuracy", &["ptq-ir", "ptq-algos", "ptq-exec"]),
    ("ptq", &["ptq-ir", "ptq-onnx", "ptq-openvino", "ptq-tf", "ptq-exec", "ptq-stats", "ptq-algos", "ptq-accuracy"]),
    ("ptq-cli", &["ptq"]),
    ("ptq-python", &["ptq"]),
    (
        "ptq-tests",
        &["ptq", "ptq-cli", "ptq-ir", "ptq-onnx", "ptq-openvino", "ptq-exec", "ptq-stats", "ptq-algos", "ptq-accuracy"],
    ),
    ("xtask", &["ptq-ir", "ptq-onnx", "ptq-exec"]),
];

/// Crates allowed to contain `unsafe`.
const UNSAFE_ALLOWED: &[&str] = &["ptq-kernels"];

/// Fails when a workspace crate depends on a workspace crate its rule does not
/// allow, or when a crate root lacks `#![forbid(unsafe_code)]`.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !out.status.success() {
        bail!("cargo metadata failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let packages = meta["packages"].as_array().context("no packages in cargo metadata")?;
    let members: Vec<&str> = packages.iter().filter_map(|p| p["name"].as_str()).collect();
    let rules: BTreeMap<&str, &[&str]> = RULES.iter().copied().collect();
    let mut problems = vec![];
    for p in packages {
        let name = p["name"].as_str().unwrap_or_default();
        let Some(allowed) = rules.get(name) else {
            problems
                .push(format!("{name}: no layering rule; add it to xtask/src/layering.rs and docs/ARCHITECTURE.md"));
            continue;
        };
        for d in p["dependencies"].as_array().into_iter().flatten() {
            let dep = d["name"].as_str().unwrap_or_default();
            if members.contains(&dep) && !allowed.contains(&dep) {
                problems.push(format!("{name} must not depend on {dep}"));
            }
        }
        if !UNSAFE_ALLOWED.contains(&name) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let src = t["src_path"].as_str().unwrap_or_default();
                let text = std::fs::read_to_string(src).with_context(|| format!("reading {src}"))?;
                if !text.contains("#![forbid(unsafe_code)]") {
                    problems.push(format!("{src}: crate root lacks #![forbid(unsafe_code)]"));
                }
            }
        }
    }
    if !problems.is_empty() {
        bail!("layering rules broken:\n  {}", problems.join("\n  "));
    }
    println!("layering: {} crates follow the rules", packages.len());
    Ok(())
}
