//! Embedding tables in int8: the data of a Gather from a constant f32
//! table (token, position and type embeddings), and a constant position
//! table added to the activations (Whisper's and some ViTs' learned
//! positions), is stored as int8 with one symmetric scale per row (per
//! position) and read through a DequantizeLinear, as NNCF's OpenVINO output
//! compresses them. A transformer's tables are most of its file; each
//! Gather reads whole rows, so a per-row scale keeps each embedding's own
//! range. Symmetric scales keep 0 and each row's extreme exact, so an
//! additive mask of 0 and one large negative value survives unchanged.

use std::collections::HashSet;

use ptq_ir::ops::Op;
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::{Graph, NodeId, Tensor, ValueId};

use crate::placement::WeightQuantizer;

/// Smallest table quantized (elements): smaller ones save too little.
pub const MIN_ELEMENTS: usize = 4096;

/// Whether `n` reads a table at `slot` as an embedding: the data of a
/// Gather, or either side of an Add whose other side is not constant.
pub fn reads_as_table(g: &Graph, n: NodeId, slot: usize) -> bool {
    let Some(node) = g.node(n) else { return false };
    match &node.op {
        Op::Gather(_) => slot == 0,
        Op::Binary(Binary { kind: BinaryKind::Add }) if slot < 2 => {
            node.inputs.get(1 - slot).copied().flatten().is_some_and(|o| g.constant(o).is_none())
        }
        _ => false,
    }
}

/// The tables to quantize: constant f32 tensors of at least
/// [`MIN_ELEMENTS`], of rank 2 (or 3 with a leading 1), with finite values,
/// read only as tables ([`reads_as_table`]; a gathered matrix may also be
/// read by a Transpose, a tied output head), and not already among
/// `weights`. No Gather reader may be in `kept` (the nodes left in float)
/// and no Add reader in `user_kept` (those the user's ignored scope keeps:
/// a transformer's Adds are left in float only as to their activations).
/// The scale axis is the row (position) axis, the second to last.
pub fn tables(
    g: &Graph,
    kept: &HashSet<NodeId>,
    user_kept: &HashSet<NodeId>,
    weights: &HashSet<ValueId>,
) -> Vec<WeightQuantizer> {
    let consumers = g.consumers();
    let mut out = vec![];
    let mut seen = HashSet::new();
    for (id, n) in g.iter_nodes() {
        for (slot, t) in n.inputs.iter().enumerate() {
            let Some(t) = *t else { continue };
            if !reads_as_table(g, id, slot)
                || !seen.insert(t)
                || weights.contains(&t)
                || g.outputs().contains(&t)
                || g.inputs().contains(&t)
            {
                continue;
            }
            let Some(Tensor::F32(a)) = g.constant(t) else { continue };
            let rank_ok = a.ndim() == 2 || a.ndim() == 3 && a.shape()[0] == 1;
            if !rank_ok || a.len() < MIN_ELEMENTS || a.iter().any(|v| !v.is_finite()) {
                continue;
            }
            let readers = consumers.get(&t).cloned().unwrap_or_default();
            let is = |r: NodeId, f: fn(&Op) -> bool| g.node(r).is_some_and(|n| f(&n.op));
            let gathered = readers.iter().any(|&(r, _)| is(r, |op| matches!(op, Op::Gather(_))));
            let only_tables = readers.iter().all(|&(r, slot)| {
                let gather = is(r, |op| matches!(op, Op::Gather(_)));
                // A tied output head reads the gathered table transposed
                // (GPT-2's lm_head): its rows are the head's output
                // channels, so the per-row scale suits it too.
                let tied_head = gathered && slot == 0 && a.ndim() == 2 && is(r, |op| matches!(op, Op::Transpose(_)));
                !(if gather { kept } else { user_kept }).contains(&r) && (reads_as_table(g, r, slot) || tied_head)
            });
            if only_tables && !readers.is_empty() {
                out.push(WeightQuantizer { value: t, readers, axis: Some(a.ndim() - 2), half_range: false });
            }
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

    fn quantize_one(g: &ptq_ir::Graph, item: crate::calibrate::Item) -> crate::Quantized {
        crate::quantize_graph(g, &mut std::iter::once(Ok(item)), &QuantizeOptions::default(), &mut |_| {}).unwrap()
    }

    #[test]
    fn a_gathered_table_is_int8_with_one_scale_per_row() {
        let b = graph(false);
        let q = quantize_one(&b.g, item(false));
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

    /// x `[1, 100, 48]` + a learned position table `[100, 48]` whose row p
    /// spans ±(p + 1) / 10, and a `[1, 100, 48]` additive mask of 0 and −1e4.
    #[test]
    fn an_added_position_table_is_int8_per_position_and_a_mask_stays_exact() {
        let mut b = G::default();
        let x = b.input("x", &[1, 100, 48]);
        let pos: Vec<f32> =
            (0..4800).map(|i| ((i % 48) as f32 / 47.0 * 2.0 - 1.0) * ((i / 48 + 1) as f32 / 10.0)).collect();
        let pos = b.g.add_constant(
            "pos",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[100, 48]), pos).unwrap()),
            ConstSource::Stored,
        );
        let mask: Vec<f32> = (0..4800).map(|i| if i % 7 == 0 { -1e4 } else { 0.0 }).collect();
        let mask = b.g.add_constant(
            "mask",
            Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 100, 48]), mask).unwrap()),
            ConstSource::Stored,
        );
        let y = b.node("add_pos", crate::testgraph::add(), &[x, pos]);
        let z = b.node("add_mask", crate::testgraph::add(), &[y, mask]);
        b.output(z);
        ptq_ir::infer::infer_facts(&mut b.g).unwrap();
        let data: Vec<f32> = (0..4800).map(|i| ((i * 13 % 17) as f32 - 8.0) / 8.0).collect();
        let item = vec![("x".to_string(), Tensor::F32(ArrayD::from_shape_vec(IxDyn(&[1, 100, 48]), data).unwrap()))];
        let q = quantize_one(&b.g, item.clone());
        let names: Vec<(&str, Option<usize>)> =
            q.setup.weights.iter().map(|(w, _)| (b.g.value(w.value).name.as_str(), w.axis)).collect();
        assert_eq!(names, [("pos", Some(0)), ("mask", Some(1))]);
        assert_eq!(q.report.quantizers.iter().filter(|r| r.kind == "embedding").count(), 2);
        let run = |g: &ptq_ir::Graph| {
            let plan = ptq_exec::Plan::new(g, &ptq_exec::ExecOptions { threads: 1, ..Default::default() }).unwrap();
            match plan.run(item.clone()).unwrap().remove(0).1 {
                Tensor::F32(a) => a,
                t => panic!("{t:?}"),
            }
        };
        let (want, got) = (run(&b.g), run(&q.graph));
        for (i, (a, b)) in want.iter().zip(&got).enumerate() {
            let row = (i % 4800 / 48) as f32;
            // Half a step of the position row's scale; the mask is exact.
            assert!((a - b).abs() <= (row + 1.0) / 10.0 / 127.0 / 2.0 + 1e-3, "{i}: {a} vs {b}");
        }
    }

    /// GPT-2's tied head: the table is gathered and read transposed by the
    /// output MatMul; one int8 copy with per-row scales serves both.
    #[test]
    fn a_tied_output_head_shares_the_int8_table() {
        let mut b = graph(false);
        let table = b.g.values().iter().position(|v| v.name == "table").map(ptq_ir::ValueId).unwrap();
        let e = b.g.outputs()[0];
        let tt = b.node("head_t", ptq_ir::ops::transpose::Transpose { perm: Some(vec![1, 0]) }, &[table]);
        let logits = b.node("head", matmul(), &[e, tt]);
        b.g.outputs_mut()[0] = logits;
        ptq_ir::infer::infer_facts(&mut b.g).unwrap();
        let q = quantize_one(&b.g, item(false));
        let (w, _) = q.setup.weights.iter().find(|(w, _)| w.value == table).expect("the table is quantized");
        assert_eq!((w.axis, w.readers.len()), (Some(0), 2));
        // The head reads the table's own grid, not a per-tensor requantization.
        assert!(q.setup.acts.iter().all(|(a, _)| a.value != tt), "an activation quantizer on the transposed table");
        let read: std::collections::HashSet<ptq_ir::ValueId> =
            q.graph.iter_nodes().flat_map(|(_, n)| n.input_ids()).collect();
        let f32_tables =
            read.iter().filter(|&&v| matches!(q.graph.constant(v), Some(Tensor::F32(t)) if t.len() >= 5120)).count();
        assert_eq!(f32_tables, 0, "no float copy of the table is left");
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
