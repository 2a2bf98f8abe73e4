//! The algorithm interface and the stage runner (NNCF's `Algorithm` and
//! `Pipeline.run_step`, ../nncf.md §2.1).
//!
//! An [`Algorithm`] declares the statistics it reads ([`Watch`]es: which
//! values, per tensor or per channel, with a histogram or quantiles) and
//! how many of the first calibration items it runs again, then applies its
//! result to the [`State`]: a graph patch (SmoothQuant, ChannelAlignment)
//! or quantizer specs and corrected biases (MinMax, bias correction).
//!
//! [`run_stage`] runs one stage: it merges the statistic points of the
//! stage's algorithms, runs one calibration pass over the subset (or loads
//! the stage's statistics from the cache), and applies the algorithms in
//! order. Items the pass read are kept in [`State::items`] when a later
//! stage needs them, because the caller's dataset is read once.

use std::collections::HashMap;
use std::time::Instant;

use ptq_ir::{Graph, NodeId, Tensor};
use ptq_stats::Granularity;
use serde::Serialize;

use crate::bias::{Correction, NewBiases};
use crate::cache::{self, StatsCache};
use crate::calibrate::{self, Collected, Item, Watch};
use crate::error::AlgoError;
use crate::options::QuantizeOptions;
use crate::pipeline::Event;
use crate::placement::{ActQuantizer, Placement, WeightQuantizer};
use crate::range::RangeEstimator;
use crate::report::QuantizerRow;
use crate::smooth_quant::Smoothed;
use crate::spec::QuantSpec;

/// A way to set the activation ranges, with the specs and report rows it
/// gives.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub estimator: RangeEstimator,
    /// Per-tensor activations asymmetric although placed symmetric (NNCF's
    /// MIXED preset on a model the PERFORMANCE preset placed).
    pub asymmetric: bool,
    pub acts: Vec<(ActQuantizer, QuantSpec)>,
    pub rows: Vec<QuantizerRow>,
}

impl Candidate {
    /// Its name in reports: the estimator's, then `asymmetric` when so.
    pub fn label(&self) -> String {
        range_label(self.estimator, self.asymmetric)
    }
}

/// `estimator`'s name, then `asymmetric` when so.
pub fn range_label(estimator: RangeEstimator, asymmetric: bool) -> String {
    let name = estimator.name();
    if asymmetric { format!("{name} asymmetric") } else { name.to_string() }
}

/// What the algorithms of a run work on and leave for the next one.
#[derive(Debug)]
pub struct State {
    /// The float graph (batch norms folded; smoothed, aligned).
    pub graph: Graph,
    pub opts: QuantizeOptions,
    pub placed: Placement,
    /// Items an earlier pass read and kept, in dataset order; the next pass
    /// reads them before the rest of the dataset.
    pub items: Vec<Item>,
    /// The float graph's outputs on the first of `items`, when the pass
    /// kept them.
    pub outputs: Vec<Vec<(String, Tensor)>>,
    /// MinMax's activation specs, one set per range estimator tried; the
    /// chosen one first once [`crate::range_choice::RangeChoice`] ran.
    pub candidates: Vec<Candidate>,
    pub weights: Vec<(WeightQuantizer, QuantSpec)>,
    pub weight_rows: Vec<QuantizerRow>,
    /// Corrected biases by (reader node, input slot).
    pub biases: NewBiases,
    pub corrections: Vec<Correction>,
    /// Each candidate's output error, by [`Candidate::label`].
    pub range_errors: Vec<(String, f64)>,
    pub smoothed: Smoothed,
    /// Channel pairs ChannelAlignment aligned, as "first → second".
    pub aligned: Vec<String>,
    /// What ran, in order.
    pub runs: Vec<AlgorithmRun>,
}

impl State {
    pub fn new(graph: Graph, opts: QuantizeOptions, placed: Placement) -> State {
        State {
            graph,
            opts,
            placed,
            items: vec![],
            outputs: vec![],
            candidates: vec![],
            weights: vec![],
            weight_rows: vec![],
            biases: HashMap::new(),
            corrections: vec![],
            range_errors: vec![],
            smoothed: Smoothed::default(),
            aligned: vec![],
            runs: vec![],
        }
    }

    /// Nodes reading a quantized weight.
    pub fn weighted(&self) -> Vec<NodeId> {
        self.placed.weights.iter().flat_map(|w| w.readers.iter().map(|&(n, _)| n)).collect()
    }
}

/// One algorithm that ran, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct AlgorithmRun {
    pub name: &'static str,
    /// Its main parameters, as `key=value` pairs.
    pub parameters: String,
    /// The stage it ran in (0-based).
    pub stage: usize,
    /// Seconds in `apply` (the stage's calibration pass is not included).
    pub seconds: f64,
}

/// A quantization algorithm.
pub trait Algorithm {
    /// NNCF's name where it has one.
    fn name(&self) -> &'static str;
    /// Its main parameters, for the report.
    fn parameters(&self) -> String;
    /// The statistics it reads from the stage's calibration pass, on
    /// `s.graph`.
    fn statistic_points(&mut self, s: &State) -> Result<Vec<Watch>, AlgoError>;
    /// How many of the first calibration items it runs again (kept in
    /// memory by the pass).
    fn items(&self, _s: &State) -> usize {
        0
    }
    /// Whether it needs the float graph's outputs on those items.
    fn needs_outputs(&self) -> bool {
        false
    }
    /// Applies its result to `s`.
    fn apply(&mut self, s: &mut State, stats: &mut Collected) -> Result<(), AlgoError>;
}

/// How a stage calibrates.
#[derive(Debug, Default)]
pub struct StageConfig {
    /// Stage index, for the report.
    pub index: usize,
    /// Load the stage's statistics from here, or save them here.
    pub cache: Option<StatsCache>,
    /// Control-flow nodes whose bodies' inputs the pass records (no cache
    /// then: the runs are not cached).
    pub record: Vec<NodeId>,
    /// A later stage calibrates again: keep every item read.
    pub retain_all: bool,
    /// Keep at least this many first items for the caller.
    pub extra_items: usize,
    /// Also collect these statistics, and keep the float outputs of this
    /// many first items, for a later stage that may find the graph
    /// unchanged ([`StageConfig::precollected`]).
    pub extra_watch: Vec<Watch>,
    pub extra_outputs: usize,
    /// Statistics an earlier pass over the same graph, items and order
    /// collected: the stage runs no pass of its own. The items and outputs
    /// that pass kept are in [`State::items`] and [`State::outputs`].
    pub precollected: Option<Collected>,
}

/// What one stage's pass did.
#[derive(Debug)]
pub struct StageOutcome {
    pub collected: Collected,
    pub from_cache: bool,
    /// Seconds in the calibration pass (or the cache load).
    pub calibration: f64,
}

/// Runs one stage: merged statistic points, one calibration pass (or the
/// cache), then each algorithm's `apply` in order.
pub fn run_stage(
    s: &mut State,
    algos: &mut [Box<dyn Algorithm + '_>],
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    mut cfg: StageConfig,
    events: &mut dyn FnMut(Event),
) -> Result<StageOutcome, AlgoError> {
    let subset = s.opts.subset_size;
    let mut watch = std::mem::take(&mut cfg.extra_watch);
    let (mut keep, mut outputs) = (cfg.extra_items, cfg.extra_outputs);
    for a in algos.iter_mut() {
        watch.extend(a.statistic_points(s)?);
        keep = keep.max(a.items(s));
        if a.needs_outputs() {
            outputs = outputs.max(a.items(s));
        }
    }
    watch.sort_by_key(|w| (w.value, matches!(w.granularity, Granularity::PerChannel { .. })));
    watch.dedup();
    let keep = keep.min(subset);
    let prior = std::mem::take(&mut s.items);
    let cache = cfg.cache.as_ref().filter(|_| cfg.record.is_empty());
    let start = Instant::now();
    let precollected = cfg.precollected.is_some();
    let cached = match cache {
        _ if precollected => cfg.precollected.take().map(|mut c| {
            c.kept_outputs = std::mem::take(&mut s.outputs);
            c
        }),
        // Nothing to watch (and no bodies to record): no pass at all.
        _ if watch.is_empty() && cfg.record.is_empty() => Some(Collected::default()),
        Some(c) => cache::load(&s.graph, c, &watch)?,
        None => None,
    };
    let from_cache = cached.is_some() && !watch.is_empty() && !precollected;
    let mut collected = match cached {
        Some(mut c) => {
            // The algorithms rerun the first items, which a cache hit has
            // not read; the rest stay in the dataset for a later stage.
            c.kept = prior;
            if precollected && !cfg.retain_all {
                c.kept.truncate(keep);
                c.kept_outputs.truncate(outputs.min(keep));
            }
            while c.kept.len() < keep {
                match items.next() {
                    Some(Ok(item)) => c.kept.push(item),
                    Some(Err(msg)) => return Err(AlgoError::Dataset { item: c.kept.len(), msg }),
                    None => break,
                }
            }
            c
        }
        None => {
            let mut stream = prior.into_iter().map(Ok).chain(items);
            events(Event::CalibrationStart { subset });
            let pass = calibrate::Pass {
                subset,
                watch: &watch,
                record: &cfg.record,
                keep: if cfg.retain_all { subset } else { keep },
                outputs: outputs.min(keep),
                threads: s.opts.threads,
            };
            let c =
                calibrate::calibrate(&s.graph, &mut stream, &pass, &mut |n| events(Event::Calibrated { items: n }))?;
            events(Event::CalibrationDone);
            if let Some(cache) = cache {
                cache::save(&s.graph, cache, &c)?;
            }
            c
        }
    };
    let calibration = start.elapsed().as_secs_f64();
    s.items = std::mem::take(&mut collected.kept);
    s.outputs = std::mem::take(&mut collected.kept_outputs);
    if outputs > 0 && s.outputs.len() < outputs.min(s.items.len()) {
        // After a cache hit: the float outputs of the reread items.
        let n = outputs.min(s.items.len());
        s.outputs = crate::range_choice::outputs(&s.graph, &s.items[..n], s.opts.threads)?;
    }
    for a in algos.iter_mut() {
        let t = Instant::now();
        a.apply(s, &mut collected)?;
        s.runs.push(AlgorithmRun {
            name: a.name(),
            parameters: a.parameters(),
            stage: cfg.index,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
    Ok(StageOutcome { collected, from_cache, calibration })
}
