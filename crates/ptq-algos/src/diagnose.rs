//! Each quantizer's share of the output error (`QuantizeOptions::diagnose`):
//! the model with only that quantizer enabled (every other one left in
//! float, with the float biases its weights' correction replaced) is run on
//! the first calibration items, and its outputs are compared with the float
//! model's. One quantized model per quantizer: opt-in.

use ptq_ir::NodeId;

use crate::calibrate::Item;
use crate::error::AlgoError;
use crate::pipeline::{Exclusions, Setup};
use crate::range_choice;

/// Calibration items each quantizer is scored on.
pub const ITEMS: usize = 8;

/// The output SQNR (dB, from [`range_choice::relative_error`]) of `setup`
/// with only one quantizer enabled: the activation quantizers', then the
/// weight quantizers', in [`Setup`] order. None where the outputs are
/// unchanged.
pub fn output_sqnr(setup: &Setup, items: &[Item], threads: usize) -> Result<Vec<Option<f64>>, AlgoError> {
    let items = &items[..ITEMS.min(items.len())];
    let want = range_choice::outputs(&setup.float, items, threads)?;
    let (n_acts, n_weights) = (setup.acts.len(), setup.weights.len());
    let all_bias: Vec<NodeId> = setup.biases.keys().map(|&(n, _)| n).collect();
    let mut out = Vec::with_capacity(n_acts + n_weights);
    for i in 0..n_acts + n_weights {
        let ex = if i < n_acts {
            Exclusions {
                acts: (0..n_acts).filter(|&k| k != i).collect(),
                weights: (0..n_weights).collect(),
                bias_nodes: all_bias.clone(),
            }
        } else {
            let j = i - n_acts;
            let own: Vec<NodeId> = setup.weights[j].0.readers.iter().map(|&(n, _)| n).collect();
            Exclusions {
                acts: (0..n_acts).collect(),
                weights: (0..n_weights).filter(|&k| k != j).collect(),
                bias_nodes: all_bias.iter().copied().filter(|n| !own.contains(n)).collect(),
            }
        };
        let got = range_choice::outputs(&setup.build(&ex)?, items, threads)?;
        let e = range_choice::relative_error(&want, &got);
        out.push((e > 0.0 && e.is_finite()).then(|| -10.0 * e.log10()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::options::QuantizeOptions;
    use crate::range_choice;

    #[test]
    fn each_quantizer_alone_costs_less_than_all_of_them() {
        let (g, items) = crate::testgraph::conv_chain();
        let opts = QuantizeOptions { diagnose: true, ..QuantizeOptions::default() };
        let q = crate::quantize_graph(&g, &mut items.clone().into_iter().map(Ok), &opts, &mut |_| {}).unwrap();
        let n = q.setup.acts.len() + q.setup.weights.len();
        let alone: Vec<f64> = q.report.quantizers.iter().take(n).map(|r| r.output_sqnr_db.unwrap()).collect();
        assert!(alone.iter().all(|s| s.is_finite() && *s > 0.0), "{alone:?}");
        // The whole model's error is at least each quantizer's alone.
        let first = &items[..super::ITEMS.min(items.len())];
        let want = range_choice::outputs(&g, first, 1).unwrap();
        let got = range_choice::outputs(&q.graph, first, 1).unwrap();
        let all = -10.0 * range_choice::relative_error(&want, &got).log10();
        let best = alone.iter().fold(f64::NEG_INFINITY, |m, &s| m.max(s));
        let worst = alone.iter().fold(f64::INFINITY, |m, &s| m.min(s));
        assert!(all <= worst + 0.5 && worst <= best, "all {all} dB, alone {alone:?}");
        // Off by default.
        let q = crate::quantize_graph(&g, &mut items.into_iter().map(Ok), &QuantizeOptions::default(), &mut |_| {})
            .unwrap();
        assert!(q.report.quantizers.iter().all(|r| r.output_sqnr_db.is_none()));
    }
}
