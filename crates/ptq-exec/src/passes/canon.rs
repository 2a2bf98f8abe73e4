//! OpenVINO-style quantizers rewritten into the QuantizeLinear /
//! DequantizeLinear form the integer matchers read (before
//! [`crate::lower`]), so an INT8 OpenVINO IR (ptq's or NNCF's) runs
//! on the same integer kernels as a QDQ ONNX model:
//!
//! - `FakeQuantize` with 256 levels and one constant range (or one per
//!   channel along one axis, with one zero point), `il = ol <
//!   ih = oh`, whose grid holds zero (`-il / s` an integer, `s = (ih −
//!   il) / 255`) becomes QuantizeLinear to u8 (scale `s`, zero point
//!   `-il / s`) → DequantizeLinear. The two agree except where rounding
//!   `(x − il) / s` and `x / s` lands on different sides of a tie: one step.
//! - A compressed weight, `Const(i8) → Convert(f32) → [Subtract(0)] →
//!   Multiply(scale)`, optionally followed by the transpose of a matrix
//!   (`MatMul transpose_b`) and then by a Reshape that keeps the scale's
//!   axis whole (a grouped convolution's weights, merged), becomes a
//!   DequantizeLinear of the (transposed, reshaped) i8 constant, its scale
//!   along the one axis it varies on.
//! - A Transpose of a DequantizeLinear of a constant becomes a
//!   DequantizeLinear of the transposed constant (a tied output head).
//! - A per-tensor u8 (or symmetric i8) DequantizeLinear read only by a Reshape, Flatten,
//!   Squeeze, Unsqueeze or Transpose moves after it (that node then moves
//!   u8 values), so the MatMul or Gemm behind a flattening reads a
//!   DequantizeLinear directly.
//! - A per-tensor QuantizeLinear of the output of such a moving node (read
//!   otherwise only by Shape nodes) moves before it, so the node moves
//!   bytes instead of floats.
//! - A per-tensor u8 (or symmetric i8) DequantizeLinear read only by a QuantizeLinear with
//!   the same scale and zero point is dropped with it (the pair is the
//!   identity), so chains like `Q → DQ → Reshape → Q → DQ → Transpose`,
//!   which quantizers write so that QDQ runtimes see each op quantized,
//!   move u8 values end to end.
//! - A Gather from a dequantized constant table gathers the int8 rows and
//!   dequantizes only those ([`super::gather_rows`]).

use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::quantize::QuantizeLinear;
use ptq_ir::patch::PatchValue;
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::rewrite::rewrite;
use ptq_ir::{DType, Fact, Graph, IrError, NodeId, Op, Patch, Rule, Tensor, Value, ValueId, View};

use crate::lower::ActBytes;
use crate::util::sole_reader;

/// Applies the rewrites of the module docs to every match in `g`: first
/// every FakeQuantize, then every compressed weight, then the quantizer
/// moves (among whose DequantizeLinear nodes are the ones the first two
/// added) until none applies.
pub fn canonicalize(g: &mut Graph) -> Result<(), IrError> {
    rewrite(g, &mut [&mut FakeQuantizeToQdq])?;
    rewrite(g, &mut [&mut CompressedWeight, &mut TransposedWeight])?;
    rewrite(g, &mut [&mut super::gather_rows::GatherDequantizedRows])?;
    rewrite(g, &mut [&mut DequantizeAfterMove, &mut DropRequantize, &mut QuantizeBeforeMove])?;
    Ok(())
}

/// A FakeQuantize that is a u8 grid becomes QuantizeLinear →
/// DequantizeLinear (anchored at the FakeQuantize).
#[derive(Debug)]
pub struct FakeQuantizeToQdq;

impl Rule for FakeQuantizeToQdq {
    fn name(&self) -> &'static str {
        "FakeQuantize to Q/DQ"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let grid = fake_quantize(view.graph, id)?;
        fake_quantize_patch(view.graph, id, grid)
    }
}

/// A compressed weight chain becomes one DequantizeLinear (anchored at the
/// chain's Multiply).
#[derive(Debug)]
pub struct CompressedWeight;

impl Rule for CompressedWeight {
    fn name(&self) -> &'static str {
        "compressed weight"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let w = compressed_weight(view.graph, view.producers(), view.consumers(), id)?;
        weight_patch(view.graph, w)
    }
}

/// A Transpose of a DequantizeLinear of a constant becomes a
/// DequantizeLinear of the transposed constant, its axis permuted (anchored
/// at the Transpose; the first DequantizeLinear stays for its other
/// readers). A tied output head (GPT-2's, reading the int8 embedding table
/// transposed) then reads a weight the integer MatMul takes.
#[derive(Debug)]
pub struct TransposedWeight;

impl Rule for TransposedWeight {
    fn name(&self) -> &'static str {
        "transposed weight"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        transposed_weight(view.graph, view.producers(), id)
    }
}

fn transposed_weight(g: &Graph, producers: &Producers, id: NodeId) -> Option<Patch> {
    let node = g.node(id)?;
    let Op::Transpose(t) = &node.op else { return None };
    let (x, y) = (node.inputs.first().copied().flatten()?, node.outputs.first().copied().flatten()?);
    let &(dq, 0) = producers.get(&x)? else { return None };
    let dqn = g.node(dq)?;
    let Op::DequantizeLinear(op) = &dqn.op else { return None };
    if op.block_size.is_some_and(|b| b != 0) {
        return None;
    }
    let q = dqn.inputs.first().copied().flatten()?;
    let data = g.constant(q).filter(|d| matches!(d, Tensor::I8(_) | Tensor::U8(_)))?;
    let rank = data.shape().len();
    let perm = t.resolved_perm(rank).ok()?;
    let moved = crate::ops::transpose::permute(data.clone(), &perm).ok()?;
    let scale = dqn.inputs.get(1).copied().flatten()?;
    let per_axis = g.constant(scale)?.shape().iter().product::<usize>() > 1;
    let axis = if per_axis {
        let a = op.axis.unwrap_or(1);
        let a = usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok()?;
        Some(perm.iter().position(|&p| p == a)? as i64)
    } else {
        op.axis
    };
    let mut p = Patch::new();
    let qt = p.add_constant(format!("{}/transposed", g.value(q).name), moved);
    let inputs = vec![Some(qt), Some(scale.into()), dqn.inputs.get(2).copied().flatten().map(PatchValue::from)];
    p.remove_node(id);
    p.add_node_like(node, node.name.clone(), DequantizeLinear { axis, block_size: None }, inputs, vec![Some(y.into())]);
    Some(p)
}

/// A DequantizeLinear moves after the moving node that is its only reader.
#[derive(Debug)]
pub struct DequantizeAfterMove;

impl Rule for DequantizeAfterMove {
    fn name(&self) -> &'static str {
        "dequantize after move"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let r = reshape_after(view.graph, view.consumers(), id)?;
        swap_with_reshape(view.graph, id, r)
    }
}

/// A DequantizeLinear → QuantizeLinear pair that is the identity goes.
#[derive(Debug)]
pub struct DropRequantize;

impl Rule for DropRequantize {
    fn name(&self) -> &'static str {
        "drop requantize"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let (q, q_out, xq) = requantize(view.graph, view.consumers(), id)?;
        Some(drop_requantize(view.consumers(), (id, q), q_out, xq))
    }
}

/// A QuantizeLinear moves before the moving node whose output it reads.
#[derive(Debug)]
pub struct QuantizeBeforeMove;

impl Rule for QuantizeBeforeMove {
    fn name(&self) -> &'static str {
        "quantize before move"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let m = quantize_first(view.graph, view.producers(), view.consumers(), id)?;
        swap_quantizer_up(view.graph, id, m)
    }
}

/// A FakeQuantize that is a u8 Q/DQ pair: its scales (one, or one per
/// entry along `axis`) and the zero point all of them share.
struct FqGrid {
    scales: Vec<f32>,
    zero_point: u8,
    axis: Option<i64>,
}

/// The u8 grid of a FakeQuantize with 256 levels whose ranges are one
/// value or vary along one axis of its input, `il = ol < ih = oh` for every
/// entry, each grid holding zero at the same zero point.
fn fake_quantize(g: &Graph, id: NodeId) -> Option<FqGrid> {
    let node = g.node(id)?;
    let Op::FakeQuantize(f) = &node.op else { return None };
    if f.levels != 256 || node.output_ids().count() != 1 {
        return None;
    }
    let range = |i: usize| -> Option<ArrayD<f32>> {
        match g.constant(node.inputs.get(i).copied().flatten()?)? {
            Tensor::F32(a) => Some(a.clone()),
            _ => None,
        }
    };
    let (il, ih, ol, oh) = (range(1)?, range(2)?, range(3)?, range(4)?);
    if il != ol || ih != oh || il.shape() != ih.shape() {
        return None;
    }
    // The one axis the ranges vary on, counted in the input's rank.
    let axis = match il.shape().iter().filter(|&&d| d != 1).count() {
        _ if il.len() == 1 => None,
        1 => {
            let rank = g.value(node.inputs.first().copied().flatten()?).fact.shape.as_ref()?.len();
            let at = il.shape().iter().position(|&d| d != 1)?;
            Some((rank.checked_sub(il.ndim())? + at) as i64)
        }
        _ => return None,
    };
    let mut scales = Vec::with_capacity(il.len());
    let mut zero_point = None;
    for (&lo, &hi) in il.iter().zip(ih.iter()) {
        if lo >= hi || lo > 0.0 || hi < 0.0 {
            return None;
        }
        // In f64: a range written as `(0 − zp)·s, (255 − zp)·s` gives `s` back.
        let (lo, hi) = (f64::from(lo), f64::from(hi));
        let s = (hi - lo) / 255.0;
        let z = -lo / s;
        let zr = z.round();
        if !((s as f32).is_normal() && (z - zr).abs() < 1e-3 && (0.0..=255.0).contains(&zr)) {
            return None;
        }
        if *zero_point.get_or_insert(zr as u8) != zr as u8 {
            return None;
        }
        scales.push(s as f32);
    }
    Some(FqGrid { scales, zero_point: zero_point?, axis })
}

fn scalar_u8(v: u8) -> Tensor {
    Tensor::U8(ArrayD::from_elem(IxDyn(&[]), v))
}

/// A new value `{node}/u8` (or `/i8`) of `dtype` with the shape of `v`.
fn bytes_value_like(p: &mut Patch, g: &Graph, v: ValueId, node: &str, dtype: DType) -> PatchValue {
    let shape = g.value(v).fact.shape.clone();
    let suffix = if dtype == DType::I8 { "i8" } else { "u8" };
    p.add_value(Value {
        name: format!("{node}/{suffix}"),
        fact: Fact { dtype: Some(dtype), shape },
        ..Value::default()
    })
}

/// The FakeQuantize `id` becomes the QuantizeLinear (keeping its id, doc
/// and metadata) and a new DequantizeLinear writes its old output.
fn fake_quantize_patch(g: &Graph, id: NodeId, grid: FqGrid) -> Option<Patch> {
    let node = g.node(id)?;
    let (x, y) = (node.inputs.first().copied().flatten()?, node.outputs.first().copied().flatten()?);
    let mut p = Patch::new();
    let xq = bytes_value_like(&mut p, g, y, &node.name, DType::U8);
    let (scale, zero) = match grid.axis {
        None => (Tensor::scalar_f32(grid.scales[0]), scalar_u8(grid.zero_point)),
        Some(_) => (
            Tensor::from_f32s(&grid.scales),
            Tensor::U8(ArrayD::from_elem(IxDyn(&[grid.scales.len()]), grid.zero_point)),
        ),
    };
    let params = [
        Some(p.add_constant(format!("{}/scale", node.name), scale)),
        Some(p.add_constant(format!("{}/zero_point", node.name), zero)),
    ];
    p.rename(id, format!("{}/quantize", node.name));
    p.set_op(id, Op::QuantizeLinear(QuantizeLinear { axis: grid.axis, ..QuantizeLinear::default() }));
    p.set_inputs(id, [&[Some(PatchValue::Existing(x))][..], &params].concat());
    p.set_output(id, 0, xq);
    p.add_node(
        format!("{}/dequantize", node.name),
        Op::DequantizeLinear(DequantizeLinear { axis: grid.axis, block_size: None }),
        [&[Some(xq)][..], &params].concat(),
        vec![Some(PatchValue::Existing(y))],
    );
    Some(p)
}

/// A compressed weight chain ending at `id` (a Multiply).
struct Weight {
    /// The i8 weights, transposed if the chain was.
    w: ArrayD<i8>,
    /// One scale, or one per entry along `axis`.
    scale: Vec<f32>,
    axis: Option<i64>,
    /// The value the chain produced.
    out: ValueId,
    /// The chain's nodes, last first: it is replaced by one DequantizeLinear.
    nodes: Vec<NodeId>,
}

fn compressed_weight(g: &Graph, producers: &Producers, consumers: &Consumers, id: NodeId) -> Option<Weight> {
    let node = g.node(id)?;
    let Op::Binary(b) = &node.op else { return None };
    if b.kind != BinaryKind::Mul || node.output_ids().count() != 1 {
        return None;
    }
    let (a, c) = (node.inputs.first().copied().flatten()?, node.inputs.get(1).copied().flatten()?);
    let (v, sv) = if g.constant(c).is_some() { (a, c) } else { (c, a) };
    let Tensor::F32(scale) = g.constant(sv)? else { return None };
    let mut nodes = vec![id];
    let (mut p, _) = *producers.get(&v)?;
    if sole_reader(g, consumers, v)?.0 != id {
        return None;
    }
    // An optional Subtract of an all-zero zero point.
    if let Op::Binary(s) = &g.node(p)?.op
        && s.kind == BinaryKind::Sub
    {
        let sub = g.node(p)?;
        let zp = g.constant(sub.inputs.get(1).copied().flatten()?)?;
        if zp.to_f64_vec().iter().any(|&z| z != 0.0) {
            return None;
        }
        let x = sub.inputs.first().copied().flatten()?;
        if sole_reader(g, consumers, x)?.0 != p {
            return None;
        }
        nodes.push(p);
        p = producers.get(&x)?.0;
    }
    let cast = g.node(p)?;
    let Op::Cast(op) = &cast.op else { return None };
    if op.to != DType::F32 {
        return None;
    }
    let Tensor::I8(w) = g.constant(cast.inputs.first().copied().flatten()?)? else { return None };
    nodes.push(p);
    let (scale, mut axis) = scale_axis(scale, w.shape())?;
    let mut out = node.outputs.first().copied().flatten()?;
    let mut w = w.clone();
    // `MatMul transpose_b` arrives as a Transpose of the dequantized matrix.
    if let Some((t, 0)) = sole_reader(g, consumers, out)
        && let Some(tn) = g.node(t)
        && let Op::Transpose(tr) = &tn.op
        && w.ndim() == 2
        && tr.perm.as_deref().is_none_or(|p| p == [1, 0])
        && let Some(y) = tn.outputs.first().copied().flatten()
    {
        w = w.t().as_standard_layout().into_owned();
        axis = axis.map(|a| 1 - a);
        out = y;
        nodes.insert(0, t);
    }
    // A grouped convolution's `[G, O/G, I/G, k..]` weights arrive merged
    // into `[O, I/G, k..]` by a Reshape; any reshape that keeps the scale's
    // axis whole folds the same way.
    if let Some((r, 0)) = sole_reader(g, consumers, out)
        && let Some(rn) = g.node(r)
        && let Op::Reshape(op) = &rn.op
        && let Some(to) = rn.inputs.get(1).copied().flatten().and_then(|v| g.constant(v)?.to_i64_vec())
        && let Some(shape) = resolve_reshape(w.shape(), &to, op.allowzero)
        && let Some(new_axis) = axis.map_or(Some(None), |a| kept_axis(w.shape(), &shape, a as usize).map(Some))
        && let Some(y) = rn.outputs.first().copied().flatten()
        && let Ok(reshaped) = w.clone().into_shape_with_order(IxDyn(&shape))
    {
        w = reshaped;
        axis = new_axis.map(|a| a as i64);
        out = y;
        nodes.insert(0, r);
    }
    Some(Weight { w, scale, axis, out, nodes })
}

/// The shape a Reshape to `to` gives `from` (0 copies the dim when not
/// `allowzero`, one -1 takes the rest), if it is valid.
fn resolve_reshape(from: &[usize], to: &[i64], allowzero: bool) -> Option<Vec<usize>> {
    let total: usize = from.iter().product();
    let mut dims = Vec::with_capacity(to.len());
    let mut infer = None;
    for (i, &d) in to.iter().enumerate() {
        match d {
            -1 if infer.is_none() => {
                infer = Some(i);
                dims.push(1);
            }
            0 if !allowzero => dims.push(*from.get(i)?),
            d if d >= 0 => dims.push(usize::try_from(d).ok()?),
            _ => return None,
        }
    }
    let known: usize = dims.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return None;
        }
        dims[i] = total / known;
    }
    (dims.iter().product::<usize>() == total).then_some(dims)
}

/// Where axis `a` of `from` is in `to` when the reshape keeps it whole: an
/// axis of the same size after the same number of elements' worth of
/// leading axes.
fn kept_axis(from: &[usize], to: &[usize], a: usize) -> Option<usize> {
    let lead: usize = from.get(..a)?.iter().product();
    let size = *from.get(a)?;
    (0..to.len()).find(|&b| to[..b].iter().product::<usize>() == lead && to[b] == size)
}

/// The scale as one value, or as the values along the one axis of `w` it
/// varies on (it broadcasts from the right).
fn scale_axis(scale: &ArrayD<f32>, w: &[usize]) -> Option<(Vec<f32>, Option<i64>)> {
    let s: Vec<f32> = scale.iter().copied().collect();
    if s.iter().any(|v| !v.is_finite() || *v <= 0.0) || s.is_empty() {
        return None;
    }
    if s.len() == 1 {
        return Some((s, None));
    }
    let shape = scale.shape();
    if shape.len() > w.len() {
        return None;
    }
    let lead = w.len() - shape.len();
    let mut varying = shape.iter().enumerate().filter(|&(_, &d)| d != 1);
    let (i, &d) = varying.next()?;
    (varying.next().is_none() && w[lead + i] == d).then_some((s, Some((lead + i) as i64)))
}

/// The chain's nodes go; one DequantizeLinear of the i8 constant writes
/// its output.
fn weight_patch(g: &Graph, wt: Weight) -> Option<Patch> {
    let last = g.node(*wt.nodes.first()?)?.name.clone();
    let mut p = Patch::removing(wt.nodes.iter().copied());
    let w = p.add_constant(format!("{last}/i8"), Tensor::I8(wt.w));
    let scale = match wt.axis {
        None => Tensor::scalar_f32(wt.scale[0]),
        Some(_) => Tensor::from_f32s(&wt.scale),
    };
    let s = p.add_constant(format!("{last}/scale"), scale);
    p.add_node(
        format!("{last}/dequantize"),
        Op::DequantizeLinear(DequantizeLinear { axis: wt.axis, block_size: None }),
        vec![Some(w), Some(s)],
        vec![Some(PatchValue::Existing(wt.out))],
    );
    Some(p)
}

/// The node that only moves or renames elements (Reshape, Flatten,
/// Squeeze, Unsqueeze, Transpose) and is the only reader of the per-tensor
/// u8 (or symmetric i8) DequantizeLinear `id`'s output, reading it as its
/// data input.
fn reshape_after(g: &Graph, consumers: &Consumers, id: NodeId) -> Option<NodeId> {
    let node = g.node(id)?;
    crate::lower::quantized_activation(g, id)?;
    let (r, slot) = sole_reader(g, consumers, node.outputs.first().copied().flatten()?)?;
    let rn = g.node(r)?;
    (slot == 0 && rn.op.rearranges_elements() && rn.output_ids().count() == 1).then_some(r)
}

/// A per-tensor u8 (or symmetric i8) DequantizeLinear `id` whose only
/// reader is a QuantizeLinear back to the same type with the same scale and
/// zero point: `(the QuantizeLinear, its output, the DequantizeLinear's
/// input)`. The pair is the identity: `(q − z)·s` is within a few ulp of
/// the integer `q − z` (|q − z| ≤ 255), so dividing by `s` and rounding
/// gives it back exactly.
fn requantize(g: &Graph, consumers: &Consumers, id: NodeId) -> Option<(NodeId, ValueId, ValueId)> {
    let (xq, bytes, sa) = crate::lower::quantized_activation(g, id)?;
    let out = g.node(id)?.outputs.first().copied().flatten()?;
    let (q, 0) = sole_reader(g, consumers, out)? else { return None };
    let qn = g.node(q)?;
    let Op::QuantizeLinear(op) = &qn.op else { return None };
    let q_out = qn.outputs.first().copied().flatten()?;
    if op.block_size.is_some_and(|b| b != 0) || qn.output_ids().count() != 1 || g.outputs().contains(&q_out) {
        return None;
    }
    let s = crate::lower::scales(g.constant(qn.inputs.get(1).copied().flatten()?)?)?;
    let same_zero_point = match (qn.inputs.get(2).copied().flatten().map(|z| g.constant(z)), bytes) {
        (Some(Some(Tensor::U8(z))), ActBytes::U8(za)) => z.len() == 1 && z.iter().all(|&v| v == za),
        (Some(Some(Tensor::I8(z))), ActBytes::I8) => z.len() == 1 && z.iter().all(|&v| v == 0),
        (None, ActBytes::U8(0)) => op.output_dtype.is_none_or(|d| d == DType::U8),
        (None, ActBytes::I8) => op.output_dtype == Some(DType::I8),
        _ => false,
    };
    (s.len() == 1 && s[0].to_bits() == sa.to_bits() && same_zero_point).then_some((q, q_out, xq))
}

/// Removes the pair `(dq, q)`: the readers of `q_out` read `xq`.
fn drop_requantize(consumers: &Consumers, (dq, q): (NodeId, NodeId), q_out: ValueId, xq: ValueId) -> Patch {
    let mut p = Patch::removing([dq, q]);
    for &(n, slot) in consumers.get(&q_out).map_or(&[][..], Vec::as_slice) {
        p.set_input(n, slot, PatchValue::Existing(xq));
    }
    p
}

/// A per-tensor QuantizeLinear `id` whose f32 input comes from a node that
/// only moves elements (see [`reshape_after`]) and is read by nothing else
/// but Shape nodes: quantizing first and moving bytes gives the same
/// tensor (the quantizer is element-wise) with a quarter of the bytes to
/// move, as attention's `Transpose → QuantizeLinear` before its output
/// projection. `(the moving node, the Shape readers)`.
fn quantize_first(
    g: &Graph,
    producers: &Producers,
    consumers: &Consumers,
    id: NodeId,
) -> Option<(NodeId, Vec<NodeId>)> {
    let node = g.node(id)?;
    let Op::QuantizeLinear(op) = &node.op else { return None };
    let x = node.inputs.first().copied().flatten()?;
    let scale = g.constant(node.inputs.get(1).copied().flatten()?)?;
    let zero_point = node.inputs.get(2).copied().flatten().map(|z| g.constant(z));
    let per_tensor = scale.len() == 1 && zero_point.is_none_or(|z| z.is_some_and(|z| z.len() == 1));
    if !per_tensor
        || op.block_size.is_some_and(|b| b != 0)
        || g.outputs().contains(&x)
        || node.output_ids().count() != 1
    {
        return None;
    }
    let &(r, 0) = producers.get(&x)? else { return None };
    let rn = g.node(r)?;
    if !rn.op.rearranges_elements() || rn.output_ids().count() != 1 || rn.inputs.first().copied().flatten().is_none() {
        return None;
    }
    let mut shapes = vec![];
    for &(n, slot) in consumers.get(&x)? {
        match g.node(n)?.op {
            _ if n == id && slot == 0 => {}
            Op::ShapeOf(_) => shapes.push(n),
            _ => return None,
        }
    }
    Some((r, shapes))
}

/// Makes QuantizeLinear `q` read the moving node `r`'s input and `r` move
/// the quantized bytes into `q`'s old output; `shapes` read that instead.
fn swap_quantizer_up(g: &Graph, q: NodeId, (r, shapes): (NodeId, Vec<NodeId>)) -> Option<Patch> {
    let (qn, rn) = (g.node(q)?, g.node(r)?);
    let (xin, q_out) = (rn.inputs.first().copied().flatten()?, qn.outputs.first().copied().flatten()?);
    let dtype = match qn.inputs.get(2).copied().flatten().and_then(|z| g.constant(z)) {
        Some(z) => z.dtype(),
        None => match &qn.op {
            Op::QuantizeLinear(op) => op.output_dtype.unwrap_or(DType::U8),
            _ => DType::U8,
        },
    };
    let mut p = Patch::new();
    let moved = bytes_value_like(&mut p, g, xin, &qn.name, dtype);
    rewire(&mut p, q, xin.into(), Some(moved));
    rewire(&mut p, r, moved, Some(q_out.into()));
    for s in shapes {
        rewire(&mut p, s, q_out.into(), None);
    }
    Some(p)
}

fn swap_with_reshape(g: &Graph, dq: NodeId, r: NodeId) -> Option<Patch> {
    let (dqn, rn) = (g.node(dq)?, g.node(r)?);
    let (xq, y) = (dqn.inputs.first().copied().flatten()?, rn.outputs.first().copied().flatten()?);
    let dtype = g.value(xq).fact.dtype.unwrap_or(DType::U8);
    let mut p = Patch::new();
    let yq = bytes_value_like(&mut p, g, y, &rn.name, dtype);
    rewire(&mut p, r, xq.into(), Some(yq));
    rewire(&mut p, dq, yq, Some(y.into()));
    Some(p)
}

/// Points node `id`'s data input at `input` and, if given, its first
/// output at `output`.
fn rewire(p: &mut Patch, id: NodeId, input: PatchValue, output: Option<PatchValue>) {
    p.set_input(id, 0, input);
    if let Some(o) = output {
        p.set_output(id, 0, o);
    }
}

#[cfg(test)]
mod tests {
    use super::{fake_quantize, kept_axis, resolve_reshape};
    use ptq_ir::ops::fake_quantize::FakeQuantize;
    use ptq_ir::{ConstSource, DType, Fact, Graph, Node, NodeId, Op, Tensor, Value};

    /// x `[1, 3, 4, 4]` → FakeQuantize(256 levels) with ranges of `shape`.
    fn fq(lo: &[f32], hi: &[f32], shape: &[usize]) -> (Graph, NodeId) {
        let mut g = Graph::default();
        let x = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(&[1, 3, 4, 4])),
            ..Value::default()
        });
        g.inputs_mut().push(x);
        let t = |v: &[f32]| Tensor::F32(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape), v.to_vec()).unwrap());
        let ins: Vec<_> = [lo, hi, lo, hi]
            .iter()
            .enumerate()
            .map(|(i, v)| Some(g.add_constant(format!("r{i}"), t(v), ConstSource::Stored)))
            .collect();
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let id = g.add_node(Node {
            name: "fq".into(),
            op: Op::FakeQuantize(FakeQuantize { levels: 256 }),
            inputs: [vec![Some(x)], ins].concat(),
            outputs: vec![Some(y)],
            doc: String::new(),
            meta: vec![],
        });
        (g, id)
    }

    #[test]
    fn per_channel_fake_quantize_ranges_give_per_axis_scales_with_one_zero_point() {
        // Symmetric signed ranges [-a·128/127, a]: zero point 128, scale a/127.
        let a = [0.5f32, 2.0, 1.27];
        let lo: Vec<f32> = a.iter().map(|v| -v * 128.0 / 127.0).collect();
        for shape in [vec![1, 3, 1, 1], vec![3, 1, 1]] {
            let (g, id) = fq(&lo, &a, &shape);
            let grid = fake_quantize(&g, id).unwrap();
            assert_eq!((grid.axis, grid.zero_point), (Some(1), 128), "{shape:?}");
            for (s, v) in grid.scales.iter().zip(a) {
                assert!((s - v / 127.0).abs() <= 1e-6 * v, "{s} vs {}", v / 127.0);
            }
        }
        // Valid grids whose zero points differ by channel (0 and 128) stay
        // a FakeQuantize.
        let (g, id) = fq(&[0.0, -128.0 / 127.0, -64.0 / 127.0], &[1.0, 1.0, 0.5], &[1, 3, 1, 1]);
        assert!(fake_quantize(&g, id).is_none());
        let (g, id) = fq(&[-128.0 / 127.0, -128.0 / 127.0, -64.0 / 127.0], &[1.0, 1.0, 0.5], &[1, 3, 1, 1]);
        assert!(fake_quantize(&g, id).is_some());
    }

    #[test]
    fn reshapes_resolve_like_onnx() {
        assert_eq!(resolve_reshape(&[8, 1, 1, 3, 3], &[8, 1, 3, 3], false), Some(vec![8, 1, 3, 3]));
        assert_eq!(resolve_reshape(&[8, 1, 1, 3, 3], &[-1, 1, 3, 3], false), Some(vec![8, 1, 3, 3]));
        assert_eq!(resolve_reshape(&[2, 3, 4], &[0, -1], false), Some(vec![2, 12]));
        assert_eq!(resolve_reshape(&[2, 3, 4], &[0, -1], true), None);
        assert_eq!(resolve_reshape(&[2, 3, 4], &[5, -1], false), None);
        assert_eq!(resolve_reshape(&[2, 3, 4], &[-1, -1], false), None);
        assert_eq!(resolve_reshape(&[2, 3, 4], &[2, 3, 5], false), None);
    }

    #[test]
    fn an_axis_is_kept_only_when_it_stays_whole() {
        // Groups merged: [G=8, 1, 1, k, k] -> [8, 1, k, k] keeps axis 0.
        assert_eq!(kept_axis(&[8, 1, 1, 3, 3], &[8, 1, 3, 3], 0), Some(0));
        // [G=2, O/G=4, ..] -> [8, ..] splits the channel axis 1 across two.
        assert_eq!(kept_axis(&[2, 4, 1, 3, 3], &[8, 1, 3, 3], 1), None);
        assert_eq!(kept_axis(&[1, 6, 5], &[6, 5], 1), Some(0));
        assert_eq!(kept_axis(&[6, 5], &[3, 2, 5], 0), None);
    }

    /// DequantizeLinear(i8 `[4, 3]`, one scale per row) → Transpose becomes
    /// a DequantizeLinear of the `[3, 4]` transpose with its scales on axis
    /// 1, and computes the same values.
    #[test]
    fn a_transposed_per_row_weight_becomes_a_per_column_dequantize() {
        use ptq_ir::ops::dequantize::DequantizeLinear;
        use ptq_ir::ops::transpose::Transpose;
        let mut g = Graph::default();
        let q: Vec<i8> = (0..12).map(|i| (i * 23 % 255 - 127) as i8).collect();
        let q = g.add_constant(
            "q",
            Tensor::I8(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[4, 3]), q).unwrap()),
            ConstSource::Stored,
        );
        let scale = g.add_constant("s", Tensor::from_f32s(&[0.5, 0.25, 2.0, 1.0]), ConstSource::Stored);
        let value = |g: &mut Graph, name: &str| g.add_value(Value { name: name.into(), ..Value::default() });
        let (w, y) = (value(&mut g, "w"), value(&mut g, "y"));
        let node = |name: &str, op: Op, inputs: Vec<Option<ptq_ir::ValueId>>, out| Node {
            name: name.into(),
            op,
            inputs,
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        };
        g.add_node(node(
            "dq",
            DequantizeLinear { axis: Some(0), block_size: None }.into(),
            vec![Some(q), Some(scale)],
            w,
        ));
        g.add_node(node("t", Transpose { perm: Some(vec![1, 0]) }.into(), vec![Some(w)], y));
        g.outputs_mut().push(y);
        ptq_ir::infer::infer_facts(&mut g).unwrap();
        let run = |g: &Graph| {
            let plan =
                crate::Plan::new(g, &crate::ExecOptions { threads: 1, optimize: false, ..Default::default() }).unwrap();
            plan.run(vec![]).unwrap().remove(0).1
        };
        let want = run(&g);
        let mut c = g.clone();
        super::canonicalize(&mut c).unwrap();
        let (_, n) = c.iter_nodes().find(|(_, n)| n.outputs[0] == Some(y)).unwrap();
        let Op::DequantizeLinear(op) = &n.op else { panic!("{:?}", n.op) };
        assert_eq!(op.axis, Some(1));
        assert_eq!(c.constant(n.inputs[0].unwrap()).unwrap().shape(), &[3, 4]);
        assert_eq!(run(&c), want);
    }
}
