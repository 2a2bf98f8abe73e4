//! MatMul (with transpose_a / transpose_b as Transpose nodes).

use ptq_ir::ops::matmul::MatMul;
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::{Fact, Tensor, ValueId};

use super::{input, output};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "MatMul" {
        return Ok(false);
    }
    let flag = |k: &str| l.attr(k).is_some_and(|v| v == "true");
    let mut operands = vec![];
    for (i, key) in [(0, "transpose_a"), (1, "transpose_b")] {
        let v = input(inputs, i)?;
        let rank = l.inputs.get(i).map_or(0, |p| p.dims.len());
        if !flag(key) || rank < 2 {
            operands.push(Some(v));
            continue;
        }
        // A constant (a weight) is transposed here, so it stays a constant
        // that quantization recognises as a weight.
        if let Some(t) = cx.constant_of(v).and_then(swap_last_two) {
            operands.push(Some(cx.constant(&format!("{}.{key}", l.name), t)));
            continue;
        }
        let mut perm: Vec<i64> = (0..rank as i64).collect();
        perm.swap(rank - 2, rank - 1);
        let t = cx.value(&format!("{}.{key}", l.name), Fact::default());
        cx.node(&format!("{}/{key}", l.name), Transpose { perm: Some(perm) }, vec![Some(v)], vec![t]);
        operands.push(Some(t));
    }
    cx.node(&l.name, MatMul, operands, vec![output(outputs, 0)?]);
    Ok(true)
}

/// `t` with its last two axes swapped (row-major copy), for rank ≥ 2.
fn swap_last_two(t: &Tensor) -> Option<Tensor> {
    let rank = t.shape().len();
    if rank < 2 {
        return None;
    }
    macro_rules! swap {
        ($($v:ident),*) => {
            match t {
                $(Tensor::$v(a) => {
                    let mut b = a.clone();
                    b.swap_axes(rank - 2, rank - 1);
                    Some(Tensor::$v(b.as_standard_layout().into_owned()))
                })*
                _ => None,
            }
        };
    }
    swap!(F32, F64, F16, BF16, I8, U8, I16, U16, I32, U32, I64, U64, Bool)
}
