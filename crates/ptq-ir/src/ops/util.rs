//! Helpers shared by the ops' inference code.

use crate::dtype::DType;
use crate::fact::{Dim, Fact, Shape};
use crate::tensor::Tensor;

/// What inference knows about one present input.
#[derive(Clone, Copy, Debug)]
pub struct InferInput<'a> {
    pub fact: &'a Fact,
    /// The value, when the input is a constant.
    pub value: Option<&'a Tensor>,
}

/// Input `i`, which the op requires.
pub fn req<'a>(inputs: &[Option<InferInput<'a>>], i: usize) -> Result<InferInput<'a>, String> {
    inputs.get(i).copied().flatten().ok_or_else(|| format!("missing required input {i}"))
}

/// Input `i` if present.
pub fn opt<'a>(inputs: &[Option<InferInput<'a>>], i: usize) -> Option<InferInput<'a>> {
    inputs.get(i).copied().flatten()
}

/// Input `i`'s constant value as i64s, if it is a constant integer tensor.
pub fn const_ints(inputs: &[Option<InferInput<'_>>], i: usize) -> Option<Vec<i64>> {
    opt(inputs, i).and_then(|x| x.value).and_then(Tensor::to_i64_vec)
}

/// The shape of input `i` if its rank is known.
pub fn shape_of<'a>(inputs: &[Option<InferInput<'a>>], i: usize) -> Option<&'a Shape> {
    opt(inputs, i).and_then(|x| x.fact.shape.as_ref())
}

/// The dtype of input `i` if known.
pub fn dtype_of(inputs: &[Option<InferInput<'_>>], i: usize) -> Option<DType> {
    opt(inputs, i).and_then(|x| x.fact.dtype)
}

/// One output with the same fact as input 0.
pub fn same_as_first(inputs: &[Option<InferInput<'_>>]) -> Result<Vec<Fact>, String> {
    Ok(vec![req(inputs, 0)?.fact.clone()])
}

/// Pads a fact list with unknown facts up to `n` outputs.
pub fn pad_outputs(mut facts: Vec<Fact>, n: usize) -> Vec<Fact> {
    while facts.len() < n {
        facts.push(Fact::default());
    }
    facts.truncate(n.max(1));
    facts
}

/// Normalises a list of axes against `rank`, rejecting duplicates.
pub fn norm_axes(axes: &[i64], rank: usize) -> Result<Vec<usize>, String> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = crate::fact::norm_axis(a, rank)?;
        if out.contains(&n) {
            return Err(format!("axis {a} repeated"));
        }
        out.push(n);
    }
    Ok(out)
}

/// Multiplies two dims.
pub fn dim_mul(a: &Dim, b: &Dim) -> Dim {
    match (a, b) {
        (Dim::Known(x), Dim::Known(y)) => x.checked_mul(*y).map_or(Dim::Unknown, Dim::Known),
        (Dim::Known(1), d) | (d, Dim::Known(1)) => d.clone(),
        _ => Dim::Unknown,
    }
}

/// The product of dims.
pub fn dim_product(dims: &[Dim]) -> Dim {
    dims.iter().fold(Dim::Known(1), |acc, d| dim_mul(&acc, d))
}

/// A non-negative i64 as a dim; negative sizes are errors.
pub fn dim_from_i64(v: i64) -> Result<Dim, String> {
    u64::try_from(v).map(Dim::Known).map_err(|_| format!("negative dimension {v}"))
}
