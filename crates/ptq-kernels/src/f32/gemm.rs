//! Single-precision GEMM over strided views, on top of the `gemm` crate.

use crate::Threads;
use crate::pool::{Current, Pool, current};

/// Shape and strides (in elements) of C\[m×n\] = alpha·A\[m×k\]·B\[k×n\] + beta·C.
///
/// Element (i, j) of A is `a[i·a_rs + j·a_cs]`, and likewise for B and C: the
/// first element of each slice is the view's (0, 0). Strides must be
/// non-negative; a zero stride in A or B repeats a row or column (broadcast).
/// C must not overlap itself: one of its strides must step over the whole
/// extent of the other dimension (row-major, column-major, or a submatrix of
/// either). [`sgemm`] panics otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub a_rs: isize,
    pub a_cs: isize,
    pub b_rs: isize,
    pub b_cs: isize,
    pub c_rs: isize,
    pub c_cs: isize,
    pub alpha: f32,
    pub beta: f32,
}

impl Gemm {
    /// Row-major contiguous A, B, C with optional transposes of A and B (A
    /// stored k×m when `trans_a`, B stored n×k when `trans_b`), alpha = 1 and
    /// beta = 0.
    pub fn row_major(m: usize, n: usize, k: usize, trans_a: bool, trans_b: bool) -> Gemm {
        let (a_rs, a_cs) = if trans_a { (1, stride(m)) } else { (stride(k), 1) };
        let (b_rs, b_cs) = if trans_b { (1, stride(k)) } else { (stride(n), 1) };
        Gemm { m, n, k, a_rs, a_cs, b_rs, b_cs, c_rs: stride(n), c_cs: 1, alpha: 1.0, beta: 0.0 }
    }
}

fn stride(n: usize) -> isize {
    isize::try_from(n).unwrap_or_else(|_| panic!("dimension {n} does not fit a stride"))
}

/// GEMMs with fewer multiply-adds than this run on the calling thread.
pub const SMALL_GEMM_MACS: usize = 1 << 20;

/// Runs the GEMM described by `g`: C = alpha·A·B + beta·C.
///
/// Panics if a slice is too short for the shape and strides, if a stride is
/// negative, or if C's strides make it overlap itself (see [`Gemm`]). Only
/// the elements of C inside the view are written.
///
/// beta == 0 ignores prior C contents (NaN in C does not leak); alpha == 0
/// ignores A and B (C = beta·C, or zeros). k == 0 gives beta·C, or zeros.
/// With [`Threads::Pool`] large products are split across the current pool;
/// products below [`SMALL_GEMM_MACS`] multiply-adds stay on the calling thread.
pub fn sgemm(g: &Gemm, a: &[f32], b: &[f32], c: &mut [f32], threads: Threads) {
    let a_len = extent("A", g.m, g.k, g.a_rs, g.a_cs);
    let b_len = extent("B", g.k, g.n, g.b_rs, g.b_cs);
    let c_len = extent("C", g.m, g.n, g.c_rs, g.c_cs);
    assert!(a.len() >= a_len, "sgemm: A has {} elements, the view needs {a_len}", a.len());
    assert!(b.len() >= b_len, "sgemm: B has {} elements, the view needs {b_len}", b.len());
    assert!(c.len() >= c_len, "sgemm: C has {} elements, the view needs {c_len}", c.len());
    assert!(
        disjoint(g.m, g.n, g.c_rs.unsigned_abs(), g.c_cs.unsigned_abs()),
        "sgemm: C strides ({}, {}) make a {}x{} view overlap itself",
        g.c_rs,
        g.c_cs,
        g.m,
        g.n
    );
    if g.m == 0 || g.n == 0 {
        return;
    }
    if g.alpha == 0.0 || g.k == 0 {
        scale_c(g, c);
        return;
    }
    // Below about a million multiply-adds, waking workers costs more than it saves.
    let small = g.m.saturating_mul(g.n).saturating_mul(g.k) < SMALL_GEMM_MACS;
    let v = Views { a: a.as_ptr(), b: b.as_ptr(), c: c.as_mut_ptr() };
    match (threads, small) {
        (Threads::Pool, false) => match current() {
            Current::Ours(pool) => split(&pool, g, v),
            // SAFETY: see `raw`; the slices were checked against `g` above.
            Current::Rayon => unsafe { raw(g, v, gemm::Parallelism::Rayon(0)) },
            // SAFETY: as above.
            Current::InTask => unsafe { raw(g, v, gemm::Parallelism::None) },
        },
        // SAFETY: as above.
        _ => unsafe { raw(g, v, gemm::Parallelism::None) },
    }
}

/// The base pointers of A, B and C, shared by the pieces of a split GEMM.
#[derive(Clone, Copy)]
struct Views {
    a: *const f32,
    b: *const f32,
    c: *mut f32,
}

impl Views {
    fn copied(&self) -> Views {
        *self
    }
}

// SAFETY: the pieces of one split GEMM only read A and B and write disjoint
// elements of C (see `split`), and the pointers are used only while `sgemm`
// holds the borrows they came from.
unsafe impl Sync for Views {}

/// Runs `g` as one piece per participant of `pool`: column blocks (multiples
/// of 16) when C is at least as wide as tall, else row blocks (multiples of
/// 8). Every piece is a sub-view of the checked one.
fn split(pool: &Pool, g: &Gemm, v: Views) {
    let by_cols = g.n >= g.m;
    let (len, align) = if by_cols { (g.n, 16) } else { (g.m, 8) };
    let step = len.div_ceil(pool.threads()).next_multiple_of(align);
    pool.for_range(len.div_ceil(step), &|piece| {
        let start = piece * step;
        let count = step.min(len - start);
        let mut sub = *g;
        // A method call captures `v` whole (a field access would capture
        // the bare pointers, which are not `Sync`).
        let Views { a, b, c } = v.copied();
        // SAFETY: `start < len`, so every offset below stays inside the view
        // `sgemm` checked (`extent`), and pieces cover disjoint rows or
        // columns of C, so no two write the same element (`disjoint`).
        unsafe {
            let piece = if by_cols {
                sub.n = count;
                Views { a, b: b.offset(start as isize * g.b_cs), c: c.offset(start as isize * g.c_cs) }
            } else {
                sub.m = count;
                Views { a: a.offset(start as isize * g.a_rs), b, c: c.offset(start as isize * g.c_rs) }
            };
            raw(&sub, piece, gemm::Parallelism::None);
        }
    });
}

/// The `gemm` crate's GEMM on raw views.
///
/// # Safety
/// Every (i, l), (l, j) and (i, j) offset reachable from `g`'s shape and
/// non-negative strides must lie inside the allocations of `v.a`, `v.b` and
/// `v.c`;
/// no two elements of the C view may share an offset, and C must not alias A
/// or B or be written by anyone else during the call.
unsafe fn raw(g: &Gemm, v: Views, parallelism: gemm::Parallelism) {
    // The `gemm` crate computes dst = alpha·dst + beta·lhs·rhs (its alpha and
    // beta are swapped with respect to BLAS) and reads dst only if `read_dst`.
    // SAFETY: the caller upholds the bounds, disjointness and aliasing
    // contract above; the threads `gemm` may start return before it does.
    unsafe {
        gemm::gemm(
            g.m,
            g.n,
            g.k,
            v.c,
            g.c_cs,
            g.c_rs,
            g.beta != 0.0,
            v.a,
            g.a_cs,
            g.a_rs,
            v.b,
            g.b_cs,
            g.b_rs,
            g.beta,
            g.alpha,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Number of elements a rows×cols view with these strides needs (0 for an
/// empty view). Panics on a negative stride or on overflow.
fn extent(name: &str, rows: usize, cols: usize, rs: isize, cs: isize) -> usize {
    assert!(
        rs >= 0 && cs >= 0,
        "sgemm: {name} has a negative stride ({rs}, {cs}); only non-negative strides are supported"
    );
    if rows == 0 || cols == 0 {
        return 0;
    }
    let last = (rows - 1)
        .checked_mul(rs.unsigned_abs())
        .and_then(|r| (cols - 1).checked_mul(cs.unsigned_abs()).and_then(|c| r.checked_add(c)))
        .and_then(|x| x.checked_add(1))
        .filter(|&x| isize::try_from(x).is_ok());
    last.unwrap_or_else(|| panic!("sgemm: {name} view {rows}x{cols} with strides ({rs}, {cs}) overflows"))
}

/// Whether distinct (i, j) of an m×n view with strides (rs, cs) always have
/// distinct offsets: a sufficient condition that covers row-major,
/// column-major and submatrix views (the larger stride steps over the whole
/// extent of the smaller one's dimension).
fn disjoint(m: usize, n: usize, rs: usize, cs: usize) -> bool {
    if m == 0 || n == 0 {
        return true;
    }
    match (m > 1, n > 1) {
        (false, false) => true,
        (true, false) => rs >= 1,
        (false, true) => cs >= 1,
        (true, true) => {
            (cs >= 1 && rs >= (n - 1).saturating_mul(cs).saturating_add(1))
                || (rs >= 1 && cs >= (m - 1).saturating_mul(rs).saturating_add(1))
        }
    }
}

/// C = beta·C over the view (zeros when beta == 0, whatever C held).
fn scale_c(g: &Gemm, c: &mut [f32]) {
    let (rs, cs) = (g.c_rs.unsigned_abs(), g.c_cs.unsigned_abs());
    for i in 0..g.m {
        for j in 0..g.n {
            let v = &mut c[i * rs + j * cs];
            *v = if g.beta == 0.0 { 0.0 } else { g.beta * *v };
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::{close, values};

    /// How a rows×cols view sits in its buffer: row- or column-major, a gap
    /// after each outer line, a step between inner elements, an offset.
    #[derive(Clone, Copy, Debug)]
    struct Layout {
        col_major: bool,
        pad: usize,
        step: usize,
        offset: usize,
    }

    impl Layout {
        /// (row stride, column stride, buffer length) for a rows×cols view.
        fn place(self, rows: usize, cols: usize) -> (isize, isize, usize) {
            let inner = if self.col_major { rows } else { cols };
            let outer_stride = inner * self.step + self.pad;
            let (rs, cs) = if self.col_major { (self.step, outer_stride) } else { (outer_stride, self.step) };
            let len = self.offset + if rows == 0 || cols == 0 { 0 } else { (rows - 1) * rs + (cols - 1) * cs + 1 };
            (rs as isize, cs as isize, len)
        }
    }

    fn layout() -> impl Strategy<Value = Layout> {
        (any::<bool>(), 0usize..3, prop_oneof![3 => Just(1usize), 1 => Just(2usize)], 0usize..3)
            .prop_map(|(col_major, pad, step, offset)| Layout { col_major, pad, step, offset })
    }

    fn dim() -> impl Strategy<Value = usize> {
        prop_oneof![1 => Just(0usize), 1 => Just(1usize), 6 => 0usize..70]
    }

    fn at(buf: &[f32], offset: usize, rs: isize, cs: isize, i: usize, j: usize) -> f32 {
        buf[offset + i * rs as usize + j * cs as usize]
    }

    /// Runs one GEMM on fresh buffers and compares every element of C with
    /// an f64 reference; elements of C's buffer outside the view must keep
    /// their sentinel value.
    #[allow(clippy::too_many_arguments)]
    fn check(
        m: usize,
        n: usize,
        k: usize,
        la: Layout,
        lb: Layout,
        lc: Layout,
        alpha: f32,
        beta: f32,
        seed: u64,
        threads: Threads,
    ) -> Result<(), String> {
        let (a_rs, a_cs, a_len) = la.place(m, k);
        let (b_rs, b_cs, b_len) = lb.place(k, n);
        let (c_rs, c_cs, c_len) = lc.place(m, n);
        let a = values(a_len, seed);
        let b = values(b_len, seed ^ 0xA5A5);
        let sentinel = 12345.0f32;
        let mut c = vec![sentinel; c_len];
        let c_init = values(c_len, seed ^ 0x5A5A);
        for i in 0..m {
            for j in 0..n {
                let idx = lc.offset + i * c_rs as usize + j * c_cs as usize;
                c[idx] = if beta == 0.0 { f32::NAN } else { c_init[idx] };
            }
        }
        let before = c.clone();
        let g = Gemm { m, n, k, a_rs, a_cs, b_rs, b_cs, c_rs, c_cs, alpha, beta };
        sgemm(&g, &a[la.offset..], &b[lb.offset..], &mut c[lc.offset..], threads);
        let mut in_view = vec![false; c_len];
        for i in 0..m {
            for j in 0..n {
                let (mut acc, mut mag) = (0.0f64, 0.0f64);
                for l in 0..k {
                    let t = at(&a, la.offset, a_rs, a_cs, i, l) as f64 * at(&b, lb.offset, b_rs, b_cs, l, j) as f64;
                    acc += t;
                    mag += t.abs();
                }
                let old = at(&before, lc.offset, c_rs, c_cs, i, j) as f64;
                let prior = if beta == 0.0 { 0.0 } else { beta as f64 * old };
                let want = alpha as f64 * acc + prior;
                let magnitude = (alpha as f64).abs() * mag + prior.abs();
                close(at(&c, lc.offset, c_rs, c_cs, i, j), want, magnitude, k)
                    .map_err(|e| format!("C[{i}, {j}]: {e}"))?;
                in_view[lc.offset + i * c_rs as usize + j * c_cs as usize] = true;
            }
        }
        for (idx, (&v, inside)) in c.iter().zip(&in_view).enumerate() {
            if !inside && v != sentinel {
                return Err(format!("element {idx} outside the view was overwritten with {v}"));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn matches_reference(
            m in dim(), n in dim(), k in dim(),
            la in layout(), lb in layout(), lc in layout(),
            alpha in prop::sample::select(vec![1.0f32, 0.5, -2.0, 0.0]),
            beta in prop::sample::select(vec![0.0f32, 1.0, -0.75]),
            seed: u64,
        ) {
            check(m, n, k, la, lb, lc, alpha, beta, seed, Threads::Single).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn row_major_transposes() {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            let (m, n, k) = (5, 7, 3);
            let a = values(m * k, 1);
            let b = values(k * n, 2);
            let mut c = vec![f32::NAN; m * n];
            sgemm(&Gemm::row_major(m, n, k, trans_a, trans_b), &a, &b, &mut c, Threads::Single);
            for i in 0..m {
                for j in 0..n {
                    let (mut want, mut mag) = (0.0f64, 0.0f64);
                    for l in 0..k {
                        let av = if trans_a { a[l * m + i] } else { a[i * k + l] };
                        let bv = if trans_b { b[j * k + l] } else { b[l * n + j] };
                        want += av as f64 * bv as f64;
                        mag += (av as f64 * bv as f64).abs();
                    }
                    close(c[i * n + j], want, mag, k).unwrap();
                }
            }
        }
    }

    #[test]
    fn pools_match_reference_on_large_shapes() {
        let row = Layout { col_major: false, pad: 0, step: 1, offset: 0 };
        let col = Layout { col_major: true, pad: 3, step: 1, offset: 1 };
        let ours = std::sync::Arc::new(Pool::new(3).expect("pool"));
        // Rayon's pool, then ours (split into row or column pieces).
        for installed in [false, true] {
            let run = || {
                for (m, n, k) in [(130, 150, 70), (1, 700, 300), (300, 2, 200), (257, 129, 65), (1000, 17, 80)] {
                    check(m, n, k, row, row, row, 1.0, 0.0, 7, Threads::Pool).unwrap();
                    check(m, n, k, col, row, col, -0.5, 1.0, 8, Threads::Pool).unwrap();
                }
            };
            if installed { ours.install(run) } else { run() }
        }
    }

    #[test]
    fn alpha_zero_ignores_nan_in_a_and_b() {
        let g = Gemm { alpha: 0.0, beta: 2.0, ..Gemm::row_major(2, 2, 2, false, false) };
        let mut c = [1.0, 2.0, 3.0, 4.0];
        sgemm(&g, &[f32::NAN; 4], &[f32::INFINITY; 4], &mut c, Threads::Single);
        assert_eq!(c, [2.0, 4.0, 6.0, 8.0]);
    }

    #[test]
    fn zero_strides_broadcast_a_and_b() {
        // A: one row repeated; B: one column repeated.
        let g = Gemm { a_rs: 0, b_rs: 1, b_cs: 0, ..Gemm::row_major(3, 4, 2, false, false) };
        let mut c = [0.0; 12];
        sgemm(&g, &[1.0, 2.0], &[10.0, 20.0], &mut c, Threads::Single);
        assert_eq!(c, [50.0; 12]);
    }

    #[test]
    #[should_panic(expected = "B has 5 elements, the view needs 6")]
    fn short_b_panics() {
        sgemm(&Gemm::row_major(2, 3, 2, false, false), &[0.0; 4], &[0.0; 5], &mut [0.0; 6], Threads::Single);
    }

    #[test]
    #[should_panic(expected = "negative stride")]
    fn negative_stride_panics() {
        let g = Gemm { a_cs: -1, ..Gemm::row_major(2, 2, 2, false, false) };
        sgemm(&g, &[0.0; 4], &[0.0; 4], &mut [0.0; 4], Threads::Single);
    }

    #[test]
    #[should_panic(expected = "overlap itself")]
    fn overlapping_c_panics() {
        let g = Gemm { c_rs: 1, c_cs: 1, ..Gemm::row_major(2, 2, 2, false, false) };
        sgemm(&g, &[0.0; 4], &[0.0; 4], &mut [0.0; 4], Threads::Pool);
    }

    #[test]
    fn empty_shapes_accept_empty_slices() {
        sgemm(&Gemm::row_major(0, 3, 4, false, false), &[], &[0.0; 12], &mut [], Threads::Single);
        sgemm(&Gemm::row_major(3, 0, 4, false, false), &[0.0; 12], &[], &mut [], Threads::Single);
        let mut c = [f32::NAN; 6];
        sgemm(&Gemm::row_major(2, 3, 0, false, false), &[], &[], &mut c, Threads::Single);
        assert_eq!(c, [0.0; 6]);
    }
}
