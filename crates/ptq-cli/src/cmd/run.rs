//! `ptq run --model M --input IN.npz --output OUT.npz`.

use std::path::PathBuf;
use std::time::Instant;

use ptq::exec::{ExecOptions, Plan};
use ptq::ir::Tensor;

/// Arguments of `ptq run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to run.
    #[arg(long)]
    model: PathBuf,
    /// Inputs: an .npz whose arrays are named after the model's inputs.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the outputs (.npz, arrays named after the model's outputs).
    #[arg(long)]
    output: Option<PathBuf>,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn summary(t: &Tensor) -> String {
    if let Tensor::String(a) = t {
        const SHOWN: usize = 4;
        let first: Vec<String> = a.iter().take(SHOWN).map(|s| format!("{s:?}")).collect();
        let more = if a.len() > SHOWN { ", …" } else { "" };
        return format!("[{}{more}]", first.join(", "));
    }
    let v = t.to_f64_vec();
    if v.is_empty() {
        return "empty".into();
    }
    let (min, max) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    format!("min {min:.6} max {max:.6} mean {mean:.6}")
}

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = ptq::load(&a.model)?;
    let inputs = ptq::npz::read(&a.input)?;
    let plan = Plan::new(model.graph(), &ExecOptions { threads: a.threads, optimize: true, integer: false })?;
    let t = Instant::now();
    let outputs = plan.run(inputs)?;
    let elapsed = t.elapsed();
    for (name, t) in &outputs {
        println!("{name}: {}{:?}  {}", t.dtype(), t.shape(), summary(t));
    }
    eprintln!("ran in {:.2} ms", elapsed.as_secs_f64() * 1e3);
    if let Some(out) = &a.output {
        ptq::npz::write(out, &outputs)?;
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
