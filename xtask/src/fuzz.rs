//! `cargo xtask fuzz --seconds N [--runs R] [--target T]...`: coverage-guided fuzzing of
//! the importers, the `.npz` reader and the executor with the libFuzzer
//! targets in `fuzz/` (a cargo-fuzz project with its own workspace).
//!
//! Installs cargo-fuzz when it is missing, seeds each target's corpus
//! (`fuzz/corpus/<target>/`) from the fixtures and the zoo (files under
//! 1 MB), then runs each target for N seconds (or until R executions, when
//! `--runs` is given, whichever comes first) at the lowest CPU priority
//! (`nice -n 19`) without a sanitizer (stable toolchain with
//! `RUSTC_BOOTSTRAP=1`; cargo-fuzz needs nightly flags) and prints the
//! executions, the rate and the crashes, OOMs and timeouts found (new files in
//! `fuzz/artifacts/<target>/`), last as Markdown rows for docs/PERFORMANCE.md.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

/// The targets, with the longest input libFuzzer may build for each.
const TARGETS: [(&str, usize); 5] = [
    ("onnx_import", 1 << 20),
    ("openvino_import", 1 << 20),
    ("npz_read", 1 << 18),
    ("onnx_plan_run", 1 << 18),
    ("tf_import", 1 << 20),
];

/// Seeds larger than this are left out.
const MAX_SEED_BYTES: u64 = 1 << 20;

#[derive(Debug, Default)]
struct Outcome {
    target: String,
    seconds: u64,
    executions: u64,
    execs_per_sec: u64,
    crashes: usize,
    ooms: usize,
    timeouts: usize,
    command: String,
}

fn usage() -> anyhow::Error {
    anyhow::anyhow!(
        "usage: cargo xtask fuzz --seconds N [--runs R] [--target T]... (targets: {})",
        target_names().join(", ")
    )
}

fn target_names() -> Vec<&'static str> {
    TARGETS.iter().map(|(t, _)| *t).collect()
}

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut seconds = 60u64;
    let mut runs: Option<u64> = None;
    let mut only: Vec<String> = vec![];
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => seconds = it.next().ok_or_else(usage)?.parse().context("--seconds takes a number")?,
            "--runs" => runs = Some(it.next().ok_or_else(usage)?.parse().context("--runs takes a number")?),
            "--target" => only.extend(it.next().ok_or_else(usage)?.split(',').map(str::to_string)),
            _ => return Err(usage()),
        }
    }
    for t in &only {
        if !target_names().contains(&t.as_str()) {
            bail!("unknown fuzz target {t:?}; known: {}", target_names().join(", "));
        }
    }
    let targets: Vec<(&str, usize)> =
        TARGETS.iter().copied().filter(|(t, _)| only.is_empty() || only.iter().any(|o| o == t)).collect();
    ensure_cargo_fuzz()?;
    let fuzz_dir = root.join("fuzz");
    for (t, _) in &targets {
        let n = seed(root, t)?;
        println!("fuzz: {t}: {n} seeds in fuzz/corpus/{t}");
    }
    let mut outcomes = vec![];
    for (t, max_len) in &targets {
        outcomes.push(run_target(&fuzz_dir, t, *max_len, seconds, runs)?);
    }
    println!();
    println!("| target | seconds | executions | execs/s | crashes | OOMs | timeouts | command |");
    println!("|---|---:|---:|---:|---:|---:|---:|---|");
    for o in &outcomes {
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | `{}` |",
            o.target, o.seconds, o.executions, o.execs_per_sec, o.crashes, o.ooms, o.timeouts, o.command
        );
    }
    let found: usize = outcomes.iter().map(|o| o.crashes + o.ooms + o.timeouts).sum();
    if found > 0 {
        bail!("{found} failing inputs; see fuzz/artifacts/<target>/ (reproduce with `cargo fuzz run <target> <file>`)");
    }
    Ok(())
}

fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let ok = Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        return Ok(());
    }
    println!("fuzz: installing cargo-fuzz");
    let status = Command::new("nice")
        .args(["-n", "19", "cargo", "install", "cargo-fuzz", "--locked"])
        .status()
        .context("running cargo install cargo-fuzz")?;
    if !status.success() {
        bail!("cargo install cargo-fuzz failed");
    }
    Ok(())
}

/// Every file under `dir` (recursively) whose name satisfies `keep`.
fn walk(dir: &Path, keep: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, keep, out);
        } else if keep(&p) && std::fs::metadata(&p).is_ok_and(|m| m.len() < MAX_SEED_BYTES) {
            out.push(p);
        }
    }
}

fn named(name: &'static str) -> impl Fn(&Path) -> bool {
    move |p: &Path| p.file_name().is_some_and(|n| n == name)
}

fn with_ext(ext: &'static str) -> impl Fn(&Path) -> bool {
    move |p: &Path| p.extension().is_some_and(|e| e == ext)
}

/// The seed files' contents for `target`, each with a name.
fn seeds(root: &Path, target: &str) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let fixtures = root.join("tests/fixtures");
    let label = |p: &Path| {
        let rel = p.strip_prefix(root).unwrap_or(p).to_string_lossy().into_owned();
        format!("seed-{}", rel.replace(['/', '\\'], "_"))
    };
    let mut files = vec![];
    match target {
        "onnx_import" | "onnx_plan_run" => {
            walk(&fixtures, &named("model.onnx"), &mut files);
            if let Ok(zoo) = std::fs::read_dir(root.join("target/zoo")) {
                let mut dirs: Vec<PathBuf> = zoo.flatten().map(|e| e.path()).collect();
                dirs.sort();
                for d in dirs {
                    let m = d.join("model.onnx");
                    if std::fs::metadata(&m).is_ok_and(|m| m.len() < MAX_SEED_BYTES) {
                        files.push(m);
                    }
                }
            }
        }
        "npz_read" => walk(&fixtures, &with_ext("npz"), &mut files),
        "openvino_import" => {
            let mut xmls = vec![];
            walk(&fixtures, &with_ext("xml"), &mut xmls);
            let mut out = vec![];
            for xml in xmls.into_iter().filter(|p| p.parent().is_some_and(|d| d.ends_with("ir"))) {
                let x = std::fs::read(&xml).with_context(|| format!("reading {}", xml.display()))?;
                let bin = std::fs::read(xml.with_extension("bin")).unwrap_or_default();
                if (x.len() + bin.len()) as u64 >= MAX_SEED_BYTES {
                    continue;
                }
                let mut data = u32::try_from(x.len()).context("XML length")?.to_le_bytes().to_vec();
                data.extend_from_slice(&x);
                data.extend_from_slice(&bin);
                out.push((label(&xml), data));
            }
            return Ok(out);
        }
        "tf_import" => {
            // A kind byte (see fuzz_targets/tf_import.rs), then the file.
            let mut out = vec![];
            for (kind, name) in [(0u8, "saved_model.pb"), (1, "model.pb"), (2, "variables.index")] {
                let mut found = vec![];
                walk(&fixtures.join("tf"), &named(name), &mut found);
                walk(&root.join("crates/ptq-tf/testdata"), &named(name), &mut found);
                for f in found {
                    let bytes = std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?;
                    if (bytes.len() as u64) < MAX_SEED_BYTES {
                        out.push((label(&f), [vec![kind], bytes].concat()));
                    }
                }
            }
            return Ok(out);
        }
        _ => bail!("unknown fuzz target {target:?}"),
    }
    files
        .into_iter()
        .map(|p| Ok((label(&p), std::fs::read(&p).with_context(|| format!("reading {}", p.display()))?)))
        .collect()
}

/// Writes the seeds into `fuzz/corpus/<target>/`; returns how many.
fn seed(root: &Path, target: &str) -> anyhow::Result<usize> {
    let dir = root.join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let seeds = seeds(root, target)?;
    for (name, data) in &seeds {
        let p = dir.join(name);
        if std::fs::read(&p).ok().as_deref() != Some(data.as_slice()) {
            std::fs::write(&p, data).with_context(|| format!("writing {}", p.display()))?;
        }
    }
    Ok(seeds.len())
}

fn artifacts(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// The number after `key` in libFuzzer's `-print_final_stats=1` lines.
fn stat(log: &str, key: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.trim().strip_prefix(key)?.trim().strip_prefix(':')?.trim().parse().ok())
}

fn run_target(
    fuzz_dir: &Path,
    target: &str,
    max_len: usize,
    seconds: u64,
    runs: Option<u64>,
) -> anyhow::Result<Outcome> {
    let art_dir = fuzz_dir.join("artifacts").join(target);
    let before = artifacts(&art_dir);
    let mut libfuzzer = vec![
        format!("-max_total_time={seconds}"),
        "-rss_limit_mb=2048".to_string(),
        "-timeout=1".to_string(),
        format!("-max_len={max_len}"),
        "-print_final_stats=1".to_string(),
    ];
    if let Some(r) = runs {
        libfuzzer.push(format!("-runs={r}"));
    }
    let mut args: Vec<String> = ["-n", "19", "cargo", "fuzz", "run", target, "--sanitizer", "none", "-O", "--"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(libfuzzer.iter().cloned());
    let command = format!("RUSTC_BOOTSTRAP=1 nice {}", args.join(" "));
    println!("fuzz: {command}");
    let start = Instant::now();
    let out = Command::new("nice")
        .args(&args)
        .current_dir(fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("running {command}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = log.lines().rev().take(30).collect();
    let new: Vec<String> = artifacts(&art_dir).difference(&before).cloned().collect();
    let count = |prefix: &str| new.iter().filter(|n| n.starts_with(prefix)).count();
    let o = Outcome {
        target: target.to_string(),
        seconds: start.elapsed().as_secs(),
        executions: stat(&log, "stat::number_of_executed_units").unwrap_or(0),
        execs_per_sec: stat(&log, "stat::average_exec_per_sec").unwrap_or(0),
        crashes: count("crash-"),
        ooms: count("oom-"),
        timeouts: count("timeout-") + count("slow-unit-"),
        command,
    };
    if o.executions == 0 && !out.status.success() {
        for l in tail.iter().rev() {
            eprintln!("{l}");
        }
        bail!("{target}: the fuzzer did not run ({})", out.status);
    }
    println!(
        "fuzz: {target}: {} executions in {} s ({} execs/s), {} crashes, {} OOMs, {} timeouts",
        o.executions, o.seconds, o.execs_per_sec, o.crashes, o.ooms, o.timeouts
    );
    for n in &new {
        println!("fuzz: {target}: new artifact fuzz/artifacts/{target}/{n}");
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_are_parsed() {
        let log = "INFO: x\nstat::number_of_executed_units: 123456\nstat::average_exec_per_sec:     2057\n";
        assert_eq!(stat(log, "stat::number_of_executed_units"), Some(123_456));
        assert_eq!(stat(log, "stat::average_exec_per_sec"), Some(2057));
        assert_eq!(stat(log, "stat::peak_rss_mb"), None);
    }
}
