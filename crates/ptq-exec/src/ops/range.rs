//! Range.

use ptq_ir::Tensor;
use ptq_ir::ops::range::Range;

use super::{Out, one};
use crate::inputs::Inputs;
use crate::util::array;

/// Largest output (in elements) this op will allocate.
const MAX_ELEMENTS: u64 = 1 << 31;

/// `start + i * delta` for `i < max(ceil((limit - start) / delta), 0)`, in exact integer arithmetic.
fn int_range(start: i64, limit: i64, delta: i64) -> Result<Vec<i64>, String> {
    if delta == 0 {
        return Err("delta is 0".into());
    }
    let (span, d) = (i128::from(limit) - i128::from(start), i128::from(delta));
    let n = if (span > 0) == (d > 0) && span != 0 { (span + d - d.signum()) / d } else { 0 };
    if n as u128 > u128::from(MAX_ELEMENTS) {
        return Err(format!("range of {n} elements is too large"));
    }
    // Every element lies between start and limit, so it fits in i64.
    Ok((0..n).map(|i| (i128::from(start) + i * d) as i64).collect())
}

/// Runs Range for f32, f64, i16, i32 and i64 scalars.
pub fn run(_op: &Range, ins: &mut Inputs, _n: usize) -> Out {
    let (s, l, d) = (ins.get(0)?, ins.get(1)?, ins.get(2)?);
    if s.dtype() != l.dtype() || s.dtype() != d.dtype() {
        return Err(format!("start, limit and delta differ in dtype ({}, {}, {})", s.dtype(), l.dtype(), d.dtype()));
    }
    if s.len() != 1 || l.len() != 1 || d.len() != 1 {
        return Err("start, limit and delta must be scalars".into());
    }
    if s.dtype().is_int() {
        let first = |t: &Tensor| t.to_i64_vec().and_then(|v| v.first().copied()).ok_or("integer scalar expected");
        let v = int_range(first(s)?, first(l)?, first(d)?)?;
        let n = v.len();
        return one(match s {
            Tensor::I64(_) => Tensor::I64(array(&[n], v)?),
            Tensor::I32(_) => Tensor::I32(array(&[n], v.iter().map(|&x| x as i32).collect())?),
            Tensor::I16(_) => Tensor::I16(array(&[n], v.iter().map(|&x| x as i16).collect())?),
            t => return Err(format!("Range of {} is not supported", t.dtype())),
        });
    }
    let (fs, fl, fd) = (s.to_f64_vec()[0], l.to_f64_vec()[0], d.to_f64_vec()[0]);
    if fd == 0.0 {
        return Err("delta is 0".into());
    }
    let n = ((fl - fs) / fd).ceil().max(0.0);
    if n.is_nan() || n > MAX_ELEMENTS as f64 {
        return Err(format!("range of {n} elements is too large"));
    }
    let n = n as usize;
    one(match (s, d) {
        (Tensor::F32(a), Tensor::F32(b)) => {
            let (st, dl) = (a.iter().next().copied().unwrap_or(0.0), b.iter().next().copied().unwrap_or(1.0));
            Tensor::F32(array(&[n], (0..n).map(|i| st + i as f32 * dl).collect())?)
        }
        (Tensor::F64(_), _) => Tensor::F64(array(&[n], (0..n).map(|i| fs + i as f64 * fd).collect())?),
        (t, _) => return Err(format!("Range of {} is not supported", t.dtype())),
    })
}

#[cfg(test)]
mod tests {
    use super::int_range;

    #[test]
    fn integer_ranges_are_exact_and_empty_when_pointing_away() {
        assert_eq!(int_range(10, 4, -3).unwrap(), vec![10, 7]);
        assert_eq!(int_range(0, 5, 2).unwrap(), vec![0, 2, 4]);
        assert_eq!(int_range(0, 5, -1).unwrap(), Vec::<i64>::new());
        assert_eq!(int_range(i64::MAX - 1, i64::MAX, 1).unwrap(), vec![i64::MAX - 1]);
        assert!(int_range(i64::MIN, i64::MAX, 1).is_err());
        assert!(int_range(0, 1, 0).is_err());
    }
}
