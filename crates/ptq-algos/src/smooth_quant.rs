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
use ptq_stats::Granularity;
use serde::Serialize;

use crate::cache::StatsCache;
use crate::calibrate::{Collected, Item, Pass, Watch, calibrate};
use crate::error::AlgoError;
use crate::options::QuantizeOptions;
use crate::pipeline::Event;
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
    groups
        .iter()
        .map(|gr| Watch {
            value: gr.value,
            granularity: Granularity::PerChannel { axis: gr.axis },
            histogram_bins: 0,
            quantile_ppm: 0,
        })
        .collect()
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
    /// The items read from the dataset stream, which is read once: the next
    /// stage reads these first.
    pub items: Vec<Item>,
}

/// The cache of this stage's statistics: beside the caller's, with its own
/// name, so the two stages never overwrite each other.
pub fn stage_cache(c: &StatsCache) -> StatsCache {
    let mut name = c.path.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
    name.push(".smooth_quant.json");
    StatsCache { path: c.path.with_file_name(name), fingerprint: c.fingerprint.clone() }
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

/// Scores a smoothed candidate graph on the first items: the quantized
/// model's output error against the float model's (smaller is better).
pub type Score<'a> = dyn FnMut(&Graph, &[Item]) -> Result<f64, AlgoError> + 'a;

/// The SmoothQuant stage: one calibration pass over the float graph `g`
/// for the groups among `targets`, then the patch of the candidate
/// (`None`: no smoothing) that `score` finds best on the first
/// [`range_choice::ITEMS`] items, or of the only candidate, applied to `g`.
pub fn run(
    g: &mut Graph,
    targets: &HashSet<NodeId>,
    candidates: &[Option<SmoothQuantAlphas>],
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    opts: &QuantizeOptions,
    events: &mut dyn FnMut(Event),
    score: &mut Score<'_>,
) -> Result<Smoothed, AlgoError> {
    let on: Vec<SmoothQuantAlphas> = candidates.iter().flatten().copied().collect();
    let groups = groups(g, targets, &on);
    if groups.is_empty() {
        return Ok(Smoothed::default());
    }
    let watch = watches(&groups);
    let cache = opts.stats_cache.as_ref().map(stage_cache);
    let cached = match &cache {
        Some(c) => crate::cache::load(g, c, &watch)?,
        None => None,
    };
    let choosing = candidates.len() > 1;
    let (collected, mut read) = match cached {
        Some(c) => {
            // The choice runs on the first items, which the cache has not read.
            let n = if choosing { range_choice::ITEMS.min(opts.subset_size) } else { 0 };
            let read: Result<Vec<Item>, AlgoError> =
                items.take(n).enumerate().map(|(i, r)| r.map_err(|msg| AlgoError::Dataset { item: i, msg })).collect();
            (c, read?)
        }
        None => {
            events(Event::CalibrationStart { subset: opts.subset_size });
            let pass = Pass {
                subset: opts.subset_size,
                watch: &watch,
                record: &[],
                keep: opts.subset_size,
                threads: opts.threads,
            };
            let mut c = calibrate(g, items, &pass, &mut |n| events(Event::Calibrated { items: n }))?;
            events(Event::CalibrationDone);
            if let Some(cache) = &cache {
                crate::cache::save(g, cache, &c)?;
            }
            let kept = std::mem::take(&mut c.kept);
            (c, kept)
        }
    };
    // Each candidate's patch; a smoothed copy of the graph exists only
    // while it is scored.
    let mut errors = vec![];
    let mut built = vec![];
    for cand in candidates {
        let (p, rows) = match cand {
            Some(a) => {
                let (p, rows) = patch(g, &groups, &collected, a);
                (Some(p), rows)
            }
            None => (None, vec![]),
        };
        if choosing {
            let first = &read[..range_choice::ITEMS.min(read.len())];
            let e = match &p {
                Some(p) => {
                    let mut s = g.clone();
                    p.apply(&mut s)?;
                    ptq_ir::infer::infer_facts(&mut s)?;
                    score(&s, first)?
                }
                None => score(g, first)?,
            };
            errors.push((*cand, e));
        }
        built.push((*cand, p, rows));
    }
    let pick = if choosing { choose(&errors) } else { 0 };
    let best = built.swap_remove(pick.min(built.len().saturating_sub(1)));
    if let Some(p) = &best.1 {
        p.apply(g)?;
        ptq_ir::infer::infer_facts(g)?;
    }
    Ok(Smoothed { alphas: best.0, rows: best.2, errors, items: std::mem::take(&mut read) })
}
