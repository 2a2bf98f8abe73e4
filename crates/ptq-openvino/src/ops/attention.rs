//! ScaledDotProductAttention, written out as MatMul → scale → mask →
//! Softmax → MatMul so that its two MatMuls stay visible to quantizer
//! placement (and to attention detection).

use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::matmul::MatMul;
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};
use ptq_ir::ops::transpose::Transpose;
use ptq_ir::ops::where_::Where;
use ptq_ir::{DType, Fact, Tensor, ValueId};

use super::{input, output};
use crate::doc::Layer;
use crate::import::Cx;

pub fn lower(cx: &mut Cx<'_>, l: &Layer, inputs: &[ValueId], outputs: &[ValueId]) -> Result<bool, String> {
    if l.kind != "ScaledDotProductAttention" {
        return Ok(false);
    }
    if l.attr("causal").is_some_and(|c| c == "true") {
        return Err("causal attention is not supported yet".into());
    }
    let (q, k, v, y) = (input(inputs, 0)?, input(inputs, 1)?, input(inputs, 2)?, output(outputs, 0)?);
    let dims = |i: usize| l.inputs.get(i).map(|p| p.dims.clone()).unwrap_or_default();
    let rank = dims(1).len();
    if rank < 2 {
        return Err("K must have rank 2 or more".into());
    }
    let name = |s: &str| format!("{}/{s}", l.name);
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(rank - 2, rank - 1);
    let kt = cx.value(&name("k_t"), Fact::default());
    cx.node(&name("transpose_k"), Transpose { perm: Some(perm) }, vec![Some(k)], vec![kt]);
    let scores = cx.value(&name("scores"), Fact::default());
    cx.node(&name("MatMul"), MatMul, vec![Some(q), Some(kt)], vec![scores]);
    let scale = match inputs.get(4) {
        Some(&s) => s,
        None => {
            let d =
                dims(0).last().copied().filter(|&d| d > 0).ok_or("the scale is implicit and Q's last dim unknown")?;
            cx.constant(&name("scale"), Tensor::scalar_f32(1.0 / (d as f32).sqrt()))
        }
    };
    let scaled = cx.value(&name("scaled"), Fact::default());
    cx.node(&name("Mul"), Binary { kind: BinaryKind::Mul }, vec![Some(scores), Some(scale)], vec![scaled]);
    let logits = match inputs.get(3) {
        Some(&mask) if l.inputs.get(3).and_then(|p| p.precision.as_deref()) == Some("BOOL") => {
            // Boolean mask: false positions get -inf.
            let neg = cx.constant(&name("masked"), Tensor::scalar_f32(f32::NEG_INFINITY));
            let out = cx.value(&name("masked_scores"), Fact::default());
            cx.node(&name("Where"), Where, vec![Some(mask), Some(scaled), Some(neg)], vec![out]);
            out
        }
        Some(&mask) => {
            let out = cx.value(&name("masked_scores"), Fact::dtype_only(Some(DType::F32)));
            cx.node(&name("Add"), Binary { kind: BinaryKind::Add }, vec![Some(scaled), Some(mask)], vec![out]);
            out
        }
        None => scaled,
    };
    let probs = cx.value(&name("probs"), Fact::default());
    cx.node(
        &name("Softmax"),
        Softmax { kind: SoftmaxKind::Softmax, axis: -1, coerce_2d: false },
        vec![Some(logits)],
        vec![probs],
    );
    cx.node(&l.name, MatMul, vec![Some(probs), Some(v)], vec![y]);
    Ok(true)
}
