//! A compensated (double-double) running sum.
//!
//! Per-sample sums are added here, so the result hardly depends on how a
//! stream of samples was split between collectors before merging: about 106
//! significant bits are kept, and merging a collector that holds exactly one
//! sample is bit-identical to adding that sample directly.

use serde::{Deserialize, Serialize};

/// `hi + lo` with `hi = fl(hi + lo)`; serialized as `[hi, lo]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "(f64, f64)", into = "(f64, f64)")]
pub(crate) struct Sum {
    hi: f64,
    lo: f64,
}

/// Error-free transformation: `a + b = s + e` exactly.
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    let e = (a - (s - bb)) + (b - bb);
    (s, e)
}

impl Sum {
    /// Adds `x` (finite).
    pub(crate) fn add(&mut self, x: f64) {
        let (s, e) = two_sum(self.hi, x);
        let (hi, lo) = two_sum(s, self.lo + e);
        self.hi = hi;
        self.lo = lo;
    }

    /// Adds another sum. When `other` holds a single addend (`lo == 0`) this
    /// is exactly [`Sum::add`] of it.
    pub(crate) fn merge(&mut self, other: &Sum) {
        self.add(other.hi);
        if other.lo != 0.0 {
            self.add(other.lo);
        }
    }

    /// The sum, rounded to f64.
    pub(crate) fn value(&self) -> f64 {
        self.hi + self.lo
    }

    /// Both parts finite and normalized (`hi = fl(hi + lo)`), as [`Sum::add`] keeps them.
    pub(crate) fn is_valid(&self) -> bool {
        self.hi.is_finite() && self.lo.is_finite() && self.hi + self.lo == self.hi
    }
}

impl From<(f64, f64)> for Sum {
    fn from((hi, lo): (f64, f64)) -> Self {
        Sum { hi, lo }
    }
}

impl From<Sum> for (f64, f64) {
    fn from(s: Sum) -> Self {
        (s.hi, s.lo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_low_order_bits() {
        let mut s = Sum::default();
        s.add(1e16);
        for _ in 0..10 {
            s.add(1.0);
        }
        s.add(-1e16);
        assert_eq!(s.value(), 10.0);
        assert!(s.is_valid());
    }

    #[test]
    fn invalid_parts_detected() {
        assert!(!Sum::from((1.0, 1.0)).is_valid());
        assert!(!Sum::from((f64::NAN, 0.0)).is_valid());
        assert!(Sum::from((1.0, 1e-30)).is_valid());
    }

    proptest! {
        #[test]
        fn merging_single_addends_equals_adding(xs in prop::collection::vec(-1e30f64..1e30, 0..50)) {
            let mut direct = Sum::default();
            let mut merged = Sum::default();
            for &x in &xs {
                direct.add(x);
                let mut one = Sum::default();
                one.add(x);
                merged.merge(&one);
            }
            prop_assert_eq!(direct, merged);
        }

        #[test]
        fn merge_is_close_to_sequential(xs in prop::collection::vec(-1e6f64..1e6, 0..60), split in 0usize..60) {
            let split = split.min(xs.len());
            let mut all = Sum::default();
            let (mut a, mut b) = (Sum::default(), Sum::default());
            for (i, &x) in xs.iter().enumerate() {
                all.add(x);
                if i < split { a.add(x) } else { b.add(x) }
            }
            a.merge(&b);
            let scale = xs.iter().map(|x| x.abs()).sum::<f64>().max(1.0);
            prop_assert!((a.value() - all.value()).abs() <= scale * 1e-28);
        }
    }
}
