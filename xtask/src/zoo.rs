//! `cargo xtask zoo [--small] [--only A,B] [--skip-peers | --peers P,Q] [--no-generate]`:
//! every model of the zoo (real models this project did not design, made by
//! tests/zoo/generate.py into target/zoo/) through every stage of ptq, with
//! NNCF and onnxruntime's quantizer side by side; writes docs/ZOO.md (a run
//! with `--small`, `--only`, `--skip-peers` or `--peers` writes
//! target/zoo-run/ZOO.partial.md instead).
//!
//! Per entry, each stage in its own process:
//! 1. FP32 references (tests/zoo/reference.py): onnxruntime and OpenVINO's f32
//!    plugin on the validation items, and their distance.
//! 2. `ptq inspect`.
//! 3. `ptq convert` to the same format, run in the format's runtime beside
//!    the original (tests/zoo/ptq_check.py `same`): bit-for-bit equal outputs.
//! 4. `ptq run` on the validation items against the reference, passing when
//!    ptq's distance is within OpenVINO's (ptq_check.py `distance`).
//! 5. `ptq quantize` with defaults on the calibration items (wall time, peak
//!    RSS), its output scored in onnxruntime and in OpenVINO
//!    (tests/zoo/score.py); the same for NNCF's defaults, NNCF's
//!    `model_type=TRANSFORMER` (on the entries ptq quantized as
//!    transformers) and onnxruntime's `quantize_static`
//!    (tests/zoo/peers.py; `--peers nncf,nncf-transformer,ort` picks them).
//! 6. ptq's own INT8 latency against its FP32 (`ptq bench --only`).
//!
//! `--small` runs the small entries committed in tests/zoo/small/ (CI's
//! subset: copies of generated entries under 1 MB, so CI needs neither the
//! exporters nor their downloads); `--no-generate` uses what target/zoo
//! holds. Logs and outputs stay in
//! target/zoo-run/<entry>/.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::bench_quantize::{build_ptq, cpu_name, last_json, reason, save_log};

/// Metrics whose values are compared across tools (higher is better).
const MARGIN: f64 = 0.002;

/// `ptq run`'s relative tolerance where OpenVINO cannot run the FP32 model
/// to measure one: the largest OpenVINO-vs-onnxruntime distance seen on the
/// zoo is below 1e-4.
const NO_OV_TOLERANCE: f64 = 1e-4;

struct Opts {
    small: bool,
    only: Vec<String>,
    skip_peers: bool,
    /// The peers to run (all by default).
    peers: Vec<String>,
    generate: bool,
}

const PEERS: [&str; 3] = ["nncf", "nncf-transformer", "ort"];

fn parse(args: &[String]) -> anyhow::Result<Opts> {
    let mut o = Opts {
        small: false,
        only: vec![],
        skip_peers: false,
        peers: PEERS.iter().map(|p| p.to_string()).collect(),
        generate: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--small" => o.small = true,
            "--skip-peers" => o.skip_peers = true,
            "--no-generate" => o.generate = false,
            "--only" => {
                let v = it.next().context("--only takes a comma-separated list")?;
                o.only = v.split(',').map(str::to_string).collect();
            }
            "--peers" => {
                let v = it.next().context("--peers takes a comma-separated list")?;
                o.peers = v.split(',').map(str::to_string).collect();
                if let Some(bad) = o.peers.iter().find(|p| !PEERS.contains(&p.as_str())) {
                    bail!("unknown peer {bad}: the peers are {}", PEERS.join(", "));
                }
            }
            _ => bail!("usage: cargo xtask zoo [--small] [--only A,B] [--skip-peers | --peers P,Q] [--no-generate]"),
        }
    }
    Ok(o)
}

/// Where the zoo's tools run: the generator's peers virtualenv.
struct Env {
    root: PathBuf,
    py: PathBuf,
    ptq: PathBuf,
}

impl Env {
    fn script(&self, name: &str) -> PathBuf {
        self.root.join("tests/zoo").join(name)
    }

    /// Runs a zoo script; its last JSON line, or why it failed.
    fn json(&self, script: &str, args: &[&std::ffi::OsStr], log: &Path) -> Result<Value, String> {
        let o = Command::new(&self.py)
            .arg(self.script(script))
            .args(args)
            .current_dir(log.parent().unwrap_or(&self.root))
            .output()
            .map_err(|e| format!("cannot start {script}: {e}"))?;
        save_log(log, &o);
        if !o.status.success() {
            return Err(reason(&o));
        }
        last_json(&o.stdout)
    }

    /// Runs `ptq ARGS`; Ok, or the first line saying why not.
    fn ptq(&self, args: &[&std::ffi::OsStr], log: &Path) -> Result<(), String> {
        let o = Command::new(&self.ptq)
            .args(args)
            .current_dir(log.parent().unwrap_or(&self.root))
            .output()
            .map_err(|e| format!("cannot start ptq: {e}"))?;
        save_log(log, &o);
        if o.status.success() { Ok(()) } else { Err(reason(&o)) }
    }
}

/// One entry's results; `Err` holds why a stage failed.
#[derive(Default)]
struct Row {
    name: String,
    producer: String,
    architecture: String,
    control_flow: String,
    metric: String,
    fp32_mb: f64,
    inspect: Option<Result<(), String>>,
    round_trip: Option<Result<(), String>>,
    /// ptq's max relative distance to the reference, OpenVINO's (None when
    /// OpenVINO cannot run the FP32 model).
    run: Option<Result<(f64, Option<f64>), String>>,
    /// Why OpenVINO cannot run the FP32 model, if it cannot: then its checks
    /// are not applicable to ptq's output either.
    ov_na: Option<String>,
    ptq: Option<Result<Tool, String>>,
    nncf: Option<Result<Tool, String>>,
    /// NNCF with `model_type=TRANSFORMER`, on the entries ptq quantized as
    /// transformers.
    nncf_tf: Option<Result<Tool, String>>,
    ort: Option<Result<Tool, String>>,
    /// ptq's report's model type was transformer.
    transformer: bool,
    /// ptq INT8 latency / ptq FP32 latency.
    int8_speedup: Option<Result<f64, String>>,
}

/// A quantizer's result on one entry.
struct Tool {
    metric: f64,
    /// Output SQNR against the FP32 reference, in dB.
    sqnr_db: Option<f64>,
    wall_s: f64,
    rss_mb: Option<f64>,
    out_mb: f64,
    /// Whether the output ran in onnxruntime (None: not an ONNX file) and OpenVINO.
    in_ort: Option<Result<(), String>>,
    in_ov: Result<(), String>,
}

pub fn run(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let opts = parse(args)?;
    let zoo = root.join("tests/zoo");
    // The small entries are committed (tests/zoo/small/): they need only the
    // peers' virtualenv, not the exporters'.
    let setup: &[&str] = if opts.small { &["peers"] } else { &[] };
    let status = Command::new("bash")
        .arg(zoo.join("setup.sh"))
        .args(setup)
        .current_dir(root)
        .status()
        .context("running tests/zoo/setup.sh")?;
    if !status.success() {
        bail!("tests/zoo/setup.sh failed");
    }
    if opts.generate && !opts.small {
        let mut gen_args = vec![];
        if !opts.only.is_empty() {
            gen_args.push("--only".to_string());
            gen_args.push(opts.only.join(","));
        }
        let status = Command::new("python3")
            .arg(zoo.join("generate.py"))
            .args(&gen_args)
            .current_dir(root)
            .status()
            .context("running tests/zoo/generate.py")?;
        if !status.success() {
            eprintln!("xtask zoo: the generator reported failures; going on with the entries it wrote");
        }
    }
    build_ptq(root).map_err(anyhow::Error::msg)?;
    let env = Env {
        root: root.to_path_buf(),
        py: root.join("target/zoo-venv/peers/bin/python"),
        ptq: root.join("target/release/ptq"),
    };
    anyhow::ensure!(env.py.exists(), "{} is missing: run bash tests/zoo/setup.sh", env.py.display());
    let entries =
        if opts.small { entries(&zoo.join("small"), &opts)? } else { entries(&root.join("target/zoo"), &opts)? };
    anyhow::ensure!(!entries.is_empty(), "no zoo entries in target/zoo (run without --no-generate)");
    let started = Instant::now();
    let mut rows = vec![];
    for (i, dir) in entries.iter().enumerate() {
        let t = Instant::now();
        let peers: Vec<&str> = if opts.skip_peers { vec![] } else { opts.peers.iter().map(String::as_str).collect() };
        let row = entry(&env, dir, &peers)?;
        eprintln!("xtask zoo: [{}/{}] {} in {:.0} s", i + 1, entries.len(), row.name, t.elapsed().as_secs_f64());
        rows.push(row);
    }
    let doc = document(&env, &rows, args, started.elapsed().as_secs_f64());
    // Only a run over the whole zoo rewrites docs/ZOO.md.
    let out = if opts.small || !opts.only.is_empty() || opts.skip_peers || opts.peers.len() < PEERS.len() {
        root.join("target/zoo-run/ZOO.partial.md")
    } else {
        root.join("docs/ZOO.md")
    };
    std::fs::write(&out, doc).with_context(|| format!("writing {}", out.display()))?;
    eprintln!("xtask zoo: wrote {}", out.display());
    let failed: Vec<&str> = rows.iter().filter(|r| !r.all_stages_pass()).map(|r| r.name.as_str()).collect();
    if !failed.is_empty() {
        bail!("{} of {} entries fail a stage: {}", failed.len(), rows.len(), failed.join(", "));
    }
    Ok(())
}

/// The entry folders to run: every `<zoo>/*/meta.json`, filtered by `--only`.
fn entries(zoo: &Path, opts: &Opts) -> anyhow::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(zoo)
        .with_context(|| format!("reading {}", zoo.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            opts.only.is_empty() || opts.only.contains(&name)
        })
        .collect();
    v.sort();
    Ok(v)
}

fn os(s: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(s)
}

fn entry(env: &Env, dir: &Path, peers: &[&str]) -> anyhow::Result<Row> {
    let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("meta.json"))?)?;
    let name = meta["name"].as_str().unwrap_or_default().to_string();
    let work = env.root.join("target/zoo-run").join(&name);
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;
    let ext = if meta["format"] == "openvino" || dir.join("model.xml").is_file() { "xml" } else { "onnx" };
    let model = dir.join(format!("model.{ext}"));
    let mut row = Row {
        name: name.clone(),
        producer: meta["producer"].as_str().unwrap_or("?").into(),
        architecture: meta["architecture"].as_str().unwrap_or("?").into(),
        control_flow: meta["control_flow"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" "))
            .unwrap_or_default(),
        metric: meta["metric"].as_str().unwrap_or("cosine").into(),
        fp32_mb: model_mb(&model),
        ..Row::default()
    };
    let d = dir.as_os_str();

    // 1. References: onnxruntime and OpenVINO f32, and their distance.
    let reference = env.json("reference.py", &[d], &work.join("reference.log"));
    let ov_rel = match &reference {
        Ok(r) => r["max_rel"].as_f64(),
        Err(_) => None,
    };
    row.ov_na = match &reference {
        Ok(r) => r["errors"]["ov"]
            .as_str()
            .map(|e| e.lines().find(|l| !l.trim().is_empty()).unwrap_or(e).chars().take(100).collect()),
        Err(e) => Some(format!("reference.py failed: {e}")),
    };

    // 2. inspect.
    row.inspect = Some(env.ptq(&[os("inspect"), model.as_os_str()], &work.join("inspect.log")));

    // 3. Round trip, beside the original in its runtime.
    let converted = work.join(format!("roundtrip.{ext}"));
    row.round_trip = Some(
        env.ptq(&[os("convert"), model.as_os_str(), converted.as_os_str()], &work.join("convert.log")).and_then(|()| {
            let r = env.json("ptq_check.py", &[os("same"), d, converted.as_os_str()], &work.join("same.log"))?;
            if r["bitwise"].as_bool() == Some(true) {
                Ok(())
            } else {
                Err(format!(
                    "outputs differ: {} (max |diff| {})",
                    r["differing"],
                    r["error"].as_str().map_or_else(|| r["max_abs"].to_string(), str::to_string)
                ))
            }
        }),
    );

    // 4. ptq run against the reference, within OpenVINO's distance.
    let items = work.join("valid_items");
    let outputs = work.join("ptq_outputs");
    row.run = Some(
        env.json("ptq_check.py", &[os("items"), d, items.as_os_str()], &work.join("items.log"))
            .and_then(|_| {
                env.ptq(
                    &[
                        os("run"),
                        os("--model"),
                        model.as_os_str(),
                        os("--input"),
                        items.as_os_str(),
                        os("--output"),
                        outputs.as_os_str(),
                        os("--threads"),
                        os("1"),
                    ],
                    &work.join("run.log"),
                )
            })
            .and_then(|()| {
                env.json("ptq_check.py", &[os("distance"), d, outputs.as_os_str()], &work.join("distance.log"))
            })
            .and_then(|r| {
                let ours = r["max_rel"].as_f64().ok_or_else(|| format!("no distance: {r}"))?;
                if !r["missing"].as_array().is_none_or(Vec::is_empty) {
                    return Err(format!("outputs missing: {}", r["missing"]));
                }
                // Within OpenVINO's distance, with a floor of a few f32 ulps;
                // where OpenVINO cannot run the model, within NO_OV_TOLERANCE.
                let bound = ov_rel.map_or(NO_OV_TOLERANCE, |t| t.max(1e-6));
                if ours <= bound { Ok((ours, ov_rel)) } else { Err(format!("{ours:.2e} > {bound:.2e}")) }
            }),
    );

    // 5. Quantizers.
    let calib = work.join("calib_items");
    let calib_ok = env.json(
        "ptq_check.py",
        &[os("items"), d, calib.as_os_str(), os("--split"), os("calib")],
        &work.join("calib_items.log"),
    );
    let ptq_out = work.join(format!("ptq.int8.{ext}"));
    row.ptq = Some(calib_ok.clone().and_then(|_| {
        let m = env.json(
            "ptq_check.py",
            &[
                os("measure"),
                os("--"),
                env.ptq.as_os_str(),
                os("quantize"),
                os("--model"),
                model.as_os_str(),
                os("--data"),
                calib.as_os_str(),
                os("--output"),
                ptq_out.as_os_str(),
                os("--report"),
                work.join("ptq.report.json").as_os_str(),
            ],
            &work.join("ptq.quantize.log"),
        )?;
        if m["exit"].as_i64() != Some(0) {
            return Err(format!("ptq quantize exited {} (see {})", m["exit"], work.join("ptq.quantize.log").display()));
        }
        score(env, d, &ptq_out, &work, "ptq", &m)
    }));
    row.transformer = std::fs::read(work.join("ptq.report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .is_some_and(|r| r["model_type"] == "transformer");
    {
        for (tool, slot) in [("nncf", &mut row.nncf), ("nncf-transformer", &mut row.nncf_tf), ("ort", &mut row.ort)] {
            if !peers.contains(&tool) || tool == "ort" && ext == "xml" || tool == "nncf-transformer" && !row.transformer
            {
                continue;
            }
            let out = work.join(format!("{tool}.int8.{ext}"));
            *slot = Some(
                env.json(
                    "peers.py",
                    &[d, os("--tool"), os(tool), os("--output"), out.as_os_str()],
                    &work.join(format!("{tool}.quantize.log")),
                )
                .and_then(|m| match m["error"].as_str() {
                    Some(e) => Err(e.chars().take(120).collect()),
                    None => score(env, d, &out, &work, tool, &m),
                }),
            );
        }
    }

    // 6. ptq's INT8 latency against its FP32.
    row.int8_speedup = Some(row.ptq.as_ref().map_or(Err("not quantized".into()), |r| match r {
        Ok(_) => speedup(env, &model, &ptq_out, &work),
        Err(_) => Err("not quantized".into()),
    }));
    Ok(row)
}

fn model_mb(model: &Path) -> f64 {
    let mut bytes = std::fs::metadata(model).map(|m| m.len()).unwrap_or(0);
    // External data and IR weights live beside the model file.
    if let Some(dir) = model.parent()
        && let Ok(rd) = std::fs::read_dir(dir)
    {
        let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            let side = n.starts_with(&stem)
                && n != model.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
                && (n.ends_with(".bin")
                    || n.ends_with(".data")
                    || n.ends_with(".onnx_data")
                    || n.ends_with(".onnx.data"));
            if side {
                bytes += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    bytes as f64 / (1024.0 * 1024.0)
}

/// Scores a quantizer's output in onnxruntime (ONNX only) and OpenVINO.
fn score(env: &Env, d: &std::ffi::OsStr, out: &Path, work: &Path, tool: &str, m: &Value) -> Result<Tool, String> {
    if !out.is_file() {
        return Err(format!("wrote no {}", out.display()));
    }
    let is_onnx = out.extension().is_some_and(|e| e == "onnx");
    let run = |rt: &str| {
        let r = env.json(
            "score.py",
            &[d, os("--model"), out.as_os_str(), os("--runtime"), os(rt)],
            &work.join(format!("{tool}.score.{rt}.log")),
        )?;
        if r["loads"].as_bool() == Some(true) {
            Ok(r)
        } else {
            Err(r["error"].as_str().unwrap_or("does not load").chars().take(120).collect::<String>())
        }
    };
    let ort = is_onnx.then(|| run("ort"));
    let ov = run("ov");
    let primary = match (&ort, &ov) {
        (Some(Ok(r)), _) | (None, Ok(r)) | (Some(Err(_)), Ok(r)) => r.clone(),
        (Some(Err(e)), Err(_)) | (None, Err(e)) => return Err(format!("runs nowhere: {e}")),
    };
    Ok(Tool {
        metric: primary["value"].as_f64().ok_or_else(|| format!("score.py gave no value: {primary}"))?,
        sqnr_db: primary["sqnr_db"].as_f64(),
        wall_s: m["wall_s"].as_f64().or_else(|| m["quantize_s"].as_f64()).unwrap_or(f64::NAN),
        rss_mb: m["peak_rss_mb"].as_f64(),
        out_mb: model_mb(out),
        in_ort: ort.map(|r| r.map(|_| ())),
        in_ov: ov.map(|_| ()),
    })
}

/// ptq's INT8 latency over its FP32 latency on the same input: the first
/// validation item (`valid_items/item_0000.npz`) where there is one, so
/// inputs whose sizes matter (audio frames, token ids) are real.
fn speedup(env: &Env, model: &Path, int8: &Path, work: &Path) -> Result<f64, String> {
    let item = work.join("valid_items").join("item_0000.npz");
    let time = |m: &Path, only: &str| -> Result<f64, String> {
        let mut cmd = Command::new(&env.ptq);
        cmd.args([os("bench"), os("--model"), m.as_os_str(), os("--only"), os(only), os("--json")]);
        if item.is_file() {
            cmd.args([os("--input"), item.as_os_str()]);
        }
        let o = cmd.args(["--threads", "1", "--iters", "10", "--warmup", "2"]).output().map_err(|e| e.to_string())?;
        save_log(&work.join(format!("bench.{only}.log")), &o);
        if !o.status.success() {
            return Err(reason(&o));
        }
        let v = last_json(&o.stdout)?;
        find_ms(&v).ok_or_else(|| format!("no latency in {v}"))
    };
    let fp32 = time(model, "fp32")?;
    let int8 = time(int8, "int8")?;
    Ok(fp32 / int8)
}

/// The median milliseconds in a `ptq bench --json` object.
fn find_ms(v: &Value) -> Option<f64> {
    match v {
        Value::Object(m) => m.get("median_ms").and_then(Value::as_f64).or_else(|| m.values().find_map(find_ms)),
        Value::Array(a) => a.iter().find_map(find_ms),
        _ => None,
    }
}

impl Row {
    fn all_stages_pass(&self) -> bool {
        let ok = |s: &Option<Result<(), String>>| matches!(s, Some(Ok(())));
        let quant_ok = match &self.ptq {
            Some(Ok(t)) => (t.in_ov.is_ok() || self.ov_na.is_some()) && t.in_ort.as_ref().is_none_or(Result::is_ok),
            _ => false,
        };
        ok(&self.inspect) && ok(&self.round_trip) && matches!(self.run, Some(Ok(_))) && quant_ok
    }

    /// Whether ptq's metric is at least the best peer's minus the margin
    /// (None when no peer gave a number).
    fn keeps_up(&self) -> Option<bool> {
        let ours = self.ptq.as_ref()?.as_ref().ok()?.metric;
        let best = [&self.nncf, &self.nncf_tf, &self.ort]
            .into_iter()
            .filter_map(|t| t.as_ref().and_then(|r| r.as_ref().ok()).map(|t| t.metric))
            .fold(None, |a: Option<f64>, m| Some(a.map_or(m, |a| a.max(m))))?;
        Some(ours >= best - MARGIN)
    }
}

fn cell(r: &Option<Result<(), String>>) -> String {
    match r {
        None => "–".into(),
        Some(Ok(())) => "ok".into(),
        Some(Err(e)) => format!("**fail**: {}", escape(e)),
    }
}

fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn tool_metric(t: &Option<Result<Tool, String>>) -> String {
    match t {
        None => "–".into(),
        Some(Ok(t)) => format!("{:.4}", t.metric),
        Some(Err(e)) => format!("error: {}", escape(&e.chars().take(60).collect::<String>())),
    }
}

fn tool_cost(t: &Option<Result<Tool, String>>) -> String {
    match t {
        Some(Ok(t)) => {
            format!("{:.1} s / {}", t.wall_s, t.rss_mb.map_or_else(|| "?".into(), |r| format!("{r:.0} MB")))
        }
        _ => "–".into(),
    }
}

fn document(env: &Env, rows: &[Row], args: &[String], seconds: f64) -> String {
    let mut s = String::new();
    let cmd =
        if args.is_empty() { "cargo xtask zoo".to_string() } else { format!("cargo xtask zoo {}", args.join(" ")) };
    let _ = writeln!(s, "# The model zoo\n");
    let _ = writeln!(
        s,
        "Generated by `{cmd}` (xtask/src/zoo.rs) in {:.0} min on {}, one thread per runtime; do not edit by hand. \
         The models are real models this project did not design, written by the exporters users use \
         (tests/zoo/README.md lists how each is made). Versions: {}.\n",
        seconds / 60.0,
        cpu_name(),
        crate::bench_quantize::versions(&env.root, &env.py.to_string_lossy()),
    );
    let pass = rows.iter().filter(|r| r.all_stages_pass()).count();
    let compared: Vec<bool> = rows.iter().filter_map(Row::keeps_up).collect();
    let keeps = compared.iter().filter(|&&b| b).count();
    let producers: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.producer.as_str()).collect();
    let cf = rows.iter().filter(|r| !r.control_flow.is_empty()).count();
    let _ = writeln!(
        s,
        "**{pass} of {} entries pass every stage** ({} producers, {cf} with control flow). \
         ptq's metric is at least max(NNCF, onnxruntime) − {MARGIN} on **{keeps} of {}** entries where a peer gave a number.\n",
        rows.len(),
        producers.len(),
        compared.len()
    );
    let _ = writeln!(
        s,
        "Stages: *inspect* `ptq inspect`; *round trip* `ptq convert` to the same format, outputs bit for bit \
         equal to the original's in its own runtime (onnxruntime for ONNX, OpenVINO for IR), both run here; \
         *ptq run* ptq's executor on the validation items, max |ptq − ref| / max |ref| against onnxruntime's \
         outputs (OpenVINO's for IR entries), which must be within the same distance measured for OpenVINO's f32 \
         plugin (in brackets; where OpenVINO cannot run the FP32 model, within {NO_OV_TOLERANCE:e}); *INT8 runs* the default `ptq quantize` output loaded and run in onnxruntime (ort) \
         and OpenVINO (ov). Metric: top-1 where labels exist, else the entry's task metric or the mean cosine \
         of the first output against the FP32 reference, for ptq's, NNCF's (`nncf.quantize` defaults; and with \
         `model_type=TRANSFORMER` on the entries ptq quantized as transformers) and \
         onnxruntime's (`quantize_static`, QDQ, per-channel, MinMax) INT8 models, scored in onnxruntime (OpenVINO \
         for IR). Cost: wall time / peak RSS of the quantization. INT8 speed: ptq's FP32 latency over its INT8 \
         latency (`ptq bench`, 1 thread).\n"
    );
    let _ = writeln!(
        s,
        "| model | producer | architecture | control flow | FP32 MB | inspect | round trip | ptq run (OpenVINO) | INT8 runs | metric | ptq | NNCF | NNCF transformer | onnxruntime | ptq cost | NNCF cost | NNCF transformer cost | ort cost | INT8 MB | ptq INT8 speed |"
    );
    let _ = writeln!(s, "|---|---|---|---|---:|---|---|---|---|---|---:|---:|---:|---:|---|---|---|---|---:|---:|");
    for r in rows {
        let run = match &r.run {
            None => "–".into(),
            Some(Ok((a, Some(b)))) => format!("{a:.1e} ({b:.1e})"),
            Some(Ok((a, None))) if r.producer.starts_with("openvino") => format!("{a:.1e} (IR: against OpenVINO)"),
            Some(Ok((a, None))) => format!("{a:.1e} (OpenVINO n/a)"),
            Some(Err(e)) => format!("**fail**: {}", escape(e)),
        };
        let runs = match &r.ptq {
            Some(Ok(t)) => {
                let ort = match &t.in_ort {
                    None => String::new(),
                    Some(Ok(())) => "ort ".into(),
                    Some(Err(e)) => format!("**ort fails**: {} ", escape(e)),
                };
                let ov = match (&t.in_ov, &r.ov_na) {
                    (Ok(()), _) => "ov".to_string(),
                    (Err(_), Some(why)) => {
                        format!("ov n/a (OpenVINO cannot run the FP32 model either: {})", escape(why))
                    }
                    (Err(e), None) => format!("**ov fails**: {}", escape(e)),
                };
                format!("{ort}{ov}")
            }
            Some(Err(e)) => format!("**quantize fails**: {}", escape(e)),
            None => "–".into(),
        };
        let keeps = match r.keeps_up() {
            Some(false) => " ▼",
            _ => "",
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.name,
            r.producer,
            escape(&r.architecture),
            if r.control_flow.is_empty() { "–" } else { &r.control_flow },
            r.fp32_mb,
            cell(&r.inspect),
            cell(&r.round_trip),
            run,
            runs,
            r.metric,
            tool_metric(&r.ptq),
            keeps,
            tool_metric(&r.nncf),
            tool_metric(&r.nncf_tf),
            tool_metric(&r.ort),
            tool_cost(&r.ptq),
            tool_cost(&r.nncf),
            tool_cost(&r.nncf_tf),
            tool_cost(&r.ort),
            match &r.ptq {
                Some(Ok(t)) => format!("{:.2}", t.out_mb),
                _ => "–".into(),
            },
            match &r.int8_speedup {
                Some(Ok(x)) => format!("{x:.2}×"),
                Some(Err(e)) => format!("error: {}", escape(&e.chars().take(50).collect::<String>())),
                None => "–".into(),
            },
        );
    }
    let _ = writeln!(s, "\n▼: ptq's metric is more than {MARGIN} below the best peer's.");
    sqnr_section(&mut s, rows);
    s
}

/// Output SQNR of each INT8 model against FP32, and the two comparisons
/// with NNCF: ptq's defaults against NNCF's on the entries ptq did not take
/// for transformers (median difference), and against NNCF's transformer
/// setting on those it did (metric).
fn sqnr_section(s: &mut String, rows: &[Row]) {
    let db = |t: &Option<Result<Tool, String>>| t.as_ref().and_then(|r| r.as_ref().ok()).and_then(|t| t.sqnr_db);
    let metric = |t: &Option<Result<Tool, String>>| t.as_ref().and_then(|r| r.as_ref().ok()).map(|t| t.metric);
    let mut diffs: Vec<f64> =
        rows.iter().filter(|r| !r.transformer).filter_map(|r| Some(db(&r.ptq)? - db(&r.nncf)?)).collect();
    diffs.sort_by(f64::total_cmp);
    let median = if diffs.is_empty() {
        f64::NAN
    } else if diffs.len() % 2 == 1 {
        diffs[diffs.len() / 2]
    } else {
        (diffs[diffs.len() / 2 - 1] + diffs[diffs.len() / 2]) / 2.0
    };
    let tf: Vec<bool> = rows
        .iter()
        .filter(|r| r.transformer)
        .filter_map(|r| Some(metric(&r.ptq)? >= metric(&r.nncf_tf)? - MARGIN))
        .collect();
    let _ = writeln!(s, "\n## Output SQNR against FP32\n");
    let _ = writeln!(
        s,
        "Signal to quantization noise of the first output over the validation items, in dB (`tests/zoo/score.py`). \
         On the {} entries ptq does not quantize as transformers, ptq's SQNR minus NNCF's has median **{median:.2} dB**. \
         On the {} entries ptq quantizes as transformers (its report's model type), ptq's metric is at least NNCF \
         `model_type=TRANSFORMER`'s − {MARGIN} on **{} of {}**.\n",
        diffs.len(),
        rows.iter().filter(|r| r.transformer).count(),
        tf.iter().filter(|&&b| b).count(),
        tf.len(),
    );
    let _ = writeln!(s, "| model | ptq model type | ptq dB | NNCF dB | NNCF transformer dB | onnxruntime dB |");
    let _ = writeln!(s, "|---|---|---:|---:|---:|---:|");
    let f = |x: Option<f64>| x.map_or_else(|| "–".to_string(), |v| format!("{v:.2}"));
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.name,
            if r.transformer { "transformer" } else { "default" },
            f(db(&r.ptq)),
            f(db(&r.nncf)),
            f(db(&r.nncf_tf)),
            f(db(&r.ort)),
        );
    }
}
