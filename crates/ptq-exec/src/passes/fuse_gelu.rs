//! The exact GELU as exporters write it out — `x / √2 → Erf → + 1 →
//! x · (·) → · 0.5`, five nodes and five passes over the tensor — fused into
//! one Gelu node (plan-time optimization).
//!
//! The fused kernel multiplies by 1/√2 where the graph divides by √2, so a
//! result can differ from the five nodes' in the last bit of the Erf's
//! argument (a relative difference of about 1e-7), as onnxruntime's own
//! Gelu fusion does.

use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::pattern::{Consumers, Producers, sole_reader};
use ptq_ir::{Graph, IrError, Node, NodeId, Op, Patch, Rule, ValueId, View};

/// Rewrites every match in `g`; returns how many.
pub fn fuse_gelus(g: &mut Graph) -> Result<usize, IrError> {
    ptq_ir::rewrite::rewrite(g, &mut [&mut FuseGelu])
}

/// The rule of [`fuse_gelus`], anchored at the Erf.
#[derive(Debug)]
pub struct FuseGelu;

impl Rule for FuseGelu {
    fn name(&self) -> &'static str {
        "fuse GELU"
    }

    fn rewrite(&mut self, view: &View<'_>, erf: NodeId) -> Option<Patch> {
        let g = view.graph;
        if !matches!(&g.node(erf)?.op, Op::Unary(u) if u.kind == UnaryKind::Erf) {
            return None;
        }
        let m = gelu_at(g, view.producers(), view.consumers(), erf)?;
        patch(g, &m)
    }
}

/// One match: the five nodes, the input and the output.
struct Match {
    /// The scaling, Erf, Add, Mul by x and Mul by ½, in order.
    nodes: [NodeId; 5],
    x: ValueId,
    y: ValueId,
}

/// The value a constant scalar f32 holds (rank 0 or one element of rank 1,
/// so it cannot widen the other operand's shape).
fn scalar(g: &Graph, v: ValueId) -> Option<f32> {
    if g.inputs().contains(&v) {
        return None;
    }
    match g.constant(v)? {
        ptq_ir::Tensor::F32(a) if a.len() == 1 && a.ndim() <= 1 => a.iter().next().copied(),
        _ => None,
    }
}

/// The binary node `id` of `kind` with `v` as one input: the other input.
fn other_input(g: &Graph, id: NodeId, kind: BinaryKind, v: ValueId) -> Option<ValueId> {
    let n = g.node(id)?;
    if !matches!(&n.op, Op::Binary(b) if b.kind == kind) || n.output_ids().count() != 1 {
        return None;
    }
    match (n.inputs.first().copied().flatten()?, n.inputs.get(1).copied().flatten()?) {
        (a, b) if a == v => Some(b),
        (a, b) if b == v && kind != BinaryKind::Div => Some(a),
        _ => None,
    }
}

fn gelu_at(g: &Graph, producers: &Producers, consumers: &Consumers, erf: NodeId) -> Option<Match> {
    let out = |id: NodeId| g.node(id).and_then(|n| n.outputs.first().copied().flatten());
    // The only reader of `v`, which must not be a graph output.
    let sole = |v: ValueId| sole_reader(g, consumers, v).map(|(r, _)| r);
    let t = g.node(erf)?.inputs.first().copied().flatten()?;
    let &(scale, _) = producers.get(&t)?;
    sole(t)?;
    // x / √2, or x · (1/√2) in either order.
    let sn = g.node(scale)?;
    let (a, b) = (sn.inputs.first().copied().flatten()?, sn.inputs.get(1).copied().flatten()?);
    let x = match &sn.op {
        Op::Binary(k) if k.kind == BinaryKind::Div && near(scalar(g, b)?, std::f32::consts::SQRT_2) => a,
        Op::Binary(k) if k.kind == BinaryKind::Mul => match (scalar(g, a), scalar(g, b)) {
            (_, Some(c)) if near(c, std::f32::consts::FRAC_1_SQRT_2) => a,
            (Some(c), _) if near(c, std::f32::consts::FRAC_1_SQRT_2) => b,
            _ => return None,
        },
        _ => return None,
    };
    let e = out(erf)?;
    let add = sole(e)?;
    (scalar(g, other_input(g, add, BinaryKind::Add, e)?)? == 1.0).then_some(())?;
    let s = out(add)?;
    let times_x = sole(s)?;
    (other_input(g, times_x, BinaryKind::Mul, s)? == x).then_some(())?;
    let p = out(times_x)?;
    let half = sole(p)?;
    (scalar(g, other_input(g, half, BinaryKind::Mul, p)?)? == 0.5).then_some(())?;
    Some(Match { nodes: [scale, erf, add, times_x, half], x, y: out(half)? })
}

/// Within a few ulp: exporters write √2 as the f32 or the f64 value.
fn near(c: f32, want: f32) -> bool {
    (c - want).abs() <= 4.0 * f32::EPSILON * want
}

/// The scaling node becomes the Gelu (reading x, writing y); the other four go.
fn patch(g: &Graph, m: &Match) -> Option<Patch> {
    let [first, rest @ ..] = m.nodes;
    let n = g.node(first)?;
    let gelu = Node {
        op: Op::Unary(Unary { kind: UnaryKind::Gelu { tanh: false } }),
        inputs: vec![Some(m.x)],
        outputs: vec![Some(m.y)],
        ..n.clone()
    };
    let mut p = Patch::removing(rest);
    p.replace_node(first, gelu);
    Some(p)
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::binary::Binary;
    use ptq_ir::{ConstSource, Node, Tensor, Value};

    use super::*;
    use crate::{ExecOptions, Plan};

    fn node(g: &mut Graph, op: Op, inputs: Vec<ValueId>, out: &str) -> ValueId {
        let y = g.add_value(Value { name: out.into(), ..Value::default() });
        let name = format!("{out}_node");
        let inputs = inputs.into_iter().map(Some).collect();
        g.add_node(Node { name, op, inputs, outputs: vec![Some(y)], doc: String::new(), meta: vec![] });
        y
    }

    fn bin(g: &mut Graph, kind: BinaryKind, a: ValueId, b: ValueId, out: &str) -> ValueId {
        node(g, Op::Binary(Binary { kind }), vec![a, b], out)
    }

    /// `x → Div(√2) → Erf → Add 1 → Mul x → Mul ½ → y`, plus `extra`
    /// reading the Erf output when `leak`.
    fn gelu_graph(leak: bool) -> Graph {
        let mut g = Graph::default();
        let x = g.add_value(Value { name: "x".into(), ..Value::default() });
        g.inputs_mut().push(x);
        let c = |g: &mut Graph, name: &str, v: f32| g.add_constant(name, Tensor::scalar_f32(v), ConstSource::Stored);
        let sqrt2 = c(&mut g, "sqrt2", std::f32::consts::SQRT_2);
        let t = bin(&mut g, BinaryKind::Div, x, sqrt2, "t");
        let e = node(&mut g, Op::Unary(Unary { kind: UnaryKind::Erf }), vec![t], "e");
        let one = c(&mut g, "one", 1.0);
        let s = bin(&mut g, BinaryKind::Add, e, one, "s");
        let p = bin(&mut g, BinaryKind::Mul, x, s, "p");
        let half = c(&mut g, "half", 0.5);
        let y = bin(&mut g, BinaryKind::Mul, p, half, "y");
        g.outputs_mut().push(y);
        if leak {
            let z = node(&mut g, Op::Unary(Unary { kind: UnaryKind::Abs }), vec![e], "extra");
            g.outputs_mut().push(z);
        }
        g
    }

    fn run(g: &Graph, optimize: bool) -> Vec<f32> {
        let plan = Plan::new(g, &ExecOptions { threads: 1, optimize, integer: false, ..Default::default() }).unwrap();
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let x = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[10, 100]), x).unwrap());
        let out = plan.run(vec![("x".into(), x)]).unwrap();
        out[0].1.to_f64_vec().iter().map(|&v| v as f32).collect()
    }

    #[test]
    fn the_five_node_gelu_becomes_one_node_with_the_same_values() {
        let mut g = gelu_graph(false);
        assert_eq!(fuse_gelus(&mut g).unwrap(), 1);
        let ops: Vec<&str> = g.iter_nodes().map(|(_, n)| n.op.name()).collect();
        assert_eq!(ops, ["Gelu"]);
        let (fused, plain) = (run(&gelu_graph(false), true), run(&gelu_graph(false), false));
        for (i, (a, b)) in fused.iter().zip(&plain).enumerate() {
            // 1 + erf cancels for negative x: its rounding, scaled by x/2,
            // bounds the difference.
            let x = (i as f32 - 500.0) * 0.013;
            assert!((a - b).abs() <= 2.5e-7 * x.abs().max(1.0), "x = {x}: fused {a}, unfused {b}");
        }
    }

    #[test]
    fn a_value_read_elsewhere_keeps_the_nodes() {
        let mut g = gelu_graph(true);
        assert_eq!(fuse_gelus(&mut g).unwrap(), 0);
        assert_eq!(g.iter_nodes().count(), 6);
    }
}
