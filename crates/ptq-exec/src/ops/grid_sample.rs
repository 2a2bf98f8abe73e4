//! GridSample, which the IR keeps opaque: samples X `[N, C, D1..Dk]` (k = 2
//! or 3) at the normalised coordinates of `grid` `[N, O1..Ok, k]` (last axis
//! x, y[, z], i.e. the spatial axes in reverse), giving `[N, C, O1..Ok]`.
//! Coordinates −1 and 1 are the outer pixels' centres (`align_corners` = 1)
//! or edges (0). `mode`: linear/bilinear, nearest (round half to even),
//! cubic/bicubic (Keys, a = −0.75); `padding_mode`: zeros, border (clamp),
//! reflection (at the borders the alignment defines). As the ONNX reference
//! does, a coordinate outside the border is first clamped or reflected, and
//! each tap outside the image is then read per padding mode. Floats,
//! computed in f64.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    Linear,
    Nearest,
    Cubic,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Padding {
    Zeros,
    Border,
    Reflection,
}

/// GridSample's settings.
#[derive(Clone, Copy, Debug)]
pub struct GridSample {
    mode: Mode,
    padding: Padding,
    align: bool,
}

/// Reads `mode`, `padding_mode` and `align_corners`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let mode = match a.string("mode", "linear")?.as_str() {
        "linear" | "bilinear" => Mode::Linear,
        "nearest" => Mode::Nearest,
        "cubic" | "bicubic" => Mode::Cubic,
        m => return Err(format!("unknown mode {m:?}")),
    };
    let padding = match a.string("padding_mode", "zeros")?.as_str() {
        "zeros" => Padding::Zeros,
        "border" => Padding::Border,
        "reflection" => Padding::Reflection,
        p => return Err(format!("unknown padding_mode {p:?}")),
    };
    kern(GridSample { mode, padding, align: a.int("align_corners", 0)? != 0 }, run)
}

/// Reflects `x` into `[lo, hi]` by its nearer border, repeatedly.
fn reflect(x: f64, lo: f64, hi: f64) -> f64 {
    let rng = hi - lo;
    if rng <= 0.0 {
        return lo;
    }
    let (d, from_lo) = if x < lo {
        (lo - x, true)
    } else if x > hi {
        (x - hi, false)
    } else {
        return x;
    };
    let n = (d / rng).trunc();
    let r = d - n * rng;
    if (n as i64 % 2 == 0) == from_lo { lo + r } else { hi - r }
}

fn cubic(t: f64) -> [f64; 4] {
    let a = -0.75;
    let x = t.abs();
    [
        ((a * (x + 1.0) - 5.0 * a) * (x + 1.0) + 8.0 * a) * (x + 1.0) - 4.0 * a,
        ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0,
        ((a + 2.0) * (1.0 - x) - (a + 3.0)) * (1.0 - x) * (1.0 - x) + 1.0,
        ((a * (2.0 - x) - 5.0 * a) * (2.0 - x) + 8.0 * a) * (2.0 - x) - 4.0 * a,
    ]
}

/// Runs GridSample.
pub fn run(op: &GridSample, ins: &mut Inputs, _n: usize) -> Out {
    let (x, g) = (ins.get(0)?, ins.get(1)?);
    let (xs, gs) = (x.shape(), g.shape());
    let k = xs.len().saturating_sub(2);
    if !(1..=3).contains(&k) || gs.len() != k + 2 || gs[0] != xs[0] || gs[k + 1] != k {
        return Err(format!("input {xs:?} and grid {gs:?} do not fit"));
    }
    let (n, c) = (xs[0], xs[1]);
    let dims = &xs[2..];
    let plane: usize = dims.iter().product();
    let outs: usize = gs[1..=k].iter().product();
    let xv = floats(x, "X")?;
    let gv = floats(g, "grid")?;
    let (lo, hi): (Vec<f64>, Vec<f64>) =
        dims.iter().map(|&d| if op.align { (0.0, d as f64 - 1.0) } else { (-0.5, d as f64 - 0.5) }).unzip();
    let mut y = vec![0f64; n * c * outs];
    // Per axis: the taps (index, weight) of the current output point.
    let mut taps: Vec<Vec<(i64, f64)>> = vec![Vec::with_capacity(4); k];
    for b in 0..n {
        for o in 0..outs {
            let gp = &gv[(b * outs + o) * k..(b * outs + o + 1) * k];
            for (i, t) in taps.iter_mut().enumerate() {
                let v = gp[k - 1 - i];
                let d = dims[i] as f64;
                let mut p = if op.align { (v + 1.0) / 2.0 * (d - 1.0) } else { ((v + 1.0) * d - 1.0) / 2.0 };
                if op.mode == Mode::Nearest {
                    p = p.round_ties_even();
                }
                if p < lo[i] || p > hi[i] {
                    match op.padding {
                        Padding::Border => p = p.clamp(0.0, d - 1.0),
                        Padding::Reflection => p = reflect(p, lo[i], hi[i]),
                        Padding::Zeros => {}
                    }
                }
                t.clear();
                match op.mode {
                    Mode::Nearest => t.push((p as i64, 1.0)),
                    Mode::Linear => {
                        let f = p.floor();
                        t.extend([(f as i64, 1.0 - (p - f)), ((f as i64).saturating_add(1), p - f)]);
                    }
                    Mode::Cubic => {
                        let f = p.floor();
                        let w = cubic(p - f);
                        t.extend((0..4).map(|j| ((f as i64).saturating_add(j as i64 - 1), w[j])));
                    }
                }
                // Where each tap reads, per padding mode (None: zero).
                for tap in t.iter_mut() {
                    let len = dims[i] as i64;
                    tap.0 = match op.padding {
                        _ if (0..len).contains(&tap.0) => tap.0,
                        Padding::Zeros => -1,
                        Padding::Border => tap.0.clamp(0, len - 1),
                        Padding::Reflection => (reflect(tap.0 as f64, lo[i], hi[i]) as i64).clamp(0, len - 1),
                    };
                }
            }
            let total: usize = taps.iter().map(Vec::len).product();
            for ch in 0..c {
                let src = &xv[(b * c + ch) * plane..(b * c + ch + 1) * plane];
                let mut acc = 0.0;
                for t in 0..total {
                    let (mut rem, mut flat, mut w, mut zero) = (t, 0usize, 1.0, false);
                    for (i, ax) in taps.iter().enumerate().rev() {
                        let (idx, wt) = ax[rem % ax.len()];
                        rem /= ax.len();
                        if idx < 0 {
                            zero = true;
                        }
                        let stride: usize = dims[i + 1..].iter().product();
                        flat += idx.max(0) as usize * stride;
                        w *= wt;
                    }
                    if !zero {
                        acc += w * src[flat];
                    }
                }
                y[(b * c + ch) * outs + o] = acc;
            }
        }
    }
    let mut shape = vec![n, c];
    shape.extend_from_slice(&gs[1..=k]);
    one(as_dtype(crate::util::array(&shape, y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn samples_linear_nearest_and_padding() {
        // A 1×1×2×2 image [[0, 1], [2, 3]].
        let x = Tensor::F32(crate::util::array(&[1, 1, 2, 2], vec![0.0, 1.0, 2.0, 3.0]).unwrap());
        // The centre, the top-left pixel centre (align_corners = 0: −0.5), and far outside.
        let g = Tensor::F32(crate::util::array(&[1, 1, 3, 2], vec![0.0, 0.0, -0.5, -0.5, 3.0, 0.0]).unwrap());
        let y = test_run("GridSample", &[], vec![x.clone(), g.clone()]).unwrap();
        assert_close(&y[0], &[1, 1, 1, 3], &[1.5, 0.0, 0.0]);
        let border = [("padding_mode", Attr::String(b"border".to_vec()))];
        let y = test_run("GridSample", &border, vec![x.clone(), g.clone()]).unwrap();
        assert_close(&y[0], &[1, 1, 1, 3], &[1.5, 0.0, 2.0]);
        let nearest = [("mode", Attr::String(b"nearest".to_vec())), ("align_corners", Attr::Int(1))];
        let y = test_run("GridSample", &nearest, vec![x.clone(), g]).unwrap();
        // align_corners = 1: (0, 0) → 0.5 rounds to 0; (−0.5, −0.5) → 0.25 → 0; x = 3 → 2 (outside, zero).
        assert_close(&y[0], &[1, 1, 1, 3], &[0.0, 0.0, 0.0]);
        assert!(test_run("GridSample", &[], vec![x, Tensor::from_f32s(&[0.0])]).is_err());
    }
}
