//! Graph preparation before placement: batch normalization folded into the
//! convolution in front of it, so the int8 convolution carries the BN scale
//! in its weights (NNCF relies on OpenVINO / onnxruntime doing the same at
//! load time; doing it here makes the exported Q/DQ weights final).

use ndarray::{ArrayD, Axis, IxDyn};
use ptq_ir::ops::Op;
use ptq_ir::{ConstSource, Graph, NodeId, Tensor, Value};

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

fn f32_const(g: &Graph, v: Option<ptq_ir::ValueId>) -> Option<ArrayD<f32>> {
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

#[cfg(test)]
mod tests {
    use ptq_exec::{ExecOptions, Plan};
    use ptq_ir::ops::batch_norm::BatchNorm;
    use ptq_ir::ops::conv::Conv;
    use ptq_ir::{DType, Fact, Node};

    use super::*;

    fn model() -> Graph {
        let mut g = Graph::default();
        let x = g.add_value(Value {
            name: "x".into(),
            fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(&[1, 2, 3, 3])),
            ..Value::default()
        });
        g.inputs.push(x);
        let w: Vec<f32> = (0..2 * 2 * 9).map(|i| (i as f32 * 0.37).sin()).collect();
        let w = g.add_constant(
            "w",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[2, 2, 3, 3]), w).unwrap()),
            ConstSource::Stored,
        );
        let b = g.add_constant("b", Tensor::from_f32s(&[0.5, -0.25]), ConstSource::Stored);
        let c = g.add_value(Value { name: "c".into(), ..Value::default() });
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let conv = Conv { pads: Some(vec![1, 1, 1, 1]), group: 1, ..Conv::default() };
        g.add_node(Node {
            name: "conv".into(),
            op: conv.into(),
            inputs: vec![Some(x), Some(w), Some(b)],
            outputs: vec![Some(c)],
            doc: String::new(),
            meta: vec![],
        });
        let p = |g: &mut Graph, n: &str, v: [f32; 2]| g.add_constant(n, Tensor::from_f32s(&v), ConstSource::Stored);
        let (s, bb, m, v) = (
            p(&mut g, "s", [1.5, 0.5]),
            p(&mut g, "bb", [0.1, -0.2]),
            p(&mut g, "m", [0.3, -0.4]),
            p(&mut g, "v", [2.0, 0.25]),
        );
        g.add_node(Node {
            name: "bn".into(),
            op: BatchNorm::default().into(),
            inputs: vec![Some(c), Some(s), Some(bb), Some(m), Some(v)],
            outputs: vec![Some(y)],
            doc: String::new(),
            meta: vec![],
        });
        g.outputs.push(y);
        g
    }

    #[test]
    fn folded_conv_computes_what_conv_then_bn_did() {
        let g = model();
        let mut folded = g.clone();
        let done = fold_batch_norms(&mut folded);
        assert_eq!(done, vec![Folded { conv: "conv".into(), batch_norm: "bn".into() }]);
        assert_eq!(folded.iter_nodes().count(), 1);
        let x: Vec<f32> = (0..18).map(|i| (i as f32 * 0.7).cos()).collect();
        let input =
            || vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 2, 3, 3]), x.clone()).unwrap()))];
        let run = |g: &Graph| Plan::new(g, &ExecOptions { threads: 1 }).unwrap().run(input()).unwrap().remove(0).1;
        let (a, b) = (run(&g).to_f64_vec(), run(&folded).to_f64_vec());
        for (p, q) in a.iter().zip(&b) {
            assert!((p - q).abs() < 1e-5, "{p} vs {q}");
        }
    }
}
