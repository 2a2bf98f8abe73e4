//! LSTM and GRU over whole sequences, with sequence lengths and both directions.

use ptq_ir::Tensor;
use ptq_ir::ops::rnn::{Rnn, RnnDirection, RnnKind};
use ptq_kernels::{Gemm, Threads, sgemm};

use super::Out;
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s, to_usize};

/// A recurrent activation with its alpha/beta (also used by the simple RNN).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Act {
    Sigmoid,
    Tanh,
    Relu,
    HardSigmoid(f32, f32),
    LeakyRelu(f32),
    ThresholdedRelu(f32),
    ScaledTanh(f32, f32),
    Affine(f32, f32),
    Elu(f32),
    Softsign,
    Softplus,
}

impl Act {
    pub(crate) fn apply(self, x: f32) -> f32 {
        match self {
            Act::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Act::Tanh => x.tanh(),
            Act::Relu => x.max(0.0),
            Act::HardSigmoid(a, b) => (a * x + b).clamp(0.0, 1.0),
            Act::LeakyRelu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x
                }
            }
            Act::ThresholdedRelu(a) => {
                if x > a {
                    x
                } else {
                    0.0
                }
            }
            Act::ScaledTanh(a, b) => a * (b * x).tanh(),
            Act::Affine(a, b) => a * x + b,
            Act::Elu(a) => {
                if x >= 0.0 {
                    x
                } else {
                    a * x.exp_m1()
                }
            }
            Act::Softsign => x / (1.0 + x.abs()),
            Act::Softplus => x.exp().ln_1p(),
        }
    }
}

/// Resolves activation names with alpha/beta values consumed in order.
fn activations(op: &Rnn, per_dir: usize, dirs: usize) -> Result<Vec<Act>, String> {
    let names: Vec<String> = match &op.activations {
        Some(v) => v.clone(),
        None => {
            let d: &[&str] = if op.kind == RnnKind::Lstm { &["Sigmoid", "Tanh", "Tanh"] } else { &["Sigmoid", "Tanh"] };
            (0..dirs).flat_map(|_| d.iter().map(|s| s.to_string())).collect()
        }
    };
    if names.len() != per_dir * dirs {
        return Err(format!("{} activations given, {} expected", names.len(), per_dir * dirs));
    }
    parse_activations(&names, op.activation_alpha.as_deref(), op.activation_beta.as_deref())
}

/// Activations by ONNX name (any case), taking alpha/beta values in order.
pub(crate) fn parse_activations(
    names: &[String],
    alpha: Option<&[f32]>,
    beta: Option<&[f32]>,
) -> Result<Vec<Act>, String> {
    let (mut alphas, mut betas) = (alpha.unwrap_or_default().iter().copied(), beta.unwrap_or_default().iter().copied());
    names
        .iter()
        .map(|n| {
            Ok(match n.to_ascii_lowercase().as_str() {
                "sigmoid" => Act::Sigmoid,
                "tanh" => Act::Tanh,
                "relu" => Act::Relu,
                "hardsigmoid" => Act::HardSigmoid(alphas.next().unwrap_or(0.2), betas.next().unwrap_or(0.5)),
                "leakyrelu" => Act::LeakyRelu(alphas.next().unwrap_or(0.01)),
                "thresholdedrelu" => Act::ThresholdedRelu(alphas.next().unwrap_or(1.0)),
                "scaledtanh" => Act::ScaledTanh(alphas.next().unwrap_or(1.0), betas.next().unwrap_or(1.0)),
                "affine" => Act::Affine(alphas.next().unwrap_or(1.0), betas.next().unwrap_or(0.0)),
                "elu" => Act::Elu(alphas.next().unwrap_or(1.0)),
                "softsign" => Act::Softsign,
                "softplus" => Act::Softplus,
                other => return Err(format!("activation {other:?} is not supported")),
            })
        })
        .collect()
}

/// `out[rows×cols] = a[rows×k] · b[cols×k]ᵀ` (overwrites `out`).
pub(crate) fn mul_bt(a: &[f32], b: &[f32], out: &mut [f32], rows: usize, cols: usize, k: usize) {
    let g = Gemm::row_major(rows, cols, k, false, true);
    sgemm(&g, a, b, out, Threads::Single);
}

struct Dims {
    batch: usize,
    hidden: usize,
    gates: usize,
}

/// Runs LSTM or GRU.
pub fn run(op: &Rnn, ins: &mut Inputs, n_out: usize) -> Out {
    let x = f32s(ins.get(0)?)?;
    let w = f32s(ins.get(1)?)?;
    let r = f32s(ins.get(2)?)?;
    let (&[a0, a1, input], true) = (x.shape(), x.ndim() == 3) else { return Err("X must have rank 3".into()) };
    let (seq, batch) = if op.layout == 0 { (a0, a1) } else { (a1, a0) };
    let hidden = to_usize(op.hidden_size, "hidden_size")?;
    let dirs = op.direction.count() as usize;
    let gates = if op.kind == RnnKind::Lstm { 4 } else { 3 };
    let d = Dims { batch, hidden, gates };
    if w.shape() != [dirs, gates * hidden, input] || r.shape() != [dirs, gates * hidden, hidden] {
        return Err(format!(
            "W {:?} or R {:?} do not fit hidden_size {hidden} and {dirs} direction(s)",
            w.shape(),
            r.shape()
        ));
    }
    // X as [seq, batch, input].
    let xv = if op.layout == 0 {
        contiguous(x).into_owned()
    } else {
        x.view().permuted_axes(vec![1, 0, 2]).iter().copied().collect()
    };
    let bias = match ins.opt(3) {
        Some(b) => contiguous(f32s(b)?).into_owned(),
        None => vec![0.0; dirs * 2 * gates * hidden],
    };
    if bias.len() != dirs * 2 * gates * hidden {
        return Err("B has the wrong size".into());
    }
    let lens: Vec<usize> = match ins.opt(4) {
        Some(t) => t
            .to_i64_vec()
            .ok_or("sequence_lens must be integers")?
            .iter()
            .map(|&v| to_usize(v, "sequence length").map(|v| v.min(seq)))
            .collect::<Result<_, _>>()?,
        None => vec![seq; batch],
    };
    if lens.len() != batch {
        return Err("sequence_lens must have one entry per batch item".into());
    }
    let state = |i: usize| -> Result<Vec<f32>, String> {
        match ins.opt(i) {
            None => Ok(vec![0.0; dirs * batch * hidden]),
            Some(t) => {
                let a = f32s(t)?;
                let v: Vec<f32> = if op.layout == 0 {
                    contiguous(a).into_owned()
                } else {
                    a.view().permuted_axes(vec![1, 0, 2]).iter().copied().collect()
                };
                if v.len() != dirs * batch * hidden {
                    Err(format!("initial state {i} has the wrong size"))
                } else {
                    Ok(v)
                }
            }
        }
    };
    let h0 = state(5)?;
    let c0 = if op.kind == RnnKind::Lstm { state(6)? } else { vec![] };
    let peep = match (op.kind, ins.opt(7)) {
        (RnnKind::Lstm, Some(p)) => Some(contiguous(f32s(p)?).into_owned()),
        _ => None,
    };
    let per_dir = if op.kind == RnnKind::Lstm { 3 } else { 2 };
    let acts = activations(op, per_dir, dirs)?;
    let (wd, rd) = (contiguous(w), contiguous(r));
    let mut y = vec![0f32; seq * dirs * batch * hidden];
    let mut yh = vec![0f32; dirs * batch * hidden];
    let mut yc = vec![0f32; dirs * batch * hidden];
    for dir in 0..dirs {
        let reverse = op.direction == RnnDirection::Reverse || dir == 1;
        let gh = gates * hidden;
        let wdir = &wd[dir * gh * input..(dir + 1) * gh * input];
        let rdir = &rd[dir * gh * hidden..(dir + 1) * gh * hidden];
        let (wb, rb) = (&bias[dir * 2 * gh..dir * 2 * gh + gh], &bias[dir * 2 * gh + gh..(dir + 1) * 2 * gh]);
        let mut xw = vec![0f32; seq * batch * gh];
        mul_bt(&xv, wdir, &mut xw, seq * batch, gh, input);
        let mut h = h0[dir * batch * hidden..(dir + 1) * batch * hidden].to_vec();
        let mut c = if c0.is_empty() { vec![] } else { c0[dir * batch * hidden..(dir + 1) * batch * hidden].to_vec() };
        let act = &acts[dir * per_dir..(dir + 1) * per_dir];
        let p = peep.as_ref().map(|p| &p[dir * 3 * hidden..(dir + 1) * 3 * hidden]);
        let step = StepCtx { op, d: &d, xw: &xw, rdir, wb, rb, act, peep: p, lens: &lens, reverse };
        for s in 0..seq {
            step.run(s, &mut h, &mut c, &mut |t, b, hv| {
                let o = ((t * dirs + dir) * batch + b) * hidden;
                y[o..o + hidden].copy_from_slice(hv);
            });
        }
        yh[dir * batch * hidden..(dir + 1) * batch * hidden].copy_from_slice(&h);
        if !c.is_empty() {
            yc[dir * batch * hidden..(dir + 1) * batch * hidden].copy_from_slice(&c);
        }
    }
    let (y, yh, yc) = if op.layout == 0 {
        (array(&[seq, dirs, batch, hidden], y)?, array(&[dirs, batch, hidden], yh)?, array(&[dirs, batch, hidden], yc)?)
    } else {
        let y =
            array(&[seq, dirs, batch, hidden], y)?.permuted_axes(vec![2, 0, 1, 3]).as_standard_layout().into_owned();
        let t = |v| {
            array(&[dirs, batch, hidden], v).map(|a| a.permuted_axes(vec![1, 0, 2]).as_standard_layout().into_owned())
        };
        (y, t(yh)?, t(yc)?)
    };
    let mut out = vec![Some(Tensor::F32(y)), Some(Tensor::F32(yh))];
    if op.kind == RnnKind::Lstm && n_out > 2 {
        out.push(Some(Tensor::F32(yc)));
    }
    Ok(out)
}

struct StepCtx<'a> {
    op: &'a Rnn,
    d: &'a Dims,
    xw: &'a [f32],
    rdir: &'a [f32],
    wb: &'a [f32],
    rb: &'a [f32],
    act: &'a [Act],
    peep: Option<&'a [f32]>,
    lens: &'a [usize],
    reverse: bool,
}

impl StepCtx<'_> {
    /// Advances every batch item whose sequence has a step `s`; `emit(t, b, h)` records outputs.
    fn run(&self, s: usize, h: &mut [f32], c: &mut [f32], emit: &mut dyn FnMut(usize, usize, &[f32])) {
        let Dims { batch, hidden, gates, .. } = *self.d;
        let gh = gates * hidden;
        let mut hr = vec![0f32; batch * gh];
        mul_bt(h, self.rdir, &mut hr, batch, gh, hidden);
        let clip = |v: f32| match self.op.clip {
            Some(cl) => v.clamp(-cl, cl),
            None => v,
        };
        for b in 0..batch {
            let len = self.lens[b];
            if s >= len {
                continue;
            }
            let t = if self.reverse { len - 1 - s } else { s };
            let xw = &self.xw[(t * batch + b) * gh..(t * batch + b + 1) * gh];
            let hrb = &hr[b * gh..(b + 1) * gh];
            let hb = &mut h[b * hidden..(b + 1) * hidden];
            match self.op.kind {
                RnnKind::Lstm => {
                    let cb = &mut c[b * hidden..(b + 1) * hidden];
                    for j in 0..hidden {
                        let pre = |g: usize| {
                            xw[g * hidden + j] + hrb[g * hidden + j] + self.wb[g * hidden + j] + self.rb[g * hidden + j]
                        };
                        let pp = |k: usize| self.peep.map_or(0.0, |p| p[k * hidden + j]);
                        let i = self.act[0].apply(clip(pre(0) + pp(0) * cb[j]));
                        let f = if self.op.input_forget {
                            1.0 - i
                        } else {
                            self.act[0].apply(clip(pre(2) + pp(2) * cb[j]))
                        };
                        let g = self.act[1].apply(clip(pre(3)));
                        let cn = f * cb[j] + i * g;
                        let o = self.act[0].apply(clip(pre(1) + pp(1) * cn));
                        cb[j] = cn;
                        hb[j] = o * self.act[2].apply(cn);
                    }
                }
                RnnKind::Gru => {
                    let rh: Vec<f32> = if self.op.linear_before_reset {
                        vec![]
                    } else {
                        let mut r_h = vec![0f32; hidden];
                        for j in 0..hidden {
                            let rg = self.act[0].apply(clip(
                                xw[hidden + j] + hrb[hidden + j] + self.wb[hidden + j] + self.rb[hidden + j],
                            ));
                            r_h[j] = rg * hb[j];
                        }
                        let mut o = vec![0f32; hidden];
                        mul_bt(&r_h, &self.rdir[2 * hidden * hidden..], &mut o, 1, hidden, hidden);
                        o
                    };
                    let mut hn = vec![0f32; hidden];
                    for j in 0..hidden {
                        let z = self.act[0].apply(clip(xw[j] + hrb[j] + self.wb[j] + self.rb[j]));
                        let rg = self.act[0]
                            .apply(clip(xw[hidden + j] + hrb[hidden + j] + self.wb[hidden + j] + self.rb[hidden + j]));
                        let k = 2 * hidden + j;
                        let cand = if self.op.linear_before_reset {
                            xw[k] + rg * (hrb[k] + self.rb[k]) + self.wb[k]
                        } else {
                            xw[k] + rh[j] + self.rb[k] + self.wb[k]
                        };
                        let ht = self.act[1].apply(clip(cand));
                        hn[j] = (1.0 - z) * ht + z * hb[j];
                    }
                    hb.copy_from_slice(&hn);
                }
            }
            emit(t, b, hb);
        }
    }
}
