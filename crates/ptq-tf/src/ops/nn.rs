//! Activations, BiasAdd, FusedBatchNorm, Softmax: elementwise or
//! channel-wise, so they work on whichever layout their input has.

use ptq_ir::Tensor;
use ptq_ir::ops::batch_norm::BatchNorm;
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::clip::Clip;
use ptq_ir::ops::softmax::{Softmax, SoftmaxKind};
use ptq_ir::ops::unary::{Unary, UnaryKind};

use super::conv::channel_column;
use super::{attr_b, attr_f, channels_last};
use crate::flatten::FlatNode;
use crate::import::Cx;

/// The IR function of an elementwise activation.
fn activation(n: &FlatNode) -> Option<UnaryKind> {
    Some(match n.op {
        "Relu" => UnaryKind::Relu,
        "Sigmoid" => UnaryKind::Sigmoid,
        "Tanh" => UnaryKind::Tanh,
        "Elu" => UnaryKind::Elu { alpha: 1.0 },
        "Selu" => UnaryKind::Selu { alpha: 1.673_263_2, gamma: 1.050_701 },
        "LeakyRelu" => UnaryKind::LeakyRelu { alpha: attr_f(n, "alpha", 0.2) },
        "Softplus" => UnaryKind::Softplus,
        "Softsign" => UnaryKind::Softsign,
        "Gelu" => UnaryKind::Gelu { tanh: attr_b(n, "approximate", false) },
        _ => return None,
    })
}

/// Applies `make` to input 0 in the layout it has (channels-first when
/// there is such a value) and records the result in the same layout.
fn same_layout(
    cx: &mut Cx<'_>,
    idx: usize,
    n: &FlatNode,
    make: impl FnOnce(&mut Cx<'_>, ptq_ir::ValueId) -> Result<ptq_ir::ValueId, String>,
) -> Result<(), String> {
    if cx.has_nchw(n, 0) {
        let x = cx.input_nchw(n, 0)?;
        let y = make(cx, x)?;
        cx.set_nchw(idx, 0, y);
    } else {
        let x = cx.input(n, 0)?;
        let y = make(cx, x)?;
        cx.set(idx, 0, y);
    }
    Ok(())
}

pub fn lower(cx: &mut Cx<'_>, idx: usize, n: &FlatNode) -> Result<bool, String> {
    if let Some(kind) = activation(n) {
        let name = n.name.clone();
        same_layout(cx, idx, n, |cx, x| Ok(cx.node1(&name, Unary { kind }, vec![Some(x)])))?;
        return Ok(true);
    }
    match n.op {
        "Relu6" => {
            let lo = cx.constant(&format!("{}/min", n.name), Tensor::scalar_f32(0.0));
            let hi = cx.constant(&format!("{}/max", n.name), Tensor::scalar_f32(6.0));
            let name = n.name.clone();
            same_layout(cx, idx, n, |cx, x| Ok(cx.node1(&name, Clip, vec![Some(x), Some(lo), Some(hi)])))?;
        }
        "BiasAdd" | "BiasAddV1" => {
            let b = cx.input(n, 1)?;
            let nchw_data = n.op == "BiasAdd" && !channels_last(n)?;
            if cx.has_nchw(n, 0) || nchw_data {
                let bt = cx.constant_of(b).cloned().ok_or("a bias on channels-first data must be a constant")?;
                let col = channel_column(&bt).ok_or("bias must be a vector")?;
                let col = cx.constant(&format!("{}/bias", n.name), col);
                let x = if nchw_data { cx.input(n, 0)? } else { cx.input_nchw(n, 0)? };
                let y = cx.node1(&n.name, Binary { kind: BinaryKind::Add }, vec![Some(x), Some(col)]);
                if nchw_data { cx.set(idx, 0, y) } else { cx.set_nchw(idx, 0, y) }
            } else {
                let x = cx.input(n, 0)?;
                let y = cx.node1(&n.name, Binary { kind: BinaryKind::Add }, vec![Some(x), Some(b)]);
                cx.set(idx, 0, y);
            }
        }
        "FusedBatchNorm" | "FusedBatchNormV2" | "FusedBatchNormV3" => {
            if attr_b(n, "is_training", true) {
                return Err("FusedBatchNorm in training mode (batch statistics) is not supported".into());
            }
            let last = channels_last(n)?;
            let x = if last { cx.input_nchw(n, 0)? } else { cx.input(n, 0)? };
            let params: Vec<_> = (1..5).map(|i| cx.input(n, i).map(Some)).collect::<Result<_, _>>()?;
            let op = BatchNorm { epsilon: attr_f(n, "epsilon", 1e-4), momentum: 0.9, training_mode: false };
            let mut inputs = vec![Some(x)];
            inputs.extend(params);
            let y = cx.node1(&n.name, op, inputs);
            if last { cx.set_nchw(idx, 0, y) } else { cx.set(idx, 0, y) }
        }
        "Softmax" | "LogSoftmax" => {
            let x = cx.input(n, 0)?;
            let kind = if n.op == "Softmax" { SoftmaxKind::Softmax } else { SoftmaxKind::LogSoftmax };
            let y = cx.node1(&n.name, Softmax { kind, axis: -1, coerce_2d: false }, vec![Some(x)]);
            cx.set(idx, 0, y);
        }
        _ => return Ok(false),
    }
    Ok(true)
}
