//! TensorFlow SavedModel and frozen GraphDef for ptq.
//!
//! [`pb`] holds the crate's own subset of TensorFlow's protobuf messages,
//! compiled at build time from `proto/` by protox and prost; message fields
//! ptq does not interpret are kept as raw bytes so a decoded message
//! re-encodes unchanged. [`dtype`] and [`tensor`] map `DataType` and
//! `TensorProto` to the IR's types; [`bundle`] reads checkpoints (a
//! SavedModel's `variables/`). A malformed or hostile file is a typed
//! [`TfError`] naming the file and the node or variable, never a panic.

#![forbid(unsafe_code)]

pub mod bundle;
pub mod dtype;
mod error;
pub mod tensor;
mod varint;

/// TensorFlow's protobuf messages (package `tensorflow`), as prost structs.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
}

pub use bundle::Checkpoint;
pub use error::TfError;
