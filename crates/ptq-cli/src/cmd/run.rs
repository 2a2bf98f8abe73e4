//! `ptq run --model M --input IN.npz|DIR --output OUT.npz|DIR`.

use std::path::PathBuf;
use std::time::Instant;

use ptq::Tensor;
use ptq::{ExecOptions, Plan};

/// Arguments of `ptq run`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to run.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    pub source: super::Source,
    /// Inputs: an .npz whose arrays are named after the model's inputs, or a
    /// folder of such files, each run on its own.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the outputs (.npz, arrays named after the model's
    /// outputs; a folder, one file per input file, when the input is a folder).
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

/// Runs the subcommand: one input file, or every `.npz` of a folder (sorted
/// by name), each written under the same name into the `--output` folder.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let model = super::load_model(&a.model, &a.source)?;
    let plan = Plan::new(
        model.graph(),
        &ExecOptions { threads: a.threads, optimize: true, integer: false, ..Default::default() },
    )?;
    if a.input.is_dir() {
        return run_folder(a, &plan);
    }
    let inputs = ptq::npz::read(&a.input)?;
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

fn run_folder(a: &Args, plan: &Plan) -> anyhow::Result<()> {
    use anyhow::Context;
    let mut files: Vec<PathBuf> = std::fs::read_dir(&a.input)
        .with_context(|| format!("reading {}", a.input.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "npz"))
        .collect();
    files.sort();
    anyhow::ensure!(!files.is_empty(), "{}: no .npz files", a.input.display());
    if let Some(out) = &a.output {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    }
    let mut elapsed = std::time::Duration::ZERO;
    for f in &files {
        let inputs = ptq::npz::read(f)?;
        let t = Instant::now();
        let outputs = plan.run(inputs).with_context(|| format!("{}", f.display()))?;
        elapsed += t.elapsed();
        if let (Some(out), Some(name)) = (&a.output, f.file_name()) {
            ptq::npz::write(out.join(name), &outputs)?;
        }
    }
    eprintln!("ran {} inputs in {:.2} ms each", files.len(), elapsed.as_secs_f64() * 1e3 / files.len() as f64);
    if let Some(out) = &a.output {
        eprintln!("wrote {}", out.display());
    }
    Ok(())
}
