//! FastBiasCorrection (NNCF `fast_bias_correction/algorithm.py`): shift
//! each quantized layer's bias by the mean output error its weight
//! quantization causes, measured per channel on one synthetic input whose
//! channels hold the float input means: shift = layer(x̄; W) − layer(x̄; Wq).
//!
//! NNCF subtracts the quantized layer's output on x̄ from the float output
//! mean collected over the real data instead. For a convolution with zero
//! padding the two differ even without quantization (border pixels of the
//! constant image are not the border pixels of the data), and that
//! difference ends up in the bias: on the digits CNN it cost 1.2 top-1
//! points. Running the float and the quantized layer on the same x̄ keeps
//! only the quantization error, which is what the correction is for
//! (E[(W − Wq)·x] = (W − Wq)·E[x] for a linear layer).

use std::collections::HashMap;

use ndarray::{ArrayD, Axis, IxDyn};
use ptq_exec::{ExecOptions, Plan};
use ptq_ir::ops::binary::{Binary, BinaryKind};
use ptq_ir::{ConstSource, DType, Fact, Graph, Node, NodeId, Op, Tensor, Value, ValueId};
use ptq_stats::Granularity;

use crate::calibrate::{Collected, Watch};
use crate::error::AlgoError;
use crate::spec::QuantSpec;
use crate::structure::Links;

/// Largest |shift / bias| applied (NNCF's threshold for the fast variant).
pub const THRESHOLD: f32 = 2.0;

/// A bias held by a following Add: (the Add, the bias, its reader slot, the
/// Add's output).
type BiasAdd = (Option<NodeId>, ValueId, (NodeId, usize), ValueId);

/// Corrected bias values by (reader node, input slot).
pub type NewBiases = HashMap<(NodeId, usize), Vec<f32>>;

/// A layer whose bias can be corrected.
#[derive(Clone, Debug, PartialEq)]
pub struct Biased {
    /// The Conv / ConvTranspose / Gemm / MatMul node.
    pub node: NodeId,
    /// The Add holding the bias of a MatMul, if that is where it lives.
    pub add: Option<NodeId>,
    /// The constant bias value and the input slot reading it.
    pub bias: ValueId,
    pub bias_reader: (NodeId, usize),
    /// Activation input, its channel axis; the output with the bias added,
    /// its channel axis.
    pub input: ValueId,
    pub in_axis: usize,
    pub output: ValueId,
    pub out_axis: usize,
}

/// The outcome for one layer.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Correction {
    pub node: String,
    /// max |shift / bias|, infinite when the bias has a zero.
    pub magnitude: f32,
    pub applied: bool,
}

fn rank(g: &Graph, v: ValueId) -> Option<usize> {
    g.value(v).fact.rank()
}

fn f32_vec(t: &Tensor) -> Option<Vec<f32>> {
    match t {
        Tensor::F32(a) => Some(a.iter().copied().collect()),
        _ => None,
    }
}

/// Layers with a constant f32 bias among `weighted` (nodes with a quantized
/// weight).
pub fn candidates(g: &Graph, l: &Links<'_>, weighted: &[NodeId]) -> Vec<Biased> {
    let mut out = vec![];
    for &id in weighted {
        let Some(n) = g.node(id) else { continue };
        let (Some(x), Some(y)) = (n.inputs.first().copied().flatten(), n.outputs.first().copied().flatten()) else {
            continue;
        };
        let Some(xr) = rank(g, x) else { continue };
        // A following Add of a constant holds the bias when the layer has
        // none of its own (OpenVINO IR writes every bias that way).
        let bias_add = |axis: usize| -> Option<BiasAdd> {
            let (add, slot) = l.sole_reader(y)?;
            let an = g.node(add)?;
            let Op::Binary(Binary { kind: BinaryKind::Add }) = an.op else { return None };
            let b = an.inputs.get(1 - slot).copied().flatten()?;
            let shape = g.constant(b)?.shape().to_vec();
            // Only the channel axis (counted from the end) may exceed 1.
            let yr = rank(g, y)?;
            let ok = shape.len() <= yr && shape.iter().rev().enumerate().all(|(i, &d)| d == 1 || yr - 1 - i == axis);
            let z = an.outputs.first().copied().flatten()?;
            ok.then_some((Some(add), b, (add, 1 - slot), z))
        };
        let found = match &n.op {
            Op::Conv(_) | Op::ConvTranspose(_) if xr >= 3 => match n.inputs.get(2).copied().flatten() {
                Some(b) => Some((None, b, (id, 2), 1, y, 1)),
                None => bias_add(1).map(|(a, b, r, z)| (a, b, r, 1, z, 1)),
            },
            Op::Gemm(gm) if xr == 2 && !gm.trans_a && gm.beta == 1.0 => {
                n.inputs.get(2).copied().flatten().map(|b| (None, b, (id, 2), 1, y, 1))
            }
            Op::MatMul(_) if xr >= 2 => bias_add(rank(g, y).unwrap_or(xr) - 1).map(|(a, b, r, z)| {
                let yr = rank(g, z).unwrap_or(xr);
                (a, b, r, xr - 1, z, yr - 1)
            }),
            _ => None,
        };
        let Some((add, b, reader, in_axis, output, out_axis)) = found else { continue };
        let ok_bias = g.constant(b).and_then(f32_vec).is_some_and(|v| !v.is_empty());
        if ok_bias && rank(g, output).is_some() {
            out.push(Biased { node: id, add, bias: b, bias_reader: reader, input: x, in_axis, output, out_axis });
        }
    }
    out
}

/// The per-channel statistics FastBiasCorrection needs: input means.
pub fn watches(c: &[Biased]) -> Vec<Watch> {
    c.iter()
        .map(|b| Watch {
            value: b.input,
            granularity: Granularity::PerChannel { axis: b.in_axis },
            histogram_bins: 0,
            quantile_ppm: 0,
        })
        .collect()
}

/// Computes corrected biases; `weights` holds the spec of each quantized
/// weight value. Returns the new bias per (bias reader, slot), and a report
/// row per layer.
pub fn correct(
    g: &Graph,
    cands: &[Biased],
    stats: &Collected,
    weights: &HashMap<ValueId, QuantSpec>,
) -> Result<(NewBiases, Vec<Correction>), AlgoError> {
    let mut new_bias = HashMap::new();
    let mut rows = vec![];
    for c in cands {
        let (Some(si), Some(shape)) = (stats.per_channel(c.input), stats.shapes.get(&c.input)) else {
            continue;
        };
        let Some(n) = g.node(c.node) else { continue };
        let label = g.node_label(c.node);
        let err = |msg: String| AlgoError::Node { node: label.clone(), msg };
        let bias_t = g.constant(c.bias).cloned().ok_or_else(|| err("bias is not constant".into()))?;
        let bias = f32_vec(&bias_t).ok_or_else(|| err("bias is not f32".into()))?;
        let m_in = si.mean();
        if shape.get(c.in_axis) != Some(&m_in.len()) {
            continue;
        }
        // Synthetic input: each channel filled with its float mean.
        let mut x = ArrayD::<f32>::zeros(IxDyn(shape));
        for (ch, mut lane) in x.axis_iter_mut(Axis(c.in_axis)).enumerate() {
            lane.fill(m_in[ch]);
        }
        let w_id = n.inputs.get(1).copied().flatten().ok_or_else(|| err("no weight".into()))?;
        let w = g.constant(w_id).ok_or_else(|| err("weight is not constant".into()))?;
        let w_dq = match weights.get(&w_id) {
            Some(spec) => fake_weight(w, spec).ok_or_else(|| err("weight is not f32".into()))?,
            None => w.clone(),
        };
        let x = Tensor::F32(x);
        let means = |w: Tensor| -> Result<Vec<f64>, AlgoError> {
            let y = run_layer(n, c, x.clone(), w, g, &bias_t).map_err(err)?;
            let Tensor::F32(y) = y else { return Err(err("layer output is not f32".into())) };
            Ok(y.axis_iter(Axis(c.out_axis))
                .map(|lane| lane.iter().map(|&v| v as f64).sum::<f64>() / lane.len().max(1) as f64)
                .collect())
        };
        let (fp, q) = (means(w.clone())?, means(w_dq)?);
        if q.len() != bias.len() {
            continue;
        }
        let shift: Vec<f32> = fp.iter().zip(&q).map(|(f, q)| (f - q) as f32).collect();
        let magnitude = if bias.contains(&0.0) {
            f32::INFINITY
        } else {
            shift.iter().zip(&bias).map(|(s, b)| (s / b).abs()).fold(0.0, f32::max)
        };
        let applied = magnitude < THRESHOLD;
        if applied {
            new_bias.insert(c.bias_reader, bias.iter().zip(&shift).map(|(b, s)| b + s).collect());
        }
        rows.push(Correction { node: label, magnitude, applied });
    }
    Ok((new_bias, rows))
}

/// The weight as the quantized model sees it.
pub fn fake_weight(w: &Tensor, spec: &QuantSpec) -> Option<Tensor> {
    let Tensor::F32(a) = w else { return None };
    let mut a = a.clone();
    match spec.axis {
        Some(ax) if ax < a.ndim() => {
            for (c, mut lane) in a.axis_iter_mut(Axis(ax)).enumerate() {
                lane.mapv_inplace(|v| spec.fake(v, c));
            }
        }
        _ => a.mapv_inplace(|v| spec.fake(v, 0)),
    }
    Some(Tensor::F32(a))
}

/// Runs the layer alone (with its bias add for MatMul) on `x`.
fn run_layer(n: &Node, c: &Biased, x: Tensor, w: Tensor, g: &Graph, bias: &Tensor) -> Result<Tensor, String> {
    let mut m = Graph::default();
    let xv = m.add_value(Value {
        name: "x".into(),
        fact: Fact::new(DType::F32, ptq_ir::fact::known_shape(x.shape())),
        ..Value::default()
    });
    m.inputs_mut().push(xv);
    let wv = m.add_constant("w", w, ConstSource::Derived);
    let bv = m.add_constant("b", bias.clone(), ConstSource::Derived);
    let yv = m.add_value(Value { name: "y".into(), ..Value::default() });
    let mut inputs: Vec<Option<ValueId>> = vec![Some(xv), Some(wv)];
    // Other inputs of the layer (none for Conv/MatMul beyond the bias) are copied as constants.
    for (i, v) in n.inputs.iter().enumerate().skip(2) {
        let id = match (c.add, v) {
            (None, Some(_)) if i == 2 => Some(bv),
            (_, Some(v)) => Some(m.add_constant(
                format!("in{i}"),
                g.constant(*v).cloned().ok_or("non-constant input")?,
                ConstSource::Derived,
            )),
            (_, None) => None,
        };
        inputs.push(id);
    }
    let layer = Node {
        name: "layer".into(),
        op: n.op.clone(),
        inputs,
        outputs: vec![Some(yv)],
        doc: String::new(),
        meta: vec![],
    };
    m.add_node(layer);
    let out = if c.add.is_some() {
        let zv = m.add_value(Value { name: "z".into(), ..Value::default() });
        let add = Binary { kind: BinaryKind::Add };
        m.add_node(Node {
            name: "bias".into(),
            op: add.into(),
            inputs: vec![Some(yv), Some(bv)],
            outputs: vec![Some(zv)],
            doc: String::new(),
            meta: vec![],
        });
        zv
    } else {
        yv
    };
    m.outputs_mut().push(out);
    let plan = Plan::new(&m, &ExecOptions { threads: 1, optimize: false, integer: false, ..Default::default() })
        .map_err(|e| e.to_string())?;
    let mut r = plan.run(vec![("x".into(), x)]).map_err(|e| e.to_string())?;
    r.pop().map(|(_, t)| t).ok_or_else(|| "no output".into())
}
