//! The accuracy drop and whether it is small enough (NNCF's
//! `calculate_accuracy_drop`).

use crate::options::DropType;

/// `(within max_drop, drop)`. A quantized metric at or above the float one
/// always terminates; its relative drop is reported as 0.
pub fn accuracy_drop(fp32: f64, int8: f64, max_drop: f64, drop_type: DropType) -> (bool, f64) {
    if int8 >= fp32 {
        let d = match drop_type {
            DropType::Absolute => fp32 - int8,
            DropType::Relative => 0.0,
        };
        return (true, d);
    }
    let d = match drop_type {
        DropType::Absolute => fp32 - int8,
        DropType::Relative if fp32 != 0.0 => (1.0 - int8 / fp32).abs(),
        DropType::Relative => f64::INFINITY,
    };
    (d <= max_drop, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative() {
        assert_eq!(accuracy_drop(0.9, 0.95, 0.01, DropType::Absolute), (true, 0.9 - 0.95));
        let (ok, d) = accuracy_drop(0.9, 0.885, 0.01, DropType::Absolute);
        assert!(!ok && (d - 0.015).abs() < 1e-12);
        let (ok, d) = accuracy_drop(0.9, 0.8955, 0.01, DropType::Relative);
        assert!(ok && (d - 0.005).abs() < 1e-9);
        assert_eq!(accuracy_drop(0.0, -1.0, 0.01, DropType::Relative), (false, f64::INFINITY));
    }
}
