//! The facade's error type.

use std::path::PathBuf;

/// Errors from loading, converting and saving models.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: unknown model format (expected one of: {known})")]
    UnknownFormat { path: PathBuf, known: &'static str },
    #[error("{path}: this build of ptq has no {format} support (cargo feature `{feature}`)")]
    FormatNotBuilt { path: PathBuf, format: &'static str, feature: &'static str },
    /// A load option the model's format does not take.
    #[error("{path}: {msg}")]
    BadOption { path: PathBuf, msg: String },
    #[error("{path}: refusing to overwrite the model it was loaded from")]
    WouldOverwriteInput { path: PathBuf },
    #[error("{path}: {msg}")]
    Npz { path: PathBuf, msg: String },
    #[error(transparent)]
    Exec(#[from] ptq_exec::ExecError),
    #[error("item {item}: {msg}")]
    Item { item: usize, msg: String },
    #[error(transparent)]
    Quantize(#[from] ptq_algos::AlgoError),
    #[error(transparent)]
    Accuracy(#[from] ptq_accuracy::AccuracyError),
    #[cfg(feature = "openvino")]
    #[error(transparent)]
    OpenVino(#[from] ptq_openvino::OpenVinoError),
    #[cfg(feature = "onnx")]
    #[error(transparent)]
    Onnx(#[from] ptq_onnx::OnnxError),
    #[cfg(feature = "tf")]
    #[error(transparent)]
    Tf(#[from] ptq_tf::TfError),
}
