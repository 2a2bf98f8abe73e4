//! Framework-neutral graph IR for post-training quantization.
//!
//! A [`Graph`] holds named [`Value`]s (graph inputs, constants, node outputs)
//! with [`Fact`]s (dtype and static or symbolic shape), and [`Node`]s whose
//! [`Op`] is a closed enum of per-op structs plus [`ops::Opaque`] for operators
//! the IR does not model. Semantics are those of the newest ONNX opset the
//! frontends read ([`ops`]). A [`Patch`] applies a set of edits completely
//! or not at all (quantizer insertion uses one); passes that own their graph
//! ([`passes`], the executor's plan-time rewrites) also edit its public
//! fields directly.
//!
//! [`infer::infer_facts`] refines declared facts and fails on a
//! contradiction; [`infer::infer_facts_overruling`] lets an inferred shape
//! replace a declared one and reports each case, for importers that accept
//! what onnxruntime accepts.
//!
//! This crate depends on no other workspace crate; frontends lower into it.
#![forbid(unsafe_code)]

pub mod attr;
pub mod dtype;
pub mod error;
pub mod fact;
pub mod float8;
pub mod graph;
pub mod infer;
pub mod names;
pub mod ops;
pub mod passes;
pub mod patch;
pub mod pattern;
pub mod rewrite;
pub mod summary;
pub mod tensor;
pub mod topo;
pub mod validate;

pub use attr::Attr;
pub use dtype::DType;
pub use error::IrError;
pub use fact::{Dim, Fact, Shape};
pub use graph::{ConstSource, Graph, Node, NodeId, NonTensor, NonTensorKind, Value, ValueId};
pub use ops::Op;
pub use patch::Patch;
pub use rewrite::{Maps, Rule, View};
pub use tensor::Tensor;

/// The types most users of the IR need.
pub mod prelude {
    pub use crate::{Attr, DType, Dim, Fact, Graph, IrError, Node, NodeId, Op, Patch, Shape, Tensor, Value, ValueId};
}
