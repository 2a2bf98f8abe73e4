//! Control-flow ops: plans for their bodies, built once when the enclosing
//! plan is, and helpers the `If`, `Loop` and `Scan` kernels share.
//!
//! A body runs as its own [`Plan`] on shared tensors: its formal inputs,
//! then the captured outer values (the node's trailing inputs, see
//! `ptq_ir::ops::body`). Probes of the enclosing run do not see values
//! inside bodies.
//!
//! Bodies get the enclosing plan's options, without a pool of their own.
//! [`Plan::run_with_body_probe`] shows a closure every run of a top-level
//! node's body with the inputs it runs on (a Loop's or Scan's once per
//! iteration); the kernels pass them on through `Inputs::bodies`.

use std::sync::Arc;

use ndarray::{ArrayViewD, Axis};
use ptq_ir::ops::body::Body;
use ptq_ir::{Node, Op, Tensor};

use super::Kernel;
use crate::error::ExecError;
use crate::inputs::{BodySink, Inputs};
use crate::plan::{ExecOptions, Plan};

/// The kernel of an `If`, `Loop` or `Scan` node, with a plan per body.
/// Bodies get the enclosing plan's options, without a pool of their own:
/// they run on the enclosing run's thread and use its pool.
pub fn prepare_control(node: &Node, options: &ExecOptions) -> Result<Box<dyn Kernel>, ExecError> {
    let sub = ExecOptions { threads: if options.threads == 1 { 1 } else { 0 }, ..options.clone() };
    let plan = |b: &Body| Plan::new(&b.graph, &sub);
    let captures = ptq_ir::ops::body::capture_count(node.op.bodies());
    let own = node.inputs.len().checked_sub(captures).ok_or_else(|| ExecError::Node {
        node: node.name.clone(),
        op: node.op.name().to_string(),
        msg: "fewer inputs than captures".into(),
    })?;
    Ok(match &node.op {
        Op::If(o) => Box::new(super::if_::IfKernel {
            then_plan: plan(&o.then_branch)?,
            else_plan: plan(&o.else_branch)?,
            then_captures: o.then_branch.captures().len(),
            own,
        }),
        Op::Loop(o) => Box::new(super::loop_::LoopKernel::new(o, plan(&o.body)?, own)),
        Op::Scan(o) => Box::new(super::scan::ScanKernel::new(o, plan(&o.body)?, own)),
        op => {
            return Err(ExecError::Node {
                node: node.name.clone(),
                op: op.name().to_string(),
                msg: "not a control-flow op".into(),
            });
        }
    })
}

/// Shared handles to inputs `range` (all present).
pub fn shared(ins: &Inputs, range: std::ops::Range<usize>) -> Result<Vec<Arc<Tensor>>, String> {
    range.map(|i| ins.shared(i)).collect()
}

/// Runs body `body` (index in the op's body order) on `inputs`, first
/// showing them to `sink` when the run records bodies; errors name the
/// failing node inside it.
pub fn run_body(
    sink: Option<&BodySink>,
    body: usize,
    plan: &Plan,
    inputs: Vec<Arc<Tensor>>,
) -> Result<Vec<Arc<Tensor>>, String> {
    if let Some(s) = sink {
        (s.0)(body, &inputs);
    }
    plan.run_shared(inputs).map_err(|e| format!("in body: {e}"))
}

/// Takes a tensor out of its handle, copying only if it is shared.
pub fn owned(t: Arc<Tensor>) -> Tensor {
    Arc::try_unwrap(t).unwrap_or_else(|a| (*a).clone())
}

/// The value of a one-element bool (or numeric: non-zero) condition.
pub fn truth(t: &Tensor, what: &str) -> Result<bool, String> {
    if t.len() != 1 {
        return Err(format!("{what} must have one element, has shape {:?}", t.shape()));
    }
    Ok(match t {
        Tensor::Bool(a) => a.iter().next().copied().unwrap_or(false),
        t => t.to_f64_vec().first().is_some_and(|&v| v != 0.0),
    })
}

macro_rules! stack_as {
    ($parts:expr, $ax:expr, $v:ident) => {{
        let views: Vec<ArrayViewD<'_, _>> = $parts
            .iter()
            .map(|t| match &**t {
                Tensor::$v(a) => Ok(a.view().insert_axis(Axis($ax))),
                t => Err(format!("iterations produce different dtypes ({})", t.dtype())),
            })
            .collect::<Result<_, String>>()?;
        Tensor::$v(ndarray::concatenate(Axis($ax), &views).map_err(|e| format!("iterations disagree: {e}"))?)
    }};
}

/// Stacks equally shaped tensors along a new axis `ax` (at least one part).
pub fn stack(parts: &[Arc<Tensor>], ax: usize) -> Result<Tensor, String> {
    let first = parts.first().ok_or("nothing to stack")?;
    if ax > first.shape().len() {
        return Err(format!("axis {ax} is out of range for rank {}", first.shape().len() + 1));
    }
    Ok(match &**first {
        Tensor::F32(_) => stack_as!(parts, ax, F32),
        Tensor::F64(_) => stack_as!(parts, ax, F64),
        Tensor::F16(_) => stack_as!(parts, ax, F16),
        Tensor::BF16(_) => stack_as!(parts, ax, BF16),
        Tensor::I8(_) => stack_as!(parts, ax, I8),
        Tensor::U8(_) => stack_as!(parts, ax, U8),
        Tensor::I16(_) => stack_as!(parts, ax, I16),
        Tensor::U16(_) => stack_as!(parts, ax, U16),
        Tensor::I32(_) => stack_as!(parts, ax, I32),
        Tensor::U32(_) => stack_as!(parts, ax, U32),
        Tensor::I64(_) => stack_as!(parts, ax, I64),
        Tensor::U64(_) => stack_as!(parts, ax, U64),
        Tensor::Bool(_) => stack_as!(parts, ax, Bool),
        Tensor::F8E4M3FN(_) => stack_as!(parts, ax, F8E4M3FN),
        Tensor::F8E4M3FNUZ(_) => stack_as!(parts, ax, F8E4M3FNUZ),
        Tensor::F8E5M2(_) => stack_as!(parts, ax, F8E5M2),
        Tensor::F8E5M2FNUZ(_) => stack_as!(parts, ax, F8E5M2FNUZ),
        Tensor::I4(_) => stack_as!(parts, ax, I4),
        Tensor::U4(_) => stack_as!(parts, ax, U4),
        Tensor::String(_) => stack_as!(parts, ax, String),
    })
}

/// Slice `i` of `t` along axis `ax` (that axis removed).
pub fn index_axis(t: &Tensor, ax: usize, i: usize) -> Tensor {
    crate::util::map_tensor!(t, |a| a.index_axis(Axis(ax), i).to_owned())
}

/// An empty stack (`len` 0 along `ax`) of slices of the fact's static shape
/// and dtype: what zero iterations produce. `None` when the fact is not static.
pub fn empty_stack(fact: &ptq_ir::Fact, ax: usize) -> Option<Tensor> {
    let mut dims: Vec<usize> =
        fact.shape.as_ref()?.iter().map(|d| d.known().map(|k| k as usize)).collect::<Option<_>>()?;
    if ax > dims.len() {
        return None;
    }
    dims.insert(ax, 0);
    Some(Tensor::zeros(fact.dtype?, &dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_then_index_round_trips() {
        let a = Arc::new(Tensor::from_f32s(&[1.0, 2.0]));
        let b = Arc::new(Tensor::from_f32s(&[3.0, 4.0]));
        let s = stack(&[a.clone(), b], 1).unwrap();
        assert_eq!(s.shape(), &[2, 2]);
        assert_eq!(s.to_f64_vec(), vec![1.0, 3.0, 2.0, 4.0]);
        assert_eq!(index_axis(&s, 1, 0), *a);
        let mixed = stack(&[a, Arc::new(Tensor::from_i64s(&[1, 2]))], 0).unwrap_err();
        assert!(mixed.contains("dtype"), "{mixed}");
    }
}
