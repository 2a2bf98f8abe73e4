//! Element-wise slice kernels: per-channel bias and ReLU.

use super::isa::{Isa, multiversion};

/// Adds `bias[c]` to every element of channel c of `y`, laid out
/// [.., C, spatial] with C = `bias.len()` (any number of leading blocks).
///
/// Panics unless `y.len()` is a multiple of `bias.len()·spatial` (an empty `y`
/// is always accepted).
pub fn add_channel_bias(y: &mut [f32], bias: &[f32], spatial: usize) {
    if y.is_empty() {
        return;
    }
    let block = bias.len().checked_mul(spatial).unwrap_or(0);
    assert!(
        block > 0 && y.len().is_multiple_of(block),
        "add_channel_bias: y has {} elements, not a multiple of {} channels x {spatial}",
        y.len(),
        bias.len()
    );
    if spatial == 1 {
        for row in y.chunks_exact_mut(block) {
            for (v, &b) in row.iter_mut().zip(bias) {
                *v += b;
            }
        }
        return;
    }
    for y_block in y.chunks_exact_mut(block) {
        for (plane, &b) in y_block.chunks_exact_mut(spatial).zip(bias) {
            for v in plane {
                *v += b;
            }
        }
    }
}

/// y = max(y, 0) in place; NaN stays NaN.
pub fn relu(y: &mut [f32]) {
    relu_on(Isa::detect(), y);
}

multiversion! {
    fn relu_on(y: &mut [f32]) => relu_body;
}

#[inline(always)]
fn relu_body(y: &mut [f32]) {
    // An unconditional store of a select vectorises even without masked
    // stores (SSE2); `if *v < 0.0 { *v = 0.0 }` stays scalar there.
    for v in y {
        *v = if *v < 0.0 { 0.0 } else { *v };
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;

    proptest! {
        #[test]
        fn bias_matches_reference(n in 0usize..3, c in 1usize..9, spatial in 1usize..40, seed: u64) {
            let mut y = values(n * c * spatial, seed);
            let bias = values(c, seed ^ 1);
            let want: Vec<f32> = y.iter().enumerate().map(|(i, &v)| v + bias[(i / spatial) % c]).collect();
            add_channel_bias(&mut y, &bias, spatial);
            prop_assert_eq!(y, want);
        }

        #[test]
        fn relu_matches_reference(len in 0usize..100, seed: u64) {
            let mut y = values(len, seed);
            let want: Vec<f32> = y.iter().map(|&v| if v < 0.0 { 0.0 } else { v }).collect();
            relu(&mut y);
            prop_assert_eq!(y, want);
        }
    }

    #[test]
    fn relu_keeps_nan_and_infinities() {
        let mut y = [f32::NAN, f32::NEG_INFINITY, f32::INFINITY, -1.0, 2.0];
        relu(&mut y);
        assert!(y[0].is_nan());
        assert_eq!(y[1..], [0.0, f32::INFINITY, 0.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "not a multiple")]
    fn bias_rejects_a_ragged_length() {
        add_channel_bias(&mut [0.0; 7], &[1.0, 2.0], 3);
    }
}
