//! Transposed 2-D convolution (ONNX `ConvTranspose`) as GEMM + col2im.

use super::gemm::{Gemm, sgemm};
use super::tasks;
use super::window::{inside, product};
use crate::Threads;

/// Transposed 2-D convolution geometry: x [N, C, H, W], w [C, M/group, KH,
/// KW], y [N, M, out_h, out_w].
///
/// Input position i and tap kk land on output position
/// o = i·stride + kk·dilation − pad_begin; contributions outside
/// `0..out` are dropped. The caller chooses `out_h`/`out_w` and `pads`
/// (`[top, left, bottom, right]`; only top and left are used here), which is
/// how ONNX `output_padding`, `output_shape` and `auto_pad` are expressed.
#[derive(Clone, Copy, Debug)]
pub struct ConvTranspose2d {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub m: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub pads: [usize; 4],
    pub group: usize,
    pub out_h: usize,
    pub out_w: usize,
}

/// Target size in bytes of one column tile (rows = M/group·KH·KW, columns =
/// input positions).
const TILE_BYTES: usize = 1 << 20;

/// Fewest input positions per column tile.
const MIN_TILE: usize = 64;

/// y\[n, mo, o\] = bias\[mo\] + Σ x\[n, ci, i\]·w\[ci, mo mod M/group, kk\] over
/// every input position i and tap kk that land on o (see
/// [`ConvTranspose2d`]); prior contents of `y` are ignored.
///
/// Per (batch, group): col = W_gᵀ·X_g in tiles of input positions, each tile
/// scattered into y. With [`Threads::Pool`] the (batch, group) blocks run in
/// parallel when there are enough of them, otherwise each GEMM splits itself
/// (the scatter then runs on one thread).
///
/// Panics if a slice length does not match the geometry, if `group` is 0 or
/// does not divide both C and M, or if a stride or dilation is 0.
pub fn conv_transpose2d(
    p: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
) {
    conv_transpose2d_tiled(p, x, w, bias, y, threads, None);
}

/// [`conv_transpose2d`] with the column tile width (input positions) forced
/// to `tile` instead of derived from the cache budget.
pub(crate) fn conv_transpose2d_tiled(
    p: &ConvTranspose2d,
    x: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    y: &mut [f32],
    threads: Threads,
    tile: Option<usize>,
) {
    assert!(p.group > 0, "conv_transpose2d: group is 0");
    assert!(
        p.c.is_multiple_of(p.group) && p.m.is_multiple_of(p.group),
        "conv_transpose2d: group {} does not divide C {} and M {}",
        p.group,
        p.c,
        p.m
    );
    assert!(p.stride[0] > 0 && p.stride[1] > 0, "conv_transpose2d: stride is 0");
    assert!(p.dilation[0] > 0 && p.dilation[1] > 0, "conv_transpose2d: dilation is 0");
    let (cg, mg) = (p.c / p.group, p.m / p.group);
    assert_eq!(x.len(), product(&[p.n, p.c, p.h, p.w], "conv_transpose2d x"), "conv_transpose2d: x length");
    assert_eq!(w.len(), product(&[p.c, mg, p.kh, p.kw], "conv_transpose2d w"), "conv_transpose2d: w length");
    assert_eq!(y.len(), product(&[p.n, p.m, p.out_h, p.out_w], "conv_transpose2d y"), "conv_transpose2d: y length");
    if let Some(b) = bias {
        assert_eq!(b.len(), p.m, "conv_transpose2d: bias length");
    }
    if y.is_empty() {
        return;
    }
    let (hw, ohw, taps) = (p.h * p.w, p.out_h * p.out_w, p.kh * p.kw);
    let rows = mg * taps;
    let tile = tile.unwrap_or((TILE_BYTES / 4 / rows.max(1)).max(MIN_TILE)).clamp(1, hw.max(1));
    let blocks: Vec<(usize, &mut [f32])> = y.chunks_mut(mg * ohw).enumerate().collect();
    let (outer, inner) = tasks::split(blocks.len(), threads);
    tasks::for_each(
        blocks,
        outer,
        || vec![0.0f32; rows * tile],
        |col, (block, y_block)| {
            let (b, grp) = (block / p.group, block % p.group);
            match bias {
                Some(bias) => {
                    for (plane, &v) in y_block.chunks_mut(ohw).zip(&bias[grp * mg..(grp + 1) * mg]) {
                        plane.fill(v);
                    }
                }
                None => y_block.fill(0.0),
            }
            let x_group = &x[(b * p.c + grp * cg) * hw..][..cg * hw];
            let w_group = &w[grp * cg * rows..][..cg * rows];
            for p0 in (0..hw).step_by(tile) {
                let width = tile.min(hw - p0);
                let col = &mut col[..rows * width];
                let g = Gemm {
                    m: rows,
                    n: width,
                    k: cg,
                    a_rs: 1,
                    a_cs: rows as isize,
                    b_rs: hw as isize,
                    b_cs: 1,
                    c_rs: width as isize,
                    c_cs: 1,
                    alpha: 1.0,
                    beta: 0.0,
                };
                // With C/group = 0, B is never read (k = 0) and may be empty.
                sgemm(&g, w_group, x_group.get(p0..).unwrap_or_default(), col, inner);
                col2im(p, mg, col, p0, width, y_block);
            }
        },
    );
}

/// Adds `col` ([mg·KH·KW, width], columns = input positions `p0 ..
/// p0 + width`) into `y` ([mg, out_h, out_w]) at the output positions each
/// (tap, input position) lands on, dropping those outside the output.
fn col2im(p: &ConvTranspose2d, mg: usize, col: &[f32], p0: usize, width: usize, y: &mut [f32]) {
    let ohw = p.out_h * p.out_w;
    let mut rows = col.chunks_exact(width);
    for mo in 0..mg {
        let y_plane = &mut y[mo * ohw..][..ohw];
        for ky in 0..p.kh {
            for kx in 0..p.kw {
                let Some(row) = rows.next() else { return };
                let (off_y, off_x) = (ky * p.dilation[0], kx * p.dilation[1]);
                let mut done = 0;
                while done < width {
                    let (iy, ix0) = ((p0 + done) / p.w, (p0 + done) % p.w);
                    let ix1 = p.w.min(ix0 + width - done);
                    let seg = &row[done..done + ix1 - ix0];
                    done += ix1 - ix0;
                    let oy = iy * p.stride[0] + off_y;
                    if oy < p.pads[0] || oy - p.pads[0] >= p.out_h {
                        continue;
                    }
                    let y_row = &mut y_plane[(oy - p.pads[0]) * p.out_w..][..p.out_w];
                    let (a, b) = inside(ix0, ix1, p.stride[1], off_x, p.pads[1], p.out_w);
                    if a == b {
                        continue;
                    }
                    let src = &seg[a - ix0..b - ix0];
                    let start = a * p.stride[1] + off_x - p.pads[1];
                    if p.stride[1] == 1 {
                        for (o, &v) in y_row[start..start + src.len()].iter_mut().zip(src) {
                            *o += v;
                        }
                    } else {
                        for (o, &v) in y_row[start..].iter_mut().step_by(p.stride[1]).zip(src) {
                            *o += v;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::{close, values};

    /// Scatter reference in f64: (value, Σ|term|) per output element.
    fn reference(p: &ConvTranspose2d, x: &[f32], w: &[f32], bias: Option<&[f32]>) -> Vec<(f64, f64)> {
        let (cg, mg) = (p.c / p.group, p.m / p.group);
        let ohw = p.out_h * p.out_w;
        let mut out = vec![(0.0f64, 0.0f64); p.n * p.m * ohw];
        for b in 0..p.n {
            for mo in 0..p.m {
                let v = bias.map_or(0.0, |bias| bias[mo] as f64);
                for o in &mut out[(b * p.m + mo) * ohw..][..ohw] {
                    *o = (v, v.abs());
                }
            }
            for ci in 0..p.c {
                let g = ci / cg;
                for iy in 0..p.h {
                    for ix in 0..p.w {
                        let xv = x[((b * p.c + ci) * p.h + iy) * p.w + ix] as f64;
                        for j in 0..mg {
                            let mo = g * mg + j;
                            for ky in 0..p.kh {
                                for kx in 0..p.kw {
                                    let oy = (iy * p.stride[0] + ky * p.dilation[0]) as isize - p.pads[0] as isize;
                                    let ox = (ix * p.stride[1] + kx * p.dilation[1]) as isize - p.pads[1] as isize;
                                    if oy < 0 || ox < 0 || oy >= p.out_h as isize || ox >= p.out_w as isize {
                                        continue;
                                    }
                                    let t = xv * w[((ci * mg + j) * p.kh + ky) * p.kw + kx] as f64;
                                    let o = &mut out[((b * p.m + mo) * p.out_h + oy as usize) * p.out_w + ox as usize];
                                    o.0 += t;
                                    o.1 += t.abs();
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    #[derive(Clone, Copy, Debug)]
    struct Case {
        p: ConvTranspose2d,
        bias: bool,
        threads: Threads,
        tile: Option<usize>,
        seed: u64,
    }

    /// ONNX's full output length plus `extra` (output padding), which
    /// large pads may also cut short.
    fn full_len(len: usize, stride: usize, kernel: usize, dilation: usize, pads: usize, extra: usize) -> usize {
        ((len - 1) * stride + (kernel - 1) * dilation + 1 + extra).saturating_sub(pads)
    }

    prop_compose! {
        fn case()(
            group in prop::sample::select(vec![1usize, 2, 3]),
            n in 1usize..4,
            cg in 1usize..4,
            mg in 1usize..4,
            [kh, kw] in prop::sample::select(vec![[1usize, 1], [3, 3], [5, 3], [2, 2]]),
            stride in [1usize..4, 1usize..4],
            dilation in [1usize..3, 1usize..3],
            pads in [0usize..3, 0usize..3, 0usize..3, 0usize..3],
            [h, w] in [1usize..8, 1usize..8],
            extra in [0usize..3, 0usize..3],
            bias: bool,
            threads in prop::sample::select(vec![Threads::Single, Threads::Pool]),
            tile in prop::option::of(1usize..20),
            seed: u64,
        ) -> Case {
            let out_h = full_len(h, stride[0], kh, dilation[0], pads[0] + pads[2], extra[0]);
            let out_w = full_len(w, stride[1], kw, dilation[1], pads[1] + pads[3], extra[1]);
            let (c, m) = (group * cg, group * mg);
            let p = ConvTranspose2d { n, c, h, w, m, kh, kw, stride, dilation, pads, group, out_h, out_w };
            Case { p, bias, threads, tile, seed }
        }
    }

    fn run(case: &Case) -> Result<(), TestCaseError> {
        let p = &case.p;
        let x = values(p.n * p.c * p.h * p.w, case.seed);
        let w = values(p.c * (p.m / p.group) * p.kh * p.kw, case.seed ^ 1);
        let bias = case.bias.then(|| values(p.m, case.seed ^ 2));
        let mut y = vec![f32::NAN; p.n * p.m * p.out_h * p.out_w];
        conv_transpose2d_tiled(p, &x, &w, bias.as_deref(), &mut y, case.threads, case.tile);
        // Each output gathers at most C/group·KH·KW terms.
        let k = p.c / p.group * p.kh * p.kw;
        for (i, (&got, &(want, mag))) in y.iter().zip(&reference(p, &x, &w, bias.as_deref())).enumerate() {
            close(got, want, mag, k).map_err(|e| TestCaseError::fail(format!("y[{i}]: {e}")))?;
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_reference(case in case()) {
            run(&case)?;
        }
    }

    #[test]
    fn upsampling_layer_matches_reference() {
        let p = ConvTranspose2d {
            n: 2,
            c: 16,
            h: 9,
            w: 11,
            m: 8,
            kh: 4,
            kw: 4,
            stride: [2, 2],
            dilation: [1, 1],
            pads: [1; 4],
            group: 1,
            out_h: 18,
            out_w: 22,
        };
        for threads in [Threads::Single, Threads::Pool] {
            run(&Case { p, bias: true, threads, tile: None, seed: 5 }).unwrap();
            run(&Case { p: ConvTranspose2d { n: 1, ..p }, bias: false, threads, tile: Some(7), seed: 6 }).unwrap();
        }
    }

    #[test]
    #[should_panic(expected = "conv_transpose2d: y length")]
    fn wrong_output_length_panics() {
        let p = ConvTranspose2d {
            n: 1,
            c: 1,
            h: 2,
            w: 2,
            m: 1,
            kh: 2,
            kw: 2,
            stride: [2, 2],
            dilation: [1, 1],
            pads: [0; 4],
            group: 1,
            out_h: 4,
            out_w: 4,
        };
        conv_transpose2d(&p, &[0.0; 4], &[0.0; 4], None, &mut [0.0; 15], Threads::Single);
    }
}
