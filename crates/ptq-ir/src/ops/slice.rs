//! Strided slicing (ONNX `Slice`).

use super::util::{const_ints, norm_axes, pad_outputs, req};
use super::{InferInput, OpDef};
use crate::fact::{Dim, Fact};

/// Inputs: data, starts, ends, optional axes, optional steps (all i64).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Slice;

/// Number of elements of `0..dim` selected by `start:end:step` (numpy clamping).
pub fn slice_len(dim: u64, start: i64, end: i64, step: i64) -> Result<u64, String> {
    if step == 0 {
        return Err("slice step 0".into());
    }
    let d = i64::try_from(dim).map_err(|_| "dimension too large")?;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    let n = if step > 0 {
        let (s, e) = (s.clamp(0, d), e.clamp(0, d));
        if e > s { (e - s + step - 1) / step } else { 0 }
    } else {
        let (s, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        if s > e { (s - e + (-step) - 1) / (-step) } else { 0 }
    };
    Ok(n as u64)
}

impl OpDef for Slice {
    fn op_name(&self) -> &'static str {
        "Slice"
    }

    fn infer(&self, inputs: &[Option<InferInput<'_>>], n: usize) -> Result<Vec<Fact>, String> {
        let x = req(inputs, 0)?;
        req(inputs, 1)?;
        req(inputs, 2)?;
        let Some(s) = &x.fact.shape else {
            return Ok(pad_outputs(vec![Fact::dtype_only(x.fact.dtype)], n));
        };
        let (Some(starts), Some(ends)) = (const_ints(inputs, 1), const_ints(inputs, 2)) else {
            return Ok(pad_outputs(vec![Fact::with_rank(x.fact.dtype, s.len())], n));
        };
        if starts.len() != ends.len() {
            return Err("starts and ends differ in length".into());
        }
        let axes = match const_ints(inputs, 3) {
            Some(a) => a,
            None if inputs.get(3).copied().flatten().is_some() => {
                return Ok(pad_outputs(vec![Fact::with_rank(x.fact.dtype, s.len())], n));
            }
            None => (0..starts.len() as i64).collect(),
        };
        let steps = const_ints(inputs, 4).unwrap_or_else(|| vec![1; starts.len()]);
        if axes.len() != starts.len() || steps.len() != starts.len() {
            return Err("starts, ends, axes and steps differ in length".into());
        }
        let axes = norm_axes(&axes, s.len())?;
        let mut out = s.clone();
        for (i, &a) in axes.iter().enumerate() {
            out[a] = match &s[a] {
                Dim::Known(d) => Dim::Known(slice_len(*d, starts[i], ends[i], steps[i])?),
                _ => Dim::Unknown,
            };
        }
        Ok(pad_outputs(vec![Fact { dtype: x.fact.dtype, shape: Some(out) }], n))
    }
}

#[cfg(test)]
mod tests {
    use super::slice_len;

    #[test]
    fn numpy_clamping() {
        assert_eq!(slice_len(10, 0, i64::MAX, 1).unwrap(), 10);
        assert_eq!(slice_len(10, -3, i64::MAX, 1).unwrap(), 3);
        assert_eq!(slice_len(10, i64::MAX, i64::MIN, -1).unwrap(), 10);
        assert_eq!(slice_len(10, 1, 8, 3).unwrap(), 3);
        assert_eq!(slice_len(10, 5, 2, 1).unwrap(), 0);
    }
}
