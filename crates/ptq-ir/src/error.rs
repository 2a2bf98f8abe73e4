//! The error type of the IR crate.

/// Errors raised while building, validating, inferring or patching a graph.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum IrError {
    /// A tensor's data does not match its declared shape and dtype.
    #[error("tensor {name:?}: {msg}")]
    Tensor { name: String, msg: String },
    /// A node reads a value that nothing defines.
    #[error("node {node:?} reads value {value:?}, which is not a graph input, a constant or a node output")]
    DanglingInput { node: String, value: String },
    /// A graph output names a value that nothing defines.
    #[error("graph output {value:?} is not defined by any input, constant or node")]
    DanglingOutput { value: String },
    /// Two definitions of one value name.
    #[error("value {value:?} is defined more than once (second definition by {by:?})")]
    DuplicateValue { value: String, by: String },
    /// Two nodes with one (non-empty) name.
    #[error("node name {node:?} is used by more than one node")]
    DuplicateNode { node: String },
    /// The nodes form a cycle.
    #[error("graph has a cycle through node {node:?}")]
    Cycle { node: String },
    /// Shape or dtype inference failed for a node.
    #[error("node {node:?} ({op}): {msg}")]
    Infer { node: String, op: String, msg: String },
    /// An inferred dtype contradicts the declared one.
    #[error("value {value:?}: declared dtype {declared} but node {node:?} produces {inferred}")]
    DTypeClash { value: String, node: String, declared: String, inferred: String },
    /// An inferred static dimension contradicts the declared one.
    #[error("value {value:?}: declared shape {declared} but node {node:?} produces {inferred}")]
    ShapeClash { value: String, node: String, declared: String, inferred: String },
    /// A patch refers to something that does not exist.
    #[error("patch: {0}")]
    Patch(String),
}

/// The result type of this crate.
pub type Result<T, E = IrError> = std::result::Result<T, E>;
