//! `ptq bench --model M [--batch N | --input X.npz] [--threads N] [--dim name=value] [--data D] [--only fp32|int8] [--json]`.
//!
//! Times two paths of the same model, each on its own plan:
//! - an FP32 model: `fp32` (the model as given) and `int8` (the model
//!   quantized with ptq's defaults, run with `ExecOptions::integer`);
//! - an already-quantized model (Q/DQ or FakeQuantize): `fake-quant`
//!   (quantizers simulated in f32) and `int8` (integer path).
//!
//! The int8 kernel tier (`PTQ_CPU_TIER` or the CPU's best) is printed with
//! the number of nodes that ran on it.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ptq::{DType, Dim, Graph, Op, Tensor};
use ptq::{ExecOptions, Plan};

/// Arguments of `ptq bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to time.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    pub source: super::Source,
    /// Batch size: the value of each input's first symbolic (or unknown) dim
    /// [default: 1].
    #[arg(long)]
    batch: Option<usize>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Sizes of other symbolic dims, e.g. `--dim seq=128` (default 128).
    #[arg(long = "dim", value_parser = parse_dim)]
    dims: Vec<(String, usize)>,
    /// Untimed runs before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Timed runs.
    #[arg(long, default_value_t = 20)]
    iters: usize,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also print the time per op type (summed over the timed runs).
    #[arg(long)]
    profile: bool,
    /// Calibration data (.npz or folder of .npz) for quantizing an FP32
    /// model; without it the synthetic benchmark input is the calibration
    /// set, which gives the same latency but meaningless accuracy. Without
    /// --input, --batch and --dim, its first item is also the input timed,
    /// so a model is timed at the shapes it really gets.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Time one path only: `fp32` (the model as given, float quantizers
    /// included) or `int8`.
    #[arg(long, value_parser = ["fp32", "int8"])]
    only: Option<String>,
    /// Time on these inputs (an .npz whose arrays are named after the
    /// model's inputs) instead of synthetic ones; `--batch` and `--dim` are
    /// then not used. For models whose inputs need real sizes or values
    /// (an audio frame longer than a kernel, a token id in range).
    #[arg(long, conflicts_with_all = ["batch", "dims"])]
    input: Option<PathBuf>,
}

/// One timed path.
struct Timing {
    path: &'static str,
    median_ms: f64,
    min_ms: f64,
    /// Nodes on the int8 kernels (integer path only).
    integer_nodes: Option<usize>,
}

fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (k, v) = s.split_once('=').ok_or("expected name=value")?;
    Ok((k.to_string(), v.parse().map_err(|e| format!("{v}: {e}"))?))
}

/// Deterministic synthetic inputs for the graph: floats in [-1, 1), integers 1
/// (valid as token ids and as attention masks), bools true.
pub fn synthetic_inputs(g: &Graph, batch: usize, dims: &[(String, usize)]) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut out = vec![];
    for &i in g.inputs().iter().filter(|&&i| g.value(i).constant.is_none()) {
        let v = g.value(i);
        let shape = v.fact.shape.as_ref().with_context(|| format!("input {} has unknown rank", v.name))?;
        let mut first = true;
        let dims: Vec<usize> = shape
            .iter()
            .map(|d| match d {
                Dim::Known(k) => *k as usize,
                Dim::Sym(s) if dims.iter().any(|(n, _)| n == s) => dims.iter().find(|(n, _)| n == s).map_or(1, |x| x.1),
                _ if std::mem::take(&mut first) => batch,
                _ => 128,
            })
            .collect();
        let n: usize = dims.iter().product();
        let t = match v.fact.dtype {
            Some(DType::F32) => {
                let mut x = 0x2545_f491_4f6c_dd1du64;
                let data = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
                    })
                    .collect();
                Tensor::F32(ndarray::ArrayD::from_shape_vec(dims, data)?)
            }
            Some(DType::I64) => Tensor::I64(ndarray::ArrayD::from_elem(dims, 1)),
            Some(DType::I32) => Tensor::I32(ndarray::ArrayD::from_elem(dims, 1)),
            Some(DType::Bool) => Tensor::Bool(ndarray::ArrayD::from_elem(dims, true)),
            d => bail!("input {} has dtype {d:?}, which bench cannot synthesise", v.name),
        };
        out.push((v.name.clone(), t));
    }
    Ok(out)
}

/// What `ptq bench` measured.
struct Report {
    timings: Vec<Timing>,
    threads: usize,
    tier: String,
    /// The leading dim of the first input timed.
    batch: usize,
    /// The shape of each input timed.
    shapes: Vec<(String, Vec<usize>)>,
}

impl Report {
    /// Median latency of the first path over the second's, when both ran.
    fn speedup(&self) -> Option<f64> {
        match self.timings.as_slice() {
            [base, int8] => Some(base.median_ms / int8.median_ms),
            _ => None,
        }
    }

    /// The report as `--json` prints it.
    fn json(&self, a: &Args) -> serde_json::Value {
        let runs: Vec<serde_json::Value> = self
            .timings
            .iter()
            .map(|t| {
                serde_json::json!({
                    "path": t.path,
                    "median_ms": t.median_ms,
                    "min_ms": t.min_ms,
                    "items_per_s": self.batch as f64 / (t.median_ms / 1e3),
                    "integer_nodes": t.integer_nodes,
                })
            })
            .collect();
        serde_json::json!({
            "model": a.model.display().to_string(),
            "batch": self.batch,
            "inputs": self.shapes.iter().map(|(n, s)| (n.clone(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
            "threads": self.threads,
            "iters": a.iters.max(1),
            "int8_tier": self.tier,
            "runs": runs,
            "int8_speedup": self.speedup(),
        })
    }
}

/// `ptq bench` as a command line of its own, for tests.
#[derive(Debug, clap::Parser)]
struct Standalone {
    #[command(flatten)]
    args: Args,
}

/// Parses `argv` (program name first, then `ptq bench`'s options), runs the
/// benchmark and returns what `--json` would print.
pub fn json_report<I, T>(argv: I) -> anyhow::Result<serde_json::Value>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    use clap::Parser;
    let a = Standalone::try_parse_from(argv)?.args;
    Ok(measure(&a)?.json(&a))
}

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let r = measure(a)?;
    if a.json {
        println!("{}", r.json(a));
        return Ok(());
    }
    println!("model: {} (batch {}, {} threads, {} runs)", a.model.display(), r.batch, r.threads, a.iters.max(1));
    for t in &r.timings {
        let nodes = t.integer_nodes.map_or(String::new(), |n| format!(", {n} nodes on int8 kernels ({})", r.tier));
        println!(
            "{:10}: median {:.3} ms, min {:.3} ms, {:.1} items/s{nodes}",
            t.path,
            t.median_ms,
            t.min_ms,
            r.batch as f64 / (t.median_ms / 1e3)
        );
    }
    if let (Some(x), [base, _]) = (r.speedup(), r.timings.as_slice()) {
        println!("int8 vs {}: {x:.2}x", base.path);
    }
    Ok(())
}

/// Loads the model, quantizes it if needed, and times the paths.
fn measure(a: &Args) -> anyhow::Result<Report> {
    let model = super::load_model(&a.model, &a.source)?;
    let inputs = match (&a.input, &a.data) {
        (Some(p), _) => ptq::npz::read(p)?,
        (None, Some(d)) if a.batch.is_none() && a.dims.is_empty() => ptq::Dataset::open(d)?
            .iter()
            .next()
            .with_context(|| format!("{} holds no item", d.display()))?
            .map_err(|e| anyhow::anyhow!("{}: {e}", d.display()))?,
        _ => synthetic_inputs(model.graph(), a.batch.unwrap_or(1), &a.dims)?,
    };
    // The leading dim of the first input, for the throughput.
    let batch = inputs.first().and_then(|(_, t)| t.shape().first().copied()).unwrap_or(1).max(1);
    let quantized = model
        .graph()
        .iter_nodes()
        .any(|(_, n)| matches!(n.op, Op::QuantizeLinear(_) | Op::DequantizeLinear(_) | Op::FakeQuantize(_)));
    let mut timings = vec![];
    if a.only.as_deref() != Some("int8") {
        let path = if quantized { "fake-quant" } else { "fp32" };
        timings.push(time(a, path, &model, false, &inputs)?);
    }
    if a.only.as_deref() != Some("fp32") {
        let int8 = if quantized {
            model
        } else {
            let data = match &a.data {
                Some(d) => ptq::Dataset::open(d)?,
                None => ptq::Dataset::from_items(vec![inputs.clone()]),
            };
            ptq::quantize(&model, &data, &ptq::QuantizeOptions::default())
                .context("quantizing the model for its int8 timing")?
                .model
        };
        timings.push(time(a, "int8", &int8, true, &inputs)?);
    }
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    let tier = ptq::int8_tier().map(|t| t.name().to_string()).map_err(|e| anyhow::anyhow!(e))?;
    let shapes = inputs.iter().map(|(n, t)| (n.clone(), t.shape().to_vec())).collect();
    Ok(Report { timings, threads, tier, batch, shapes })
}

/// Times `model` on `inputs` with a plan of the bench's settings.
fn time(
    a: &Args,
    path: &'static str,
    model: &ptq::Model,
    integer: bool,
    inputs: &[(String, Tensor)],
) -> anyhow::Result<Timing> {
    let plan =
        Plan::new(model.graph(), &ExecOptions { threads: a.threads, optimize: true, integer, ..Default::default() })?;
    for _ in 0..a.warmup {
        plan.run(inputs.to_vec())?;
    }
    let mut times = Vec::with_capacity(a.iters);
    for _ in 0..a.iters.max(1) {
        let x = inputs.to_vec();
        let t = Instant::now();
        plan.run(x)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    if a.profile {
        eprintln!("{path}:");
        print_profile(&plan, inputs, a.iters.max(1))?;
    }
    Ok(Timing {
        path,
        median_ms: times[times.len() / 2],
        min_ms: times[0],
        integer_nodes: integer.then(|| plan.integer_nodes().len()),
    })
}

fn print_profile(plan: &Plan, inputs: &[(String, Tensor)], iters: usize) -> anyhow::Result<()> {
    let mut by_op: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
    let mut by_node: Vec<(String, String, f64)> = vec![];
    let mut total = 0.0;
    for _ in 0..iters {
        let (_, steps) = plan.run_profiled(inputs.to_vec())?;
        if by_node.is_empty() {
            by_node = steps.iter().map(|(n, o, _)| (n.clone(), o.clone(), 0.0)).collect();
        }
        for (slot, (_, _, t)) in by_node.iter_mut().zip(&steps) {
            slot.2 += t;
        }
        for (_, op, t) in steps {
            let e = by_op.entry(op).or_default();
            e.0 += t;
            e.1 += 1;
            total += t;
        }
    }
    by_node.sort_by(|a, b| b.2.total_cmp(&a.2));
    eprintln!("slowest nodes:");
    for (n, o, t) in by_node.iter().take(8) {
        eprintln!("  {n:40} {o:20} {:>8.4} ms/run", t * 1e3 / iters as f64);
    }
    let mut rows: Vec<_> = by_op.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.total_cmp(&a.1.0));
    eprintln!("{:24} {:>10} {:>8} {:>7}", "op", "ms/run", "nodes", "share");
    for (op, (t, n)) in rows {
        eprintln!("{op:24} {:>10.4} {:>8} {:>6.1}%", t * 1e3 / iters as f64, n / iters, 100.0 * t / total.max(1e-12));
    }
    Ok(())
}
