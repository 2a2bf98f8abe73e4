//! Quantization inside control flow: the bodies of `If`, `Loop` and `Scan`
//! nodes are quantized as graphs of their own.
//!
//! The calibration pass of the enclosing graph records what each body
//! receives each time it runs ([`crate::calibrate::Collected::bodies`]:
//! captured outer values, a loop's iteration number, condition and carried
//! values, a scan's slices). Those runs are the body's calibration items, and
//! [`crate::quantize_graph`] runs on the body graph with them: placement,
//! ranges, bias correction and Q/DQ insertion, recursively for nested
//! control flow. The body's inputs and outputs do not change, so the node
//! and the enclosing graph stay valid. Statistics come from the float model
//! throughout, as for the enclosing graph.
//!
//! - Only bodies with a weighted op (Conv, ConvTranspose, MatMul, Gemm)
//!   are quantized: If branches by default, Loop and Scan bodies only with
//!   `quantize_loop_bodies`, since a recurrent body's rounding error
//!   compounds over the iterations (the report says why they stay float).
//! - Outer constants a body captures, and a Loop's carried values that
//!   pass through unchanged from an outer constant, become constants of
//!   the body, so placement inside it sees weights, not activations.
//! - Report rows are labelled with the body's path
//!   (`<node>/<then_branch|else_branch|body>/...`).
//! - Quantized bodies are part of [`crate::Setup::float`], so accuracy
//!   control cannot revert their quantizers; the statistics cache is not
//!   used for a graph with such bodies (it does not hold their runs).

use std::collections::HashMap;

use ptq_ir::ops::body::join;
use ptq_ir::patch::PatchValue;
use ptq_ir::{Fact, Graph, IrError, NodeId, Op, Patch};

use crate::calibrate::{BodyRun, Item};
use crate::error::AlgoError;
use crate::hw::Role;
use crate::options::{ModelType, QuantizeOptions};
use crate::pipeline::quantize_graph;
use crate::report::{IgnoredRow, QuantizerRow, Report};

/// Whether `g` or a body nested in it has a node whose weight can be
/// quantized (Conv, ConvTranspose, MatMul, Gemm).
pub fn has_weighted_ops(g: &Graph) -> bool {
    g.iter_nodes().any(|(_, n)| {
        matches!(n.op.quant_role(), Role::Quantizable { weight: Some(_), .. })
            || n.op.bodies().iter().any(|b| has_weighted_ops(&b.graph))
    })
}

/// The control-flow nodes of `g` (not nested ones) whose bodies are worth
/// calibrating: `If` nodes, and `Loop` and `Scan` nodes with `loops`,
/// leaving out nodes in `skip` (the user's ignored scope).
pub fn to_record(g: &Graph, skip: &[NodeId], loops: bool) -> Vec<NodeId> {
    g.iter_nodes()
        .filter(|(id, n)| {
            !skip.contains(id)
                && (loops || matches!(n.op, Op::If(_)))
                && n.op.bodies().iter().any(|b| has_weighted_ops(&b.graph))
        })
        .map(|(id, _)| id)
        .collect()
}

/// The `Loop` and `Scan` nodes with weighted ops in their bodies that
/// `to_record` leaves out without `loops`, with the reason, for the report.
pub fn loops_left_float(g: &Graph, skip: &[NodeId], loops: bool) -> Vec<(NodeId, String)> {
    if loops {
        return vec![];
    }
    to_record(g, skip, true)
        .into_iter()
        .filter(|&id| g.node(id).is_some_and(|n| !matches!(n.op, Op::If(_))))
        .map(|id| {
            (id, "loop body kept in float: its rounding error would compound over the iterations (quantize_loop_bodies turns it on)".to_string())
        })
        .collect()
}

/// Makes the outer constants that the bodies of `nodes` capture (weights,
/// shapes) constants of the bodies themselves, so that placement inside a
/// body sees a weight rather than an activation: the capture leaves the
/// body's inputs and the node's trailing inputs. The body's copy is renamed
/// when the enclosing graph still reads the constant (ONNX names must not
/// shadow outer ones).
pub fn inline_constant_captures(g: &mut Graph, nodes: &[NodeId]) -> Result<(), IrError> {
    let readers = g.consumers();
    for &id in nodes {
        let label = g.node_label(id);
        let Some(node) = g.node(id) else { continue };
        let own = node.inputs.len().saturating_sub(ptq_ir::ops::body::capture_count(node.op.bodies()));
        // Node input slot → (constant, still read elsewhere).
        let mut moved: HashMap<usize, (std::sync::Arc<ptq_ir::Tensor>, bool)> = HashMap::new();
        for (slot, v) in node.inputs.iter().enumerate().skip(own) {
            let Some(v) = *v else { continue };
            if let Some(t) = g.constant(v) {
                // Read by another node, or by this one other than as a capture.
                let shared = g.outputs().contains(&v)
                    || readers.get(&v).is_some_and(|r| r.iter().any(|&(n, s)| n != id || s < own));
                moved.insert(slot, (std::sync::Arc::new(t.clone()), shared));
            }
        }
        if moved.is_empty() {
            continue;
        }
        let Some(mut node) = g.node(id).cloned() else { continue };
        let mut slot = own;
        for (attr, body) in node.op.bodies_mut() {
            let formal = body.formal;
            let mut keep = body.graph.inputs()[..formal.min(body.graph.inputs().len())].to_vec();
            for v in body.graph.inputs().to_vec().into_iter().skip(formal) {
                match moved.get(&slot) {
                    Some((t, shared)) => {
                        let value = body.graph.value_mut(v);
                        value.constant = Some(t.clone());
                        value.const_source = ptq_ir::ConstSource::Stored;
                        if *shared {
                            value.name = format!("{}.{label}.{attr}", value.name);
                        }
                    }
                    None => keep.push(v),
                }
                slot += 1;
            }
            *body.graph.inputs_mut() = keep;
        }
        let mut i = 0;
        node.inputs.retain(|_| {
            i += 1;
            !moved.contains_key(&(i - 1))
        });
        let mut p = Patch::new();
        p.replace_node(id, node);
        p.apply(g)?;
    }
    for &id in nodes {
        invariant_loop_constants(g, id)?;
    }
    Ok(())
}

/// A `Loop` whose body passes a carried value through unchanged (its
/// output is its own input) and whose initial value is an outer constant
/// carries a constant: tf2onnx hands weights to a loop body this way. The
/// body's readers of that input read a body constant with the same data
/// instead; the carried value itself stays, as ONNX requires.
fn invariant_loop_constants(g: &mut Graph, id: NodeId) -> Result<(), IrError> {
    let Some(node) = g.node(id) else { return Ok(()) };
    let Op::Loop(l) = &node.op else { return Ok(()) };
    let body = &l.body.graph;
    let carried = node.inputs.len().saturating_sub(2 + ptq_ir::ops::body::capture_count(node.op.bodies()));
    let mut found = vec![];
    for k in 0..carried {
        let (Some(&input), Some(&output)) = (body.inputs().get(2 + k), body.outputs().get(1 + k)) else { continue };
        let Some(t) = node.inputs.get(2 + k).copied().flatten().and_then(|v| g.constant(v)) else { continue };
        if input == output {
            found.push((input, std::sync::Arc::new(t.clone())));
        }
    }
    let Some(mut op) = g.node(id).map(|n| n.op.clone()) else { return Ok(()) };
    let Op::Loop(l) = &mut op else { return Ok(()) };
    let body = &mut l.body.graph;
    for (input, t) in found {
        let name = format!("{}.constant", body.value(input).name);
        let c = body.add_constant(name, (*t).clone(), ptq_ir::ConstSource::Stored);
        let mut p = Patch::new();
        for &(n, slot) in body.consumers().get(&input).map_or(&[][..], Vec::as_slice) {
            p.set_input(n, slot, PatchValue::Existing(c));
        }
        p.apply(body)?;
    }
    let mut p = Patch::new();
    p.set_op(id, op);
    p.apply(g)?;
    Ok(())
}

/// What quantizing the bodies did, already labelled with the body's path
/// (`<node>/<then_branch|else_branch|body>/...`), for the enclosing report.
#[derive(Debug, Default)]
pub struct Outcome {
    pub quantizers: Vec<QuantizerRow>,
    pub ignored: Vec<IgnoredRow>,
    pub bias_corrections: Vec<crate::bias::Correction>,
    pub folded_batch_norms: Vec<String>,
}

/// Quantizes the bodies recorded in `runs` in place. `model_type` is the
/// enclosing graph's: a transformer stays one inside its bodies; otherwise
/// each body detects its own (as `opts` says). A body that never ran, or
/// whose quantization places no quantizer, stays as it is.
pub fn quantize(
    g: &mut Graph,
    mut runs: HashMap<(NodeId, usize), Vec<BodyRun>>,
    opts: &QuantizeOptions,
    model_type: Option<ModelType>,
) -> Result<Outcome, AlgoError> {
    let mut out = Outcome::default();
    let mut keys: Vec<NodeId> = runs.keys().map(|&(n, _)| n).collect();
    keys.sort();
    keys.dedup();
    let body_opts = QuantizeOptions {
        model_type: opts.model_type.or(model_type),
        stats_cache: None,
        ignored_scope: crate::scope::IgnoredScope { strict: false, ..opts.ignored_scope.clone() },
        ..opts.clone()
    };
    for id in keys {
        let label = g.node_label(id);
        let Some(mut op) = g.node(id).map(|n| n.op.clone()) else { continue };
        for (b, (attr, body)) in op.bodies_mut().into_iter().enumerate() {
            let Some(body_runs) = runs.remove(&(id, b)).filter(|r| !r.is_empty()) else {
                if has_weighted_ops(&body.graph) {
                    out.ignored.push(IgnoredRow {
                        node: format!("{label}/{attr}"),
                        op: "body".into(),
                        reason: "never ran on the calibration items, kept in float".into(),
                    });
                }
                continue;
            };
            let path = format!("{label}/{attr}");
            relax_inputs(&mut body.graph, &body_runs);
            let names: Vec<String> = body.graph.inputs().iter().map(|&v| body.graph.value(v).name.clone()).collect();
            let n = body_runs.len();
            let mut items = body_runs.into_iter().map(|run| -> Result<Item, String> {
                Ok(names.iter().cloned().zip(run.into_iter().map(|t| (*t).clone())).collect())
            });
            let q = quantize_graph(
                &body.graph,
                &mut items,
                &QuantizeOptions { subset_size: n, ..body_opts.clone() },
                &mut |_| {},
            )
            .map_err(|e| AlgoError::Node { node: path.clone(), msg: format!("quantizing the body: {e}") })?;
            if !q.report.quantizers.is_empty() {
                let mut quantized = q.graph;
                scope_new_names(&mut quantized, &body.graph, &path)?;
                body.graph = quantized;
            }
            merge(&mut out, &path, q.report);
        }
        let mut p = Patch::new();
        p.set_op(id, op);
        p.apply(g)?;
    }
    Ok(out)
}

/// Prefixes with `path/` every value and node name of `quantized` that
/// `before` (the body it was quantized from) does not have: the quantizers
/// every graph names `q0`, `q1`... would otherwise repeat across bodies and
/// the enclosing graph, which ONNX's single-assignment rule forbids.
fn scope_new_names(quantized: &mut Graph, before: &Graph, path: &str) -> Result<(), AlgoError> {
    let old = ptq_ir::names::NameSet::of_graph(before);
    for v in quantized.values_mut() {
        if !old.contains(&v.name) {
            v.name = format!("{path}/{}", v.name);
        }
    }
    let mut p = Patch::new();
    for (id, n) in quantized.iter_nodes() {
        if !old.contains(&n.name) {
            p.rename(id, format!("{path}/{}", n.name));
        }
    }
    p.apply(quantized)?;
    Ok(())
}

/// Widens the declared facts of the body's inputs to what the runs gave:
/// bodies often declare shapes their runs do not have (a loop-carried value
/// that grows, an exporter's placeholder dims), and calibration checks inputs
/// against declarations. Only declarations the runs contradict change.
fn relax_inputs(g: &mut Graph, runs: &[BodyRun]) {
    for (k, &v) in g.inputs().to_vec().iter().enumerate() {
        let mut fact = g.value(v).fact.clone();
        for run in runs {
            if let Some(t) = run.get(k) {
                let seen = Fact::new(t.dtype(), ptq_ir::fact::known_shape(t.shape()));
                if !fits(&fact, &seen) {
                    fact = join(&fact, &seen);
                }
            }
        }
        g.value_mut(v).fact = fact;
    }
}

/// Whether a tensor with fact `seen` (static) satisfies the declaration.
fn fits(declared: &Fact, seen: &Fact) -> bool {
    let dtype = declared.dtype.is_none() || declared.dtype == seen.dtype;
    let shape = match (&declared.shape, &seen.shape) {
        (None, _) => true,
        (Some(d), Some(s)) => d.len() == s.len() && d.iter().zip(s).all(|(a, b)| a.known().is_none() || a == b),
        (Some(_), None) => false,
    };
    dtype && shape
}

fn merge(out: &mut Outcome, path: &str, r: Report) {
    let at = |s: &str| format!("{path}/{s}");
    for mut q in r.quantizers {
        q.tensor = at(&q.tensor);
        q.readers = q.readers.iter().map(|x| at(x)).collect();
        out.quantizers.push(q);
    }
    for mut i in r.ignored {
        i.node = at(&i.node);
        out.ignored.push(i);
    }
    for mut c in r.bias_corrections {
        c.node = at(&c.node);
        out.bias_corrections.push(c);
    }
    out.folded_batch_norms.extend(r.folded_batch_norms.iter().map(|f| at(f)));
}
