//! Per-channel constant Adds and Muls folded into the convolution in front
//! of them: `Conv → Add(b)` becomes the Conv's bias, `Conv → Mul(s)` scales
//! its weights and bias. TensorFlow writes a convolution's bias as a
//! separate BiasAdd and Keras 3 writes inference BatchNormalization as a
//! Mul and an Add; folded, the quantizer sees the final weights and bias
//! correction adjusts the Conv's own bias.

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::Result;
use crate::ops::Op;
use crate::ops::binary::BinaryKind;
use crate::patch::PatchValue;
use crate::rewrite::{Rule, View};
use crate::{Graph, NodeId, Patch, Tensor};

/// Folds every Add or Mul of a Conv output (read by nothing else) and an f32
/// constant holding one value per output channel (shape `[C, 1, .., 1]`,
/// `[1, C, 1, .., 1]`, or one value) into the Conv, whose weights are an f32
/// constant. Returns the number folded.
pub fn fold_channel_affine(g: &mut Graph) -> Result<usize> {
    let mut rule = FoldAffine::default();
    crate::rewrite::rewrite(g, &mut [&mut rule])?;
    Ok(rule.folded)
}

/// The rule of [`fold_channel_affine`], anchored at the Add or Mul.
#[derive(Debug, Default)]
pub struct FoldAffine {
    pub folded: usize,
}

impl Rule for FoldAffine {
    fn name(&self) -> &'static str {
        "fold per-channel add and mul into conv"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        let p = fold_one(view, id)?;
        self.folded += 1;
        Some(p)
    }
}

/// The per-channel values of `t` for `m` channels of a rank-`rank` output.
fn per_channel(t: &Tensor, m: usize, rank: usize) -> Option<Vec<f32>> {
    let Tensor::F32(a) = t else { return None };
    let s = a.shape();
    let ok = match s.len() {
        0 => true,
        n if n == rank - 1 => s[0] == m && s[1..].iter().all(|&d| d == 1),
        n if n == rank => s[0] == 1 && s[1] == m && s[2..].iter().all(|&d| d == 1),
        1 => s[0] == 1,
        _ => false,
    };
    if !ok {
        return None;
    }
    let v: Vec<f32> = a.iter().copied().collect();
    Some(if v.len() == 1 { vec![v[0]; m] } else { v })
}

fn fold_one(view: &View<'_>, id: NodeId) -> Option<Patch> {
    let g = view.graph;
    let node = g.node(id)?;
    let Op::Binary(b) = &node.op else { return None };
    let mul = match b.kind {
        BinaryKind::Add => false,
        BinaryKind::Mul => true,
        _ => return None,
    };
    let (a0, a1) = (node.inputs.first().copied()??, node.inputs.get(1).copied()??);
    let y = node.outputs.first().copied()??;
    // The constant operand, and the Conv's output.
    let (x, c) = match (g.constant(a0), g.constant(a1)) {
        (None, Some(c)) => (a0, c),
        (Some(c), None) => (a1, c),
        _ => return None,
    };
    let (conv_id, _) = *view.producers().get(&x)?;
    crate::pattern::sole_reader(g, view.consumers(), x)?;
    let conv = g.node(conv_id)?;
    if !matches!(conv.op, Op::Conv(_)) {
        return None;
    }
    let Tensor::F32(w) = g.constant(conv.inputs.get(1).copied()??)? else { return None };
    let m = *w.shape().first()?;
    let rank = w.ndim();
    let values = per_channel(c, m, rank)?;
    let bias: Vec<f32> = match conv.inputs.get(2).copied().flatten() {
        Some(v) => match g.constant(v)? {
            Tensor::F32(a) if a.len() == m => a.iter().copied().collect(),
            _ => return None,
        },
        None => vec![0.0; m],
    };
    let base = if conv.name.is_empty() { format!("conv{}", conv_id.0) } else { conv.name.clone() };
    let mut p = Patch::removing([id]);
    let mut inputs: Vec<Option<PatchValue>> = conv.inputs.iter().map(|v| v.map(PatchValue::Existing)).collect();
    inputs.resize(3, None);
    let b2: Vec<f32> = if mul {
        let mut w2 = w.clone();
        for (ch, mut lane) in w2.axis_iter_mut(Axis(0)).enumerate() {
            lane.mapv_inplace(|v| v * values[ch]);
        }
        inputs[1] = Some(p.add_constant(format!("{base}.weight_scaled"), Tensor::F32(w2)));
        bias.iter().zip(&values).map(|(b, s)| b * s).collect()
    } else {
        bias.iter().zip(&values).map(|(b, a)| b + a).collect()
    };
    let b_arr = ArrayD::from_shape_vec(IxDyn(&[m]), b2).ok()?;
    inputs[2] = Some(p.add_constant(format!("{base}.bias_folded"), Tensor::F32(b_arr)));
    p.set_inputs(conv_id, inputs);
    // The Conv's old output value is left unread; it now writes the Add's or Mul's.
    p.set_output(conv_id, 0, y);
    Some(p)
}

#[cfg(test)]
mod tests {
    use ndarray::ArrayD;

    use super::fold_channel_affine;
    use crate::ops::binary::{Binary, BinaryKind};
    use crate::ops::conv::Conv;
    use crate::{ConstSource, DType, Fact, Graph, Node, Tensor, Value};

    fn conv_mul_add(shape: &[usize]) -> Graph {
        let mut g = Graph::named("t");
        let x = g.add_value(Value { name: "x".into(), fact: Fact::with_rank(Some(DType::F32), 4), ..Value::default() });
        g.inputs_mut().push(x);
        let w = ArrayD::from_shape_fn(ndarray::IxDyn(&[2, 1, 1, 1]), |i| 1.0 + i[0] as f32);
        let w = g.add_constant("w", Tensor::F32(w), ConstSource::Stored);
        let s = g.add_constant("s", Tensor::F32(ArrayD::from_elem(ndarray::IxDyn(shape), 3.0)), ConstSource::Stored);
        let b = g.add_constant("b", Tensor::F32(ArrayD::from_elem(ndarray::IxDyn(shape), 0.5)), ConstSource::Stored);
        let mut value = |n: &str| g.add_value(Value { name: n.into(), ..Value::default() });
        let (c, m, y) = (value("c"), value("m"), value("y"));
        let node = |name: &str, op: crate::Op, i: Vec<_>, o| Node {
            name: name.into(),
            op,
            inputs: i,
            outputs: vec![Some(o)],
            doc: String::new(),
            meta: vec![],
        };
        g.add_node(node("conv", Conv { group: 1, ..Conv::default() }.into(), vec![Some(x), Some(w)], c));
        g.add_node(node("mul", Binary { kind: BinaryKind::Mul }.into(), vec![Some(c), Some(s)], m));
        g.add_node(node("add", Binary { kind: BinaryKind::Add }.into(), vec![Some(b), Some(m)], y));
        g.outputs_mut().push(y);
        g
    }

    #[test]
    fn mul_then_add_become_weights_and_bias() {
        let mut g = conv_mul_add(&[2, 1, 1]);
        assert_eq!(fold_channel_affine(&mut g).expect("fold"), 2);
        assert_eq!(g.node_count(), 1);
        let (_, conv) = g.iter_nodes().next().expect("conv");
        assert_eq!(conv.outputs[0], Some(g.outputs()[0]));
        let w = g.constant(conv.inputs[1].expect("w")).expect("const").to_f64_vec();
        let b = g.constant(conv.inputs[2].expect("b")).expect("const").to_f64_vec();
        assert_eq!((w, b), (vec![3.0, 6.0], vec![0.5, 0.5]));
    }

    #[test]
    fn a_constant_that_is_not_per_channel_stays() {
        let mut g = conv_mul_add(&[1, 1, 2]);
        assert_eq!(fold_channel_affine(&mut g).expect("fold"), 0);
        assert_eq!(g.node_count(), 3);
    }
}
