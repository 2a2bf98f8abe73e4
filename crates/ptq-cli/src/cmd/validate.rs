//! Comparing an FP32 model and its INT8 version on validation data.

use std::path::Path;

use anyhow::Context;
use ptq::Model;
use ptq::eval::{first_outputs, mean_cosine, top1};

/// What the comparison measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub items: usize,
    /// (FP32, INT8) top-1, when the data has labels.
    pub top1: Option<(f64, f64)>,
    /// Mean cosine similarity of INT8 first outputs to FP32 ones.
    pub cosine: f64,
}

/// Evaluates both models on `valid` (a batched .npz or a directory; an
/// array named `labels` holds class indices) and prints the metrics.
pub fn compare(fp32: &Model, int8: &Model, valid: &Path, threads: usize) -> anyhow::Result<Comparison> {
    let (data, labels) = ptq::eval::labeled(valid)?;
    let a = first_outputs(fp32, &data, threads).context("evaluating the FP32 model")?;
    let b = first_outputs(int8, &data, threads).context("evaluating the INT8 model")?;
    let cosine = mean_cosine(&a, &b);
    let top = labels.map(|l| (top1(&a, &l), top1(&b, &l)));
    match top {
        Some((f, q)) => println!(
            "validation ({} items): top-1 FP32 {:.2}%, INT8 {:.2}% (drop {:.2} points); output cosine {cosine:.5}",
            a.len(),
            100.0 * f,
            100.0 * q,
            100.0 * (f - q)
        ),
        None => println!("validation ({} items): INT8 vs FP32 output cosine similarity {cosine:.5}", a.len()),
    }
    Ok(Comparison { items: a.len(), top1: top, cosine })
}
