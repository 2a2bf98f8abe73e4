//! EyeLike, which the IR keeps opaque: a 2-D tensor of X's shape with ones
//! on the diagonal shifted by `k` (element (i, j) is 1 where `j − i = k`)
//! and zeros elsewhere, of the ONNX type code `dtype` (default: X's dtype).

use ptq_ir::{DType, Tensor};

use super::opaque::{Attrs, kern, onnx_dtype};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;

/// EyeLike's settings.
#[derive(Clone, Copy, Debug)]
pub struct EyeLike {
    dtype: Option<DType>,
    k: i64,
}

/// Reads `dtype` and `k`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let dtype = match a.int("dtype", -1)? {
        -1 => None,
        c => Some(onnx_dtype(c)?),
    };
    kern(EyeLike { dtype, k: a.int("k", 0)? }, run)
}

/// Runs EyeLike.
pub fn run(op: &EyeLike, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let &[rows, cols] = x.shape() else {
        return Err(format!("input must be 2-D, has shape {:?}", x.shape()));
    };
    let mut eye = ndarray::Array2::<f32>::zeros((rows, cols));
    for i in 0..rows {
        let j = (i as i64).saturating_add(op.k);
        if (0..cols as i64).contains(&j) {
            eye[[i, j as usize]] = 1.0;
        }
    }
    let to = op.dtype.unwrap_or(x.dtype());
    one(super::cast::cast(Tensor::F32(eye.into_dyn()), to, true)?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::test_run;

    #[test]
    fn shifts_the_diagonal_and_casts() {
        let x = Tensor::I32(crate::util::array(&[2, 3], vec![5; 6]).unwrap());
        let y = test_run("EyeLike", &[("k", Attr::Int(1))], vec![x.clone()]).unwrap();
        assert_eq!(y[0], Tensor::I32(crate::util::array(&[2, 3], vec![0, 1, 0, 0, 0, 1]).unwrap()));
        let y = test_run("EyeLike", &[("dtype", Attr::Int(7)), ("k", Attr::Int(-1))], vec![x]).unwrap();
        assert_eq!(y[0], Tensor::I64(crate::util::array(&[2, 3], vec![0, 0, 0, 1, 0, 0]).unwrap()));
    }
}
