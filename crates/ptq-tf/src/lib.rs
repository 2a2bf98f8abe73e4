//! TensorFlow SavedModel and frozen GraphDef for ptq.
//!
//! [`load`] reads a SavedModel directory (the `serve` meta graph, one
//! signature, the variables from the checkpoint in [`bundle`]) or a frozen
//! GraphDef `.pb`. [`flatten`] inlines the function library's calls down to
//! primitive ops; [`import`] lowers those to ptq-ir ops, NHWC convolutions
//! and pools as NCHW ones (see there for how the layout transposes cancel).
//! Signature inputs and outputs become graph inputs and outputs named by
//! their signature keys.
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
pub mod export;
pub mod flatten;
mod fold;
#[cfg(test)]
mod hostile_tests;
pub mod import;
mod ops;
pub mod saved_model;
pub mod tensor;
mod varint;

/// TensorFlow's protobuf messages (package `tensorflow`), as prost structs.
#[allow(missing_docs, clippy::all, missing_debug_implementations)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/tensorflow.rs"));
}

pub use bundle::Checkpoint;
pub use error::TfError;
pub use export::save;

use std::path::{Path, PathBuf};

/// Where a model came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TfKind {
    /// A SavedModel directory, read through this signature.
    SavedModel { signature: String },
    /// A frozen GraphDef file.
    GraphDef,
}

/// What export and the facade need to know about the source.
#[derive(Clone, Debug)]
pub struct TfInfo {
    pub path: PathBuf,
    pub kind: TfKind,
}

/// A loaded model.
#[derive(Clone, Debug)]
pub struct TfModel {
    pub graph: ptq_ir::Graph,
    pub info: TfInfo,
}

/// How to read a model.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// The SavedModel signature (default `serving_default`, or the only one).
    pub signature: Option<String>,
    /// A GraphDef's input tensors (default: its Placeholders).
    pub inputs: Vec<String>,
    /// A GraphDef's output tensors (default: the nodes nothing reads).
    pub outputs: Vec<String>,
}

/// Whether `path` is a SavedModel directory or a GraphDef `.pb` file.
pub fn is_tf_path(path: &Path) -> bool {
    path.is_dir() && path.join("saved_model.pb").is_file()
        || path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("pb"))
}

/// Loads a SavedModel directory or a frozen GraphDef `.pb`. A path to a
/// SavedModel's own `saved_model.pb` loads its directory.
pub fn load(path: impl AsRef<Path>, options: &LoadOptions) -> Result<TfModel, TfError> {
    let path = path.as_ref();
    let path = match path.parent() {
        Some(dir) if path.file_name().is_some_and(|n| n == "saved_model.pb") && !dir.as_os_str().is_empty() => dir,
        _ => path,
    };
    let (src, kind) = if path.is_dir() {
        let s = saved_model::load_saved_model(path, options.signature.as_deref())?;
        let signature = s.signature.clone().unwrap_or_default();
        (s, TfKind::SavedModel { signature })
    } else {
        (saved_model::load_graph_def(path, &options.inputs, &options.outputs)?, TfKind::GraphDef)
    };
    let graph = import::import(&src)?;
    Ok(TfModel { graph, info: TfInfo { path: path.to_path_buf(), kind } })
}

/// Imports a `saved_model.pb` from memory, without a checkpoint (variable
/// reads are errors); `label` names it in errors. For fuzzing and for
/// models whose weights are all constants.
pub fn import_saved_model_bytes(bytes: &[u8], label: &str, signature: Option<&str>) -> Result<TfModel, TfError> {
    let path = Path::new(label);
    let src = saved_model::saved_model_source(bytes, path, signature, None)?;
    let graph = import::import(&src)?;
    let kind = TfKind::SavedModel { signature: src.signature.clone().unwrap_or_default() };
    Ok(TfModel { graph, info: TfInfo { path: path.to_path_buf(), kind } })
}

/// Imports a frozen GraphDef from memory; `label` names it in errors.
pub fn import_graph_def_bytes(bytes: &[u8], label: &str) -> Result<TfModel, TfError> {
    let path = Path::new(label);
    let src = saved_model::graph_def_source(bytes, path, &[], &[])?;
    let graph = import::import(&src)?;
    Ok(TfModel { graph, info: TfInfo { path: path.to_path_buf(), kind: TfKind::GraphDef } })
}
