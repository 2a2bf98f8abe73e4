//! Small questions the passes that match subgraphs ask of a graph: who reads
//! a value, which DequantizeLinear produces it, what its parts are. Shared by
//! ptq-algos (placement) and ptq-exec (passes and lowering), so each is
//! answered one way.

use std::collections::HashMap;

use crate::graph::{Graph, NodeId, ValueId};
use crate::ops::Op;
use crate::ops::dequantize::DequantizeLinear;

/// Who produces each value and who reads it ([`Graph::producers`],
/// [`Graph::consumers`]), computed once for a run of lookups.
pub type Producers = HashMap<ValueId, (NodeId, usize)>;
/// See [`Producers`].
pub type Consumers = HashMap<ValueId, Vec<(NodeId, usize)>>;

/// The single node reading `v`, with its input slot, when `v` has exactly
/// one reader and is not a graph output.
pub fn sole_reader(g: &Graph, consumers: &Consumers, v: ValueId) -> Option<(NodeId, usize)> {
    match consumers.get(&v).map(Vec::as_slice) {
        Some(&[r]) if !g.outputs().contains(&v) => Some(r),
        _ => None,
    }
}

/// The DequantizeLinear node whose output `v` is, if any.
pub fn dequantizer(g: &Graph, producers: &Producers, v: ValueId) -> Option<NodeId> {
    let &(p, slot) = producers.get(&v)?;
    let node = g.node(p)?;
    (slot == 0 && matches!(node.op, Op::DequantizeLinear(_))).then_some(p)
}

/// A DequantizeLinear node's attributes and inputs `(x, scale, zero
/// point)`; None for any other node and for blocked quantization.
pub fn dequantize_parts(g: &Graph, id: NodeId) -> Option<(&DequantizeLinear, ValueId, ValueId, Option<ValueId>)> {
    let node = g.node(id)?;
    let Op::DequantizeLinear(op) = &node.op else { return None };
    if op.block_size.is_some_and(|b| b != 0) {
        return None;
    }
    let x = node.inputs.first().copied().flatten()?;
    let s = node.inputs.get(1).copied().flatten()?;
    Some((op, x, s, node.inputs.get(2).copied().flatten()))
}

/// Scale and zero point of QuantizeLinear or DequantizeLinear node `n`, one
/// per channel or one in all, as f64 (a missing zero point is 0); both
/// must be constants of the same length. For the exporters, which write
/// them in other forms.
pub fn quant_params(g: &Graph, n: &crate::Node) -> Result<(Vec<f64>, Vec<f64>), String> {
    let scale_v = n.inputs.get(1).copied().flatten().ok_or("the scale input is missing")?;
    let scale = g.constant(scale_v).ok_or("scale must be constant")?.to_f64_vec();
    let zp = match n.inputs.get(2).copied().flatten() {
        Some(z) => g.constant(z).ok_or("zero point must be constant")?.to_f64_vec(),
        None => vec![0.0; scale.len()],
    };
    if scale.is_empty() || zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    Ok((scale, zp))
}

/// The `axis` attribute of a QuantizeLinear or DequantizeLinear node.
pub fn quant_axis(n: &crate::Node) -> Option<i64> {
    match &n.op {
        Op::QuantizeLinear(q) => q.axis,
        Op::DequantizeLinear(d) => d.axis,
        _ => None,
    }
}

/// Whether value `v` is read, and only by DequantizeLinear nodes, and is not
/// a graph output: a QuantizeLinear whose exporters write the pair as one
/// fake-quantize op at the reader.
pub fn read_only_by_dequantizers(g: &Graph, consumers: &Consumers, v: ValueId) -> bool {
    let readers = consumers.get(&v).map(Vec::as_slice).unwrap_or_default();
    !readers.is_empty()
        && readers.iter().all(|&(r, _)| g.node(r).is_some_and(|m| matches!(m.op, Op::DequantizeLinear(_))))
        && !g.outputs().contains(&v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{ConstSource, Node, Value};
    use crate::tensor::Tensor;

    #[test]
    fn a_dequantized_value_and_its_sole_reader_are_found() {
        let mut g = Graph::default();
        let q = g.add_constant("q", Tensor::I8(ndarray::ArrayD::zeros(vec![2])), ConstSource::Stored);
        let s = g.add_constant("s", Tensor::scalar_f32(0.5), ConstSource::Stored);
        let x = g.add_value(Value { name: "x".into(), ..Value::default() });
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let node = |name: &str, op: Op, inputs, outputs| Node {
            name: name.into(),
            op,
            inputs,
            outputs,
            doc: String::new(),
            meta: vec![],
        };
        let dq = g.add_node(node(
            "dq",
            Op::DequantizeLinear(DequantizeLinear::default()),
            vec![Some(q), Some(s)],
            vec![Some(x)],
        ));
        let neg = Op::Unary(crate::ops::unary::Unary { kind: crate::ops::unary::UnaryKind::Neg });
        let n = g.add_node(node("neg", neg, vec![Some(x)], vec![Some(y)]));
        g.outputs_mut().push(y);
        let (producers, consumers) = (g.producers(), g.consumers());
        assert_eq!(dequantizer(&g, &producers, x), Some(dq));
        assert_eq!(dequantizer(&g, &producers, y), None);
        assert_eq!(dequantize_parts(&g, dq).map(|(_, a, b, z)| (a, b, z)), Some((q, s, None)));
        assert_eq!(sole_reader(&g, &consumers, x), Some((n, 0)));
        assert_eq!(sole_reader(&g, &consumers, y), None, "a graph output has no sole reader");
    }
}
