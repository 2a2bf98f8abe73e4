//! `ptq inspect MODEL`.

use std::path::PathBuf;

use ptq::Summary;
use ptq::ValueId;
use ptq::shape_string;

/// Arguments of `ptq inspect`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to describe.
    model: PathBuf,
    #[command(flatten)]
    pub source: super::Source,
}

fn describe(g: &ptq::Graph, id: ValueId) -> String {
    let v = g.value(id);
    let dtype = v.fact.dtype.map_or_else(|| "?".to_string(), |d| d.to_string());
    let shape = v.fact.shape.as_deref().map_or_else(|| "[unknown rank]".to_string(), shape_string);
    format!("{dtype}{shape}")
}

/// Formats a byte count with a binary unit.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = super::load_model(&a.model, &a.source)?;
    let g = model.graph();
    println!("model: {} ({})", a.model.display(), model.describe_source());
    let width = g.inputs().iter().chain(g.outputs()).map(|&i| g.value(i).name.len()).max().unwrap_or(0);
    println!("inputs:");
    for &i in g.inputs().iter().filter(|&&i| g.value(i).constant.is_none()) {
        println!("  {:width$}  {}", g.value(i).name, describe(g, i));
    }
    println!("outputs:");
    for &o in g.outputs() {
        println!("  {:width$}  {}", g.value(o).name, describe(g, o));
    }
    let s = Summary::of(g);
    println!("nodes: {}", s.node_count);
    let mut ops: Vec<_> = s.op_histogram.iter().collect();
    ops.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let w = ops.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (op, n) in ops {
        println!("  {op:w$}  {n:>5}");
    }
    println!("parameters: {} ({})", s.param_count, human_bytes(s.param_bytes));
    Ok(())
}
