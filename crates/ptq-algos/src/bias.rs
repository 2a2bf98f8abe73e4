//! Layers whose bias the bias corrections shift
//! ([`crate::fast_bias_correction`], [`crate::bias_correction`]): a Conv,
//! ConvTranspose, Gemm with its own constant bias, or a Conv / MatMul whose
//! sole reader adds a constant bias along the channel axis.

use std::collections::HashMap;

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::{Graph, NodeId, Op, Tensor, ValueId};

use crate::calibrate::Watch;
use crate::spec::QuantSpec;
use crate::structure::Links;

/// A bias held by a following Add: (the Add, the bias, its reader slot, the
/// Add's output).
type BiasAdd = (Option<NodeId>, ValueId, (NodeId, usize), ValueId);

/// Corrected bias values by (reader node, input slot).
pub type NewBiases = HashMap<(NodeId, usize), Vec<f32>>;

/// A layer whose bias can be corrected.
#[derive(Clone, Debug, PartialEq)]
pub struct Biased {
    /// The Conv / ConvTranspose / Gemm / MatMul node.
    pub node: NodeId,
    /// The Add holding the bias of a MatMul, if that is where it lives.
    pub add: Option<NodeId>,
    /// The constant bias value and the input slot reading it.
    pub bias: ValueId,
    pub bias_reader: (NodeId, usize),
    /// Activation input, its channel axis; the output with the bias added,
    /// its channel axis.
    pub input: ValueId,
    pub in_axis: usize,
    pub output: ValueId,
    pub out_axis: usize,
}

/// The outcome for one layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Correction {
    pub node: String,
    /// max |shift / bias|, infinite when the bias has a zero.
    pub magnitude: f32,
    pub applied: bool,
}

fn rank(g: &Graph, v: ValueId) -> Option<usize> {
    g.value(v).fact.rank()
}

/// The values of an f32 tensor.
pub fn f32_vec(t: &Tensor) -> Option<Vec<f32>> {
    match t {
        Tensor::F32(a) => Some(a.iter().copied().collect()),
        _ => None,
    }
}

/// Layers with a constant f32 bias among `weighted` (nodes with a quantized
/// weight).
pub fn candidates(g: &Graph, l: &Links<'_>, weighted: &[NodeId]) -> Vec<Biased> {
    let mut out = vec![];
    for &id in weighted {
        let Some(n) = g.node(id) else { continue };
        let (Some(x), Some(y)) = (n.inputs.first().copied().flatten(), n.outputs.first().copied().flatten()) else {
            continue;
        };
        let Some(xr) = rank(g, x) else { continue };
        // A following Add of a constant holds the bias when the layer has
        // none of its own (OpenVINO IR writes every bias that way).
        let bias_add = |axis: usize| -> Option<BiasAdd> {
            let (add, slot) = l.sole_reader(y)?;
            let an = g.node(add)?;
            let Op::Binary(Binary { kind: BinaryKind::Add }) = an.op else { return None };
            let b = an.inputs.get(1 - slot).copied().flatten()?;
            let shape = g.constant(b)?.shape().to_vec();
            // Only the channel axis (counted from the end) may exceed 1.
            let yr = rank(g, y)?;
            let ok = shape.len() <= yr && shape.iter().rev().enumerate().all(|(i, &d)| d == 1 || yr - 1 - i == axis);
            let z = an.outputs.first().copied().flatten()?;
            ok.then_some((Some(add), b, (add, 1 - slot), z))
        };
        let found = match &n.op {
            Op::Conv(_) | Op::ConvTranspose(_) if xr >= 3 => match n.inputs.get(2).copied().flatten() {
                Some(b) => Some((None, b, (id, 2), 1, y, 1)),
                None => bias_add(1).map(|(a, b, r, z)| (a, b, r, 1, z, 1)),
            },
            Op::Gemm(gm) if xr == 2 && !gm.trans_a && gm.beta == 1.0 => {
                n.inputs.get(2).copied().flatten().map(|b| (None, b, (id, 2), 1, y, 1))
            }
            Op::MatMul(_) if xr >= 2 => bias_add(rank(g, y).unwrap_or(xr) - 1).map(|(a, b, r, z)| {
                let yr = rank(g, z).unwrap_or(xr);
                (a, b, r, xr - 1, z, yr - 1)
            }),
            _ => None,
        };
        let Some((add, b, reader, in_axis, output, out_axis)) = found else { continue };
        let ok_bias = g.constant(b).and_then(f32_vec).is_some_and(|v| !v.is_empty());
        if ok_bias && rank(g, output).is_some() {
            out.push(Biased { node: id, add, bias: b, bias_reader: reader, input: x, in_axis, output, out_axis });
        }
    }
    out
}

/// The per-channel statistics FastBiasCorrection needs: input means.
pub fn watches(c: &[Biased]) -> Vec<Watch> {
    c.iter().map(|b| Watch::per_channel(b.input, b.in_axis)).collect()
}

/// The weight as the quantized model sees it.
pub fn fake_weight(w: &Tensor, spec: &QuantSpec) -> Option<Tensor> {
    let Tensor::F32(a) = w else { return None };
    let a = spec.fake_all(a);
    Some(Tensor::F32(a))
}
