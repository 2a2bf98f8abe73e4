//! Evaluating a model on a dataset: outputs per item, top-1 accuracy, and
//! cosine similarity between two models' outputs.

use ptq_exec::{ExecOptions, Plan};
use ptq_ir::Tensor;

use crate::dataset::Dataset;
use crate::error::Error;
use crate::model::Model;

/// A validation `.npz` with a leading item axis: the items, and the class
/// indices of an array named `labels` if there is one (it is not a model
/// input). Labels that are not integers are an error.
pub fn labeled(path: &std::path::Path) -> Result<(Dataset, Option<Vec<i64>>), Error> {
    let npz = |msg: String| Error::Npz { path: path.to_path_buf(), msg };
    let mut arrays = crate::npz::read(path)?;
    let labels = match arrays.iter().position(|(k, _)| k == "labels") {
        Some(i) => Some(arrays.remove(i).1.to_i64_vec().ok_or_else(|| npz("labels are not integers".into()))?),
        None => None,
    };
    Ok((Dataset::from_arrays(arrays).map_err(npz)?, labels))
}

/// Runs `model` on every item of `data` and returns each item's first
/// output, flattened to f64, in item order.
pub fn first_outputs(model: &Model, data: &Dataset, threads: usize) -> Result<Vec<Vec<f64>>, Error> {
    let plan =
        Plan::new(model.graph(), &ExecOptions { threads, optimize: true, integer: false, ..Default::default() })?;
    let mut out = vec![];
    for (i, item) in data.iter().enumerate() {
        let item = item.map_err(|msg| Error::Item { item: i, msg })?;
        out.push(first_output(&plan, item).map_err(|msg| Error::Item { item: i, msg })?);
    }
    Ok(out)
}

/// The first output of one run of `plan`, flattened to f64.
pub fn first_output(plan: &Plan, item: crate::Item) -> Result<Vec<f64>, String> {
    let mut r = plan.run(item).map_err(|e| e.to_string())?;
    let t: Tensor = r.drain(..).next().map(|(_, t)| t).ok_or("the model has no output")?;
    Ok(t.to_f64_vec())
}

/// Whether the arg-max of `output` (the first maximum) is `label`.
pub fn hit(output: &[f64], label: i64) -> bool {
    let best =
        output.iter().enumerate().fold((0usize, f64::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
    best.0 as i64 == label
}

/// Fraction of items whose arg-max of the output equals the label (labels
/// one per item).
pub fn top1(outputs: &[Vec<f64>], labels: &[i64]) -> f64 {
    let hits = outputs.iter().zip(labels).filter(|&(o, &l)| hit(o, l)).count();
    hits as f64 / outputs.len().max(1) as f64
}

/// Cosine similarity of two flattened outputs (1 when both are zero).
pub fn cosine(x: &[f64], y: &[f64]) -> f64 {
    let dot: f64 = x.iter().zip(y).map(|(p, q)| p * q).sum();
    let (nx, ny) = (x.iter().map(|v| v * v).sum::<f64>().sqrt(), y.iter().map(|v| v * v).sum::<f64>().sqrt());
    if nx == 0.0 && ny == 0.0 { 1.0 } else { dot / (nx * ny).max(f64::MIN_POSITIVE) }
}

/// Mean over items of the cosine similarity between `a` and `b`.
pub fn mean_cosine(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter().zip(b).map(|(x, y)| cosine(x, y)).sum::<f64>() / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top1_and_cosine() {
        let o = vec![vec![0.1, 0.9], vec![0.8, 0.2], vec![0.3, 0.7]];
        assert!((top1(&o, &[1, 0, 0]) - 2.0 / 3.0).abs() < 1e-12);
        assert!((mean_cosine(&o, &o) - 1.0).abs() < 1e-12);
        assert!(mean_cosine(&[vec![1.0, 0.0]], &[vec![0.0, 1.0]]).abs() < 1e-12);
    }
}
