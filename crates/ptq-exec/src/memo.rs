//! Shape arithmetic computed once per input shape.
//!
//! Exported transformers compute their reshape targets at run time:
//! `Shape → Gather → Unsqueeze → Concat → Reshape`, a dozen tiny nodes per
//! attention layer whose values depend only on the shapes the `Shape` (and
//! `Size`) nodes read, never on tensor values. Each such node costs a
//! microsecond or so of allocation and dispatch, as much as a whole
//! LayerNorm on a short sequence. The plan marks them at plan time; at run
//! time each marked node looks up the shapes its `Shape` ancestors read in
//! this run and, when they match a recent run, hands out that run's outputs
//! (shared, not copied) instead of running.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ptq_ir::{Op, Tensor, ValueId};

/// Cached results kept per node (distinct input shapes).
const ENTRIES: usize = 4;

/// Largest output (elements) worth keeping.
const MAX_ELEMENTS: usize = 1 << 16;

/// The `Shape` readings a node's outputs depend on, and the outputs.
type Entry = (Vec<Vec<usize>>, Vec<Option<Arc<Tensor>>>);

/// Plan-time marks and run-time cache.
#[derive(Debug, Default)]
pub(crate) struct ShapeMemo {
    /// Per step: the record slots (one per `Shape`/`Size` step) whose
    /// readings determine its outputs, when it is memoized.
    deps: Vec<Option<Vec<usize>>>,
    /// Per step: the record slot a `Shape`/`Size` step writes its input's
    /// shape into.
    records: Vec<Option<usize>>,
    n_records: usize,
    cache: Vec<Mutex<Vec<Entry>>>,
}

impl ShapeMemo {
    /// Marks `steps` (op, inputs, outputs, in schedule order): a `Shape`
    /// or `Size` step gets a record slot; a step of a pure op whose every
    /// input is a constant (per `constants`, and not one of the graph
    /// `inputs`) or the output of a `Shape`, `Size` or marked step is
    /// marked, depending on the union of its inputs' slots.
    pub(crate) fn new<'a>(
        constants: &[Option<Arc<Tensor>>],
        inputs: &[ValueId],
        steps: impl Iterator<Item = (&'a Op, &'a Vec<Option<ValueId>>, &'a Vec<Option<ValueId>>)>,
    ) -> ShapeMemo {
        let mut memo = ShapeMemo::default();
        let mut class: HashMap<ValueId, Vec<usize>> = HashMap::new();
        let fixed = |v: ValueId| constants.get(v.0).is_some_and(Option::is_some) && !inputs.contains(&v);
        for (op, step_inputs, step_outputs) in steps {
            let input_ids = || step_inputs.iter().flatten().copied();
            let mut deps = None;
            let mut record = None;
            if matches!(op, Op::ShapeOf(_) | Op::Size(_)) && step_inputs.first().copied().flatten().is_some() {
                record = Some(memo.n_records);
                memo.n_records += 1;
            } else if op.is_pure() && input_ids().next().is_some() {
                let mut union: Vec<usize> = vec![];
                let all = input_ids().all(|v| match class.get(&v) {
                    Some(d) => {
                        union.extend(d);
                        true
                    }
                    None => fixed(v),
                });
                if all {
                    union.sort_unstable();
                    union.dedup();
                    deps = Some(union);
                }
            }
            let produced = record.map(|r| vec![r]).or_else(|| deps.clone());
            if let Some(d) = produced {
                for &v in step_outputs.iter().flatten() {
                    class.insert(v, d.clone());
                }
            }
            memo.deps.push(deps);
            memo.records.push(record);
        }
        memo.cache = memo.deps.iter().map(|_| Mutex::new(vec![])).collect();
        memo
    }

    /// A fresh per-run record of the shapes the `Shape` steps read.
    pub(crate) fn readings(&self) -> Vec<Option<Vec<usize>>> {
        vec![None; self.n_records]
    }

    /// The record slot step `step` writes, if it reads a shape.
    pub(crate) fn record_slot(&self, step: usize) -> Option<usize> {
        self.records.get(step).copied().flatten()
    }

    /// This run's readings for memoized step `step`, in its dependency
    /// order (None: not memoized, or a reading is missing).
    fn key<'r>(&self, step: usize, readings: &'r [Option<Vec<usize>>]) -> Option<Vec<&'r [usize]>> {
        self.deps.get(step)?.as_ref()?.iter().map(|&r| readings.get(r)?.as_deref()).collect()
    }

    /// The outputs an earlier run of `step` produced from the same
    /// readings.
    pub(crate) fn lookup(&self, step: usize, readings: &[Option<Vec<usize>>]) -> Option<Vec<Option<Arc<Tensor>>>> {
        let key = self.key(step, readings)?;
        let cache = self.cache.get(step)?.lock().ok()?;
        cache.iter().find(|(k, _)| k.iter().map(Vec::as_slice).eq(key.iter().copied())).map(|(_, outs)| outs.clone())
    }

    /// Keeps `outs` as memoized step `step`'s outputs for this run's
    /// readings (the oldest of [`ENTRIES`] goes), unless one is large.
    pub(crate) fn store(&self, step: usize, readings: &[Option<Vec<usize>>], outs: &[Option<Arc<Tensor>>]) {
        let Some(key) = self.key(step, readings) else { return };
        if outs.iter().flatten().any(|t| t.len() > MAX_ELEMENTS) {
            return;
        }
        let Some(Ok(mut cache)) = self.cache.get(step).map(Mutex::lock) else { return };
        if cache.len() >= ENTRIES {
            cache.remove(0);
        }
        cache.push((key.into_iter().map(<[usize]>::to_vec).collect(), outs.to_vec()));
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{ArrayD, IxDyn};
    use ptq_ir::ops::binary::{Binary, BinaryKind};
    use ptq_ir::ops::concat::Concat;
    use ptq_ir::ops::gather::Gather;
    use ptq_ir::ops::reshape::Reshape;
    use ptq_ir::ops::shape_of::ShapeOf;
    use ptq_ir::ops::unsqueeze::Unsqueeze;
    use ptq_ir::{ConstSource, Graph, Node, Op, Tensor, Value, ValueId};

    use super::ShapeMemo;
    use crate::{ExecOptions, Plan};

    fn node(g: &mut Graph, name: &str, op: Op, inputs: Vec<ValueId>) -> ValueId {
        let out = g.add_value(Value { name: format!("{name}_out"), ..Value::default() });
        g.add_node(Node {
            name: name.into(),
            op,
            inputs: inputs.into_iter().map(Some).collect(),
            outputs: vec![Some(out)],
            doc: String::new(),
            meta: vec![],
        });
        out
    }

    fn i64s(v: &[i64]) -> Tensor {
        Tensor::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v.to_vec()).unwrap())
    }

    /// `x [a, b, c] → Reshape(x, [a, b·c])` with the target computed as
    /// exporters write it, `Shape → Gather → Unsqueeze → Concat`, plus an
    /// Add of x to itself that must not be memoized (it reads values).
    fn graph() -> Graph {
        let mut g = Graph::default();
        let x = g.add_value(Value { name: "x".into(), ..Value::default() });
        g.inputs_mut().push(x);
        let shape = node(&mut g, "shape", Op::ShapeOf(ShapeOf::default()), vec![x]);
        let zero = g.add_constant("zero", Tensor::I64(ArrayD::from_elem(IxDyn(&[]), 0)), ConstSource::Stored);
        let a = node(&mut g, "gather", Op::Gather(Gather { axis: 0 }), vec![shape, zero]);
        let axes = g.add_constant("axes", i64s(&[0]), ConstSource::Stored);
        let a1 = node(&mut g, "unsqueeze", Op::Unsqueeze(Unsqueeze), vec![a, axes]);
        let rest = g.add_constant("rest", i64s(&[-1]), ConstSource::Stored);
        let target = node(&mut g, "concat", Op::Concat(Concat { axis: 0 }), vec![a1, rest]);
        let y = node(&mut g, "reshape", Op::Reshape(Reshape::default()), vec![x, target]);
        let z = node(&mut g, "add", Op::Binary(Binary { kind: BinaryKind::Add }), vec![y, y]);
        g.outputs_mut().extend([z, target]);
        g
    }

    #[test]
    fn only_shape_arithmetic_is_memoized() {
        let g = graph();
        let order = ptq_ir::topo::topo_order(&g).unwrap();
        let constants: Vec<_> = g.values().iter().map(|v| v.constant.clone()).collect();
        let nodes: Vec<_> = order.iter().map(|&id| g.node(id).unwrap()).collect();
        let memo = ShapeMemo::new(&constants, g.inputs(), nodes.iter().map(|n| (&n.op, &n.inputs, &n.outputs)));
        let marked: Vec<&str> = order
            .iter()
            .enumerate()
            .filter(|(i, _)| memo.deps[*i].is_some())
            .map(|(_, id)| g.node(*id).unwrap().name.as_str())
            .collect();
        assert_eq!(marked, ["gather", "unsqueeze", "concat"]);
        assert_eq!(memo.n_records, 1);
    }

    /// Runs with alternating shapes reuse the right entry every time.
    #[test]
    fn results_follow_the_input_shape_across_runs() {
        let plan = Plan::new(&graph(), &ExecOptions { threads: 1, ..ExecOptions::default() }).unwrap();
        for shape in [[2, 3, 4], [5, 1, 2], [2, 3, 4], [5, 1, 2], [1, 6, 1]] {
            let n: usize = shape.iter().product();
            let x = ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|v| v as f32).collect()).unwrap();
            let out = plan.run(vec![("x".into(), Tensor::F32(x))]).unwrap();
            assert_eq!(out[0].1.shape(), [shape[0], shape[1] * shape[2]]);
            assert_eq!(out[0].1.to_f64_vec(), (0..n).map(|v| 2.0 * v as f64).collect::<Vec<_>>());
            assert_eq!(out[1].1.to_i64_vec(), Some(vec![shape[0] as i64, -1]));
        }
    }
}
