//! Batch normalization folded into the convolution in front of it: the
//! quantizer then sees final weights (NNCF relies on the runtime doing this
//! at load time), and the executor saves a pass over the activations.

use crate::error::Result;
use crate::ops::Op;
use crate::patch::PatchValue;
use crate::rewrite::{Rule, View};
use crate::{Graph, NodeId, Patch, Tensor};
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
pub fn fold_batch_norms(g: &mut Graph) -> Result<Vec<Folded>> {
    let mut rule = FoldBatchNorm::default();
    crate::rewrite::rewrite(g, &mut [&mut rule])?;
    Ok(rule.folded)
}

/// The rule of [`fold_batch_norms`], anchored at the BatchNormalization;
/// it lists what it folded.
#[derive(Debug, Default)]
pub struct FoldBatchNorm {
    pub folded: Vec<Folded>,
}

impl Rule for FoldBatchNorm {
    fn name(&self) -> &'static str {
        "fold batch norm"
    }

    fn rewrite(&mut self, view: &View<'_>, bn: NodeId) -> Option<Patch> {
        let (patch, folded) = fold_one(view, bn)?;
        self.folded.push(folded);
        Some(patch)
    }
}

fn f32_const(g: &Graph, v: Option<crate::ValueId>) -> Option<ArrayD<f32>> {
    match g.constant(v?)? {
        Tensor::F32(a) => Some(a.clone()),
        _ => None,
    }
}

fn fold_one(view: &View<'_>, bn_id: NodeId) -> Option<(Patch, Folded)> {
    let g = view.graph;
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
    let (conv_id, _) = *view.producers().get(&x)?;
    crate::pattern::sole_reader(g, view.consumers(), x)?;
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
    let mut p = Patch::removing([bn_id]);
    let w_id = p.add_constant(format!("{base}.weight_bn_folded"), Tensor::F32(w2));
    let b_arr = ArrayD::from_shape_vec(IxDyn(&[m]), b2).ok()?;
    let b_id = p.add_constant(format!("{base}.bias_bn_folded"), Tensor::F32(b_arr));
    // The conv's old output value is left unread; it now writes the BN's.
    let mut inputs: Vec<Option<PatchValue>> = conv.inputs.iter().map(|v| v.map(PatchValue::Existing)).collect();
    inputs.resize(3, None);
    inputs[1] = Some(w_id);
    inputs[2] = Some(b_id);
    p.set_inputs(conv_id, inputs);
    p.set_output(conv_id, 0, y);
    Some((p, Folded { conv: conv_name, batch_norm: bn_name }))
}
