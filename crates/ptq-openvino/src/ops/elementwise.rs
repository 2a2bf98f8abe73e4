//! Arithmetic, comparisons, activations, Clamp, Convert, Select, FakeQuantize.

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::clip::Clip;
use ptq_ir::ops::fake_quantize::FakeQuantize;
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::ops::where_::Where;
use ptq_ir::{Fact, Tensor, ValueId};

use super::{input, output, req, req_num};
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
        "Select" | "FakeQuantize" => {
            match l.attr("auto_broadcast").unwrap_or("numpy") {
                "numpy" => {}
                other => return Err(format!("auto_broadcast '{other}' is not supported")),
            }
            let n = if l.kind == "Select" { 3 } else { 5 };
            let args = (0..n).map(|i| input(inputs, i).map(Some)).collect::<Result<Vec<_>, _>>()?;
            let y = vec![output(outputs, 0)?];
            if l.kind == "Select" {
                cx.node(&l.name, Where, args, y);
            } else {
                let levels: u32 = req_num(l, "levels")?;
                if levels < 2 {
                    return Err(format!("levels {levels} is below 2"));
                }
                cx.node(&l.name, FakeQuantize { levels }, args, y);
            }
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

#[cfg(test)]
mod tests {
    use ptq_ir::DType;
    use ptq_ir::Tensor;

    use crate::ops::testutil::{Ir, assert_close, f32s};

    fn fake_quantize(levels: &str, broadcast: &str) -> Ir {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[2, 3]);
        // Per-row input range, one output range.
        let il = ir.constant(&f32s(&[2, 1], &[0.0, -1.0]));
        let ih = ir.constant(&f32s(&[2, 1], &[1.0, 1.0]));
        let ol = ir.constant(&Tensor::scalar_f32(0.0));
        let oh = ir.constant(&Tensor::scalar_f32(3.0));
        let data = [("levels", levels), ("auto_broadcast", broadcast)];
        let y = ir.layer("fq", "FakeQuantize", "opset1", &data, &[x, il, ih, ol, oh], &[(DType::F32, &[2, 3])]);
        ir.result(y[0]);
        ir
    }

    #[test]
    fn fake_quantize_clamps_rounds_and_rescales() {
        let ir = fake_quantize("4", "numpy");
        let x = f32s(&[2, 3], &[-0.5, 0.5, 0.7, -0.4, 0.2, 2.0]);
        let y = ir.run(vec![("x", x)]);
        // Row 0: steps of 1/3 on [0, 1]; 0.5 * 3 = 1.5 rounds to even 2.
        // Row 1: steps of 2/3 on [-1, 1]; (-0.4 + 1) / 2 * 3 = 0.9 -> 1, (0.2 + 1) / 2 * 3 = 1.8 -> 2.
        assert_close(&y[0], &[2, 3], &[0.0, 2.0, 2.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn fake_quantize_rejects_bad_attributes() {
        assert!(fake_quantize("4", "pdpd").load_err().contains("auto_broadcast 'pdpd'"));
        assert!(fake_quantize("1", "numpy").load_err().contains("levels 1"));
        assert!(fake_quantize("many", "numpy").load_err().contains("levels is not a number"));
    }

    #[test]
    fn select_broadcasts_like_numpy() {
        let mut ir = Ir::new();
        let c = ir.param("c", DType::Bool, &[2, 1]);
        let a = ir.param("a", DType::F32, &[2, 3]);
        let b = ir.constant(&Tensor::scalar_f32(-1.0));
        let y = ir.layer("sel", "Select", "opset1", &[], &[c, a, b], &[(DType::F32, &[2, 3])]);
        ir.result(y[0]);
        let cond = Tensor::Bool(ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[2, 1]), vec![true, false]).unwrap());
        let y = ir.run(vec![("c", cond), ("a", f32s(&[2, 3], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))]);
        assert_close(&y[0], &[2, 3], &[1.0, 2.0, 3.0, -1.0, -1.0, -1.0]);
    }
}
