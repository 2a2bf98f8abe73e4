//! MaxPool and AveragePool over any number of spatial axes.

use ndarray::ArrayD;
use ptq_ir::Tensor;
use ptq_ir::ops::pool::{Pool, PoolKind};
use ptq_ir::ops::spatial::AutoPad;
use ptq_kernels::{Threads, parallel};

use super::Out;
use super::conv::{per_axis, resolve_pads};
use crate::inputs::Inputs;
use crate::util::{Elem, array, contiguous};

/// Output length of one axis; with `ceil_mode` a last window that would start
/// in the end padding is dropped (as PyTorch and onnxruntime do).
fn out_len(i: usize, k: usize, s: usize, d: usize, (pb, pe): (usize, usize), ceil: bool, auto: AutoPad) -> usize {
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

/// The window geometry of one pooling node, spatial axes only.
#[derive(Debug)]
struct Geometry {
    input: Vec<usize>,
    out: Vec<usize>,
    kernel: Vec<usize>,
    dil: Vec<usize>,
    stride: Vec<usize>,
    pads: Vec<(usize, usize)>,
    /// Every kernel tap as per-axis offsets (dilation applied).
    taps: Vec<Vec<usize>>,
}

impl Geometry {
    fn new(op: &Pool, input: &[usize]) -> Result<Geometry, String> {
        let sp = input.len();
        let kernel: Vec<usize> =
            op.kernel_shape.iter().map(|&v| crate::util::to_usize(v, "kernel")).collect::<Result<_, _>>()?;
        if kernel.len() != sp {
            return Err("kernel rank does not match the input".into());
        }
        let stride = per_axis(&op.strides, sp, "strides")?;
        let dil = per_axis(&op.dilations, sp, "dilations")?;
        if kernel.iter().chain(&stride).chain(&dil).any(|&v| v == 0) {
            return Err("kernel sizes, strides and dilations must be positive".into());
        }
        let pads = resolve_pads(op.auto_pad, &op.pads, input, &kernel, &stride, &dil)?;
        let out: Vec<usize> = (0..sp)
            .map(|a| out_len(input[a], kernel[a], stride[a], dil[a], pads[a], op.ceil_mode, op.auto_pad))
            .collect();
        let mut taps = vec![vec![]];
        for a in 0..sp {
            let (k, d) = (kernel[a], dil[a]);
            taps = taps
                .into_iter()
                .flat_map(|t: Vec<usize>| {
                    (0..k).map(move |i| {
                        let mut t = t.clone();
                        t.push(i * d);
                        t
                    })
                })
                .collect();
        }
        Ok(Geometry { input: input.to_vec(), out, kernel, dil, stride, pads, taps })
    }
}

/// Calls `f(flat, coords)` for every position of a row-major grid of `dims`.
fn for_each_position(dims: &[usize], mut f: impl FnMut(usize, &[usize])) {
    if dims.contains(&0) {
        return;
    }
    let mut pos = vec![0usize; dims.len()];
    let total: usize = dims.iter().product();
    for flat in 0..total {
        f(flat, &pos);
        for a in (0..dims.len()).rev() {
            pos[a] += 1;
            if pos[a] < dims[a] {
                break;
            }
            pos[a] = 0;
        }
    }
}

/// Pools one (n, c) plane. `idx` receives the arg-max as a flat index into
/// the whole input (`plane_base` + offset), row- or column-major.
#[allow(clippy::too_many_arguments)]
fn pool_plane<T: Elem>(
    op: &Pool,
    g: &Geometry,
    src: &[T],
    y: &mut [T],
    mut idx: Option<&mut [i64]>,
    plane_base: usize,
    row_strides: &[usize],
    index_strides: &[usize],
) {
    let sp = g.input.len();
    let mut coord = vec![0usize; sp];
    for_each_position(&g.out, |o, pos| {
        let (mut best, mut best_i) = (None::<T>, -1i64);
        let (mut sum, mut cnt) = (0f64, 0usize);
        for tap in &g.taps {
            let mut inside = true;
            for a in 0..sp {
                let c = (pos[a] * g.stride[a] + tap[a]) as isize - g.pads[a].0 as isize;
                inside &= c >= 0 && (c as usize) < g.input[a];
                coord[a] = c.max(0) as usize;
            }
            if inside {
                let off: usize = coord.iter().zip(row_strides).map(|(c, s)| c * s).sum();
                let v = src[off];
                match op.kind {
                    PoolKind::Max => {
                        if best.is_none_or(|b| v > b) {
                            best = Some(v);
                            best_i = (plane_base + coord.iter().zip(index_strides).map(|(c, s)| c * s).sum::<usize>())
                                as i64;
                        }
                    }
                    PoolKind::Avg => {
                        sum += v.to_f64();
                        cnt += 1;
                    }
                }
            }
        }
        if op.count_include_pad {
            cnt = g.taps.len();
        }
        y[o] = match op.kind {
            PoolKind::Max => best.unwrap_or_else(|| T::from_f64(f64::NEG_INFINITY)),
            PoolKind::Avg => T::from_f64(if cnt == 0 { 0.0 } else { sum / cnt as f64 }),
        };
        if let Some(ip) = idx.as_deref_mut() {
            ip[o] = best_i;
        }
    });
}

/// The kernel taps `k` (spacing `dil`) of a window starting at `start` that
/// fall inside `0..len`, as a range of tap indices.
fn valid_taps(start: isize, k: usize, dil: usize, len: usize) -> std::ops::Range<usize> {
    let lo = if start < 0 { ((-start) as usize).div_ceil(dil) } else { 0 };
    let hi = if start >= len as isize { 0 } else { ((len as isize - 1 - start) as usize / dil + 1).min(k) };
    lo..hi.max(lo)
}

/// [`pool_plane`] for one or two spatial axes (one axis is a height of 1),
/// with the in-bounds taps of each window computed up front.
#[allow(clippy::too_many_arguments)]
fn pool_plane_2d<T: Elem>(
    op: &Pool,
    g: &Geometry,
    src: &[T],
    y: &mut [T],
    mut idx: Option<&mut [i64]>,
    plane_base: usize,
    kernel: [usize; 2],
    dil: [usize; 2],
) {
    let two = g.input.len() == 2;
    let pick = |v: &[usize], fill: usize| if two { [v[0], v[1]] } else { [fill, v[0]] };
    let [h, w] = pick(&g.input, 1);
    let [oh, ow] = pick(&g.out, 1);
    let [sh, sw] = pick(&g.stride, 1);
    let (pt, pl) = if two { (g.pads[0].0, g.pads[1].0) } else { (0, g.pads[0].0) };
    let column_major = op.storage_order == 1;
    if idx.is_none() && dil == [1, 1] {
        let plane = Plane { input: [h, w], out: [oh, ow], stride: [sh, sw], pad: [pt, pl], kernel };
        pool_plane_fast(op, src, y, &plane);
        return;
    }
    for oy in 0..oh {
        let y0 = (oy * sh) as isize - pt as isize;
        let ky = valid_taps(y0, kernel[0], dil[0], h);
        for ox in 0..ow {
            let x0 = (ox * sw) as isize - pl as isize;
            let kx = valid_taps(x0, kernel[1], dil[1], w);
            let o = oy * ow + ox;
            match op.kind {
                PoolKind::Max => {
                    let (mut best, mut best_i) = (None::<T>, -1i64);
                    for a in ky.clone() {
                        let iy = (y0 + (a * dil[0]) as isize) as usize;
                        let row = &src[iy * w..(iy + 1) * w];
                        for b in kx.clone() {
                            let ix = (x0 + (b * dil[1]) as isize) as usize;
                            let v = row[ix];
                            if best.is_none_or(|m| v > m) {
                                best = Some(v);
                                best_i = (plane_base + if column_major { iy + ix * h } else { iy * w + ix }) as i64;
                            }
                        }
                    }
                    y[o] = best.unwrap_or_else(|| T::from_f64(f64::NEG_INFINITY));
                    if let Some(ip) = idx.as_deref_mut() {
                        ip[o] = best_i;
                    }
                }
                PoolKind::Avg => {
                    let mut sum = 0f64;
                    for a in ky.clone() {
                        let iy = (y0 + (a * dil[0]) as isize) as usize;
                        let row = &src[iy * w..(iy + 1) * w];
                        for b in kx.clone() {
                            sum += row[(x0 + (b * dil[1]) as isize) as usize].to_f64();
                        }
                    }
                    let cnt = if op.count_include_pad { kernel[0] * kernel[1] } else { ky.len() * kx.len() };
                    y[o] = T::from_f64(if cnt == 0 { 0.0 } else { sum / cnt as f64 });
                }
            }
        }
    }
}

/// One undilated 2-D plane's geometry: input and output sizes, strides,
/// leading pads and kernel, each as (rows, columns).
struct Plane {
    input: [usize; 2],
    out: [usize; 2],
    stride: [usize; 2],
    pad: [usize; 2],
    kernel: [usize; 2],
}

/// The in-bounds part `[first, end)` of a window of `k` taps starting at
/// `start` (negative inside the leading pad) on an axis of `n`: empty, with
/// `end <= first`, when the window lies wholly in the padding.
fn clipped(start: isize, k: usize, n: usize) -> (usize, usize) {
    (start.max(0) as usize, ((start + k as isize).min(n as isize)).max(0) as usize)
}

/// Undilated 2-D pooling without indices: whole-window rows are read as slices.
fn pool_plane_fast<T: Elem>(op: &Pool, src: &[T], y: &mut [T], plane: &Plane) {
    if op.kind == PoolKind::Max {
        max_plane_separable(src, y, plane);
        return;
    }
    let Plane { input: [h, w], out: [oh, ow], stride: [sh, sw], pad: [pt, pl], kernel: [kh, kw] } = *plane;
    let volume = (kh * kw) as f64;
    for oy in 0..oh {
        let y0 = (oy * sh) as isize - pt as isize;
        let (r0, r1) = clipped(y0, kh, h);
        let out_row = &mut y[oy * ow..(oy + 1) * ow];
        for (ox, out) in out_row.iter_mut().enumerate() {
            let x0 = (ox * sw) as isize - pl as isize;
            let (c0, c1) = clipped(x0, kw, w);
            let mut sum = 0f64;
            for r in r0..r1.max(r0) {
                for &v in &src[r * w + c0..r * w + c1.max(c0)] {
                    sum += v.to_f64();
                }
            }
            let cnt =
                if op.count_include_pad { volume } else { (r1.saturating_sub(r0) * c1.saturating_sub(c0)) as f64 };
            *out = T::from_f64(if cnt == 0.0 { 0.0 } else { sum / cnt });
        }
    }
}

/// Undilated 2-D max pooling without indices, separably: per output row, the
/// maximum down each column over the window's rows, then across each
/// window's columns; both are loops over whole rows, which the compiler
/// vectorises, except at windows clipped by the padding.
///
/// It gives the direct scan's result: a value replaces the running maximum
/// only when greater, so a window's result is NaN exactly when its first
/// element (top-left in bounds) is NaN, in both orders. Of equal maxima the
/// first row's and then the first column's is kept, which can differ from
/// the row-major scan only in the sign of a zero. An empty window gives −∞.
fn max_plane_separable<T: Elem>(src: &[T], y: &mut [T], plane: &Plane) {
    let Plane { input: [h, w], out: [oh, ow], stride: [sh, sw], pad: [pt, pl], kernel: [kh, kw] } = *plane;
    let empty = T::from_f64(f64::NEG_INFINITY);
    let (mut colmax, mut rowmax): (Vec<T>, Vec<T>) = (Vec::with_capacity(w), Vec::with_capacity(w));
    for oy in 0..oh {
        let y0 = (oy * sh) as isize - pt as isize;
        let (r0, r1) = clipped(y0, kh, h);
        let out_row = &mut y[oy * ow..(oy + 1) * ow];
        if r1 <= r0 {
            out_row.fill(empty);
            continue;
        }
        colmax.clear();
        colmax.extend_from_slice(&src[r0 * w..(r0 + 1) * w]);
        for r in r0 + 1..r1 {
            for (m, &v) in colmax.iter_mut().zip(&src[r * w..(r + 1) * w]) {
                *m = if v > *m { v } else { *m };
            }
        }
        // Whole windows: the maximum of each run of `kw` columns, as `kw`
        // passes over shifted slices (vectorised), folded left to right.
        let whole = (w + 1).saturating_sub(kw);
        rowmax.clear();
        rowmax.extend_from_slice(&colmax[..whole]);
        for t in 1..kw {
            for (m, &v) in rowmax.iter_mut().zip(&colmax[t..t + whole]) {
                *m = if v > *m { v } else { *m };
            }
        }
        // Outputs [lo, hi) have whole windows, starting at column ox·sw − pl.
        let lo = pl.div_ceil(sw).min(ow);
        let hi = if whole == 0 { lo } else { ((whole - 1 + pl) / sw + 1).clamp(lo, ow) };
        if lo < hi {
            // Output `lo`'s window starts at column lo·sw − pl ≥ 0.
            for (out, &v) in out_row[lo..hi].iter_mut().zip(rowmax[lo * sw - pl..].iter().step_by(sw)) {
                *out = v;
            }
        }
        for ox in (0..lo).chain(hi..ow) {
            let x0 = (ox * sw) as isize - pl as isize;
            let (c0, c1) = clipped(x0, kw, w);
            out_row[ox] = match colmax.get(c0..c1) {
                Some([first, rest @ ..]) => rest.iter().fold(*first, |m, &v| if v > m { v } else { m }),
                _ => empty,
            };
        }
    }
}

/// The classic 2x2/2 max pool on f32 (see [`is_max_2x2`]) with the kernels
/// crate's vectorised loop, planes split across threads; `None` for any
/// other pool.
fn max_2x2_f32(op: &Pool, x: &ArrayD<f32>, threads: Threads) -> Result<Option<ArrayD<f32>>, String> {
    let xs = x.shape();
    if xs.len() != 4 {
        return Ok(None);
    }
    let g = Geometry::new(op, &xs[2..])?;
    if !is_max_2x2(op, &g) {
        return Ok(None);
    }
    let (hw, ohw) = ([g.input[0], g.input[1]], [g.out[0], g.out[1]]);
    let (plane_in, plane_out) = (hw[0] * hw[1], ohw[0] * ohw[1]);
    let data = contiguous(x);
    let mut y = vec![0f32; xs[0] * xs[1] * plane_out];
    if plane_out > 0 {
        // About 16 K input elements per task.
        let per = (1 << 14) / plane_in + 1;
        parallel::for_each_chunk_mut(
            &mut y,
            per * plane_out,
            threads,
            || (),
            |(), (i, out)| {
                let src = &data[i * per * plane_in..][..out.len() / plane_out * plane_in];
                ptq_kernels::max_pool_2x2(src, hw, out, ohw);
            },
        );
    }
    Ok(Some(array(&[xs[0], xs[1], ohw[0], ohw[1]], y)?))
}

/// Whether `op` is the classic 2x2, stride 2, unpadded, undilated max pool
/// over a 2-D plane with every window inside the input.
fn is_max_2x2(op: &Pool, g: &Geometry) -> bool {
    op.kind == PoolKind::Max
        && g.kernel == [2, 2]
        && g.stride == [2, 2]
        && g.dil == [1, 1]
        && g.pads.iter().all(|&(b, e)| b == 0 && e == 0)
        && g.input.len() == 2
        && 2 * g.out[0] <= g.input[0]
        && 2 * g.out[1] <= g.input[1]
}

/// 2x2/2 max pool over `rows` output rows of `ow` at once: output row r
/// (plane r / oh, row r % oh) reads input rows 2·(r % oh) and 2·(r % oh) + 1
/// of its plane (`plane_len` elements, rows of `w`). A NaN in a window
/// is the window's maximum.
fn max_2x2_rows<T: Elem>(src: &[T], y: &mut [T], rows: usize, w: usize, ow: usize, plane_len: usize, oh: usize) {
    // max that returns NaN when either side is NaN.
    let pick = |a: T, b: T| if a >= b || a.partial_cmp(&a).is_none() { a } else { b };
    if ow == 0 || oh == 0 {
        return;
    }
    let planes = rows / oh;
    for (p, out_plane) in y.chunks_exact_mut(oh * ow).take(planes).enumerate() {
        let plane = &src[p * plane_len..][..plane_len];
        for (oy, out) in out_plane.chunks_exact_mut(ow).enumerate() {
            let (r0, r1) = (&plane[2 * oy * w..][..2 * ow], &plane[(2 * oy + 1) * w..][..2 * ow]);
            for ((o, a), b) in out.iter_mut().zip(r0.chunks_exact(2)).zip(r1.chunks_exact(2)) {
                *o = pick(pick(a[0], a[1]), pick(b[0], b[1]));
            }
        }
    }
}

fn pool<T: Elem>(
    op: &Pool,
    x: &ArrayD<T>,
    want_idx: bool,
    threads: Threads,
) -> Result<(ArrayD<T>, Option<Tensor>), String> {
    let xs = x.shape();
    if xs.len() < 3 {
        return Err(format!("input rank {} < 3", xs.len()));
    }
    let g = Geometry::new(op, &xs[2..])?;
    let sp = g.input.len();
    let plane_in: usize = g.input.iter().product();
    let plane_out: usize = g.out.iter().product();
    let planes = xs[0] * xs[1];
    let mut row_strides = vec![1usize; sp];
    for a in (0..sp.saturating_sub(1)).rev() {
        row_strides[a] = row_strides[a + 1] * g.input[a + 1];
    }
    // storage_order 1: the arg-max index counts the first spatial axis fastest.
    let index_strides = if op.storage_order == 1 {
        let mut s = vec![1usize; sp];
        for a in 1..sp {
            s[a] = s[a - 1] * g.input[a - 1];
        }
        s
    } else {
        row_strides.clone()
    };
    let data = contiguous(x);
    let mut y = vec![T::from_f64(0.0); planes * plane_out];
    if !want_idx && is_max_2x2(op, &g) {
        let (w, ow) = (g.input[1], g.out[1]);
        max_2x2_rows(&data, &mut y, planes * g.out[0], w, ow, g.input[0] * w, g.out[0]);
        let mut shape = vec![xs[0], xs[1]];
        shape.extend_from_slice(&g.out);
        return Ok((array(&shape, y)?, None));
    }
    let mut idx = vec![0i64; if want_idx { planes * plane_out } else { 0 }];
    if plane_out > 0 && plane_in > 0 {
        let work = |p: usize, yp: &mut [T], ip: Option<&mut [i64]>| {
            let src = &data[p * plane_in..(p + 1) * plane_in];
            match (&g.kernel[..], &g.dil[..]) {
                (&[kh, kw], &[dh, dw]) => pool_plane_2d(op, &g, src, yp, ip, p * plane_in, [kh, kw], [dh, dw]),
                (&[k], &[d]) => pool_plane_2d(op, &g, src, yp, ip, p * plane_in, [1, k], [1, d]),
                _ => pool_plane(op, &g, src, yp, ip, p * plane_in, &row_strides, &index_strides),
            }
        };
        let taps: usize = g.kernel.iter().product();
        if threads == Threads::Single || planes * plane_out * taps < 1 << 18 {
            // Small layers: thread hand-off costs more than the work.
            if want_idx {
                y.chunks_mut(plane_out)
                    .zip(idx.chunks_mut(plane_out))
                    .enumerate()
                    .for_each(|(p, (yp, ip))| work(p, yp, Some(ip)));
            } else {
                y.chunks_mut(plane_out).enumerate().for_each(|(p, yp)| work(p, yp, None));
            }
        } else if want_idx {
            let planes: Vec<_> = y.chunks_mut(plane_out).zip(idx.chunks_mut(plane_out)).enumerate().collect();
            parallel::for_each(planes, threads, || (), |(), (p, (yp, ip))| work(p, yp, Some(ip)));
        } else {
            parallel::for_each_chunk_mut(&mut y, plane_out, threads, || (), |(), (p, yp)| work(p, yp, None));
        }
    } else if plane_out > 0 {
        return Err("cannot pool an empty spatial input".into());
    }
    let mut shape = vec![xs[0], xs[1]];
    shape.extend(&g.out);
    let indices = if want_idx { Some(Tensor::I64(array(&shape, idx)?)) } else { None };
    Ok((array(&shape, y)?, indices))
}

/// Runs the pooling op on f32, f64, f16, bf16, and for MaxPool also i8 and u8.
/// MaxPool's optional second output holds flat indices into the input
/// (row-major, or column-major over the spatial axes with `storage_order` 1).
/// Average pooling accumulates in f64; with `count_include_pad` the divisor is
/// the kernel volume, so padding (including the overhang that `ceil_mode`
/// adds) counts as zeros, as in the ONNX reference and onnxruntime.
pub fn run(op: &Pool, ins: &mut Inputs, n_out: usize) -> Out {
    let threads = ins.threads;
    let x = ins.get(0)?;
    let want_idx = op.kind == PoolKind::Max && n_out > 1;
    if let (Tensor::F32(a), false) = (x, want_idx)
        && let Some(y) = max_2x2_f32(op, a, threads)?
    {
        return Ok(vec![Some(Tensor::F32(y)), None]);
    }
    let (y, idx) = match x {
        Tensor::F32(a) => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::F32(y), i))?,
        Tensor::F64(a) => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::F64(y), i))?,
        Tensor::F16(a) => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::F16(y), i))?,
        Tensor::BF16(a) => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::BF16(y), i))?,
        Tensor::I8(a) if op.kind == PoolKind::Max => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::I8(y), i))?,
        Tensor::U8(a) if op.kind == PoolKind::Max => pool(op, a, want_idx, threads).map(|(y, i)| (Tensor::U8(y), i))?,
        t => return Err(format!("{} of {} is not supported", if want_idx { "MaxPool" } else { "pooling" }, t.dtype())),
    };
    Ok(vec![Some(y), idx])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Slot;

    fn pool_op(kind: PoolKind, kernel: &[i64]) -> Pool {
        Pool {
            kind,
            auto_pad: AutoPad::NotSet,
            ceil_mode: false,
            count_include_pad: false,
            dilations: None,
            kernel_shape: kernel.to_vec(),
            pads: None,
            storage_order: 0,
            strides: None,
        }
    }

    fn run_on(op: &Pool, x: Tensor, n_out: usize) -> Vec<Option<Tensor>> {
        let mut ins = Inputs::new(vec![Some(Slot { tensor: std::sync::Arc::new(x), reusable: false })]);
        run(op, &mut ins, n_out).unwrap()
    }

    #[test]
    fn three_d_average_matches_a_direct_sum() {
        let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[1, 1, 3, 3, 3]), |i| (i[2] * 9 + i[3] * 3 + i[4]) as f32);
        let op = pool_op(PoolKind::Avg, &[2, 2, 2]);
        let y = run_on(&op, Tensor::F32(x.clone()), 1);
        let Some(Tensor::F32(y)) = &y[0] else { panic!("f32 output") };
        assert_eq!(y.shape(), &[1, 1, 2, 2, 2]);
        let mut want = 0.0;
        for (d, h, w) in [(0, 0, 0), (0, 0, 1), (0, 1, 0), (0, 1, 1), (1, 0, 0), (1, 0, 1), (1, 1, 0), (1, 1, 1)] {
            want += x[[0, 0, 1 + d, h, w]];
        }
        assert_eq!(y[[0, 0, 1, 0, 0]], want / 8.0);
    }

    #[test]
    fn max_keeps_the_integer_dtype_and_column_major_indices() {
        let x = ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 2, 3]), vec![1u8, 9, 3, 4, 5, 6]).unwrap();
        let mut op = pool_op(PoolKind::Max, &[2, 2]);
        op.storage_order = 1;
        let y = run_on(&op, Tensor::U8(x), 2);
        assert_eq!(y[0], Some(Tensor::U8(ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 1, 2]), vec![9, 9]).unwrap())));
        // 9 sits at (h 0, w 1): column-major index 0 + 1 * 2.
        assert_eq!(y[1], Some(Tensor::I64(ArrayD::from_shape_vec(ndarray::IxDyn(&[1, 1, 1, 2]), vec![2, 2]).unwrap())));
    }

    #[test]
    fn the_two_axis_fast_path_matches_the_general_one() {
        let x: Vec<f32> = (0..5 * 7).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
        for (kind, ceil, include, order, pads, dil, stride) in [
            (PoolKind::Max, false, false, 0, [0, 0, 0, 0], [1, 1], [1, 1]),
            (PoolKind::Max, true, false, 1, [1, 2, 0, 1], [2, 1], [2, 3]),
            (PoolKind::Avg, true, true, 0, [2, 1, 2, 1], [1, 2], [2, 2]),
            (PoolKind::Avg, false, false, 0, [1, 1, 1, 1], [2, 2], [1, 2]),
        ] {
            let mut op = pool_op(kind, &[3, 2]);
            (op.ceil_mode, op.count_include_pad, op.storage_order) = (ceil, include, order);
            op.pads = Some(pads.to_vec());
            op.dilations = Some(dil.to_vec());
            op.strides = Some(stride.to_vec());
            let g = Geometry::new(&op, &[5, 7]).unwrap();
            let n: usize = g.out.iter().product();
            let (mut y1, mut y2, mut i1, mut i2) = (vec![0f32; n], vec![0f32; n], vec![0i64; n], vec![0i64; n]);
            let idx_strides = if order == 1 { [1, 5] } else { [7, 1] };
            pool_plane(&op, &g, &x, &mut y1, Some(&mut i1), 0, &[7, 1], &idx_strides);
            pool_plane_2d(&op, &g, &x, &mut y2, Some(&mut i2), 0, [3, 2], [dil[0] as usize, dil[1] as usize]);
            assert_eq!(y1, y2, "{op:?}");
            if kind == PoolKind::Max {
                assert_eq!(i1, i2, "{op:?}");
            }
        }
    }

    #[test]
    fn separable_max_pooling_matches_the_direct_scan_with_nans_and_padding() {
        // A deterministic mix with NaNs, infinities and repeated values.
        let x: Vec<f32> = (0..9 * 11)
            .map(|i| match (i * 7919) % 23 {
                0 => f32::NAN,
                1 => f32::NEG_INFINITY,
                k => (k as f32 - 11.0) * 0.5,
            })
            .collect();
        for (hw, k, stride, pads, ceil) in [
            ([9, 11], [3, 3], [2, 2], [1, 1, 1, 1], false),
            ([9, 11], [3, 3], [1, 1], [0, 0, 0, 0], false),
            ([9, 11], [2, 3], [2, 1], [1, 0, 0, 2], true),
            ([9, 11], [5, 4], [3, 2], [2, 2, 2, 2], true),
            // Strides longer than the kernel, padding past every window.
            ([3, 3], [3, 3], [4, 4], [1, 1, 1, 1], false),
            ([2, 3], [1, 1], [3, 3], [2, 5, 2, 3], true),
        ] {
            let x = &x[..hw[0] * hw[1]];
            let mut op = pool_op(PoolKind::Max, &k);
            op.strides = Some(stride.to_vec());
            op.pads = Some(pads.to_vec());
            op.ceil_mode = ceil;
            let g = Geometry::new(&op, &hw).unwrap();
            let n: usize = g.out.iter().product();
            let (mut direct, mut separable, mut idx) = (vec![0f32; n], vec![0f32; n], vec![0i64; n]);
            // With indices the direct scan runs.
            pool_plane_2d(&op, &g, x, &mut direct, Some(&mut idx), 0, [k[0] as usize, k[1] as usize], [1, 1]);
            pool_plane_2d(&op, &g, x, &mut separable, None, 0, [k[0] as usize, k[1] as usize], [1, 1]);
            let bits =
                |v: &[f32]| v.iter().map(|f| if f.is_nan() { u32::MAX } else { f.to_bits() }).collect::<Vec<_>>();
            assert_eq!(bits(&direct), bits(&separable), "{op:?}");
        }
    }

    #[test]
    fn zero_strides_are_an_error() {
        let mut op = pool_op(PoolKind::Max, &[1]);
        op.strides = Some(vec![0]);
        let x = Tensor::F32(ArrayD::zeros(ndarray::IxDyn(&[1, 1, 4])));
        let mut ins = Inputs::new(vec![Some(Slot { tensor: std::sync::Arc::new(x), reusable: false })]);
        assert!(run(&op, &mut ins, 1).is_err());
    }
}
