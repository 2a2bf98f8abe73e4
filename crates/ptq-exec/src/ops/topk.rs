//! TopK.

use ndarray::{ArrayD, Axis};
use ptq_ir::Tensor;
use ptq_ir::ops::topk::TopK;

use super::Out;
use crate::inputs::Inputs;
use crate::util::{Elem, to_usize};

fn topk<T: Elem>(a: &ArrayD<T>, k: usize, ax: usize, largest: bool) -> (ArrayD<T>, ArrayD<i64>) {
    let mut shape = a.shape().to_vec();
    shape[ax] = k;
    let mut vals = ArrayD::<T>::from_elem(shape.clone(), T::from_f64(0.0));
    let mut idxs = ArrayD::<i64>::zeros(shape);
    for ((lane, mut vl), mut il) in
        a.lanes(Axis(ax)).into_iter().zip(vals.lanes_mut(Axis(ax))).zip(idxs.lanes_mut(Axis(ax)))
    {
        let mut order: Vec<usize> = (0..lane.len()).collect();
        order.sort_by(|&i, &j| {
            let c = lane[i].partial_cmp(&lane[j]).unwrap_or(std::cmp::Ordering::Equal);
            let c = if largest { c.reverse() } else { c };
            c.then(i.cmp(&j))
        });
        for (t, &i) in order.iter().take(k).enumerate() {
            vl[t] = lane[i];
            il[t] = i as i64;
        }
    }
    (vals, idxs)
}

/// Runs TopK on any numeric dtype; equal values keep the lower index first.
pub fn run(op: &TopK, ins: &mut Inputs, _n: usize) -> Out {
    let k = ins.ints(1)?;
    let k = to_usize(*k.first().ok_or("K must have one element")?, "K")?;
    let x = ins.shared(0)?;
    let ax = crate::util::axis(op.axis, x.shape().len())?;
    if k > x.shape()[ax] {
        return Err(format!("K = {k} exceeds the axis size {}", x.shape()[ax]));
    }
    macro_rules! go {
        ($a:expr, $v:ident) => {{
            let (v, i) = topk($a, k, ax, op.largest);
            (Tensor::$v(v), i)
        }};
    }
    let (vals, idxs) = match &*x {
        Tensor::F32(a) => go!(a, F32),
        Tensor::F64(a) => go!(a, F64),
        Tensor::F16(a) => go!(a, F16),
        Tensor::BF16(a) => go!(a, BF16),
        Tensor::I8(a) => go!(a, I8),
        Tensor::U8(a) => go!(a, U8),
        Tensor::I16(a) => go!(a, I16),
        Tensor::U16(a) => go!(a, U16),
        Tensor::I32(a) => go!(a, I32),
        Tensor::U32(a) => go!(a, U32),
        Tensor::I64(a) => go!(a, I64),
        Tensor::U64(a) => go!(a, U64),
        t => return Err(format!("TopK of {} is not supported", t.dtype())),
    };
    Ok(vec![Some(vals), Some(Tensor::I64(idxs))])
}
