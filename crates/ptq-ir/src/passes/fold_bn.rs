//! Batch normalization folded into the convolution in front of it: the
//! quantizer then sees final weights (NNCF relies on the runtime doing this
//! at load time), and the executor saves a pass over the activations.

use crate::ops::Op;
use crate::{ConstSource, Graph, NodeId, Tensor, Value};
use ndarray::{ArrayD, Axis, IxDyn};

/// A BatchNormalization folded into a convolution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Folded {
    pub conv: String,
    pub batch_norm: String,
}

/// Folds every inference-mode BatchNormalization whose input is a Conv (or
/// group-1 ConvTranspose) output read by nothing else, with constant f32
/// weights and BN parameters. The BN node disappears, the convolution writes
/// the BN's output value, and new weight and bias constants replace the old
/// ones (the old constants stay if other nodes read them).
pub fn fold_batch_norms(g: &mut Graph) -> Vec<Folded> {
    let mut done = vec![];
    let ids: Vec<NodeId> = g.iter_nodes().map(|(id, _)| id).collect();
    for bn_id in ids {
        if let Some(f) = fold_one(g, bn_id) {
            done.push(f);
        }
    }
    done
}

fn f32_const(g: &Graph, v: Option<crate::ValueId>) -> Option<ArrayD<f32>> {
    match g.constant(v?)? {
        Tensor::F32(a) => Some(a.clone()),
        _ => None,
    }
}

fn fold_one(g: &mut Graph, bn_id: NodeId) -> Option<Folded> {
    let bn = g.node(bn_id)?;
    let Op::BatchNorm(op) = &bn.op else { return None };
    if op.training_mode || bn.outputs.iter().skip(1).any(Option::is_some) {
        return None;
    }
    let x = bn.inputs.first().copied()??;
    let y = bn.outputs.first().copied()??;
    let params: Vec<ArrayD<f32>> = (1..5).map(|i| f32_const(g, bn.inputs.get(i).copied()?)).collect::<Option<_>>()?;
    let eps = op.epsilon;
    let bn_name = bn.name.clone();
    let (conv_id, _) = *g.producers().get(&x)?;
    let readers = g.consumers().get(&x).map_or(0, Vec::len);
    if readers != 1 || g.outputs.contains(&x) {
        return None;
    }
    let conv = g.node(conv_id)?;
    let channel_axis = match &conv.op {
        Op::Conv(_) => 0,
        Op::ConvTranspose(c) if c.group == 1 => 1,
        _ => return None,
    };
    let w = f32_const(g, conv.inputs.get(1).copied()?)?;
    let m = w.shape().get(channel_axis).copied()?;
    if params.iter().any(|p| p.len() != m) {
        return None;
    }
    let bias = match conv.inputs.get(2).copied().flatten() {
        Some(b) => f32_const(g, Some(b))?.into_raw_vec_and_offset().0,
        None => vec![0.0; m],
    };
    if bias.len() != m {
        return None;
    }
    let flat = |a: &ArrayD<f32>| a.iter().copied().collect::<Vec<f32>>();
    let (gamma, beta, mean, var) = (flat(&params[0]), flat(&params[1]), flat(&params[2]), flat(&params[3]));
    let scale: Vec<f32> = (0..m).map(|c| gamma[c] / (var[c] + eps).sqrt()).collect();
    let mut w2 = w.clone();
    for (c, mut lane) in w2.axis_iter_mut(Axis(channel_axis)).enumerate() {
        lane.mapv_inplace(|v| v * scale[c]);
    }
    let b2: Vec<f32> = (0..m).map(|c| (bias[c] - mean[c]) * scale[c] + beta[c]).collect();
    let conv_name = conv.name.clone();
    let base = if conv_name.is_empty() { format!("conv{}", conv_id.0) } else { conv_name.clone() };
    let w_id = g.add_constant(format!("{base}.weight_bn_folded"), Tensor::F32(w2), ConstSource::Derived);
    let b_arr = ArrayD::from_shape_vec(IxDyn(&[m]), b2).ok()?;
    let b_id = g.add_constant(format!("{base}.bias_bn_folded"), Tensor::F32(b_arr), ConstSource::Derived);
    // The conv's old output value is dropped; it now writes the BN's output.
    let conv = g.nodes.get_mut(conv_id.0)?.as_mut()?;
    conv.inputs.resize(3, None);
    conv.inputs[1] = Some(w_id);
    conv.inputs[2] = Some(b_id);
    conv.outputs[0] = Some(y);
    g.nodes[bn_id.0] = None;
    g.values[x.0] = Value { name: g.values[x.0].name.clone(), ..Value::default() };
    Some(Folded { conv: conv_name, batch_norm: bn_name })
}
