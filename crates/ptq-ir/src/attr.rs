//! Attribute values of [`crate::ops::Opaque`] nodes.

use crate::tensor::Tensor;

/// An attribute of an operator the IR does not model, kept for export.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Float(f32),
    Int(i64),
    String(Vec<u8>),
    Tensor(Tensor),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
    Strings(Vec<Vec<u8>>),
    Tensors(Vec<Tensor>),
    /// An attribute kind the IR cannot represent (subgraph, type, sparse
    /// tensor), kept as the frontend's own encoding.
    Foreign {
        format: String,
        bytes: Vec<u8>,
    },
}
