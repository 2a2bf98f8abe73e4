//! Calibration statistics saved to disk, so a second run with other
//! settings (preset, ignored scope, bias correction) skips calibration.
//!
//! The file is a `ptq_stats::StatsSet` (JSON, written atomically, validated
//! on load). Its fingerprint holds the caller's fingerprint of model, data
//! and subset size on the first line, then the sample shapes bias
//! correction needs, as JSON. Entries are keyed `<value name>#t` (per
//! tensor) and `<value name>#c` (per channel).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ptq_ir::{Graph, ValueId};
use ptq_stats::{Granularity, StatsSet};

use crate::calibrate::{Collected, Watch};
use crate::error::AlgoError;

/// Where to keep statistics and what they must match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatsCache {
    pub path: PathBuf,
    /// Identifies model, data and subset size (the caller hashes them).
    pub fingerprint: String,
}

fn key(g: &Graph, v: ValueId, per_channel: bool) -> String {
    format!("{}#{}", g.value(v).name, if per_channel { 'c' } else { 't' })
}

/// The cached statistics covering every watch, if the file exists, matches
/// the fingerprint and has them all; `Ok(None)` when it must be rebuilt.
pub fn load(g: &Graph, cache: &StatsCache, watch: &[Watch]) -> Result<Option<Collected>, AlgoError> {
    if !cache.path.exists() {
        return Ok(None);
    }
    let set = StatsSet::load(&cache.path)?;
    let (fp, shapes_json) = set.fingerprint().split_once('\n').unwrap_or((set.fingerprint(), "{}"));
    if fp != cache.fingerprint {
        return Ok(None);
    }
    let shapes: BTreeMap<String, Vec<usize>> = serde_json::from_str(shapes_json).map_err(|e| {
        AlgoError::Option(format!("{}: malformed shapes in the statistics cache: {e}", cache.path.display()))
    })?;
    let mut out = Collected { items: set.samples() as usize, ..Collected::default() };
    for w in watch {
        let per_channel = matches!(w.granularity, Granularity::PerChannel { .. });
        let Some(s) = set.get(&key(g, w.value, per_channel)) else { return Ok(None) };
        let config = s.config().normalized();
        if s.granularity() != &w.granularity
            || config.histogram_bins < w.histogram_bins
            || config.quantile_ppm != w.quantile_ppm && w.quantile_ppm > 0
        {
            return Ok(None);
        }
        out.stats.insert((w.value, per_channel), s.clone());
        if let Some(shape) = shapes.get(&g.value(w.value).name) {
            if ptq_ir::tensor::checked_numel(shape).is_none_or(|n| n > 1 << 31) {
                return Err(AlgoError::Option(format!("{}: implausible shape {shape:?}", cache.path.display())));
            }
            out.shapes.insert(w.value, shape.clone());
        }
    }
    Ok(Some(out))
}

/// Saves `c` (atomically).
pub fn save(g: &Graph, cache: &StatsCache, c: &Collected) -> Result<(), AlgoError> {
    let shapes: BTreeMap<String, Vec<usize>> =
        c.shapes.iter().map(|(&v, s)| (g.value(v).name.clone(), s.clone())).collect();
    let shapes = serde_json::to_string(&shapes).map_err(|e| AlgoError::Option(e.to_string()))?;
    let mut set = StatsSet::new(format!("{}\n{shapes}", cache.fingerprint));
    set.set_samples(c.items as u64);
    for (&(v, per_channel), s) in &c.stats {
        set.insert(key(g, v, per_channel), s.clone());
    }
    set.save(Path::new(&cache.path))?;
    Ok(())
}
