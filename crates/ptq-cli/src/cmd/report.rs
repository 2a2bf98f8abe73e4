//! `ptq report R.json --html R.html`: the page of a quantization report.

use std::path::PathBuf;

use anyhow::{Context, bail};

/// Arguments of `ptq report`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A report `ptq quantize --report` wrote (with or without accuracy control).
    pub report: PathBuf,
    /// Write a self-contained HTML page: per-quantizer SQNR in graph order,
    /// the ten worst quantizers, the activation histograms.
    #[arg(long)]
    pub html: PathBuf,
}

/// Reads the report and writes the page.
pub fn run(a: &Args) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&a.report).with_context(|| format!("reading {}", a.report.display()))?;
    let report: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: not a JSON report", a.report.display()))?;
    let Some(page) = crate::report_html::render(&report) else {
        bail!("{}: no quantizers in this report (write one with `ptq quantize --report`)", a.report.display());
    };
    if std::fs::canonicalize(&a.html).ok().is_some_and(|p| std::fs::canonicalize(&a.report).ok() == Some(p)) {
        bail!("{}: refusing to write the page over its report", a.html.display());
    }
    super::quantize::write_atomic(&a.html, page.as_bytes())?;
    println!("wrote {}", a.html.display());
    Ok(())
}
