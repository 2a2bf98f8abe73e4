//! The crate's error type.

/// Why accuracy control could not run.
#[derive(Debug, thiserror::Error)]
pub enum AccuracyError {
    #[error(transparent)]
    Quantize(#[from] ptq_algos::AlgoError),
    /// The validation function failed on a model.
    #[error("validation of the {model} model failed: {msg}")]
    Validation { model: String, msg: String },
    #[error("{0}")]
    Option(String),
}
