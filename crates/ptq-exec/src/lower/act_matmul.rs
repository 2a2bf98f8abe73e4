//! A MatMul of two quantized activations (attention's `Q·Kᵀ`) on the int8
//! kernels (part of [`ExecOptions::integer`](crate::ExecOptions::integer)).
//!
//! Both inputs are per-tensor DequantizeLinear outputs of rank ≥ 2. The
//! left one may be u8 (any zero point) or i8 with zero point 0, which is
//! the same tensor as u8 with zero point 128 (flip the top bit); the right
//! one must be symmetric — i8 with zero point 0 or u8 with zero point 128 —
//! since the kernels multiply by signed bytes without a zero point. Each
//! matrix of the batch packs its right operand when the node runs, then
//! multiplies and dequantizes in one call; attention's mask Add and
//! Softmax, when they follow, run on that matrix next
//! ([`crate::lower::scores`]).

use std::borrow::Cow;

use ptq_ir::ops::transpose::Transpose;
use ptq_ir::patch::PatchValue;
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, ValueId, View};
use ptq_kernels::Threads;
use ptq_kernels::int8::{Dequant, Int8Kernels, PackedB};

use crate::inputs::Inputs;
use crate::lower::scores::{MaskLayout, add_then_softmax};
use crate::lower::{ActBytes, IntKernel, Lowered, as_u8, quantized_activation, relu_activation, scalar_scaling};
use crate::ops::{Kernel, Out, one};
use crate::util::{array, contiguous, sole_reader};
use crate::work::Cost;

/// The integer step for MatMul `id`, whose operands are the outputs of the
/// DequantizeLinear nodes `adq` and `bdq`, when both are quantized
/// activations ([`match_act_matmul`]). It reads the quantized tensors, or
/// the untransposed right one ([`transposed_operand`]), and takes over
/// attention's scaling by a constant and its mask Add and Softmax
/// ([`crate::lower::scores`]).
pub(crate) fn lower(
    view: &View<'_>,
    id: NodeId,
    (adq, bdq): (NodeId, NodeId),
    relu: bool,
    kernels: &'static Int8Kernels,
) -> Option<Lowered> {
    let g = view.graph;
    let (mut k, mut xs) = match_act_matmul(g, (adq, bdq), relu, kernels)?;
    let (producers, consumers) = (view.producers(), view.consumers());
    let mm_out = g.node(id)?.outputs.first().copied().flatten();
    let mut p = Patch::new();
    if let Some((t, input)) = transposed_operand(g, producers, consumers, (id, bdq, xs[1])) {
        p.remove_node(t);
        xs[1] = input;
        k.b_transposed = true;
    }
    // Attention divides the scores by √d right after Q·Kᵀ: the factor
    // joins the dequantize scale.
    let mut out = mm_out;
    if !k.relu
        && let Some(v) = mm_out
        && let Some((div, div_out, factor)) = scalar_scaling(g, consumers, v)
    {
        k.sa *= factor;
        p.remove_node(div);
        out = Some(div_out);
    }
    // Then its mask Add and Softmax run on each matrix of scores.
    let mut inputs: Vec<Option<PatchValue>> = xs.iter().map(|&v| Some(v.into())).collect();
    if !k.relu
        && let Some(v) = out
        && let Some(tail) = crate::lower::scores::match_scores_tail(g, consumers, v)
    {
        for r in tail.removed {
            p.remove_node(r);
        }
        k.softmax = true;
        k.masked = tail.mask.is_some();
        inputs.extend(tail.mask.map(|m| Some(m.into())));
        out = Some(tail.output);
    }
    if let Some(v) = out.filter(|&v| Some(v) != mm_out) {
        p.set_output(id, 0, v);
    }
    p.set_inputs(id, inputs);
    Some(Lowered { patch: p, kernel: IntKernel::Other(Box::new(k)), bypassed: vec![adq, bdq] })
}

/// The kernel for MatMul node `mm` reading the DequantizeLinear outputs
/// `adq` and `bdq`, if they fit (see the module docs): the kernel and the
/// two quantized values it reads instead.
pub(crate) fn match_act_matmul(
    g: &Graph,
    (adq, bdq): (NodeId, NodeId),
    relu: bool,
    kernels: &'static Int8Kernels,
) -> Option<(IntActMatMul, [ValueId; 2])> {
    let (xa, a, sa) = quantized_activation(g, adq)?;
    let (xb, b, sb) = quantized_activation(g, bdq)?;
    if !matches!(b, ActBytes::I8 | ActBytes::U8(128)) || g.constant(xa).is_some() || g.constant(xb).is_some() {
        return None;
    }
    // Matrices, not vectors, on both sides: a rank the facts vouch for.
    let rank = |v: ValueId| g.value(v).fact.shape.as_ref().map(Vec::len);
    (rank(xa)? >= 2 && rank(xb)? >= 2).then_some(())?;
    Some((IntActMatMul { a, sa, b, sb, relu, b_transposed: false, masked: false, softmax: false, kernels }, [xa, xb]))
}

/// Attention's `Kᵀ` is a Transpose of the last two axes right before the
/// right operand's DequantizeLinear: when the Transpose output `xb` is read
/// by that DequantizeLinear alone, whose output only MatMul `mm` reads, the
/// kernel can pack B from the untransposed tensor (where each column of B
/// is already contiguous). Returns the Transpose node and its input.
pub(crate) fn transposed_operand(
    g: &Graph,
    producers: &Producers,
    consumers: &Consumers,
    (mm, bdq, xb): (NodeId, NodeId, ValueId),
) -> Option<(NodeId, ValueId)> {
    let bdq_out = g.node(bdq)?.outputs.first().copied().flatten()?;
    (sole_reader(g, consumers, xb)? == (bdq, 0) && sole_reader(g, consumers, bdq_out)? == (mm, 1)).then_some(())?;
    let &(t, 0) = producers.get(&xb)? else { return None };
    let node = g.node(t)?;
    let Op::Transpose(Transpose { perm }) = &node.op else { return None };
    let input = node.inputs.first().copied().flatten()?;
    let rank = g.value(input).fact.shape.as_ref()?.len();
    let swap: Vec<i64> = (0..rank as i64 - 2).chain([rank as i64 - 1, rank as i64 - 2]).collect();
    let swaps_last_two = match perm {
        Some(p) => *p == swap,
        None => rank == 2,
    };
    (rank >= 2 && swaps_last_two).then_some((t, input))
}

/// The kernel.
pub struct IntActMatMul {
    pub a: ActBytes,
    pub sa: f32,
    /// `I8` or `U8(128)`.
    pub b: ActBytes,
    pub sb: f32,
    pub relu: bool,
    /// The right operand arrives as `[.., n, k]` (see [`transposed_operand`]).
    pub b_transposed: bool,
    /// A third input, an f32 mask, is added to the dequantized product
    /// (see [`crate::lower::scores`]); only together with `softmax`.
    pub masked: bool,
    /// Then each row of the result is replaced by its softmax.
    pub softmax: bool,
    pub kernels: &'static Int8Kernels,
}

impl std::fmt::Debug for IntActMatMul {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntActMatMul")
            .field("a", &self.a)
            .field("sa", &self.sa)
            .field("b", &self.b)
            .field("sb", &self.sb)
            .field("relu", &self.relu)
            .field("b_transposed", &self.b_transposed)
            .field("masked", &self.masked)
            .field("softmax", &self.softmax)
            .field("tier", &self.kernels.tier())
            .finish()
    }
}

/// The bytes of a symmetric u8 (zero point 128) or i8 tensor as i8.
fn as_i8(t: &Tensor, q: ActBytes) -> Result<Cow<'_, [i8]>, String> {
    match (t, q) {
        (Tensor::U8(a), ActBytes::U8(128)) => Ok(contiguous(a).iter().map(|&v| (v ^ 0x80) as i8).collect()),
        (Tensor::I8(a), ActBytes::I8) => Ok(contiguous(a)),
        (t, q) => Err(format!("integer path: a {} right operand where symmetric {q:?} was expected", t.dtype())),
    }
}

/// The batch shape, and the A and B matrix of each output matrix.
type Batches = (Vec<usize>, Vec<(usize, usize)>);

/// Batch shape of `a [.., m, k]` and `b [.., k, n]` broadcast together, and
/// for each output matrix the index of its A and B matrices.
pub(crate) fn batches(a: &[usize], b: &[usize]) -> Result<Batches, String> {
    let (ba, bb) = (&a[..a.len() - 2], &b[..b.len() - 2]);
    let rank = ba.len().max(bb.len());
    let pad = |s: &[usize]| -> Vec<usize> { std::iter::repeat_n(1, rank - s.len()).chain(s.iter().copied()).collect() };
    let (pa, pb) = (pad(ba), pad(bb));
    let mut out = Vec::with_capacity(rank);
    for (&x, &y) in pa.iter().zip(&pb) {
        out.push(match (x, y) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("MatMul batch dims {ba:?} and {bb:?} do not broadcast")),
        });
    }
    let total: usize = out.iter().product();
    let mut pairs = Vec::with_capacity(total);
    let mut idx = vec![0usize; rank];
    for _ in 0..total {
        let (mut ia, mut ib) = (0, 0);
        for d in 0..rank {
            ia = ia * pa[d] + if pa[d] == 1 { 0 } else { idx[d] };
            ib = ib * pb[d] + if pb[d] == 1 { 0 } else { idx[d] };
        }
        pairs.push((ia, ib));
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    Ok((out, pairs))
}

impl IntActMatMul {
    /// Packs batch matrix `ib` of the right operand, `k × n` (stored
    /// `n × k` when `b_transposed`).
    fn pack(&self, tb: &Tensor, ib: usize, (k, n): (usize, usize)) -> Result<PackedB, String> {
        if !self.b_transposed {
            let b = as_i8(tb, self.b)?;
            return Ok(PackedB::new(&b[ib * k * n..][..k * n], k, n));
        }
        match (tb, self.b) {
            (Tensor::U8(t), ActBytes::U8(128)) => {
                Ok(PackedB::from_transposed(&contiguous(t)[ib * k * n..][..k * n], k, n, |v| (v ^ 0x80) as i8))
            }
            (Tensor::I8(t), ActBytes::I8) => {
                Ok(PackedB::from_transposed(&contiguous(t)[ib * k * n..][..k * n], k, n, |v| v))
            }
            (t, q) => Err(format!("integer path: a {} right operand where symmetric {q:?} was expected", t.dtype())),
        }
    }
}

impl Kernel for IntActMatMul {
    /// A batched MatMul's `batch·m·k·n` and `batch·m·n`, B read transposed
    /// where the step absorbed a transpose.
    fn cost(&self, ins: &Inputs) -> Option<Cost> {
        let (sa, mut sb) = (ins.opt(0)?.shape().to_vec(), ins.opt(1)?.shape().to_vec());
        if sa.len() < 2 || sb.len() < 2 {
            return None;
        }
        if self.b_transposed {
            let r = sb.len();
            sb.swap(r - 2, r - 1);
        }
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let batch = |s: &[usize]| s[..s.len() - 2].iter().fold(1usize, |p, &d| p.saturating_mul(d));
        let out = batch(&sa).max(batch(&sb)).saturating_mul(m).saturating_mul(n);
        Some(Cost { work: out.saturating_mul(k), output_elements: out })
    }

    fn run(&self, ins: &mut Inputs, _n: usize) -> Out {
        let (ta, tb) = (ins.get(0)?, ins.get(1)?);
        let (sa, mut sb) = (ta.shape().to_vec(), tb.shape().to_vec());
        if self.b_transposed && sb.len() >= 2 {
            let r = sb.len();
            sb.swap(r - 2, r - 1);
        }
        if sa.len() < 2 || sb.len() < 2 || sa[sa.len() - 1] != sb[sb.len() - 2] {
            return Err(format!("integer path: MatMul of shapes {sa:?} and {sb:?}"));
        }
        let (m, k, n) = (sa[sa.len() - 2], sa[sa.len() - 1], sb[sb.len() - 1]);
        let (batch, pairs) = batches(&sa, &sb)?;
        let (a, za) = as_u8(ta, self.a)?;
        let scale_b = vec![self.sb; n];
        let d = Dequant { scale_a: self.sa, scale_b: &scale_b, bias: None, act: relu_activation(self.relu) };
        let mut shape = batch;
        shape.extend([m, n]);
        let mask = if self.masked {
            match ins.get(2)? {
                Tensor::F32(t) => Some(t),
                t => return Err(format!("integer path: a {} mask where f32 was expected", t.dtype())),
            }
        } else {
            None
        };
        // A mask that broadcasts into the scores is added matrix by matrix,
        // with the softmax; one that enlarges them, after the product.
        let layout = mask.map(|t| MaskLayout::new(t.shape(), &shape));
        let in_place = !matches!(layout, Some(None));
        let mask_values = mask.filter(|_| in_place).map(contiguous);
        let mut y = Vec::with_capacity(pairs.len() * m * n);
        for (i, &(ia, ib)) in pairs.iter().enumerate() {
            let packed = self.pack(tb, ib, (k, n))?;
            let start = y.len();
            self.kernels.linear_f32_extend(&a[ia * m * k..][..m * k], m, za, &packed, &d, &mut y, Threads::Single);
            if in_place {
                let block = &mut y[start..];
                if let (Some(Some(l)), Some(values)) = (&layout, &mask_values) {
                    l.add(i, block, n, values);
                }
                if self.softmax && n > 0 {
                    ptq_kernels::softmax_rows(block, n);
                }
            }
        }
        let y = array(&shape, y)?;
        match mask {
            Some(mask) if !in_place => one(Tensor::F32(add_then_softmax(&y, mask)?)),
            _ => one(Tensor::F32(y)),
        }
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::dequantize::DequantizeLinear;
    use ptq_ir::ops::matmul::MatMul;
    use ptq_ir::ops::quantize::QuantizeLinear;
    use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};
    use ptq_ir::ops::transpose::Transpose;
    use ptq_ir::{ConstSource, Dim, Fact, Graph, Node, Op, Tensor, Value, ValueId};

    use super::batches;
    use crate::{ExecOptions, Plan};

    #[test]
    fn batch_dims_broadcast_like_numpy() {
        let (shape, pairs) = batches(&[2, 1, 3, 4], &[4, 5]).unwrap();
        assert_eq!(shape, [2, 1]);
        assert_eq!(pairs, [(0, 0), (1, 0)]);
        let (shape, pairs) = batches(&[2, 1, 3, 4], &[1, 3, 4, 5]).unwrap();
        assert_eq!(shape, [2, 3]);
        assert_eq!(pairs, [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]);
        assert!(batches(&[2, 3, 4], &[3, 4, 5]).is_err());
    }

    fn fact(shape: &[usize]) -> Fact {
        Fact { dtype: None, shape: Some(shape.iter().map(|&d| Dim::Known(d as u64)).collect()) }
    }

    /// `input → QuantizeLinear(s, z) → DequantizeLinear`, z u8 or i8.
    fn quantized(g: &mut Graph, name: &str, shape: &[usize], s: f32, z: Tensor) -> ValueId {
        let x = g.add_value(Value { name: name.into(), fact: fact(shape), ..Value::default() });
        g.inputs_mut().push(x);
        requantized(g, x, name, shape, s, z)
    }

    /// `x → QuantizeLinear(s, z) → DequantizeLinear`.
    fn requantized(g: &mut Graph, x: ValueId, name: &str, shape: &[usize], s: f32, z: Tensor) -> ValueId {
        let sc = g.add_constant(format!("{name}_s"), Tensor::scalar_f32(s), ConstSource::Stored);
        let zp = g.add_constant(format!("{name}_z"), z, ConstSource::Stored);
        let q = g.add_value(Value { name: format!("{name}_q"), fact: fact(shape), ..Value::default() });
        let dq = g.add_value(Value { name: format!("{name}_dq"), fact: fact(shape), ..Value::default() });
        g.add_node(node(&format!("{name}_quant"), Op::QuantizeLinear(QuantizeLinear::default()), vec![x, sc, zp], q));
        let dq_op = Op::DequantizeLinear(DequantizeLinear::default());
        g.add_node(node(&format!("{name}_dequant"), dq_op, vec![q, sc, zp], dq));
        dq
    }

    fn node(name: &str, op: Op, inputs: Vec<ValueId>, out: ValueId) -> Node {
        Node {
            name: name.into(),
            op,
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        }
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 1000)
            .map(|v| v as f32 / 250.0 - 2.0)
            .collect()
    }

    /// Attention-like `[2, 3, 5, 16] · [1, 3, 16, 7]` (the batch broadcast)
    /// with ptq's zero points (u8, and u8 128 on the right) and NNCF's
    /// (i8 0 on both sides): the MatMul runs on the int8 kernels and agrees
    /// with the fake-quant path up to f32 summation rounding. A right
    /// operand with another zero point stays in f32.
    #[test]
    fn quantized_activation_products_run_in_integers() {
        let u8z = |z: u8| Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[]), vec![z]).unwrap());
        let i8z = || Tensor::I8(ArrayD::from_shape_vec(IxDyn(&[]), vec![0]).unwrap());
        for (za, zb, integer) in [(u8z(120), u8z(128), true), (i8z(), i8z(), true), (u8z(3), u8z(100), false)] {
            check_product(za.clone(), zb.clone(), integer, None, false);
            check_product(za, zb, integer, None, true);
        }
    }

    /// The scaling attention applies to its scores — a Div by √d, or a Mul
    /// by its inverse — joins the dequantize scale; a subtraction does not.
    #[test]
    fn a_scalar_scaling_of_the_product_joins_its_scale() {
        let u8z = |z: u8| Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[]), vec![z]).unwrap());
        for (kind, product_first, fused) in
            [(BinaryKind::Div, true, true), (BinaryKind::Mul, false, true), (BinaryKind::Sub, true, false)]
        {
            check_product(u8z(120), u8z(128), true, Some((kind, product_first, fused)), false);
        }
    }

    /// Attention's `softmax(Q·Kᵀ / 8 + mask)`: the mask Add and the
    /// Softmax run inside the integer product, for masks that broadcast
    /// into the scores (on either side of the Add, of rank 2 to 4) and for
    /// one that enlarges them; without a mask too. A Softmax over another
    /// axis stays a node. The probabilities agree with the fake-quant path.
    #[test]
    fn attention_masks_and_softmax_run_in_the_product() {
        // (left operand's shape, mask shape, mask first in the Add, Softmax axis, fused)
        type Case = (&'static [usize], Option<&'static [usize]>, bool, i64, bool);
        let cases: [Case; 7] = [
            (&[2, 3, 5, 16], None, false, -1, true),
            (&[2, 3, 5, 16], Some(&[2, 1, 1, 7]), false, -1, true),
            (&[2, 3, 5, 16], Some(&[2, 1, 1, 7]), true, 3, true),
            (&[2, 3, 5, 16], Some(&[5, 7]), false, -1, true),
            (&[2, 3, 5, 16], Some(&[2, 3, 5, 7]), true, -1, true),
            (&[1, 3, 5, 16], Some(&[2, 1, 1, 7]), false, -1, true),
            (&[2, 3, 5, 16], Some(&[2, 1, 1, 7]), false, 2, false),
        ];
        for (sa, mask, mask_first, axis, fused) in cases {
            let sb = [1, 3, 16, 7];
            let mut g = Graph::default();
            let u8z = |z: u8| Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[]), vec![z]).unwrap());
            let a = quantized(&mut g, "a", sa, 0.05, u8z(120));
            let b = quantized(&mut g, "b", &sb, 0.04, u8z(128));
            let scores = [sa[0], 3, 5, 7];
            let y = g.add_value(Value { name: "y".into(), fact: fact(&scores), ..Value::default() });
            g.add_node(node("mm", Op::MatMul(MatMul), vec![a, b], y));
            let c = g.add_constant("c", Tensor::scalar_f32(8.0), ConstSource::Stored);
            let mut z = g.add_value(Value { name: "z".into(), fact: fact(&scores), ..Value::default() });
            g.add_node(node("scale", Op::Binary(Binary { kind: BinaryKind::Div }), vec![y, c], z));
            let mut inputs = vec![
                (
                    "a".to_string(),
                    Tensor::F32(ArrayD::from_shape_vec(IxDyn(sa), values(sa.iter().product(), 3)).unwrap()),
                ),
                ("b".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&sb), values(336, 5)).unwrap())),
            ];
            if let Some(ms) = mask {
                let m = g.add_value(Value { name: "mask".into(), fact: fact(ms), ..Value::default() });
                g.inputs_mut().push(m);
                let len = ms.iter().product();
                let vals: Vec<f32> =
                    values(len, 9).iter().map(|v| if *v > 1.0 { -10_000.0 } else { v * 0.5 }).collect();
                inputs.push(("mask".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(ms), vals).unwrap())));
                let out_shape: Vec<usize> = if sa[0] == 1 { vec![2, 3, 5, 7] } else { scores.to_vec() };
                let sum = g.add_value(Value { name: "sum".into(), fact: fact(&out_shape), ..Value::default() });
                let ins = if mask_first { vec![m, z] } else { vec![z, m] };
                g.add_node(node("mask", Op::Binary(Binary { kind: BinaryKind::Add }), ins, sum));
                z = sum;
            }
            let p = g.add_value(Value { name: "p".into(), ..Value::default() });
            let sm = Softmax { kind: SoftmaxKind::Softmax, axis, coerce_2d: false };
            g.add_node(node("softmax", Op::Softmax(sm), vec![z], p));
            g.outputs_mut().push(p);
            let run = |int: bool| {
                let plan =
                    Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer: int, ..Default::default() })
                        .unwrap();
                let out = plan.run(inputs.clone()).unwrap();
                let softmaxes = plan.schedule().filter(|(_, op)| matches!(op, Op::Softmax(_))).count();
                (out[0].1.clone(), softmaxes)
            };
            let ((pf, _), (pi, softmaxes)) = (run(false), run(true));
            let what = format!("a {sa:?}, mask {mask:?}, axis {axis}");
            assert_eq!(softmaxes, usize::from(!fused), "{what}");
            assert_eq!(pi.shape(), pf.shape(), "{what}");
            for (x, y) in pi.to_f64_vec().iter().zip(pf.to_f64_vec()) {
                assert!((x - y).abs() <= 2e-5, "{what}: integer {x}, f32 {y}");
            }
        }
    }

    /// Builds `a · b` (then the scaling `(kind, product first, fused)`),
    /// runs both paths and compares them. With `transposed`, b is `Kᵀ` as
    /// attention exports write it — a `[1, 3, 7, 16]` input quantized,
    /// transposed and quantized again with the same parameters — and the
    /// integer path packs it without transposing.
    fn check_product(
        za: Tensor,
        zb: Tensor,
        integer: bool,
        scaling: Option<(BinaryKind, bool, bool)>,
        transposed: bool,
    ) {
        let sa = [2, 3, 5, 16];
        let sb = if transposed { [1, 3, 7, 16] } else { [1, 3, 16, 7] };
        let mut g = Graph::default();
        let a = quantized(&mut g, "a", &sa, 0.02, za);
        let zb_name = format!("{zb:?}");
        let mut b = quantized(&mut g, "b", &sb, 0.015, zb.clone());
        if transposed {
            let t = g.add_value(Value { name: "bt".into(), fact: fact(&[1, 3, 16, 7]), ..Value::default() });
            g.add_node(node("transpose", Op::Transpose(Transpose { perm: Some(vec![0, 1, 3, 2]) }), vec![b], t));
            b = requantized(&mut g, t, "bt", &[1, 3, 16, 7], 0.015, zb);
        }
        let mut y = g.add_value(Value { name: "y".into(), ..Value::default() });
        g.add_node(node("mm", Op::MatMul(MatMul), vec![a, b], y));
        if let Some((kind, product_first, _)) = scaling {
            let c = g.add_constant("c", Tensor::scalar_f32(8.0), ConstSource::Stored);
            let z = g.add_value(Value { name: "z".into(), ..Value::default() });
            let ins = if product_first { vec![y, c] } else { vec![c, y] };
            g.add_node(node("scale", Op::Binary(Binary { kind }), ins, z));
            y = z;
        }
        g.outputs_mut().push(y);
        let inputs = vec![
            ("a".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&sa), values(480, 1)).unwrap())),
            ("b".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&sb), values(336, 7)).unwrap())),
        ];
        let run = |int: bool| {
            let plan = Plan::new(&g, &ExecOptions { threads: 1, optimize: false, integer: int, ..Default::default() })
                .unwrap();
            let out = plan.run(inputs.clone()).unwrap();
            let count = |f: fn(&Op) -> bool| plan.schedule().filter(|(_, op)| f(op)).count();
            let counts = (count(|op| matches!(op, Op::Binary(_))), count(|op| matches!(op, Op::Transpose(_))));
            (out[0].1.clone(), plan.integer_nodes().to_vec(), counts)
        };
        let ((yf, _, _), (yi, nodes, (binaries, transposes))) = (run(false), run(true));
        assert_eq!(nodes.len(), usize::from(integer), "{nodes:?}");
        assert_eq!(transposes, usize::from(transposed && !integer), "{zb_name} transposed {transposed}");
        let fused = scaling.is_some_and(|(_, _, fused)| fused);
        assert_eq!(binaries, usize::from(scaling.is_some() && !fused), "{scaling:?}");
        assert_eq!(yi.shape(), [2, 3, 5, 7]);
        let (yf, yi) = (yf.to_f64_vec(), yi.to_f64_vec());
        let max = yf.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(max > 0.01);
        for (a, b) in yi.iter().zip(&yf) {
            assert!((a - b).abs() <= 1e-5 * max, "{scaling:?}: integer {a}, f32 {b}");
        }
    }
}
