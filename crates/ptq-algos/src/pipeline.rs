//! One quantization run: prepare, place, calibrate, compute ranges, correct
//! biases, insert Q/DQ.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use ptq_ir::{Graph, NodeId, ValueId};
use ptq_stats::Granularity;

use crate::activations;
use crate::bias;
use crate::bodies;
use crate::cache;
use crate::cache::StatsCache;
use crate::calibrate::{self, Item, Watch};
use crate::error::AlgoError;
use crate::fold;
use crate::options::{ModelType, QuantizeOptions};
use crate::placement::{self, ActQuantizer, Scheme, WeightQuantizer};
use crate::qdq;
use crate::range;
use crate::range::RangeEstimator;
use crate::range_choice;
use crate::report::{IgnoredRow, QuantizerRow, Report, Timings};
use crate::smooth_quant::{self, SmoothQuantAlphas};
use crate::spec::{self, QuantSpec};
use crate::structure::Links;

/// The quantized graph, what was done, and the setup it was built from.
#[derive(Debug)]
pub struct Quantized {
    pub graph: Graph,
    pub report: Report,
    pub setup: Setup,
}

/// Everything Q/DQ insertion needs, kept so that a graph with some
/// quantizers left out (accuracy control) can be rebuilt without
/// calibrating again.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The float graph quantizers are inserted into (batch norms folded).
    pub float: Graph,
    pub acts: Vec<(ActQuantizer, QuantSpec)>,
    pub weights: Vec<(WeightQuantizer, QuantSpec)>,
    /// Corrected biases by (reader node, input slot).
    pub biases: HashMap<(NodeId, usize), Vec<f32>>,
}

/// What [`Setup::build`] leaves out.
#[derive(Clone, Debug, Default)]
pub struct Exclusions {
    /// Indices into [`Setup::acts`].
    pub acts: Vec<usize>,
    /// Indices into [`Setup::weights`].
    pub weights: Vec<usize>,
    /// Nodes whose corrected biases go back to their float values.
    pub bias_nodes: Vec<NodeId>,
}

impl Setup {
    /// The quantized graph with `ex` left in float.
    pub fn build(&self, ex: &Exclusions) -> Result<Graph, AlgoError> {
        let acts: Vec<_> =
            self.acts.iter().enumerate().filter(|(i, _)| !ex.acts.contains(i)).map(|(_, a)| a.clone()).collect();
        let weights: Vec<_> =
            self.weights.iter().enumerate().filter(|(i, _)| !ex.weights.contains(i)).map(|(_, w)| w.clone()).collect();
        let biases: HashMap<_, _> =
            self.biases.iter().filter(|((n, _), _)| !ex.bias_nodes.contains(n)).map(|(k, v)| (*k, v.clone())).collect();
        let mut out = self.float.clone();
        qdq::apply(&mut out, &qdq::Plan { acts: &acts, weights: &weights, biases: &biases })?;
        drop_unused_constants(&mut out);
        ptq_ir::validate::validate(&out)?;
        Ok(out)
    }
}

/// Progress events for a caller's display.
#[derive(Clone, Copy, Debug)]
pub enum Event {
    /// Calibration starts over at most this many items.
    CalibrationStart { subset: usize },
    /// Items processed so far.
    Calibrated { items: usize },
    /// Calibration finished.
    CalibrationDone,
}

/// An estimator with the activation specs and report rows it gives.
type Candidate = (RangeEstimator, Vec<(ActQuantizer, QuantSpec)>, Vec<QuantizerRow>);

/// Quantizes `g` with statistics from `items` (NNCF `quantize` semantics).
pub fn quantize_graph(
    g: &Graph,
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    opts: &QuantizeOptions,
    events: &mut dyn FnMut(Event),
) -> Result<Quantized, AlgoError> {
    if opts.subset_size == 0 {
        return Err(AlgoError::Option("subset size must be at least 1".into()));
    }
    let mut t = Timings::default();
    let start = Instant::now();
    let mut g = g.clone();
    ptq_ir::infer::infer_facts(&mut g)?;
    let folded = fold::fold_batch_norms(&mut g)?;
    let mut placed = placement::place(&g, opts)?;
    t.prepare = start.elapsed().as_secs_f64();

    // SmoothQuant: its own calibration pass, then placement again on the
    // smoothed graph (for the model type placement found).
    let s6 = Instant::now();
    let candidates = smooth_candidates(opts, placed.model_type);
    let mut smoothed = smooth_quant::Smoothed::default();
    if !candidates.is_empty() {
        let targets: HashSet<NodeId> = placed.weights.iter().flat_map(|w| w.readers.iter().map(|&(n, _)| n)).collect();
        let float = g.clone();
        let mut want = None;
        // Each candidate is quantized on half of the first items and scored
        // on the other half, so that ranges fitted to the very items they are
        // scored on do not favour it.
        let mut score = |cand: &Graph, first: &[Item]| -> Result<f64, AlgoError> {
            let (fit, held): (Vec<Item>, Vec<Item>) = {
                let (a, b): (Vec<_>, Vec<_>) = first.iter().cloned().enumerate().partition(|(i, _)| i % 2 == 0);
                (a.into_iter().map(|(_, x)| x).collect(), b.into_iter().map(|(_, x)| x).collect())
            };
            let held = if held.is_empty() { fit.clone() } else { held };
            if want.is_none() {
                want = Some(range_choice::outputs(&float, &held, opts.threads)?);
            }
            let sub = QuantizeOptions {
                subset_size: fit.len().max(1),
                model_type: placed.model_type,
                smooth_quant: Some(SmoothQuantAlphas { matmul: -1.0, convolution: -1.0 }),
                stats_cache: None,
                quantize_embeddings: false,
                diagnose: false,
                ..opts.clone()
            };
            let q = quantize_graph(cand, &mut fit.into_iter().map(Ok), &sub, &mut |_| {})?;
            let got = range_choice::outputs(&q.graph, &held, opts.threads)?;
            Ok(range_choice::relative_error(want.as_deref().unwrap_or_default(), &got))
        };
        smoothed = smooth_quant::run(&mut g, &targets, &candidates, items, opts, events, &mut score)?;
        if !smoothed.rows.is_empty() {
            let reason = placed.model_type_reason.clone();
            placed = placement::place(&g, &QuantizeOptions { model_type: placed.model_type, ..opts.clone() })?;
            placed.model_type_reason = reason;
        }
        t.smooth_quant = s6.elapsed().as_secs_f64();
    }
    // The next pass reads first what the SmoothQuant stage read.
    let mut rest = std::mem::take(&mut smoothed.items).into_iter().map(Ok).chain(items);
    let items: &mut dyn Iterator<Item = Result<Item, String>> = &mut rest;
    let alphas = smoothed.alphas;
    // Statistics of a smoothed graph are cached under the smoothing's settings.
    let stage_cache = opts.stats_cache.as_ref().map(|c| match (&alphas, smoothed.rows.is_empty()) {
        (Some(a), false) => {
            StatsCache { path: c.path.clone(), fingerprint: format!("{} smooth_quant {a:?}", c.fingerprint) }
        }
        _ => c.clone(),
    });

    // One calibration pass: activation ranges and bias-correction means.
    let l = Links::new(&g);
    let weighted: Vec<NodeId> = placed.weights.iter().flat_map(|w| w.readers.iter().map(|&(n, _)| n)).collect();
    let cands = if opts.fast_bias_correction { bias::candidates(&g, &l, &weighted) } else { vec![] };
    let mut watch: Vec<Watch> = placed
        .acts
        .iter()
        .map(|q| Watch {
            value: q.value,
            granularity: q.axis.map_or(Granularity::PerTensor, |axis| Granularity::PerChannel { axis }),
            histogram_bins: if q.axis.is_none() && opts.range_estimator.needs_histogram() {
                range::HISTOGRAM_BINS
            } else {
                0
            },
            quantile_ppm: if q.axis.is_none() { opts.range_estimator.quantile_ppm() } else { 0 },
        })
        .collect();
    watch.sort_by_key(|w| (w.value, matches!(w.granularity, Granularity::PerChannel { .. })));
    watch.dedup();
    watch.extend(bias::watches(&cands));
    // Control-flow bodies are calibrated on what they receive in this pass,
    // which a cache does not hold: with such bodies the cache is not used.
    let record = bodies::to_record(&g, &placed.user_ignored, opts.quantize_loop_bodies);
    bodies::inline_constant_captures(&mut g, &record)?;
    let stats_cache = stage_cache.as_ref().filter(|_| record.is_empty());
    let s0 = Instant::now();
    let cached = match stats_cache {
        Some(c) => cache::load(&g, c, &watch)?,
        None => None,
    };
    let from_cache = cached.is_some();
    let mut collected = match cached {
        Some(c) => c,
        None => {
            events(Event::CalibrationStart { subset: opts.subset_size });
            let keep = match (opts.range_estimator, opts.diagnose) {
                (RangeEstimator::Auto, _) => range_choice::ITEMS,
                (_, true) => crate::diagnose::ITEMS,
                _ => 0,
            };
            let pass = calibrate::Pass {
                subset: opts.subset_size,
                watch: &watch,
                record: &record,
                keep,
                threads: opts.threads,
            };
            let c = calibrate::calibrate(&g, items, &pass, &mut |n| events(Event::Calibrated { items: n }))?;
            events(Event::CalibrationDone);
            if let Some(cache) = stats_cache {
                cache::save(&g, cache, &c)?;
            }
            c
        }
    };
    if from_cache && (opts.range_estimator == RangeEstimator::Auto || opts.diagnose) {
        // The choice below runs on the first items, which a cache hit has not read.
        for (i, item) in items.take(range_choice::ITEMS.min(opts.subset_size)).enumerate() {
            collected.kept.push(item.map_err(|msg| AlgoError::Dataset { item: i, msg })?);
        }
    }
    t.calibration = s0.elapsed().as_secs_f64();

    // Ranges.
    let s1 = Instant::now();
    let candidates = match opts.range_estimator {
        RangeEstimator::Auto => vec![RangeEstimator::MeanMinMax, RangeEstimator::Mse, RangeEstimator::MinMax],
        how => vec![how],
    };
    let mut per_estimator: Vec<Candidate> = candidates
        .iter()
        .map(|&how| {
            let (acts, rows) = activations::specs(&g, &placed.acts, &collected, how);
            (how, acts, rows)
        })
        .collect();
    let mut weights: Vec<(WeightQuantizer, QuantSpec)> = vec![];
    let mut weight_rows = vec![];
    for w in &placed.weights {
        let Some(ptq_ir::Tensor::F32(a)) = g.constant(w.value) else { continue };
        let amax = crate::weight_range::ranges(a, w.axis, opts.weights_range, w.half_range);
        let axis = if amax.len() > 1 { w.axis } else { None };
        let spec = spec::symmetric_weight(&amax, axis, w.half_range);
        weight_rows.push(QuantizerRow {
            kind: if w.readers.iter().all(|&(n, _)| g.node(n).is_some_and(|n| matches!(n.op, ptq_ir::Op::Gather(_)))) {
                "embedding"
            } else {
                "weight"
            },
            tensor: g.value(w.value).name.clone(),
            readers: w.readers.iter().map(|&(n, _)| g.node_label(n)).collect(),
            scheme: Scheme::Symmetric,
            unified: None,
            spec: spec.clone(),
            mean_min: None,
            mean_max: None,
            min: None,
            max: None,
            sqnr_db: spec.sqnr_db(a),
            output_sqnr_db: None,
            histogram: None,
            order: None,
        });
        weights.push((WeightQuantizer { axis, ..w.clone() }, spec));
    }
    t.ranges = s1.elapsed().as_secs_f64();

    // FastBiasCorrection.
    let s2 = Instant::now();
    let w_by_value: HashMap<ValueId, QuantSpec> = weights.iter().map(|(w, s)| (w.value, s.clone())).collect();
    let (biases, corrections) = bias::correct(&g, &cands, &collected, &w_by_value)?;
    t.bias_correction = s2.elapsed().as_secs_f64();

    // With `Auto`, the estimator whose quantized model is closest to the
    // float one on the first calibration items.
    let s5 = Instant::now();
    let mut range_errors = vec![];
    if per_estimator.len() > 1 && !collected.kept.is_empty() {
        let want = if collected.kept_outputs.len() == collected.kept.len() {
            std::mem::take(&mut collected.kept_outputs)
        } else {
            range_choice::outputs(&g, &collected.kept, opts.threads)?
        };
        let base = range_choice::with_fake_weights(&g, &weights, &biases)?;
        for (how, acts, _) in &per_estimator {
            let setup = Setup { float: base.clone(), acts: acts.clone(), weights: vec![], biases: HashMap::new() };
            let got = range_choice::outputs(&setup.build(&Exclusions::default())?, &collected.kept, opts.threads)?;
            range_errors.push((*how, range_choice::relative_error(&want, &got)));
        }
        // The first (NNCF's) on ties.
        let best = (0..range_errors.len()).fold(0, |b, i| if range_errors[i].1 < range_errors[b].1 { i } else { b });
        per_estimator.swap(0, best);
    }
    t.range_choice = s5.elapsed().as_secs_f64();
    let (range_estimator, acts, mut rows) = per_estimator.swap_remove(0);
    rows.extend(weight_rows);
    // Each row's place in the graph: its first reader's topological index.
    if let Ok(order) = ptq_ir::topo::topo_order(&g) {
        let pos: HashMap<String, usize> = order.iter().enumerate().map(|(i, &id)| (g.node_label(id), i)).collect();
        for r in &mut rows {
            r.order = r.readers.iter().filter_map(|n| pos.get(n).copied()).min();
        }
    }

    // Control-flow bodies, each quantized as a graph of its own.
    let s4 = Instant::now();
    let runs = std::mem::take(&mut collected.bodies);
    let any_bodies = !runs.is_empty();
    let inner = bodies::quantize(&mut g, runs, opts, placed.model_type)?;
    if any_bodies {
        t.bodies = s4.elapsed().as_secs_f64();
    }

    // Insertion.
    let s3 = Instant::now();
    let mut ignored: Vec<IgnoredRow> = placed
        .ignored
        .iter()
        .map(|(&id, why)| IgnoredRow {
            node: g.node_label(id),
            op: g.node(id).map_or_else(String::new, |n| n.op.name().to_string()),
            reason: why.clone(),
        })
        .collect();
    ignored.extend(inner.ignored);
    for (id, reason) in bodies::loops_left_float(&g, &placed.user_ignored, opts.quantize_loop_bodies) {
        ignored.push(IgnoredRow {
            node: g.node_label(id),
            op: g.node(id).map_or_else(String::new, |n| n.op.name().to_string()),
            reason,
        });
    }
    rows.extend(inner.quantizers);
    let mut corrections = corrections;
    corrections.extend(inner.bias_corrections);
    let setup = Setup { float: g.clone(), acts, weights, biases };
    let out = setup.build(&Exclusions::default())?;
    t.insertion = s3.elapsed().as_secs_f64();
    if opts.diagnose && !collected.kept.is_empty() {
        let s7 = Instant::now();
        // Rows start with the activation rows, then the weight rows, in
        // `Setup` order (control-flow bodies' rows come after).
        for (row, sqnr) in rows.iter_mut().zip(crate::diagnose::output_sqnr(&setup, &collected.kept, opts.threads)?) {
            row.output_sqnr_db = sqnr;
        }
        t.diagnose = s7.elapsed().as_secs_f64();
    }
    let report = Report {
        preset: placed.preset.unwrap_or(crate::options::Preset::Performance),
        model_type: placed.model_type,
        model_type_reason: placed.model_type_reason.clone(),
        subset_items: collected.items,
        statistics_from_cache: from_cache,
        folded_batch_norms: folded
            .iter()
            .map(|f| format!("{} into {}", f.batch_norm, f.conv))
            .chain(inner.folded_batch_norms)
            .collect(),
        quantizers: rows,
        ignored,
        bias_corrections: corrections,
        range_estimator,
        range_errors,
        weights_range: opts.weights_range,
        smooth_quant: smoothed.rows,
        smooth_quant_alphas: smoothed.alphas.map(|a| (a.matmul, a.convolution)),
        smooth_quant_errors: smoothed.errors.iter().map(|(a, e)| (a.map(|a| a.matmul), *e)).collect(),
        timings: t,
    };
    Ok(Quantized { graph: out, report, setup })
}

/// The SmoothQuant settings to try: the caller's, or for a transformer
/// NNCF's (MatMul alpha 0.95), a milder 0.75 and none, of which the
/// pipeline keeps the one whose quantized model is closest to the float
/// one on the first items (NNCF's on ties).
fn smooth_candidates(opts: &QuantizeOptions, model_type: Option<ModelType>) -> Vec<Option<SmoothQuantAlphas>> {
    match (opts.smooth_quant, model_type) {
        (Some(a), _) if a.any() => vec![Some(a)],
        (Some(_), _) | (None, None) => vec![],
        (None, Some(ModelType::Transformer)) => {
            let nncf = SmoothQuantAlphas::default();
            vec![Some(nncf), Some(SmoothQuantAlphas { matmul: 0.75, ..nncf }), None]
        }
    }
}

/// Marks constants no node reads any more (weights replaced by their int8
/// form, folded batch-norm parameters) as derived, so export leaves them out.
fn drop_unused_constants(g: &mut Graph) {
    let used: std::collections::HashSet<ValueId> = g.iter_nodes().flat_map(|(_, n)| n.input_ids()).collect();
    for i in 0..g.values().len() {
        let id = ValueId(i);
        if g.values()[i].constant.is_some()
            && !used.contains(&id)
            && !g.inputs().contains(&id)
            && !g.outputs().contains(&id)
        {
            g.values_mut()[i].const_source = ptq_ir::ConstSource::Derived;
        }
    }
}
