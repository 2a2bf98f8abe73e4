//! The scalar reference int8 GEMM every tier is tested against.

/// C\[m×n\] = Σ_k (A\[m,k\] − za)·B\[k,n\] on row-major, unpacked A (u8,
/// `a[i * k + l]`), B (s8, `b[l * n + j]`) and C (`c[i * n + j]`).
///
/// Arithmetic is wrapping i32: exact while K·255·128 < 2³¹ (K ≤ 65 793),
/// and every tier wraps the same way beyond that. Panics if a slice length
/// does not match its shape.
pub fn gemm_u8s8_ref(a: &[u8], b: &[i8], m: usize, k: usize, n: usize, za: u8, c: &mut [i32]) {
    assert_eq!(a.len(), m * k, "gemm_u8s8_ref: A has {} elements, {m}x{k} needs {}", a.len(), m * k);
    assert_eq!(b.len(), k * n, "gemm_u8s8_ref: B has {} elements, {k}x{n} needs {}", b.len(), k * n);
    assert_eq!(c.len(), m * n, "gemm_u8s8_ref: C has {} elements, {m}x{n} needs {}", c.len(), m * n);
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0i32;
            for l in 0..k {
                let av = i32::from(a[i * k + l]) - i32::from(za);
                acc = acc.wrapping_add(av * i32::from(b[l * n + j]));
            }
            c[i * n + j] = acc;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_example() {
        // A = [[1, 2], [3, 4]] with za = 1, B = [[1, -1, 0], [2, 0, -128]].
        let mut c = [0; 6];
        gemm_u8s8_ref(&[1, 2, 3, 4], &[1, -1, 0, 2, 0, -128], 2, 2, 3, 1, &mut c);
        assert_eq!(c, [2, 0, -128, 8, -2, -384]);
    }
}
