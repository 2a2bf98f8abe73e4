//! DequantizeLinear (per tensor, per axis or blocked).

use ptq_ir::Tensor;
use ptq_ir::ops::dequantize::DequantizeLinear;

use super::quantize::{param_index, per_axis_runs};
use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous};

/// Runs DequantizeLinear: `(x - zero_point) * scale` for integer x (int4 and
/// uint4 included) or float8 x (the zero point, usually zero, is subtracted as
/// a value), computed in f32 and returned in the scale's dtype (f32, f16 or
/// bf16). A zero point must have x's dtype.
pub fn run(op: &DequantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let float8 = x.dtype().is_float8();
    if !x.dtype().is_int() && !float8 {
        return Err(format!("input must be integer or float8, is {}", x.dtype()));
    }
    let scale_t = ins.get(1)?;
    let scale: Vec<f32> = scale_t.to_f64_vec().iter().map(|&v| v as f32).collect();
    if let Some(z) = ins.opt(2)
        && z.dtype() != x.dtype()
    {
        return Err(format!("zero point is {} but the input is {}", z.dtype(), x.dtype()));
    }
    if let (Tensor::U8(_) | Tensor::I8(_), Tensor::F32(s)) = (x, scale_t)
        && s.len() == 1
        && op.block_size.unwrap_or(0) == 0
        && let Ok(kernels) = ptq_kernels::int8::int8_kernels()
    {
        // Per-tensor u8 to f32 on the vectorised kernel: the same values as
        // below ((q − zp) exactly in f32, times the scale). i8 q with zero
        // point z is u8 q + 128 with zero point z + 128: the same integer
        // difference, so the same values.
        let z = match ins.opt(2) {
            Some(Tensor::U8(z)) if z.len() == 1 => z.iter().next().map_or(0, |&z| i32::from(z)),
            Some(Tensor::I8(z)) if z.len() == 1 => z.iter().next().map_or(0, |&z| i32::from(z)),
            Some(_) => return Err("a per-tensor scale needs a one-element zero point".into()),
            None => 0,
        };
        let (q, zp): (std::borrow::Cow<'_, [u8]>, i32) = match x {
            Tensor::I8(a) => (contiguous(a).iter().map(|&v| (v as u8) ^ 0x80).collect(), z + 128),
            Tensor::U8(a) => (contiguous(a), z),
            t => return Err(format!("{} is not a byte type", t.dtype())),
        };
        let zp = u8::try_from(zp).map_err(|_| format!("zero point {z} out of range"))?;
        let mut y = Vec::new();
        kernels.dequantize_u8_extend(&q, scale[0], zp, &mut y);
        return one(Tensor::F32(array(x.shape(), y)?));
    }
    if let (Tensor::U8(a), Tensor::F32(s)) = (x, scale_t)
        && let Some(inner) = per_axis_runs(a.shape(), s.shape(), op.axis, op.block_size)
        && let Some(zp) = match ins.opt(2) {
            Some(Tensor::U8(z)) if z.len() == s.len() => Some(z.iter().copied().collect::<Vec<u8>>()),
            Some(_) => None,
            None => Some(vec![0; s.len()]),
        }
        && let Ok(kernels) = ptq_kernels::int8::int8_kernels()
    {
        // Each run of one channel's elements on the vectorised kernel, as above.
        let q = contiguous(a);
        let mut y = Vec::with_capacity(q.len());
        for (k, run) in q.chunks(inner).enumerate() {
            let c = k % scale.len();
            kernels.dequantize_u8_extend(run, scale[c], zp[c], &mut y);
        }
        return one(Tensor::F32(array(a.shape(), y)?));
    }
    let idx = param_index(x.shape(), scale_t.shape(), op.axis, op.block_size)?;
    let v: Vec<f32> = if float8 {
        let zp: Vec<f32> = match ins.opt(2) {
            Some(t) => t.to_f64_vec().iter().map(|&v| v as f32).collect(),
            None => vec![0.0; scale.len()],
        };
        if zp.len() != scale.len() {
            return Err("scale and zero point differ in length".into());
        }
        x.to_f64_vec()
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = idx(i);
                // Subtracting a zero zero point would turn -0 into +0.
                let d = if zp[c] == 0.0 { q as f32 } else { q as f32 - zp[c] };
                d * scale[c]
            })
            .collect()
    } else {
        let zp: Vec<i64> = match ins.opt(2) {
            Some(t) => t.to_i64_vec().ok_or("zero point must be integer")?,
            None => vec![0; scale.len()],
        };
        if zp.len() != scale.len() {
            return Err("scale and zero point differ in length".into());
        }
        x.to_i64_vec()
            .ok_or("input beyond i64")?
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let c = idx(i);
                (q - zp[c]) as f32 * scale[c]
            })
            .collect()
    };
    let y = array(x.shape(), v)?;
    one(match scale_t {
        Tensor::F32(_) => Tensor::F32(y),
        Tensor::F16(_) => Tensor::F16(y.mapv(half::f16::from_f32)),
        Tensor::BF16(_) => Tensor::BF16(y.mapv(half::bf16::from_f32)),
        t => return Err(format!("scale must be f32, f16 or bf16, is {}", t.dtype())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Slot;
    use ptq_ir::DType;
    use ptq_ir::float8::F8E5M2;

    fn dequantize(op: &DequantizeLinear, x: Tensor, scale: Tensor, zp: Option<Tensor>) -> Result<Tensor, String> {
        let slot = |t| Some(Slot { tensor: std::sync::Arc::new(t), reusable: false });
        let mut ins = Inputs::new(vec![slot(x), slot(scale), zp.and_then(slot)]);
        run(op, &mut ins, 1).map(|mut v| v.remove(0).unwrap_or_else(|| Tensor::zeros(DType::F32, &[0])))
    }

    /// The i8 shortcut (the u8 kernel, shifted) gives `(q − z)·scale`.
    #[test]
    fn per_tensor_i8_matches_the_formula() {
        let q: Vec<i8> = vec![-128, -1, 0, 1, 37, 127];
        for z in [None, Some(-128i8), Some(-5), Some(0), Some(127)] {
            let zt = z.map(|z| Tensor::I8(array(&[], vec![z]).unwrap()));
            let x = Tensor::I8(array(&[6], q.clone()).unwrap());
            let y = dequantize(&DequantizeLinear::default(), x, Tensor::scalar_f32(0.37), zt).unwrap();
            let want: Vec<f64> =
                q.iter().map(|&v| f64::from((i32::from(v) - i32::from(z.unwrap_or(0))) as f32 * 0.37)).collect();
            assert_eq!((y.dtype(), y.to_f64_vec()), (DType::F32, want), "zero point {z:?}");
        }
    }

    #[test]
    fn int4_and_float8_inputs() {
        let x = Tensor::I4(array(&[2, 2], vec![-8, 7, 1, 0]).unwrap());
        let zp = Tensor::I4(array(&[2], vec![1, -1]).unwrap());
        let op = DequantizeLinear { axis: Some(0), block_size: None };
        let y = dequantize(&op, x, Tensor::from_f32s(&[2.0, 0.5]), Some(zp)).unwrap();
        assert_eq!(y.to_f64_vec(), vec![-18.0, 12.0, 1.0, 0.5]);
        let x = Tensor::F8E5M2(array(&[3], vec![F8E5M2::from_f32(1.5, true), F8E5M2(0x7C), F8E5M2(0x80)]).unwrap());
        let y = dequantize(&DequantizeLinear::default(), x, Tensor::scalar_f32(2.0), None).unwrap().to_f64_vec();
        assert_eq!(y, vec![3.0, f64::INFINITY, -0.0]);
        assert!(y[2].is_sign_negative());
    }

    #[test]
    fn zero_point_must_match_the_input_dtype() {
        let x = Tensor::U4(array(&[1], vec![3]).unwrap());
        let zp = Tensor::U8(array(&[], vec![1]).unwrap());
        assert!(dequantize(&DequantizeLinear::default(), x, Tensor::scalar_f32(1.0), Some(zp)).is_err());
    }

    /// The per-axis u8 shortcut (runs of one channel on the kernel) gives
    /// `(q − z[c])·scale[c]`.
    #[test]
    fn per_axis_u8_matches_the_formula() {
        let (outer, c, inner) = (2, 3, 20);
        let q: Vec<u8> = (0..outer * c * inner).map(|i| (i * 37 % 256) as u8).collect();
        let scales = [0.05f32, 0.3, 1.7];
        let zps = [0u8, 128, 251];
        let op = DequantizeLinear { axis: Some(1), block_size: None };
        let x = Tensor::U8(array(&[outer, c, inner], q.clone()).unwrap());
        let zt = Tensor::U8(array(&[c], zps.to_vec()).unwrap());
        let y = dequantize(&op, x, Tensor::from_f32s(&scales), Some(zt)).unwrap();
        let want: Vec<f64> = q
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = i / inner % c;
                f64::from((f32::from(v) - f32::from(zps[ch])) * scales[ch])
            })
            .collect();
        assert_eq!(y.to_f64_vec(), want);
    }
}
