//! Pad (constant, reflect, edge, wrap; negative pads crop).

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;
use ptq_ir::float8::{F8E4M3FN, F8E4M3FNUZ, F8E5M2, F8E5M2FNUZ};
use ptq_ir::ops::pad::{Pad, PadMode};

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::Elem;

/// The most elements a padded output (and any one of its axes) may have, as
/// for Resize and Range: pads come from the model file.
const MAX_ELEMENTS: usize = 1 << 31;

fn source(o: i64, begin: i64, d: i64, mode: PadMode) -> Option<usize> {
    // Saturating: a begin pad near i64::MIN puts every index far past the end.
    let c = o.saturating_sub(begin);
    if (0..d).contains(&c) {
        return Some(c as usize);
    }
    if d == 0 {
        return None;
    }
    Some(match mode {
        PadMode::Constant => return None,
        PadMode::Edge => c.clamp(0, d - 1) as usize,
        PadMode::Wrap => c.rem_euclid(d) as usize,
        PadMode::Reflect => {
            if d == 1 {
                0
            } else {
                let period = 2 * (d - 1);
                let m = c.rem_euclid(period);
                (if m < d { m } else { period - m }) as usize
            }
        }
    })
}

fn pad<T: Clone>(a: &ArrayD<T>, begins: &[i64], ends: &[i64], mode: PadMode, fill: T) -> Result<ArrayD<T>, String> {
    let src: Vec<i64> = a.shape().iter().map(|&d| d as i64).collect();
    let shape: Vec<usize> = (0..src.len())
        .map(|i| {
            let n = src[i].checked_add(begins[i]).and_then(|v| v.checked_add(ends[i]));
            let n = n.ok_or_else(|| format!("pads of axis {i} are too large"))?;
            usize::try_from(n).map_err(|_| format!("pads make axis {i} negative"))
        })
        .collect::<Result<_, _>>()?;
    let total = ptq_ir::tensor::checked_numel(&shape)
        .filter(|&n| n <= MAX_ELEMENTS && shape.iter().all(|&d| d <= MAX_ELEMENTS))
        .ok_or_else(|| format!("padded shape {shape:?} is too large"))?;
    if shape.is_empty() {
        return Ok(a.clone());
    }
    // Per axis, the source index of every output index (None: padding).
    let maps: Vec<Vec<Option<usize>>> =
        (0..src.len()).map(|i| (0..shape[i]).map(|o| source(o as i64, begins[i], src[i], mode)).collect()).collect();
    let data = a.as_standard_layout();
    let data = data.as_slice().ok_or("input is not contiguous")?;
    let mut in_strides = vec![1usize; src.len()];
    for i in (0..src.len().saturating_sub(1)).rev() {
        in_strides[i] = in_strides[i + 1] * src[i + 1] as usize;
    }
    let last = src.len() - 1;
    let row = shape[last];
    let mut out = Vec::with_capacity(total);
    let mut ix = vec![0usize; last];
    for _ in 0..total.checked_div(row).unwrap_or(0) {
        // The source offset of this output row, unless a leading axis pads it.
        let base = ix.iter().enumerate().try_fold(0usize, |acc, (i, &o)| maps[i][o].map(|c| acc + c * in_strides[i]));
        match base {
            None => out.extend(std::iter::repeat_n(fill.clone(), row)),
            Some(base) => {
                out.extend(maps[last].iter().map(|m| m.map_or_else(|| fill.clone(), |c| data[base + c].clone())))
            }
        }
        for i in (0..last).rev() {
            ix[i] += 1;
            if ix[i] < shape[i] {
                break;
            }
            ix[i] = 0;
        }
    }
    ArrayD::from_shape_vec(IxDyn(&shape), out).map_err(|e| e.to_string())
}

/// Runs Pad on any dtype; the constant value converts to the input's dtype
/// (float8 saturating, int4/uint4 clamped); strings pad with the string value
/// (empty when absent).
pub fn run(op: &Pad, ins: &mut Inputs, _n: usize) -> Out {
    let pads = ins.ints(1)?;
    let value = ins.opt(2).filter(|t| t.len() == 1).cloned();
    let axes = ins.opt_ints(3)?;
    let x = ins.shared(0)?;
    let rank = x.shape().len();
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&v| crate::util::axis(v, rank)).collect::<Result<_, _>>()?,
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(format!("{} pads for {} axes", pads.len(), axes.len()));
    }
    let (mut b, mut e) = (vec![0i64; rank], vec![0i64; rank]);
    for (i, &a) in axes.iter().enumerate() {
        b[a] = pads[i];
        e[a] = pads[i + axes.len()];
    }
    let v = value.as_ref().map(|t| t.to_f64_vec()[0]).unwrap_or(0.0);
    one(match &*x {
        Tensor::F32(a) => Tensor::F32(pad(a, &b, &e, op.mode, v as f32)?),
        Tensor::F64(a) => Tensor::F64(pad(a, &b, &e, op.mode, v)?),
        Tensor::F16(a) => Tensor::F16(pad(a, &b, &e, op.mode, Elem::from_f64(v))?),
        Tensor::BF16(a) => Tensor::BF16(pad(a, &b, &e, op.mode, Elem::from_f64(v))?),
        Tensor::I8(a) => Tensor::I8(pad(a, &b, &e, op.mode, v as i8)?),
        Tensor::U8(a) => Tensor::U8(pad(a, &b, &e, op.mode, v as u8)?),
        Tensor::I16(a) => Tensor::I16(pad(a, &b, &e, op.mode, v as i16)?),
        Tensor::U16(a) => Tensor::U16(pad(a, &b, &e, op.mode, v as u16)?),
        Tensor::I32(a) => Tensor::I32(pad(a, &b, &e, op.mode, v as i32)?),
        Tensor::U32(a) => Tensor::U32(pad(a, &b, &e, op.mode, v as u32)?),
        Tensor::I64(a) => Tensor::I64(pad(a, &b, &e, op.mode, integer_value(value.as_ref(), v))?),
        Tensor::U64(a) => Tensor::U64(pad(a, &b, &e, op.mode, integer_value(value.as_ref(), v) as u64)?),
        Tensor::Bool(a) => Tensor::Bool(pad(a, &b, &e, op.mode, v != 0.0)?),
        Tensor::F8E4M3FN(a) => Tensor::F8E4M3FN(pad(a, &b, &e, op.mode, F8E4M3FN::from_f64(v, true))?),
        Tensor::F8E4M3FNUZ(a) => Tensor::F8E4M3FNUZ(pad(a, &b, &e, op.mode, F8E4M3FNUZ::from_f64(v, true))?),
        Tensor::F8E5M2(a) => Tensor::F8E5M2(pad(a, &b, &e, op.mode, F8E5M2::from_f64(v, true))?),
        Tensor::F8E5M2FNUZ(a) => Tensor::F8E5M2FNUZ(pad(a, &b, &e, op.mode, F8E5M2FNUZ::from_f64(v, true))?),
        Tensor::I4(a) => Tensor::I4(pad(a, &b, &e, op.mode, v.clamp(-8.0, 7.0) as i8)?),
        Tensor::U4(a) => Tensor::U4(pad(a, &b, &e, op.mode, v.clamp(0.0, 15.0) as u8)?),
        Tensor::String(a) => {
            let fill = match &value {
                Some(Tensor::String(s)) => s.iter().next().cloned().unwrap_or_default(),
                Some(t) => return Err(format!("pad value of {} for string data", t.dtype())),
                None => String::new(),
            };
            Tensor::String(pad(a, &b, &e, op.mode, fill)?)
        }
    })
}

/// The pad value as an exact i64 when it is an integer tensor (f64 loses bits beyond 2^53).
fn integer_value(t: Option<&Tensor>, v: f64) -> i64 {
    t.and_then(Tensor::to_i64_vec).and_then(|x| x.first().copied()).unwrap_or(v as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fuzzing regression (onnx_plan_run): pads of 5.5e10 on an axis of an
    /// empty tensor made the per-axis index maps allocate 893 GB and abort.
    #[test]
    fn huge_pads_are_an_error_not_an_allocation() {
        let x = ArrayD::<f32>::zeros(IxDyn(&[1, 0]));
        let e = pad(&x, &[0, 0], &[55_000_000_000, 0], PadMode::Constant, 0.0).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        let y = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
        let e = pad(&y, &[1 << 20, 0], &[1 << 20, 1 << 20], PadMode::Edge, 0.0).unwrap_err();
        assert!(e.contains("too large"), "{e}");
        // A begin pad near i64::MIN with an end pad that brings the axis back.
        let r = pad(&y, &[i64::MIN, 0], &[i64::MAX, 0], PadMode::Edge, 0.0).unwrap();
        assert_eq!(r.shape(), &[1, 2]);
        assert_eq!(pad(&y, &[1, 0], &[0, 1], PadMode::Constant, 7.0).unwrap().shape(), &[3, 3]);
    }
}
