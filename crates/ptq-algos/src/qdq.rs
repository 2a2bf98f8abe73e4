//! Writing quantizers into the graph as QuantizeLinear/DequantizeLinear:
//! activations get a Q→DQ pair, weights become int8 constants read by a
//! DequantizeLinear (per-axis), and the bias of a Gemm whose input and
//! weight are quantized, or of a convolution whose output is too, becomes
//! int32 with scale s_x·s_w, the form onnxruntime fuses into its integer
//! kernels.
//!
//! Two more choices serve the same runtimes and change no value: a signed
//! symmetric activation is stored as u8 with zero point 128 (the grid of
//! int8 with zero point 0), and a per-tensor quantizer that moved up
//! through agnostic ops is repeated, with the same parameters, on their
//! outputs, so onnxruntime fuses QLinearConv, QGemm or an int8 MaxPool
//! instead of running float ops between DequantizeLinear nodes.
//!
//! Names: each quantizer is `q<N>`, numbered in insertion order: `q<N>` is
//! the dequantized tensor its readers read, with `q<N>_scale`,
//! `q<N>_zero_point`, `q<N>_quantized`, `q<N>_QuantizeLinear` and
//! `q<N>_DequantizeLinear`; an int8 or int32 constant keeps its source's
//! name (`<weight>_quantized`). Exporters
//! write names that run to 100 characters, and repeating them in a dozen
//! places per quantizer cost up to 8 % of a small model's INT8 file. An
//! int32 bias has no zero point (the default, 0).

use ptq_ir::names::NameSet;
use std::collections::{HashMap, HashSet};

use ndarray::{ArrayD, IxDyn};
use ptq_ir::ops::dequantize::DequantizeLinear;
use ptq_ir::ops::quantize::QuantizeLinear;
use ptq_ir::patch::{Applied, PatchValue};
use ptq_ir::{Graph, NodeId, Op, Patch, Tensor, Value, ValueId};

use crate::hw::Role;

use crate::error::AlgoError;
use crate::placement::{ActQuantizer, WeightQuantizer};
use crate::spec::{QType, QuantSpec};

fn scalar_or_vec_f32(v: &[f32]) -> Tensor {
    if v.len() == 1 { Tensor::F32(ArrayD::from_elem(IxDyn(&[]), v[0])) } else { Tensor::from_f32s(v) }
}

fn zero_points(spec: &QuantSpec) -> Tensor {
    let shape: Vec<usize> = if spec.zero_point.len() == 1 { vec![] } else { vec![spec.zero_point.len()] };
    let s = IxDyn(&shape);
    let vals = || spec.zero_point.iter().copied();
    match spec.qtype {
        QType::U8 => {
            Tensor::U8(ArrayD::from_shape_vec(s, vals().map(|z| z.clamp(0, 255) as u8).collect()).unwrap_or_default())
        }
        QType::I8 => Tensor::I8(
            ArrayD::from_shape_vec(s, vals().map(|z| z.clamp(-128, 127) as i8).collect()).unwrap_or_default(),
        ),
        QType::I32 => Tensor::I32(ArrayD::from_shape_vec(s, vals().collect()).unwrap_or_default()),
    }
}

/// Hands out the quantizers' names, `q0`, `q1`... (skipping taken ones).
struct Namer {
    names: NameSet,
    next: usize,
}

impl Namer {
    /// A fresh quantizer name, also reserved as a prefix.
    fn quantizer(&mut self) -> String {
        loop {
            let base = format!("q{}", self.next);
            self.next += 1;
            if self.names.insert(base.clone()) {
                return base;
            }
        }
    }

    fn fresh(&mut self, name: &str) -> String {
        self.names.fresh(name)
    }
}

/// A quantizer's parameters as written: its spec, scale and zero point.
#[derive(Clone, Debug)]
struct Written {
    spec: QuantSpec,
    scale: PatchValue,
    zp: PatchValue,
}

/// Adds `value → QuantizeLinear → DequantizeLinear` with `spec`'s
/// parameters (named after a fresh quantizer name; `shared` reuses another
/// pair's scale and zero point) and returns the dequantized value with the
/// parameters.
fn add_pair(
    g: &Graph,
    p: &mut Patch,
    names: &mut Namer,
    value: ValueId,
    spec: &QuantSpec,
    shared: Option<&Written>,
) -> (PatchValue, Written) {
    let tag = names.quantizer();
    let (scale, zp) = match shared {
        Some(w) => (w.scale, w.zp),
        None => (
            p.add_constant(names.fresh(&format!("{tag}_scale")), scalar_or_vec_f32(&spec.scale)),
            p.add_constant(names.fresh(&format!("{tag}_zero_point")), zero_points(spec)),
        ),
    };
    let fact = g.value(value).fact.clone();
    let qv = p.add_value(Value {
        name: names.fresh(&format!("{tag}_quantized")),
        fact: ptq_ir::Fact { dtype: Some(ptq_ir::DType::U8), shape: fact.shape.clone() },
        ..Value::default()
    });
    let dq = p.add_value(Value { name: tag.clone(), fact, ..Value::default() });
    let axis = spec.axis.filter(|_| spec.scale.len() > 1).map(|a| a as i64);
    let q_inputs = vec![Some(PatchValue::Existing(value)), Some(scale), Some(zp)];
    let q = QuantizeLinear { axis, ..QuantizeLinear::default() };
    p.add_node(names.fresh(&format!("{tag}_QuantizeLinear")), q, q_inputs, vec![Some(qv)]);
    let dq_inputs = vec![Some(qv), Some(scale), Some(zp)];
    let dq_op = DequantizeLinear { axis, ..DequantizeLinear::default() };
    p.add_node(names.fresh(&format!("{tag}_DequantizeLinear")), dq_op, dq_inputs, vec![Some(dq)]);
    (dq, Written { spec: spec.clone(), scale, zp })
}

/// Everything to write.
#[derive(Debug)]
pub struct Plan<'a> {
    pub acts: &'a [(ActQuantizer, QuantSpec)],
    pub weights: &'a [(WeightQuantizer, QuantSpec)],
    /// Corrected biases, by (reader node, slot).
    pub biases: &'a HashMap<(NodeId, usize), Vec<f32>>,
}

/// Applies `plan` to `g`.
pub fn apply(g: &mut Graph, plan: &Plan<'_>) -> Result<Applied, AlgoError> {
    let mut names = Namer { names: deep_names(g), next: 0 };
    let mut p = Patch::new();
    let consumers = g.consumers();
    let mut edge_spec: HashMap<(NodeId, usize), Written> = HashMap::new();
    // Tensors whose every reader reads them quantized (one Q node).
    let mut quantized: HashSet<ValueId> = HashSet::new();
    for (q, spec) in plan.acts {
        let all =
            !g.outputs().contains(&q.value) && consumers.get(&q.value).is_some_and(|r| r.len() == q.readers.len());
        if all {
            quantized.insert(q.value);
        }
        let (dq, written) = add_pair(g, &mut p, &mut names, q.value, spec, None);
        if all {
            p.replace_uses(q.value, dq, vec![]);
        } else {
            for &(n, slot) in &q.readers {
                p.set_input(n, slot, dq);
            }
        }
        for &r in &q.readers {
            edge_spec.insert(r, written.clone());
        }
    }
    // A quantizer moved up through agnostic ops (MaxPool, Flatten, Reshape...)
    // is repeated on their outputs with the same parameters: the values are
    // already on its grid, so nothing changes numerically, and runtimes see
    // DequantizeLinear right in front of the integer op they fuse. The
    // repeats share the quantizer's scale and zero point.
    for id in ptq_ir::topo::topo_order(g)? {
        let Some(n) = g.node(id) else { continue };
        let Some(w) = edge_spec.get(&(id, 0)).cloned() else { continue };
        // A per-channel grid does not survive ops that may move its axis.
        if n.op.quant_role() != Role::Agnostic || w.spec.scale.len() > 1 {
            continue;
        }
        for o in n.output_ids() {
            if g.outputs().contains(&o) || g.value(o).fact.dtype.is_some_and(|d| d != ptq_ir::DType::F32) {
                continue;
            }
            let readers = consumers.get(&o).cloned().unwrap_or_default();
            if readers.is_empty() {
                continue;
            }
            let (dq, _) = add_pair(g, &mut p, &mut names, o, &w.spec, Some(&w));
            p.replace_uses(o, dq, vec![]);
            quantized.insert(o);
            for r in readers {
                edge_spec.insert(r, w.clone());
            }
        }
    }
    // Per-tensor activation scales: a bias becomes int32 only behind one
    // (onnxruntime's integer kernels take no per-channel input scale).
    let act_scale: HashMap<(NodeId, usize), f32> =
        edge_spec.iter().filter(|(_, w)| w.spec.scale.len() == 1).map(|(&k, w)| (k, w.spec.scale[0])).collect();
    let mut weight_scale: HashMap<(NodeId, usize), (Vec<f32>, Option<usize>)> = HashMap::new();
    for (q, spec) in plan.weights {
        let base = g.value(q.value).name.clone();
        let w = g
            .constant(q.value)
            .ok_or_else(|| AlgoError::Node { node: base.clone(), msg: "weight is not constant".into() })?;
        let Tensor::F32(wa) = w else { continue };
        let qa = spec.quantize_all_i8(wa);
        let qv = p.add_constant(names.fresh(&format!("{base}_quantized")), Tensor::I8(qa));
        let tag = names.quantizer();
        let scale = p.add_constant(names.fresh(&format!("{tag}_scale")), scalar_or_vec_f32(&spec.scale));
        let zp = p.add_constant(names.fresh(&format!("{tag}_zero_point")), zero_points(spec));
        let dq = p.add_value(Value { name: tag.clone(), fact: g.value(q.value).fact.clone(), ..Value::default() });
        let op = DequantizeLinear { axis: spec.axis.map(|a| a as i64), block_size: None };
        p.add_node(
            names.fresh(&format!("{tag}_DequantizeLinear")),
            op,
            vec![Some(qv), Some(scale), Some(zp)],
            vec![Some(dq)],
        );
        for &(n, slot) in &q.readers {
            p.set_input(n, slot, dq);
            weight_scale.insert((n, slot), (spec.scale.clone(), spec.axis));
        }
    }
    // Biases: int32 where input and weight are quantized and a runtime fuses
    // the layer (onnxruntime's QGemm, with a float output or not, and its
    // QLinearConv, whose output must be quantized), else float, corrected or
    // not: an int32 bias read by a float convolution would only cost its
    // per-channel scale in the file and a rounding.
    let mut readers: Vec<(NodeId, usize)> = plan.biases.keys().copied().collect();
    for (id, n) in g.iter_nodes() {
        if matches!(n.op, Op::Conv(_) | Op::ConvTranspose(_) | Op::Gemm(_))
            && n.inputs.get(2).copied().flatten().is_some()
        {
            readers.push((id, 2));
        }
    }
    readers.sort();
    readers.dedup();
    for (n, slot) in readers {
        let Some(node) = g.node(n) else { continue };
        let Some(b) = node.inputs.get(slot).copied().flatten() else { continue };
        let Some(Tensor::F32(orig)) = g.constant(b) else { continue };
        let vals: Vec<f32> = plan.biases.get(&(n, slot)).cloned().unwrap_or_else(|| orig.iter().copied().collect());
        let base = g.value(b).name.clone();
        let fused = matches!(node.op, Op::Gemm(_)) || output_quantized(g, &consumers, &quantized, n);
        let int_form = match (&node.op, act_scale.get(&(n, 0)), weight_scale.get(&(n, 1))) {
            (Op::Conv(_) | Op::Gemm(_), Some(&sx), Some((sw, axis))) if slot == 2 && orig.ndim() == 1 && fused => {
                let per_channel = sw.len() == vals.len()
                    && (matches!(node.op, Op::Conv(_)) && *axis == Some(0) || matches!(node.op, Op::Gemm(_)));
                let scales: Vec<f32> = (0..vals.len()).map(|c| sx * if per_channel { sw[c] } else { sw[0] }).collect();
                let q: Option<Vec<i32>> = vals
                    .iter()
                    .zip(&scales)
                    .map(|(&v, &s)| {
                        let r = (v / s).round_ties_even();
                        (s > 0.0 && r.is_finite() && r.abs() < 2.0e9).then_some(r as i32)
                    })
                    .collect();
                q.map(|q| (q, scales))
            }
            _ => None,
        };
        match int_form {
            Some((q, scales)) => {
                let m = q.len();
                let qv = p.add_constant(
                    names.fresh(&format!("{base}_quantized")),
                    Tensor::I32(ArrayD::from_shape_vec(IxDyn(&[m]), q).unwrap_or_default()),
                );
                let tag = names.quantizer();
                let scale = p.add_constant(names.fresh(&format!("{tag}_scale")), Tensor::from_f32s(&scales));
                let dq = p.add_value(Value { name: tag.clone(), fact: g.value(b).fact.clone(), ..Value::default() });
                p.add_node(
                    names.fresh(&format!("{tag}_DequantizeLinear")),
                    DequantizeLinear { axis: Some(0), block_size: None },
                    vec![Some(qv), Some(scale)],
                    vec![Some(dq)],
                );
                p.set_input(n, slot, dq);
            }
            None if plan.biases.contains_key(&(n, slot)) => {
                let shape = orig.shape().to_vec();
                let t = ArrayD::from_shape_vec(IxDyn(&shape), vals)
                    .map_err(|e| AlgoError::Node { node: base.clone(), msg: e.to_string() })?;
                let nv = p.add_constant(names.fresh(&format!("{base}_corrected")), Tensor::F32(t));
                p.set_input(n, slot, nv);
            }
            None => {}
        }
    }
    Ok(p.apply(g)?)
}

/// The names of `g` and of every body nested in it: a name a body uses may
/// not be defined again outside it.
fn deep_names(g: &Graph) -> NameSet {
    let mut names = NameSet::of_graph(g);
    let mut stack: Vec<&Graph> = vec![g];
    while let Some(graph) = stack.pop() {
        for (_, n) in graph.iter_nodes() {
            for body in n.op.bodies() {
                for v in body.graph.values() {
                    names.insert(v.name.clone());
                }
                for (_, bn) in body.graph.iter_nodes() {
                    names.insert(bn.name.clone());
                }
                stack.push(&body.graph);
            }
        }
    }
    names
}

/// Whether node `n`'s output, or the output of a single Relu or Clip
/// reading it, goes to a quantizer and nowhere else.
fn output_quantized(
    g: &Graph,
    consumers: &HashMap<ValueId, Vec<(NodeId, usize)>>,
    quantized: &HashSet<ValueId>,
    n: NodeId,
) -> bool {
    let Some(out) = g.node(n).and_then(|node| node.outputs.first().copied().flatten()) else { return false };
    if quantized.contains(&out) {
        return true;
    }
    match consumers.get(&out).map(Vec::as_slice) {
        Some([(r, 0)]) if !g.outputs().contains(&out) => g.node(*r).is_some_and(|rn| {
            crate::hw::fused_activation(&rn.op)
                && rn.outputs.first().copied().flatten().is_some_and(|o| quantized.contains(&o))
        }),
        _ => false,
    }
}
