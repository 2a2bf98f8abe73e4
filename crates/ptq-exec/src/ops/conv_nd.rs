//! Conv over three or more spatial axes (3-D video and volumetric models):
//! per image and group, an im2col patch matrix `[C/g · ∏kernel, ∏out]`
//! (zeros for padding) multiplied by the group's weights with `sgemm`.
//! 1-D and 2-D convolutions take the kernels crate's `conv2d` instead.

use ptq_kernels::{Gemm, Threads, sgemm};

/// The geometry of one N-D convolution.
pub struct ConvNd<'a> {
    /// Input `[N, C, spatial..]`.
    pub xs: &'a [usize],
    /// Weight `[M, C / group, kernel..]`.
    pub ws: &'a [usize],
    pub stride: &'a [usize],
    pub dilation: &'a [usize],
    /// (begin, end) per spatial axis.
    pub pads: &'a [(usize, usize)],
    pub group: usize,
}

/// Output spatial sizes, or an error when the kernel exceeds the padded input.
pub fn out_sizes(p: &ConvNd<'_>) -> Result<Vec<usize>, String> {
    (0..p.xs.len() - 2)
        .map(|i| {
            let eff = (p.ws[2 + i] - 1).checked_mul(p.dilation[i]).and_then(|v| v.checked_add(1));
            let padded = p.xs[2 + i].checked_add(p.pads[i].0).and_then(|v| v.checked_add(p.pads[i].1));
            match (eff, padded) {
                (Some(e), Some(q)) if q >= e => Ok((q - e) / p.stride[i] + 1),
                (Some(_), Some(_)) => Err("the kernel is larger than the padded input".to_string()),
                _ => Err("pads or dilations are out of range".to_string()),
            }
        })
        .collect()
}

/// `y = conv(x, w) + b`, returned with its shape `[N, M, out..]`.
pub fn conv_nd(
    p: &ConvNd<'_>,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
    threads: Threads,
) -> Result<(Vec<f32>, Vec<usize>), String> {
    let sp = p.xs.len() - 2;
    let (n, c, m) = (p.xs[0], p.xs[1], p.ws[0]);
    let (g, cg) = (p.group, p.ws[1]);
    let mg = m / g;
    let kernel = &p.ws[2..];
    let out = out_sizes(p)?;
    let k_sp: usize = kernel.iter().product();
    let o_sp = ptq_ir::tensor::checked_numel(&out).ok_or("the convolution is too large")?;
    let in_sp: usize = p.xs[2..].iter().product();
    let rows = cg * k_sp;
    if rows.checked_mul(o_sp).is_none_or(|v| v > 1 << 31)
        || ptq_ir::tensor::checked_numel(&[n, m, o_sp]).is_none_or(|v| v > 1 << 31)
    {
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
                let q = (opos[a] * p.stride[a] + kpos[a] * p.dilation[a]) as i64 - p.pads[a].0 as i64;
                flat = match flat {
                    Some(f) if q >= 0 && (q as usize) < p.xs[2 + a] => Some(f * p.xs[2 + a] + q as usize),
                    _ => None,
                };
            }
            taps.push(flat);
            crate::util::step_index(&mut opos, &out);
        }
        crate::util::step_index(&mut kpos, kernel);
    }
    let mut y = vec![0f32; n * m * o_sp];
    let mut cols = vec![0f32; rows * o_sp];
    for b_i in 0..n {
        for gi in 0..g {
            for ic in 0..cg {
                let plane = &x[(b_i * c + gi * cg + ic) * in_sp..(b_i * c + gi * cg + ic + 1) * in_sp];
                for kf in 0..k_sp {
                    let dst = &mut cols[(ic * k_sp + kf) * o_sp..(ic * k_sp + kf + 1) * o_sp];
                    for (d, t) in dst.iter_mut().zip(&taps[kf * o_sp..(kf + 1) * o_sp]) {
                        *d = t.map_or(0.0, |i| plane[i]);
                    }
                }
            }
            let wg = &w[gi * mg * rows..(gi + 1) * mg * rows];
            let yg = &mut y[(b_i * m + gi * mg) * o_sp..(b_i * m + (gi + 1) * mg) * o_sp];
            sgemm(&Gemm::row_major(mg, o_sp, rows, false, false), wg, &cols, yg, threads);
        }
    }
    if let Some(b) = b {
        for (i, ch) in y.chunks_mut(o_sp.max(1)).enumerate() {
            let v = b[i % m];
            ch.iter_mut().for_each(|y| *y += v);
        }
    }
    let mut shape = vec![n, m];
    shape.extend(out);
    Ok((y, shape))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_d_convolution_with_padding_and_groups() {
        // 1 image, 2 channels of 2×2×2, group 2, one 1×1×1 weight per group (2 and 3), pad 1 on the last axis.
        let x: Vec<f32> = (0..16).map(|v| v as f32).collect();
        let w = [2.0f32, 3.0];
        let p = ConvNd {
            xs: &[1, 2, 2, 2, 2],
            ws: &[2, 1, 1, 1, 1],
            stride: &[1, 1, 2],
            dilation: &[1, 1, 1],
            pads: &[(0, 0), (0, 0), (1, 1)],
            group: 2,
        };
        let (y, shape) = conv_nd(&p, &x, &w, Some(&[0.5, 0.0]), Threads::Single).unwrap();
        assert_eq!(shape, vec![1, 2, 2, 2, 2]);
        // Last axis padded to [0, a, b, 0] read at 0 and 2: [pad, b].
        assert_eq!(&y[..4], &[0.5, 2.5, 0.5, 6.5]);
        assert_eq!(&y[8..12], &[0.0, 27.0, 0.0, 33.0]);
    }
}
