//! Reshape, Transpose, Concat, Squeeze, Unsqueeze, Gather, ShapeOf, Broadcast.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::concat::Concat;
use ptq_ir::ops::expand::Expand;
use ptq_ir::ops::gather::Gather;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::shape_of::ShapeOf;
use ptq_ir::ops::squeeze::Squeeze;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::ops::unsqueeze::Unsqueeze;
use ptq_ir::{DType, Fact, ValueId};

use super::{const_ints, converted, input, output, req};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let y = || output(outputs, 0);
    match l.kind.as_str() {
        "Reshape" => {
            // special_zero: a 0 copies the input dim (ONNX allowzero = 0).
            let allowzero = l.attr("special_zero").is_none_or(|v| v != "true");
            cx.node(&l.name, Reshape { allowzero }, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]);
        }
        "Transpose" => {
            let perm = const_ints(cx, input(inputs, 1)?, "Transpose order")?;
            let perm = if perm.is_empty() { None } else { Some(perm) };
            cx.node(&l.name, Transpose { perm }, vec![Some(input(inputs, 0)?)], vec![y()?]);
        }
        "Concat" => {
            let axis: i64 = req(l, "axis")?.parse().map_err(|_| "axis is not an integer")?;
            cx.node(&l.name, Concat { axis }, inputs.iter().map(|&v| Some(v)).collect(), vec![y()?]);
        }
        "Squeeze" => cx.node(&l.name, Squeeze, inputs.iter().take(2).map(|&v| Some(v)).collect(), vec![y()?]),
        "Unsqueeze" => cx.node(&l.name, Unsqueeze, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]),
        "Gather" => {
            if l.attr("batch_dims").is_some_and(|b| b.trim() != "0") {
                return Err("Gather with batch_dims is not supported".into());
            }
            let axis = const_ints(cx, input(inputs, 2)?, "Gather axis")?;
            let [axis] = axis[..] else { return Err("Gather axis must be one integer".into()) };
            cx.node(&l.name, Gather { axis }, vec![Some(input(inputs, 0)?), Some(input(inputs, 1)?)], vec![y()?]);
        }
        "ShapeOf" => {
            let x = input(inputs, 0)?;
            match l.attr("output_type").unwrap_or("i64") {
                "i64" => cx.node(&l.name, ShapeOf { start: None, end: None }, vec![Some(x)], vec![y()?]),
                "i32" => {
                    let s = cx.value(&format!("{}.i64", l.name), Fact::dtype_only(Some(DType::I64)));
                    cx.node(&format!("{}/shape", l.name), ShapeOf { start: None, end: None }, vec![Some(x)], vec![s]);
                    cx.node(&l.name, Cast { to: DType::I32, saturate: None }, vec![Some(s)], vec![y()?]);
                }
                other => return Err(format!("output_type {other}")),
            }
        }
        "Broadcast" => {
            // ONNX Expand broadcasts both ways; numpy mode's target shape is
            // then the result whenever the file is valid (checked when known).
            let mode = l.attr("mode").unwrap_or("numpy");
            if mode != "numpy" && mode != "bidirectional" {
                return Err(format!("Broadcast mode '{mode}' is not supported"));
            }
            let (x, target) = (input(inputs, 0)?, input(inputs, 1)?);
            if mode == "numpy"
                && let Some(t) = cx.constant_of(target).and_then(|t| t.to_i64_vec())
            {
                let dims = l.inputs.first().map(|p| p.dims.as_slice()).unwrap_or_default();
                let fits = dims.len() <= t.len()
                    && dims.iter().rev().zip(t.iter().rev()).all(|(&d, &t)| d < 0 || d == 1 || d == t);
                if !fits {
                    return Err(format!("data of shape {dims:?} does not broadcast to {t:?}"));
                }
            }
            let shape = converted(cx, target, DType::I64, &format!("{}/shape", l.name))?;
            cx.node(&l.name, Expand, vec![Some(x), Some(shape)], vec![y()?]);
        }
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{DType, Tensor};

    use crate::ops::testutil::{Ir, assert_close, iota};

    fn broadcast(mode: &str, x: &[i64], target: Tensor, out: &[i64]) -> Ir {
        let mut ir = Ir::new();
        let p = ir.param("x", DType::F32, x);
        let t = ir.constant(&target);
        let y = ir.layer("b", "Broadcast", "opset3", &[("mode", mode)], &[p, t], &[(DType::F32, out)]);
        ir.result(y[0]);
        ir
    }

    #[test]
    fn broadcast_numpy_and_bidirectional() {
        // numpy: [3, 1] to [2, 3, 2] from an i32 shape.
        let t = Tensor::I32(ndarray::arr1(&[2, 3, 2]).into_dyn());
        let y = broadcast("numpy", &[3, 1], t, &[2, 3, 2]).run(vec![("x", iota(&[3, 1]))]);
        assert_close(&y[0], &[2, 3, 2], &[0.0, 0.0, 1.0, 1.0, 2.0, 2.0, 0.0, 0.0, 1.0, 1.0, 2.0, 2.0]);
        // bidirectional: [2, 1, 3] with target [2, 1] gives [2, 2, 3].
        let y = broadcast("bidirectional", &[2, 1, 3], Tensor::from_i64s(&[2, 1]), &[2, 2, 3])
            .run(vec![("x", iota(&[2, 1, 3]))]);
        assert_close(&y[0], &[2, 2, 3], &[0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn broadcast_rejects_explicit_mode_and_bad_numpy_targets() {
        let e = broadcast("explicit", &[3], Tensor::from_i64s(&[2, 3]), &[2, 3]).load_err();
        assert!(e.contains("mode 'explicit'"), "{e}");
        let e = broadcast("numpy", &[2, 3], Tensor::from_i64s(&[2, 1]), &[2, 3]).load_err();
        assert!(e.contains("does not broadcast"), "{e}");
        let e = broadcast("numpy", &[2, 3], Tensor::from_i64s(&[3]), &[2, 3]).load_err();
        assert!(e.contains("does not broadcast"), "{e}");
    }
}
