//! The error type of the ONNX frontend.

use ptq_ir::IrError;

/// Everything that can go wrong reading or writing an ONNX model. Each variant
/// names the file; node-level problems also name the node (or `#index` when
/// the node has no name) and its op type.
#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("{file}: {source}")]
    Io { file: String, source: std::io::Error },
    #[error("{file}: not a valid ONNX protobuf: {msg}")]
    Decode { file: String, msg: String },
    #[error("{file}: {msg}")]
    Model { file: String, msg: String },
    #[error("{file}: default-domain opset {version} is not supported (supported: {min} to {max})")]
    UnsupportedOpset { file: String, version: i64, min: i64, max: i64 },
    #[error("{file}: node {node:?} ({op_type}): {msg}")]
    Node { file: String, node: String, op_type: String, msg: String },
    #[error("{file}: tensor {tensor:?}: {msg}")]
    Tensor { file: String, tensor: String, msg: String },
    #[error("{file}: value {value:?}: {msg}")]
    Value { file: String, value: String, msg: String },
    #[error("{file}: {source}")]
    Graph { file: String, source: Box<IrError> },
    #[error("{file}: cannot export node {node:?} ({op}) at opset {opset}: {msg}")]
    Export { file: String, node: String, op: String, opset: i64, msg: String },
}
