//! ChannelAlignment (NNCF `channel_alignment/algorithm.py`, opt-in): for a
//! convolution whose output only a second convolution reads, with nothing
//! in between, the channels of that intermediate tensor are centred and
//! brought to one range, so its per-tensor quantizer wastes fewer levels.
//!
//! For a channel `c` of the intermediate tensor `y` with calibrated range
//! `[lo, hi]`, its centre `m = (lo + hi) / 2` and half-width `r`:
//!
//! ```text
//! s[c]  = clip(t[c] / median(t), 1e-2, 1e2),   t[c] = sqrt(r[c] / w[c])
//! W1[c] = W1[c] / s[c],   b1[c] = (b1[c] − m[c]) / s[c]          (first conv)
//! W2[:, c] = W2[:, c] · s[c],   b2[o] += Σ_c,k W2[o, c, k] · m[c]   (second)
//! ```
//!
//! where `w[c]` is the absolute maximum of the second convolution's weights
//! on input channel `c`. NNCF scales by `r[c]` alone, which makes the
//! activation's channels equal but moves all of their spread into the
//! second convolution's weight columns, where the per-output-channel weight
//! quantizer pays for it. The square root splits the spread between the
//! two, as cross-layer equalization does (Nagel et al. 2019). Measured on
//! the zoo in docs/PERFORMANCE.md.
//!
//! The result is exact in real arithmetic when the second convolution has
//! no padding (a padded border would see 0, not the shifted 0), which the
//! pattern requires, as NNCF's does: the second convolution has one group,
//! no padding, stride 1 and dilation 1, and both have constant biases.
//!
//! NNCF takes the range from the median over items of per-item 1e-4
//! quantiles; here it is the mean over items of the per-item channel
//! minimum and maximum, which the collector already keeps per channel.

use ndarray::{ArrayD, Axis};
use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::spatial::AutoPad;
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, ValueId};

use crate::algorithm::{Algorithm, State};
use crate::calibrate::{Collected, Watch};
use crate::error::AlgoError;
use crate::structure::Links;

/// Bounds of the per-channel scale (NNCF's).
pub const SCALE_BOUNDS: (f32, f32) = (1e-2, 1e2);

/// A pair of convolutions around one intermediate tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    pub first: NodeId,
    pub second: NodeId,
    /// The first's output, the second's input.
    pub mid: ValueId,
}

fn plain(c: &Conv) -> bool {
    let ones = |v: &Option<Vec<i64>>| v.as_ref().is_none_or(|v| v.iter().all(|&x| x == 1));
    c.group == 1
        && matches!(c.auto_pad, AutoPad::NotSet | AutoPad::Valid)
        && c.pads.as_ref().is_none_or(|p| p.iter().all(|&x| x == 0))
        && ones(&c.strides)
        && ones(&c.dilations)
}

fn f32_const(g: &Graph, n: NodeId, slot: usize) -> Option<&ArrayD<f32>> {
    let v = g.node(n)?.inputs.get(slot).copied().flatten()?;
    match g.constant(v)? {
        Tensor::F32(a) => Some(a),
        _ => None,
    }
}

/// The pairs in `g`.
pub fn pairs(g: &Graph) -> Vec<Pair> {
    let l = Links::new(g);
    let mut out = vec![];
    for (id, n) in g.iter_nodes() {
        let Op::Conv(_) = &n.op else { continue };
        let Some(mid) = n.outputs.first().copied().flatten() else { continue };
        if g.outputs().contains(&mid) {
            continue;
        }
        let Some((second, 0)) = l.sole_reader(mid) else { continue };
        let Some(Op::Conv(c2)) = g.node(second).map(|n| &n.op) else { continue };
        let shapes_ok = |node: NodeId| matches!((f32_const(g, node, 1), f32_const(g, node, 2)), (Some(w), Some(b)) if w.ndim() >= 3 && b.len() == w.shape()[0]);
        if plain(c2) && shapes_ok(id) && shapes_ok(second) {
            let (w1, w2) = (f32_const(g, id, 1), f32_const(g, second, 1));
            if let (Some(w1), Some(w2)) = (w1, w2)
                && w2.shape()[1] == w1.shape()[0]
            {
                out.push(Pair { first: id, second, mid });
            }
        }
    }
    out
}

/// The scales and centres for channel ranges `lo`, `hi` of the
/// intermediate tensor, whose channel `c` the second convolution reads
/// with weights of absolute maximum `w[c]`.
pub fn alignment(lo: &[f32], hi: &[f32], w: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let m: Vec<f32> = lo.iter().zip(hi).map(|(a, b)| (a + b) / 2.0).collect();
    let raw: Vec<f32> = lo
        .iter()
        .zip(hi)
        .zip(w)
        .map(|((a, b), &w)| {
            let r = ((b - a) / 2.0).max(0.0);
            if r > 0.0 && w > 0.0 { (r / w).sqrt() } else { 0.0 }
        })
        .collect();
    let mut sorted: Vec<f32> = raw.iter().copied().filter(|x| *x > 0.0).collect();
    sorted.sort_by(f32::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(1.0);
    let s =
        raw.iter().map(|&x| if x > 0.0 { (x / median).clamp(SCALE_BOUNDS.0, SCALE_BOUNDS.1) } else { 1.0 }).collect();
    (s, m)
}

/// The absolute maximum of the second convolution's weights per input
/// channel.
fn input_channel_max(g: &Graph, p: &Pair) -> Option<Vec<f32>> {
    let w2 = f32_const(g, p.second, 1)?;
    Some(w2.axis_iter(Axis(1)).map(|lane| lane.iter().fold(0.0f32, |m, v| m.max(v.abs()))).collect())
}

/// The patch aligning `p` with scales `s` and centres `m` (per channel of
/// `p.mid`).
pub fn patch(g: &Graph, p: &Pair, s: &[f32], m: &[f32]) -> Option<Patch> {
    let (mut w1, mut b1) = (f32_const(g, p.first, 1)?.clone(), f32_const(g, p.first, 2)?.clone());
    let (mut w2, mut b2) = (f32_const(g, p.second, 1)?.clone(), f32_const(g, p.second, 2)?.clone());
    if s.len() != w1.shape()[0] || b1.len() != s.len() {
        return None;
    }
    for (c, mut lane) in w1.axis_iter_mut(Axis(0)).enumerate() {
        lane.mapv_inplace(|x| x / s[c]);
    }
    for (c, b) in b1.iter_mut().enumerate() {
        *b = (*b - m[c]) / s[c];
    }
    for (o, lane) in w2.axis_iter(Axis(0)).enumerate() {
        let shift: f64 = lane
            .axis_iter(Axis(0))
            .enumerate()
            .map(|(c, k)| k.iter().map(|&x| f64::from(x)).sum::<f64>() * f64::from(m[c]))
            .sum();
        b2[o] += shift as f32;
    }
    for (c, mut lane) in w2.axis_iter_mut(Axis(1)).enumerate() {
        lane.mapv_inplace(|x| x * s[c]);
    }
    let mut patch = Patch::new();
    let name = |n: NodeId, slot: usize| {
        g.node(n)
            .and_then(|n| n.inputs.get(slot).copied().flatten())
            .map_or_else(String::new, |v| g.value(v).name.clone())
    };
    for (node, slot, t) in [(p.first, 1, w1), (p.first, 2, b1), (p.second, 1, w2), (p.second, 2, b2)] {
        let v = patch.add_constant(format!("{}_aligned", name(node, slot)), Tensor::F32(t));
        patch.set_input(node, slot, v);
    }
    Some(patch)
}

/// The algorithm.
#[derive(Debug, Default)]
pub struct ChannelAlignment {
    pairs: Vec<Pair>,
}

impl Algorithm for ChannelAlignment {
    fn name(&self) -> &'static str {
        "ChannelAlignment"
    }

    fn parameters(&self) -> String {
        format!("scale_bounds={SCALE_BOUNDS:?}")
    }

    fn statistic_points(&mut self, s: &State) -> Result<Vec<Watch>, AlgoError> {
        let ignored = &s.placed.user_ignored;
        self.pairs = pairs(&s.graph)
            .into_iter()
            .filter(|p| !ignored.contains(&p.first) && !ignored.contains(&p.second))
            .collect();
        Ok(self.pairs.iter().map(|p| Watch::per_channel(p.mid, 1)).collect())
    }

    fn apply(&mut self, s: &mut State, stats: &mut Collected) -> Result<(), AlgoError> {
        // One pair at a time, each patch built from the current constants:
        // in a chain A → B → C, aligning (A, B) changes B's weights but not
        // B's output, so the statistics of (B, C) stay valid.
        let mut any = false;
        for p in &self.pairs {
            let Some(st) = stats.per_channel(p.mid) else { continue };
            let Some(w) = input_channel_max(&s.graph, p) else { continue };
            let (scale, m) = alignment(&st.mean_min(), &st.mean_max(), &w);
            let Some(one) = patch(&s.graph, p, &scale, &m) else { continue };
            one.apply(&mut s.graph)?;
            any = true;
            s.aligned.push(format!("{} → {}", s.graph.node_label(p.first), s.graph.node_label(p.second)));
        }
        if any {
            ptq_ir::infer::infer_facts(&mut s.graph)?;
            // The aligned weights are new constants: place the quantizers
            // again so that they quantize those.
            let reason = s.placed.model_type_reason.clone();
            let opts = crate::options::QuantizeOptions { model_type: s.placed.model_type, ..s.opts.clone() };
            s.placed = crate::placement::place(&s.graph, &opts)?;
            s.placed.model_type_reason = reason;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testgraph::{G, conv, vector};
    use ndarray::IxDyn;
    use ptq_exec::{ExecOptions, Plan};

    /// x → conv1 (3×3, +bias) → conv2 (1×1, no padding, +bias), with
    /// conv1's channels at very different offsets and widths.
    fn pair_graph() -> (Graph, Vec<crate::calibrate::Item>) {
        let mut b = G::default();
        let x = b.input("x", &[1, 2, 5, 5]);
        let w1: Vec<f32> =
            (0..4 * 2 * 9).map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0 * [1.0, 20.0, 0.1, 3.0][i / 18]).collect();
        let w1 = b.g.add_constant(
            "w1",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[4, 2, 3, 3]), w1).unwrap()),
            ptq_ir::ConstSource::Stored,
        );
        let b1 = vector(&mut b, "b1", &[5.0, -30.0, 0.2, 1.0]);
        let c1 = b.node("conv1", conv(), &[x, w1, b1]);
        let w2 = b.weight("w2", &[3, 4, 1, 1]);
        let b2 = vector(&mut b, "b2", &[0.1, 0.2, 0.3]);
        let c2 = b.node("conv2", Conv { pads: None, ..conv() }, &[c1, w2, b2]);
        b.output(c2);
        ptq_ir::infer::infer_facts(&mut b.g).unwrap();
        let items = (0..6)
            .map(|k| {
                let d: Vec<f32> = (0..50).map(|i| (((i * 13 + k * 3) % 17) as f32 - 8.0) / 4.0).collect();
                vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 5, 5]), d).unwrap()))]
            })
            .collect();
        (b.g, items)
    }

    fn run(g: &Graph, item: &crate::calibrate::Item) -> Vec<f32> {
        let plan = Plan::new(g, &ExecOptions { threads: 1, ..Default::default() }).unwrap();
        match plan.run(item.clone()).unwrap().remove(0).1 {
            Tensor::F32(a) => a.iter().copied().collect(),
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn alignment_keeps_the_float_function_and_evens_the_channels() {
        let (g, items) = pair_graph();
        let ps = pairs(&g);
        assert_eq!(ps.len(), 1, "{ps:?}");
        let cfg = crate::calibrate::Pass {
            subset: items.len(),
            watch: &[Watch::per_channel(ps[0].mid, 1)],
            threads: 1,
            ..Default::default()
        };
        let c = crate::calibrate::calibrate(&g, &mut items.clone().into_iter().map(Ok), &cfg, &mut |_| {}).unwrap();
        let st = c.per_channel(ps[0].mid).unwrap();
        let (s, m) = alignment(&st.mean_min(), &st.mean_max(), &input_channel_max(&g, &ps[0]).unwrap());
        let mut aligned = g.clone();
        patch(&g, &ps[0], &s, &m).unwrap().apply(&mut aligned).unwrap();
        for item in &items {
            let (a, b) = (run(&g, item), run(&aligned, item));
            let norm = a.iter().fold(0.0f32, |x, v| x.max(v.abs()));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() <= 1e-5 * norm, "{x} vs {y}");
            }
        }
        // The intermediate tensor's channels: centred, and the spread of
        // their widths down to about its square root (the second
        // convolution's columns take the other half), from over 20×.
        let c2 = crate::calibrate::calibrate(&aligned, &mut items.into_iter().map(Ok), &cfg, &mut |_| {}).unwrap();
        let st2 = c2.per_channel(ps[0].mid).unwrap();
        let widths: Vec<f32> = st2.mean_min().iter().zip(st2.mean_max()).map(|(a, b)| b - a).collect();
        let before: Vec<f32> = st.mean_min().iter().zip(st.mean_max()).map(|(a, b)| b - a).collect();
        let spread = |w: &[f32]| w.iter().fold(0.0f32, |m, v| m.max(*v)) / w.iter().fold(f32::MAX, |m, v| m.min(*v));
        assert!(spread(&before) > 20.0, "{before:?}");
        assert!(spread(&widths) < 2.0 * spread(&before).sqrt(), "{widths:?} from {before:?}");
        for (a, b) in st2.mean_min().iter().zip(st2.mean_max()) {
            assert!((a + b).abs() < 1e-3 * (b - a), "[{a}, {b}] not centred");
        }
    }

    /// Through the whole pipeline: the quantized model with alignment is
    /// closer to the float one than without (its channels sit at offsets
    /// 200× apart), so the quantizers read the aligned weights.
    #[test]
    fn aligned_models_quantize_with_less_error() {
        let (g, items) = pair_graph();
        let error = |align: bool| {
            let opts = crate::options::QuantizeOptions {
                channel_alignment: align,
                subset_size: items.len(),
                ..Default::default()
            };
            let q = crate::quantize_graph(&g, &mut items.clone().into_iter().map(Ok), &opts, &mut |_| {}).unwrap();
            assert_eq!(q.report.channel_alignment.len(), usize::from(align));
            let want = crate::range_choice::outputs(&g, &items, 1).unwrap();
            crate::range_choice::relative_error(&want, &crate::range_choice::outputs(&q.graph, &items, 1).unwrap())
        };
        let (off, on) = (error(false), error(true));
        assert!(on < 0.9 * off, "aligned {on:e}, not aligned {off:e}");
    }

    #[test]
    fn padded_or_strided_second_convolutions_are_not_paired() {
        let (g, _) = pair_graph();
        let second = pairs(&g)[0].second;
        let Some(Op::Conv(c)) = g.node(second).map(|n| n.op.clone()) else { panic!() };
        for changed in
            [Conv { pads: Some(vec![1, 1, 1, 1]), ..c.clone() }, Conv { strides: Some(vec![2, 2]), ..c.clone() }]
        {
            let mut h = g.clone();
            let mut p = Patch::new();
            p.set_op(second, changed);
            p.apply(&mut h).unwrap();
            assert!(pairs(&h).is_empty());
        }
    }
}
