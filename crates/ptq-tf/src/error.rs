//! The crate's error type.

use std::path::PathBuf;

/// Why a SavedModel or GraphDef could not be read or written. Every variant
/// names the file and, where there is one, the node or the variable.
#[derive(Debug, thiserror::Error)]
pub enum TfError {
    /// A file or directory that cannot be read or written.
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
    /// Bytes that do not decode as the protobuf message the file must hold,
    /// or a message that lacks what a SavedModel needs (a `serve` meta
    /// graph, the signature, a function a call names).
    #[error("{path}: {msg}")]
    Proto { path: PathBuf, msg: String },
    /// The checkpoint: a malformed index table, an entry whose bytes lie
    /// outside its shard, a checksum that does not match. `variable` is the
    /// checkpoint key, empty when the error concerns the whole index (its
    /// table structure or header); the message then omits it.
    #[error("{path}: {}{msg}", variable_prefix(.variable))]
    Checkpoint { path: PathBuf, variable: String, msg: String },
    /// A node that cannot be understood: missing or bad attributes, inputs
    /// that name no node, a dtype ptq does not read.
    #[error("{path}: node {node}: {msg}")]
    Node { path: PathBuf, node: String, msg: String },
    /// An op ptq has no lowering for.
    #[error("{path}: node {node}: unsupported op {op}")]
    Unsupported { path: PathBuf, node: String, op: String },
}

/// `variable X: ` for a named variable, nothing for an empty name.
fn variable_prefix(variable: &str) -> String {
    if variable.is_empty() { String::new() } else { format!("variable {variable}: ") }
}
