//! NonZero, which the IR keeps opaque: the coordinates of X's nonzero
//! elements (NaN counts as nonzero) in row-major order, as an int64 tensor of
//! shape `[rank, count]`; a scalar counts as a 1-element vector
//! (`[1, count]`), as NumPy does.

use ndarray::ArrayD;
use ptq_ir::Tensor;

use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// Needs no settings.
pub fn prepare(_a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    kern((), run)
}

fn nonzero_flags<T: Clone>(a: &ArrayD<T>, nz: impl Fn(&T) -> bool) -> Vec<bool> {
    a.iter().map(nz).collect()
}

/// Runs NonZero.
pub fn run(_op: &(), ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let flags = match x {
        Tensor::Bool(a) => nonzero_flags(a, |&b| b),
        Tensor::String(a) => nonzero_flags(a, |s| !s.is_empty()),
        t if t.dtype().is_float() => t.to_f64_vec().into_iter().map(|v| v != 0.0).collect(),
        t => t
            .to_i64_vec()
            .ok_or(format!("NonZero of {} is not supported", t.dtype()))?
            .into_iter()
            .map(|v| v != 0)
            .collect(),
    };
    let shape = if x.shape().is_empty() { vec![1] } else { x.shape().to_vec() };
    let count = flags.iter().filter(|&&b| b).count();
    let rank = shape.len();
    let mut out = vec![0i64; rank * count];
    let mut pos = vec![0usize; rank];
    let mut n = 0;
    for &f in &flags {
        if f {
            for (a, &p) in pos.iter().enumerate() {
                out[a * count + n] = p as i64;
            }
            n += 1;
        }
        for a in (0..rank).rev() {
            pos[a] += 1;
            if pos[a] < shape[a] {
                break;
            }
            pos[a] = 0;
        }
    }
    one(Tensor::I64(crate::util::array(&[rank, count], out)?))
}

#[cfg(test)]
mod tests {
    use ptq_ir::Tensor;

    use crate::ops::opaque::test_run;

    #[test]
    fn lists_coordinates_per_axis() {
        let x = Tensor::F32(crate::util::array(&[2, 2], vec![1.0, 0.0, 1.0, 1.0]).unwrap());
        let y = test_run("NonZero", &[], vec![x]).unwrap();
        assert_eq!(y[0], Tensor::I64(crate::util::array(&[2, 3], vec![0, 1, 1, 0, 0, 1]).unwrap()));
    }
}
