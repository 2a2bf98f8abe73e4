//! ONNX frontend: `ModelProto` to [`ptq_ir::Graph`] and back.
//!
//! [`load`] reads a model file (with external data), lowers every node into
//! the IR (operators the IR does not model become [`ptq_ir::ops::Opaque`]
//! nodes that survive export), validates the graph and infers facts.
//! [`save`] writes an [`OnnxModel`] back, in the opset it came from,
//! atomically. Model files are untrusted: every failure is an [`OnnxError`]
//! naming the file and, where there is one, the node.
#![forbid(unsafe_code)]

mod attrs;
mod dtype;
mod error;
mod export;
mod external;
mod import;
mod model;
mod ops;
mod tensor;
mod wire;

pub use error::OnnxError;
pub use export::{ExportOptions, export_model, save, save_with};
pub use import::{import_bytes, load};
pub use model::{ModelInfo, OnnxModel};

/// Decodes a serialized `TensorProto` (such as the `input_0.pb` files of the
/// ONNX backend tests) into its name and value. `label` names it in errors.
pub fn decode_tensor(bytes: &[u8], label: &str) -> Result<(String, ptq_ir::Tensor), OnnxError> {
    use protobuf::Message;
    let t = onnx_protobuf::TensorProto::parse_from_bytes(bytes)
        .map_err(|e| OnnxError::Decode { file: label.into(), msg: e.to_string() })?;
    let v = tensor::decode(&t, &mut external::ExternalData::new(None)).map_err(|msg| OnnxError::Tensor {
        file: label.into(),
        tensor: t.name.clone(),
        msg,
    })?;
    Ok((t.name, v))
}

/// Lowest default-domain opset the importer accepts; individual ops may need
/// more (an older op form is an error naming the node).
pub const MIN_OPSET: i64 = 1;
/// Highest default-domain opset the importer accepts.
pub const MAX_OPSET: i64 = 22;
