//! `quantize_with_accuracy_control`: quantize, then revert the quantizer
//! groups that hurt a validation metric most until its drop is within
//! `max_drop` (NNCF semantics; see ptq-accuracy).

pub use ptq_accuracy::{
    AccuracyOptions, AccuracyReport, DropType, Event as AccuracyEvent, Outcome, RestoreMode, Step, Validation,
};
use ptq_exec::{ExecOptions, Plan};

use crate::dataset::{Dataset, Item};
use crate::error::Error;
use crate::eval;
use crate::model::Model;
use crate::quantize::{QuantizeOptions, Report};

/// The best model found and the reports.
#[derive(Clone, Debug)]
pub struct AccuracyControlled {
    pub model: Model,
    pub report: AccuracyReport,
    /// How the model was quantized before any group was reverted.
    pub quantization: Report,
}

/// Validation items handed to a validation function: `(index in the
/// validation dataset, item)`.
pub type Indexed<'a> = [(usize, &'a Item)];

/// Quantizes `model` with `calibration`, scores candidates with `validate`
/// on items of `validation` (higher is better), and reverts quantizer
/// groups to float until the drop is within `aopts.max_drop`. `validate`
/// may return per-item values (else each item is scored alone to find the
/// worst ones); it runs on several threads at once while groups are ranked.
/// Returns the best model found, in the input's format, whether or not the
/// goal was met; the report says which.
pub fn quantize_with_accuracy_control<F>(
    model: &Model,
    calibration: &Dataset,
    validation: &Dataset,
    validate: F,
    qopts: &QuantizeOptions,
    aopts: &AccuracyOptions,
    events: &mut dyn FnMut(AccuracyEvent),
) -> Result<AccuracyControlled, Error>
where
    F: Fn(&Model, &Indexed<'_>) -> Result<Validation, String> + Sync,
{
    let qopts = &crate::quantize::for_format(model, qopts);
    let items: Vec<Item> = validation
        .iter()
        .enumerate()
        .map(|(i, r)| r.map_err(|msg| Error::Item { item: i, msg }))
        .collect::<Result<_, _>>()?;
    let adapter = |g: &ptq_ir::Graph, idx: &[usize]| -> Result<Validation, String> {
        let m = model.quantized(g.clone(), vec![]);
        let chosen: Vec<(usize, &Item)> = idx
            .iter()
            .map(|&i| items.get(i).map(|it| (i, it)).ok_or(format!("no item {i}")))
            .collect::<Result<_, _>>()?;
        validate(&m, &chosen)
    };
    let mut calib = calibration.iter();
    let c = ptq_accuracy::quantize_with_accuracy_control(
        model.graph(),
        &mut calib,
        items.len(),
        &adapter,
        qopts,
        aopts,
        events,
    )?;
    let mut settings = crate::quantize::settings(qopts, &c.quantization);
    settings.push(("accuracy_control_max_drop".into(), aopts.max_drop.to_string()));
    settings.push(("accuracy_control_drop".into(), format!("{:.6}", c.report.drop)));
    settings.push(("reverted_nodes".into(), c.report.reverted_nodes.join(",")));
    Ok(AccuracyControlled { model: model.quantized(c.graph, settings), report: c.report, quantization: c.quantization })
}

/// Runs `m` on `items` and scores each item's first output with
/// `score(item index, output)`; the metric is the mean score.
fn per_item(
    m: &Model,
    items: &Indexed<'_>,
    threads: usize,
    score: impl Fn(usize, &[f64]) -> Result<f64, String>,
) -> Result<Validation, String> {
    let plan = Plan::new(m.graph(), &ExecOptions { threads, optimize: true, integer: false, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let mut per = Vec::with_capacity(items.len());
    for &(i, item) in items {
        let out = eval::first_output(&plan, item.clone()).map_err(|e| format!("item {i}: {e}"))?;
        per.push(score(i, &out)?);
    }
    let metric = per.iter().sum::<f64>() / per.len().max(1) as f64;
    Ok(Validation { metric, per_item: Some(per) })
}

/// A validation function: top-1 accuracy of the first output's arg-max
/// against `labels` (one per validation item), with per-item hits.
pub fn top1(labels: Vec<i64>, threads: usize) -> impl Fn(&Model, &Indexed<'_>) -> Result<Validation, String> + Sync {
    move |m: &Model, items: &Indexed<'_>| {
        per_item(m, items, threads, |i, out| {
            let label = *labels.get(i).ok_or_else(|| format!("no label for item {i}"))?;
            Ok(if eval::hit(out, label) { 1.0 } else { 0.0 })
        })
    }
}

/// A validation function: mean cosine similarity of the first output to
/// `reference`'s on the same items (computed once here), with per-item
/// similarities.
pub fn cosine(
    reference: &Model,
    validation: &Dataset,
    threads: usize,
) -> Result<impl Fn(&Model, &Indexed<'_>) -> Result<Validation, String> + Sync + use<>, Error> {
    let want = eval::first_outputs(reference, validation, threads)?;
    Ok(move |m: &Model, items: &Indexed<'_>| {
        per_item(m, items, threads, |i, out| {
            let w = want.get(i).ok_or_else(|| format!("no reference output for item {i}"))?;
            Ok(eval::cosine(out, w))
        })
    })
}
