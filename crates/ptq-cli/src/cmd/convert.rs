//! `ptq convert IN OUT`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

/// Arguments of `ptq convert`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model to read.
    input: PathBuf,
    #[command(flatten)]
    pub source: super::Source,
    /// Where to write; the extension picks the format.
    output: PathBuf,
}

/// Runs the subcommand.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let t = Instant::now();
    let model = super::load_model(&a.input, &a.source)?;
    model.save(&a.output).with_context(|| format!("writing {}", a.output.display()))?;
    eprintln!(
        "wrote {} ({} nodes) in {:.2}s",
        a.output.display(),
        model.graph().node_count(),
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
