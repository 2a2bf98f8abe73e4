//! MatMul, BatchMatMul(V2, V3), Einsum.

use ptq_ir::ops::matmul::MatMul;

use super::{attr_b, attr_s};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// `v` with its last two axes swapped.
fn swap_last(cx: &mut Cx<'_>, name: &str, v: ptq_ir::ValueId) -> Result<ptq_ir::ValueId, String> {
    let r = cx.rank(v).ok_or("a transposed operand of unknown rank")?;
    if r < 2 {
        return Err("a transposed operand of rank below 2".into());
    }
    let mut perm: Vec<i64> = (0..r as i64).collect();
    perm.swap(r - 2, r - 1);
    Ok(cx.transpose(name, v, &perm))
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    let (ta, tb) = match n.op {
        "MatMul" => (attr_b(n, "transpose_a", false), attr_b(n, "transpose_b", false)),
        "BatchMatMul" | "BatchMatMulV2" | "BatchMatMulV3" => (attr_b(n, "adj_x", false), attr_b(n, "adj_y", false)),
        "Einsum" => {
            let eq = attr_s(n, "equation", "");
            return super::einsum::lower(cx, idx, n, &eq).map(|()| true);
        }
        _ => return Ok(false),
    };
    let mut a = cx.input(n, 0)?;
    let mut b = cx.input(n, 1)?;
    if ta {
        a = swap_last(cx, &format!("{}/a_t", n.name), a)?;
    }
    if tb {
        b = swap_last(cx, &format!("{}/b_t", n.name), b)?;
    }
    let y = cx.node1(&n.name, MatMul, vec![Some(a), Some(b)]);
    cx.set(idx, 0, y);
    Ok(true)
}
