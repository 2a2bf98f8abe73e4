//! Helpers shared by the kernel tests: deterministic data and a tolerance
//! check against f64 references.

/// `len` values uniform in [-1, 1) from a SplitMix64 stream seeded by `seed`.
pub(crate) fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ((z >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// Checks `got` against a reference value `want` whose terms had absolute
/// sum `magnitude` over a reduction of length `k`: the error allowed is
/// 1e-6·(k + 2)·magnitude, about 16 times the worst-case f32 summation
/// bound. Returns a description of the mismatch, if any.
pub(crate) fn close(got: f32, want: f64, magnitude: f64, k: usize) -> Result<(), String> {
    let tol = 1e-6 * (k as f64 + 2.0) * magnitude + 1e-30;
    if got.is_finite() && (got as f64 - want).abs() <= tol {
        Ok(())
    } else {
        Err(format!("got {got}, want {want} (tolerance {tol:e})"))
    }
}
