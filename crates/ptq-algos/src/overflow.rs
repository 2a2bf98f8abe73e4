//! The automatic overflow fix ([`OverflowFix::Auto`](crate::OverflowFix)):
//! 7-bit weights exactly on the layers whose int8 product could saturate on
//! a CPU without VNNI.
//!
//! On x86 without VNNI, onnxruntime's and OpenVINO's u8×s8 kernels add each
//! pair of adjacent products with `vpmaddubsw`, which saturates at ±32 767.
//! Signed activations are shifted to u8 first (q + 128). Whether a layer can
//! saturate depends on its weights and on the u8 values its input really
//! takes, which differ per channel: a channel whose calibrated range is a
//! small part of the tensor's range only reaches small u8 values.
//!
//! Depthwise convolutions (one input and one output channel per group) are
//! exempt: both runtimes run them in kernels of their own that widen the
//! u8 values to 16 bits and multiply exactly, never pairing products.
//!
//! For each other quantized Conv, MatMul and Gemm, this module bounds every pair
//! of adjacent products by the channels' calibrated ranges (each widened
//! by [`HEADROOM`] for inputs beyond the calibration set, within the
//! quantizer's range). The runtimes pair depths in their own orders, so
//! both orders a convolution can have are checked: channels inside kernel
//! positions (channels-last im2col, blocked layouts) and kernel positions
//! inside channels (NCHW im2col), with every adjacent pair, at odd and even
//! offsets. A layer with one pair that could leave i16, under any activation
//! range estimator tried, gets 7-bit weights; the others keep 8 bits.

use std::collections::HashMap;

use ptq_ir::{Graph, NodeId, Op, Tensor, ValueId};
use rayon::prelude::*;

use crate::algorithm::Candidate;
use crate::calibrate::{Collected, Watch};
use crate::placement::{ActQuantizer, WeightQuantizer};
use crate::spec::{self, QType, QuantSpec};
use crate::weight_range::WeightRange;

/// Each end of a channel's calibrated range moves outwards by this factor
/// of its magnitude (−2 → −2.5, 0.4 → 0.3 for a lower end) before it is
/// bounded.
pub const HEADROOM: f32 = 1.25;

/// A quantized layer whose integer product the fix checks: its data input
/// and that input's channel axis.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layer {
    node: NodeId,
    input: ValueId,
    axis: usize,
}

/// The layer `id` reading weight `w` in slot `slot`, if it is a Conv (slot
/// 1), a MatMul with the weight second, or a Gemm without `trans_a`.
fn layer(g: &Graph, id: NodeId, slot: usize) -> Option<Layer> {
    let n = g.node(id)?;
    let input = n.inputs.first().copied().flatten()?;
    let rank = g.value(input).fact.rank()?;
    let axis = match &n.op {
        Op::Conv(_) if slot == 1 && rank >= 3 => 1,
        Op::MatMul(_) if slot == 1 && rank >= 2 => rank - 1,
        Op::Gemm(gm) if slot == 1 && rank == 2 && !gm.trans_a => 1,
        _ => return None,
    };
    Some(Layer { node: id, input, axis })
}

/// The per-channel statistics the check reads: the data input of every
/// layer whose weight does not have 7 bits already.
pub fn watches(g: &Graph, weights: &[WeightQuantizer]) -> Vec<Watch> {
    let mut out: Vec<Watch> = vec![];
    for w in weights.iter().filter(|w| !w.half_range) {
        for &(id, slot) in &w.readers {
            if let Some(l) = layer(g, id, slot) {
                let watch = Watch::per_channel(l.input, l.axis);
                if !out.contains(&watch) {
                    out.push(watch);
                }
            }
        }
    }
    out
}

/// The activation quantizer whose u8 values `node` reads at input 0: read
/// there, or before a chain of pools and layout ops (which pass u8 values
/// on unchanged in the runtimes' integer graphs), with whether it was found
/// through such a chain.
fn quantizer_of<'a>(
    g: &Graph,
    producers: &HashMap<ValueId, (NodeId, usize)>,
    acts: &'a [(ActQuantizer, QuantSpec)],
    node: NodeId,
) -> Option<(&'a QuantSpec, bool)> {
    let mut reader = node;
    for step in 0..16 {
        if let Some((_, spec)) = acts.iter().find(|(q, _)| q.readers.contains(&(reader, 0))) {
            return Some((spec, step > 0));
        }
        let v = g.node(reader)?.inputs.first().copied().flatten()?;
        let &(p, _) = producers.get(&v)?;
        let passes = matches!(
            g.node(p)?.op,
            Op::Pool(_)
                | Op::GlobalPool(_)
                | Op::Reshape(_)
                | Op::Flatten(_)
                | Op::Transpose(_)
                | Op::Squeeze(_)
                | Op::Unsqueeze(_)
        );
        if !passes {
            return None;
        }
        reader = p;
    }
    None
}

/// u8 bounds (as a `vpmaddubsw` kernel sees them) of each input channel:
/// the channel's calibrated range widened by [`HEADROOM`], quantized by
/// `spec`, signed types shifted by 128.
fn u8_bounds(spec: &QuantSpec, min: &[f32], max: &[f32]) -> Vec<(i32, i32)> {
    let shift = if spec.qtype == QType::I8 { 128 } else { 0 };
    if spec.scale.len() > 1 && spec.scale.len() != min.len() {
        return vec![(0, 255); min.len()];
    }
    min.iter()
        .zip(max)
        .enumerate()
        .map(|(c, (&lo, &hi))| {
            let (lo, hi) = if lo.is_finite() && hi.is_finite() { (lo, hi) } else { (f32::MIN, f32::MAX) };
            let widen = HEADROOM - 1.0;
            (spec.quantize(lo - widen * lo.abs(), c) + shift, spec.quantize(hi + widen * hi.abs(), c) + shift)
        })
        .collect()
}

/// Whether `a₁·w₁ + a₂·w₂` can leave i16 for `aᵢ` in their u8 bounds.
fn pair_saturates((w1, b1): (i32, (i32, i32)), (w2, b2): (i32, (i32, i32))) -> bool {
    let extreme = |w: i32, (lo, hi): (i32, i32), up: bool| if (w > 0) == up { w * hi } else { w * lo };
    let max = extreme(w1, b1, true) + extreme(w2, b2, true);
    let min = extreme(w1, b1, false) + extreme(w2, b2, false);
    max > i32::from(i16::MAX) || min < i32::from(i16::MIN)
}

/// Whether any adjacent pair of `seq` can saturate.
fn any_saturates(seq: &[(i32, (i32, i32))]) -> bool {
    seq.windows(2).any(|p| pair_saturates(p[0], p[1]))
}

/// Whether the layer's int8 weights `q` (its weight's shape), read against
/// the input channel bounds `bounds`, have a pair that can saturate.
fn layer_saturates(g: &Graph, l: &Layer, shape: &[usize], q: &[i32], bounds: &[(i32, i32)]) -> bool {
    let Some(n) = g.node(l.node) else { return true };
    let bound = |c: usize| bounds.get(c).copied().unwrap_or((0, 255));
    match &n.op {
        Op::Conv(conv) => {
            let (m, cg) = (shape[0], shape.get(1).copied().unwrap_or(1));
            let positions: usize = shape[2..].iter().product();
            let groups = usize::try_from(conv.group.max(1)).unwrap_or(1);
            let per_group = (m / groups).max(1);
            if cg == 1 && per_group == 1 && groups > 1 {
                // Depthwise: the runtimes' depthwise kernels widen to 16
                // bits and multiply exactly (onnxruntime's
                // MlasConvDepthwise, oneDNN's dw kernels); no pairs.
                return false;
            }
            let mut seq = Vec::with_capacity(cg * positions);
            (0..m).any(|o| {
                let first = (o / per_group) * cg;
                let w = |ci: usize, p: usize| q[(o * cg + ci) * positions + p];
                // Channels inside positions, then positions inside channels.
                seq.clear();
                seq.extend(
                    (0..positions)
                        .flat_map(|p| (0..cg).map(move |ci| (ci, p)))
                        .map(|(ci, p)| (w(ci, p), bound(first + ci))),
                );
                if any_saturates(&seq) {
                    return true;
                }
                seq.clear();
                seq.extend(
                    (0..cg)
                        .flat_map(|ci| (0..positions).map(move |p| (ci, p)))
                        .map(|(ci, p)| (w(ci, p), bound(first + ci))),
                );
                any_saturates(&seq)
            })
        }
        Op::MatMul(_) | Op::Gemm(_) => {
            let trans_b = matches!(&n.op, Op::Gemm(gm) if gm.trans_b);
            let (k, cols) = if trans_b { (shape[1], shape[0]) } else { (shape[0], shape[1]) };
            let w = |kk: usize, j: usize| if trans_b { q[j * k + kk] } else { q[kk * cols + j] };
            (0..cols).any(|j| any_saturates(&(0..k).map(|kk| (w(kk, j), bound(kk))).collect::<Vec<_>>()))
        }
        _ => true,
    }
}

/// The weights among `weights` (not yet 7-bit) that some layer reading them
/// could saturate, for the activation specs of any of `candidates`. A layer
/// without statistics or a quantizer on its input is left alone (it has no
/// integer product). A weight of an unexpected shape, or read by a
/// ConvTranspose or by a MatMul or Gemm in another form than [`layer`]
/// reads, counts as saturating; other readers (Gather) have no product. Weight ranges come from `how`, as MinMax computes them.
pub fn saturating(
    g: &Graph,
    weights: &[WeightQuantizer],
    how: WeightRange,
    candidates: &[Candidate],
    stats: &Collected,
) -> Vec<ValueId> {
    let producers = g.producers();
    // One task per weight, on the current pool; each weight is quantized
    // only once a layer needs it (not for an embedding table's Gather).
    let check = |w: &WeightQuantizer| -> Option<ValueId> {
        let Some(Tensor::F32(a)) = g.constant(w.value) else { return None };
        let shape = a.shape().to_vec();
        let q = std::cell::OnceCell::new();
        let quantized = || {
            let amax = crate::weight_range::ranges(a, w.axis, how, false);
            let axis = if amax.len() > 1 { w.axis } else { None };
            let wspec = spec::symmetric_weight(&amax, axis, false);
            wspec.quantize_all_i8(a).iter().map(|&v| i32::from(v)).collect::<Vec<i32>>()
        };
        let hit = w.readers.iter().any(|&(id, slot)| {
            let Some(l) = layer(g, id, slot) else {
                return g
                    .node(id)
                    .is_some_and(|n| matches!(n.op, Op::Conv(_) | Op::ConvTranspose(_) | Op::MatMul(_) | Op::Gemm(_)));
            };
            let ok_shape = match g.node(id).map(|n| &n.op) {
                Some(Op::Conv(_)) => shape.len() >= 3,
                _ => shape.len() == 2,
            };
            let Some(s) = stats.per_channel(l.input).filter(|s| s.samples() > 0) else { return false };
            if !ok_shape {
                return true;
            }
            candidates.iter().map(|c| &c.acts).any(|acts| {
                quantizer_of(g, &producers, acts, id).is_some_and(|(spec, through)| {
                    // A per-channel quantizer seen through a layout op may
                    // have its channels elsewhere: bound by the full range.
                    let bounds = if through && spec.scale.len() > 1 {
                        vec![(0, 255); s.min().len()]
                    } else {
                        u8_bounds(spec, s.min(), s.max())
                    };
                    layer_saturates(g, &l, &shape, q.get_or_init(quantized), &bounds)
                })
            })
        });
        hit.then_some(w.value)
    };
    weights.par_iter().filter(|w| !w.half_range).filter_map(check).collect()
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::matmul::MatMul;
    use ptq_ir::{ConstSource, Tensor};

    use super::*;
    use crate::options::{OverflowFix, QuantizeOptions};
    use crate::testgraph::G;

    #[test]
    fn pairs_saturate_only_beyond_i16() {
        let full = (0, 255);
        assert!(pair_saturates((127, full), (2, full)));
        assert!(!pair_saturates((64, full), (64, full)));
        assert!(!pair_saturates((127, full), (-127, full)));
        assert!(pair_saturates((-127, full), (-2, full)));
        // Small u8 values on one side keep the pair inside i16.
        assert!(!pair_saturates((127, (0, 129)), (127, (0, 129))));
        assert!(pair_saturates((127, (0, 130)), (127, (0, 129))));
        assert!(!pair_saturates((127, full), (127, (0, 2))));
    }

    /// x[1, 8] · W[8, 4] with W all ones (every int8 weight 127), on items
    /// whose channels span `ranges`.
    fn seven_bit_weights(ranges: [f32; 8], fix: OverflowFix) -> Vec<String> {
        let mut b = G::default();
        let x = b.input("x", &[1, 8]);
        let w = b.g.add_constant(
            "w",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[8, 4]), vec![1.0; 32]).unwrap()),
            ConstSource::Stored,
        );
        let y = b.node("mm", MatMul, &[x, w]);
        b.output(y);
        let items: Vec<_> = (0..8)
            .map(|k| {
                let v: Vec<f32> = ranges.iter().enumerate().map(|(c, r)| r * ((k * 3 + c) % 8) as f32 / 7.0).collect();
                Ok(vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 8]), v).unwrap()))])
            })
            .collect();
        let opts = QuantizeOptions { overflow_fix: fix, ..QuantizeOptions::default() };
        let q = crate::quantize_graph(&b.g, &mut items.into_iter(), &opts, &mut |_| {}).unwrap();
        q.report.seven_bit_weights
    }

    #[test]
    fn only_layers_whose_inputs_can_saturate_get_seven_bits() {
        // Every channel reaches the top of the u8 range: 2·255·127 > 32 767.
        assert_eq!(seven_bit_weights([1.0; 8], OverflowFix::Auto), ["w"]);
        // One channel sets the range and the others stay near zero, so no
        // pair can leave i16 and the weights keep 8 bits.
        let outlier = [8.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01];
        assert!(seven_bit_weights(outlier, OverflowFix::Auto).is_empty());
        // Two outlier channels side by side can.
        let two = [8.0, 8.0, 0.01, 0.01, 0.01, 0.01, 0.01, 0.01];
        assert_eq!(seven_bit_weights(two, OverflowFix::Auto), ["w"]);
        assert!(seven_bit_weights([1.0; 8], OverflowFix::Disable).is_empty());
        assert_eq!(seven_bit_weights(outlier, OverflowFix::Enable), ["w"]);
    }

    /// conv4 reads a MaxPool whose input carries the quantizer: its u8
    /// values are that quantizer's, so it is checked too.
    #[test]
    fn a_layer_behind_a_max_pool_is_checked_against_the_quantizer_before_it() {
        let (g, items) = crate::testgraph::conv_chain();
        let opts = QuantizeOptions { overflow_fix: OverflowFix::Auto, ..QuantizeOptions::default() };
        let q = crate::quantize_graph(&g, &mut items.into_iter().map(Ok), &opts, &mut |_| {}).unwrap();
        let mut got = q.report.seven_bit_weights.clone();
        got.sort();
        assert_eq!(got, ["w1", "w2", "w3", "w4"]);
    }
}
