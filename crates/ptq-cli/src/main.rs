//! The `ptq` command-line tool.

#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};

/// Post-training 8-bit quantization of neural networks.
#[derive(Debug, Parser)]
#[command(name = "ptq", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a model's inputs, outputs, op histogram and parameter count.
    Inspect(cmd::inspect::Args),
    /// Read a model and write it in the format the output's extension names.
    Convert(cmd::convert::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Inspect(a) => cmd::inspect::run(&a),
        Command::Convert(a) => cmd::convert::run(&a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
