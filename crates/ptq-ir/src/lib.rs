//! Framework-neutral graph IR for post-training quantization.
//!
//! A [`Graph`] holds named [`Value`]s (graph inputs, constants, node outputs)
//! with [`Fact`]s (dtype and static or symbolic shape), and [`Node`]s whose
//! [`Op`] is a closed enum of per-op structs plus [`ops::Opaque`] for operators
//! the IR does not model. Every edit goes through a [`Patch`].
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
pub mod ops;
pub mod passes;
pub mod patch;
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
pub use tensor::Tensor;

/// The types most users of the IR need.
pub mod prelude {
    pub use crate::{Attr, DType, Dim, Fact, Graph, IrError, Node, NodeId, Op, Patch, Shape, Tensor, Value, ValueId};
}
