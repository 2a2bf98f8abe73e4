//! DeformConv, which the IR keeps opaque: a 2-D convolution (`dilations`,
//! `group`, `pads`, `strides`) whose kernel taps are moved by `offset` `[N,
//! offset_group · 2 · kH · kW, oH, oW]` (per tap: Δh then Δw) and weighted
//! by the optional `mask` `[N, offset_group · kH · kW, oH, oW]`; X is read
//! at the moved, fractional positions by bilinear interpolation with zeros
//! outside the image. Optional bias B `[oC]`. Floats, computed in f64.

use super::conv_integer::ConvGeometry;
use super::nll_loss::{as_dtype, floats};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::to_usize;

/// DeformConv's settings.
#[derive(Clone, Debug)]
pub struct DeformConv {
    dilations: Option<Vec<i64>>,
    group: i64,
    offset_group: i64,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    // Validates the shared attributes the same way Conv's are read.
    ConvGeometry::from_attrs(a)?;
    kern(
        DeformConv {
            dilations: a.geometry("dilations")?,
            group: a.int("group", 1)?,
            offset_group: a.int("offset_group", 1)?,
            pads: a.geometry("pads")?,
            strides: a.geometry("strides")?,
        },
        run,
    )
}

/// X's plane `p` (`h × w`) read bilinearly at (y, x), zero outside.
fn bilinear(p: &[f64], h: usize, w: usize, y: f64, x: f64) -> f64 {
    let (y0, x0) = (y.floor(), x.floor());
    let (ly, lx) = (y - y0, x - x0);
    let mut v = 0.0;
    for (dy, wy) in [(0.0, 1.0 - ly), (1.0, ly)] {
        for (dx, wx) in [(0.0, 1.0 - lx), (1.0, lx)] {
            let (yy, xx) = (y0 + dy, x0 + dx);
            if yy >= 0.0 && xx >= 0.0 && yy < h as f64 && xx < w as f64 {
                v += wy * wx * p[yy as usize * w + xx as usize];
            }
        }
    }
    v
}

/// Runs DeformConv.
pub fn run(op: &DeformConv, ins: &mut Inputs, _n: usize) -> Out {
    let (x, wt, off) = (ins.get(0)?, ins.get(1)?, ins.get(2)?);
    let (&[n, c, h, w], &[m, cg, kh, kw]) = (x.shape(), wt.shape()) else {
        return Err(format!("X {:?} and W {:?} must be 4-D", x.shape(), wt.shape()));
    };
    let group = to_usize(op.group, "group")?.max(1);
    let og = to_usize(op.offset_group, "offset_group")?.max(1);
    if c != cg * group || m % group != 0 || c % og != 0 || kh == 0 || kw == 0 {
        return Err(format!("X {:?}, W {:?}, group {group} and offset_group {og} do not fit", x.shape(), wt.shape()));
    }
    let stride = super::conv::per_axis(&op.strides, 2, "strides")?;
    let dil = super::conv::per_axis(&op.dilations, 2, "dilations")?;
    let pads = match &op.pads {
        None => vec![0; 4],
        Some(p) if p.len() == 4 => p.iter().map(|&v| to_usize(v, "pads")).collect::<Result<_, _>>()?,
        Some(p) => return Err(format!("{} pads for 2 spatial axes", p.len())),
    };
    let eff = |k: usize, d: usize| (k - 1) * d + 1;
    let (ph, pw) = (h + pads[0] + pads[2], w + pads[1] + pads[3]);
    if ph < eff(kh, dil[0]) || pw < eff(kw, dil[1]) {
        return Err("the kernel is larger than the padded input".into());
    }
    let (oh, ow) = ((ph - eff(kh, dil[0])) / stride[0] + 1, (pw - eff(kw, dil[1])) / stride[1] + 1);
    let k = kh * kw;
    if off.shape() != [n, og * 2 * k, oh, ow] {
        return Err(format!("offset {:?} must be [{n}, {}, {oh}, {ow}]", off.shape(), og * 2 * k));
    }
    let mask = ins.opt(4).map(|t| floats(t, "mask")).transpose()?;
    if ins.opt(4).is_some_and(|t| t.shape() != [n, og * k, oh, ow]) {
        return Err(format!("mask must be [{n}, {}, {oh}, {ow}]", og * k));
    }
    let bias = ins.opt(3).map(|t| floats(t, "B")).transpose()?;
    if bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(format!("B must have {m} values"));
    }
    let (xv, wv, ov) = (floats(x, "X")?, floats(wt, "W")?, floats(off, "offset")?);
    let (mg, cog) = (m / group, c / og);
    let o_sp = oh * ow;
    let mut y = vec![0f64; n * m * o_sp];
    // Sampled input column: per input channel and tap, one value per output position.
    let mut col = vec![0f64; c * k * o_sp];
    for b in 0..n {
        for ic in 0..c {
            let g = ic / cog;
            let plane = &xv[(b * c + ic) * h * w..(b * c + ic + 1) * h * w];
            for t in 0..k {
                let (i, j) = (t / kw, t % kw);
                let dyc = ((b * og + g) * 2 * k + 2 * t) * o_sp;
                let dxc = dyc + o_sp;
                for p in 0..o_sp {
                    let (r, s) = (p / ow, p % ow);
                    let yy = (r * stride[0] + i * dil[0]) as f64 - pads[0] as f64 + ov[dyc + p];
                    let xx = (s * stride[1] + j * dil[1]) as f64 - pads[1] as f64 + ov[dxc + p];
                    let mk = mask.as_ref().map_or(1.0, |mv| mv[((b * og + g) * k + t) * o_sp + p]);
                    col[(ic * k + t) * o_sp + p] = bilinear(plane, h, w, yy, xx) * mk;
                }
            }
        }
        for oc in 0..m {
            let g = oc / mg.max(1);
            let out = &mut y[(b * m + oc) * o_sp..(b * m + oc + 1) * o_sp];
            out.iter_mut().for_each(|v| *v = bias.as_ref().map_or(0.0, |bv| bv[oc]));
            for icg in 0..cg {
                let ic = g * cg + icg;
                for t in 0..k {
                    let wgt = wv[(oc * cg + icg) * k + t];
                    let src = &col[(ic * k + t) * o_sp..(ic * k + t + 1) * o_sp];
                    out.iter_mut().zip(src).for_each(|(o, s)| *o += wgt * s);
                }
            }
        }
    }
    one(as_dtype(crate::util::array(&[n, m, oh, ow], y)?, x)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn offsets_move_the_taps() {
        // 1×1×1×3 image [1, 2, 3], a 1×1 kernel of 1, offsets Δw = 0.5 everywhere.
        let x = Tensor::F32(crate::util::array(&[1, 1, 1, 3], vec![1.0, 2.0, 3.0]).unwrap());
        let w = Tensor::F32(crate::util::array(&[1, 1, 1, 1], vec![1.0]).unwrap());
        let off = Tensor::F32(crate::util::array(&[1, 2, 1, 3], vec![0.0, 0.0, 0.0, 0.5, 0.5, 0.5]).unwrap());
        let y = test_run("DeformConv", &[], vec![x.clone(), w.clone(), off]).unwrap();
        assert_close(&y[0], &[1, 1, 1, 3], &[1.5, 2.5, 1.5]);
        assert!(test_run("DeformConv", &[], vec![x, w, Tensor::from_f32s(&[0.0])]).is_err());
    }
}
