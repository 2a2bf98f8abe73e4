//! The size guard run before every step: ops whose output can be far larger
//! than their inputs (a broadcast, a matrix product, an Expand) are refused
//! before they allocate when that output would exceed the plan's element
//! limit. A hostile or mistaken model (an attention over a sequence of 10^5
//! made by a ConstantOfShape, say) then gives an error naming the node
//! instead of exhausting memory. ConstantOfShape, Tile and Range are
//! counted from their inputs' values here too; the rest of the ops that
//! build shapes from values (Resize, Pad, OneHot...) check their own sizes
//! against fixed limits.

use ptq_ir::Op;

use crate::inputs::Inputs;

/// The default largest number of elements one output may have: 2^31 (8 GiB
/// of f32).
pub const DEFAULT_MAX_ELEMENTS: usize = 1 << 31;

/// Errs when `op` on `ins` would produce an output of more than `max`
/// elements. Only the ops whose output size is not bounded by their inputs'
/// are computed here; the others pass.
pub fn check(op: &Op, ins: &Inputs, max: usize) -> Result<(), String> {
    let Some(n) = output_elements(op, ins) else { return Ok(()) };
    if n > max {
        return Err(too_large(n, max));
    }
    Ok(())
}

/// The error of a step whose output of `n` elements passes the limit `max`.
pub fn too_large(n: usize, max: usize) -> String {
    format!("the output would have {n} elements, more than the limit of {max}")
}

/// The element count of the output, for the ops that can grow it beyond
/// their inputs' (saturating; None where it is bounded or cannot be told).
fn output_elements(op: &Op, ins: &Inputs) -> Option<usize> {
    let shape = |i: usize| ins.opt(i).map(|t| t.shape());
    match op {
        Op::MatMul(_) => {
            let (a, b) = (shape(0)?, shape(1)?);
            let m = if a.len() >= 2 { a[a.len() - 2] } else { 1 };
            let n = if b.len() >= 2 { b[b.len() - 1] } else { 1 };
            let batch = broadcast_elements([&a[..a.len().saturating_sub(2)], &b[..b.len().saturating_sub(2)]]);
            Some(batch.saturating_mul(m).saturating_mul(n))
        }
        Op::Gemm(g) => {
            let (a, b) = (shape(0)?, shape(1)?);
            if a.len() != 2 || b.len() != 2 {
                return None;
            }
            let m = if g.trans_a { a[1] } else { a[0] };
            let n = if g.trans_b { b[0] } else { b[1] };
            Some(m.saturating_mul(n))
        }
        Op::Binary(_) | Op::Where(_) | Op::Variadic(_) => Some(broadcast_elements((0..ins.len()).filter_map(shape))),
        Op::Expand(_) => {
            // A negative target dim is the op's to report; count it as 1.
            let target: Vec<usize> = ins.ints(1).ok()?.iter().map(|&d| usize::try_from(d).unwrap_or(1)).collect();
            Some(broadcast_elements([shape(0)?, &target[..]]))
        }
        Op::ConstantOfShape(_) => {
            let dims = ins.ints(0).ok()?;
            Some(dims.iter().fold(1usize, |acc, &d| acc.saturating_mul(usize::try_from(d).unwrap_or(0))))
        }
        Op::Tile(_) => {
            let x = shape(0)?;
            let reps = ins.ints(1).ok()?;
            let base = x.iter().fold(1usize, |acc, &d| acc.saturating_mul(d));
            Some(reps.iter().fold(base, |acc, &r| acc.saturating_mul(usize::try_from(r).unwrap_or(0))))
        }
        Op::Range(_) => {
            let (start, limit, delta) = (ins.opt_scalar(0).ok()??, ins.opt_scalar(1).ok()??, ins.opt_scalar(2).ok()??);
            let n = ((limit - start) / delta).ceil();
            // NaN and negative counts are the op's to report.
            Some(if n.is_finite() && n > 0.0 { n.min(usize::MAX as f64) as usize } else { 0 })
        }
        _ => None,
    }
}

/// Elements of the numpy broadcast of `shapes` (a 0 dim counts as 0; dims
/// that do not broadcast count as their maximum, the op reports them).
fn broadcast_elements<'a>(shapes: impl IntoIterator<Item = &'a [usize]>) -> usize {
    // Dims aligned from the right: the largest at each position.
    let mut dims: Vec<usize> = vec![];
    for s in shapes {
        if s.len() > dims.len() {
            dims.splice(0..0, std::iter::repeat_n(1, s.len() - dims.len()));
        }
        let off = dims.len() - s.len();
        for (d, &v) in dims[off..].iter_mut().zip(s) {
            *d = if v == 0 || *d == 0 { 0 } else { (*d).max(v) };
        }
    }
    dims.iter().fold(1usize, |acc, &d| acc.saturating_mul(d))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use ndarray::ArrayD;
    use ptq_ir::Tensor;

    use super::*;
    use crate::inputs::Slot;

    fn ins(shapes: &[&[usize]]) -> Inputs {
        Inputs::new(
            shapes
                .iter()
                .map(|s| Some(Slot { tensor: Arc::new(Tensor::F32(ArrayD::zeros(s.to_vec()))), reusable: false }))
                .collect(),
        )
    }

    #[test]
    fn a_matrix_product_past_the_limit_is_refused_before_it_runs() {
        let op = Op::MatMul(Default::default());
        // [2,4,300,24] x [2,4,24,300]: 2·4·300·300 = 720,000 elements.
        let i = ins(&[&[2, 4, 300, 24], &[2, 4, 24, 300]]);
        assert_eq!(output_elements(&op, &i), Some(720_000));
        assert!(check(&op, &i, 720_000).is_ok());
        let err = check(&op, &i, 719_999).unwrap_err();
        assert!(err.contains("720000 elements"), "{err}");
    }

    #[test]
    fn a_broadcast_counts_the_outer_product() {
        let i = ins(&[&[1000, 1], &[1, 1000]]);
        assert_eq!(broadcast_elements([i.opt(0).unwrap().shape(), i.opt(1).unwrap().shape()]), 1_000_000);
        assert_eq!(broadcast_elements([&[3usize, 0][..], &[1, 5]]), 0);
        assert_eq!(broadcast_elements(std::iter::empty()), 1);
    }
}
