//! The accuracy-control driver (NNCF's `QuantizationAccuracyRestorer`).

use std::time::Instant;

use ptq_algos::groups::{self, exclusions};
use ptq_algos::{Item, QuantizeOptions, quantize_graph};
use ptq_ir::Graph;
use rayon::prelude::*;

use crate::drop::accuracy_drop;
use crate::error::AccuracyError;
use crate::options::AccuracyOptions;
use crate::rank::{Ranking, select_subset};
use crate::report::{AccuracyReport, Outcome, Step};

/// A validation function's result: the metric (higher is better) and,
/// optionally, one value per item. Without per-item values each item is
/// validated on its own to find the items that suffer most.
#[derive(Clone, Debug, PartialEq)]
pub struct Validation {
    pub metric: f64,
    pub per_item: Option<Vec<f64>>,
}

/// Scores a candidate graph on validation items given by index. It is
/// called from several threads at once during ranking.
pub type Validate<'a> = dyn Fn(&Graph, &[usize]) -> Result<Validation, String> + Sync + 'a;

/// Progress, for a caller's display.
#[derive(Clone, Debug)]
pub enum Event {
    /// Calibration and quantization are done.
    Quantized,
    /// The float and fully quantized metrics.
    Baseline {
        fp32: f64,
        int8: f64,
        drop: f64,
    },
    RankingStart {
        groups: usize,
        items: usize,
    },
    RankingProgress {
        done: usize,
        total: usize,
    },
    /// One greedy step finished.
    Step {
        iteration: usize,
        nodes: String,
        metric: f64,
        drop: f64,
        outcome: Outcome,
    },
}

/// The best model found and how it was found.
#[derive(Debug)]
pub struct Controlled {
    pub graph: Graph,
    pub report: AccuracyReport,
    /// The report of the quantization itself.
    pub quantization: ptq_algos::Report,
}

/// Metric and per-item values of `g` on items `all`.
fn evaluate(g: &Graph, all: &[usize], validate: &Validate<'_>, label: &str) -> Result<(f64, Vec<f64>), AccuracyError> {
    let err = |msg: String| AccuracyError::Validation { model: label.to_string(), msg };
    let v = validate(g, all).map_err(err)?;
    if !v.metric.is_finite() {
        return Err(err(format!("the metric is {}", v.metric)));
    }
    let per = match v.per_item {
        Some(p) if p.len() == all.len() => p,
        Some(p) => return Err(err(format!("{} per-item values for {} items", p.len(), all.len()))),
        None => all
            .par_iter()
            .map(|&i| validate(g, &[i]).map(|v| v.metric))
            .collect::<Result<Vec<f64>, String>>()
            .map_err(err)?,
    };
    Ok((v.metric, per))
}

/// Quantizes `float` (NNCF `quantize` with `qopts`), then reverts quantizer
/// groups to float until the drop of `validate`'s metric is within
/// `aopts.max_drop`, the groups run out, or `aopts.max_num_iterations` steps
/// were taken. `validation_items` is how many items `validate` knows.
/// Returns the model with the smallest drop found (the first to reach the
/// goal, if one did).
pub fn quantize_with_accuracy_control(
    float: &Graph,
    calibration: &mut dyn Iterator<Item = Result<Item, String>>,
    validation_items: usize,
    validate: &Validate<'_>,
    qopts: &QuantizeOptions,
    aopts: &AccuracyOptions,
    events: &mut dyn FnMut(Event),
) -> Result<Controlled, AccuracyError> {
    if validation_items == 0 {
        return Err(AccuracyError::Option("the validation set is empty".into()));
    }
    if aopts.max_drop.is_nan() || aopts.max_drop < 0.0 {
        return Err(AccuracyError::Option(format!("max_drop must be at least 0, got {}", aopts.max_drop)));
    }
    let start = Instant::now();
    let q = quantize_graph(float, calibration, qopts, &mut |_| {})?;
    let quantize_seconds = start.elapsed().as_secs_f64();
    events(Event::Quantized);
    let all: Vec<usize> = (0..validation_items).collect();
    let v0 = Instant::now();
    let (fp32, fp32_items) = evaluate(float, &all, validate, "float")?;
    let (int8, int8_items) = evaluate(&q.graph, &all, validate, "quantized")?;
    let mut validation_seconds = v0.elapsed().as_secs_f64();
    let (done, int8_drop) = accuracy_drop(fp32, int8, aopts.max_drop, aopts.drop_type);
    events(Event::Baseline { fp32, int8, drop: int8_drop });
    let groups = groups::groups(&q.setup);
    let k = aopts.ranking_subset_size.unwrap_or(qopts.subset_size).clamp(1, validation_items);
    let mut report = AccuracyReport {
        fp32_metric: fp32,
        int8_metric: int8,
        int8_drop,
        metric: int8,
        drop: int8_drop,
        max_drop: aopts.max_drop,
        drop_type: aopts.drop_type,
        reached: done,
        stop_reason: String::new(),
        groups: groups.len(),
        validation_items,
        ranking_items: k,
        steps: vec![],
        reverted_nodes: vec![],
        reverted_quantizers: 0,
        quantize_seconds,
        validation_seconds,
        ranking_seconds: 0.0,
        total_seconds: 0.0,
    };
    if done {
        report.stop_reason = "the fully quantized model is within max_drop".into();
        report.total_seconds = start.elapsed().as_secs_f64();
        return Ok(Controlled { graph: q.graph, report, quantization: q.report });
    }

    let ranking = Ranking { setup: &q.setup, groups: &groups, mode: aopts.restore_mode, validate };
    let r0 = Instant::now();
    let mut subset = select_subset(k, &fp32_items, &int8_items);
    let all_groups: Vec<usize> = (0..groups.len()).collect();
    let mut ranked = ranking.rank(&[], &all_groups, &subset, events)?;
    let mut ranking_seconds = r0.elapsed().as_secs_f64();

    let mut reverted: Vec<usize> = vec![];
    let mut cur_items = int8_items;
    let (mut prev_drop, mut step_back) = (int8_drop, true);
    // Best so far: (graph, metric, drop, reverted groups).
    let mut best = (q.graph.clone(), int8, int8_drop, vec![]);
    let mut iteration = 0;
    report.stop_reason = loop {
        if iteration >= aopts.max_num_iterations {
            break format!("max_num_iterations ({}) reached", aopts.max_num_iterations);
        }
        let Some((gi, score)) = ranked.pop() else { break "every quantizer group is reverted".into() };
        iteration += 1;
        let s0 = Instant::now();
        let mut trial = reverted.clone();
        trial.push(gi);
        let g = q.setup.build(&exclusions(&groups, &trial, aopts.restore_mode))?;
        let v1 = Instant::now();
        let (metric, items) = evaluate(&g, &all, validate, &format!("step {iteration}"))?;
        validation_seconds += v1.elapsed().as_secs_f64();
        let (goal, d) = accuracy_drop(fp32, metric, aopts.max_drop, aopts.drop_type);
        let nodes = groups[gi].names(&q.setup.float);
        let quantizers = groups[gi].acts.len() + groups[gi].weights.len();
        if d < best.2 || goal {
            best = (g, metric, d, trial.clone());
        }
        let outcome = if goal {
            Outcome::GoalReached
        } else if d <= prev_drop || step_back || ranked.is_empty() {
            Outcome::Kept
        } else {
            Outcome::RolledBack
        };
        report.steps.push(Step {
            iteration,
            nodes: nodes.clone(),
            quantizers,
            rank_score: score,
            metric,
            drop: d,
            outcome,
            seconds: s0.elapsed().as_secs_f64(),
        });
        events(Event::Step { iteration, nodes: nodes.join(", "), metric, drop: d, outcome });
        match outcome {
            Outcome::GoalReached => break format!("drop {d:.6} is within max_drop {}", aopts.max_drop),
            Outcome::Kept => {
                reverted = trial;
                cur_items = items;
                prev_drop = d;
                step_back = false;
            }
            Outcome::RolledBack => {
                // Put the group back and re-rank the rest from the state before it.
                prev_drop = d;
                step_back = true;
                let r1 = Instant::now();
                subset = select_subset(k, &fp32_items, &cur_items);
                let mut candidates: Vec<usize> = ranked.iter().map(|&(g, _)| g).collect();
                candidates.push(gi);
                candidates.sort_unstable();
                ranked = ranking.rank(&reverted, &candidates, &subset, events)?;
                ranking_seconds += r1.elapsed().as_secs_f64();
            }
        }
    };
    let (graph, metric, d, rev) = best;
    let (reached, _) = accuracy_drop(fp32, metric, aopts.max_drop, aopts.drop_type);
    report.metric = metric;
    report.drop = d;
    report.reached = reached;
    report.reverted_nodes = rev.iter().flat_map(|&i| groups[i].names(&q.setup.float)).collect();
    report.reverted_quantizers = rev.iter().map(|&i| groups[i].acts.len() + groups[i].weights.len()).sum();
    report.validation_seconds = validation_seconds;
    report.ranking_seconds = ranking_seconds;
    report.total_seconds = start.elapsed().as_secs_f64();
    Ok(Controlled { graph, report, quantization: q.report })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::conv::Conv;
    use ptq_ir::ops::unary::{Unary, UnaryKind};
    use ptq_ir::{ConstSource, DType, Fact, Node, Op, Tensor, Value};

    fn node(name: String, op: Op, inputs: Vec<Option<ptq_ir::ValueId>>, out: ptq_ir::ValueId) -> Node {
        Node { name, op, inputs, outputs: vec![Some(out)], doc: String::new(), meta: vec![] }
    }

    /// x → conv1 → relu → conv2 → relu → conv3, and eight calibration items.
    fn chain() -> (Graph, Vec<Item>) {
        let mut g = Graph::default();
        let val = |g: &mut Graph, name: &str| {
            g.add_value(Value { name: name.into(), fact: Fact::dtype_only(Some(DType::F32)), ..Value::default() })
        };
        let x = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(&[1, 2, 5, 5])),
            ..Value::default()
        });
        g.inputs_mut().push(x);
        let mut cur = x;
        for (i, cin) in [(1, 2), (2, 3), (3, 3)] {
            let data: Vec<f32> = (0..3 * cin * 9).map(|j| ((j * 37 % 17) as f32 - 8.0) / 8.0).collect();
            let w = g.add_constant(
                format!("w{i}"),
                Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[3, cin, 3, 3]), data).unwrap()),
                ConstSource::Stored,
            );
            let y = val(&mut g, &format!("conv{i}_out"));
            let conv = Conv { group: 1, pads: Some(vec![1; 4]), ..Conv::default() };
            g.add_node(node(format!("conv{i}"), Op::Conv(conv), vec![Some(cur), Some(w)], y));
            cur = y;
            if i < 3 {
                let r = val(&mut g, &format!("relu{i}_out"));
                let relu = Unary { kind: UnaryKind::Relu };
                g.add_node(node(format!("relu{i}"), Op::Unary(relu), vec![Some(cur)], r));
                cur = r;
            }
        }
        g.outputs_mut().push(cur);
        let items = (0..8)
            .map(|k| {
                let d: Vec<f32> = (0..50).map(|i| (((i * 7 + k * 13) % 23) as f32 - 11.0) / 5.0).collect();
                vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 5, 5]), d).unwrap()))]
            })
            .collect();
        (g, items)
    }

    /// 1 minus a penalty per conv whose input is dequantized.
    fn penalty(g: &Graph, items: &[usize]) -> Result<Validation, String> {
        let producers = g.producers();
        let mut metric = 1.0;
        for (_, n) in g.iter_nodes() {
            let quantized = n
                .inputs
                .first()
                .copied()
                .flatten()
                .and_then(|v| producers.get(&v))
                .is_some_and(|&(p, _)| g.node(p).is_some_and(|p| matches!(p.op, Op::DequantizeLinear(_))));
            if quantized {
                metric -= match n.name.as_str() {
                    "conv1" => 0.001,
                    "conv2" => 0.05,
                    "conv3" => 0.002,
                    _ => 0.0,
                };
            }
        }
        Ok(Validation { metric, per_item: Some(vec![metric; items.len()]) })
    }

    fn run(aopts: &AccuracyOptions) -> Controlled {
        let (g, items) = chain();
        let mut calib = items.into_iter().map(Ok);
        let v: &Validate<'_> = &penalty;
        quantize_with_accuracy_control(&g, &mut calib, 4, v, &QuantizeOptions::default(), aopts, &mut |_| {}).unwrap()
    }

    #[test]
    fn reverts_the_most_harmful_group_first_and_stops_at_the_goal() {
        let c = run(&AccuracyOptions::default());
        assert!((c.report.int8_drop - 0.053).abs() < 1e-9, "{:?}", c.report);
        assert!(c.report.reached);
        assert_eq!(c.report.reverted_nodes, vec!["conv2".to_string()]);
        assert_eq!(c.report.steps.len(), 1);
        assert_eq!(c.report.steps[0].outcome, Outcome::GoalReached);
        assert!((c.report.drop - 0.003).abs() < 1e-9);
        // The returned graph is the one measured.
        assert!((penalty(&c.graph, &[0]).unwrap().metric - c.report.metric).abs() < 1e-12);
    }

    #[test]
    fn an_unreachable_goal_returns_the_best_model_within_the_iteration_limit() {
        let opts = AccuracyOptions { max_drop: 0.0, max_num_iterations: 2, ..AccuracyOptions::default() };
        let c = run(&opts);
        assert!(!c.report.reached);
        assert_eq!(c.report.steps.len(), 2);
        assert!(c.report.stop_reason.contains("max_num_iterations"), "{}", c.report.stop_reason);
        // conv2 then conv3 are reverted: drop 0.001 left from conv1.
        assert!((c.report.drop - 0.001).abs() < 1e-9, "{:?}", c.report);
        assert_eq!(c.report.reverted_nodes, vec!["conv2".to_string(), "conv3".to_string()]);
    }
}
