//! Conv: 1-D and 2-D through the kernels crate, more spatial axes through
//! [`super::conv_nd`].

use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_ir::ops::conv::Conv;
use ptq_ir::ops::spatial::AutoPad;
use ptq_kernels::{Conv2d, conv2d};

use super::conv_nd::{ConvNd, conv_nd};
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s, to_usize};

/// Per-axis (begin, end) padding for a window, resolving `auto_pad`.
pub fn resolve_pads(
    auto_pad: AutoPad,
    pads: &Option<Vec<i64>>,
    input: &[usize],
    kernel: &[usize],
    stride: &[usize],
    dilation: &[usize],
) -> Result<Vec<(usize, usize)>, String> {
    let n = input.len();
    match auto_pad {
        AutoPad::NotSet => match pads {
            None => Ok(vec![(0, 0); n]),
            Some(p) if p.len() == 2 * n => {
                (0..n).map(|i| Ok((to_usize(p[i], "pad")?, to_usize(p[i + n], "pad")?))).collect()
            }
            Some(p) => Err(format!("{} pads for {n} spatial axes", p.len())),
        },
        AutoPad::Valid => Ok(vec![(0, 0); n]),
        AutoPad::SameUpper | AutoPad::SameLower => Ok((0..n)
            .map(|i| {
                let out = input[i].div_ceil(stride[i]);
                let eff = (kernel[i] - 1) * dilation[i] + 1;
                let total = ((out - 1) * stride[i] + eff).saturating_sub(input[i]);
                let small = total / 2;
                if auto_pad == AutoPad::SameUpper { (small, total - small) } else { (total - small, small) }
            })
            .collect()),
    }
}

/// Reads an optional per-axis attribute with default 1; every entry must be positive.
pub fn per_axis(v: &Option<Vec<i64>>, n: usize, what: &str) -> Result<Vec<usize>, String> {
    match v {
        None => Ok(vec![1; n]),
        Some(v) if v.len() == n => v
            .iter()
            .map(|&x| match to_usize(x, what)? {
                0 => Err(format!("{what} must be positive, got 0")),
                x => Ok(x),
            })
            .collect(),
        Some(v) => Err(format!("{what} has {} entries for {n} spatial axes", v.len())),
    }
}

/// Spatial dims as 2-D (1-D convolutions get height 1).
pub fn as_2d(v: &[usize], fill: usize) -> Result<[usize; 2], String> {
    match v {
        [w] => Ok([fill, *w]),
        [h, w] => Ok([*h, *w]),
        _ => Err(format!("{}-D spatial data is not supported (only 1-D and 2-D)", v.len())),
    }
}

/// The f32 X, W and optional B of a (transposed) convolution, with the
/// number of spatial axes and the group count, checked for matching ranks.
pub type ConvOperands<'a> = (&'a ArrayD<f32>, &'a ArrayD<f32>, Option<&'a ArrayD<f32>>, usize, usize);

/// Reads and checks the operands shared by Conv and ConvTranspose.
pub fn operands<'a>(ins: &'a Inputs, group: i64) -> Result<ConvOperands<'a>, String> {
    let x = f32s(ins.get(0)?)?;
    let w = f32s(ins.get(1)?)?;
    let b = ins.opt(2).map(f32s).transpose()?;
    let (xs, ws) = (x.shape(), w.shape());
    if xs.len() < 3 || ws.len() != xs.len() {
        return Err(format!("input {xs:?} and weight {ws:?} ranks do not fit"));
    }
    Ok((x, w, b, xs.len() - 2, to_usize(group, "group")?.max(1)))
}

/// Runs Conv.
pub fn run(op: &Conv, ins: &mut Inputs, _n: usize) -> Out {
    let (x, w, b, sp, group) = operands(ins, op.group)?;
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c, m) = (xs[0], xs[1], ws[0]);
    if c != ws[1] * group || m % group != 0 {
        return Err(format!("input channels {c}, weight {ws:?} and group {group} do not fit"));
    }
    let kernel = &ws[2..];
    if kernel.contains(&0) {
        return Err(format!("weight {ws:?} has an empty kernel"));
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let pads = resolve_pads(op.auto_pad, &op.pads, &xs[2..], kernel, &stride, &dil)?;
    if sp > 2 {
        let bias = b.map(|b| contiguous(b).into_owned());
        if bias.as_ref().is_some_and(|b| b.len() != m) {
            return Err(format!("bias must have {m} entries"));
        }
        let p = ConvNd { xs, ws, stride: &stride, dilation: &dil, pads: &pads, group };
        let (y, shape) = conv_nd(&p, &contiguous(x), &contiguous(w), bias.as_deref(), ins.threads)?;
        return one(Tensor::F32(array(&shape, y)?));
    }
    let [h, wd] = as_2d(&xs[2..], 1)?;
    let [kh, kw] = as_2d(kernel, 1)?;
    let [sh, sw] = as_2d(&stride, 1)?;
    let [dh, dw] = as_2d(&dil, 1)?;
    let (pt, pl, pb, pr) =
        if sp == 1 { (0, pads[0].0, 0, pads[0].1) } else { (pads[0].0, pads[1].0, pads[0].1, pads[1].1) };
    let p = Conv2d { n, c, h, w: wd, m, kh, kw, stride: [sh, sw], dilation: [dh, dw], pads: [pt, pl, pb, pr], group };
    if h + pt + pb < (kh - 1) * dh + 1 || wd + pl + pr < (kw - 1) * dw + 1 {
        return Err("the kernel is larger than the padded input".into());
    }
    let [oh, ow] = p.out_hw();
    let mut y = vec![0f32; n * m * oh * ow];
    let bias = b.map(|b| contiguous(b).into_owned());
    if bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(format!("bias must have {m} entries"));
    }
    conv2d(&p, &contiguous(x), &contiguous(w), bias.as_deref(), &mut y, ins.threads);
    let mut shape = vec![n, m];
    if sp == 1 {
        shape.push(ow);
    } else {
        shape.extend([oh, ow]);
    }
    one(Tensor::F32(array(&shape, y)?))
}
