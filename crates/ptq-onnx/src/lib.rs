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

pub use error::OnnxError;
pub use export::{ExportOptions, export_model, save, save_with};
pub use import::{import_bytes, load};
pub use model::{ModelInfo, OnnxModel};

/// Lowest default-domain opset the importer accepts.
pub const MIN_OPSET: i64 = 11;
/// Highest default-domain opset the importer accepts.
pub const MAX_OPSET: i64 = 21;
