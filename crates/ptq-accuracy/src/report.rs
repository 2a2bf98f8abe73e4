//! What accuracy control did.

use serde::Serialize;

use crate::options::DropType;

/// What happened to one reverted group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// Kept reverted; the search went on.
    Kept,
    /// The drop got worse: the group was put back and the rest re-ranked.
    RolledBack,
    /// Kept reverted, and the drop is now within max_drop.
    GoalReached,
}

/// One greedy step.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub iteration: usize,
    /// The ops of the reverted group.
    pub nodes: Vec<String>,
    /// Activation and weight quantizers it removed.
    pub quantizers: usize,
    /// Its ranking score (the metric on the ranking subset with it reverted).
    pub rank_score: f64,
    /// The metric on the whole validation set after the step.
    pub metric: f64,
    pub drop: f64,
    pub outcome: Outcome,
    pub seconds: f64,
}

/// The whole run.
#[derive(Clone, Debug, Serialize)]
pub struct AccuracyReport {
    pub fp32_metric: f64,
    /// The fully quantized model's metric.
    pub int8_metric: f64,
    pub int8_drop: f64,
    /// The returned model's metric and drop.
    pub metric: f64,
    pub drop: f64,
    pub max_drop: f64,
    pub drop_type: DropType,
    /// Whether the returned model is within max_drop.
    pub reached: bool,
    /// Why the search ended.
    pub stop_reason: String,
    /// Quantizer groups found, and those ranked.
    pub groups: usize,
    pub validation_items: usize,
    pub ranking_items: usize,
    pub steps: Vec<Step>,
    /// Nodes left in float in the returned model.
    pub reverted_nodes: Vec<String>,
    /// Quantizers removed from the returned model.
    pub reverted_quantizers: usize,
    pub quantize_seconds: f64,
    pub validation_seconds: f64,
    pub ranking_seconds: f64,
    pub total_seconds: f64,
}
