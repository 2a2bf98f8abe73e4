//! The `ptq` binary.

#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc keeps freed blocks for reuse; glibc's malloc hands large freed
/// blocks back to the kernel and faults them in again on the next run of a
/// plan (8 % of `ptq bench` time on the digits CNN went to page faults).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = ptq_cli::Cli::parse();
    match ptq_cli::execute(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
