//! MaxPool and AveragePool (1-D and 2-D).

use ptq_ir::Tensor;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::spatial::AutoPad;
use rayon::prelude::*;

use super::Out;
use super::conv::{as_2d, per_axis, resolve_pads};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, f32s};

fn out_len(i: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, ceil: bool, auto: AutoPad) -> usize {
    let eff = (k - 1) * d + 1;
    match auto {
        AutoPad::SameUpper | AutoPad::SameLower => i.div_ceil(s),
        _ => {
            let span = (i + pb + pe).saturating_sub(eff);
            let mut o = if ceil { span.div_ceil(s) } else { span / s } + 1;
            if ceil && (o - 1) * s >= i + pb {
                o -= 1;
            }
            o
        }
    }
}

/// Runs the pooling op; MaxPool's optional second output holds flat row-major indices.
pub fn run(op: &Pool, ins: &mut Inputs, n_out: usize) -> Out {
    let x = f32s(ins.get(0)?)?;
    let xs = x.shape();
    if xs.len() < 3 {
        return Err(format!("input rank {} < 3", xs.len()));
    }
    let sp = xs.len() - 2;
    let kernel: Vec<usize> =
        op.kernel_shape.iter().map(|&v| crate::util::to_usize(v, "kernel")).collect::<Result<_, _>>()?;
    if kernel.len() != sp {
        return Err("kernel rank does not match the input".into());
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let pads = resolve_pads(op.auto_pad, &op.pads, &xs[2..], &kernel, &stride, &dil)?;
    let [h, w] = as_2d(&xs[2..], 1)?;
    let [kh, kw] = as_2d(&kernel, 1)?;
    let [sh, sw] = as_2d(&stride, 1)?;
    let [dh, dw] = as_2d(&dil, 1)?;
    let ((pt, pb), (pl, pr)) = if sp == 1 { ((0, 0), pads[0]) } else { (pads[0], pads[1]) };
    let oh = out_len(h, kh, sh, dh, pt, pb, op.ceil_mode, op.auto_pad);
    let ow = out_len(w, kw, sw, dw, pl, pr, op.ceil_mode, op.auto_pad);
    let planes = xs[0] * xs[1];
    let data = contiguous(x);
    let mut y = vec![0f32; planes * oh * ow];
    let mut idx = vec![0i64; if op.kind == PoolKind::Max && n_out > 1 { planes * oh * ow } else { 0 }];
    let want_idx = !idx.is_empty();
    let work = |(p, (yp, ip)): (usize, (&mut [f32], &mut [i64]))| {
        let src = &data[p * h * w..(p + 1) * h * w];
        for oy in 0..oh {
            for ox in 0..ow {
                let (mut best, mut best_i, mut sum, mut cnt) = (f32::NEG_INFINITY, -1i64, 0f32, 0usize);
                for ky in 0..kh {
                    let iy = (oy * sh + ky * dh) as isize - pt as isize;
                    for kx in 0..kw {
                        let ix = (ox * sw + kx * dw) as isize - pl as isize;
                        let inside = iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w;
                        if inside {
                            let v = src[iy as usize * w + ix as usize];
                            if v > best || best_i < 0 {
                                best = v;
                                best_i = (p * h * w) as i64 + iy as i64 * w as i64 + ix as i64;
                            }
                            sum += v;
                            cnt += 1;
                        } else if op.count_include_pad && iy < (h + pb) as isize && ix < (w + pr) as isize {
                            cnt += 1;
                        }
                    }
                }
                let o = oy * ow + ox;
                yp[o] = match op.kind {
                    PoolKind::Max => best,
                    PoolKind::Avg => {
                        if cnt == 0 {
                            0.0
                        } else {
                            sum / cnt as f32
                        }
                    }
                };
                if want_idx {
                    ip[o] = best_i;
                }
            }
        }
    };
    let plane = oh * ow;
    if plane > 0 {
        if want_idx {
            y.par_chunks_mut(plane).zip(idx.par_chunks_mut(plane)).enumerate().for_each(work);
        } else {
            y.par_chunks_mut(plane).enumerate().for_each(|(p, yp)| work((p, (yp, &mut []))));
        }
    }
    let mut shape = vec![xs[0], xs[1]];
    if sp == 1 {
        shape.push(ow);
    } else {
        shape.extend([oh, ow]);
    }
    let indices = if want_idx { Some(Tensor::I64(array(&shape, idx)?)) } else { None };
    Ok(vec![Some(Tensor::F32(array(&shape, y)?)), indices])
}
