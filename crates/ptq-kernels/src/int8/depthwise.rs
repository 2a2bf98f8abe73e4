//! Int8 depthwise convolution over a padded channels-last image: one filter
//! per channel, u8 activations × s8 weights accumulated in i32.
//!
//! One plain loop compiled per instruction set (the compiler vectorises it
//! across channels); integer arithmetic, so every build gives the same
//! result.

use super::gemm::ConvGeom;
use super::tier::Int8Kernels;
use crate::f32::isa::multiversion;

#[inline(always)]
fn depthwise_body(img: &[u8], g: &ConvGeom, za: u8, w: &[i8], acc: &mut [i32]) {
    let (c, [sh, sw]) = (g.c, g.stride);
    let [_, ow] = g.out();
    let za = i32::from(za);
    for (pos, out) in acc.chunks_exact_mut(c).enumerate() {
        let (oy, ox) = (pos / ow, pos % ow);
        out.fill(0);
        for ky in 0..g.kh {
            let row = &img[((oy * sh + ky) * g.wp + ox * sw) * c..];
            for kx in 0..g.kw {
                let x = &row[kx * c..][..c];
                let wt = &w[(ky * g.kw + kx) * c..][..c];
                for ((o, &xv), &wv) in out.iter_mut().zip(x).zip(wt) {
                    *o = o.wrapping_add((i32::from(xv) - za) * i32::from(wv));
                }
            }
        }
    }
}

multiversion! {
    fn depthwise_isa(img: &[u8], g: &ConvGeom, za: u8, w: &[i8], acc: &mut [i32]) => depthwise_body;
}

impl Int8Kernels {
    /// `acc[(oy·ow + ox)·c + ch] = Σ_{ky, kx} (img[((oy·sh + ky)·wp + ox·sw + kx)·c + ch] − za) · w[(ky·kw + kx)·c + ch]`
    /// for the undilated depthwise convolution of `img`, a `[hp, wp, c]` u8
    /// image already padded with the zero point ([`ConvGeom`]), by `w`, the
    /// i8 filters laid out `[kh·kw, c]`. Exact in i32 (wrapping, as the
    /// GEMM). One thread. Panics if a length does not fit the geometry.
    pub fn depthwise_u8s8(&self, img: &[u8], g: &ConvGeom, za: u8, w: &[i8], acc: &mut [i32]) {
        assert!(g.stride.iter().all(|&s| s > 0), "depthwise_u8s8: zero stride");
        let img_len = g.hp.checked_mul(g.wp).and_then(|v| v.checked_mul(g.c));
        assert_eq!(Some(img.len()), img_len, "depthwise_u8s8: image of {} bytes for {g:?}", img.len());
        assert_eq!(w.len(), g.kh * g.kw * g.c, "depthwise_u8s8: {} weights for {g:?}", w.len());
        let [oh, ow] = g.out();
        assert_eq!(acc.len(), oh * ow * g.c, "depthwise_u8s8: {} accumulators for {oh}x{ow}x{}", acc.len(), g.c);
        if g.c == 0 {
            return;
        }
        depthwise_isa(self.isa, img, g, za, w, acc);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::int8::tier::available;

    fn bytes(len: usize, seed: u64) -> Vec<u8> {
        crate::int8::u8s8::tests::bytes(len, seed, false)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Every tier's build against the definition, written out.
        #[test]
        fn tiers_match_the_definition(
            c in 1usize..70, kh in 1usize..4, kw in 1usize..4, sh in 1usize..3, sw in 1usize..3,
            extra_h in 0usize..6, extra_w in 0usize..9, za: u8, seed: u64,
        ) {
            let g = ConvGeom { c, hp: kh + extra_h, wp: kw + extra_w, kh, kw, stride: [sh, sw] };
            let img = bytes(g.hp * g.wp * c, seed);
            let w: Vec<i8> = bytes(kh * kw * c, seed ^ 77).into_iter().map(|v| v as i8).collect();
            let [oh, ow] = g.out();
            let mut want = vec![0i32; oh * ow * c];
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        let mut s = 0i32;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let x = i32::from(img[((oy * sh + ky) * g.wp + ox * sw + kx) * c + ch]) - i32::from(za);
                                s += x * i32::from(w[(ky * kw + kx) * c + ch]);
                            }
                        }
                        want[(oy * ow + ox) * c + ch] = s;
                    }
                }
            }
            for t in available() {
                let mut acc = vec![0x5555_5555; want.len()];
                t.depthwise_u8s8(&img, &g, za, &w, &mut acc);
                prop_assert_eq!(&acc, &want, "{}", t.tier());
            }
        }
    }
}
