//! Depthwise convolution (group == C, channel multiplier M/C ≥ 1) as a direct
//! loop per output plane: there is no reduction over channels, so a GEMM
//! would only add packing work.
//!
//! Each input plane is first copied into a zero-padded scratch plane split
//! into stride phases along both axes: block (pr, pc) holds the padded
//! elements (j·sh + pr, k·sw + pc) at row j, column k, every block with the
//! same row length L. Output (oy, ox) under tap (ky, kx) then reads scratch
//! index `offset(tap) + oy·L + ox`: a contiguous run per tap for any stride,
//! dilation and padding, with no bounds arithmetic in the inner loop.
//!
//! Wide output rows (OW ≥ [`ROW_MIN`]) are computed one at a time straight
//! into y. Narrow ones are computed as one "wide" plane of row length L
//! (columns ≥ OW are junk, then dropped), so the loop runs over many rows at
//! once instead of paying its setup per short row.

use super::conv::Plane;
use super::gather::gather;
use super::isa::{Isa, multiversion};
use super::window::inside;
use crate::Threads;

/// Output rows at least this long are computed row by row.
const ROW_MIN: usize = 32;

/// Wide-plane elements per call of the tap loop, so its output stays in L1.
const CHUNK: usize = 2048;

/// y\[n, mo\] = bias\[mo\] + Σ w\[mo\] ⋆ x\[n, mo / multiplier\] for every plane;
/// lengths were checked by the caller. With [`Threads::Pool`] the planes are
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
    depthwise_on(Isa::detect(), g, channels, multiplier, x, w, bias, y, threads);
}

/// [`depthwise`] with the instruction set chosen by the caller.
#[allow(clippy::too_many_arguments)]
fn depthwise_on(
    isa: Isa,
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
    let layout = Phased::new(g);
    let wide_len = if g.ow >= ROW_MIN { 0 } else { g.oh * layout.len };
    // Output planes of one input channel are adjacent, so with a channel
    // multiplier the padded copy is reused while one worker runs them in turn.
    let init = || Scratch { input: Vec::new(), wide: vec![0.0; wide_len], holds: usize::MAX };
    let run = |s: &mut Scratch, (plane, y_plane): (usize, &mut [f32])| {
        let (b, mo) = (plane / m, plane % m);
        let source = b * channels + mo / multiplier;
        let refill = s.holds != source;
        s.holds = source;
        let job = Job {
            g,
            layout: &layout,
            x: refill.then(|| &x[source * hw..][..hw]),
            w: &w[mo * taps..][..taps],
            bias: bias.map_or(0.0, |b| b[mo]),
            y: y_plane,
        };
        one_plane(isa, job, s);
    };
    crate::parallel::for_each_chunk_mut(y, ohw, threads, init, run);
}

/// Everything one output plane needs.
#[derive(Debug)]
struct Job<'a> {
    g: &'a Plane,
    layout: &'a Phased,
    /// The input plane, when the scratch does not hold it yet.
    x: Option<&'a [f32]>,
    w: &'a [f32],
    bias: f32,
    y: &'a mut [f32],
}

/// Per-worker buffers.
#[derive(Debug)]
struct Scratch {
    input: Vec<f32>,
    wide: Vec<f32>,
    holds: usize,
}

/// Layout of the phased, padded scratch plane (see the module docs).
#[derive(Debug)]
struct Phased {
    /// Row length L of every phase block, and of the wide output plane.
    len: usize,
    /// Rows per phase block (one more than any tap reaches, so the discarded
    /// columns of the last output row still read inside the block).
    rows: usize,
    /// Scratch offset of output (0, 0) under each tap (ky, kx), row-major.
    taps: Vec<usize>,
}

impl Phased {
    fn new(g: &Plane) -> Phased {
        // Padded rows and columns that some output reads.
        let rows = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
        let cols = (g.ow - 1) * g.sw + (g.kw - 1) * g.dw + 1;
        let len = cols.div_ceil(g.sw);
        let block_rows = rows.div_ceil(g.sh) + 1;
        let taps = (0..g.kh)
            .flat_map(|ky| (0..g.kw).map(move |kx| (ky * g.dh, kx * g.dw)))
            .map(|(r, c)| (((r % g.sh) * g.sw + c % g.sw) * block_rows + r / g.sh) * len + c / g.sw)
            .collect();
        Phased { len, rows: block_rows, taps }
    }

    /// Copies one input plane into `scratch`, zero-padded and phase-split.
    #[inline(always)]
    fn fill(&self, g: &Plane, x: &[f32], scratch: &mut Vec<f32>) {
        scratch.clear();
        scratch.resize(g.sh * g.sw * self.rows * self.len, 0.0);
        for iy in 0..g.h {
            let r = iy + g.pt;
            let (pr, j) = (r % g.sh, r / g.sh);
            if j >= self.rows {
                break;
            }
            let x_row = &x[iy * g.w..][..g.w];
            for pc in 0..g.sw {
                // Entry k of this block row is padded column k·sw + pc, which
                // holds x_row[k·sw + pc − pl] where that exists.
                let (a, b) = inside(0, self.len, g.sw, pc, g.pl, g.w);
                if a == b {
                    continue;
                }
                let dst = &mut scratch[((pr * g.sw + pc) * self.rows + j) * self.len..][a..b];
                let src = &x_row[a * g.sw + pc - g.pl..];
                gather(dst, src, g.sw);
            }
        }
    }
}

multiversion! {
    /// Computes one output plane with the widest vectors `isa` allows.
    fn one_plane(job: Job<'_>, s: &mut Scratch) => one_plane_body;
}

/// The plane computation every build shares: refill the scratch if needed,
/// then run the taps row by row into y, or over the wide plane and copy the
/// valid columns out.
#[inline(always)]
fn one_plane_body(job: Job<'_>, s: &mut Scratch) {
    let Job { g, layout, x, w, bias, y } = job;
    if let Some(x) = x {
        layout.fill(g, x, &mut s.input);
    }
    if s.wide.is_empty() {
        for (oy, y_row) in y.chunks_exact_mut(g.ow).enumerate() {
            tap_loop(y_row, &s.input, oy * layout.len, &layout.taps, w, bias);
        }
    } else {
        for (c, chunk) in s.wide.chunks_mut(CHUNK).enumerate() {
            tap_loop(chunk, &s.input, c * CHUNK, &layout.taps, w, bias);
        }
        for (y_row, wide_row) in y.chunks_exact_mut(g.ow).zip(s.wide.chunks_exact(layout.len)) {
            y_row.copy_from_slice(&wide_row[..g.ow]);
        }
    }
}

/// out\[i\] = bias + Σ_t w\[t\]·input\[taps\[t\] + base + i\], taps in order.
/// 3x3 and 5x5 kernels keep each output in a register across all taps; other
/// sizes go tap by tap through `out`.
#[inline(always)]
fn tap_loop(out: &mut [f32], input: &[f32], base: usize, taps: &[usize], w: &[f32], bias: f32) {
    match taps.len() {
        9 => fixed_taps::<9>(out, input, base, taps, w, bias),
        25 => fixed_taps::<25>(out, input, base, taps, w, bias),
        _ => {
            out.fill(bias);
            for (&wv, &tap) in w.iter().zip(taps) {
                let src = &input[tap + base..][..out.len()];
                for (o, &v) in out.iter_mut().zip(src) {
                    *o += wv * v;
                }
            }
        }
    }
}

/// Outputs per block of [`fixed_taps`]: one zmm, two ymm or four xmm
/// registers of running sums.
const LANES: usize = 16;

/// [`tap_loop`] for a tap count known at compile time: blocks of
/// [`LANES`] outputs stay in registers while the (unrolled) taps go by. A
/// ragged end is covered by one more block overlapping the previous one,
/// which is harmless since outputs are written, not accumulated.
#[inline(always)]
fn fixed_taps<const T: usize>(out: &mut [f32], input: &[f32], base: usize, taps: &[usize], w: &[f32], bias: f32) {
    let n = out.len();
    let w: &[f32; T] = w.try_into().expect("one weight per tap");
    let mut src: [&[f32]; T] = [&[]; T];
    for (s, &tap) in src.iter_mut().zip(taps) {
        *s = &input[tap + base..][..n];
    }
    if n < LANES {
        for (i, o) in out.iter_mut().enumerate() {
            let mut acc = bias;
            for t in 0..T {
                acc += w[t] * src[t][i];
            }
            *o = acc;
        }
        return;
    }
    let mut i = 0;
    while i + LANES <= n {
        lanes_block(&mut out[i..i + LANES], &src, i, w, bias);
        i += LANES;
    }
    if i < n {
        lanes_block(&mut out[n - LANES..], &src, n - LANES, w, bias);
    }
}

/// Outputs `i .. i + LANES` of [`fixed_taps`]. A function rather than a
/// closure, so it is inlined into (and compiled with the target features of)
/// the caller's build.
#[inline(always)]
fn lanes_block<const T: usize>(out: &mut [f32], src: &[&[f32]; T], i: usize, w: &[f32; T], bias: f32) {
    let mut acc = [bias; LANES];
    for t in 0..T {
        let s = &src[t][i..i + LANES];
        for l in 0..LANES {
            acc[l] += w[t] * s[l];
        }
    }
    out.copy_from_slice(&acc);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;
    use crate::f32::window::out_len;

    proptest! {
        /// The vectorised builds give the same bits as the baseline one.
        #[test]
        fn every_isa_gives_the_same_bits(
            c in 1usize..4,
            multiplier in 1usize..3,
            [h, w] in [1usize..10, 1usize..70],
            [kh, kw] in prop::sample::select(vec![[3usize, 3], [5, 5], [5, 3], [1, 1]]),
            [sh, sw] in [1usize..4, 1usize..4],
            [dh, dw] in [1usize..3, 1usize..3],
            [pt, pl] in [0usize..3, 0usize..3],
            seed: u64,
        ) {
            let (oh, ow) = (out_len(h, pt, pt, kh, sh, dh), out_len(w, pl, 1, kw, sw, dw));
            prop_assume!(oh > 0 && ow > 0);
            let g = Plane { h, w, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow };
            let m = c * multiplier;
            let x = values(c * h * w, seed);
            let wt = values(m * kh * kw, seed ^ 1);
            let bias = values(m, seed ^ 2);
            let mut base = vec![f32::NAN; m * oh * ow];
            depthwise_on(Isa::Baseline, &g, c, multiplier, &x, &wt, Some(&bias), &mut base, Threads::Single);
            let mut fast = vec![f32::NAN; m * oh * ow];
            depthwise_on(Isa::detect(), &g, c, multiplier, &x, &wt, Some(&bias), &mut fast, Threads::Pool);
            let same = base.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits());
            prop_assert!(same, "{:?} vs {:?}", Isa::Baseline, Isa::detect());
        }
    }
}
