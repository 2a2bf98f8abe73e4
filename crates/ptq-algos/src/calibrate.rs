//! The calibration pass: run the float model over the dataset subset once,
//! feeding every observed tensor's statistics.
//!
//! Items run in parallel (one single-threaded plan run per item on the
//! rayon pool), in chunks, and their statistics merge in item order, so the
//! result does not depend on the thread count and memory stays bounded by
//! one chunk of items plus the collectors.
//!
//! The same pass records what the bodies of chosen control-flow nodes
//! receive (see [`Collected::bodies`]), so they can be calibrated as graphs
//! of their own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ptq_exec::{BodyProbe, ExecError, ExecOptions, Plan, Probe};
use ptq_ir::{Graph, NodeId, Tensor, ValueId};
use ptq_stats::{Granularity, StatsConfig, TensorStats};
use rayon::prelude::*;

use crate::error::AlgoError;

/// One dataset item: named model inputs.
pub type Item = Vec<(String, Tensor)>;

/// A tensor to watch and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    pub value: ValueId,
    pub granularity: Granularity,
    /// Histogram bins to keep (per-tensor only; 0: none).
    pub histogram_bins: usize,
    /// Per-sample quantiles to keep, in millionths (per-tensor only; 0: none).
    pub quantile_ppm: u32,
}

impl Watch {
    /// Per-channel statistics along `axis`, without histogram or quantiles.
    pub fn per_channel(value: ValueId, axis: usize) -> Watch {
        Watch { value, granularity: Granularity::PerChannel { axis }, histogram_bins: 0, quantile_ppm: 0 }
    }
}

/// Statistics key: the value and whether they are per channel.
pub type Key = (ValueId, bool);

/// The inputs of one run of a body, in the body graph's input order.
pub type BodyRun = Vec<Arc<Tensor>>;

/// What calibration collected.
#[derive(Debug, Default)]
pub struct Collected {
    pub stats: HashMap<Key, TensorStats>,
    /// The shape of each watched tensor in the first item.
    pub shapes: HashMap<ValueId, Vec<usize>>,
    /// Items used.
    pub items: usize,
    /// Per recorded control-flow node and body index ([`ptq_ir::Op::bodies`]):
    /// an evenly spaced sample, in item order, of at most `subset` of the
    /// runs of that body (a loop body runs once per iteration; a branch not
    /// taken has no entry).
    pub bodies: HashMap<(NodeId, usize), Vec<BodyRun>>,
    /// The first items, kept when asked for.
    pub kept: Vec<Item>,
    /// The float graph's outputs on [`Collected::kept`], item by item.
    pub kept_outputs: Vec<Vec<(String, Tensor)>>,
}

/// An evenly spaced sample of at most `cap` elements of a stream: keeps
/// every `stride`-th element and doubles the stride (dropping every other
/// kept element) when more than `cap` are kept.
#[derive(Debug)]
struct Thin<T> {
    cap: usize,
    stride: usize,
    seen: usize,
    kept: Vec<T>,
}

impl<T> Thin<T> {
    fn new(cap: usize) -> Thin<T> {
        Thin { cap: cap.max(1), stride: 1, seen: 0, kept: vec![] }
    }

    fn push(&mut self, x: T) {
        if self.seen.is_multiple_of(self.stride) {
            self.kept.push(x);
            if self.kept.len() > self.cap {
                let mut i = 0;
                self.kept.retain(|_| {
                    i += 1;
                    i % 2 == 1
                });
                self.stride *= 2;
            }
        }
        self.seen += 1;
    }
}

impl Collected {
    /// Per-tensor statistics of `v`.
    pub fn per_tensor(&self, v: ValueId) -> Option<&TensorStats> {
        self.stats.get(&(v, false))
    }

    /// Per-channel statistics of `v`.
    pub fn per_channel(&self, v: ValueId) -> Option<&TensorStats> {
        self.stats.get(&(v, true))
    }
}

/// Progress of the pass: items done so far.
pub type Progress<'a> = dyn FnMut(usize) + 'a;

/// What a calibration pass collects.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pass<'a> {
    /// At most this many items.
    pub subset: usize,
    /// Statistics of these values.
    pub watch: &'a [Watch],
    /// The runs of the bodies of these control-flow nodes.
    pub record: &'a [NodeId],
    /// Keep the first `keep` items.
    pub keep: usize,
    /// Keep the float graph's outputs on the first `outputs` items.
    pub outputs: usize,
    /// Worker threads (0: one per core).
    pub threads: usize,
}

/// Runs `g` on up to `pass.subset` items and collects what `pass` asks for.
/// An item with unknown or missing input names, wrong shapes or dtypes, or
/// non-finite values is an error naming the input and the item's index.
pub fn calibrate(
    g: &Graph,
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    pass: &Pass<'_>,
    progress: &mut Progress<'_>,
) -> Result<Collected, AlgoError> {
    let Pass { subset, watch, record, keep, outputs, threads } = *pass;
    if subset == 0 {
        return Err(AlgoError::Option("subset size must be at least 1".into()));
    }
    let plan = Plan::new(g, &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() })?;
    let which = Probe::Values(watch.iter().map(|w| w.value).collect());
    let mut configs: HashMap<ValueId, Vec<(bool, StatsConfig)>> = HashMap::new();
    for w in watch {
        let per_channel = matches!(w.granularity, Granularity::PerChannel { .. });
        let list = configs.entry(w.value).or_default();
        match list.iter_mut().find(|(pc, _)| *pc == per_channel) {
            Some((_, c)) => {
                c.histogram_bins = c.histogram_bins.max(w.histogram_bins);
                c.quantile_ppm = c.quantile_ppm.max(w.quantile_ppm);
            }
            None => list.push((
                per_channel,
                StatsConfig {
                    granularity: w.granularity.clone(),
                    histogram_bins: w.histogram_bins,
                    quantile_ppm: w.quantile_ppm,
                },
            )),
        }
    }
    let pool = crate::pool::pool(threads)?;
    let chunk = 4 * pool.current_num_threads().max(1);
    let mut out = Collected::default();
    let mut bodies: HashMap<(NodeId, usize), Thin<BodyRun>> = HashMap::new();
    let mut index = 0;
    while out.items < subset {
        let mut batch = vec![];
        while batch.len() < chunk && out.items + batch.len() < subset {
            match items.next() {
                Some(Ok(item)) => {
                    if out.kept.len() < keep {
                        out.kept.push(item.clone());
                    }
                    batch.push((index, item))
                }
                Some(Err(msg)) => return Err(AlgoError::Dataset { item: index, msg }),
                None => break,
            }
            index += 1;
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let results: Vec<Result<ItemStats, AlgoError>> = pool.install(|| {
            batch
                .into_par_iter()
                .map(|(i, item)| run_item(&plan, &which, &configs, record, subset, (i, i < outputs), item))
                .collect()
        });
        for r in results {
            let r = r?;
            if let Some(o) = r.outputs {
                out.kept_outputs.push(o);
            }
            for (v, s) in r.stats {
                match out.stats.get_mut(&v) {
                    Some(acc) => acc.merge(&s)?,
                    None => {
                        out.stats.insert(v, s);
                    }
                }
            }
            for (v, shape) in r.shapes {
                out.shapes.entry(v).or_insert(shape);
            }
            let mut runs: Vec<_> = r.bodies.into_iter().collect();
            runs.sort_by_key(|(k, _)| *k);
            for (k, thin) in runs {
                let all = bodies.entry(k).or_insert_with(|| Thin::new(subset));
                thin.kept.into_iter().for_each(|run| all.push(run));
            }
        }
        out.items += n;
        progress(out.items);
    }
    if out.items == 0 {
        return Err(AlgoError::EmptyDataset);
    }
    out.bodies = bodies.into_iter().map(|(k, t)| (k, t.kept)).collect();
    Ok(out)
}

struct ItemStats {
    stats: HashMap<Key, TensorStats>,
    shapes: HashMap<ValueId, Vec<usize>>,
    bodies: HashMap<(NodeId, usize), Thin<BodyRun>>,
    /// The graph's outputs, for a kept item.
    outputs: Option<Vec<(String, Tensor)>>,
}

type Runs = Mutex<HashMap<(NodeId, usize), Thin<BodyRun>>>;

fn run_item(
    plan: &Plan,
    which: &Probe,
    configs: &HashMap<ValueId, Vec<(bool, StatsConfig)>>,
    record: &[NodeId],
    cap: usize,
    (index, keep_outputs): (usize, bool),
    item: Item,
) -> Result<ItemStats, AlgoError> {
    for (name, t) in &item {
        let bad = match t {
            Tensor::F32(a) => a.iter().filter(|v| !v.is_finite()).count(),
            Tensor::F64(a) => a.iter().filter(|v| !v.is_finite()).count(),
            _ => 0,
        };
        if bad > 0 {
            return Err(AlgoError::BadItem {
                item: index,
                input: name.clone(),
                msg: format!("{bad} NaN or infinite values"),
            });
        }
    }
    let mut stats: HashMap<Key, TensorStats> = HashMap::new();
    let mut shapes = HashMap::new();
    let mut failure: Option<(ValueId, String)> = None;
    let mut probe = |v: ValueId, t: &Tensor| {
        let Some(cfgs) = configs.get(&v) else { return };
        let Tensor::F32(a) = t else { return };
        let data = a.as_standard_layout();
        let Some(slice) = data.as_slice() else { return };
        for (per_channel, cfg) in cfgs {
            let s = stats.entry((v, *per_channel)).or_insert_with(|| TensorStats::new(cfg));
            if let Err(e) = s.update(a.shape(), slice) {
                failure.get_or_insert((v, e.to_string()));
            }
        }
        shapes.entry(v).or_insert_with(|| a.shape().to_vec());
    };
    let runs: Arc<Runs> = Arc::new(Mutex::new(HashMap::new()));
    let ran = if record.is_empty() {
        plan.run_with_probe(item, which, &mut probe)
    } else {
        let (sink, record) = (runs.clone(), record.to_vec());
        let bodies: Arc<BodyProbe> = Arc::new(move |node: NodeId, body: usize, ins: &[Arc<Tensor>]| {
            if record.contains(&node)
                && let Ok(mut m) = sink.lock()
            {
                m.entry((node, body)).or_insert_with(|| Thin::new(cap)).push(ins.to_vec());
            }
        });
        plan.run_with_body_probe(item, which, &mut probe, &bodies)
    };
    let outputs = ran.map_err(|e| match e {
        ExecError::Input { name, msg } => AlgoError::BadItem { item: index, input: name, msg },
        other => AlgoError::Dataset { item: index, msg: other.to_string() },
    })?;
    if let Some((v, msg)) = failure {
        return Err(AlgoError::Dataset { item: index, msg: format!("statistics of value #{}: {msg}", v.0) });
    }
    let bodies = std::mem::take(&mut *runs.lock().unwrap_or_else(|e| e.into_inner()));
    Ok(ItemStats { stats, shapes, bodies, outputs: keep_outputs.then_some(outputs) })
}

#[cfg(test)]
mod tests {
    use super::Thin;

    #[test]
    fn thinning_keeps_an_evenly_spaced_bounded_sample() {
        let mut t = Thin::new(10);
        (0..1000).for_each(|i| t.push(i));
        assert!(t.kept.len() <= 10 && t.kept.len() >= 5, "{:?}", t.kept);
        assert_eq!(t.kept[0], 0);
        assert!(t.kept.windows(2).all(|w| w[1] - w[0] == t.stride), "{:?} stride {}", t.kept, t.stride);
        let mut t = Thin::new(10);
        (0..7).for_each(|i| t.push(i));
        assert_eq!(t.kept, (0..7).collect::<Vec<_>>());
    }
}
