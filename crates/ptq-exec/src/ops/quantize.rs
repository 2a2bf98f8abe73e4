//! QuantizeLinear (per tensor, per axis or blocked; u8, i8, u16, i16 outputs).

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

/// Runs QuantizeLinear on f32, f16, bf16 or i32 input: `x / scale` is computed
/// in f32 (as onnxruntime does), rounded half to even, offset by the zero
/// point and saturated to the output type.
pub fn run(op: &QuantizeLinear, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.shared(0)?;
    if !matches!(x.dtype(), DType::F32 | DType::F16 | DType::BF16 | DType::I32) {
        return Err(format!("quantization of {} is not supported", x.dtype()));
    }
    let scale_t = ins.get(1)?;
    let scale: Vec<f32> = scale_t.to_f64_vec().iter().map(|&v| v as f32).collect();
    let zp_t = ins.opt(2);
    let dtype = zp_t.map(Tensor::dtype).or(op.output_dtype).unwrap_or(DType::U8);
    let zp: Vec<f64> = zp_t.map(Tensor::to_f64_vec).unwrap_or_else(|| vec![0.0; scale.len()]);
    if zp.len() != scale.len() {
        return Err("scale and zero point differ in length".into());
    }
    let idx = param_index(x.shape(), scale_t.shape(), op.axis, op.block_size)?;
    let (lo, hi) = match dtype {
        DType::U8 => (0.0, 255.0),
        DType::I8 => (-128.0, 127.0),
        DType::U16 => (0.0, 65535.0),
        DType::I16 => (-32768.0, 32767.0),
        d => return Err(format!("quantization to {d} is not supported")),
    };
    let xs: std::borrow::Cow<'_, [f32]> = match &*x {
        Tensor::F32(a) => contiguous(a),
        t => t.to_f64_vec().iter().map(|&v| v as f32).collect::<Vec<_>>().into(),
    };
    let q: Vec<f64> = xs
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = idx(i);
            (f64::from(v / scale[c]).round_ties_even() + zp[c]).clamp(lo, hi)
        })
        .collect();
    let shape = x.shape();
    one(match dtype {
        DType::U8 => Tensor::U8(array(shape, q.iter().map(|&v| v as u8).collect())?),
        DType::I8 => Tensor::I8(array(shape, q.iter().map(|&v| v as i8).collect())?),
        DType::U16 => Tensor::U16(array(shape, q.iter().map(|&v| v as u16).collect())?),
        _ => Tensor::I16(array(shape, q.iter().map(|&v| v as i16).collect())?),
    })
}

#[cfg(test)]
mod tests {
    use super::param_index;

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
}
