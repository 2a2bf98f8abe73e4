//! A Gather from a dequantized constant table (an embedding lookup whose
//! int8 table a quantizer wrote as `DequantizeLinear(table) → Gather`)
//! gathers the int8 rows first and dequantizes only those. Without it the
//! whole table is dequantized on every run once it is too large to fold
//! (BERT-base's 30522 × 768 word embeddings: 23 M values, most of its
//! int8 run time).
//!
//! The result is bit-identical to the original: DequantizeLinear computes
//! `(q − zp) · s` in f32 element by element, and so do the replacements.
//!
//! - A per-tensor table, or one whose scale varies along an axis other
//!   than the gathered one, becomes `Gather(q) → DequantizeLinear` (the
//!   scale's axis renumbered for the indices' rank).
//! - A table whose scale varies along the gathered axis (one scale per
//!   row, as per-channel embedding weights have) becomes
//!   `Cast(Gather(q)) [− Gather(zp)] · Gather(s)`, with the scale and zero
//!   point as constant columns shaped to broadcast against the rows.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::ops::cast::Cast;
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::gather::Gather;
use ptq_ir::patch::PatchValue;
use ptq_ir::pattern::{Consumers, Producers};
use ptq_ir::{DType, Fact, Graph, NodeId, Op, Patch, Rule, Tensor, Value, View};

use crate::util::sole_reader;

/// Anchored at the Gather; the DequantizeLinear goes with it unless
/// something else reads it.
#[derive(Debug)]
pub struct GatherDequantizedRows;

impl Rule for GatherDequantizedRows {
    fn name(&self) -> &'static str {
        "gather dequantized rows"
    }

    fn rewrite(&mut self, view: &View<'_>, id: NodeId) -> Option<Patch> {
        gather_rows(view.graph, view.producers(), view.consumers(), id)
    }
}

fn gather_rows(g: &Graph, producers: &Producers, consumers: &Consumers, id: NodeId) -> Option<Patch> {
    let node = g.node(id)?;
    let Op::Gather(op) = &node.op else { return None };
    let (table, indices) = (node.inputs.first().copied().flatten()?, node.inputs.get(1).copied().flatten()?);
    let y = node.outputs.first().copied().flatten()?;
    let &(dq, 0) = producers.get(&table)? else { return None };
    let dqn = g.node(dq)?;
    let Op::DequantizeLinear(d) = &dqn.op else { return None };
    if d.block_size.is_some_and(|b| b != 0) {
        return None;
    }
    let q = dqn.inputs.first().copied().flatten()?;
    let data = g.constant(q).filter(|t| matches!(t, Tensor::I8(_) | Tensor::U8(_)))?;
    let rank = data.shape().len();
    let scale_v = dqn.inputs.get(1).copied().flatten()?;
    let Tensor::F32(scale) = g.constant(scale_v)? else { return None };
    let zp_v = dqn.inputs.get(2).copied().flatten();
    let zp = match zp_v {
        Some(v) => g.constant(v)?.to_i64_vec()?,
        None => vec![0; scale.len()],
    };
    if zp.len() != scale.len() || scale.is_empty() {
        return None;
    }
    let at = usize::try_from(if op.axis < 0 { op.axis + rank as i64 } else { op.axis }).ok().filter(|&a| a < rank)?;
    let idx_rank = g.value(indices).fact.shape.as_ref()?.len();
    let per_axis = scale.len() > 1;
    let scale_axis = if per_axis {
        let a = d.axis.unwrap_or(1);
        let a = usize::try_from(if a < 0 { a + rank as i64 } else { a }).ok().filter(|&a| a < rank)?;
        (data.shape()[a] == scale.len()).then_some(a)?
    } else {
        0
    };

    let mut p = Patch::new();
    let y_fact = &g.value(y).fact;
    let rows = p.add_value(Value {
        name: format!("{}/rows", node.name),
        fact: Fact { dtype: Some(data.dtype()), shape: y_fact.shape.clone() },
        ..Value::default()
    });
    let gather_q = vec![Some(PatchValue::from(q)), Some(indices.into())];
    p.add_node_like(node, format!("{}/rows", node.name), Gather { axis: op.axis }, gather_q, vec![Some(rows)]);
    p.remove_node(id);
    // Unread, the whole-table dequantization would still run on every call.
    if sole_reader(g, consumers, table).is_some_and(|(r, _)| r == id) {
        p.remove_node(dq);
    }

    if !per_axis || scale_axis != at {
        // The scale's axis moves by the indices' rank less the one axis they replace.
        let axis = per_axis.then(|| if scale_axis < at { scale_axis } else { scale_axis + idx_rank - 1 } as i64);
        let inputs = vec![Some(rows), Some(scale_v.into()), zp_v.map(PatchValue::from)];
        let dq_op = DequantizeLinear { axis: axis.or(d.axis), block_size: None };
        p.add_node(format!("{}/dequantize", node.name), dq_op, inputs, vec![Some(y.into())]);
        return Some(p);
    }

    // One scale per gathered row: columns `[n, 1, …]` gathered with the rows.
    let column = |v: Vec<f32>| {
        let mut shape = vec![v.len()];
        shape.extend(std::iter::repeat_n(1, rank - at - 1));
        ArrayD::from_shape_vec(IxDyn(&shape), v).ok().map(Tensor::F32)
    };
    let f32_value = |p: &mut Patch, name: String| {
        p.add_value(Value { name, fact: Fact { dtype: Some(DType::F32), shape: None }, ..Value::default() })
    };
    let gathered = |p: &mut Patch, what: &str, col: Tensor| {
        let c = p.add_constant(format!("{}/{what}_column", node.name), col);
        let out = f32_value(p, format!("{}/{what}", node.name));
        let inputs = vec![Some(c), Some(indices.into())];
        p.add_node(format!("{}/{what}", node.name), Gather { axis: 0 }, inputs, vec![Some(out)]);
        out
    };
    let s_rows = gathered(&mut p, "scale", column(scale.iter().copied().collect())?);
    let mut x = f32_value(&mut p, format!("{}/rows_f32", node.name));
    let cast = Cast { to: DType::F32, saturate: None };
    p.add_node(format!("{}/cast", node.name), cast, vec![Some(rows)], vec![Some(x)]);
    if zp.iter().any(|&z| z != 0) {
        let z_rows = gathered(&mut p, "zero_point", column(zp.iter().map(|&z| z as f32).collect())?);
        let centred = f32_value(&mut p, format!("{}/centred", node.name));
        let sub = Binary { kind: BinaryKind::Sub };
        p.add_node(format!("{}/sub", node.name), sub, vec![Some(x), Some(z_rows)], vec![Some(centred)]);
        x = centred;
    }
    let mul = Binary { kind: BinaryKind::Mul };
    p.add_node(format!("{}/scale_rows", node.name), mul, vec![Some(x), Some(s_rows)], vec![Some(y.into())]);
    Some(p)
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::dequantize::DequantizeLinear;
    use ptq_ir::ops::gather::Gather;
    use ptq_ir::{ConstSource, DType, Fact, Graph, Node, Op, Tensor, Value};

    use crate::{ExecOptions, Plan};

    /// `DequantizeLinear(table, scale, zp; axis) → Gather(ids; gather_axis)`,
    /// with `ids` an i64 input of shape `[2, 3]`.
    fn lookup(table: Tensor, scale: Tensor, zp: Option<Tensor>, axis: Option<i64>, gather_axis: i64) -> Graph {
        let mut g = Graph::default();
        let ids = g.add_value(Value {
            name: "ids".into(),
            fact: Fact::new(DType::I64, ptq_ir::fact::known_shape(&[2, 3])),
            ..Value::default()
        });
        g.inputs_mut().push(ids);
        let t = Some(g.add_constant("table", table, ConstSource::Stored));
        let s = Some(g.add_constant("scale", scale, ConstSource::Stored));
        let z = zp.map(|z| g.add_constant("zp", z, ConstSource::Stored));
        let deq = g.add_value(Value { name: "deq".into(), ..Value::default() });
        let y = g.add_value(Value { name: "y".into(), ..Value::default() });
        let node = |name: &str, op: Op, inputs, out| Node {
            name: name.into(),
            op,
            inputs,
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        };
        g.add_node(node("dq", Op::DequantizeLinear(DequantizeLinear { axis, block_size: None }), vec![t, s, z], deq));
        g.add_node(node("gather", Op::Gather(Gather { axis: gather_axis }), vec![Some(deq), Some(ids)], y));
        g.outputs_mut().push(y);
        g
    }

    /// The output's bits and shape, and whether the plan's graph still has
    /// the Gather of the dequantized table.
    fn run(g: &Graph, integer: bool, ids: &[i64]) -> (Vec<u32>, Vec<usize>, bool) {
        let plan = Plan::new(g, &ExecOptions { threads: 1, integer, ..Default::default() }).unwrap();
        let x = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[2, 3]), ids.to_vec()).unwrap());
        let out = plan.run(vec![("ids".into(), x)]).unwrap();
        let Tensor::F32(y) = &out[0].1 else { panic!("f32 output expected") };
        let whole = plan.graph().iter_nodes().any(|(_, n)| n.name == "gather" || n.name == "dq");
        (y.iter().map(|v| v.to_bits()).collect(), y.shape().to_vec(), whole)
    }

    fn bytes(shape: &[usize], signed: bool) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n).map(|i| ((i * 37 + 11) % 256) as u8);
        if signed {
            Tensor::I8(ArrayD::from_shape_vec(IxDyn(shape), v.map(|b| b as i8).collect()).unwrap())
        } else {
            Tensor::U8(ArrayD::from_shape_vec(IxDyn(shape), v.collect()).unwrap())
        }
    }

    /// Every form of the rewrite gives the bits the unrewritten graph gives.
    #[test]
    fn gathered_rows_dequantize_to_the_same_bits() {
        let scales = |n: usize| Tensor::from_f32s(&(0..n).map(|i| 0.013 * (i as f32 + 1.0)).collect::<Vec<_>>());
        let ids: [i64; 6] = [4, 0, -1, 2, 2, 1];
        let cases = [
            // Per-row scale, symmetric (the embedding case).
            (bytes(&[5, 4], true), scales(5), Some(Tensor::I8(ArrayD::zeros(IxDyn(&[5])))), Some(0), 0),
            // Per-row scale with zero points, u8, no Sub skipped.
            (
                bytes(&[5, 4], false),
                scales(5),
                Some(Tensor::U8(ArrayD::from_shape_vec(IxDyn(&[5]), vec![3, 128, 0, 77, 255]).unwrap())),
                Some(0),
                0,
            ),
            // Per-tensor.
            (bytes(&[5, 4], true), Tensor::scalar_f32(0.02), None, None, 0),
            // Scale along a kept axis, before and after the gathered one.
            (bytes(&[5, 4], true), scales(5), None, Some(0), 1),
            (bytes(&[3, 5, 4], true), scales(4), None, Some(-1), 1),
            // Scale along the gathered axis of a rank-3 table.
            (bytes(&[2, 5, 4], true), scales(5), None, Some(1), 1),
        ];
        for (i, (table, scale, zp, axis, gather_axis)) in cases.into_iter().enumerate() {
            let ids: Vec<i64> = if gather_axis == 1 && table.shape().len() == 2 {
                ids.iter().map(|&i| i.rem_euclid(4)).collect()
            } else {
                ids.to_vec()
            };
            let g = lookup(table, scale, zp, axis, gather_axis);
            let (plain, shape, kept) = run(&g, false, &ids);
            let (rewritten, shape_i, whole) = run(&g, true, &ids);
            assert!(kept && !whole, "case {i}: the rewrite applies on the integer path only");
            assert_eq!((rewritten, shape_i), (plain, shape), "case {i}");
        }
    }
}
