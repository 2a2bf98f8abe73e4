//! The `ptq` command line, as a library so the end-to-end tests run the
//! same code as the binary.
//!
//! It depends on the `ptq` facade alone. Commands: `inspect`, `convert`,
//! `run` (one .npz, or every .npz of a folder), `bench` (FP32 against
//! INT8, or fake-quant against INT8, naming the int8 tier; `--json`) and
//! `quantize` (progress bar, summary, JSON report, `--validation` FP32 /
//! INT8 comparison, `--max-drop` for accuracy control). The binary
//! (`main.rs`) uses mimalloc.

#![forbid(unsafe_code)]

pub mod cmd;
pub mod report_html;

use clap::{Parser, Subcommand};

/// Post-training 8-bit quantization of neural networks.
#[derive(Debug, Parser)]
#[command(name = "ptq", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a model's inputs, outputs, op histogram and parameter count.
    Inspect(cmd::inspect::Args),
    /// Read a model and write it in the format the output's extension names.
    Convert(cmd::convert::Args),
    /// Run a model on inputs from an .npz file and print (or save) its outputs.
    Run(cmd::run::Args),
    /// Time a model on synthetic inputs and print median latency and throughput.
    Bench(cmd::bench::Args),
    /// Quantize a model to INT8 with calibration data (NNCF defaults).
    Quantize(Box<cmd::quantize::Args>),
    /// Render a quantization report (`quantize --report`) as an HTML page.
    Report(cmd::report::Args),
}

/// Parses `args` (the first item is the program name) and runs the command.
pub fn run<I, T>(args: I) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    execute(Cli::try_parse_from(args)?)
}

/// Runs a parsed command line.
pub fn execute(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect(a) => cmd::inspect::run(&a),
        Command::Convert(a) => cmd::convert::run(&a),
        Command::Run(a) => cmd::run::run(&a),
        Command::Bench(a) => cmd::bench::run(&a),
        Command::Quantize(a) => cmd::quantize::run(&a),
        Command::Report(a) => cmd::report::run(&a),
    }
}
