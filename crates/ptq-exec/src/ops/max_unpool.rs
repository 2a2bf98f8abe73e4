//! MaxUnpool, which the IR keeps opaque: scatters X `[N, C, spatial..]` into
//! zeros at the flat positions in `I` (MaxPool's indices over the whole
//! unpooled shape `(in − 1)·stride + kernel − pad_begin − pad_end` per
//! spatial axis, `((n·C + c)·H + h)·W + w`). A larger `output_shape` input
//! holds that result at its start, zeros elsewhere (as the ONNX reference
//! does). Any dtype.

use ndarray::{ArrayD, IxDyn};
use ptq_ir::Tensor;

use super::conv::per_axis;
use super::opaque::{Attrs, kern};
use super::{Kernel, Out, one};
use crate::inputs::Inputs;
use crate::util::{to_usize, try_map_tensor};

/// MaxUnpool's geometry.
#[derive(Clone, Debug)]
pub struct MaxUnpool {
    kernel: Vec<usize>,
    pads: Option<Vec<i64>>,
    strides: Option<Vec<i64>>,
}

/// Reads `kernel_shape` (required), `pads` and `strides`.
pub fn prepare(a: &Attrs<'_>) -> Result<Box<dyn Kernel>, String> {
    let kernel = a.geometry("kernel_shape")?.ok_or("kernel_shape is required")?;
    let kernel = kernel.iter().map(|&k| to_usize(k, "kernel_shape")).collect::<Result<Vec<_>, _>>()?;
    kern(MaxUnpool { kernel, pads: a.geometry("pads")?, strides: a.geometry("strides")? }, run)
}

fn unpool<T: Clone + Default>(
    a: &ArrayD<T>,
    idx: &[i64],
    shape: &[usize],
    target: &[usize],
) -> Result<ArrayD<T>, String> {
    let total: usize = shape.iter().product();
    let mut out = vec![T::default(); total];
    for (v, &i) in a.iter().zip(idx) {
        let i = usize::try_from(i).ok().filter(|&i| i < total).ok_or(format!("index {i} is outside the output"))?;
        out[i] = v.clone();
    }
    let y = ArrayD::from_shape_vec(IxDyn(shape), out).map_err(|e| e.to_string())?;
    if shape == target {
        return Ok(y);
    }
    let mut big = ArrayD::from_elem(IxDyn(target), T::default());
    big.slice_each_axis_mut(|ax| ndarray::Slice::from(0..shape[ax.axis.index()])).assign(&y);
    Ok(big)
}

/// Runs MaxUnpool.
pub fn run(op: &MaxUnpool, ins: &mut Inputs, _n: usize) -> Out {
    let x = ins.get(0)?;
    let xs = x.shape();
    let sp = op.kernel.len();
    if xs.len() != sp + 2 {
        return Err(format!("input {xs:?} does not fit a {sp}-D kernel"));
    }
    let idx = ins.ints(1)?;
    if idx.len() != x.len() {
        return Err(format!("{} indices for {} values", idx.len(), x.len()));
    }
    let stride = per_axis(&op.strides, sp, "strides")?;
    let pads: Vec<usize> = match &op.pads {
        None => vec![0; 2 * sp],
        Some(p) if p.len() == 2 * sp => p.iter().map(|&v| to_usize(v, "pads")).collect::<Result<_, _>>()?,
        Some(p) => return Err(format!("{} pads for {sp} spatial axes", p.len())),
    };
    let mut shape = xs[..2].to_vec();
    for i in 0..sp {
        let full = (xs[2 + i].max(1) - 1) * stride[i] + op.kernel[i];
        shape.push(full.checked_sub(pads[i] + pads[sp + i]).ok_or("pads exceed the output")?);
    }
    let target: Vec<usize> = match ins.opt_ints(2)? {
        Some(s) => s.iter().map(|&d| to_usize(d, "output_shape")).collect::<Result<_, _>>()?,
        None => shape.clone(),
    };
    if target.len() != xs.len()
        || target.iter().zip(&shape).any(|(t, s)| t < s)
        || ptq_ir::tensor::checked_numel(&target).is_none_or(|n| n > 1 << 31)
    {
        return Err(format!("output_shape {target:?} must hold the unpooled shape {shape:?}"));
    }
    let out: Result<Tensor, String> = try_map_tensor!(x, |a| unpool(a, &idx, &shape, &target));
    one(out?)
}

#[cfg(test)]
mod tests {
    use ptq_ir::{Attr, Tensor};

    use crate::ops::opaque::{assert_close, test_run};

    #[test]
    fn scatters_into_zeros() {
        let x = Tensor::F32(crate::util::array(&[1, 1, 1, 2], vec![5.0, 6.0]).unwrap());
        let i = Tensor::I64(crate::util::array(&[1, 1, 1, 2], vec![1, 6]).unwrap());
        let attrs = [("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))];
        let y = test_run("MaxUnpool", &attrs, vec![x.clone(), i.clone()]).unwrap();
        assert_close(&y[0], &[1, 1, 2, 4], &[0.0, 5.0, 0.0, 0.0, 0.0, 0.0, 6.0, 0.0]);
        assert!(
            test_run("MaxUnpool", &attrs, vec![x, Tensor::I64(crate::util::array(&[1, 1, 1, 2], vec![1, 8]).unwrap())])
                .is_err()
        );
    }
}
