//! Elementwise arithmetic, comparisons, Cast, AddN, Select, ClipByValue.
//! A binary op whose operand has a channels-first value works channels-first
//! when the other operand is one too, or is a constant that broadcasts per
//! channel (a scalar, `[C]`, `[1, 1, 1, C]`).

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::clip::Clip;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::ops::variadic::{Variadic, VariadicKind};
use ptq_ir::ops::where_::Where;
use ptq_ir::{Op, Tensor, ValueId};

use super::attr_dtype;
use super::conv::channel_column;
use crate::flatten::FlatNode;
use crate::import::Cx;

fn binary(op: &str) -> Option<Op> {
    let b = |kind| Some(Op::from(Binary { kind }));
    let v = |kind| Some(Op::from(Variadic { kind }));
    match op {
        "Add" | "AddV2" => b(BinaryKind::Add),
        "Sub" => b(BinaryKind::Sub),
        "Mul" => b(BinaryKind::Mul),
        "RealDiv" | "Div" => b(BinaryKind::Div),
        "Pow" => b(BinaryKind::Pow),
        "FloorMod" => b(BinaryKind::Mod { fmod: false }),
        "Maximum" => v(VariadicKind::Max),
        "Minimum" => v(VariadicKind::Min),
        "Equal" => b(BinaryKind::Equal),
        "Greater" => b(BinaryKind::Greater),
        "GreaterEqual" => b(BinaryKind::GreaterOrEqual),
        "Less" => b(BinaryKind::Less),
        "LessEqual" => b(BinaryKind::LessOrEqual),
        "LogicalAnd" => b(BinaryKind::And),
        "LogicalOr" => b(BinaryKind::Or),
        _ => None,
    }
}

fn unary(op: &str) -> Option<UnaryKind> {
    Some(match op {
        "Sqrt" => UnaryKind::Sqrt,
        "Exp" => UnaryKind::Exp,
        "Log" => UnaryKind::Log,
        "Neg" => UnaryKind::Neg,
        "Abs" => UnaryKind::Abs,
        "Reciprocal" | "Inv" => UnaryKind::Reciprocal,
        "Floor" => UnaryKind::Floor,
        "Ceil" => UnaryKind::Ceil,
        "Round" | "Rint" => UnaryKind::Round,
        "Erf" => UnaryKind::Erf,
        "Sign" => UnaryKind::Sign,
        "Sin" => UnaryKind::Sin,
        "Cos" => UnaryKind::Cos,
        "LogicalNot" => UnaryKind::Not,
        "IsNan" => UnaryKind::IsNaN,
        _ => return None,
    })
}

/// The operands of an elementwise op on `inputs` of `n`, channels-first
/// (`true`) when one has such a value and the others can follow.
fn operands(cx: &mut Cx<'_>, n: &FlatNode, inputs: &[usize]) -> Result<(Vec<ValueId>, bool), String> {
    let any_nchw = inputs.iter().any(|&i| cx.has_nchw(n, i));
    if any_nchw {
        let mut out = vec![];
        let mut ok = true;
        for &i in inputs {
            if cx.has_nchw(n, i) {
                out.push(cx.input_nchw(n, i)?);
                continue;
            }
            let v = cx.input(n, i)?;
            if let Some(t) = cx.constant_of(v).cloned() {
                match channel_column(&t) {
                    Some(c) => out.push(cx.constant(&format!("{}/operand{i}", n.name), c)),
                    None => ok = false,
                }
            } else if cx.rank(v) == Some(4) {
                out.push(cx.input_nchw(n, i)?);
            } else {
                ok = false;
            }
        }
        if ok {
            return Ok((out, true));
        }
    }
    let vs = inputs.iter().map(|&i| cx.input(n, i)).collect::<Result<_, _>>()?;
    Ok((vs, false))
}

fn finish(cx: &mut Cx<'_>, idx: usize, y: ValueId, nchw: bool) {
    if nchw { cx.set_nchw(idx, 0, y) } else { cx.set(idx, 0, y) }
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let name = n.name.clone();
    if let Some(op) = binary(n.op) {
        let (vs, nchw) = operands(cx, n, &[0, 1])?;
        let y = cx.node1(&name, op, vs.into_iter().map(Some).collect());
        finish(cx, idx, y, nchw);
        return Ok(true);
    }
    if let Some(kind) = unary(n.op) {
        let (vs, nchw) = operands(cx, n, &[0])?;
        let y = cx.node1(&name, Unary { kind }, vec![Some(vs[0])]);
        finish(cx, idx, y, nchw);
        return Ok(true);
    }
    match n.op {
        "Square" => {
            let (vs, nchw) = operands(cx, n, &[0])?;
            let y = cx.node1(&name, Binary { kind: BinaryKind::Mul }, vec![Some(vs[0]), Some(vs[0])]);
            finish(cx, idx, y, nchw);
        }
        "Erfc" => {
            let (vs, nchw) = operands(cx, n, &[0])?;
            let e = cx.node1(&format!("{name}/erf"), Unary { kind: UnaryKind::Erf }, vec![Some(vs[0])]);
            let one = cx.constant(&format!("{name}/one"), Tensor::scalar_f32(1.0));
            let y = cx.node1(&name, Binary { kind: BinaryKind::Sub }, vec![Some(one), Some(e)]);
            finish(cx, idx, y, nchw);
        }
        "Rsqrt" => {
            let (vs, nchw) = operands(cx, n, &[0])?;
            let s = cx.node1(&format!("{name}/sqrt"), Unary { kind: UnaryKind::Sqrt }, vec![Some(vs[0])]);
            let y = cx.node1(&name, Unary { kind: UnaryKind::Reciprocal }, vec![Some(s)]);
            finish(cx, idx, y, nchw);
        }
        "SquaredDifference" => {
            let (vs, nchw) = operands(cx, n, &[0, 1])?;
            let d = cx.node1(&format!("{name}/diff"), Binary { kind: BinaryKind::Sub }, vec![Some(vs[0]), Some(vs[1])]);
            let y = cx.node1(&name, Binary { kind: BinaryKind::Mul }, vec![Some(d), Some(d)]);
            finish(cx, idx, y, nchw);
        }
        "AddN" => {
            let all: Vec<usize> = (0..n.inputs.len()).collect();
            let (vs, nchw) = operands(cx, n, &all)?;
            let y = cx.node1(&name, Variadic { kind: VariadicKind::Sum }, vs.into_iter().map(Some).collect());
            finish(cx, idx, y, nchw);
        }
        "Cast" => {
            let to = attr_dtype(n, "DstT")?;
            let (vs, nchw) = operands(cx, n, &[0])?;
            let y = cx.node1(&name, Cast { to, saturate: None }, vec![Some(vs[0])]);
            finish(cx, idx, y, nchw);
        }
        "ClipByValue" => {
            let (vs, nchw) = operands(cx, n, &[0])?;
            let lo = cx.input(n, 1)?;
            let hi = cx.input(n, 2)?;
            let scalar = |cx: &Cx<'_>, v| cx.constant_of(v).is_some_and(|t: &Tensor| t.len() == 1);
            if !(scalar(cx, lo) && scalar(cx, hi)) {
                return Err("ClipByValue bounds must be scalar constants".into());
            }
            let y = cx.node1(&name, Clip, vec![Some(vs[0]), Some(lo), Some(hi)]);
            finish(cx, idx, y, nchw);
        }
        "Select" | "SelectV2" => {
            let (vs, nchw) = operands(cx, n, &[0, 1, 2])?;
            let y = cx.node1(&name, Where, vs.into_iter().map(Some).collect());
            finish(cx, idx, y, nchw);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
