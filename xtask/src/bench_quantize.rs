//! `cargo xtask bench-quantize [--skip-nncf | --tf]`: `ptq quantize` side by side
//! with NNCF and onnxruntime's static quantizer on every fixture that has
//! `calib.npz` and `valid.npz` next to its model, and with NNCF's OpenVINO
//! backend on the fixture's OpenVINO IR (`ir/model.xml`) where it has one.
//!
//! Installs tests/tools/requirements-bench.txt (skipped with `PTQ_SKIP_PIP=1`)
//! and builds the release `ptq` (skipped with `PTQ_SKIP_BUILD=1`, which uses
//! the existing target/release/ptq). Then per fixture it runs
//! `ptq quantize`, `tests/tools/peer_quantize.py --tool nncf` and
//! `--tool ort`, timing each whole process; scores every output with
//! `tests/tools/eval_quantized.py`; prints the table and rewrites the
//! quantize-bench section of docs/PERFORMANCE.md. A tool that fails (or a
//! `ptq` that does not build) is reported in its row; the other rows still
//! run. Outputs and per-run logs stay in target/bench-quantize/<fixture>/.
//!
//! With `--tf`, the TensorFlow fixtures (tests/fixtures/tf/*/saved_model) instead are quantized
//! by ptq into a SavedModel and by TFLite's post-training integer
//! quantization (`tests/tools/tf_bench.py`, in the TensorFlow virtualenv
//! `target/venv-tf`); ptq's SavedModel is scored in TensorFlow and, as
//! "ptq → TFLite", after TFLite's converter turned it into an int8 model
//! from its fake-quant ranges alone. Their table is a section of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

const START: &str = "<!-- quantize-bench:start -->";
const END: &str = "<!-- quantize-bench:end -->";
const TF_START: &str = "<!-- quantize-bench-tf:start -->";
const TF_END: &str = "<!-- quantize-bench-tf:end -->";
/// Fixtures quantized with `--model-type transformer`.
const TRANSFORMERS: &[&str] = &["transformer_encoder", "transformer_decomposed"];

/// A quantizer under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ptq,
    Nncf,
    Ort,
    /// TFLite's post-training integer quantization.
    Tflite,
    /// ptq's SavedModel converted by TFLite without data.
    PtqTflite,
}

impl Tool {
    /// Name in the table.
    fn label(self) -> &'static str {
        match self {
            Tool::Ptq => "ptq",
            Tool::Nncf => "NNCF",
            Tool::Ort => "onnxruntime",
            Tool::Tflite => "TFLite",
            Tool::PtqTflite => "ptq → TFLite",
        }
    }

    /// Name of its output and log files, and peer_quantize.py's `--tool`.
    fn key(self) -> &'static str {
        match self {
            Tool::Ptq => "ptq",
            Tool::Nncf => "nncf",
            Tool::Ort => "ort",
            Tool::Tflite => "tflite",
            Tool::PtqTflite => "ptq",
        }
    }
}

/// A fixture model with calibration and validation data.
#[derive(Debug)]
struct Fixture {
    /// Table label: the folder name, plus " (IR)" for OpenVINO IR.
    name: String,
    dir: PathBuf,
    /// The FP32 model: `model.onnx`, `ir/model.xml` or `saved_model`.
    model: PathBuf,
    /// Output extension: `onnx`, `xml`, or `tf` for a SavedModel.
    ext: &'static str,
    transformer: bool,
}

impl Fixture {
    /// The quantizers that take this format.
    fn tools(&self, skip_nncf: bool) -> Vec<Tool> {
        let all: &[Tool] = match self.ext {
            "xml" => &[Tool::Ptq, Tool::Nncf],
            "tf" => &[Tool::Ptq, Tool::PtqTflite, Tool::Tflite],
            _ => &[Tool::Ptq, Tool::Nncf, Tool::Ort],
        };
        all.iter().copied().filter(|t| !skip_nncf || *t != Tool::Nncf).collect()
    }

    /// Its scratch folder under target/bench-quantize.
    fn work_dir(&self, env: &Env) -> PathBuf {
        env.work.join(self.name.replace(" (IR)", "-ir").replace(" (SavedModel)", "-tf"))
    }

    /// Where `tool` writes its model in `dir`: a SavedModel directory for
    /// ptq on a SavedModel, a `.tflite` for TFLite.
    fn output(&self, tool: Tool, dir: &Path) -> PathBuf {
        match (self.ext, tool) {
            ("tf", Tool::Tflite) => dir.join("tflite.tflite"),
            ("tf", _) => dir.join("ptq"),
            (ext, t) => dir.join(format!("{}.{ext}", t.key())),
        }
    }
}

/// What eval_quantized.py reports for one quantized model.
#[derive(Debug)]
struct Scores {
    top1: Option<f64>,
    ref_top1: Option<f64>,
    cosine: f64,
    latency_ratio: f64,
    ref_latency_ms: f64,
    bytes: f64,
    ref_bytes: f64,
}

/// One tool on one fixture: whole-process seconds, the quantization call's
/// own seconds when the tool reports it, and the scores.
#[derive(Debug)]
struct Run {
    wall_s: f64,
    call_s: Option<f64>,
    scores: Scores,
}

/// Settings shared by every step.
#[derive(Debug)]
struct Env {
    root: PathBuf,
    py: String,
    work: PathBuf,
    /// Why the release `ptq` is unusable, if it is.
    ptq_broken: Option<String>,
    /// The TensorFlow virtualenv's interpreter, or why there is none.
    tf_py: Result<String, String>,
}

/// Runs the benchmark; `args` is empty, `--skip-nncf` or `--tf`.
pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let (skip_nncf, tf) = match args {
        [] => (false, false),
        [a] if a == "--skip-nncf" => (true, false),
        [a] if a == "--tf" => (false, true),
        _ => bail!("usage: cargo xtask bench-quantize [--skip-nncf | --tf]"),
    };
    if std::env::var_os("PTQ_SKIP_PIP").is_none() && !tf {
        crate::pip_install("tests/tools/requirements-bench.txt")?;
    }
    let env = Env {
        root: root.to_path_buf(),
        py: crate::python::interpreter()?,
        work: root.join("target/bench-quantize"),
        ptq_broken: build_ptq(root).err(),
        tf_py: if tf {
            crate::python::tf_interpreter().map_err(|e| format!("no TensorFlow virtualenv: {e:#}"))
        } else {
            Err("not a --tf run".into())
        },
    };
    if let Some(why) = &env.ptq_broken {
        eprintln!("bench-quantize: {why}; the ptq rows report the failure");
    }
    let mut rows = vec![];
    for fx in fixtures(root)?.into_iter().filter(|f| (f.ext == "tf") == tf) {
        let dir = fx.work_dir(&env);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut results: Vec<(Tool, Result<Run, String>)> = vec![];
        for tool in fx.tools(skip_nncf) {
            println!("{} / {}", fx.name, tool.label());
            let times = if tool == Tool::PtqTflite {
                // ptq's SavedModel again, as TFLite.
                match results.iter().find(|(t, _)| *t == Tool::Ptq) {
                    Some((_, Ok(r))) => Ok((r.wall_s, r.call_s)),
                    Some((_, Err(e))) => Err(e.clone()),
                    None => Err("ptq did not run".into()),
                }
            } else {
                quantize(&env, tool, &fx, &dir)
            };
            let r = times.and_then(|(wall_s, call_s)| {
                let scores = evaluate(&env, &fx, tool, &fx.output(tool, &dir))?;
                Ok(Run { wall_s, call_s, scores })
            });
            if let Err(e) = &r {
                eprintln!("  {}: {e}", tool.label());
            }
            results.push((tool, r));
        }
        rows.extend(table_rows(&fx, &results));
    }
    if tf {
        let section = tf_section(&env, &rows);
        println!("\n{section}");
        return write_section(root, TF_START, TF_END, "INT8 quantization of SavedModels: ptq and TFLite", &section);
    }
    let cmd = if skip_nncf { "cargo xtask bench-quantize --skip-nncf" } else { "cargo xtask bench-quantize" };
    let section = section(&env, cmd, &rows);
    println!("\n{section}");
    write_section(root, START, END, "INT8 quantization: ptq, NNCF and onnxruntime", &section)
}

/// Fixture folders with calib.npz and valid.npz: their model.onnx, then
/// their ir/model.xml, by name.
fn fixtures(root: &Path) -> anyhow::Result<Vec<Fixture>> {
    let base = root.join("tests/fixtures");
    let mut out = vec![];
    for entry in std::fs::read_dir(&base).with_context(|| format!("reading {}", base.display()))? {
        let dir = entry?.path();
        let has = |f: &str| dir.join(f).is_file();
        if !(has("calib.npz") && has("valid.npz")) {
            continue;
        }
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let transformer = TRANSFORMERS.contains(&name.as_str());
        for (file, ext, label) in
            [("model.onnx", "onnx", name.clone()), ("ir/model.xml", "xml", format!("{name} (IR)"))]
        {
            if has(file) {
                out.push(Fixture { name: label, dir: dir.clone(), model: dir.join(file), ext, transformer });
            }
        }
    }
    let tf = base.join("tf");
    for entry in std::fs::read_dir(&tf).with_context(|| format!("reading {}", tf.display()))? {
        let dir = entry?.path();
        if dir.join("saved_model").is_dir() && dir.join("calib.npz").is_file() && dir.join("valid.npz").is_file() {
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let transformer = TRANSFORMERS.contains(&name.as_str());
            let model = dir.join("saved_model");
            out.push(Fixture { name: format!("{name} (SavedModel)"), dir, model, ext: "tf", transformer });
        }
    }
    out.sort_by(|a, b| (a.ext, &a.name).cmp(&(b.ext, &b.name)));
    if out.is_empty() {
        bail!("no fixture in {} has calib.npz and valid.npz", base.display());
    }
    Ok(out)
}

/// Builds the release `ptq`, unless `PTQ_SKIP_BUILD` is set.
pub(crate) fn build_ptq(root: &Path) -> Result<(), String> {
    if std::env::var_os("PTQ_SKIP_BUILD").is_none() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "--release", "-p", "ptq-cli"])
            .current_dir(root)
            .status()
            .map_err(|e| format!("cannot run cargo: {e}"))?;
        if !status.success() {
            return Err("`cargo build --release -p ptq-cli` failed".into());
        }
    }
    if root.join("target/release/ptq").is_file() { Ok(()) } else { Err("target/release/ptq is missing".into()) }
}

/// Runs one quantizer as its own process; returns the wall seconds and, for
/// the Python tools, the seconds of the quantization call alone.
fn quantize(env: &Env, tool: Tool, fx: &Fixture, dir: &Path) -> Result<(f64, Option<f64>), String> {
    let out = fx.output(tool, dir);
    // A stale output must not be scored if this run fails to write one.
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_dir_all(&out);
    let mut cmd = if tool == Tool::Tflite {
        let mut c = Command::new(env.tf_py.as_ref()?);
        c.arg(env.root.join("tests/tools/tf_bench.py")).args(["quantize", "--calib"]);
        c
    } else if tool == Tool::Ptq {
        if let Some(why) = &env.ptq_broken {
            return Err(why.clone());
        }
        let mut c = Command::new(env.root.join("target/release/ptq"));
        c.arg("quantize").arg("--data");
        c
    } else {
        let mut c = Command::new(&env.py);
        c.arg(env.root.join("tests/tools/peer_quantize.py")).args(["--tool", tool.key(), "--calib"]);
        c
    };
    cmd.arg(fx.dir.join("calib.npz")).arg("--model").arg(&fx.model).arg("--output").arg(&out);
    if fx.transformer && matches!(tool, Tool::Ptq | Tool::Nncf) {
        cmd.args(["--model-type", "transformer"]);
    }
    let t0 = Instant::now();
    // Run in the scratch folder: onnxruntime's quantizer can leave temporary files in the working directory.
    let o = cmd.current_dir(dir).output().map_err(|e| format!("cannot start: {e}"))?;
    let wall_s = t0.elapsed().as_secs_f64();
    save_log(&dir.join(format!("{}.log", tool.key())), &o);
    if !o.status.success() {
        return Err(format!("{}: {}", o.status, reason(&o)));
    }
    if !out.exists() {
        return Err(format!("exited 0 but wrote no {}", out.display()));
    }
    let call_s =
        if tool == Tool::Ptq { None } else { last_json(&o.stdout).ok().and_then(|v| v["quantize_s"].as_f64()) };
    Ok((wall_s, call_s))
}

/// Scores `model` against the fixture's FP32 model with eval_quantized.py,
/// or tf_bench.py for a SavedModel fixture.
fn evaluate(env: &Env, fx: &Fixture, tool: Tool, model: &Path) -> Result<Scores, String> {
    let mut cmd = if fx.ext == "tf" {
        let mut c = Command::new(env.tf_py.as_ref()?);
        c.arg(env.root.join("tests/tools/tf_bench.py")).arg("eval");
        if tool == Tool::PtqTflite {
            c.arg("--via-tflite");
        }
        c
    } else {
        let mut c = Command::new(&env.py);
        c.arg(env.root.join("tests/tools/eval_quantized.py"));
        c
    };
    let o = cmd
        .arg("--reference")
        .arg(&fx.model)
        .arg("--model")
        .arg(model)
        .arg("--valid")
        .arg(fx.dir.join("valid.npz"))
        .current_dir(model.parent().unwrap_or(&env.root))
        .output()
        .map_err(|e| format!("cannot start the evaluation: {e}"))?;
    if !o.status.success() {
        return Err(format!("evaluation failed: {}", reason(&o)));
    }
    let v = last_json(&o.stdout)?;
    let num = |k: &str| v[k].as_f64().ok_or_else(|| format!("eval_quantized.py printed no {k}"));
    Ok(Scores {
        top1: v["top1"].as_f64(),
        ref_top1: v["ref_top1"].as_f64(),
        cosine: num("cosine_mean")?,
        latency_ratio: num("latency_ratio")?,
        ref_latency_ms: num("ref_latency_ms")?,
        bytes: num("model_bytes")?,
        ref_bytes: num("ref_bytes")?,
    })
}

/// Writes a process's stdout and stderr to `path` (best effort).
pub(crate) fn save_log(path: &Path, o: &Output) {
    let mut text = o.stdout.clone();
    text.extend_from_slice(b"\n--- stderr ---\n");
    text.extend_from_slice(&o.stderr);
    let _ = std::fs::write(path, text);
}

/// One line saying why a process failed: a Python traceback's last line,
/// else the first non-empty line of stderr, else of stdout.
pub(crate) fn reason(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr);
    let out = String::from_utf8_lossy(&o.stdout);
    let mut lines = err.lines().map(str::trim).filter(|l| !l.is_empty());
    let line = if err.contains("Traceback") { lines.next_back() } else { lines.next() };
    let line = line.or_else(|| out.lines().map(str::trim).find(|l| !l.is_empty())).unwrap_or("no output");
    let mut s: String = line.chars().take(120).collect();
    if s.len() < line.len() {
        s.push('…');
    }
    s
}

/// The last stdout line that is a JSON object (tools may log above it).
pub(crate) fn last_json(stdout: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{')).ok_or("no JSON line on stdout")?;
    serde_json::from_str(line).map_err(|e| format!("bad JSON line {line:?}: {e}"))
}

/// The FP32 row and one row per tool for a fixture.
fn table_rows(fx: &Fixture, results: &[(Tool, Result<Run, String>)]) -> Vec<String> {
    let reference = results.iter().find_map(|(_, r)| r.as_ref().ok()).map(|r| &r.scores);
    let fp32_bytes = reference
        .map(|s| s.ref_bytes)
        .or_else(|| std::fs::metadata(&fx.model).ok().map(|m| m.len() as f64))
        .unwrap_or(f64::NAN);
    let fp32_metric = match reference {
        Some(Scores { ref_top1: Some(t), .. }) => format!("top-1 {:.2} %", t * 100.0),
        Some(_) => "cos 1".into(),
        None => "—".into(),
    };
    let fp32_lat = reference.map_or("—".into(), |s| format!("1x ({:.3} ms)", s.ref_latency_ms));
    let mut rows =
        vec![format!("| {} | FP32 | {fp32_metric} | — | — | {:.1} | 1x | {fp32_lat} |", fx.name, fp32_bytes / 1024.0)];
    for (tool, r) in results {
        rows.push(match r {
            Ok(r) => {
                let s = &r.scores;
                let (metric, drop) = match (s.top1, s.ref_top1) {
                    (Some(t), Some(rt)) => (format!("top-1 {:.2} %", t * 100.0), format!("{:.2} pp", (rt - t) * 100.0)),
                    _ => (format!("cos {:.5}", s.cosine), format!("{:.5}", 1.0 - s.cosine)),
                };
                let wall = match r.call_s {
                    Some(c) => format!("{:.2} (call {c:.2})", r.wall_s),
                    None => format!("{:.2}", r.wall_s),
                };
                format!(
                    "| {} | {} | {metric} | {drop} | {wall} | {:.1} | {:.2}x | {:.2}x |",
                    fx.name,
                    tool.label(),
                    s.bytes / 1024.0,
                    s.bytes / s.ref_bytes,
                    s.latency_ratio
                )
            }
            Err(e) => format!("| {} | {} | failed: {} | | | | | |", fx.name, tool.label(), e.replace('|', "\\|")),
        });
    }
    rows
}

/// Versions of the Python packages, the `ptq` binary and the commit.
pub(crate) fn versions(root: &Path, py: &str) -> String {
    const PROBE: &str = "import importlib, platform\nv = ['Python ' + platform.python_version()]\n\
        for m in ('nncf', 'onnxruntime', 'openvino', 'onnx', 'numpy'):\n    try:\n        \
        v.append(m + ' ' + importlib.import_module(m).__version__)\n    except Exception:\n        \
        v.append(m + ' not installed')\nprint(', '.join(v))";
    let run = |c: &mut Command| {
        c.current_dir(root).output().ok().filter(|o| o.status.success()).and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim().to_string())
        })
    };
    let py = run(Command::new(py).args(["-c", PROBE])).unwrap_or_else(|| "Python packages unknown".into());
    let ptq = run(Command::new(root.join("target/release/ptq")).arg("--version")).unwrap_or_else(|| "ptq ?".into());
    let commit = run(Command::new("git").args(["rev-parse", "--short", "HEAD"])).unwrap_or_else(|| "?".into());
    let dirty =
        run(Command::new("git").args(["status", "--porcelain", "--untracked-files=no"])).is_some_and(|s| !s.is_empty());
    format!("{ptq} at {commit}{}; {py}", if dirty { " with uncommitted changes" } else { "" })
}

/// The first "model name" line of /proc/cpuinfo.
pub(crate) fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|n| n.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// The docs/PERFORMANCE.md section, markers included.
fn section(env: &Env, cmd: &str, rows: &[String]) -> String {
    format!(
        "{START}\nCommand: `{cmd}` ({}; {}).\n\n\
         Each tool quantizes the FP32 fixture to INT8 with its defaults on the fixture's `calib.npz` \
         (`--model-type transformer` for ptq and NNCF on the transformer fixtures; onnxruntime: \
         `quant_pre_process`, then `quantize_static` with QDQ, per-channel weights, MinMax, QUInt8 activations, \
         QInt8 weights). `tests/tools/eval_quantized.py` scores every output against the FP32 model in \
         the format's runtime (onnxruntime for ONNX, OpenVINO's CPU plugin for IR) over `valid.npz`: top-1 for classifiers (drop in percentage points), otherwise the mean \
         cosine similarity of the first output to FP32's per item (drop = 1 − cosine). Wall time is the whole \
         process as xtask launches it: `target/release/ptq quantize` against `python3 \
         tests/tools/peer_quantize.py`, which includes starting the interpreter and importing NNCF or \
         onnxruntime; \"call\" is the quantization call alone as the script times it (for onnxruntime, \
         pre-processing included). Size is the output file, with its `.bin` for IR (KiB = 1024 bytes) and its ratio to the FP32 file; \
         in fixtures this small, node names and Q/DQ nodes can outweigh what the INT8 weights save. Latency is \
         the runtime's INT8 over FP32 median at batch 1, one thread, 300 runs (above 1x: INT8 slower); \
         the FP32 row gives the FP32 median. \
         Only fixtures with `calib.npz` and `valid.npz` are listed (residual_block has none: its input's batch \
         is a static 2, so batch-of-one items cannot feed it). The \"(IR)\" rows start from the fixture's \
         OpenVINO IR (`ir/model.xml`, converted from the same ONNX file by OpenVINO); NNCF runs its OpenVINO \
         backend there, and onnxruntime's quantizer does not take IR.\n\n\
         | model | tool | metric | drop vs FP32 | wall time (s) | size (KiB) | size vs FP32 | latency INT8/FP32 |\n\
         |---|---|---|---|---|---|---|---|\n{}\n{END}",
        cpu_name(),
        versions(&env.root, &env.py),
        rows.join("\n")
    )
}

/// The x86 vector tier of this CPU, from /proc/cpuinfo's flags: what
/// TFLite's and ptq's int8 kernels can use, so a latency ratio holds for it.
pub(crate) fn cpu_tier() -> &'static str {
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("flags")).map(str::to_string))
        .unwrap_or_default();
    let has = |f: &str| flags.split_whitespace().any(|x| x == f);
    if has("avx512_vnni") {
        "AVX-512 VNNI"
    } else if has("avx512bw") {
        "AVX-512 without VNNI"
    } else if has("avx2") {
        "AVX2, no AVX-512"
    } else {
        "no AVX2"
    }
}

/// A short name for [`cpu_tier`], used in section markers.
pub(crate) fn cpu_tier_slug() -> &'static str {
    match cpu_tier() {
        "AVX-512 VNNI" => "avx512vnni",
        "AVX-512 without VNNI" => "avx512",
        "AVX2, no AVX-512" => "avx2",
        _ => "baseline",
    }
}

/// Writes `body` as the section `key` of docs/PERFORMANCE.md for the CPU tier
/// `slug` ([`cpu_tier_slug`], or a pinned tier's name), between the markers
/// `<!-- key:slug:start -->` and `<!-- key:slug:end -->`:
/// in place of that tier's last run, else after another tier's section of
/// the same key, else appended under `heading`. Each tier keeps its table.
pub(crate) fn write_tier_section(root: &Path, key: &str, slug: &str, heading: &str, body: &str) -> anyhow::Result<()> {
    let (start, end) = (format!("<!-- {key}:{slug}:start -->"), format!("<!-- {key}:{slug}:end -->"));
    let section = format!("{start}\n{body}\n{end}");
    let path = root.join("docs/PERFORMANCE.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    if text.contains(&start) && text.contains(&end) {
        return write_section(root, &start, &end, heading, &section);
    }
    let prefix = format!("<!-- {key}:");
    let other_end = text
        .match_indices(&prefix)
        .filter_map(|(i, _)| {
            let line_end = text[i..].find("-->").map(|j| i + j + 3)?;
            text[i..line_end].ends_with(":end -->").then_some(line_end)
        })
        .last();
    let text = match other_end {
        Some(at) => format!("{}\n\n{section}{}", &text[..at], &text[at..]),
        None => format!("{}\n\n## {heading}\n\n{section}\n", text.trim_end()),
    };
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("updated {}", path.display());
    Ok(())
}

/// The docs/PERFORMANCE.md section of a `--tf` run, markers included.
fn tf_section(env: &Env, rows: &[String]) -> String {
    let tf = env
        .tf_py
        .as_ref()
        .ok()
        .and_then(|py| {
            Command::new(py)
                .args(["-c", "import tensorflow as tf, numpy as np; print(tf.__version__, np.__version__)"])
                .output()
                .ok()
        })
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "{TF_START}\nCommand: `cargo xtask bench-quantize --tf` ({}, {}; {}; TensorFlow and numpy {tf}).\n\n\
         ptq quantizes each TensorFlow fixture's SavedModel with its defaults on `calib.npz` and writes a \
         SavedModel (fake-quant ops, scored in TensorFlow); \"ptq → TFLite\" is that SavedModel converted by \
         `TFLiteConverter.from_saved_model` with default optimizations and no representative dataset (the \
         fake-quant ranges make it integer), scored in TFLite. TFLite is TFLite's own post-training integer \
         quantization of the FP32 SavedModel: default optimizations with `calib.npz` as the representative \
         dataset (integer kernels, float where an op has none). `tests/tools/tf_bench.py` scores each \
         against the FP32 SavedModel in TensorFlow over `valid.npz`, as for the other formats (top-1 against \
         the labels, or the first output's mean cosine to FP32). Size: the SavedModel directory or the \
         .tflite file. Latency: INT8 over FP32 median at batch 1, 100 runs, in the same runtime (TensorFlow, \
         or TFLite on one thread against the FP32 TFLite conversion). The ptq → TFLite wall time is ptq's.\n\n\
         | model | tool | metric | drop vs FP32 | wall time (s) | size (KiB) | size vs FP32 | latency INT8/FP32 |\n\
         |---|---|---|---|---|---|---|---|\n{}\n{TF_END}",
        cpu_name(),
        cpu_tier(),
        versions(&env.root, &env.py),
        rows.join("\n")
    )
}

/// Replaces the section between `start` and `end` (markers included) of
/// docs/PERFORMANCE.md with `section`, or appends it under `heading`.
pub(crate) fn write_section(root: &Path, start: &str, end: &str, heading: &str, section: &str) -> anyhow::Result<()> {
    let path = root.join("docs/PERFORMANCE.md");
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let text = match (text.find(start), text.find(end)) {
        (Some(a), Some(b)) if a < b => format!("{}{section}{}", &text[..a], &text[b + end.len()..]),
        _ => format!("{}\n\n## {heading}\n\n{section}\n", text.trim_end()),
    };
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    println!("updated {}", path.display());
    Ok(())
}
