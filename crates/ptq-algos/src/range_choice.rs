//! Choosing the activation range estimator per model
//! ([`RangeEstimator::Auto`]): the model is quantized with each candidate's
//! ranges (everything else equal) and run in float on a few calibration
//! items, and the candidate whose outputs are closest to the float model's
//! wins.
//!
//! The candidates are NNCF's mean per-item ranges, the error search and
//! the global min/max ([`crate::range`]); they run on the first [`ITEMS`]
//! calibration items, which the calibration pass keeps (after a cache hit
//! they are read again), and are scored by [`relative_error`]. NNCF's
//! ranges win ties; the report lists every candidate's error. On a model
//! placed with symmetric activations (the PERFORMANCE preset, not asked
//! for), the best estimator's asymmetric twin (NNCF's MIXED ranges) is
//! then tried too: it wins on the zoo's HardSwish and SiLU networks
//! (LR-ASPP MobileNetV3 0.951 → 0.961 cosine, EfficientNet-B0 0.876 →
//! 0.910).
//!
//! No range rule is best everywhere: NNCF's mean per-item ranges suit
//! models whose outliers carry little (squeeze-and-excitation CNNs), the
//! global or error-searched ranges those whose outliers matter (LeViT,
//! ResNets with Keras' preprocessing), by up to 0.5 in cosine either way on
//! the model zoo.

use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::{Graph, NodeId, Patch, Tensor};
use rayon::prelude::*;

use crate::algorithm::{Algorithm, Candidate, State};
use crate::calibrate::{Collected, Item, Watch};
use crate::error::AlgoError;
use crate::pipeline::{Exclusions, Setup};
use crate::placement::WeightQuantizer;
use crate::spec::QuantSpec;

/// Calibration items the comparison runs on (the first ones).
pub const ITEMS: usize = 16;

/// `g` with each quantized weight replaced by its quantized-then-dequantized
/// values and the corrected biases in place, all in float: what the full
/// Q/DQ model computes for its weights, without its insertion and constant
/// folding, which the candidates share. Each candidate then only adds its
/// activation quantizers. (Biases stay float: the int32 form the Q/DQ model
/// gives them moves them by at most half a step of input scale × weight
/// scale.)
pub fn with_fake_weights(
    g: &Graph,
    weights: &[(WeightQuantizer, QuantSpec)],
    biases: &HashMap<(NodeId, usize), Vec<f32>>,
) -> Result<Graph, AlgoError> {
    let mut p = Patch::new();
    for (q, spec) in weights {
        let Some(Tensor::F32(w)) = g.constant(q.value) else { continue };
        let f = spec.fake_all(w);
        let v = p.add_constant(format!("{}_fake_quantized", g.value(q.value).name), Tensor::F32(f));
        for &(n, slot) in &q.readers {
            p.set_input(n, slot, v);
        }
    }
    for (&(n, slot), vals) in biases {
        let Some(b) = g.node(n).and_then(|node| node.inputs.get(slot).copied().flatten()) else { continue };
        let Some(Tensor::F32(orig)) = g.constant(b) else { continue };
        let t = ArrayD::from_shape_vec(IxDyn(orig.shape()), vals.clone())
            .map_err(|e| AlgoError::Node { node: g.node_label(n), msg: e.to_string() })?;
        let v = p.add_constant(format!("{}_corrected", g.value(b).name), Tensor::F32(t));
        p.set_input(n, slot, v);
    }
    let mut out = g.clone();
    p.apply(&mut out)?;
    Ok(out)
}

/// The algorithm: keeps the candidate of [`crate::min_max::MinMax`] with the
/// smallest output error, with the weights and biases the earlier
/// algorithms of the stage gave (NNCF's mean ranges on ties). A no-op with
/// one candidate.
#[derive(Debug, Default)]
pub struct RangeChoice {
    pub choosing: bool,
}

impl Algorithm for RangeChoice {
    fn name(&self) -> &'static str {
        "RangeChoice"
    }

    fn parameters(&self) -> String {
        format!("items={ITEMS}")
    }

    fn statistic_points(&mut self, _s: &State) -> Result<Vec<Watch>, AlgoError> {
        Ok(vec![])
    }

    fn items(&self, _s: &State) -> usize {
        if self.choosing { ITEMS } else { 0 }
    }

    fn needs_outputs(&self) -> bool {
        true
    }

    fn apply(&mut self, s: &mut State, _stats: &mut Collected) -> Result<(), AlgoError> {
        let n = ITEMS.min(s.items.len());
        if s.candidates.len() < 2 || n == 0 {
            return Ok(());
        }
        let first = &s.items[..n];
        let want =
            if s.outputs.len() >= n { s.outputs[..n].to_vec() } else { outputs(&s.graph, first, s.opts.threads)? };
        let base = with_fake_weights(&s.graph, &s.weights, &s.biases)?;
        let error = |c: &Candidate| -> Result<f64, AlgoError> {
            let setup = Setup { float: base.clone(), acts: c.acts.clone(), weights: vec![], biases: HashMap::new() };
            let got = outputs(&setup.build(&Exclusions::default())?, first, s.opts.threads)?;
            Ok(relative_error(&want, &got))
        };
        // The placed (symmetric) candidates first, the first (NNCF's) on
        // ties; then only the best one's asymmetric twin.
        let mut tried: Vec<(usize, f64)> = vec![];
        for (i, c) in s.candidates.iter().enumerate().filter(|(_, c)| !c.asymmetric) {
            tried.push((i, error(c)?));
        }
        let mut best = tried.iter().copied().fold((0, f64::INFINITY), |b, t| if t.1 < b.1 { t } else { b });
        let twin = s.candidates.iter().position(|c| c.asymmetric && c.estimator == s.candidates[best.0].estimator);
        if let Some(t) = twin {
            let e = error(&s.candidates[t])?;
            tried.push((t, e));
            if e < best.1 {
                best = (t, e);
            }
        }
        s.range_errors = tried.iter().map(|&(i, e)| (s.candidates[i].label(), e)).collect();
        s.candidates.swap(0, best.0);
        Ok(())
    }
}

/// The outputs of `g` on each item, items in parallel on `threads` workers
/// (0: one per core).
pub fn outputs(g: &Graph, items: &[Item], threads: usize) -> Result<Vec<Vec<(String, Tensor)>>, AlgoError> {
    let plan = Plan::new(g, &ExecOptions { threads: 1, optimize: true, integer: false, ..Default::default() })?;
    let pool = crate::pool::pool(threads)?;
    pool.install(|| items.par_iter().map(|item| plan.run(item.clone()).map_err(AlgoError::from)).collect())
}

/// The error of `got` against `want` (outputs per item): for each f32
/// output, Σ‖got − want‖² / Σ‖want‖² over the items (just Σ‖got − want‖²
/// when the reference is all zeros), summed over the outputs.
pub fn relative_error(want: &[Vec<(String, Tensor)>], got: &[Vec<(String, Tensor)>]) -> f64 {
    let n = want.first().map_or(0, Vec::len);
    (0..n)
        .map(|o| {
            let (mut err, mut norm) = (0.0f64, 0.0f64);
            for (w, g) in want.iter().zip(got) {
                if let (Some((_, Tensor::F32(a))), Some((_, Tensor::F32(b)))) = (w.get(o), g.get(o))
                    && a.shape() == b.shape()
                {
                    for (x, y) in a.iter().zip(b) {
                        let (x, y) = (f64::from(*x), f64::from(*y));
                        err += (x - y) * (x - y);
                        norm += x * x;
                    }
                }
            }
            if norm > 0.0 { err / norm } else { err }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_is_relative_per_output_and_summed() {
        let t = |v: &[f32]| Tensor::from_f32s(v);
        let want = vec![vec![("a".to_string(), t(&[1.0, 0.0])), ("b".to_string(), t(&[100.0]))]];
        let got = vec![vec![("a".to_string(), t(&[1.0, 0.1])), ("b".to_string(), t(&[110.0]))]];
        let e = relative_error(&want, &got);
        assert!((e - (0.01 + 0.01)).abs() < 1e-9, "{e}");
        assert_eq!(relative_error(&want, &want), 0.0);
    }
}
