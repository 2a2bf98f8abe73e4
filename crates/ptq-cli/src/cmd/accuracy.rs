//! `ptq quantize ... --max-drop D`: quantization with accuracy control, a
//! progress bar per ranking and revert step, and a closing summary of the
//! reverted nodes with their measured effect.

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use ptq::accuracy::{AccuracyEvent, AccuracyOptions, DropType, Outcome, RestoreMode};
use ptq::{Dataset, Model};

use super::quantize::Args;

/// The accuracy-control options of `a`.
fn options(a: &Args) -> AccuracyOptions {
    AccuracyOptions {
        max_drop: a.max_drop.unwrap_or(0.01),
        drop_type: if a.drop_type == "relative" { DropType::Relative } else { DropType::Absolute },
        max_num_iterations: a.max_iterations.unwrap_or(usize::MAX),
        ranking_subset_size: a.ranking_subset_size,
        restore_mode: if a.restore_mode == "activations" {
            RestoreMode::OnlyActivations
        } else {
            RestoreMode::ActivationsAndWeights
        },
    }
}

/// Quantizes with accuracy control and writes the best model found; the
/// summary says whether the goal was met.
pub fn run(a: &Args, model: &Model, data: &Dataset) -> anyhow::Result<ptq::AccuracyControlled> {
    let valid = a.valid.as_ref().context("--max-drop needs --validation data")?;
    let (vdata, npz_labels) = ptq::eval::labeled(valid)?;
    let labels = match &a.labels {
        Some(p) => Some(ptq::npz::read_labels(p)?),
        None => npz_labels,
    };
    let metric = a.metric.clone().unwrap_or_else(|| if labels.is_some() { "top1".into() } else { "cosine".into() });
    let threads = 1;
    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(0) };
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len}").unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut events = |e: AccuracyEvent| match e {
        AccuracyEvent::Quantized => bar.set_message("validating FP32 and INT8"),
        AccuracyEvent::Baseline { fp32, int8, drop } => {
            bar.println(format!("FP32 {fp32:.4}, INT8 {int8:.4}, drop {drop:.4}"));
        }
        AccuracyEvent::RankingStart { groups, items } => {
            bar.set_length(groups as u64);
            bar.set_position(0);
            bar.set_message(format!("ranking {groups} quantizer groups on {items} items"));
        }
        AccuracyEvent::RankingProgress { done, .. } => bar.set_position(done as u64),
        AccuracyEvent::Step { iteration, nodes, metric, drop, outcome } => {
            let what = match outcome {
                Outcome::Kept => "kept in float",
                Outcome::RolledBack => "rolled back (drop got worse)",
                Outcome::GoalReached => "kept in float, goal reached",
            };
            bar.println(format!("step {iteration}: {nodes}: metric {metric:.4}, drop {drop:.4}, {what}"));
            bar.set_message(format!("step {iteration}, drop {drop:.4}"));
        }
    };
    let qopts = a.options()?;
    let aopts = options(a);
    let r = match metric.as_str() {
        "top1" => {
            let Some(labels) = labels else { bail!("--metric top1 needs labels (--labels, or `labels` in the data)") };
            if vdata.len().is_some_and(|n| n != labels.len()) {
                bail!("{} labels for {} validation items", labels.len(), vdata.len().unwrap_or(0));
            }
            let f = ptq::accuracy::top1(labels, threads);
            ptq::quantize_with_accuracy_control(model, data, &vdata, f, &qopts, &aopts, &mut events)?
        }
        "cosine" => {
            let f = ptq::accuracy::cosine(model, &vdata, threads)?;
            ptq::quantize_with_accuracy_control(model, data, &vdata, f, &qopts, &aopts, &mut events)?
        }
        m => bail!("unknown metric {m} (top1, cosine)"),
    };
    bar.finish_and_clear();
    let rep = &r.report;
    println!(
        "accuracy control ({metric}, {} items, max drop {} {:?}): FP32 {:.4}, INT8 {:.4} (drop {:.4})",
        rep.validation_items, rep.max_drop, rep.drop_type, rep.fp32_metric, rep.int8_metric, rep.int8_drop
    );
    for s in &rep.steps {
        println!(
            "  step {}: {} ({} quantizers): metric {:.4}, drop {:.4}, {:?}",
            s.iteration,
            s.nodes.join(", "),
            s.quantizers,
            s.metric,
            s.drop,
            s.outcome
        );
    }
    let verdict = if rep.reached { "goal reached" } else { "GOAL NOT REACHED, best model kept" };
    println!(
        "result: metric {:.4}, drop {:.4}: {verdict} ({}); {} of {} groups reverted ({} quantizers): {}",
        rep.metric,
        rep.drop,
        rep.stop_reason,
        rep.reverted_nodes.len(),
        rep.groups,
        rep.reverted_quantizers,
        if rep.reverted_nodes.is_empty() { "none".to_string() } else { rep.reverted_nodes.join(", ") }
    );
    println!(
        "accuracy-control time: quantize {:.2}s, validation {:.2}s, ranking {:.2}s, total {:.2}s",
        rep.quantize_seconds, rep.validation_seconds, rep.ranking_seconds, rep.total_seconds
    );
    Ok(r)
}
