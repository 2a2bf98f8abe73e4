//! The calibration pass: run the float model over the dataset subset once,
//! feeding every observed tensor's statistics.
//!
//! Items run in parallel (one single-threaded plan run per item on the
//! rayon pool), in chunks, and their statistics merge in item order, so the
//! result does not depend on the thread count and memory stays bounded by
//! one chunk of items plus the collectors.

use std::collections::HashMap;

use ptq_exec::{ExecError, ExecOptions, Plan, Probe};
use ptq_ir::{Graph, Tensor, ValueId};
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
}

/// Statistics key: the value and whether they are per channel.
pub type Key = (ValueId, bool);

/// What calibration collected.
#[derive(Debug)]
pub struct Collected {
    pub stats: HashMap<Key, TensorStats>,
    /// The shape of each watched tensor in the first item.
    pub shapes: HashMap<ValueId, Vec<usize>>,
    /// Items used.
    pub items: usize,
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

/// Runs `g` on up to `subset` items and collects statistics of `watch`.
/// An item with unknown or missing input names, wrong shapes or dtypes, or
/// non-finite values is an error naming the input and the item's index.
pub fn calibrate(
    g: &Graph,
    items: &mut dyn Iterator<Item = Result<Item, String>>,
    subset: usize,
    watch: &[Watch],
    threads: usize,
    progress: &mut Progress<'_>,
) -> Result<Collected, AlgoError> {
    if subset == 0 {
        return Err(AlgoError::Option("subset size must be at least 1".into()));
    }
    let plan = Plan::new(g, &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() })?;
    let which = Probe::Values(watch.iter().map(|w| w.value).collect());
    let mut configs: HashMap<ValueId, Vec<(bool, StatsConfig)>> = HashMap::new();
    for w in watch {
        let per_channel = matches!(w.granularity, Granularity::PerChannel { .. });
        let list = configs.entry(w.value).or_default();
        if !list.iter().any(|(pc, _)| *pc == per_channel) {
            list.push((per_channel, StatsConfig { granularity: w.granularity.clone(), histogram_bins: 0 }));
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| AlgoError::Option(format!("cannot start calibration threads: {e}")))?;
    let chunk = 4 * pool.current_num_threads().max(1);
    let mut out = Collected { stats: HashMap::new(), shapes: HashMap::new(), items: 0 };
    let mut index = 0;
    while out.items < subset {
        let mut batch = vec![];
        while batch.len() < chunk && out.items + batch.len() < subset {
            match items.next() {
                Some(Ok(item)) => batch.push((index, item)),
                Some(Err(msg)) => return Err(AlgoError::Dataset { item: index, msg }),
                None => break,
            }
            index += 1;
        }
        if batch.is_empty() {
            break;
        }
        let n = batch.len();
        let results: Vec<Result<ItemStats, AlgoError>> = pool
            .install(|| batch.into_par_iter().map(|(i, item)| run_item(&plan, &which, &configs, i, item)).collect());
        for r in results {
            let r = r?;
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
        }
        out.items += n;
        progress(out.items);
    }
    if out.items == 0 {
        return Err(AlgoError::EmptyDataset);
    }
    Ok(out)
}

struct ItemStats {
    stats: HashMap<Key, TensorStats>,
    shapes: HashMap<ValueId, Vec<usize>>,
}

fn run_item(
    plan: &Plan,
    which: &Probe,
    configs: &HashMap<ValueId, Vec<(bool, StatsConfig)>>,
    index: usize,
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
    plan.run_with_probe(item, which, &mut probe).map_err(|e| match e {
        ExecError::Input { name, msg } => AlgoError::BadItem { item: index, input: name, msg },
        other => AlgoError::Dataset { item: index, msg: other.to_string() },
    })?;
    if let Some((v, msg)) = failure {
        return Err(AlgoError::Dataset { item: index, msg: format!("statistics of value #{}: {msg}", v.0) });
    }
    Ok(ItemStats { stats, shapes })
}
