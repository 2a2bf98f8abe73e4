//! SmoothQuant (Xiao et al. 2023; NNCF's `SmoothQuant`, ../nncf.md §2.7):
//! activation outliers move into the weights of the MatMul (or Conv) that
//! reads them, so a per-tensor activation quantizer wastes fewer levels.
//!
//! For an activation `x` whose channel `c` (a MatMul's last axis, a Conv's
//! axis 1) has absolute maximum `a[c]` over the calibration set, and a
//! weight whose input channel `c` has absolute maximum `w[c]`:
//!
//! ```text
//! s[c] = a[c]^α / w[c]^(1−α)      (a, w clipped to ≥ 1e-5)
//! s    = clip(s, quantile(s, 0.1), 100)
//! x'   = x / s,   W'[c, ..] = W[c, ..] · s[c]
//! ```
//!
//! so `x'·W' = x·W` in exact arithmetic. The readers of one activation form
//! a group; each computes its `s` and the group uses the one with the
//! largest `min(s)/max(s)` (the flattest), as NNCF does. The division by
//! `s` is absorbed into the LayerNormalization that produces `x` (its scale
//! and bias, when constant and read only by the group), or else done by a
//! new `Mul(x, 1/s)` in front of the group's readers, the node NNCF inserts.
//! A weight another node also reads is not changed, so its reader is left
//! out.

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayD, Axis, IxDyn};
use ptq_ir::ops::Op;
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::patch::PatchValue;
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::{Graph, NodeId, Patch, Tensor, Value, ValueId};
use serde::Serialize;

use crate::algorithm::{Algorithm, State};
use crate::calibrate::{Collected, Item, Pass, Watch, calibrate};
use crate::error::AlgoError;
use crate::options::QuantizeOptions;
use crate::range_choice;

/// NNCF's `AdvancedSmoothQuantParameters`: the migration strength per op
/// class; a negative alpha turns SmoothQuant off for that class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SmoothQuantAlphas {
    /// Default 0.95.
    pub matmul: f32,
    /// Default −1 (off).
    pub convolution: f32,
}

impl Default for SmoothQuantAlphas {
    fn default() -> Self {
        SmoothQuantAlphas { matmul: 0.95, convolution: -1.0 }
    }
}

impl SmoothQuantAlphas {
    /// True when some op class is smoothed.
    pub fn any(&self) -> bool {
        self.matmul >= 0.0 || self.convolution >= 0.0
    }
}

/// Lower bound of both statistics (NNCF's clip).
const FLOOR: f32 = 1e-5;
/// Upper bound of a scale.
const MAX_SCALE: f32 = 100.0;
/// The quantile of the scales that bounds them from below.
const LOW_QUANTILE: f64 = 0.1;

/// A weighted node reading a smoothed activation.
#[derive(Clone, Debug)]
pub struct Reader {
    pub node: NodeId,
    /// The constant f32 weight and its input-channel axis.
    pub weight: ValueId,
    pub in_axis: usize,
    /// A convolution (else a MatMul or Gemm): which alpha applies.
    pub conv: bool,
}

impl Reader {
    /// This reader's alpha in `alphas` (negative: not smoothed).
    pub fn alpha(&self, alphas: &SmoothQuantAlphas) -> f32 {
        if self.conv { alphas.convolution } else { alphas.matmul }
    }
}

/// An activation and the readers smoothed with one scale.
#[derive(Clone, Debug)]
pub struct Group {
    pub value: ValueId,
    /// The activation's channel axis and its length.
    pub axis: usize,
    pub channels: usize,
    pub readers: Vec<Reader>,
}

/// What the report says about one smoothed activation.
#[derive(Clone, Debug, Serialize)]
pub struct SmoothRow {
    pub activation: String,
    pub readers: Vec<String>,
    pub alpha: f32,
    /// The LayerNormalization that absorbed `1/s`, or the inserted Mul.
    pub absorbed_by: String,
    pub min_scale: f32,
    pub max_scale: f32,
}

/// `node` (reading activation `v` at input 0) as a reader to smooth: its
/// weight and the weight's input-channel axis, the activation's channel
/// axis and the weight's number of input channels.
fn reader(g: &Graph, node: NodeId, v: ValueId) -> Option<(Reader, usize, usize)> {
    let n = g.node(node)?;
    if n.inputs.first().copied().flatten() != Some(v) || n.inputs[1..].contains(&Some(v)) {
        return None;
    }
    let weight = n.inputs.get(1).copied().flatten()?;
    let Some(Tensor::F32(w)) = g.constant(weight) else { return None };
    let rank = g.value(v).fact.shape.as_ref()?.len();
    let (conv, in_axis, axis) = match &n.op {
        Op::MatMul(_) if w.ndim() == 2 && rank >= 2 => (false, 0, rank - 1),
        Op::Gemm(o) if !o.trans_a && w.ndim() == 2 && rank == 2 => (false, usize::from(o.trans_b), 1),
        Op::Conv(c) if c.group <= 1 && w.ndim() >= 3 && rank == w.ndim() => (true, 1, 1),
        _ => return None,
    };
    let channels = w.shape()[in_axis];
    Some((Reader { node, weight, in_axis, conv }, axis, channels))
}

/// The groups to smooth among `targets` (the nodes whose weights placement
/// quantizes) with some alpha of `alphas` (an op class whose alpha is
/// negative in all of them is left out), in value order.
pub fn groups(g: &Graph, targets: &HashSet<NodeId>, alphas: &[SmoothQuantAlphas]) -> Vec<Group> {
    let consumers = g.consumers();
    let mut by_value: HashMap<ValueId, Group> = HashMap::new();
    let mut ids: Vec<NodeId> = targets.iter().copied().collect();
    ids.sort();
    for id in ids {
        let Some(v) = g.node(id).and_then(|n| n.inputs.first().copied().flatten()) else { continue };
        if g.value(v).constant.is_some() {
            continue;
        }
        let Some((r, axis, channels)) = reader(g, id, v) else { continue };
        if alphas.iter().all(|a| r.alpha(a) < 0.0) {
            continue;
        }
        // A weight read elsewhere would change for that reader too.
        if consumers.get(&r.weight).is_some_and(|c| c.len() != 1) {
            continue;
        }
        let known = g.value(v).fact.shape.as_ref().and_then(|s| s.get(axis)).and_then(|d| d.known());
        if known.is_some_and(|k| k != channels as u64) || channels == 0 {
            continue;
        }
        let group = by_value.entry(v).or_insert(Group { value: v, axis, channels, readers: vec![] });
        if group.axis == axis && group.channels == channels {
            group.readers.push(r);
        }
    }
    let mut out: Vec<Group> = by_value.into_values().collect();
    out.sort_by_key(|gr| gr.value);
    out
}

/// The per-channel statistics each group needs.
pub fn watches(groups: &[Group]) -> Vec<Watch> {
    groups.iter().map(|gr| Watch::per_channel(gr.value, gr.axis)).collect()
}

/// `max |w|` per input channel.
fn weight_abs_max(w: &ArrayD<f32>, in_axis: usize) -> Vec<f32> {
    w.axis_iter(Axis(in_axis)).map(|lane| lane.iter().fold(0.0f32, |m, v| m.max(v.abs()))).collect()
}

/// The scales of one reader: `act^α / w^(1−α)`, clipped.
pub fn scales(act: &[f32], w: &[f32], alpha: f32) -> Vec<f32> {
    let s: Vec<f32> = act
        .iter()
        .zip(w)
        .map(|(&a, &w)| a.max(FLOOR).powf(alpha) / (w.max(FLOOR).powf(1.0 - alpha) + f32::EPSILON))
        .collect();
    let lo = ptq_stats::quantile_in_place(&mut s.clone(), LOW_QUANTILE).unwrap_or(0.0);
    // numpy's clip: the upper bound wins when the bounds cross.
    s.iter().map(|&v| v.max(lo).min(MAX_SCALE)).collect()
}

/// `min(s) / max(s)`: how flat a scale vector is.
fn flatness(s: &[f32]) -> f32 {
    let (lo, hi) = s.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    lo / (hi + f32::EPSILON)
}

/// `t` (a vector of `channels`) shaped to broadcast along `axis` of a
/// rank-`rank` tensor.
fn along(t: Vec<f32>, axis: usize, rank: usize) -> Option<Tensor> {
    let mut shape = vec![1; rank.checked_sub(axis).filter(|&n| n > 0)?];
    shape[0] = t.len();
    ArrayD::from_shape_vec(IxDyn(&shape), t).ok().map(Tensor::F32)
}

/// The LayerNormalization producing `v` over its last axis, with constant
/// f32 scale (and bias) of `channels` entries, when every reader of `v` is
/// in the group: `(node, scale, bias)`.
fn absorbing_norm(
    g: &Graph,
    (producers, consumers): (&Producers, &Consumers),
    gr: &Group,
) -> Option<(NodeId, ArrayD<f32>, Option<ArrayD<f32>>)> {
    let (p, _) = *producers.get(&gr.value)?;
    let n = g.node(p)?;
    let Op::LayerNorm(op) = &n.op else { return None };
    let rank = g.value(gr.value).fact.shape.as_ref()?.len() as i64;
    if (op.axis + rank) % rank != rank - 1 || gr.axis as i64 != rank - 1 || g.outputs().contains(&gr.value) {
        return None;
    }
    let readers = consumers.get(&gr.value).map_or(0, Vec::len);
    if readers != gr.readers.len() || n.output_ids().count() != 1 {
        return None;
    }
    let vector = |v: Option<ValueId>| match g.constant(v?) {
        Some(Tensor::F32(a)) if a.len() == gr.channels && a.shape().last() == Some(&gr.channels) => Some(a.clone()),
        _ => None,
    };
    let scale = vector(n.inputs.get(1).copied().flatten())?;
    let bias = match n.inputs.get(2).copied().flatten() {
        Some(b) => Some(vector(Some(b))?),
        None => None,
    };
    Some((p, scale, bias))
}

/// The patch smoothing every group with statistics in `stats`, each
/// reader with its alpha in `alphas` (readers with a negative one are left
/// out), and the report's rows. A group whose statistics are missing or not
/// finite is left alone.
pub fn patch(g: &Graph, groups: &[Group], stats: &Collected, alphas: &SmoothQuantAlphas) -> (Patch, Vec<SmoothRow>) {
    let mut p = Patch::new();
    let mut rows = vec![];
    let (producers, consumers) = (g.producers(), g.consumers());
    for gr in groups {
        let readers: Vec<Reader> = gr.readers.iter().filter(|r| r.alpha(alphas) >= 0.0).cloned().collect();
        let gr = &Group { readers, ..gr.clone() };
        let Some(st) = stats.per_channel(gr.value) else { continue };
        let act = st.abs_max();
        if act.len() != gr.channels || act.iter().any(|v| !v.is_finite()) || gr.readers.is_empty() {
            continue;
        }
        let weights: Vec<ArrayD<f32>> = gr
            .readers
            .iter()
            .filter_map(|r| match g.constant(r.weight) {
                Some(Tensor::F32(w)) => Some(w.clone()),
                _ => None,
            })
            .collect();
        if weights.len() != gr.readers.len() {
            continue;
        }
        let candidates: Vec<Vec<f32>> = gr
            .readers
            .iter()
            .zip(&weights)
            .map(|(r, w)| scales(&act, &weight_abs_max(w, r.in_axis), r.alpha(alphas)))
            .collect();
        let best = (0..candidates.len())
            .fold(0, |b, i| if flatness(&candidates[i]) > flatness(&candidates[b]) { i } else { b });
        let s = &candidates[best];
        if s.iter().any(|v| !v.is_finite() || *v <= 0.0) {
            continue;
        }
        let name = g.value(gr.value).name.clone();
        for (r, w) in gr.readers.iter().zip(weights) {
            let mut w = w;
            for (c, mut lane) in w.axis_iter_mut(Axis(r.in_axis)).enumerate() {
                lane.mapv_inplace(|v| v * s[c]);
            }
            let label = g.node_label(r.node);
            let new = p.add_constant(format!("{label}/smooth_quant.weight"), Tensor::F32(w));
            if let Some(slot) = g.node(r.node).and_then(|n| n.inputs.iter().position(|&i| i == Some(r.weight))) {
                p.set_input(r.node, slot, new);
            }
        }
        let inv: Vec<f32> = s.iter().map(|v| 1.0 / v).collect();
        let absorbed_by = match absorbing_norm(g, (&producers, &consumers), gr) {
            Some((norm, scale, bias)) => {
                let label = g.node_label(norm);
                let div = |a: ArrayD<f32>| Tensor::F32(&a * &ndarray::arr1(&inv));
                let sc = p.add_constant(format!("{label}/smooth_quant.scale"), div(scale));
                p.set_input(norm, 1, sc);
                if let Some(b) = bias {
                    let bc = p.add_constant(format!("{label}/smooth_quant.bias"), div(b));
                    p.set_input(norm, 2, bc);
                }
                label
            }
            None => {
                let rank = g.value(gr.value).fact.shape.as_ref().map_or(gr.axis + 1, Vec::len);
                let Some(t) = along(inv, gr.axis, rank) else { continue };
                let c = p.add_constant(format!("{name}/smooth_quant.inverse_scale"), t);
                let fact = g.value(gr.value).fact.clone();
                let out = p.add_value(Value { name: format!("{name}/smooth_quant"), fact, ..Value::default() });
                let mul = format!("{name}/smooth_quant");
                p.add_node(
                    mul.clone(),
                    Binary { kind: BinaryKind::Mul },
                    vec![Some(PatchValue::Existing(gr.value)), Some(c)],
                    vec![Some(out)],
                );
                for r in &gr.readers {
                    p.set_input(r.node, 0, out);
                }
                mul
            }
        };
        let (lo, hi) = s.iter().fold((f32::INFINITY, 0.0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        rows.push(SmoothRow {
            activation: name,
            readers: gr.readers.iter().map(|r| g.node_label(r.node)).collect(),
            alpha: gr.readers[best].alpha(alphas),
            absorbed_by,
            min_scale: lo,
            max_scale: hi,
        });
    }
    (p, rows)
}

/// What the SmoothQuant stage did.
#[derive(Debug, Default)]
pub struct Smoothed {
    /// The alphas applied (None: left off).
    pub alphas: Option<SmoothQuantAlphas>,
    pub rows: Vec<SmoothRow>,
    /// With more than one candidate: each one's output error (None: off).
    pub errors: Vec<(Option<SmoothQuantAlphas>, f64)>,
    /// The largest [`outlier_ratio`] of the smoothable activations.
    pub outlier_ratio: Option<f32>,
}

/// Below this [`outlier_ratio`] the automatic choice scores no candidate
/// and leaves the model unsmoothed: without outlier channels, smoothing
/// has nothing to move into the weights, and on the zoo it never won by
/// [`MARGIN`] there (docs/PERFORMANCE.md).
pub const OUTLIER_RATIO: f32 = 8.0;

/// Over the groups with statistics, the largest ratio of an activation's
/// biggest per-channel `max |x|` to the median of them: how far its outlier
/// channels stand out.
pub fn outlier_ratio(groups: &[Group], stats: &Collected) -> Option<f32> {
    groups
        .iter()
        .filter_map(|gr| {
            let act = stats.per_channel(gr.value)?.abs_max();
            let top = act.iter().copied().fold(0.0f32, f32::max);
            let median = ptq_stats::quantile_in_place(&mut act.clone(), 0.5)?;
            (top.is_finite() && median > 0.0).then(|| top / median)
        })
        .reduce(f32::max)
}

/// How much smaller than no smoothing's a smoothed candidate's output
/// error must be for the choice to keep it. Smoothing pays off on trained
/// models whose activations have outlier channels (MiniLM: a quarter of the
/// error); on models without them its gain on the scoring items is small
/// and did not carry over to held-out data (docs/PERFORMANCE.md).
pub const MARGIN: f64 = 1.0 / 3.0;

/// The index of the chosen candidate among `errors`: the smoothing with
/// the least error if that is below [`MARGIN`] times no smoothing's (the
/// first on ties), else no smoothing; without a no-smoothing candidate, the
/// least error.
pub fn choose(errors: &[(Option<SmoothQuantAlphas>, f64)]) -> usize {
    let least = |it: &mut dyn Iterator<Item = (usize, f64)>| {
        it.fold(None, |b: Option<(usize, f64)>, (i, e)| match b {
            Some((_, be)) if be <= e => b,
            _ => Some((i, e)),
        })
    };
    let on = least(&mut errors.iter().enumerate().filter(|(_, c)| c.0.is_some()).map(|(i, c)| (i, c.1)));
    let off = errors.iter().position(|c| c.0.is_none());
    match (on, off) {
        (Some((i, e)), Some(o)) if e < MARGIN * errors[o].1 => i,
        (_, Some(o)) => o,
        (Some((i, _)), None) => i,
        (None, None) => 0,
    }
}

/// The algorithm: the groups among the layers with a quantized weight,
/// their activations' per-channel maxima from the stage's pass, then the
/// patch of the candidate (`None`: no smoothing) whose quantized model is
/// closest to the float one on held-out halves of the first
/// [`range_choice::ITEMS`] items, or of the only candidate, applied to the
/// graph; the quantizers are placed again on the smoothed graph.
#[derive(Debug)]
pub struct SmoothQuant {
    pub candidates: Vec<Option<SmoothQuantAlphas>>,
    groups: Vec<Group>,
}

impl SmoothQuant {
    pub fn new(candidates: Vec<Option<SmoothQuantAlphas>>) -> SmoothQuant {
        SmoothQuant { candidates, groups: vec![] }
    }

    fn choosing(&self) -> bool {
        self.candidates.len() > 1
    }
}

impl Algorithm for SmoothQuant {
    fn name(&self) -> &'static str {
        "SmoothQuant"
    }

    fn parameters(&self) -> String {
        let alpha =
            |c: &Option<SmoothQuantAlphas>| c.map_or("off".to_string(), |a| format!("{}/{}", a.matmul, a.convolution));
        format!("matmul/conv alphas tried=[{}]", self.candidates.iter().map(alpha).collect::<Vec<_>>().join(", "))
    }

    fn statistic_points(&mut self, s: &State) -> Result<Vec<Watch>, AlgoError> {
        let targets: HashSet<NodeId> = s.weighted().into_iter().collect();
        let on: Vec<SmoothQuantAlphas> = self.candidates.iter().flatten().copied().collect();
        self.groups = groups(&s.graph, &targets, &on);
        Ok(watches(&self.groups))
    }

    fn items(&self, _s: &State) -> usize {
        if self.choosing() && !self.groups.is_empty() { range_choice::ITEMS } else { 0 }
    }

    fn apply(&mut self, s: &mut State, stats: &mut Collected) -> Result<(), AlgoError> {
        if self.groups.is_empty() {
            return Ok(());
        }
        let ratio = outlier_ratio(&self.groups, stats);
        let off = self.candidates.iter().any(Option::is_none);
        if let (true, true, Some(r)) = (self.choosing(), off, ratio)
            && r < OUTLIER_RATIO
        {
            s.smoothed = Smoothed { alphas: None, rows: vec![], errors: vec![], outlier_ratio: ratio };
            return Ok(());
        }
        let first = s.items[..range_choice::ITEMS.min(s.items.len())].to_vec();
        let float = s.graph.clone();
        let mut want = None;
        let mut errors = vec![];
        let mut built = vec![];
        for cand in &self.candidates {
            let (p, rows) = match cand {
                Some(a) => {
                    let (p, rows) = patch(&s.graph, &self.groups, stats, a);
                    (Some(p), rows)
                }
                None => (None, vec![]),
            };
            if self.choosing() {
                // A smoothed copy of the graph exists only while it is scored.
                let e = match &p {
                    Some(p) => {
                        let mut c = float.clone();
                        p.apply(&mut c)?;
                        ptq_ir::infer::infer_facts(&mut c)?;
                        score(&float, &c, &first, s, &mut want)?
                    }
                    None => score(&float, &float, &first, s, &mut want)?,
                };
                errors.push((*cand, e));
            }
            built.push((*cand, p, rows));
        }
        let pick = if self.choosing() { choose(&errors) } else { 0 };
        let (alphas, p, rows) = built.swap_remove(pick.min(built.len().saturating_sub(1)));
        if let Some(p) = &p {
            p.apply(&mut s.graph)?;
            ptq_ir::infer::infer_facts(&mut s.graph)?;
        }
        if !rows.is_empty() {
            let reason = s.placed.model_type_reason.clone();
            let opts = QuantizeOptions { model_type: s.placed.model_type, ..s.opts.clone() };
            s.placed = crate::placement::place(&s.graph, &opts)?;
            s.placed.model_type_reason = reason;
        }
        s.smoothed = Smoothed { alphas, rows, errors, outlier_ratio: ratio };
        Ok(())
    }
}

/// The output error of `cand` quantized (without smoothing, with NNCF's
/// mean ranges, weights rounded in float, no bias correction) on the even
/// items of `first` and run on the odd ones, against the float graph's
/// outputs there: ranges fitted to the very items they are scored on would
/// favour it.
fn score(
    float: &Graph,
    cand: &Graph,
    first: &[Item],
    s: &State,
    want: &mut Option<Vec<Vec<(String, ptq_ir::Tensor)>>>,
) -> Result<f64, AlgoError> {
    let (fit, held): (Vec<Item>, Vec<Item>) = {
        let (a, b): (Vec<_>, Vec<_>) = first.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
        (a.into_iter().map(|(_, x)| x).collect(), b.into_iter().map(|(_, x)| x).collect())
    };
    let held = if held.is_empty() { fit.clone() } else { held };
    if want.is_none() {
        *want = Some(range_choice::outputs(float, &held, s.opts.threads)?);
    }
    // The placement of the model type already found, embeddings left alone.
    let sub = QuantizeOptions { model_type: s.placed.model_type, quantize_embeddings: false, ..s.opts.clone() };
    // NNCF's ranges, not the automatic choice: on six zoo transformers the
    // same candidate wins either way, and scoring takes 35–70 % less time
    // (docs/PERFORMANCE.md).
    let how = crate::range::RangeEstimator::MeanMinMax;
    // Weights rounded to their int8 grid but kept in float, and only the
    // activation quantizers inserted, as the range choice does: no int8
    // weights to write and fold back, and no bias correction.
    let placed = crate::placement::place(cand, &sub)?;
    let watch = crate::min_max::activation_watches(&placed.acts, how);
    let pass = Pass { subset: fit.len().max(1), watch: &watch, threads: s.opts.threads, ..Default::default() };
    let stats = calibrate(cand, &mut fit.into_iter().map(Ok), &pass, &mut |_| {})?;
    let ((acts, _), (weights, _)) = crate::pool::pool(s.opts.threads)?.install(|| {
        let acts = crate::activations::specs(cand, &placed.acts, &stats, how);
        (acts, crate::min_max::weight_specs(cand, &placed.weights, sub.weights_range, false))
    });
    let base = range_choice::with_fake_weights(cand, &weights, &HashMap::new())?;
    let setup = crate::pipeline::Setup { float: base, acts, weights: vec![], biases: HashMap::new() };
    let got = range_choice::outputs(&setup.build(&crate::pipeline::Exclusions::default())?, &held, s.opts.threads)?;
    Ok(range_choice::relative_error(want.as_deref().unwrap_or_default(), &got))
}
