//! Strided 2-D transposes, for switching tensors between channels-first and
//! channels-last layouts: 16×16 byte blocks and 4×4 float blocks in SSE2
//! registers on x86_64 (every x86_64 CPU has SSE2), scalar loops for the
//! edges and other architectures.

/// Source rows per pass (a multiple of both block sizes): the pass reads
/// them in L1 while it writes each destination row as one contiguous run,
/// instead of hopping between destination rows a whole stride apart (with
/// strides of 4 KiB, every such row falls in the same L1 set).
const ROW_TILE: usize = 64;

/// `dst[c·dst_stride + r] = src[r·src_stride + c]` for `r < rows`,
/// `c < cols`; nothing else in `dst` is written.
///
/// Panics if a stride is shorter than the row it steps over or a slice is
/// too short for the shape.
pub fn transpose_u8(src: &[u8], rows: usize, cols: usize, src_stride: usize, dst: &mut [u8], dst_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    let block = Some((16, block_u8 as unsafe fn(*const u8, usize, *mut u8, usize)));
    #[cfg(not(target_arch = "x86_64"))]
    let block = None;
    transpose(src, [rows, cols, src_stride], dst, dst_stride, block);
}

/// [`transpose_u8`] for `f32`, in 4×4 blocks.
pub fn transpose_f32(src: &[f32], rows: usize, cols: usize, src_stride: usize, dst: &mut [f32], dst_stride: usize) {
    #[cfg(target_arch = "x86_64")]
    let block = Some((4, block_f32 as unsafe fn(*const f32, usize, *mut f32, usize)));
    #[cfg(not(target_arch = "x86_64"))]
    let block = None;
    transpose(src, [rows, cols, src_stride], dst, dst_stride, block);
}

/// A square block transpose: its side, and the function that transposes
/// one block at (source, source row stride) into (destination, destination
/// row stride).
type Block<T> = (usize, unsafe fn(*const T, usize, *mut T, usize));

/// The shared driver: whole `block`s over the largest multiple of its side,
/// source rows in passes of [`ROW_TILE`], then scalar edges.
fn transpose<T: Copy>(
    src: &[T],
    [rows, cols, src_stride]: [usize; 3],
    dst: &mut [T],
    dst_stride: usize,
    block: Option<Block<T>>,
) {
    if !check(src.len(), dst.len(), rows, cols, src_stride, dst_stride) {
        return;
    }
    let mut full = [0, 0];
    if let Some((side, f)) = block {
        full = [rows / side * side, cols / side * side];
        for rt in (0..full[0]).step_by(ROW_TILE) {
            for c0 in (0..full[1]).step_by(side) {
                for r0 in (rt..full[0].min(rt + ROW_TILE)).step_by(side) {
                    // SAFETY: rows r0..r0+side and columns c0..c0+side are
                    // inside the shape, whose extent `check` bounded by both
                    // slice lengths; `f` reads and writes exactly that block.
                    unsafe {
                        f(
                            src.as_ptr().add(r0 * src_stride + c0),
                            src_stride,
                            dst.as_mut_ptr().add(c0 * dst_stride + r0),
                            dst_stride,
                        )
                    };
                }
            }
        }
    }
    edges(src, rows, cols, src_stride, dst, dst_stride, full);
}

/// Checks the shape against the slices; `false` for an empty shape.
fn check(src: usize, dst: usize, rows: usize, cols: usize, src_stride: usize, dst_stride: usize) -> bool {
    if rows == 0 || cols == 0 {
        return false;
    }
    assert!(src_stride >= cols && dst_stride >= rows, "transpose: strides {src_stride}/{dst_stride} for {rows}x{cols}");
    let need_src = (rows - 1).checked_mul(src_stride).and_then(|v| v.checked_add(cols));
    let need_dst = (cols - 1).checked_mul(dst_stride).and_then(|v| v.checked_add(rows));
    assert!(
        need_src.is_some_and(|n| n <= src) && need_dst.is_some_and(|n| n <= dst),
        "transpose: {rows}x{cols} does not fit slices of {src} and {dst}"
    );
    true
}

/// The scalar part: every element outside the `[full_r, full_c]` corner.
fn edges<T: Copy>(src: &[T], rows: usize, cols: usize, ss: usize, dst: &mut [T], ds: usize, [fr, fc]: [usize; 2]) {
    for r in 0..rows {
        let from = if r < fr { fc } else { 0 };
        for c in from..cols {
            dst[c * ds + r] = src[r * ss + c];
        }
    }
}

/// Transposes one 16×16 byte block with four rounds of SSE2 unpacks.
///
/// # Safety
/// 16 rows of 16 bytes from `src` (row stride `ss`) must be readable and 16
/// rows of 16 bytes from `dst` (row stride `ds`) writable.
#[cfg(target_arch = "x86_64")]
unsafe fn block_u8(src: *const u8, ss: usize, dst: *mut u8, ds: usize) {
    use std::arch::x86_64::{
        __m128i, _mm_loadu_si128, _mm_storeu_si128, _mm_unpackhi_epi8, _mm_unpackhi_epi16, _mm_unpackhi_epi32,
        _mm_unpackhi_epi64, _mm_unpacklo_epi8, _mm_unpacklo_epi16, _mm_unpacklo_epi32, _mm_unpacklo_epi64,
    };
    // SAFETY: the caller vouches for the 16 rows read and written.
    unsafe {
        let r: [__m128i; 16] = std::array::from_fn(|i| _mm_loadu_si128(src.add(i * ss).cast()));
        // t[2i], t[2i+1]: byte pairs of rows 2i, 2i+1 for columns 0..8, 8..16.
        let mut t = r;
        for i in 0..8 {
            t[2 * i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
        }
        // u[4j+s]: rows 4j..4j+4 of columns 4s..4s+4.
        let mut u = t;
        for j in 0..4 {
            u[4 * j] = _mm_unpacklo_epi16(t[4 * j], t[4 * j + 2]);
            u[4 * j + 1] = _mm_unpackhi_epi16(t[4 * j], t[4 * j + 2]);
            u[4 * j + 2] = _mm_unpacklo_epi16(t[4 * j + 1], t[4 * j + 3]);
            u[4 * j + 3] = _mm_unpackhi_epi16(t[4 * j + 1], t[4 * j + 3]);
        }
        // v[8g+2q+h]: rows 8g..8g+8 of columns 4q+2h, 4q+2h+1.
        let mut v = u;
        for g in 0..2 {
            for q in 0..4 {
                v[8 * g + 2 * q] = _mm_unpacklo_epi32(u[8 * g + q], u[8 * g + 4 + q]);
                v[8 * g + 2 * q + 1] = _mm_unpackhi_epi32(u[8 * g + q], u[8 * g + 4 + q]);
            }
        }
        // Column 2k from the low halves, 2k+1 from the high halves.
        for k in 0..8 {
            _mm_storeu_si128(dst.add(2 * k * ds).cast(), _mm_unpacklo_epi64(v[k], v[8 + k]));
            _mm_storeu_si128(dst.add((2 * k + 1) * ds).cast(), _mm_unpackhi_epi64(v[k], v[8 + k]));
        }
    }
}

/// Transposes one 4×4 float block.
///
/// # Safety
/// 4 rows of 4 floats from `src` (row stride `ss`) must be readable and 4
/// rows of 4 floats from `dst` (row stride `ds`) writable.
#[cfg(target_arch = "x86_64")]
unsafe fn block_f32(src: *const f32, ss: usize, dst: *mut f32, ds: usize) {
    use std::arch::x86_64::{
        _mm_loadu_ps, _mm_movehl_ps, _mm_movelh_ps, _mm_storeu_ps, _mm_unpackhi_ps, _mm_unpacklo_ps,
    };
    // SAFETY: the caller vouches for the 4 rows read and written.
    unsafe {
        let (a, b, c, d) = (
            _mm_loadu_ps(src),
            _mm_loadu_ps(src.add(ss)),
            _mm_loadu_ps(src.add(2 * ss)),
            _mm_loadu_ps(src.add(3 * ss)),
        );
        let (ab_lo, ab_hi, cd_lo, cd_hi) =
            (_mm_unpacklo_ps(a, b), _mm_unpackhi_ps(a, b), _mm_unpacklo_ps(c, d), _mm_unpackhi_ps(c, d));
        _mm_storeu_ps(dst, _mm_movelh_ps(ab_lo, cd_lo));
        _mm_storeu_ps(dst.add(ds), _mm_movehl_ps(cd_lo, ab_lo));
        _mm_storeu_ps(dst.add(2 * ds), _mm_movelh_ps(ab_hi, cd_hi));
        _mm_storeu_ps(dst.add(3 * ds), _mm_movehl_ps(cd_hi, ab_hi));
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn reference<T: Copy>(src: &[T], rows: usize, cols: usize, ss: usize, dst: &mut [T], ds: usize) {
        for r in 0..rows {
            for c in 0..cols {
                dst[c * ds + r] = src[r * ss + c];
            }
        }
    }

    proptest! {
        #[test]
        fn matches_the_scalar_transpose(rows in 0usize..70, cols in 0usize..70, pad_s in 0usize..5, pad_d in 0usize..5, seed: u64) {
            let (ss, ds) = (cols + pad_s, rows + pad_d);
            let n_src = rows.max(1) * ss + 3;
            let n_dst = cols.max(1) * ds + 3;
            let bytes: Vec<u8> = (0..n_src).map(|i| (i as u64).wrapping_mul(seed | 1).rotate_left(17) as u8).collect();
            let floats: Vec<f32> = bytes.iter().enumerate().map(|(i, &b)| b as f32 + i as f32 * 0.5).collect();
            // Untouched elements must keep their sentinel.
            let (mut got8, mut want8) = (vec![7u8; n_dst], vec![7u8; n_dst]);
            transpose_u8(&bytes, rows, cols, ss, &mut got8, ds);
            reference(&bytes, rows, cols, ss, &mut want8, ds);
            prop_assert_eq!(got8, want8);
            let (mut got, mut want) = (vec![-1f32; n_dst], vec![-1f32; n_dst]);
            transpose_f32(&floats, rows, cols, ss, &mut got, ds);
            reference(&floats, rows, cols, ss, &mut want, ds);
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    #[should_panic(expected = "does not fit")]
    fn short_destination_panics() {
        transpose_f32(&[0.0; 16], 4, 4, 4, &mut [0.0; 15], 4);
    }
}
