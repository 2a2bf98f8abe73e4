//! QuantizeLinear (per tensor, per axis or blocked; u8, i8, u16, i16, u4, i4
//! and float8 outputs).

use ptq_ir::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};
use ptq_ir::ops::quantize::QuantizeLinear;
use ptq_ir::{DType, Tensor};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::{array, contiguous};

/// For each flat element index of a tensor of shape `shape`, the flat index
/// into the quantization parameters of shape `params`: all zero for one
/// parameter (per tensor); the coordinate along `axis` (default 1) for a
/// vector (per axis); with `block_size` > 0, parameters of the tensor's rank
/// whose `axis` extent is `ceil(shape[axis] / block_size)` (blocked).
pub fn param_index(
    shape: &[usize],
    params: &[usize],
    axis: Option<i64>,
    block_size: Option<i64>,
) -> Result<Box<dyn Fn(usize) -> usize>, String> {
    let n: usize = params.iter().product();
    let block = block_size.unwrap_or(0);
    if block < 0 {
        return Err(format!("block_size must be non-negative, is {block}"));
    }
    if n == 1 && block == 0 {
        return Ok(Box::new(|_| 0));
    }
    let ax = crate::util::axis(axis.unwrap_or(1), shape.len())?;
    if block == 0 {
        if params.len() != 1 || shape[ax] != n {
            return Err(format!("parameters of shape {params:?} do not fit axis {ax} of {shape:?}"));
        }
        let inner: usize = shape[ax + 1..].iter().product();
        return Ok(Box::new(move |i| (i / inner.max(1)) % n));
    }
    let block = block as usize;
    let fits = params.len() == shape.len()
        && (0..shape.len())
            .all(|a| if a == ax { params[a] == shape[a].div_ceil(block) } else { params[a] == shape[a] });
    if !fits {
        return Err(format!(
            "blocked parameters of shape {params:?} do not fit {shape:?} with block size {block} on axis {ax}"
        ));
    }
    // Only the coordinate along the axis changes (divided by the block size).
    let inner: usize = shape[ax + 1..].iter().product::<usize>().max(1);
    let (len, plen) = (shape[ax], params[ax]);
    Ok(Box::new(move |i| {
        let (outer, rest) = (i / (inner * len), i % (inner * len));
        let (c, r) = (rest / inner, rest % inner);
        (outer * plen + c / block) * inner + r
    }))
}

/// For per-axis parameters (a vector of more than one, no blocks) that fit
/// `axis` of `shape`: the length of the runs of consecutive elements that
/// share one channel's parameters, when runs are long enough (16) for the
/// per-tensor kernels to pay, run by run.
pub fn per_axis_runs(shape: &[usize], params: &[usize], axis: Option<i64>, block_size: Option<i64>) -> Option<usize> {
    let &[n] = params else { return None };
    let ax = crate::util::axis(axis.unwrap_or(1), shape.len()).ok()?;
    let inner: usize = shape[ax + 1..].iter().product();
    (n > 1 && block_size.unwrap_or(0) == 0 && shape[ax] == n && inner >= 16).then_some(inner)
}

/// Runs QuantizeLinear on f32, f16, bf16 or i32 input: `x / scale` is computed
/// in f32 (as onnxruntime does). Integer outputs (u8, i8, u16, i16, u4, i4)
/// round it half to even, add the zero point and clamp to the output type;
/// float8 outputs add the zero point's value (usually zero) and convert with
/// round to nearest even and the `saturate` rules (default 1). The output
/// dtype is the zero point's, else `output_dtype`, else u8; a zero point
/// and `output_dtype` that disagree are an error.
pub fn run(op: &QuantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.shared(0)?;
    if !matches!(x.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::I32) {
        return Err(format!("quantization of {} is not supported", x.dtype()));
    }
    let scale_t = ins.get(1)?;
    let scale: Vec<f32> = scale_t.to_f64_vec().iter().map(|&v| v as f32).collect();
    let zp_t = ins.opt(2);
    if let (Some(z), Some(d)) = (zp_t, op.output_dtype)
        && z.dtype() != d
    {
        return Err(format!("zero point is {} but output_dtype is {d}", z.dtype()));
    }
    let dtype = zp_t.map(Tensor::dtype).or(op.output_dtype).unwrap_or(DType::U8);
    let zp: Vec<f64> = zp_t.map(Tensor::to_f64_vec).unwrap_or_else(|| vec![0.0; scale.len()]);
    if zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    if let (Tensor::F32(a), DType::U8 | DType::I8, &[s], &[z]) = (&*x, dtype, scale.as_slice(), zp.as_slice())
        && op.block_size.unwrap_or(0) == 0
        && let Ok(kernels) = ptq_kernels::int8::int8_kernels()
    {
        // Per-tensor f32 to u8 on the vectorised kernel: the same values as
        // below (x / scale in f32, rounded half to even, zero point added,
        // clamped; NaN gives 0). i8 with zero point z is u8 with zero point
        // z + 128, shifted down by 128 (flipping the top bit): rounding and
        // clamping line up, and the sums are exact in f32.
        let signed = dtype == DType::I8;
        let xs = contiguous(a);
        let mut q = Vec::new();
        kernels.quantize_u8_extend(&xs, s, (z + if signed { 128.0 } else { 0.0 }) as u8, &mut q);
        if !signed {
            return one(Tensor::U8(array(a.shape(), q)?));
        }
        let q = q.into_iter().zip(xs.iter()).map(|(q, v)| if v.is_nan() { 0 } else { (q ^ 0x80) as i8 }).collect();
        return one(Tensor::I8(array(a.shape(), q)?));
    }
    if let (Tensor::F32(a), DType::U8) = (&*x, dtype)
        && let Some(inner) = per_axis_runs(a.shape(), scale_t.shape(), op.axis, op.block_size)
        && let Ok(kernels) = ptq_kernels::int8::int8_kernels()
    {
        // Each run of one channel's elements on the vectorised kernel, as above.
        let xs = contiguous(a);
        let mut q = Vec::with_capacity(xs.len());
        for (k, run) in xs.chunks(inner).enumerate() {
            let c = k % scale.len();
            kernels.quantize_u8_extend(run, scale[c], zp[c].clamp(0.0, 255.0) as u8, &mut q);
        }
        return one(Tensor::U8(array(a.shape(), q)?));
    }
    let idx = param_index(x.shape(), scale_t.shape(), op.axis, op.block_size)?;
    let xs: std::borrow::Cow<'_, [f32]> = match &*x {
        Tensor::F32(a) => contiguous(a),
        t => t.to_f64_vec().iter().map(|&v| v as f32).collect::<Vec<_>>().into(),
    };
    let shape = x.shape();
    // x / scale for element i, and its parameter index.
    let scaled = |i: usize, v: f32| {
        let c = idx(i);
        (v / scale[c], c)
    };
    if dtype.is_float8() {
        let saturate = op.saturate.unwrap_or(1) != 0;
        let y: Vec<f64> = xs
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (q, c) = scaled(i, v);
                // Adding a zero zero point would turn -0 into +0.
                if zp[c] == 0.0 { f64::from(q) } else { f64::from(q) + zp[c] }
            })
            .collect();
        return one(match dtype {
            DType::F8E4M3FN => {
                Tensor::F8E4M3FN(array(shape, y.iter().map(|&v| F8E4M3FN::from_f64(v, saturate)).collect())?)
            }
            DType::F8E4M3FNUZ => {
                Tensor::F8E4M3FNUZ(array(shape, y.iter().map(|&v| F8E4M3FNUZ::from_f64(v, saturate)).collect())?)
            }
            DType::F8E5M2 => Tensor::F8E5M2(array(shape, y.iter().map(|&v| F8E5M2::from_f64(v, saturate)).collect())?),
            _ => Tensor::F8E5M2FNUZ(array(shape, y.iter().map(|&v| F8E5M2FNUZ::from_f64(v, saturate)).collect())?),
        });
    }
    let (lo, hi) = match dtype {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        DType::U4 => (0.0, 15.0),
        DType::I4 => (-8.0, 7.0),
        d => return Err(format!("quantization to {d} is not supported")),
    };
    let q: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (q, c) = scaled(i, v);
            (f64::from(q).round_ties_even() + zp[c]).clamp(lo, hi)
        })
        .collect();
    one(match dtype {
        DType::U8 => Tensor::U8(array(shape, q.iter().map(|&v| v as u8).collect())?),
        DType::I8 => Tensor::I8(array(shape, q.iter().map(|&v| v as i8).collect())?),
        DType::U16 => Tensor::U16(array(shape, q.iter().map(|&v| v as u16).collect())?),
        DType::U4 => Tensor::U4(array(shape, q.iter().map(|&v| v as u8).collect())?),
        DType::I4 => Tensor::I4(array(shape, q.iter().map(|&v| v as i8).collect())?),
        _ => Tensor::I16(array(shape, q.iter().map(|&v| v as i16).collect())?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::Slot;

    fn quantize(op: &QuantizeLinear, x: &[f32], scale: Tensor, zp: Option<Tensor>) -> Result<Tensor, String> {
        let slot = |t| Some(Slot { tensor: std::sync::Arc::new(t), reusable: false });
        let mut ins = Inputs::new(vec![slot(Tensor::from_f32s(x)), slot(scale), zp.and_then(slot)]);
        run(op, &mut ins, 1).map(|mut v| v.remove(0).unwrap_or_else(|| Tensor::zeros(DType::U8, &[0])))
    }

    #[test]
    fn per_tensor_u8_matches_the_formula() {
        let x = [0.0, 0.25, 0.75, -0.25, 2.5, 1e9, -1e9, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.25, 63.7, -0.0];
        for zp in [None, Some(0u8), Some(3), Some(255)] {
            let zt = zp.map(|z| Tensor::U8(array(&[], vec![z]).unwrap()));
            let y = quantize(&QuantizeLinear::default(), &x, Tensor::scalar_f32(0.5), zt).unwrap();
            let z = f64::from(zp.unwrap_or(0));
            let want: Vec<i64> =
                x.iter().map(|&v| (f64::from(v / 0.5).round_ties_even() + z).clamp(0.0, 255.0) as u8 as i64).collect();
            assert_eq!((y.dtype(), y.to_i64_vec()), (DType::U8, Some(want)), "zero point {zp:?}");
        }
    }

    /// The i8 shortcut (the u8 kernel, shifted) against the general path.
    #[test]
    fn per_tensor_i8_matches_the_general_path() {
        let x = [0.0, 0.25, 0.75, -0.25, 2.5, 1e9, -1e9, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -63.7, 63.7, -0.0];
        for z in [-128i8, -3, 0, 5, 127] {
            let zt = Tensor::I8(array(&[], vec![z]).unwrap());
            let y = quantize(&QuantizeLinear::default(), &x, Tensor::scalar_f32(0.5), Some(zt)).unwrap();
            let want: Vec<i64> = x
                .iter()
                .map(|&v| if v.is_nan() { 0.0 } else { (v / 0.5).round_ties_even() as f64 + f64::from(z) })
                .map(|q| q.clamp(-128.0, 127.0) as i64)
                .collect();
            assert_eq!((y.dtype(), y.to_i64_vec()), (DType::I8, Some(want)), "zero point {z}");
        }
    }

    #[test]
    fn four_bit_outputs_round_and_clamp() {
        let zp = Tensor::I4(array(&[], vec![1]).unwrap());
        let y = quantize(&QuantizeLinear::default(), &[0.0, 3.0, 5.0, -40.0, 100.0], Tensor::scalar_f32(2.0), Some(zp));
        assert_eq!(y.unwrap().to_i64_vec(), Some(vec![1, 3, 3, -8, 7]));
        let op = QuantizeLinear { output_dtype: Some(DType::U4), ..Default::default() };
        let y = quantize(&op, &[7.0, -1.0, 40.0], Tensor::scalar_f32(1.0), None).unwrap();
        assert_eq!((y.dtype(), y.to_i64_vec()), (DType::U4, Some(vec![7, 0, 15])));
    }

    #[test]
    fn float8_outputs_saturate_unless_told_not_to() {
        let zp = Tensor::F8E4M3FN(array(&[], vec![F8E4M3FN::ZERO]).unwrap());
        let y = quantize(&QuantizeLinear::default(), &[0.5, 1e4, -0.0], Tensor::scalar_f32(0.5), Some(zp.clone()));
        let y = y.unwrap();
        assert_eq!(y.to_f64_vec(), vec![1.0, 448.0, -0.0]);
        assert_eq!(y.to_le_bytes(), Some(vec![0x38, 0x7E, 0x80]));
        let op = QuantizeLinear { saturate: Some(0), ..Default::default() };
        let y = quantize(&op, &[1e4], Tensor::scalar_f32(1.0), Some(zp)).unwrap();
        assert!(y.to_f64_vec()[0].is_nan());
    }

    #[test]
    fn zero_point_and_output_dtype_must_agree() {
        let op = QuantizeLinear { output_dtype: Some(DType::I8), ..Default::default() };
        let zp = Tensor::U8(array(&[], vec![0]).unwrap());
        assert!(quantize(&op, &[1.0], Tensor::scalar_f32(1.0), Some(zp)).is_err());
    }

    #[test]
    fn blocked_parameters_follow_the_axis_coordinate() {
        // x [2, 5] with blocks of 2 along axis 1: parameters [2, 3].
        let idx = param_index(&[2, 5], &[2, 3], Some(1), Some(2)).unwrap();
        let got: Vec<usize> = (0..10).map(&idx).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 2, 3, 3, 4, 4, 5]);
        // Along axis 0 of x [3, 2] with blocks of 2: parameters [2, 2].
        let idx = param_index(&[3, 2], &[2, 2], Some(0), Some(2)).unwrap();
        let got: Vec<usize> = (0..6).map(&idx).collect();
        assert_eq!(got, vec![0, 1, 0, 1, 2, 3]);
        assert!(param_index(&[2, 5], &[2, 2], Some(1), Some(2)).is_err());
    }

    #[test]
    fn per_axis_parameters_follow_the_axis() {
        let idx = param_index(&[2, 3, 2], &[3], Some(1), None).unwrap();
        let got: Vec<usize> = (0..12).map(&idx).collect();
        assert_eq!(got, vec![0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2]);
    }

    /// The per-axis shortcut (runs of one channel on the kernel) against
    /// the formula, on runs long enough to take it.
    #[test]
    fn per_axis_u8_matches_the_formula() {
        let (outer, c, inner) = (2, 3, 40);
        let x: Vec<f32> = (0..outer * c * inner).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.173).collect();
        let scales = [0.05f32, 0.3, 1.7];
        let zps = [0u8, 128, 251];
        let op = QuantizeLinear { axis: Some(1), ..QuantizeLinear::default() };
        let slot = |t| Some(crate::inputs::Slot { tensor: std::sync::Arc::new(t), reusable: false });
        let xt = Tensor::F32(array(&[outer, c, inner], x.clone()).unwrap());
        let zt = Tensor::U8(array(&[c], zps.to_vec()).unwrap());
        let mut ins = Inputs::new(vec![slot(xt), slot(Tensor::from_f32s(&scales)), slot(zt)]);
        let y = run(&op, &mut ins, 1).unwrap().remove(0).unwrap();
        let want: Vec<i64> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let ch = i / inner % c;
                (f64::from(v / scales[ch]).round_ties_even() + f64::from(zps[ch])).clamp(0.0, 255.0) as i64
            })
            .collect();
        assert_eq!(y.to_i64_vec(), Some(want));
    }
}
