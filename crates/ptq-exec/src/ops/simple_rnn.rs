//! RNN (the simple recurrent layer), which the IR keeps opaque:
//! `H_t = f(X_t·Wᵀ + H_{t−1}·Rᵀ + Wb + Rb)` over X `[seq, batch, input]`
//! (`layout` 1: `[batch, seq, input]`), W `[dirs, hidden, input]`, R
//! `[dirs, hidden, hidden]`, optional B `[dirs, 2·hidden]`, sequence_lens
//! and initial_h; `direction` forward, reverse or bidirectional; `f` per
//! direction from `activations` (default Tanh) with `activation_alpha/beta`;
//! `clip` bounds the pre-activation. Outputs Y `[seq, dirs, batch, hidden]`
//! (zero past an item's length) and Y_h `[dirs, batch, hidden]` (layout 1:
//! batch first). f32.

use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::rnn::{Act, mul_bt, parse_activations};
use super::{Kernel, Out};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s, to_usize};

/// RNN's settings.
#[derive(Clone, Debug)]
pub struct SimpleRnn {
    acts: Vec<Act>,
    clip: Option<f32>,
    dirs: usize,
    reverse_only: bool,
    hidden: usize,
    layout: i64,
}

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let direction = a.string("direction", "forward")?;
    let (dirs, reverse_only) = match direction.as_str() {
        "forward" => (1, false),
        "reverse" => (1, true),
        "bidirectional" => (2, false),
        d => return Err(format!("unknown direction {d:?}")),
    };
    let names = a.strings("activations")?.unwrap_or_else(|| vec!["Tanh".into(); dirs]);
    if names.len() != dirs {
        return Err(format!("{} activations for {dirs} direction(s)", names.len()));
    }
    let (alpha, beta) = (a.floats("activation_alpha")?, a.floats("activation_beta")?);
    let acts = parse_activations(&names, alpha.as_deref(), beta.as_deref())?;
    let clip = a.floats("clip")?.and_then(|v| v.first().copied());
    let hidden = to_usize(a.int("hidden_size", 0)?, "hidden_size")?;
    kern(SimpleRnn { acts, clip, dirs, reverse_only, hidden, layout: a.int("layout", 0)? }, run)
}

/// Swaps the first two axes of a rank-3 row-major tensor `[a, b, c]`.
fn swap01(v: &[f32], a: usize, b: usize, c: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(v.len());
    for j in 0..b {
        for i in 0..a {
            out.extend_from_slice(&v[(i * b + j) * c..(i * b + j + 1) * c]);
        }
    }
    out
}

/// Runs RNN.
pub fn run(op: &SimpleRnn, ins: &mut Inputs, _n: usize) -> Out {
    let x = f32s(ins.get(0)?)?;
    let (w, r) = (f32s(ins.get(1)?)?, f32s(ins.get(2)?)?);
    let (&[a0, a1, input], true) = (x.shape(), x.ndim() == 3) else { return Err("X must have rank 3".into()) };
    let (seq, batch) = if op.layout == 0 { (a0, a1) } else { (a1, a0) };
    let (dirs, hidden) = (op.dirs, op.hidden);
    if w.shape() != [dirs, hidden, input] || r.shape() != [dirs, hidden, hidden] {
        return Err(format!(
            "W {:?} or R {:?} do not fit hidden_size {hidden} and {dirs} direction(s)",
            w.shape(),
            r.shape()
        ));
    }
    let xv = if op.layout == 0 { contiguous(x).into_owned() } else { swap01(&contiguous(x), batch, seq, input) };
    let bias = match ins.opt(3) {
        Some(b) => contiguous(f32s(b)?).into_owned(),
        None => vec![0.0; dirs * 2 * hidden],
    };
    if bias.len() != dirs * 2 * hidden {
        return Err(format!("B has {} values, expected {}", bias.len(), dirs * 2 * hidden));
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
    let h0 = match ins.opt(5) {
        None => vec![0.0; dirs * batch * hidden],
        Some(t) => {
            let v = contiguous(f32s(t)?).into_owned();
            if v.len() != dirs * batch * hidden {
                return Err("initial_h has the wrong size".into());
            }
            if op.layout == 0 { v } else { swap01(&v, batch, dirs, hidden) }
        }
    };
    let (wd, rd) = (contiguous(w), contiguous(r));
    let mut y = vec![0f32; seq * dirs * batch * hidden];
    let mut yh = vec![0f32; dirs * batch * hidden];
    let mut rh = vec![0f32; batch * hidden];
    for dir in 0..dirs {
        let reverse = op.reverse_only || dir == 1;
        let wdir = &wd[dir * hidden * input..(dir + 1) * hidden * input];
        let rdir = &rd[dir * hidden * hidden..(dir + 1) * hidden * hidden];
        let (wb, rb) =
            (&bias[dir * 2 * hidden..(dir * 2 + 1) * hidden], &bias[(dir * 2 + 1) * hidden..(dir + 1) * 2 * hidden]);
        let mut xw = vec![0f32; seq * batch * hidden];
        mul_bt(&xv, wdir, &mut xw, seq * batch, hidden, input);
        let mut h = h0[dir * batch * hidden..(dir + 1) * batch * hidden].to_vec();
        let act = op.acts[dir];
        for s in 0..seq {
            mul_bt(&h, rdir, &mut rh, batch, hidden, hidden);
            for (b, &len) in lens.iter().enumerate() {
                if s >= len {
                    continue;
                }
                let t = if reverse { len - 1 - s } else { s };
                for k in 0..hidden {
                    let mut v = xw[(t * batch + b) * hidden + k] + rh[b * hidden + k] + wb[k] + rb[k];
                    if let Some(c) = op.clip {
                        v = v.clamp(-c, c);
                    }
                    h[b * hidden + k] = act.apply(v);
                }
                let o = ((t * dirs + dir) * batch + b) * hidden;
                y[o..o + hidden].copy_from_slice(&h[b * hidden..(b + 1) * hidden]);
            }
        }
        yh[dir * batch * hidden..(dir + 1) * batch * hidden].copy_from_slice(&h);
    }
    let (y, yh) = if op.layout == 0 {
        (array(&[seq, dirs, batch, hidden], y)?, array(&[dirs, batch, hidden], yh)?)
    } else {
        let y =
            array(&[seq, dirs, batch, hidden], y)?.permuted_axes(vec![2, 0, 1, 3]).as_standard_layout().into_owned();
        (y, array(&[batch, dirs, hidden], swap01(&yh, dirs, batch, hidden))?)
    };
    Ok(vec![Some(Tensor::F32(y)), Some(Tensor::F32(yh))])
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run_opt};

    #[test]
    fn recurs_with_relu() {
        // seq 2, batch 1, input 1, hidden 1: h1 = relu(2·1 + 0) = 2, h2 = relu(2·3 + 0.5·2) = 7.
        let x = Tensor::F32(crate::util::array(&[2, 1, 1], vec![1.0, 3.0]).unwrap());
        let w = Tensor::F32(crate::util::array(&[1, 1, 1], vec![2.0]).unwrap());
        let r = Tensor::F32(crate::util::array(&[1, 1, 1], vec![0.5]).unwrap());
        let attrs = [("hidden_size", Attr::Int(1)), ("activations", Attr::Strings(vec![b"Relu".to_vec()]))];
        let y = test_run_opt("RNN", &attrs, vec![Some(x), Some(w), Some(r)], 2).unwrap();
        assert_close(&y[0], &[2, 1, 1, 1], &[2.0, 7.0]);
        assert_close(&y[1], &[1, 1, 1], &[7.0]);
    }
}
