//! Embedding tables in int8: the data of a Gather from a constant f32
//! table (token, position and type embeddings) is stored as int8 with one
//! symmetric scale per row and read through a DequantizeLinear, as NNCF's
//! OpenVINO output compresses them. A transformer's tables are most of its
//! file; each Gather reads whole rows, so a per-row scale keeps each
//! embedding's own range.

use std::collections::HashSet;

use ptq_ir::ops::Op;
use ptq_ir::{Graph, NodeId, Tensor, ValueId};

use crate::placement::WeightQuantizer;

/// Smallest table quantized (elements): smaller ones save too little.
pub const MIN_ELEMENTS: usize = 4096;

/// The tables to quantize: constant f32 matrices of at least
/// [`MIN_ELEMENTS`] read only as the data of Gather nodes (none of them in
/// `kept`, the nodes left in float) and not already among `weights`.
pub fn tables(g: &Graph, kept: &HashSet<NodeId>, weights: &HashSet<ValueId>) -> Vec<WeightQuantizer> {
    let consumers = g.consumers();
    let mut out = vec![];
    let mut seen = HashSet::new();
    for (_, n) in g.iter_nodes() {
        let (Op::Gather(_), Some(t)) = (&n.op, n.inputs.first().copied().flatten()) else { continue };
        if !seen.insert(t) || weights.contains(&t) || g.outputs().contains(&t) || g.inputs().contains(&t) {
            continue;
        }
        let Some(Tensor::F32(a)) = g.constant(t) else { continue };
        if a.ndim() != 2 || a.len() < MIN_ELEMENTS {
            continue;
        }
        let readers = consumers.get(&t).cloned().unwrap_or_default();
        let only_gathers = readers.iter().all(|&(r, slot)| {
            slot == 0 && !kept.contains(&r) && g.node(r).is_some_and(|rn| matches!(rn.op, Op::Gather(_)))
        });
        if only_gathers && !readers.is_empty() {
            out.push(WeightQuantizer { value: t, readers, axis: Some(0), half_range: false });
        }
    }
    out.sort_by_key(|w| w.value);
    out
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::gather::Gather;
    use ptq_ir::{ConstSource, DType, Fact, Op, Tensor, Value};

    use crate::options::QuantizeOptions;
    use crate::testgraph::{G, matmul};

    /// ids `[1, 5]` (i64) → Gather from a `[64, 80]` table whose row r
    /// spans ±(r + 1); with `shared`, a MatMul also reads the table.
    fn graph(shared: bool) -> G {
        let mut b = G::default();
        let ids = b.g.add_value(Value {
            name: "ids".into(),
            fact: Fact::new(DType::I64, ptq_ir::fact::known_shape(&[1, 5])),
            ..Value::default()
        });
        b.g.inputs_mut().push(ids);
        let data: Vec<f32> = (0..64 * 80).map(|i| ((i % 80) as f32 / 79.0 * 2.0 - 1.0) * (i / 80 + 1) as f32).collect();
        let t = Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[64, 80]), data).unwrap());
        let table = b.g.add_constant("table", t, ConstSource::Stored);
        let e = b.node("embed", Gather { axis: 0 }, &[table, ids]);
        b.output(e);
        if shared {
            let x = b.input("x", &[2, 64]);
            let y = b.node("head", matmul(), &[x, table]);
            b.output(y);
        }
        ptq_ir::infer::infer_facts(&mut b.g).unwrap();
        b
    }

    fn item(shared: bool) -> crate::calibrate::Item {
        let ids = Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[1, 5]), vec![0, 3, 17, 40, 63]).unwrap());
        let mut item = vec![("ids".to_string(), ids)];
        if shared {
            item.push(("x".to_string(), Tensor::F32(ArrayD::from_elem(IxDyn(&[2, 64]), 0.5))));
        }
        item
    }

    #[test]
    fn a_gathered_table_is_int8_with_one_scale_per_row() {
        let b = graph(false);
        let q = crate::quantize_graph(
            &b.g,
            &mut std::iter::once(Ok(item(false))),
            &QuantizeOptions::default(),
            &mut |_| {},
        )
        .unwrap();
        let (w, spec) = &q.setup.weights[0];
        assert_eq!((b.g.value(w.value).name.as_str(), w.axis), ("table", Some(0)));
        // Row r spans ±(r + 1): its scale is (r + 1) / 127.
        for (r, s) in spec.scale.iter().enumerate() {
            assert!((s - (r + 1) as f32 / 127.0).abs() < 1e-6, "row {r}: {s}");
        }
        assert_eq!(q.report.quantizers.iter().filter(|r| r.kind == "embedding").count(), 1);
        let dq = q.graph.iter_nodes().find(|(_, n)| matches!(n.op, Op::DequantizeLinear(_))).unwrap().1;
        assert!(matches!(q.graph.constant(dq.inputs[0].unwrap()), Some(Tensor::I8(_))));
        // Gathered rows are within half a step of the float ones.
        let run = |g: &ptq_ir::Graph| {
            let plan = ptq_exec::Plan::new(g, &ptq_exec::ExecOptions { threads: 1, ..Default::default() }).unwrap();
            match plan.run(item(false)).unwrap().remove(0).1 {
                Tensor::F32(a) => a,
                t => panic!("{t:?}"),
            }
        };
        let (want, got) = (run(&b.g), run(&q.graph));
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            let row = [0, 3, 17, 40, 63][i / 80] as f32;
            assert!((a - b).abs() <= (row + 1.0) / 127.0 / 2.0 + 1e-6, "{a} vs {b}");
        }
        let off = QuantizeOptions { quantize_embeddings: false, ..QuantizeOptions::default() };
        let q = crate::quantize_graph(&b.g, &mut std::iter::once(Ok(item(false))), &off, &mut |_| {}).unwrap();
        assert!(q.setup.weights.is_empty());
    }

    #[test]
    fn a_table_another_op_reads_is_left_to_that_op() {
        let b = graph(true);
        let q =
            crate::quantize_graph(&b.g, &mut std::iter::once(Ok(item(true))), &QuantizeOptions::default(), &mut |_| {})
                .unwrap();
        assert!(q.report.quantizers.iter().all(|r| r.kind != "embedding"));
    }
}
