//! MVN written out as ReduceMean / Sub / Mul / ReduceMean / Add / Sqrt / Div,
//! NormalizeL2 as Mul / ReduceSum / Add or Max / Sqrt / Div.

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::reduce::{Reduce, ReduceKind};
use ptq_ir::ops::unary::{Unary, UnaryKind};
use ptq_ir::ops::variadic::{Variadic, VariadicKind};
use ptq_ir::{Fact, Tensor, ValueId};

use super::{const_ints, input, output, req, req_num};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    match l.kind.as_str() {
        "MVN" => {}
        "NormalizeL2" => return normalize_l2(cx, l, inputs, outputs),
        _ => return Ok(false),
    }
    if l.version != "opset6" {
        return Err(format!("MVN {} (axes as an attribute) is not supported", l.version));
    }
    let (x, axes, y) = (input(inputs, 0)?, input(inputs, 1)?, output(outputs, 0)?);
    let eps: f32 = req(l, "eps")?.parse().map_err(|_| "eps is not a number")?;
    let inside = match req(l, "eps_mode")?.to_ascii_lowercase().as_str() {
        "inside_sqrt" => true,
        "outside_sqrt" => false,
        other => return Err(format!("eps_mode {other}")),
    };
    let normalize = l.attr("normalize_variance").is_none_or(|v| v == "true");
    let name = |s: &str| format!("{}/{s}", l.name);
    let mean_op = Reduce { kind: ReduceKind::Mean, keepdims: true, noop_with_empty_axes: false };
    let mean = cx.value(&name("mean"), Fact::default());
    cx.node(&name("ReduceMean"), mean_op.clone(), vec![Some(x), Some(axes)], vec![mean]);
    let centered = if normalize { cx.value(&name("centered"), Fact::default()) } else { y };
    cx.node(&name("Sub"), Binary { kind: BinaryKind::Sub }, vec![Some(x), Some(mean)], vec![centered]);
    if !normalize {
        return Ok(true);
    }
    let sq = cx.value(&name("squared"), Fact::default());
    cx.node(&name("Mul"), Binary { kind: BinaryKind::Mul }, vec![Some(centered), Some(centered)], vec![sq]);
    let var = cx.value(&name("variance"), Fact::default());
    cx.node(&name("ReduceMean_1"), mean_op, vec![Some(sq), Some(axes)], vec![var]);
    let eps_v = cx.constant(&name("eps"), Tensor::scalar_f32(eps));
    let (a, b) = (cx.value(&name("a"), Fact::default()), cx.value(&name("b"), Fact::default()));
    let add = Binary { kind: BinaryKind::Add };
    let sqrt = Unary { kind: UnaryKind::Sqrt };
    if inside {
        cx.node(&name("Add"), add, vec![Some(var), Some(eps_v)], vec![a]);
        cx.node(&name("Sqrt"), sqrt, vec![Some(a)], vec![b]);
    } else {
        cx.node(&name("Sqrt"), sqrt, vec![Some(var)], vec![a]);
        cx.node(&name("Add"), add, vec![Some(a), Some(eps_v)], vec![b]);
    }
    cx.node(&l.name, Binary { kind: BinaryKind::Div }, vec![Some(centered), Some(b)], vec![y]);
    Ok(true)
}

/// `x / sqrt(eps_mode(sum(x², axes), eps))`; empty axes sum nothing, so each
/// element is divided by its own magnitude.
fn normalize_l2(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    let (x, y) = (input(inputs, 0)?, output(outputs, 0)?);
    let axes = const_ints(cx, input(inputs, 1)?, "axes")?;
    let eps: f32 = req_num(l, "eps")?;
    let add = match req(l, "eps_mode")?.to_ascii_lowercase().as_str() {
        "add" => true,
        "max" => false,
        other => return Err(format!("eps_mode {other}")),
    };
    let name = |s: &str| format!("{}/{s}", l.name);
    let sq = cx.value(&name("squared"), Fact::default());
    cx.node(&name("Mul"), Binary { kind: BinaryKind::Mul }, vec![Some(x), Some(x)], vec![sq]);
    let axes = cx.constant(&name("axes"), Tensor::from_i64s(&axes));
    let sum = cx.value(&name("sum"), Fact::default());
    let op = Reduce { kind: ReduceKind::Sum, keepdims: true, noop_with_empty_axes: true };
    cx.node(&name("ReduceSum"), op, vec![Some(sq), Some(axes)], vec![sum]);
    let eps_v = cx.constant(&name("eps"), Tensor::scalar_f32(eps));
    let guarded = cx.value(&name("guarded"), Fact::default());
    if add {
        cx.node(&name("Add"), Binary { kind: BinaryKind::Add }, vec![Some(sum), Some(eps_v)], vec![guarded]);
    } else {
        let op = Variadic { kind: VariadicKind::Max };
        cx.node(&name("Max"), op, vec![Some(sum), Some(eps_v)], vec![guarded]);
    }
    let norm = cx.value(&name("norm"), Fact::default());
    cx.node(&name("Sqrt"), Unary { kind: UnaryKind::Sqrt }, vec![Some(guarded)], vec![norm]);
    cx.node(&l.name, Binary { kind: BinaryKind::Div }, vec![Some(x), Some(norm)], vec![y]);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use ptq_ir::DType;

    use crate::ops::testutil::{Ir, assert_close, f32s};

    fn normalize(axes: &[i64], eps: &str, mode: &str) -> Ir {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[2, 2]);
        let a = ir.ints(axes);
        let data = [("eps", eps), ("eps_mode", mode)];
        let y = ir.layer("n", "NormalizeL2", "opset1", &data, &[x, a], &[(DType::F32, &[2, 2])]);
        ir.result(y[0]);
        ir
    }

    #[test]
    fn normalize_l2_add_and_max() {
        let x = || f32s(&[2, 2], &[3.0, 4.0, 0.0, 0.5]);
        // Rows: norms 5 and 0.5; max with eps 1 lifts the second to 1.
        let y = normalize(&[1], "1", "max").run(vec![("x", x())]);
        assert_close(&y[0], &[2, 2], &[0.6, 0.8, 0.0, 0.5]);
        // add: sqrt(25 + 11) = 6, sqrt(0.25 + 11).
        let r = (11.25f64).sqrt();
        let y = normalize(&[-1], "11", "add").run(vec![("x", x())]);
        assert_close(&y[0], &[2, 2], &[0.5, 4.0 / 6.0, 0.0, 0.5 / r]);
        // Columns.
        let y = normalize(&[0], "0", "add").run(vec![("x", x())]);
        let c = (16.25f64).sqrt();
        assert_close(&y[0], &[2, 2], &[1.0, 4.0 / c, 0.0, 0.5 / c]);
        // No axes: each element by its own magnitude.
        let y = normalize(&[], "1e-12", "max").run(vec![("x", f32s(&[2, 2], &[-2.0, 4.0, 0.5, 3.0]))]);
        assert_close(&y[0], &[2, 2], &[-1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn normalize_l2_rejects_bad_attributes() {
        assert!(normalize(&[1], "1e-6", "mul").load_err().contains("eps_mode mul"));
        assert!(normalize(&[1], "tiny", "add").load_err().contains("eps is not a number"));
    }
}
