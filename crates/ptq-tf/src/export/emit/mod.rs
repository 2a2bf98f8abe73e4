//! One ptq-ir node → TensorFlow nodes, one file per op family.

mod conv;
mod math;
mod quant;
mod shape;

use ptq_ir::{DType, Node, Op, ValueId};

pub(crate) use quant::dequantized_as_is;

use super::builder::ty;
use super::{Cx, Layout};

/// Writes node `n`, binding its outputs.
pub(crate) fn emit(cx: &mut Cx<'_>, n: &Node) -> Result<(), String> {
    match &n.op {
        Op::Conv(c) => conv::conv(cx, n, c),
        Op::Pool(p) => conv::pool(cx, n, p),
        Op::GlobalPool(p) => conv::global_pool(cx, n, p),
        Op::BatchNorm(b) => conv::batch_norm(cx, n, b),
        Op::Resize(r) => conv::resize(cx, n, r),
        Op::DepthToSpace(d) => conv::depth_to_space(cx, n, d.blocksize, d.crd, "DepthToSpace"),
        Op::SpaceToDepth(d) => conv::depth_to_space(cx, n, d.blocksize, false, "SpaceToDepth"),
        Op::MatMul(_) => math::mat_mul(cx, n),
        Op::Gemm(o) => math::gemm(cx, n, o),
        Op::Unary(u) => math::unary(cx, n, u.kind),
        Op::Binary(b) => math::binary(cx, n, b.kind),
        Op::Variadic(v) => math::variadic(cx, n, v.kind),
        Op::Clip(_) => math::clip(cx, n),
        Op::Softmax(s) => math::softmax(cx, n, s),
        Op::LayerNorm(l) => math::layer_norm(cx, n, l),
        Op::Reduce(r) => math::reduce(cx, n, r),
        Op::QuantizeLinear(_) => quant::quantize_linear(cx, n),
        Op::DequantizeLinear(_) => quant::dequantize_linear(cx, n),
        Op::Reshape(_) | Op::Flatten(_) | Op::Squeeze(_) | Op::Unsqueeze(_) => shape::reshape(cx, n),
        Op::Transpose(t) => shape::transpose(cx, n, t.perm.as_deref()),
        Op::Concat(c) => shape::concat(cx, n, c.axis),
        Op::Split(s) => shape::split(cx, n, s),
        Op::Slice(_) => shape::slice(cx, n),
        Op::Gather(g) => shape::gather(cx, n, g.axis),
        Op::Expand(_) => shape::expand(cx, n),
        Op::Tile(_) => shape::simple(cx, n, "Tile", &[("Tmultiples", 1)]),
        Op::Pad(p) => shape::pad(cx, n, p),
        Op::ShapeOf(_) => shape::shape_of(cx, n),
        Op::Cast(c) => shape::cast(cx, n, c.to),
        Op::Where(_) => shape::where_(cx, n),
        Op::Dropout(_) => shape::identity(cx, n),
        Op::Range(_) => shape::range(cx, n),
        Op::ConstantOfShape(c) => shape::constant_of_shape(cx, n, c),
        Op::Opaque(o) if o.op_type == "CumSum" && o.domain.is_empty() => shape::cum_sum(cx, n, o),
        Op::Opaque(o) => Err(format!("{} (domain '{}') has no TensorFlow form in this writer", o.op_type, o.domain)),
        _ => Err("has no TensorFlow form in this writer".into()),
    }
}

/// Input `i`, which must be present.
pub(crate) fn inp(n: &Node, i: usize) -> Result<ValueId, String> {
    n.inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}

/// Input `i` if present.
pub(crate) fn opt_inp(n: &Node, i: usize) -> Option<ValueId> {
    n.inputs.get(i).copied().flatten()
}

/// Output `i`, which must be present.
pub(crate) fn out(n: &Node, i: usize) -> Result<ValueId, String> {
    n.outputs.get(i).copied().flatten().ok_or_else(|| format!("output {i} is missing"))
}

/// Only output 0 may be read.
pub(crate) fn single_output(n: &Node) -> Result<ValueId, String> {
    if n.outputs.iter().skip(1).any(Option::is_some) {
        return Err("with more than one output read has no TensorFlow form".into());
    }
    out(n, 0)
}

pub(crate) use ptq_ir::fact::norm_axis;

/// A node `op` with attribute `T` reading `inputs`.
pub(crate) fn typed(cx: &mut Cx<'_>, base: &str, op: &str, inputs: Vec<String>, dt: DType) -> String {
    cx.b.node(base, op, inputs, vec![("T", ty(dt))])
}

/// The constant `v` as f32 values, if it is one.
pub(crate) fn const_f32s(cx: &Cx<'_>, v: ValueId) -> Option<Vec<f32>> {
    cx.g.constant(v).map(|t| t.to_f64_vec().into_iter().map(|x| x as f32).collect())
}

/// The constant `v` as integers, if it is one.
pub(crate) fn const_ints(cx: &Cx<'_>, v: ValueId) -> Option<Vec<i64>> {
    cx.g.constant(v).and_then(ptq_ir::Tensor::to_i64_vec)
}

/// The layout elementwise ops on these inputs should run in: channels-last
/// when a rank-4 input is held so and every other input is a constant or
/// rank 4 (a constant broadcast against rank 4 is transposed on the host).
pub(crate) fn elementwise_layout(cx: &mut Cx<'_>, ins: &[ValueId], out_rank: usize) -> Result<Layout, String> {
    if out_rank != 4 {
        return Ok(Layout::Same);
    }
    let mut any_last = false;
    for &v in ins {
        if cx.g.constant(v).is_some() {
            continue;
        }
        if cx.rank(v)? != 4 {
            return Ok(Layout::Same);
        }
        any_last |= cx.held(v)?.1 == Layout::Last;
    }
    Ok(if any_last { Layout::Last } else { Layout::Same })
}

/// Input `v` of an elementwise op in `layout` (output rank 4 when Last): a
/// lower-rank constant is broadcast to rank 4 first.
pub(crate) fn elementwise_input(cx: &mut Cx<'_>, v: ValueId, layout: Layout) -> Result<String, String> {
    if layout == Layout::Last
        && let Some(t) = cx.g.constant(v)
        && t.shape().len() < 4
    {
        let mut shape = vec![1; 4 - t.shape().len()];
        shape.extend_from_slice(t.shape());
        let t4 = crate::ops::reshaped(t, &shape).ok_or("cannot reshape a constant")?;
        let p = crate::ops::permuted(&t4, &super::TO_LAST).ok_or("cannot transpose a constant")?;
        let name = format!("{}_nhwc", cx.name(v));
        return Ok(cx.constant(&name, &p));
    }
    cx.get(v, layout)
}
