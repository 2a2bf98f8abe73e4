//! The crate's error type.

use ptq_exec::ExecError;
use ptq_ir::IrError;
use ptq_stats::StatsError;

/// Why quantization failed.
#[derive(Debug, thiserror::Error)]
pub enum AlgoError {
    /// A calibration item is unusable: unknown or missing input, wrong shape
    /// or dtype, NaN/Inf values.
    #[error("calibration item {item}: input '{input}': {msg}")]
    BadItem { item: usize, input: String, msg: String },
    /// The dataset could not produce item `item`.
    #[error("calibration item {item}: {msg}")]
    Dataset { item: usize, msg: String },
    /// The calibration set had no items.
    #[error("the calibration dataset is empty")]
    EmptyDataset,
    /// Ignored-scope rules that match no node.
    #[error("ignored scope rules match no node: {}", .0.join("; "))]
    UnmatchedScope(Vec<String>),
    /// An ignored-scope pattern is not a valid regular expression.
    #[error("ignored scope pattern '{pattern}': {msg}")]
    BadPattern { pattern: String, msg: String },
    /// An option is out of range.
    #[error("invalid option: {0}")]
    Option(String),
    /// A node cannot be quantized as planned.
    #[error("node '{node}': {msg}")]
    Node { node: String, msg: String },
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error(transparent)]
    Stats(#[from] StatsError),
}
