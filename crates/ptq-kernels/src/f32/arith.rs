//! Elementwise arithmetic of two f32 operands, the second broadcast over
//! the first in the layouts exporters produce (same shape, a scalar, a
//! repeated suffix such as a bias row, or one value per block such as a
//! per-row scale).

use super::isa::{Isa, multiversion};

/// An arithmetic operator (IEEE single precision, correctly rounded, so
/// every instruction set gives the same bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arith {
    Add,
    Sub,
    Mul,
    Div,
}

/// `x[i] = x[i] op y[(i / inner) % y.len()]` for every i.
///
/// Panics unless `y` is non-empty, `inner ≥ 1` and `x.len()` is a multiple
/// of `y.len()·inner` (an empty `x` is always accepted).
pub fn arith(op: Arith, x: &mut [f32], y: &[f32], inner: usize) {
    if x.is_empty() {
        return;
    }
    let block = y.len().checked_mul(inner).unwrap_or(0);
    assert!(
        block > 0 && x.len().is_multiple_of(block),
        "arith: x has {} elements, not a multiple of {} values x {inner}",
        x.len(),
        y.len()
    );
    arith_on(Isa::detect(), op, x, y, inner);
}

multiversion! {
    fn arith_on(op: Arith, x: &mut [f32], y: &[f32], inner: usize) => arith_body;
}

#[inline(always)]
fn arith_body(op: Arith, x: &mut [f32], y: &[f32], inner: usize) {
    // One loop per operator, so each is a straight vector loop.
    match op {
        Arith::Add => apply(x, y, inner, |a, b| a + b),
        Arith::Sub => apply(x, y, inner, |a, b| a - b),
        Arith::Mul => apply(x, y, inner, |a, b| a * b),
        Arith::Div => apply(x, y, inner, |a, b| a / b),
    }
}

#[inline(always)]
fn apply(x: &mut [f32], y: &[f32], inner: usize, f: impl Fn(f32, f32) -> f32) {
    if inner == 1 && y.len() == 1 {
        let b = y[0];
        for v in x {
            *v = f(*v, b);
        }
    } else if inner == 1 {
        for row in x.chunks_exact_mut(y.len()) {
            for (v, &b) in row.iter_mut().zip(y) {
                *v = f(*v, b);
            }
        }
    } else {
        for (run, &b) in x.chunks_exact_mut(inner).zip(y.iter().cycle()) {
            for v in run {
                *v = f(*v, b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::f32::testutil::values;

    const OPS: [Arith; 4] = [Arith::Add, Arith::Sub, Arith::Mul, Arith::Div];

    fn reference(op: Arith, a: f32, b: f32) -> f32 {
        match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
        }
    }

    proptest! {
        /// Every instruction set's build equals the scalar definition bit
        /// for bit, for every operator and broadcast form, odd tails included.
        #[test]
        fn every_isa_matches_the_definition(
            op in 0usize..4, reps in 0usize..4, ylen in 1usize..40, inner in 1usize..20, seed: u64,
        ) {
            let op = OPS[op];
            let y = values(ylen, seed ^ 7);
            let x = values(reps * ylen * inner, seed);
            let want: Vec<u32> =
                x.iter().enumerate().map(|(i, &a)| reference(op, a, y[(i / inner) % ylen]).to_bits()).collect();
            let mut got = x.clone();
            arith(op, &mut got, &y, inner);
            prop_assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.clone());
            for isa in Isa::available() {
                let mut got = x.clone();
                arith_on(isa, op, &mut got, &y, inner);
                prop_assert_eq!(got.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want.clone(), "{:?}", isa);
            }
        }
    }

    #[test]
    fn division_keeps_ieee_special_values() {
        let mut x = [1.0, -1.0, 0.0, f32::INFINITY, f32::NAN];
        arith(Arith::Div, &mut x, &[0.0], 1);
        assert_eq!(x[..2], [f32::INFINITY, f32::NEG_INFINITY]);
        assert!(x[2].is_nan() && x[3].is_infinite() && x[4].is_nan());
    }

    #[test]
    #[should_panic(expected = "not a multiple")]
    fn a_ragged_length_is_rejected() {
        arith(Arith::Add, &mut [0.0; 7], &[1.0, 2.0], 2);
    }
}
