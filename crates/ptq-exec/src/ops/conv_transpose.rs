//! ConvTranspose: 1-D and 2-D through the kernels crate, more spatial axes
//! by a direct scatter loop.

use ptq_ir::Tensor;
use ptq_ir::ops::conv_transpose::ConvTranspose;
use ptq_ir::ops::spatial::AutoPad;
use ptq_kernels::{ConvTranspose2d, Threads, conv_transpose2d, parallel};

use super::conv::{as_2d, per_axis};
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous, to_usize};

/// Runs ConvTranspose, honouring output_padding, output_shape and auto_pad.
pub fn run(op: &ConvTranspose, ins: &mut Inputs, _n: usize) -> Out {
    let (x, w, b, sp, group) = super::conv::operands(ins, op.group)?;
    let (xs, ws) = (x.shape(), w.shape());
    let (n, c) = (xs[0], xs[1]);
    if ws[0] != c || c % group != 0 {
        return Err(format!("input channels {c}, weight {ws:?} and group {group} do not fit"));
    }
    let m = ws[1] * group;
    let kernel = &ws[2..];
    if kernel.contains(&0) {
        return Err(format!("weight {ws:?} has an empty kernel"));
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let out_pad = match &op.output_padding {
        None => vec![0; sp],
        Some(v) if v.len() == sp => v.iter().map(|&p| to_usize(p, "output_padding")).collect::<Result<_, _>>()?,
        Some(v) => return Err(format!("output_padding has {} entries for {sp} spatial axes", v.len())),
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
    let bias = b.map(|b| contiguous(b).into_owned());
    if bias.as_ref().is_some_and(|b| b.len() != m) {
        return Err(format!("bias must have {m} entries"));
    }
    if sp > 2 {
        let g = Geometry { xs, kernel, stride: &stride, dil: &dil, pads: &pads, out: &out, group, m };
        let y = conv_transpose_nd(&g, &contiguous(x), &contiguous(w), bias.as_deref(), ins.threads);
        let mut shape = vec![n, m];
        shape.extend_from_slice(&out);
        return one(Tensor::F32(array(&shape, y)?));
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
    let mut y = vec![0f32; n * m * out_h * out_w];
    conv_transpose2d(&p, &contiguous(x), &contiguous(w), bias.as_deref(), &mut y, ins.threads);
    let mut shape = vec![n, m];
    shape.extend_from_slice(&out);
    one(Tensor::F32(array(&shape, y)?))
}

/// Shapes of a ConvTranspose with any number of spatial axes.
struct Geometry<'a> {
    xs: &'a [usize],
    kernel: &'a [usize],
    stride: &'a [usize],
    dil: &'a [usize],
    pads: &'a [(usize, usize)],
    out: &'a [usize],
    group: usize,
    m: usize,
}

/// Row-major strides of `dims`.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; dims.len()];
    for a in (0..dims.len().saturating_sub(1)).rev() {
        s[a] = s[a + 1] * dims[a + 1];
    }
    s
}

/// Scatters every input element times every kernel tap into the output
/// (`out = in * stride + tap * dilation - pad_begin` per axis), then adds the
/// bias. Used for 3 or more spatial axes; one (batch, output channel) block per task.
fn conv_transpose_nd(g: &Geometry<'_>, x: &[f32], w: &[f32], bias: Option<&[f32]>, threads: Threads) -> Vec<f32> {
    let (n, c) = (g.xs[0], g.xs[1]);
    let input = &g.xs[2..];
    let sp = input.len();
    let (cg, mg) = (c / g.group, g.m / g.group);
    let plane_in: usize = input.iter().product();
    let plane_out: usize = g.out.iter().product();
    let plane_k: usize = g.kernel.iter().product();
    let (in_st, k_st, out_st) = (strides(input), strides(g.kernel), strides(g.out));
    let mut y = vec![0f32; n * g.m * plane_out];
    if plane_out == 0 {
        return y;
    }
    let block = |(block, yp): (usize, &mut [f32])| {
        let (b, oc) = (block / g.m, block % g.m);
        let (grp, mo) = (oc / mg, oc % mg);
        yp.fill(bias.map_or(0.0, |bv| bv[oc]));
        for ic in grp * cg..(grp + 1) * cg {
            let xp = &x[(b * c + ic) * plane_in..(b * c + ic + 1) * plane_in];
            let wp = &w[(ic * mg + mo) * plane_k..(ic * mg + mo + 1) * plane_k];
            for (i, &xv) in xp.iter().enumerate() {
                for (t, &wv) in wp.iter().enumerate() {
                    let mut off = 0usize;
                    let mut inside = true;
                    for a in 0..sp {
                        let (pi, pk) = ((i / in_st[a]) % input[a], (t / k_st[a]) % g.kernel[a]);
                        let o = (pi * g.stride[a] + pk * g.dil[a]) as isize - g.pads[a].0 as isize;
                        if o < 0 || o as usize >= g.out[a] {
                            inside = false;
                            break;
                        }
                        off += o as usize * out_st[a];
                    }
                    if inside {
                        yp[off] += xv * wv;
                    }
                }
            }
        }
    };
    parallel::for_each_chunk_mut(&mut y, plane_out, threads, || (), |(), item| block(item));
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nd_scatter_matches_a_2d_reference_with_a_unit_axis() {
        // A 3-D transposed convolution whose first spatial axis has length 1
        // everywhere equals the 2-D one the kernels crate computes.
        let (xs, ks) = ([1usize, 2, 1, 3, 2], [2usize, 2, 1, 2, 2]);
        let x: Vec<f32> = (0..12).map(|v| v as f32 * 0.5 - 2.0).collect();
        let w: Vec<f32> = (0..16).map(|v| (v as f32 - 7.0) * 0.25).collect();
        let (stride, dil, pads) = ([1usize, 2, 1], [1usize, 1, 2], [(0usize, 0usize), (1, 0), (0, 1)]);
        let out = [1usize, 3 * 2 - 2 + 2 - 1, 2 + 2 - 1];
        let g =
            Geometry { xs: &xs, kernel: &ks[2..], stride: &stride, dil: &dil, pads: &pads, out: &out, group: 1, m: 2 };
        let y = conv_transpose_nd(&g, &x, &w, Some(&[0.5, -1.0]), Threads::Pool);
        let p = ConvTranspose2d {
            n: 1,
            c: 2,
            h: 3,
            w: 2,
            m: 2,
            kh: 2,
            kw: 2,
            stride: [2, 1],
            dilation: [1, 2],
            pads: [1, 0, 0, 1],
            group: 1,
            out_h: out[1],
            out_w: out[2],
        };
        let mut want = vec![0f32; 2 * out[1] * out[2]];
        conv_transpose2d(&p, &x, &w, Some(&[0.5, -1.0]), &mut want, Threads::Single);
        assert_eq!(y, want);
    }
}
