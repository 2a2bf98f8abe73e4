//! Unary, binary and variadic elementwise ops, Clip, and the softmax family.

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::clip::Clip;
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::ops::variadic::{Variadic, VariadicKind};

use super::{Emitted, ExportCtx, Lowered};
use crate::attrs::{AttrOut, Attrs};

fn unary_kind(t: &str, a: &Attrs) -> Result<Option<UnaryKind>, String> {
    use UnaryKind::*;
    Ok(Some(match t {
        "Identity" => Identity,
        "Relu" => Relu,
        "Sigmoid" => Sigmoid,
        "Tanh" => Tanh,
        "Sqrt" => Sqrt,
        "Exp" => Exp,
        "Log" => Log,
        "Neg" => Neg,
        "Abs" => Abs,
        "Reciprocal" => Reciprocal,
        "Floor" => Floor,
        "Ceil" => Ceil,
        "Round" => Round,
        "Erf" => Erf,
        "Sign" => Sign,
        "Sin" => Sin,
        "Cos" => Cos,
        "Softplus" => Softplus,
        "Softsign" => Softsign,
        "HardSwish" => HardSwish,
        "Mish" => Mish,
        "Not" => Not,
        "IsNaN" => IsNaN,
        "LeakyRelu" => LeakyRelu { alpha: a.float_or("alpha", 0.01)? },
        "HardSigmoid" => HardSigmoid { alpha: a.float_or("alpha", 0.2)?, beta: a.float_or("beta", 0.5)? },
        "Elu" => Elu { alpha: a.float_or("alpha", 1.0)? },
        "Selu" => Selu { alpha: a.float_or("alpha", 1.673_263_2)?, gamma: a.float_or("gamma", 1.050_701)? },
        "Celu" => Celu { alpha: a.float_or("alpha", 1.0)? },
        "ThresholdedRelu" => ThresholdedRelu { alpha: a.float_or("alpha", 1.0)? },
        "Gelu" => Gelu {
            tanh: match a.string("approximate")?.as_deref() {
                None | Some("none") => false,
                Some("tanh") => true,
                Some(s) => return Err(format!("unknown approximate {s:?}")),
            },
        },
        _ => return Ok(None),
    }))
}

fn binary_kind(t: &str, a: &Attrs) -> Result<Option<BinaryKind>, String> {
    use BinaryKind::*;
    Ok(Some(match t {
        "Add" => Add,
        "Sub" => Sub,
        "Mul" => Mul,
        "Div" => Div,
        "Pow" => Pow,
        "Mod" => Mod { fmod: a.flag("fmod", false)? },
        "Equal" => Equal,
        "Greater" => Greater,
        "GreaterOrEqual" => GreaterOrEqual,
        "Less" => Less,
        "LessOrEqual" => LessOrEqual,
        "And" => And,
        "Or" => Or,
        "Xor" => Xor,
        "PRelu" => PRelu,
        _ => return Ok(None),
    }))
}

/// Lowers the elementwise family; `None` for other op types.
pub fn import(t: &str, a: &Attrs, opset: i64) -> Result<Option<Lowered>, String> {
    if t == "Gelu" && opset < 20 {
        return Ok(None);
    }
    if let Some(kind) = unary_kind(t, a)? {
        return Lowered::op(Unary { kind });
    }
    if let Some(kind) = binary_kind(t, a)? {
        return Lowered::op(Binary { kind });
    }
    let variadic = match t {
        "Sum" => Some(VariadicKind::Sum),
        "Mean" => Some(VariadicKind::Mean),
        "Min" => Some(VariadicKind::Min),
        "Max" => Some(VariadicKind::Max),
        _ => None,
    };
    if let Some(kind) = variadic {
        return Lowered::op(Variadic { kind });
    }
    let softmax = match t {
        "Softmax" => Some(SoftmaxKind::Softmax),
        "LogSoftmax" => Some(SoftmaxKind::LogSoftmax),
        "Hardmax" => Some(SoftmaxKind::Hardmax),
        _ => None,
    };
    if let Some(kind) = softmax {
        let legacy = opset < 13;
        return Lowered::op(Softmax { kind, axis: a.int_or("axis", if legacy { 1 } else { -1 })?, coerce_2d: legacy });
    }
    if t == "Clip" {
        return Lowered::op(Clip);
    }
    Ok(None)
}

fn unary_attrs(k: UnaryKind) -> AttrOut {
    use UnaryKind::*;
    let mut o = AttrOut::default();
    match k {
        LeakyRelu { alpha } => {
            o.float_unless("alpha", alpha, 0.01);
        }
        HardSigmoid { alpha, beta } => {
            o.float_unless("alpha", alpha, 0.2).float_unless("beta", beta, 0.5);
        }
        Elu { alpha } | Celu { alpha } | ThresholdedRelu { alpha } => {
            o.float_unless("alpha", alpha, 1.0);
        }
        Selu { alpha, gamma } => {
            o.float_unless("alpha", alpha, 1.673_263_2).float_unless("gamma", gamma, 1.050_701);
        }
        Gelu { tanh: true } => {
            o.string("approximate", "tanh");
        }
        _ => {}
    }
    o
}

/// Writes a unary op.
pub fn export_unary(u: &Unary, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    if matches!(u.kind, UnaryKind::Gelu { .. }) && cx.opset < 20 {
        return Err("Gelu needs opset 20".into());
    }
    Ok(Emitted::new(u.kind.name(), unary_attrs(u.kind)))
}

/// Writes a binary op.
pub fn export_binary(b: &Binary) -> Emitted {
    let mut o = AttrOut::default();
    if let BinaryKind::Mod { fmod } = b.kind {
        o.int_unless("fmod", i64::from(fmod), 0);
    }
    Emitted::new(b.kind.name(), o)
}

/// Writes Softmax, LogSoftmax or Hardmax, with the axis this opset means.
pub fn export_softmax(s: &Softmax, cx: &ExportCtx<'_>) -> Result<Emitted, String> {
    let legacy = cx.opset < 13;
    let rank = cx.node.inputs.first().copied().flatten().and_then(|v| cx.graph.value(v).fact.rank());
    if legacy != s.coerce_2d && !rank.is_some_and(|r| s.is_last_axis(r)) {
        return Err("softmax semantics changed at opset 13 and the axis is not provably the last one".into());
    }
    let mut o = AttrOut::default();
    let axis = if legacy != s.coerce_2d { rank.map_or(s.axis, |r| r as i64 - 1) } else { s.axis };
    o.int_unless("axis", axis, if legacy { 1 } else { -1 });
    Ok(Emitted::new(cx.node.op.name(), o))
}
