//! The crate's error type.

use std::path::PathBuf;

/// Why an IR could not be read or written. Every variant names the file and,
/// where there is one, the layer.
#[derive(Debug, thiserror::Error)]
pub enum OpenVinoError {
    #[error("{path}: {msg}")]
    Io { path: PathBuf, msg: String },
    /// Not well-formed XML, or not an IR `<net>`.
    #[error("{path}: {msg}")]
    Xml { path: PathBuf, msg: String },
    /// A layer that cannot be understood: missing or bad attributes, ports,
    /// shapes, element types.
    #[error("{path}: layer {layer}: {msg}")]
    Layer { path: PathBuf, layer: String, msg: String },
    /// Weights outside the `.bin` file or of the wrong size.
    #[error("{path}: layer {layer}: {msg}")]
    Weights { path: PathBuf, layer: String, msg: String },
    /// An edge that names a missing layer or port, or a port fed twice.
    #[error("{path}: edge {edge}: {msg}")]
    Edge { path: PathBuf, edge: String, msg: String },
}
