//! `ptq bench --model M [--batch N] [--threads N] [--dim name=value] [--json]`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use ptq::exec::{ExecOptions, Plan};
use ptq::ir::{DType, Dim, Graph, Tensor};

/// Arguments of `ptq bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to time.
    #[arg(long)]
    model: PathBuf,
    /// Batch size: the value of each input's first symbolic (or unknown) dim.
    #[arg(long, default_value_t = 1)]
    batch: usize,
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
}

fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (k, v) = s.split_once('=').ok_or("expected name=value")?;
    Ok((k.to_string(), v.parse().map_err(|e| format!("{v}: {e}"))?))
}

/// Deterministic synthetic inputs for the graph: floats in [-1, 1), integers 1
/// (valid as token ids and as attention masks), bools true.
pub fn synthetic_inputs(g: &Graph, batch: usize, dims: &[(String, usize)]) -> anyhow::Result<Vec<(String, Tensor)>> {
    let mut out = vec![];
    for &i in g.inputs.iter().filter(|&&i| g.value(i).constant.is_none()) {
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

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = ptq::load(&a.model)?;
    let plan = Plan::new(model.graph(), &ExecOptions { threads: a.threads, optimize: true, integer: false })?;
    let inputs = synthetic_inputs(model.graph(), a.batch, &a.dims)?;
    for _ in 0..a.warmup {
        plan.run(inputs.clone())?;
    }
    let mut times = Vec::with_capacity(a.iters);
    for _ in 0..a.iters.max(1) {
        let x = inputs.clone();
        let t = Instant::now();
        plan.run(x)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    if a.profile {
        print_profile(&plan, &inputs, a.iters.max(1))?;
    }
    let median = times[times.len() / 2];
    let threads = if a.threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { a.threads };
    let throughput = a.batch as f64 / (median / 1e3);
    if a.json {
        println!(
            "{{\"model\":{:?},\"path\":\"fp32\",\"batch\":{},\"threads\":{},\"median_ms\":{:.4},\"min_ms\":{:.4},\"items_per_s\":{:.2},\"iters\":{}}}",
            a.model.display().to_string(),
            a.batch,
            threads,
            median,
            times[0],
            throughput,
            times.len()
        );
    } else {
        println!("model: {}", a.model.display());
        println!(
            "fp32: median {median:.3} ms, min {:.3} ms, {throughput:.1} items/s (batch {}, {threads} threads, {} runs)",
            times[0],
            a.batch,
            times.len()
        );
    }
    Ok(())
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
