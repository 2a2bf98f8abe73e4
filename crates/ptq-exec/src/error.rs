//! The executor's error type.

/// Errors from planning or running a graph.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ExecError {
    /// Ops the executor cannot run, each with one node that uses it.
    #[error("unsupported ops: {}", .0.iter().map(|(op, node)| format!("{op} (e.g. node {node:?})")).collect::<Vec<_>>().join(", "))]
    Unsupported(Vec<(String, String)>),
    /// The graph itself is invalid.
    #[error(transparent)]
    Graph(#[from] ptq_ir::IrError),
    /// A graph input was not supplied, or an unknown one was.
    #[error("input {name:?}: {msg}")]
    Input { name: String, msg: String },
    /// A node failed at run time (bad shapes, unsupported dtype, ...).
    #[error("node {node:?} ({op}): {msg}")]
    Node { node: String, op: String, msg: String },
}
