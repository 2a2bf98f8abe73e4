//! Keras's exact GELU, `0.5·x · erfc(−x/√2)`, which the importer lowers to
//! `Mul(0.5, x) · (1 − Erf(Neg(x)·(1/√2)))`, back to one Gelu node before
//! writing: TFLite has no Erf, and its converter turns only the
//! `0.5·x·(1 + erf(x/√2))` form written for a Gelu into its GELU op.

use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::pattern::sole_reader;
use ptq_ir::{Graph, IrError, Node, NodeId, Op, Patch, Rule, Tensor, ValueId, View};

/// Rewrites every match in `g`; returns how many.
pub fn fuse_keras_gelus(g: &mut Graph) -> Result<usize, IrError> {
    ptq_ir::rewrite::rewrite(g, &mut [&mut KerasGelu])
}

#[derive(Debug)]
struct KerasGelu;

fn scalar(g: &Graph, v: ValueId) -> Option<f32> {
    match g.constant(v)? {
        Tensor::F32(a) if a.len() == 1 && a.ndim() <= 1 && !g.inputs().contains(&v) => a.iter().next().copied(),
        _ => None,
    }
}

fn near(c: f32, want: f32) -> bool {
    (c - want).abs() <= 4.0 * f32::EPSILON * want.abs()
}

/// The two inputs of binary node `id` of `kind`.
fn binary(g: &Graph, id: NodeId, kind: BinaryKind) -> Option<(ValueId, ValueId)> {
    let n = g.node(id)?;
    if !matches!(&n.op, Op::Binary(b) if b.kind == kind) || n.output_ids().count() != 1 {
        return None;
    }
    Some((n.inputs.first().copied().flatten()?, n.inputs.get(1).copied().flatten()?))
}

/// `(x, c)` of a product of `x` with a constant scalar `c`, either order.
fn times_const(g: &Graph, id: NodeId) -> Option<(ValueId, f32)> {
    let (a, b) = binary(g, id, BinaryKind::Mul)?;
    match (scalar(g, a), scalar(g, b)) {
        (None, Some(c)) => Some((a, c)),
        (Some(c), None) => Some((b, c)),
        _ => None,
    }
}

impl Rule for KerasGelu {
    fn name(&self) -> &'static str {
        "fuse Keras GELU"
    }

    fn rewrite(&mut self, view: &View<'_>, erf: NodeId) -> Option<Patch> {
        let g = view.graph;
        let (producers, consumers) = (view.producers(), view.consumers());
        if !matches!(&g.node(erf)?.op, Op::Unary(u) if u.kind == UnaryKind::Erf) {
            return None;
        }
        let out = |id: NodeId| g.node(id).and_then(|n| n.outputs.first().copied().flatten());
        let sole = |v: ValueId| sole_reader(g, consumers, v).map(|(r, _)| r);
        let t = g.node(erf)?.inputs.first().copied().flatten()?;
        sole(t)?;
        let &(scale, _) = producers.get(&t)?;
        let (z, c) = times_const(g, scale)?;
        let mut nodes = vec![scale];
        // −x · (1/√2), or x · (−1/√2).
        let x = if near(c, std::f32::consts::FRAC_1_SQRT_2) {
            let &(neg, _) = producers.get(&z)?;
            (matches!(&g.node(neg)?.op, Op::Unary(u) if u.kind == UnaryKind::Neg)).then_some(())?;
            sole(z)?;
            nodes.push(neg);
            g.node(neg)?.inputs.first().copied().flatten()?
        } else if near(c, -std::f32::consts::FRAC_1_SQRT_2) {
            z
        } else {
            return None;
        };
        let e = out(erf)?;
        let sub = sole(e)?;
        let (one, e2) = binary(g, sub, BinaryKind::Sub)?;
        (e2 == e && scalar(g, one)? == 1.0).then_some(())?;
        let s = out(sub)?;
        let last = sole(s)?;
        let (a, b) = binary(g, last, BinaryKind::Mul)?;
        let m = if a == s { b } else { a };
        let &(half, _) = producers.get(&m)?;
        sole(m)?;
        let (x2, h) = times_const(g, half)?;
        (x2 == x && h == 0.5).then_some(())?;
        nodes.extend([erf, sub, half]);
        let n = g.node(last)?;
        let gelu =
            Node { op: Op::Unary(Unary { kind: UnaryKind::Gelu { tanh: false } }), inputs: vec![Some(x)], ..n.clone() };
        let mut p = Patch::removing(nodes);
        p.replace_node(last, gelu);
        Some(p)
    }
}
