//! Weights (B) packed once into the panel layout every int8 GEMM tier reads.

/// Columns per packed panel: the width of every micro-kernel's tile.
pub(crate) const NR: usize = 32;
/// Depth of one k-group: `vpdpbusd` multiplies 4 adjacent u8·s8 pairs.
pub(crate) const KG: usize = 4;
/// Bytes of one k-group of one panel (NR columns × KG depths).
pub(crate) const GROUP_BYTES: usize = NR * KG;

/// s8 weights B\[k×n\] packed for [`Int8Kernels::gemm_u8s8`](super::Int8Kernels::gemm_u8s8),
/// with the per-column sums Σ_k B\[k, n\] that fold the activation zero point.
///
/// Layout: `ceil(n / 32)` panels of 32 columns, one after the other. A panel
/// holds `ceil(k / 4)` k-groups of 128 bytes; in group `g`, column `j`'s four
/// weights B\[4g..4g+4, j\] are the bytes `4j..4j+4`. Columns past `n` and
/// depths past `k` are zero, so kernels may read whole groups and panels.
/// One 64-byte load is 16 columns × 4 depths, the operand `vpdpbusd` wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedB {
    k: usize,
    n: usize,
    data: Vec<i8>,
    /// Σ_k B\[k, j\] per column (wrapping i32), zero for padding columns;
    /// `panels() * NR` entries.
    colsum: Vec<i32>,
    /// Per panel, `groups() + 1` running counts of the k-groups holding a
    /// pair that `vpmaddubsw` could saturate (see [`pair_can_saturate`]).
    saturating: Vec<u32>,
}

/// Whether the adjacent weights `x`, `y` can make `vpmaddubsw` saturate:
/// `a₁·x + a₂·y` leaves i16 for some u8 `a₁`, `a₂` exactly when the
/// positive parts or the negative parts add up beyond 128 (255·128 = 32 640
/// fits, 255·129 does not). 7-bit weights (the overflow fix) never can.
pub(crate) fn pair_can_saturate(x: i8, y: i8) -> bool {
    let (x, y) = (i32::from(x), i32::from(y));
    x.max(0) + y.max(0) > 128 || x.min(0) + y.min(0) < -128
}

/// Running counts, per panel, of the groups with a pair that can saturate
/// (`groups + 1` entries per panel, the first 0).
fn saturating_counts(data: &[i8], groups: usize) -> Vec<u32> {
    if groups == 0 {
        return vec![];
    }
    let mut out = Vec::with_capacity(data.len() / GROUP_BYTES + data.len() / (GROUP_BYTES * groups));
    for panel in data.chunks_exact(groups * GROUP_BYTES) {
        let mut count = 0u32;
        out.push(count);
        for group in panel.chunks_exact(GROUP_BYTES) {
            count += u32::from(group.chunks_exact(2).any(|p| pair_can_saturate(p[0], p[1])));
            out.push(count);
        }
    }
    out
}

/// Panels, depth groups and packed bytes of a `k × n` B given `len`
/// elements (named `what` in the panic); panics on a length mismatch or an
/// overflow.
fn layout(len: usize, k: usize, n: usize, what: &str) -> (usize, usize, usize) {
    let want = k.checked_mul(n).unwrap_or_else(|| panic!("PackedB: {k}x{n} overflows"));
    assert_eq!(len, want, "PackedB: {what} has {len} elements, a {k}x{n} matrix needs {want}");
    let (panels, groups) = (n.div_ceil(NR), k.div_ceil(KG));
    let size = panels
        .checked_mul(groups)
        .and_then(|x| x.checked_mul(GROUP_BYTES))
        .unwrap_or_else(|| panic!("PackedB: packed size of {k}x{n} overflows"));
    (panels, groups, size)
}

impl PackedB {
    /// Packs row-major B (`b[kk * n + j]` is B\[kk, j\]).
    ///
    /// Panics if `b.len() != k * n` or the packed size overflows `usize`.
    pub fn new(b: &[i8], k: usize, n: usize) -> PackedB {
        let (panels, groups, size) = layout(b.len(), k, n, "B");
        let mut data = vec![0i8; size];
        // Written in packed order, a group of KG rows by one panel's columns
        // at a time (runs when a batched MatMul packs activations).
        for (pg, dst) in data.chunks_exact_mut(GROUP_BYTES).enumerate() {
            let (p, g) = (pg / groups, pg % groups);
            let (j0, k0) = (p * NR, g * KG);
            let w = NR.min(n - j0);
            let depth = KG.min(k - k0);
            let row = |t: usize| &b[(k0 + t) * n + j0..][..w];
            if depth == KG {
                let (r0, r1, r2, r3) = (row(0), row(1), row(2), row(3));
                for (jj, d) in dst.chunks_exact_mut(KG).take(w).enumerate() {
                    d.copy_from_slice(&[r0[jj], r1[jj], r2[jj], r3[jj]]);
                }
            } else {
                for t in 0..depth {
                    for (jj, &v) in row(t).iter().enumerate() {
                        dst[jj * KG + t] = v;
                    }
                }
            }
        }
        let mut colsum = vec![0i32; panels * NR];
        for row in b.chunks_exact(n.max(1)) {
            for (c, &v) in colsum.iter_mut().zip(row) {
                *c = c.wrapping_add(i32::from(v));
            }
        }
        let saturating = saturating_counts(&data, groups);
        PackedB { k, n, data, colsum, saturating }
    }

    /// Packs `B` given as its transpose: `bt` holds `n` rows of `k` (each
    /// column of B contiguous), each element read as `to_i8(x)`. Equals
    /// [`PackedB::new`] of the transposed matrix. Panics on a length
    /// mismatch.
    pub fn from_transposed<T: Copy>(bt: &[T], k: usize, n: usize, to_i8: impl Fn(T) -> i8) -> PackedB {
        let (panels, groups, size) = layout(bt.len(), k, n, "Bᵀ");
        let mut data = vec![0i8; size];
        let mut colsum = vec![0i32; panels * NR];
        if k == 0 {
            return PackedB { k, n, data, colsum, saturating: vec![] };
        }
        // A group of a panel is 32 columns × 4 depths, column-major: word
        // `g·32 + jj` of a panel holds column jj's depths 4g..4g+4, which
        // lie together in its row of Bᵀ.
        let words = data.as_chunks_mut::<KG>().0;
        for (j, (col, sum)) in bt.chunks_exact(k).zip(colsum.iter_mut()).enumerate() {
            let base = (j / NR) * groups * NR + j % NR;
            let (quads, rest) = col.as_chunks::<KG>();
            for (w, q) in words[base..].iter_mut().step_by(NR).zip(quads) {
                *w = q.map(&to_i8);
            }
            if !rest.is_empty() {
                let w = &mut words[base + quads.len() * NR];
                for (d, &v) in w.iter_mut().zip(rest) {
                    *d = to_i8(v);
                }
            }
            *sum = col.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(to_i8(v))));
        }
        let saturating = saturating_counts(&data, groups);
        PackedB { k, n, data, colsum, saturating }
    }

    /// Depth K (rows of B).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns N of B.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Σ_k B\[k, j\] for each of the `n` columns (wrapping i32).
    pub fn col_sums(&self) -> &[i32] {
        &self.colsum[..self.n]
    }

    /// Number of 32-column panels.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Number of 4-deep k-groups in each panel.
    pub(crate) fn groups(&self) -> usize {
        self.k.div_ceil(KG)
    }

    /// Column sums padded with zeros to `panels() * NR` entries.
    pub(crate) fn col_sums_padded(&self) -> &[i32] {
        &self.colsum
    }

    /// Whether no k-group in `g0..g1` of panel `p` holds a pair of adjacent
    /// weights that could saturate `vpmaddubsw`, so a tier may sum each
    /// pair of u8·s8 products in i16.
    pub(crate) fn pairs_fit_i16(&self, p: usize, g0: usize, g1: usize) -> bool {
        let base = p * (self.groups() + 1);
        self.saturating.get(base + g1) == self.saturating.get(base + g0)
    }

    /// Packed bytes of panel `p` (`groups() * GROUP_BYTES` of them).
    pub(crate) fn panel(&self, p: usize) -> &[i8] {
        let len = self.groups() * GROUP_BYTES;
        &self.data[p * len..(p + 1) * len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_col_sums() {
        let (k, n) = (5, 33);
        let b: Vec<i8> = (0..k * n).map(|i| (i as i32 % 251 - 125) as i8).collect();
        let p = PackedB::new(&b, k, n);
        assert_eq!((p.panels(), p.groups()), (2, 2));
        for kk in 0..8 {
            for j in 0..64 {
                let want = if kk < k && j < n { b[kk * n + j] } else { 0 };
                let got = p.panel(j / NR)[(kk / KG) * GROUP_BYTES + (j % NR) * KG + kk % KG];
                assert_eq!(got, want, "B[{kk}, {j}]");
            }
        }
        for j in 0..n {
            let want: i32 = (0..k).map(|kk| i32::from(b[kk * n + j])).sum();
            assert_eq!(p.col_sums()[j], want);
        }
        assert!(p.col_sums_padded()[n..].iter().all(|&s| s == 0));
    }

    #[test]
    fn packing_the_transpose_equals_packing_the_matrix() {
        for (k, n) in [(5, 33), (8, 32), (1, 1), (130, 70), (0, 3), (3, 0)] {
            let b: Vec<i8> = (0..k * n).map(|i| (i as i32 * 37 % 256 - 128) as i8).collect();
            let bt: Vec<u8> = (0..n * k).map(|i| b[(i % k.max(1)) * n + i / k.max(1)] as u8 ^ 0x80).collect();
            assert_eq!(PackedB::from_transposed(&bt, k, n, |v| (v ^ 0x80) as i8), PackedB::new(&b, k, n), "{k}x{n}");
        }
    }

    #[test]
    fn saturating_pairs_are_found_per_group() {
        assert!(!pair_can_saturate(64, 64) && !pair_can_saturate(-128, 0) && !pair_can_saturate(127, -128));
        assert!(pair_can_saturate(65, 64) && pair_can_saturate(-1, -128) && pair_can_saturate(127, 2));
        let (k, n) = (40, 70);
        // Seven-bit weights: every pair fits.
        let b: Vec<i8> = (0..k * n).map(|i| (i as i32 * 37 % 129 - 64) as i8).collect();
        let p = PackedB::new(&b, k, n);
        assert!((0..p.panels()).all(|q| p.pairs_fit_i16(q, 0, p.groups())));
        // One pair of depths 20, 21 (group 5) in column 40 (panel 1).
        let mut b = b;
        b[20 * n + 40] = 100;
        b[21 * n + 40] = 29;
        let p = PackedB::new(&b, k, n);
        assert!(p.pairs_fit_i16(0, 0, p.groups()) && p.pairs_fit_i16(2, 0, p.groups()));
        assert!(p.pairs_fit_i16(1, 0, 5) && p.pairs_fit_i16(1, 6, p.groups()));
        assert!(!p.pairs_fit_i16(1, 5, 6) && !p.pairs_fit_i16(1, 0, p.groups()));
        // Depths 21, 22 are not a pair.
        b[20 * n + 40] = 0;
        b[22 * n + 40] = 100;
        b[23 * n + 40] = -100;
        assert!(PackedB::new(&b, k, n).pairs_fit_i16(1, 0, p.groups()));
    }

    #[test]
    fn empty_shapes() {
        assert_eq!(PackedB::new(&[], 0, 7).panels(), 1);
        assert_eq!(PackedB::new(&[], 7, 0).panels(), 0);
    }

    #[test]
    #[should_panic(expected = "B has 5 elements")]
    fn wrong_length_panics() {
        PackedB::new(&[0; 5], 2, 3);
    }
}
