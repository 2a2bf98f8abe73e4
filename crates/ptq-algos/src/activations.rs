//! Activation quantizer ranges from calibration statistics: per tensor
//! with a [`RangeEstimator`] (a scale-sharing group takes the union of its
//! members' ranges), per channel with NNCF's MINMAX.

use std::collections::HashMap;

use ptq_ir::Graph;
use rayon::prelude::*;

use crate::calibrate;
use crate::placement::{ActQuantizer, Scheme};
use crate::range::{self, RangeEstimator};
use crate::report::QuantizerRow;
use crate::spec::{self, QuantSpec};

/// The quantizers of `placed` that get a range, with their specs and
/// report rows; a tensor that never saw a finite value stays float. Runs
/// on the current rayon pool.
pub fn specs(
    g: &Graph,
    placed: &[ActQuantizer],
    collected: &calibrate::Collected,
    how: RangeEstimator,
) -> (Vec<(ActQuantizer, QuantSpec)>, Vec<QuantizerRow>) {
    let mut group_range: HashMap<usize, (f32, f32, f32, bool)> = HashMap::new();
    for q in placed {
        if q.axis.is_some() {
            continue;
        }
        if let (Some(gid), Some(s)) = (q.unified, collected.per_tensor(q.value))
            && let Some((mn, mx, am)) = range::reduce(s, how)
        {
            let e = group_range.entry(gid).or_insert((f32::INFINITY, f32::NEG_INFINITY, 0.0, false));
            *e = (e.0.min(mn), e.1.max(mx), e.2.max(am), e.3 || mn < 0.0);
        }
    }
    let one = |q: &ActQuantizer| -> Option<(ActQuantizer, QuantSpec, QuantizerRow)> {
        if let Some(axis) = q.axis {
            return per_channel(g, q, axis, collected);
        }
        let s = collected.per_tensor(q.value)?;
        if s.samples() == 0 {
            return None;
        }
        // Never saw a finite value: leave the tensor in float.
        let (mut mn, mut mx, mut am) = range::reduce(s, how)?;
        let mut signed = mn < 0.0;
        let unified = q.unified.and_then(|gid| group_range.get(&gid));
        if let Some(&(gmn, gmx, gam, gs)) = unified {
            (mn, mx, am, signed) = (gmn, gmx, gam, gs);
        }
        // A scale-sharing group keeps the range its members' statistics give.
        let how = if unified.is_some() { RangeEstimator::MeanMinMax } else { how };
        let spec = match q.scheme {
            Scheme::Symmetric => range::symmetric(s, how, am, signed),
            Scheme::Asymmetric => range::asymmetric(s, how, mn, mx),
        };
        let row = QuantizerRow {
            kind: "activation",
            tensor: g.value(q.value).name.clone(),
            readers: q.readers.iter().map(|&(n, _)| g.node_label(n)).collect(),
            scheme: q.scheme,
            unified: q.unified,
            spec: spec.clone(),
            mean_min: Some(s.mean_min()[0]),
            mean_max: Some(s.mean_max()[0]),
            min: s.min().first().copied(),
            max: s.max().first().copied(),
            sqnr_db: range::sqnr_db(s, &spec),
            output_sqnr_db: None,
            histogram: s.histogram().and_then(crate::report::RowHistogram::new),
            order: None,
        };
        Some((q.clone(), spec, row))
    };
    // The histogram searches are most of the time: one task per quantizer.
    let found: Vec<_> = placed.par_iter().filter_map(one).collect();
    found.into_iter().map(|(q, spec, row)| ((q, spec), row)).unzip()
}

/// The range of a per-channel activation quantizer (NNCF's MINMAX for
/// per-channel activations: each channel's minimum and maximum over all
/// items), or `None` when no item was seen or some channel saw no finite
/// value (the tensor stays float). Statistics whose channel count differs
/// from the depthwise convolution's are a per-tensor quantizer instead.
fn per_channel(
    g: &Graph,
    q: &ActQuantizer,
    axis: usize,
    collected: &calibrate::Collected,
) -> Option<(ActQuantizer, QuantSpec, QuantizerRow)> {
    let s = collected.per_channel(q.value).filter(|s| s.samples() > 0)?;
    let (mn, mx) = (s.min(), s.max());
    if !mn.iter().chain(mx).all(|v| v.is_finite()) {
        return None;
    }
    let channels = q.readers.iter().filter_map(|&(n, _)| crate::hw::depthwise_channels(g, n)).min();
    let (lo, hi) =
        (mn.iter().copied().fold(f32::INFINITY, f32::min), mx.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    let (spec, axis) = if channels == Some(mn.len()) {
        let spec = match q.scheme {
            Scheme::Symmetric => spec::symmetric_activation_per_channel(&s.abs_max(), lo < 0.0, Some(axis)),
            Scheme::Asymmetric => spec::asymmetric_activation_per_channel(mn, mx, Some(axis)),
        };
        (spec, Some(axis))
    } else {
        let spec = match q.scheme {
            Scheme::Symmetric => spec::symmetric_activation(lo.abs().max(hi.abs()), lo < 0.0),
            Scheme::Asymmetric => spec::asymmetric_activation(lo, hi),
        };
        (spec, None)
    };
    let row = QuantizerRow {
        kind: "activation",
        tensor: g.value(q.value).name.clone(),
        readers: q.readers.iter().map(|&(n, _)| g.node_label(n)).collect(),
        scheme: q.scheme,
        unified: None,
        spec: spec.clone(),
        mean_min: None,
        mean_max: None,
        min: Some(lo),
        max: Some(hi),
        sqnr_db: None,
        output_sqnr_db: None,
        histogram: None,
        order: None,
    };
    Some((ActQuantizer { axis, ..q.clone() }, spec, row))
}
