//! One quantization run: prepare and place, the algorithm stages
//! ([`crate::algorithm`]), control-flow bodies, Q/DQ insertion.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use ptq_ir::{Graph, NodeId, ValueId};

use crate::algorithm::{Algorithm, StageConfig, State, run_stage};
use crate::bias_correction::BiasCorrection;
use crate::bodies;
use crate::cache::StatsCache;
use crate::calibrate::Item;
use crate::channel_alignment::ChannelAlignment;
use crate::error::AlgoError;
use crate::fast_bias_correction::FastBiasCorrection;
use crate::fold;
use crate::min_max::MinMax;
use crate::options::{ModelType, QuantizeOptions};
use crate::placement::{self, ActQuantizer, WeightQuantizer};
use crate::qdq;
use crate::range::RangeEstimator;
use crate::range_choice::RangeChoice;
use crate::report::{IgnoredRow, Report, Timings};
use crate::smooth_quant::{SmoothQuant, SmoothQuantAlphas};
use crate::spec::QuantSpec;

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

/// Quantizes `g` with statistics from `items` (NNCF `quantize` semantics):
/// the stages `[SmoothQuant] → [ChannelAlignment] → [MinMax +
/// FastBiasCorrection | BiasCorrection]`, each with one calibration pass
/// ([`crate::algorithm::run_stage`]), then control-flow bodies and Q/DQ insertion.
pub fn quantize_graph(
    g: &Graph,
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    opts: &QuantizeOptions,
    events: &mut dyn FnMut(Event),
) -> Result<Quantized, AlgoError> {
    if opts.subset_size == 0 {
        return Err(AlgoError::Option("subset size must be at least 1".into()));
    }
    if let Some(th) = opts.bias_correction_threshold
        && !(th.is_finite() && th > 0.0)
    {
        return Err(AlgoError::Option(format!("bias correction threshold must be positive, not {th}")));
    }
    let mut t = Timings::default();
    let start = Instant::now();
    let mut g = g.clone();
    ptq_ir::infer::infer_facts(&mut g)?;
    // Constant subgraphs the exporter left (a weight reshaped on every run,
    // tf2onnx's tensors read only by Shape) fold where that shrinks them.
    let before: Vec<String> = g.iter_nodes().map(|(_, n)| n.name.clone()).collect();
    let folded_constants: Vec<String> = if ptq_exec::fold_shrinking_constants(&mut g)? > 0 {
        ptq_ir::infer::infer_facts(&mut g)?;
        let after: HashSet<&str> = g.iter_nodes().map(|(_, n)| n.name.as_str()).collect();
        before.into_iter().filter(|n| !after.contains(n.as_str())).collect()
    } else {
        vec![]
    };
    let folded = fold::fold_batch_norms(&mut g)?;
    let placed = placement::place(&g, opts)?;
    t.prepare = start.elapsed().as_secs_f64();
    let model_type = placed.model_type;
    let mut s = State::new(g, opts.clone(), placed);

    // The stages before the last, each with its own pass.
    let mut early: Vec<(Box<dyn Algorithm>, Option<StatsCache>)> = vec![];
    let smooth = smooth_candidates(opts, model_type);
    if !smooth.is_empty() {
        early.push((
            Box::new(SmoothQuant::new(smooth)),
            opts.stats_cache.as_ref().map(|c| named_cache(c, "smooth_quant")),
        ));
    }
    if opts.channel_alignment {
        let cache = opts.stats_cache.as_ref().map(|c| named_cache(c, "channel_alignment"));
        early.push((Box::new(ChannelAlignment::default()), cache));
    }
    let n_early = early.len();
    let choosing = opts.range_estimator == RangeEstimator::Auto;
    let mut last = last_stage(opts, choosing);
    // SmoothQuant alone before the last stage often leaves the graph as it
    // was (no outlier channels, or "off" scored best): its pass then also
    // collects what the last stage reads, and the last stage runs no pass.
    let speculate = n_early == 1
        && !opts.channel_alignment
        && opts.stats_cache.is_none()
        && bodies::to_record(&s.graph, &s.placed.user_ignored, opts.quantize_loop_bodies).is_empty();
    let mut ahead = None;
    for (index, (algo, cache)) in early.into_iter().enumerate() {
        let st = Instant::now();
        // A stage calibrates the graph the stages before it left.
        let cache = cache.map(|c| StatsCache { fingerprint: stage_fingerprint(&c.fingerprint, &s), ..c });
        let mut cfg = StageConfig { index, cache, retain_all: true, ..StageConfig::default() };
        if speculate {
            for a in last.iter_mut() {
                cfg.extra_watch.extend(a.statistic_points(&s)?);
                if a.needs_outputs() {
                    cfg.extra_outputs = cfg.extra_outputs.max(a.items(&s));
                }
            }
        }
        let name = algo.name();
        let outcome = run_stage(&mut s, &mut [algo], items, cfg, events)?;
        let mut secs = st.elapsed().as_secs_f64();
        if speculate && s.smoothed.alphas.is_none() {
            // The pass is the last stage's calibration now.
            t.calibration = outcome.calibration;
            secs -= outcome.calibration;
            ahead = Some(outcome.collected);
        }
        match name {
            "SmoothQuant" => t.smooth_quant = secs,
            _ => t.channel_alignment = secs,
        }
    }

    // The last stage: ranges and bias correction over one pass.
    let record = bodies::to_record(&s.graph, &s.placed.user_ignored, opts.quantize_loop_bodies);
    bodies::inline_constant_captures(&mut s.graph, &record)?;
    let cache = opts
        .stats_cache
        .as_ref()
        .map(|c| StatsCache { fingerprint: stage_fingerprint(&c.fingerprint, &s), ..c.clone() });
    let cfg = StageConfig {
        index: n_early,
        cache,
        record,
        extra_items: if opts.diagnose { crate::diagnose::ITEMS } else { 0 },
        precollected: ahead,
        ..StageConfig::default()
    };
    let outcome = run_stage(&mut s, &mut last, items, cfg, events)?;
    t.calibration += outcome.calibration;
    for r in &s.runs {
        match r.name {
            "MinMaxQuantization" => t.ranges = r.seconds,
            "FastBiasCorrection" | "BiasCorrection" => t.bias_correction = r.seconds,
            "RangeChoice" => t.range_choice = r.seconds,
            _ => {}
        }
    }
    let mut collected = outcome.collected;
    let State {
        graph: mut g,
        placed,
        items: kept,
        mut candidates,
        weights,
        weight_rows,
        biases,
        corrections,
        range_errors,
        smoothed,
        aligned,
        runs,
        ..
    } = s;
    let chosen = candidates.swap_remove(0);
    let (range_estimator, range_asymmetric, acts, mut rows) =
        (chosen.estimator, chosen.asymmetric, chosen.acts, chosen.rows);
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
    let runs_of_bodies = std::mem::take(&mut collected.bodies);
    let any_bodies = !runs_of_bodies.is_empty();
    let inner = bodies::quantize(&mut g, runs_of_bodies, opts, placed.model_type)?;
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
    if opts.diagnose && !kept.is_empty() {
        let s7 = Instant::now();
        // Rows start with the activation rows, then the weight rows, in
        // `Setup` order (control-flow bodies' rows come after).
        for (row, sqnr) in rows.iter_mut().zip(crate::diagnose::output_sqnr(&setup, &kept, opts.threads)?) {
            row.output_sqnr_db = sqnr;
        }
        t.diagnose = s7.elapsed().as_secs_f64();
    }
    let report = Report {
        // The range choice may have made PERFORMANCE's activations asymmetric.
        preset: if range_asymmetric {
            crate::options::Preset::Mixed
        } else {
            placed.preset.unwrap_or(crate::options::Preset::Performance)
        },
        model_type: placed.model_type,
        model_type_reason: placed.model_type_reason.clone(),
        subset_items: collected.items,
        statistics_from_cache: outcome.from_cache,
        folded_batch_norms: folded
            .iter()
            .map(|f| format!("{} into {}", f.batch_norm, f.conv))
            .chain(inner.folded_batch_norms)
            .collect(),
        folded_constants,
        quantizers: rows,
        ignored,
        bias_corrections: corrections,
        range_estimator,
        range_asymmetric,
        range_errors,
        weights_range: opts.weights_range,
        overflow_fix: opts.overflow_fix,
        seven_bit_weights: setup
            .weights
            .iter()
            .filter(|(w, _)| w.half_range)
            .map(|(w, _)| setup.float.value(w.value).name.clone())
            .collect(),
        smooth_quant: smoothed.rows,
        smooth_quant_alphas: smoothed.alphas.map(|a| (a.matmul, a.convolution)),
        smooth_quant_errors: smoothed.errors.iter().map(|(a, e)| (a.map(|a| a.matmul), *e)).collect(),
        smooth_quant_outlier_ratio: smoothed.outlier_ratio,
        channel_alignment: aligned,
        algorithms: runs,
        timings: t,
    };
    Ok(Quantized { graph: out, report, setup })
}

/// A cache file beside the caller's for a stage of its own, so that stages
/// never overwrite each other.
fn named_cache(c: &StatsCache, stage: &str) -> StatsCache {
    let mut name = c.path.file_stem().map(|s| s.to_os_string()).unwrap_or_default();
    name.push(format!(".{stage}.json"));
    StatsCache { path: c.path.with_file_name(name), fingerprint: c.fingerprint.clone() }
}

/// The caller's fingerprint plus what the earlier stages changed in the
/// graph, so that statistics of a smoothed or aligned graph are never read
/// for another.
fn stage_fingerprint(base: &str, s: &State) -> String {
    let mut f = base.to_string();
    if let (Some(a), false) = (&s.smoothed.alphas, s.smoothed.rows.is_empty()) {
        f.push_str(&format!(" smooth_quant {a:?}"));
    }
    if !s.aligned.is_empty() {
        f.push_str(" channel_alignment");
    }
    f
}

/// The algorithms of the last stage: MinMax, then FastBiasCorrection and
/// the range choice, or the range choice and the full BiasCorrection,
/// which corrects the model with the chosen ranges.
fn last_stage(opts: &QuantizeOptions, choosing: bool) -> Vec<Box<dyn Algorithm>> {
    let mut last: Vec<Box<dyn Algorithm>> = vec![Box::new(MinMax {
        estimator: opts.range_estimator,
        weights_range: opts.weights_range,
        weight_sqnr: opts.weight_sqnr,
    })];
    match (opts.bias_correction, opts.fast_bias_correction) {
        (true, true) => {
            last.push(Box::new(FastBiasCorrection::new(opts.bias_correction_threshold)));
            last.push(Box::new(RangeChoice { choosing }));
        }
        (true, false) => {
            last.push(Box::new(RangeChoice { choosing }));
            last.push(Box::new(BiasCorrection::new(opts.subset_size, opts.bias_correction_threshold)));
        }
        (false, _) => last.push(Box::new(RangeChoice { choosing })),
    }
    last
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
