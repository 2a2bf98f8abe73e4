//! Depthwise convolution (group == C, channel multiplier M/C ≥ 1) as a direct
//! loop per output plane: there is no reduction over channels, so a GEMM
//! would only add packing work.

use rayon::prelude::*;

use super::conv::Plane;
use super::window::inside;
use crate::Threads;

/// y\[n, mo\] = bias\[mo\] + Σ w\[mo\] ⋆ x\[n, mo / multiplier\] for every plane;
/// lengths were checked by the caller. With [`Threads::Rayon`] the planes are
/// split across the pool.
#[allow(clippy::too_many_arguments)]
pub(crate) fn depthwise(
    g: &Plane,
    channels: usize,
    multiplier: usize,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
) {
    let (hw, ohw, taps) = (g.h * g.w, g.oh * g.ow, g.kh * g.kw);
    let m = channels * multiplier;
    let run = |(plane, y_plane): (usize, &mut [f32])| {
        let (b, mo) = (plane / m, plane % m);
        let x_plane = &x[(b * channels + mo / multiplier) * hw..][..hw];
        let w_plane = &w[mo * taps..][..taps];
        depthwise_plane(g, x_plane, w_plane, bias.map_or(0.0, |b| b[mo]), y_plane);
    };
    match threads {
        Threads::Single => y.chunks_mut(ohw).enumerate().for_each(run),
        Threads::Rayon => y.par_chunks_mut(ohw).enumerate().for_each(run),
    }
}

/// One output plane: for each output row, accumulate every kernel tap as a
/// scaled run of one input row (contiguous when the stride is 1), so the
/// output row stays in L1 while the taps go by.
fn depthwise_plane(g: &Plane, x: &[f32], w: &[f32], bias: f32, y: &mut [f32]) {
    y.fill(bias);
    for (oy, y_row) in y.chunks_exact_mut(g.ow).enumerate() {
        for ky in 0..g.kh {
            let iy = oy * g.sh + ky * g.dh;
            if iy < g.pt || iy - g.pt >= g.h {
                continue;
            }
            let x_row = &x[(iy - g.pt) * g.w..][..g.w];
            for kx in 0..g.kw {
                let wv = w[ky * g.kw + kx];
                let off = kx * g.dw;
                let (a, b) = inside(0, g.ow, g.sw, off, g.pl, g.w);
                if a == b {
                    continue;
                }
                let start = a * g.sw + off - g.pl;
                let out = &mut y_row[a..b];
                if g.sw == 1 {
                    for (o, &v) in out.iter_mut().zip(&x_row[start..start + (b - a)]) {
                        *o += wv * v;
                    }
                } else {
                    for (o, &v) in out.iter_mut().zip(x_row[start..].iter().step_by(g.sw)) {
                        *o += wv * v;
                    }
                }
            }
        }
    }
}
