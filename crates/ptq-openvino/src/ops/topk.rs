//! TopK (opset1, 3, 11) as ONNX TopK; i32 indices through a Cast, and
//! `sort="index"` as a second TopK over the indices (smallest first) whose
//! order then gathers the values.

use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::gather_elements::GatherElements;
use ptq_ir::ops::reshape::Reshape;
use ptq_ir::ops::topk::TopK;
use ptq_ir::{DType, Fact, Tensor, ValueId};

use super::{converted, input, output, req, req_num};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "TopK" {
        return Ok(false);
    }
    let axis: i64 = req_num(l, "axis")?;
    let largest = match req(l, "mode")? {
        "max" => true,
        "min" => false,
        other => return Err(format!("mode '{other}'")),
    };
    // "none" leaves the order open: value order is one of the allowed ones.
    let by_index = match req(l, "sort")? {
        "value" | "none" => false,
        "index" => true,
        other => return Err(format!("sort '{other}'")),
    };
    let index_type = match l.attr("index_element_type").unwrap_or("i32") {
        "i32" => DType::I32,
        "i64" => DType::I64,
        other => return Err(format!("index_element_type '{other}'")),
    };
    let name = |s: &str| format!("{}/{s}", l.name);
    let (x, k_in, values) = (input(inputs, 0)?, input(inputs, 1)?, output(outputs, 0)?);
    // ONNX wants K as i64 [1]; IR passes a scalar of any integer type.
    let k = match cx.constant_of(k_in).map(|t| t.to_i64_vec()) {
        Some(Some(v)) => match v[..] {
            [k] if k >= 1 => cx.constant(&name("k"), Tensor::from_i64s(&[k])),
            _ => return Err(format!("K is {v:?}, not one positive integer")),
        },
        Some(None) => return Err("K must be an integer".into()),
        None => {
            let k64 = converted(cx, k_in, DType::I64, &name("k_i64"))?;
            let one = cx.constant(&name("k_shape"), Tensor::from_i64s(&[1]));
            let k = cx.value(&name("k"), Fact::dtype_only(Some(DType::I64)));
            cx.node(&name("k"), Reshape { allowzero: false }, vec![Some(k64), Some(one)], vec![k]);
            k
        }
    };
    let indices = match outputs.get(1) {
        Some(&v) => v,
        None => cx.value(&name("indices"), Fact::default()),
    };
    let i64_value = |cx: &mut Cx<'_>, s: &str| cx.value(&name(s), Fact::dtype_only(Some(DType::I64)));
    // Where the i64 indices in output order go: straight out, or through a Cast.
    let idx64 = if index_type == DType::I64 { indices } else { i64_value(cx, "indices_i64") };
    let op = TopK { axis, largest, sorted: true };
    if by_index {
        let (v, i) = (cx.value(&name("by_value"), Fact::default()), i64_value(cx, "by_value_indices"));
        cx.node(&name("by_value"), op, vec![Some(x), Some(k)], vec![v, i]);
        let perm = i64_value(cx, "order");
        let sort = TopK { axis, largest: false, sorted: true };
        cx.node(&name("by_index"), sort, vec![Some(i), Some(k)], vec![idx64, perm]);
        cx.node(&l.name, GatherElements { axis }, vec![Some(v), Some(perm)], vec![values]);
    } else {
        cx.node(&l.name, op, vec![Some(x), Some(k)], vec![values, idx64]);
    }
    if idx64 != indices {
        cx.node(&name("indices"), Cast { to: index_type, saturate: None }, vec![Some(idx64)], vec![indices]);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{DType, Tensor};

    use crate::ops::testutil::{Ir, assert_close, f32s};

    fn topk(version: &str, data: &[(&str, &str)], k: Option<i64>) -> Ir {
        let mut ir = Ir::new();
        let x = ir.param("x", DType::F32, &[2, 4]);
        let k = match k {
            Some(k) => ir.constant(&Tensor::I32(ndarray::arr0(k as i32).into_dyn())),
            None => ir.param("k", DType::I32, &[]),
        };
        let it = if data.contains(&("index_element_type", "i64")) { DType::I64 } else { DType::I32 };
        let ys = ir.layer("topk", "TopK", version, data, &[x, k], &[(DType::F32, &[2, -1]), (it, &[2, -1])]);
        ir.result(ys[0]);
        ir.result(ys[1]);
        ir
    }

    const X: [f32; 8] = [1.0, 5.0, 3.0, 4.0, 9.0, 2.0, 7.0, 0.0];

    #[test]
    fn topk_max_by_value_with_i32_indices() {
        let ir = topk("opset1", &[("axis", "1"), ("mode", "max"), ("sort", "value")], Some(3));
        let y = ir.run(vec![("x", f32s(&[2, 4], &X))]);
        assert_close(&y[0], &[2, 3], &[5.0, 4.0, 3.0, 9.0, 7.0, 2.0]);
        assert_eq!(y[1], Tensor::I32(ndarray::arr2(&[[1, 3, 2], [0, 2, 1]]).into_dyn()));
    }

    #[test]
    fn topk_min_by_index_with_a_dynamic_k() {
        let data = [("axis", "-1"), ("mode", "min"), ("sort", "index"), ("index_element_type", "i64")];
        let ir = topk("opset11", &data, None);
        let k = Tensor::I32(ndarray::arr0(3).into_dyn());
        let y = ir.run(vec![("x", f32s(&[2, 4], &X)), ("k", k)]);
        // Smallest three, in index order.
        assert_close(&y[0], &[2, 3], &[1.0, 3.0, 4.0, 2.0, 7.0, 0.0]);
        assert_eq!(y[1], Tensor::I64(ndarray::arr2(&[[0, 2, 3], [1, 2, 3]]).into_dyn()));
    }

    #[test]
    fn topk_rejects_bad_attributes_and_k() {
        let ok = [("axis", "1"), ("mode", "max"), ("sort", "value")];
        for (data, k, want) in [
            (vec![("axis", "1"), ("mode", "top"), ("sort", "value")], 1, "mode 'top'"),
            (vec![("axis", "1"), ("mode", "max"), ("sort", "random")], 1, "sort 'random'"),
            (vec![("axis", "1"), ("mode", "max")], 1, "no sort attribute"),
            (vec![("axis", "1"), ("mode", "max"), ("sort", "value"), ("index_element_type", "u8")], 1, "'u8'"),
            (ok.to_vec(), 0, "not one positive integer"),
        ] {
            let e = topk("opset3", &data, Some(k)).load_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
