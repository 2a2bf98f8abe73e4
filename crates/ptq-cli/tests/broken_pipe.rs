//! The `ptq` binary, its stdout closed by a reader that stopped early, as in
//! `ptq inspect model.onnx | head`: a quiet success, not a panic.

#![forbid(unsafe_code)]
#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn a_closed_stdout_ends_ptq_quietly_and_successfully() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/transformer_encoder/model.onnx");
    // The reading end is closed before ptq starts, so its first print fails.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ptq"))
        .args(["inspect", model])
        .stdout(Stdio::from(writer))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    let status = child.wait().unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
}
