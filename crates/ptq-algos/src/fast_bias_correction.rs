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
use ptq_ir::{ConstSource, DType, Fact, Graph, Node, Tensor, Value, ValueId};

use crate::algorithm::{Algorithm, State};
use crate::bias::{self, Biased, Correction, NewBiases, f32_vec, fake_weight};
use crate::calibrate::{Collected, Watch};
use crate::error::AlgoError;
use crate::spec::QuantSpec;
use crate::structure::Links;

/// Largest |shift / bias| applied (NNCF's threshold for the fast variant).
pub const THRESHOLD: f32 = 2.0;

/// The algorithm: input means from the stage's pass, then [`correct`].
#[derive(Debug)]
pub struct FastBiasCorrection {
    /// Largest |shift / bias| applied.
    pub threshold: f32,
    layers: Vec<Biased>,
}

impl FastBiasCorrection {
    pub fn new(threshold: Option<f32>) -> FastBiasCorrection {
        FastBiasCorrection { threshold: threshold.unwrap_or(THRESHOLD), layers: vec![] }
    }
}

impl Algorithm for FastBiasCorrection {
    fn name(&self) -> &'static str {
        "FastBiasCorrection"
    }

    fn parameters(&self) -> String {
        format!("threshold={}", self.threshold)
    }

    fn statistic_points(&mut self, s: &State) -> Result<Vec<Watch>, AlgoError> {
        self.layers = bias::candidates(&s.graph, &Links::new(&s.graph), &s.weighted());
        Ok(bias::watches(&self.layers))
    }

    fn apply(&mut self, s: &mut State, stats: &mut Collected) -> Result<(), AlgoError> {
        let specs: HashMap<ValueId, QuantSpec> = s.weights.iter().map(|(w, q)| (w.value, q.clone())).collect();
        let (biases, rows) = correct(&s.graph, &self.layers, stats, &specs, self.threshold)?;
        s.biases.extend(biases);
        s.corrections.extend(rows);
        Ok(())
    }
}

/// Computes corrected biases; `weights` holds the spec of each quantized
/// weight value; a layer's shift applies when max |shift / bias| is below
/// `threshold`. Returns the new bias per (bias reader, slot), and a report
/// row per layer.
pub fn correct(
    g: &Graph,
    cands: &[Biased],
    stats: &Collected,
    weights: &HashMap<ValueId, QuantSpec>,
    threshold: f32,
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
        let applied = magnitude < threshold;
        if applied {
            new_bias.insert(c.bias_reader, bias.iter().zip(&shift).map(|(b, s)| b + s).collect());
        }
        rows.push(Correction { node: label, magnitude, applied });
    }
    Ok((new_bias, rows))
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
