//! ConvInteger, which the IR keeps opaque: Conv's geometry (`auto_pad`,
//! `dilations`, `group`, `kernel_shape`, `pads`, `strides`, any number of
//! spatial axes) on 8-bit integers: `(x − x_zero_point) ⊛ (w −
//! w_zero_point)` accumulated exactly into i32, padding counting as the zero
//! point. `w_zero_point` is a scalar or one value per output channel. Also
//! the integer convolution QLinearConv shares.

use ptq_ir::Tensor;
use ptq_ir::ops::spatial::AutoPad;

use super::conv::{per_axis, resolve_pads};
use super::matmul_integer::{int8_values, per_line};
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::to_usize;

/// Conv's geometry attributes.
#[derive(Clone, Debug)]
pub struct ConvGeometry {
    auto_pad: AutoPad,
    dilations: Option<Vec<i64>>,
    group: i64,
    kernel_shape: Option<Vec<i64>>,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

impl ConvGeometry {
    /// Reads the attributes Conv has.
    pub fn from_attrs(a: &Attrs<'_>) -> Result<ConvGeometry, String> {
        let pad = a.string("auto_pad", "NOTSET")?;
        Ok(ConvGeometry {
            auto_pad: AutoPad::parse(&pad).ok_or(format!("unknown auto_pad {pad:?}"))?,
            dilations: a.geometry("dilations")?,
            group: a.int("group", 1)?,
            kernel_shape: a.geometry("kernel_shape")?,
            pads: a.geometry("pads")?,
            strides: a.geometry("strides")?,
        })
    }
}

/// Reads the attributes.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern(ConvGeometry::from_attrs(a)?, run)
}

/// The i32 convolution of zero-point-corrected `x` (shape `xs`, `[N, C,
/// spatial..]`) with `w` (shape `ws`, `[M, C / group, kernel..]`); returns
/// the output and its shape.
pub fn int_conv(
    op: &ConvGeometry,
    x: &[i32],
    xs: &[usize],
    w: &[i32],
    ws: &[usize],
) -> Result<(Vec<i32>, Vec<usize>), String> {
    if xs.len() < 3 || ws.len() != xs.len() {
        return Err(format!("input {xs:?} and weight {ws:?} ranks do not fit"));
    }
    let sp = xs.len() - 2;
    let group = to_usize(op.group, "group")?.max(1);
    let (n, c, m) = (xs[0], xs[1], ws[0]);
    let cg = ws[1];
    if c != cg * group || m % group != 0 {
        return Err(format!("input channels {c}, weight {ws:?} and group {group} do not fit"));
    }
    let kernel = &ws[2..];
    if kernel.contains(&0) {
        return Err(format!("weight {ws:?} has an empty kernel"));
    }
    if let Some(k) = &op.kernel_shape
        && k.iter().map(|&v| v as usize).ne(kernel.iter().copied())
    {
        return Err(format!("kernel_shape {k:?} does not match weight {ws:?}"));
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let dil = per_axis(&op.dilations, sp, "dilations")?;
    let pads = resolve_pads(op.auto_pad, &op.pads, &xs[2..], kernel, &stride, &dil)?;
    let mut out_sp = Vec::with_capacity(sp);
    for i in 0..sp {
        let eff = (kernel[i].max(1) - 1) * dil[i] + 1;
        let padded = xs[2 + i] + pads[i].0 + pads[i].1;
        if padded < eff {
            return Err("the kernel is larger than the padded input".into());
        }
        out_sp.push((padded - eff) / stride[i] + 1);
    }
    let in_sp: usize = xs[2..].iter().product();
    let k_sp: usize = kernel.iter().product();
    let o_sp = ptq_ir::tensor::checked_numel(&out_sp).filter(|&v| v <= 1 << 31).ok_or("the output is too large")?;
    if (cg * k_sp).checked_mul(o_sp).is_none_or(|v| v > 1 << 31) {
        return Err("the convolution is too large".into());
    }
    // For each kernel offset and output position, the flat input position (None: padding).
    let mut taps: Vec<Option<usize>> = Vec::with_capacity(k_sp * o_sp);
    let (mut kpos, mut opos) = (vec![0usize; sp], vec![0usize; sp]);
    for _ in 0..k_sp {
        opos.iter_mut().for_each(|v| *v = 0);
        for _ in 0..o_sp {
            let mut flat = Some(0usize);
            for a in 0..sp {
                let p = (opos[a] * stride[a] + kpos[a] * dil[a]) as i64 - pads[a].0 as i64;
                flat = match flat {
                    Some(f) if p >= 0 && (p as usize) < xs[2 + a] => Some(f * xs[2 + a] + p as usize),
                    _ => None,
                };
            }
            taps.push(flat);
            crate::util::step_index(&mut opos, &out_sp);
        }
        crate::util::step_index(&mut kpos, kernel);
    }
    // Per image and group: the patch matrix [cg · k_sp, o_sp] (zero-point-corrected
    // values, 0 for padding), then each output row as a sum of scaled patch rows.
    let mg = m / group;
    let rows = cg * k_sp;
    let mut y = vec![0i32; n * m * o_sp];
    let mut cols = vec![0i32; rows * o_sp];
    for b in 0..n {
        for g in 0..group {
            for ic in 0..cg {
                let xc = &x[(b * c + g * cg + ic) * in_sp..(b * c + g * cg + ic + 1) * in_sp];
                for kf in 0..k_sp {
                    let dst = &mut cols[(ic * k_sp + kf) * o_sp..(ic * k_sp + kf + 1) * o_sp];
                    for (d, t) in dst.iter_mut().zip(&taps[kf * o_sp..(kf + 1) * o_sp]) {
                        *d = t.map_or(0, |i| xc[i]);
                    }
                }
            }
            for oc in g * mg..(g + 1) * mg {
                let wk = &w[oc * rows..(oc + 1) * rows];
                let yo = &mut y[(b * m + oc) * o_sp..(b * m + oc + 1) * o_sp];
                for (&wv, src) in wk.iter().zip(cols.chunks(o_sp.max(1))) {
                    if wv != 0 {
                        yo.iter_mut().zip(src).for_each(|(acc, &v)| *acc = acc.wrapping_add(wv.wrapping_mul(v)));
                    }
                }
            }
        }
    }
    let mut shape = vec![n, m];
    shape.extend(out_sp);
    Ok((y, shape))
}

/// X and W with their zero points subtracted (zero-point slots `xz`, `wz`).
pub fn corrected(ins: &Inputs, xi: usize, xz: usize, wi: usize, wz: usize) -> Result<(Vec<i32>, Vec<i32>), String> {
    let (x, w) = (ins.get(xi)?, ins.get(wi)?);
    let mut xv = int8_values(x, "x")?;
    let mut wv = int8_values(w, "w")?;
    if let Some(z) = ins.opt(xz) {
        match int8_values(z, "x_zero_point")?.as_slice() {
            [z] => xv.iter_mut().for_each(|v| *v -= z),
            z => return Err(format!("x_zero_point must be a scalar, has {} values", z.len())),
        }
    }
    if let Some(z) = ins.opt(wz) {
        let m = *w.shape().first().ok_or("w must have rank 3 or more")?;
        let zp = per_line(&int8_values(z, "w_zero_point")?, m, "w_zero_point")?;
        let per = wv.len() / m.max(1);
        for (i, v) in wv.iter_mut().enumerate() {
            *v -= zp[i / per.max(1)];
        }
    }
    Ok((xv, wv))
}

/// Runs ConvInteger.
pub fn run(op: &ConvGeometry, ins: &mut Inputs, _n: usize) -> Out {
    let (x, w) = corrected(ins, 0, 2, 1, 3)?;
    let (y, shape) = int_conv(op, &x, ins.get(0)?.shape(), &w, ins.get(1)?.shape())?;
    one(Tensor::I32(crate::util::array(&shape, y)?))
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    fn u8s(shape: &[usize], v: &[u8]) -> Tensor {
        Tensor::U8(crate::util::array(shape, v.to_vec()).unwrap())
    }

    #[test]
    fn convolves_with_zero_point_padding() {
        // 1-D: x − 1 = [1, 2, 3], w = [1, 1], pads 1 both sides.
        let x = u8s(&[1, 1, 3], &[2, 3, 4]);
        let w = u8s(&[1, 1, 2], &[1, 1]);
        let y = test_run("ConvInteger", &[("pads", Attr::Ints(vec![1, 1]))], vec![x, w, u8s(&[], &[1])]).unwrap();
        assert_eq!(y[0], Tensor::I32(crate::util::array(&[1, 1, 4], vec![1, 3, 5, 3]).unwrap()));
        // 3-D, one voxel kernel, stride 2.
        let x = u8s(&[1, 1, 2, 2, 2], &[1, 2, 3, 4, 5, 6, 7, 8]);
        let w = u8s(&[1, 1, 1, 1, 1], &[2]);
        let y = test_run("ConvInteger", &[("strides", Attr::Ints(vec![2, 2, 2]))], vec![x, w]).unwrap();
        assert_eq!(y[0], Tensor::I32(crate::util::array(&[1, 1, 1, 1, 1], vec![2]).unwrap()));
    }
}
