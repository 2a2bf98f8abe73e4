//! NNCF's `SE_BLOCK` ignored pattern: a squeeze-and-excitation gate,
//!
//! ```text
//! x ─→ ReduceMean/GlobalAveragePool → Linear → [+bias] → act → Linear → [+bias] → Sigmoid/HardSigmoid ─→ Mul
//! └──────────────────────────────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! where Linear is a Conv, MatMul or Gemm with a constant weight and act a
//! Relu, PRelu, LeakyRelu, Relu6-style Clip, HardSwish or Swish
//! (x·sigmoid(x) written out). The nodes between the two ends (both
//! Linears, their bias adds and both activations) stay in float; the
//! pooling and the Mul are quantized as usual. The gate's convolutions are
//! tiny (they run on a 1×1 map), and their per-channel output scales the
//! whole feature map, so quantizing them costs accuracy for no speed.

use std::collections::HashSet;

use ptq_ir::ops::binary::BinaryKind;
use ptq_ir::ops::pool::PoolKind;
use ptq_ir::ops::reduce::ReduceKind;
use ptq_ir::ops::unary::UnaryKind;
use ptq_ir::{NodeId, Op, ValueId};

use crate::structure::Links;

/// The inner nodes of every SE block (see the module docs).
pub fn se_blocks(l: &Links<'_>) -> HashSet<NodeId> {
    let mut found = HashSet::new();
    for (_, n) in l.g.iter_nodes() {
        if !matches!(&n.op, Op::Binary(b) if b.kind == BinaryKind::Mul) {
            continue;
        }
        let ins: Vec<ValueId> = n.input_ids().collect();
        if ins.len() != 2 {
            continue;
        }
        for (gate, x) in [(ins[1], ins[0]), (ins[0], ins[1])] {
            if let Some(inner) = match_gate(l, gate, x) {
                found.extend(inner);
                break;
            }
        }
    }
    found
}

/// The inner nodes when `gate` is an SE gate computed from `x`.
fn match_gate(l: &Links<'_>, gate: ValueId, x: ValueId) -> Option<Vec<NodeId>> {
    let mut inner = vec![];
    // Sigmoid / HardSigmoid.
    let (p, pn) = producer(l, gate)?;
    let Op::Unary(u) = &pn.op else { return None };
    if !matches!(u.kind, UnaryKind::Sigmoid | UnaryKind::HardSigmoid { .. }) {
        return None;
    }
    inner.push(p);
    let v = skip_bias(l, first_input(l, p)?, &mut inner);
    let v = linear(l, v, &mut inner)?;
    let v = activation(l, v, &mut inner)?;
    let v = skip_bias(l, v, &mut inner);
    let v = linear(l, v, &mut inner)?;
    // The squeeze reads the same tensor the Mul scales.
    let (_, pool) = producer(l, v)?;
    let squeezes = match &pool.op {
        Op::Reduce(r) => r.kind == ReduceKind::Mean,
        Op::GlobalPool(g) => g.kind == PoolKind::Avg,
        _ => false,
    };
    (squeezes && pool.inputs.first().copied().flatten() == Some(x)).then_some(inner)
}

fn producer<'a>(l: &'a Links<'_>, v: ValueId) -> Option<(NodeId, &'a ptq_ir::Node)> {
    let p = l.producer(v)?;
    Some((p, l.g.node(p)?))
}

fn first_input(l: &Links<'_>, id: NodeId) -> Option<ValueId> {
    l.g.node(id)?.inputs.first().copied().flatten()
}

/// Through an Add of a constant (a bias), if `v` is one.
fn skip_bias(l: &Links<'_>, v: ValueId, inner: &mut Vec<NodeId>) -> ValueId {
    let Some((p, pn)) = producer(l, v) else { return v };
    if !matches!(&pn.op, Op::Binary(b) if b.kind == BinaryKind::Add) {
        return v;
    }
    let ins: Vec<ValueId> = pn.input_ids().collect();
    let varying: Vec<ValueId> = ins.iter().copied().filter(|&i| l.is_varying(i)).collect();
    match varying.as_slice() {
        [only] if ins.len() == 2 => {
            inner.push(p);
            *only
        }
        _ => v,
    }
}

/// The input of the Conv/MatMul/Gemm with a constant weight producing `v`.
fn linear(l: &Links<'_>, v: ValueId, inner: &mut Vec<NodeId>) -> Option<ValueId> {
    let (p, pn) = producer(l, v)?;
    if !matches!(pn.op, Op::Conv(_) | Op::MatMul(_) | Op::Gemm(_)) {
        return None;
    }
    let w = pn.inputs.get(1).copied().flatten()?;
    if l.is_varying(w) {
        return None;
    }
    inner.push(p);
    pn.inputs.first().copied().flatten()
}

/// The input of the activation producing `v` (a Swish written as
/// x·sigmoid(x) takes both of its nodes).
fn activation(l: &Links<'_>, v: ValueId, inner: &mut Vec<NodeId>) -> Option<ValueId> {
    let (p, pn) = producer(l, v)?;
    match &pn.op {
        Op::Unary(u) if matches!(u.kind, UnaryKind::Relu | UnaryKind::LeakyRelu { .. } | UnaryKind::HardSwish) => {
            inner.push(p);
            first_input(l, p)
        }
        Op::Clip(_) => {
            inner.push(p);
            first_input(l, p)
        }
        Op::Binary(b) if b.kind == BinaryKind::PRelu => {
            inner.push(p);
            first_input(l, p)
        }
        Op::Binary(b) if b.kind == BinaryKind::Mul => {
            // x · sigmoid(x).
            let ins: Vec<ValueId> = pn.input_ids().collect();
            let [a, c] = ins[..] else { return None };
            for (x, s) in [(a, c), (c, a)] {
                if let Some((sp, sn)) = producer(l, s)
                    && matches!(&sn.op, Op::Unary(u) if u.kind == UnaryKind::Sigmoid)
                    && sn.inputs.first().copied().flatten() == Some(x)
                {
                    inner.extend([p, sp]);
                    return Some(x);
                }
            }
            None
        }
        _ => None,
    }
}
