//! ConvTranspose (1-D and 2-D) through the kernels crate.

use ptq_ir::Tensor;
use ptq_ir::ops::conv_transpose::ConvTranspose;
use ptq_ir::ops::spatial::AutoPad;
use ptq_kernels::{ConvTranspose2d, Threads, conv_transpose2d};

use super::conv::{as_2d, per_axis};
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s, to_usize};

/// Runs ConvTranspose, honouring output_padding, output_shape and auto_pad.
pub fn run(op: &ConvTranspose, ins: &mut Inputs, _n: usize) -> Out {
    let x = f32s(ins.get(0)?)?;
    let w = f32s(ins.get(1)?)?;
    let b = ins.opt(2).map(f32s).transpose()?;
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() < 3 || ws.len() != xs.len() {
        return Err(format!("input {xs:?} and weight {ws:?} ranks do not fit"));
    }
    let sp = xs.len() - 2;
    let group = to_usize(op.group, "group")?.max(1);
    let (n, c) = (xs[0], xs[1]);
    if ws[0] != c || c % group != 0 {
        return Err(format!("input channels {c}, weight {ws:?} and group {group} do not fit"));
    }
    let m = ws[1] * group;
    let kernel = &ws[2..];
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let out_pad = match &op.output_padding {
        None => vec![0; sp],
        Some(v) => per_axis(&Some(v.clone()), sp, "output_padding")?,
    };
    let mut pads = vec![(0usize, 0usize); sp];
    let mut out = vec![0usize; sp];
    for i in 0..sp {
        let full = stride[i] * (xs[i + 2].max(1) - 1) + out_pad[i] + (kernel[i] - 1) * dil[i] + 1;
        let target = match (&op.output_shape, op.auto_pad) {
            (Some(os), _) => Some(to_usize(os[os.len().saturating_sub(sp) + i], "output_shape")?),
            (None, AutoPad::SameUpper | AutoPad::SameLower) => Some(xs[i + 2] * stride[i]),
            _ => None,
        };
        match target {
            Some(t) => {
                let total = full.saturating_sub(t);
                let small = total / 2;
                pads[i] =
                    if op.auto_pad == AutoPad::SameLower { (total - small, small) } else { (small, total - small) };
                out[i] = t;
            }
            None => {
                if let Some(p) = &op.pads {
                    if p.len() != 2 * sp {
                        return Err(format!("{} pads for {sp} spatial axes", p.len()));
                    }
                    pads[i] = (to_usize(p[i], "pad")?, to_usize(p[i + sp], "pad")?);
                }
                out[i] = full.checked_sub(pads[i].0 + pads[i].1).ok_or("pads exceed the output size")?;
            }
        }
    }
    let [h, wd] = as_2d(&xs[2..], 1)?;
    let [kh, kw] = as_2d(kernel, 1)?;
    let [sh, sw] = as_2d(&stride, 1)?;
    let [dh, dw] = as_2d(&dil, 1)?;
    let [out_h, out_w] = as_2d(&out, 1)?;
    let (pt, pl, pb, pr) =
        if sp == 1 { (0, pads[0].0, 0, pads[0].1) } else { (pads[0].0, pads[1].0, pads[0].1, pads[1].1) };
    let p = ConvTranspose2d {
        n,
        c,
        h,
        w: wd,
        m,
        kh,
        kw,
        stride: [sh, sw],
        dilation: [dh, dw],
        pads: [pt, pl, pb, pr],
        group,
        out_h,
        out_w,
    };
    let bias = b.map(|b| contiguous(b).into_owned());
    if bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(format!("bias must have {m} entries"));
    }
    let mut y = vec![0f32; n * m * out_h * out_w];
    conv_transpose2d(&p, &contiguous(x), &contiguous(w), bias.as_deref(), &mut y, Threads::Rayon);
    let mut shape = vec![n, m];
    shape.extend_from_slice(&out);
    one(Tensor::F32(array(&shape, y)?))
}
