//! DFT, which the IR keeps opaque: the discrete Fourier transform of
//! `input` `[batch, .., n, .., 1 or 2]` (last axis: real, or real and
//! imaginary) along `axis` (opset 20: the optional scalar input, default
//! −2; opsets 17–19: the attribute, default 1; negative counts over the
//! input's rank), zero-padded or truncated to the optional `dft_length`.
//! `inverse` uses the conjugate kernel and divides by the length;
//! `onesided` keeps the first ⌊L/2⌋ + 1 frequencies. Output: the same axes
//! with a last axis of 2. Radix-2 FFT for power-of-two lengths, else a
//! direct sum over a twiddle table; computed in f64.

use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// The longest transform that is not a power of two (summed directly, O(L²)).
pub const MAX_DIRECT: usize = 1 << 14;

/// DFT's settings.
#[derive(Clone, Copy, Debug)]
pub struct Dft {
    axis: Option<i64>,
    inverse: bool,
    onesided: bool,
}

/// Reads `axis`, `inverse` and `onesided`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let axis = a.ints("axis")?.and_then(|v| v.first().copied());
    kern(Dft { axis, inverse: a.int("inverse", 0)? != 0, onesided: a.int("onesided", 0)? != 0 }, run)
}

/// The transform of one complex line (`re`, `im`, both of length `l`), in place.
pub fn transform(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let l = re.len();
    if l <= 1 {
        return;
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    if l.is_power_of_two() {
        // Bit-reversal permutation, then iterative butterflies.
        let bits = l.trailing_zeros();
        for i in 0..l {
            let j = i.reverse_bits() >> (usize::BITS - bits);
            if j > i {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= l {
            let ang = sign * 2.0 * std::f64::consts::PI / len as f64;
            for start in (0..l).step_by(len) {
                for k in 0..len / 2 {
                    let (s, c) = (ang * k as f64).sin_cos();
                    let (a, b) = (start + k, start + k + len / 2);
                    let (tr, ti) = (re[b] * c - im[b] * s, re[b] * s + im[b] * c);
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    } else {
        let tw: Vec<(f64, f64)> =
            (0..l).map(|m| (sign * 2.0 * std::f64::consts::PI * m as f64 / l as f64).sin_cos()).collect();
        let (xr, xi) = (re.to_vec(), im.to_vec());
        for k in 0..l {
            let (mut sr, mut si) = (0.0, 0.0);
            for j in 0..l {
                let (s, c) = tw[(j * k) % l];
                sr += xr[j] * c - xi[j] * s;
                si += xr[j] * s + xi[j] * c;
            }
            re[k] = sr;
            im[k] = si;
        }
    }
    if inverse {
        let inv = 1.0 / l as f64;
        re.iter_mut().chain(im.iter_mut()).for_each(|v| *v *= inv);
    }
}

/// Runs DFT.
pub fn run(op: &Dft, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let s = x.shape().to_vec();
    let r = s.len();
    let comps = *s.last().ok_or("input must have rank 2 or more")?;
    if r < 2 || !(1..=2).contains(&comps) {
        return Err(format!("input {s:?} must end in an axis of 1 or 2"));
    }
    let axis = match (ins.opt_ints(2)?, op.axis) {
        (Some(v), _) => *v.first().ok_or("axis must be a scalar")?,
        (None, Some(a)) => a,
        (None, None) if ins.len() > 2 => -2,
        (None, None) => 1,
    };
    let ax = crate::util::axis(axis, r)?;
    if ax == r - 1 {
        return Err("axis must not be the last (complex) axis".into());
    }
    let n = s[ax];
    let l = match ins.opt_ints(1)? {
        Some(v) => match v.as_slice() {
            [d] if (1..=1 << 24).contains(d) => *d as usize,
            d => return Err(format!("dft_length must be one positive integer, got {d:?}")),
        },
        None => n,
    };
    if !l.is_power_of_two() && l > MAX_DIRECT {
        return Err(format!(
            "a transform of length {l} (not a power of two) longer than {MAX_DIRECT} is not supported"
        ));
    }
    if op.onesided && comps == 2 {
        return Err("a one-sided transform needs real input".into());
    }
    let keep = if op.onesided { l / 2 + 1 } else { l };
    let outer: usize = s[..ax].iter().product();
    let inner: usize = s[ax + 1..r - 1].iter().product();
    let v = floats(x, "input")?;
    let mut out_shape = s.clone();
    out_shape[ax] = keep;
    out_shape[r - 1] = 2;
    if ptq_ir::tensor::checked_numel(&out_shape).is_none_or(|t| t > 1 << 31) {
        return Err(format!("output {out_shape:?} is too large"));
    }
    let mut y = vec![0f64; outer * keep * inner * 2];
    let (mut re, mut im) = (vec![0f64; l], vec![0f64; l]);
    for o in 0..outer {
        for i in 0..inner {
            re.iter_mut().chain(im.iter_mut()).for_each(|v| *v = 0.0);
            for j in 0..n.min(l) {
                let p = ((o * n + j) * inner + i) * comps;
                re[j] = v[p];
                if comps == 2 {
                    im[j] = v[p + 1];
                }
            }
            transform(&mut re, &mut im, op.inverse);
            for k in 0..keep {
                let p = ((o * keep + k) * inner + i) * 2;
                y[p] = re[k];
                y[p + 1] = im[k];
            }
        }
    }
    one(as_dtype(crate::util::array(&out_shape, y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use super::transform;
    use crate::ops::opaque::{assert_close, test_run_opt};

    #[test]
    fn fft_and_direct_sum_agree_and_invert() {
        for l in [4usize, 6] {
            let (mut re, mut im): (Vec<f64>, Vec<f64>) = (0..l).map(|i| (i as f64, (i * i) as f64 * 0.5)).unzip();
            let (r0, i0) = (re.clone(), im.clone());
            transform(&mut re, &mut im, false);
            // X[1] by definition.
            let (mut sr, mut si) = (0.0, 0.0);
            for j in 0..l {
                let a = -2.0 * std::f64::consts::PI * j as f64 / l as f64;
                sr += r0[j] * a.cos() - i0[j] * a.sin();
                si += r0[j] * a.sin() + i0[j] * a.cos();
            }
            assert!((re[1] - sr).abs() < 1e-9 && (im[1] - si).abs() < 1e-9);
            transform(&mut re, &mut im, true);
            assert!(re.iter().zip(&r0).chain(im.iter().zip(&i0)).all(|(a, b)| (a - b).abs() < 1e-9));
        }
    }

    #[test]
    fn one_sided_real_transform() {
        let x = Tensor::F32(crate::util::array(&[1, 4, 1], vec![1.0, 0.0, 0.0, 0.0]).unwrap());
        let y = test_run_opt("DFT", &[("onesided", Attr::Int(1))], vec![Some(x)], 1).unwrap();
        assert_close(&y[0], &[1, 3, 2], &[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    }
}
