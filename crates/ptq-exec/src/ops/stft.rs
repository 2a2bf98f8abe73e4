//! STFT, which the IR keeps opaque: the short-time Fourier transform of
//! `signal` `[batch, length, 1 or 2]`: frames of `frame_length` (the
//! optional scalar input, else the window's length) every `frame_step`
//! samples, each multiplied by the optional `window` and transformed (see
//! [`super::dft`]); `onesided` (default 1) keeps ⌊L/2⌋ + 1 frequencies.
//! Output `[batch, frames, bins, 2]`, frames = ⌊(length − L) / step⌋ + 1.

use super::dft::transform;
use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// STFT's settings.
#[derive(Clone, Copy, Debug)]
pub struct Stft {
    onesided: bool,
}

/// Reads `onesided`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(Stft { onesided: a.int("onesided", 1)? != 0 }, run)
}

/// Runs STFT.
pub fn run(op: &Stft, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let &[batch, len, comps] = x.shape() else { return Err(format!("signal must be 3-D, has shape {:?}", x.shape())) };
    if !(1..=2).contains(&comps) {
        return Err("signal must end in an axis of 1 or 2".into());
    }
    let step = match ins.ints(1)?.as_slice() {
        [s] if *s >= 1 => *s as usize,
        s => return Err(format!("frame_step must be one positive integer, got {s:?}")),
    };
    let window = ins.opt(2).map(|w| floats(w, "window")).transpose()?;
    let l = match (ins.opt_ints(3)?, &window) {
        (Some(v), _) => match v.as_slice() {
            [d] if *d >= 1 => *d as usize,
            d => return Err(format!("frame_length must be one positive integer, got {d:?}")),
        },
        (None, Some(w)) => w.len(),
        (None, None) => return Err("frame_length or window is required".into()),
    };
    if window.as_ref().is_some_and(|w| w.len() != l) || l > len {
        return Err(format!("frame length {l} does not fit the window or the signal of {len}"));
    }
    if !l.is_power_of_two() && l > super::dft::MAX_DIRECT {
        return Err(format!(
            "frames of {l} (not a power of two) longer than {} are not supported",
            super::dft::MAX_DIRECT
        ));
    }
    if op.onesided && comps == 2 {
        return Err("a one-sided transform needs a real signal".into());
    }
    let frames = (len - l) / step + 1;
    let bins = if op.onesided { l / 2 + 1 } else { l };
    let v = floats(x, "signal")?;
    let mut y = Vec::with_capacity(batch * frames * bins * 2);
    let (mut re, mut im) = (vec![0f64; l], vec![0f64; l]);
    for b in 0..batch {
        for f in 0..frames {
            for j in 0..l {
                let p = (b * len + f * step + j) * comps;
                let w = window.as_ref().map_or(1.0, |w| w[j]);
                re[j] = v[p] * w;
                im[j] = if comps == 2 { v[p + 1] * w } else { 0.0 };
            }
            transform(&mut re, &mut im, false);
            for k in 0..bins {
                y.extend([re[k], im[k]]);
            }
        }
    }
    one(as_dtype(crate::util::array(&[batch, frames, bins, 2], y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::{assert_close, test_run_opt};

    #[test]
    fn frames_and_transforms() {
        // Two frames of 2: [1, 1] and [1, −1] → bins (sum, difference).
        let x = Tensor::F32(crate::util::array(&[1, 3, 1], vec![1.0, 1.0, -1.0]).unwrap());
        let ins = vec![Some(x), Some(Tensor::from_i64s(&[1])), None, Some(Tensor::from_i64s(&[2]))];
        let y = test_run_opt("STFT", &[], ins, 1).unwrap();
        assert_close(&y[0], &[1, 2, 2, 2], &[2.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0]);
    }
}
