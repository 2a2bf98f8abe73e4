//! The `ptq` binary.

#![forbid(unsafe_code)]

use clap::Parser;

/// mimalloc keeps freed blocks for reuse; glibc's malloc hands large freed
/// blocks back to the kernel and faults them in again on the next run of a
/// plan (8 % of `ptq bench` time on the digits CNN went to page faults).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A reader that stops early (`ptq inspect m.onnx | head`) closes the pipe;
/// the next print then fails with `BrokenPipe` and `println!` panics. That is
/// not an error of ptq's: exit quietly with success, as `rg` and `git` do.
/// Any other panic keeps the default report.
fn exit_quietly_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg =
            payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if msg.is_some_and(|m| m.starts_with("failed printing to stdout") && m.contains("Broken pipe")) {
            std::process::exit(0);
        }
        default(info);
    }));
}

fn main() -> std::process::ExitCode {
    exit_quietly_on_broken_pipe();
    let cli = ptq_cli::Cli::parse();
    match ptq_cli::execute(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
