//! Arithmetic, comparisons, activations, Clamp, Convert.

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::clip::Clip;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::{Fact, Tensor, ValueId};

use super::{input, output, req};
use crate::doc::Layer;
use crate::import::Cx;

fn binary(kind: &str) -> Option<BinaryKind> {
    Some(match kind {
        "Add" => BinaryKind::Add,
        "Subtract" => BinaryKind::Sub,
        "Multiply" => BinaryKind::Mul,
        "Divide" => BinaryKind::Div,
        "Power" => BinaryKind::Pow,
        "Equal" => BinaryKind::Equal,
        "Greater" => BinaryKind::Greater,
        "GreaterEqual" => BinaryKind::GreaterOrEqual,
        "Less" => BinaryKind::Less,
        "LessEqual" => BinaryKind::LessOrEqual,
        "LogicalAnd" => BinaryKind::And,
        "LogicalOr" => BinaryKind::Or,
        "LogicalXor" => BinaryKind::Xor,
        "PRelu" => BinaryKind::PRelu,
        _ => return None,
    })
}

fn unary(l: &Layer) -> Result<Option<UnaryKind>, String> {
    Ok(Some(match l.kind.as_str() {
        "Relu" | "ReLU" => UnaryKind::Relu,
        "Sigmoid" => UnaryKind::Sigmoid,
        "Tanh" => UnaryKind::Tanh,
        "Exp" => UnaryKind::Exp,
        "Log" => UnaryKind::Log,
        "Sqrt" => UnaryKind::Sqrt,
        "Abs" => UnaryKind::Abs,
        "Negative" => UnaryKind::Neg,
        "Floor" => UnaryKind::Floor,
        "Ceiling" => UnaryKind::Ceil,
        "Erf" => UnaryKind::Erf,
        "Sin" => UnaryKind::Sin,
        "Cos" => UnaryKind::Cos,
        "SoftPlus" => UnaryKind::Softplus,
        "HSwish" => UnaryKind::HardSwish,
        "Mish" => UnaryKind::Mish,
        "LogicalNot" => UnaryKind::Not,
        "HSigmoid" => UnaryKind::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 },
        "Gelu" => {
            UnaryKind::Gelu { tanh: l.attr("approximation_mode").is_some_and(|m| m.eq_ignore_ascii_case("tanh")) }
        }
        "Elu" => UnaryKind::Elu { alpha: req(l, "alpha")?.parse().map_err(|_| "alpha is not a number")? },
        _ => return Ok(None),
    }))
}

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if let Some(kind) = binary(&l.kind) {
        match l.attr("auto_broadcast").unwrap_or("numpy") {
            "numpy" | "none" => {}
            other => return Err(format!("auto_broadcast '{other}' is not supported")),
        }
        cx.node(
            &l.name,
            Binary { kind },
            vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)],
            vec![output(outputs, 0)?],
        );
        return Ok(true);
    }
    if let Some(kind) = unary(l)? {
        cx.node(&l.name, Unary { kind }, vec![Some(input(inputs, 0)?)], vec![output(outputs, 0)?]);
        return Ok(true);
    }
    match l.kind.as_str() {
        "Clamp" => {
            let num =
                |k: &str| -> Result<f32, String> { req(l, k)?.parse().map_err(|_| format!("{k} is not a number")) };
            let lo = cx.constant(&format!("{}.min", l.name), Tensor::scalar_f32(num("min")?));
            let hi = cx.constant(&format!("{}.max", l.name), Tensor::scalar_f32(num("max")?));
            cx.node(&l.name, Clip, vec![Some(input(inputs, 0)?), Some(lo), Some(hi)], vec![output(outputs, 0)?]);
        }
        "Swish" => {
            // x · sigmoid(β·x), β = 1 without a second input.
            let (x, y) = (input(inputs, 0)?, output(outputs, 0)?);
            let scaled = match inputs.get(1) {
                Some(&beta) => {
                    let v = cx.value(&format!("{}.scaled", l.name), Fact::default());
                    cx.node(
                        &format!("{}/scale", l.name),
                        Binary { kind: BinaryKind::Mul },
                        vec![Some(x), Some(beta)],
                        vec![v],
                    );
                    v
                }
                None => x,
            };
            let s = cx.value(&format!("{}.sigmoid", l.name), Fact::default());
            cx.node(&format!("{}/sigmoid", l.name), Unary { kind: UnaryKind::Sigmoid }, vec![Some(scaled)], vec![s]);
            cx.node(&l.name, Binary { kind: BinaryKind::Mul }, vec![Some(x), Some(s)], vec![y]);
        }
        "HardSigmoid" => {
            // alpha and beta are scalar constant inputs.
            let scalar = |i: usize| -> Result<f32, String> {
                let v = input(inputs, i)?;
                let t = cx.constant_of(v).ok_or("alpha and beta must be constants")?;
                t.to_f64_vec().first().map(|&x| x as f32).ok_or_else(|| "empty alpha or beta".to_string())
            };
            let (alpha, beta) = (scalar(1)?, scalar(2)?);
            let op = Unary { kind: UnaryKind::HardSigmoid { alpha, beta } };
            cx.node(&l.name, op, vec![Some(input(inputs, 0)?)], vec![output(outputs, 0)?]);
        }
        "Convert" => {
            let et = req(l, "destination_type")?;
            let to = crate::element::dtype(et).ok_or_else(|| format!("destination_type {et}"))?;
            cx.node(&l.name, Cast { to, saturate: None }, vec![Some(input(inputs, 0)?)], vec![output(outputs, 0)?]);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
