//! Addition of two u8-quantized tensors into a u8-quantized result, the
//! DequantizeLinear → Add (→ Relu) → QuantizeLinear chain of a residual
//! connection in one pass.

use super::quantize::quantize_one;
use super::tier::Int8Kernels;
use crate::f32::isa::multiversion;

/// Scale and zero point of a per-tensor u8 quantized tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct U8Quant {
    pub scale: f32,
    pub zero_point: u8,
}

/// The parameters of [`Int8Kernels::add_u8`]: both inputs' and the output's
/// quantization, and whether a Relu comes between the add and the output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuantAdd {
    pub a: U8Quant,
    pub b: U8Quant,
    pub relu: bool,
    pub out: U8Quant,
}

#[inline(always)]
fn add_body(a: &[u8], b: &[u8], p: &QuantAdd, out: &mut [u8]) {
    let (qa, qb, qo, relu) = (p.a, p.b, p.out, p.relu);
    let (za, zb, zo) = (i32::from(qa.zero_point), i32::from(qb.zero_point), f32::from(qo.zero_point));
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        // The same operations, in the same order, as DequantizeLinear twice,
        // an f32 Add, Relu and QuantizeLinear.
        let s = (i32::from(x) - za) as f32 * qa.scale + (i32::from(y) - zb) as f32 * qb.scale;
        let s = if relu { s.max(0.0) } else { s };
        *o = quantize_one(s, qo.scale, zo);
    }
}

multiversion! {
    fn add_isa(a: &[u8], b: &[u8], p: &QuantAdd, out: &mut [u8]) => add_body;
}

impl Int8Kernels {
    /// `out = quantize_out(relu?(dequantize_a(a) + dequantize_b(b)))`
    /// elementwise ([`QuantAdd`]), bit-identical to
    /// [`Int8Kernels::dequantize_u8`] on both inputs, an f32 add, `max(·, 0)`
    /// when `relu`, and [`Int8Kernels::quantize_u8`]. Panics if the lengths
    /// differ.
    pub fn add_u8(&self, a: &[u8], b: &[u8], p: &QuantAdd, out: &mut [u8]) {
        assert!(a.len() == b.len() && a.len() == out.len(), "add_u8: lengths {}, {}, {}", a.len(), b.len(), out.len());
        add_isa(self.isa, a, b, p, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::int8::tier::available;

    #[test]
    fn equals_dequantize_add_relu_quantize_on_every_tier() {
        let a: Vec<u8> = (0..1001u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let b: Vec<u8> = (0..1001u32).map(|i| (i.wrapping_mul(40_503) >> 3) as u8).collect();
        let (qa, qb, qo) = (
            U8Quant { scale: 0.031, zero_point: 128 },
            U8Quant { scale: 0.017, zero_point: 3 },
            U8Quant { scale: 0.045, zero_point: 60 },
        );
        for k in available().iter().chain([&Int8Kernels::detect()]) {
            for relu in [false, true] {
                let (mut fa, mut fb) = (vec![0f32; a.len()], vec![0f32; b.len()]);
                k.dequantize_u8(&a, qa.scale, qa.zero_point, &mut fa);
                k.dequantize_u8(&b, qb.scale, qb.zero_point, &mut fb);
                let s: Vec<f32> =
                    fa.iter().zip(&fb).map(|(x, y)| if relu { (x + y).max(0.0) } else { x + y }).collect();
                let mut want = vec![0u8; a.len()];
                k.quantize_u8(&s, qo.scale, qo.zero_point, &mut want);
                let mut got = vec![0u8; a.len()];
                k.add_u8(&a, &b, &QuantAdd { a: qa, b: qb, relu, out: qo }, &mut got);
                assert_eq!(got, want, "{} relu {relu}", k.tier());
                assert!(relu || got.iter().any(|&v| v < qo.zero_point), "no negative sums tested");
            }
        }
    }
}
